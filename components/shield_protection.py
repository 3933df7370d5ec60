"""ShieldProtection: AWS Shield Advanced, as the support engagement protocol needs it
(`ir:shield.advanced`, opt-in).

During a DDoS event the protocol (`docs/support-engagement.md`) escalates to the Shield
Response Team (SRT); that only works when, before the event, the account subscribes, the
exposed resources are protected, the SRT may act in the account and knows whom to call.

* ``aws.shield.Subscription`` (auto-renew on; ``skip_destroy`` so destroying the stack
  never touches the commitment): the subscription check. Every other resource here
  depends on it, so nothing is protected in an account that is not subscribed. Settings
  refuse ``advanced`` without ``acceptSubscriptionCost`` (USD 3,000 a month, one-year
  commitment per organization). An account that already subscribed imports it
  (``pulumi import aws:shield/subscription:Subscription <name> <account id>``).
* ``aws.shield.Protection`` for each listed resource ARN (CloudFront, Route 53 hosted
  zone, Global Accelerator, load balancer, Elastic IP).
* The SRT access role (``srt_access``): trusted by ``drt.shield.amazonaws.com`` with the
  AWS managed ``AWSShieldDRTAccessPolicy`` (read the protected resources' configuration
  and WAF, update web ACLs during an attack), registered with
  ``aws.shield.DrtAccessRoleArnAssociation``.
* ``aws.shield.ProactiveEngagement`` (when contacts are configured): the SRT calls these
  contacts when a protected resource's Route 53 health check turns unhealthy during an
  event (associate health checks with the protections for it to trigger).

Shield's API is global and served from us-east-1: this component's provider must be a
us-east-1 provider (the composition gives it one).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.regional_validation import invalid

TYPE = "ir-readiness:index:ShieldProtection"
SHIELD_REGION = "us-east-1"
SRT_SERVICE = "drt.shield.amazonaws.com"
SRT_POLICY = "service-role/AWSShieldDRTAccessPolicy"
_PROTECTABLE = re.compile(
    r"^arn:aws[a-z-]*:(cloudfront|route53|globalaccelerator|elasticloadbalancing|ec2):"
    r"[a-z0-9-]*:[0-9]{0,12}:.+$")


@dataclass(frozen=True)
class EmergencyContact:
    email_address: str
    """Address the SRT emails."""
    phone_number: str | None = None
    """E.164 number the SRT calls."""
    contact_notes: str | None = None
    """When and how to reach the contact."""


@dataclass(frozen=True)
class ShieldProtectionArgs:
    name_prefix: str
    """Prefix of the SRT role's name (`<prefix>-shield-srt`)."""
    protected_resource_arns: Sequence[str] = ()
    """Resources to protect."""
    srt_access: bool = True
    """Create and register the SRT access role."""
    emergency_contacts: Sequence[EmergencyContact] = ()
    """Proactive engagement contacts (empty: no proactive engagement)."""
    partition: str = "aws"
    """ARN partition of the managed policy."""

    def __post_init__(self) -> None:
        for arn in self.protected_resource_arns:
            if not _PROTECTABLE.match(arn):
                raise invalid("protected_resource_arns", arn,
                              "an ARN of a CloudFront distribution, Route 53 hosted zone, "
                              "Global Accelerator, load balancer or Elastic IP")
        if len(set(self.protected_resource_arns)) != len(self.protected_resource_arns):
            raise invalid("protected_resource_arns", list(self.protected_resource_arns),
                          "list each resource once")
        if self.emergency_contacts and not self.srt_access:
            raise invalid("srt_access", False,
                          "proactive engagement needs the SRT access role")
        if len(f"{self.name_prefix}-shield-srt") > 64:
            raise invalid("name_prefix", self.name_prefix, "at most 53 characters")


def srt_trust_policy() -> dict[str, Any]:
    # The SRT assumes the role from AWS's own account; AWS documents no source condition
    # for drt.shield.amazonaws.com, and only that service is trusted.
    return {
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "ShieldResponseTeam",
            "Effect": "Allow",
            "Principal": {"Service": SRT_SERVICE},
            "Action": "sts:AssumeRole",
        }],
    }


def _protection_name(arn: str) -> str:
    tail = re.sub(r"[^A-Za-z0-9-]", "-", arn.split(":", 5)[-1])
    return f"ir-readiness-{tail}"[:128]


class ShieldProtection(pulumi.ComponentResource):
    """Shield Advanced subscription, protections, SRT access and proactive engagement."""

    protection_ids: list[pulumi.Output[str]]
    srt_role_arn: pulumi.Output[str] | None

    def __init__(self, name: str, args: ShieldProtectionArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        if not isinstance(args, ShieldProtectionArgs):
            raise TypeError("ShieldProtection needs ShieldProtectionArgs")
        super().__init__(TYPE, name, None, opts)
        subscription = aws.shield.Subscription(
            f"{name}-subscription",
            auto_renew="ENABLED",
            skip_destroy=True,
            opts=pulumi.ResourceOptions(parent=self),
        )
        subscribed = pulumi.ResourceOptions(parent=self, depends_on=[subscription])
        protections = [
            aws.shield.Protection(
                f"{name}-protection-{index}",
                name=_protection_name(arn),
                resource_arn=arn,
                opts=subscribed,
            )
            for index, arn in enumerate(args.protected_resource_arns)
        ]
        self.srt_role_arn = None
        association = None
        if args.srt_access:
            role = aws.iam.Role(
                f"{name}-srt-role",
                name=f"{args.name_prefix}-shield-srt",
                description="ir-readiness: the Shield Response Team acts during a DDoS event",
                assume_role_policy=json.dumps(srt_trust_policy(), sort_keys=True),
                opts=pulumi.ResourceOptions(parent=self),
            )
            attachment = aws.iam.RolePolicyAttachment(
                f"{name}-srt-access",
                role=role.name,
                policy_arn=f"arn:{args.partition}:iam::aws:policy/{SRT_POLICY}",
                opts=pulumi.ResourceOptions(parent=self),
            )
            association = aws.shield.DrtAccessRoleArnAssociation(
                f"{name}-srt-association",
                role_arn=role.arn,
                opts=pulumi.ResourceOptions(parent=self,
                                            depends_on=[subscription, attachment]),
            )
            self.srt_role_arn = role.arn
        if args.emergency_contacts:
            aws.shield.ProactiveEngagement(
                f"{name}-proactive-engagement",
                enabled=True,
                emergency_contacts=[
                    aws.shield.ProactiveEngagementEmergencyContactArgs(
                        email_address=c.email_address,
                        phone_number=c.phone_number,
                        contact_notes=c.contact_notes,
                    )
                    for c in args.emergency_contacts
                ],
                opts=pulumi.ResourceOptions(
                    parent=self,
                    depends_on=[subscription, *([association] if association else [])]),
            )
        self.protection_ids = [p.id for p in protections]
        self.register_outputs({"protectionIds": self.protection_ids,
                               "srtRoleArn": self.srt_role_arn})
