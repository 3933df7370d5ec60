"""SupportAccess: the role whoever is on call assumes to open and update an AWS Support
case (CIS AWS Foundations 1.17: "ensure a support role has been created to manage
incidents with AWS Support").

`docs/support-engagement.md` tells the responder to open a case during an incident; without
a role that may, the responder has to find someone with console administrator rights first.

* ``aws.iam.Role`` ``<name_prefix>-support``, trusted by exactly the responder principals
  (the same trust as the investigator and responder roles: roles as they are, users and
  account roots only with MFA, and ``sts:ExternalId`` where the responder roles require it);
* the AWS managed ``AWSSupportAccess`` policy attached (``support:*``, nothing else), the
  policy CIS 1.17 names.

Global (IAM): created once, in the home region. Its ARN is the manifest's
``responderRoles.support`` and the stack output ``supportRoleArn``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.responder_access import trust_policy

TYPE = "ir-readiness:index:SupportAccess"
SUPPORT_POLICY = "AWSSupportAccess"
ROLE_SUFFIX = "-support"


_IAM_PRINCIPAL = re.compile(r"^arn:aws[a-z-]*:iam::[0-9]{12}:(root|user/.+|role/.+)$")


def support_policy_arn(partition: str) -> str:
    return f"arn:{partition}:iam::aws:policy/{SUPPORT_POLICY}"


@dataclass(frozen=True)
class SupportAccessArgs:
    name_prefix: str
    """Role name prefix (`<prefix>-support`), the responder roles' prefix."""
    trusted_principals: Sequence[str]
    """IAM ARNs (role, user, account root) that may assume the role: the responders."""
    partition: str = "aws"
    """ARN partition of the managed policy."""
    external_id: str | None = None
    """sts:ExternalId every trust statement requires (member accounts), as the responder
    roles there."""
    max_session_duration: int = 3600
    """Maximum session, seconds (3600-43200), as the responder roles."""

    def __post_init__(self) -> None:
        name = f"{self.name_prefix}{ROLE_SUFFIX}"
        if len(name) > 64 or not re.match(r"^[\w+=,.@-]+$", name):
            raise ValueError(f"SupportAccessArgs.name_prefix = {self.name_prefix!r}: role name "
                             f"{name!r} must be at most 64 of letters, digits and +=,.@_-")
        if not self.trusted_principals:
            raise ValueError("SupportAccessArgs.trusted_principals is empty: name the "
                             "responder principals that open support cases")
        for principal in self.trusted_principals:
            if not _IAM_PRINCIPAL.match(principal):
                raise ValueError(f"SupportAccessArgs.trusted_principals: {principal!r} is not "
                                 "an IAM ARN of an account root, user or role")
        if not 3600 <= self.max_session_duration <= 43200:
            raise ValueError(f"SupportAccessArgs.max_session_duration = "
                             f"{self.max_session_duration}: must be 3600-43200 seconds")


class SupportAccess(pulumi.ComponentResource):
    """The AWS Support role (CIS 1.17) the responders assume."""

    role_arn: pulumi.Output[str]
    role_name: pulumi.Output[str]

    def __init__(self, name: str, args: SupportAccessArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        if not isinstance(args, SupportAccessArgs):
            raise TypeError("SupportAccess needs SupportAccessArgs")
        super().__init__(TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(
            f"{name}-role",
            name=f"{args.name_prefix}{ROLE_SUFFIX}",
            description="ir-readiness: responders open and update AWS Support cases "
                        "(CIS 1.17, docs/support-engagement.md)",
            assume_role_policy=json.dumps(
                trust_policy(list(args.trusted_principals), args.external_id), sort_keys=True),
            max_session_duration=args.max_session_duration,
            opts=child,
        )
        aws.iam.RolePolicyAttachment(
            f"{name}-support-access",
            role=role.name,
            policy_arn=support_policy_arn(args.partition),
            opts=child,
        )
        self.role_arn = role.arn
        self.role_name = role.name
        self.register_outputs({"roleArn": self.role_arn, "roleName": self.role_name})
