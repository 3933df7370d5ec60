"""ThreatDetection: GuardDuty with explicit protection plans, findings export, and Inspector.

One per covered region, created by ``IncidentResponseReadiness`` with that region's
provider in ``opts``.

What it creates:

* an ``aws.guardduty.Detector`` (enabled, finding publishing frequency from Args); the
  deprecated ``datasources`` block is never used.
* one ``aws.guardduty.DetectorFeature`` per protection plan it manages. Every managed
  plan is written explicitly, ENABLED when listed in ``features`` and DISABLED otherwise,
  so nothing bills silently and nothing is left at an account default. What each costs
  (GuardDuty pricing, billed per region):

  ==========================  ===========================================================
  S3_DATA_EVENTS              per million S3 data-plane events analysed
  EKS_AUDIT_LOGS              per million EKS audit-log events analysed
  EBS_MALWARE_PROTECTION      per GB scanned; scans run only after a suspicious finding
  RDS_LOGIN_EVENTS            per vCPU / ACU of the Aurora/RDS databases monitored
  LAMBDA_NETWORK_LOGS         per GB of Lambda network activity analysed
  RUNTIME_MONITORING          per vCPU monitored by the GuardDuty agent (EC2, ECS, EKS)
  ==========================  ===========================================================

* an ``aws.guardduty.PublishingDestination`` exporting every finding, KMS-encrypted,
  to the S3 bucket (and optional prefix) given in Args.
* ``aws.inspector2.Enabler`` for EC2, ECR and Lambda scanning (``enable_inspector``);
  Inspector bills per instance, image and function scanned.

What it needs from the other components (stack-core), because GuardDuty validates the
destination when it is created:

* the **bucket policy** of the destination bucket must contain
  :func:`guardduty_bucket_policy_statements` (merge them into the bucket's policy
  document, e.g. ``pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement":
  [...]})``);
* the **key policy** of the destination KMS key must contain
  :func:`guardduty_key_policy_statements`. The key must be in the bucket's region.
* pass the ``aws.s3.BucketPolicy`` and the ``aws.kms.Key`` (or the key policy resource)
  as ``ThreatDetectionArgs.destination_depends_on`` so the destination waits for them.

An account can have only one detector per region. Where one already exists (enabled by
hand, or by an organization's delegated administrator), import it instead of creating a
second: ``pulumi import aws:guardduty/detector:Detector <resource name> <detector id>``.
In an organization whose GuardDuty administrator auto-enables protection plans for
members, the member's DetectorFeature updates are refused; manage plans there instead.

Both helpers scope the grant to this account's detectors with ``aws:SourceAccount`` and
``aws:SourceArn`` (``arn:<partition>:guardduty:*:<account>:detector/*``), so a single
bucket and key serve every covered region and the grant exists before any detector.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components.regional_validation import (
    check_account,
    check_arn,
    check_choices,
    check_tags,
    invalid,
)

COMPONENT_TYPE = "ir-readiness:index:ThreatDetection"

FINDING_FREQUENCIES = ("FIFTEEN_MINUTES", "ONE_HOUR", "SIX_HOURS")
# The plans this component always writes, ENABLED or DISABLED.
MANAGED_FEATURES = (
    "S3_DATA_EVENTS",
    "EKS_AUDIT_LOGS",
    "EBS_MALWARE_PROTECTION",
    "RDS_LOGIN_EVENTS",
    "LAMBDA_NETWORK_LOGS",
    "RUNTIME_MONITORING",
)
# EKS-only runtime monitoring is the older alternative to RUNTIME_MONITORING; GuardDuty
# rejects a detector with both.
ALL_FEATURES = (*MANAGED_FEATURES, "EKS_RUNTIME_MONITORING")
DEFAULT_FEATURES = MANAGED_FEATURES
RUNTIME_AGENT_MANAGEMENT = (
    "EKS_ADDON_MANAGEMENT",
    "ECS_FARGATE_AGENT_MANAGEMENT",
    "EC2_AGENT_MANAGEMENT",
)
INSPECTOR_RESOURCE_TYPES = ("EC2", "ECR", "LAMBDA", "LAMBDA_CODE")


@dataclass(frozen=True)
class ThreatDetectionArgs:
    """Inputs of one region's threat detection."""

    account_id: pulumi.Input[str]
    """The 12-digit account id (Inspector is enabled for exactly this account)."""

    findings_destination_arn: pulumi.Input[str]
    """S3 bucket ARN, optionally with a prefix (``arn:aws:s3:::bucket/guardduty``), that
    receives every finding; its policy must hold :func:`guardduty_bucket_policy_statements`."""

    findings_kms_key_arn: pulumi.Input[str]
    """KMS key ARN GuardDuty encrypts exported findings with (same region as the bucket);
    its policy must hold :func:`guardduty_key_policy_statements`."""

    finding_publishing_frequency: str = "FIFTEEN_MINUTES"
    """How often updates to existing findings are published to EventBridge and S3
    (new findings are always published within about five minutes)."""

    features: tuple[str, ...] = DEFAULT_FEATURES
    """Protection plans to enable; every other managed plan is written DISABLED."""

    runtime_agent_management: tuple[str, ...] = RUNTIME_AGENT_MANAGEMENT
    """Automated agent management for runtime monitoring (EKS add-on, ECS Fargate sidecar,
    EC2 agent via SSM); only meaningful with RUNTIME_MONITORING or EKS_RUNTIME_MONITORING."""

    enable_inspector: bool = True
    """Enable Amazon Inspector vulnerability scanning for ``inspector_resource_types``."""

    inspector_resource_types: tuple[str, ...] = ("EC2", "ECR", "LAMBDA")
    """What Inspector scans (LAMBDA_CODE adds code scanning of Lambda functions)."""

    destination_depends_on: Sequence[pulumi.Resource] = ()
    """Resources that must exist before the findings destination (the bucket policy and
    the key or key policy carrying the GuardDuty grants)."""

    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags applied to the detector and the publishing destination."""

    def __post_init__(self) -> None:
        check_account("account_id", self.account_id)
        check_arn("findings_destination_arn", self.findings_destination_arn, "s3")
        if isinstance(self.findings_destination_arn, str):
            arn = self.findings_destination_arn
            if arn.split(":")[3] or arn.split(":")[4]:
                raise invalid(
                    "findings_destination_arn", arn,
                    "S3 bucket ARNs have no region or account: arn:aws:s3:::bucket[/prefix]",
                )
        check_arn("findings_kms_key_arn", self.findings_kms_key_arn, "kms", "key/")
        if self.finding_publishing_frequency not in FINDING_FREQUENCIES:
            raise invalid(
                "finding_publishing_frequency",
                self.finding_publishing_frequency,
                f"allowed values are {', '.join(FINDING_FREQUENCIES)}",
            )
        check_choices("features", self.features, ALL_FEATURES)
        if {"RUNTIME_MONITORING", "EKS_RUNTIME_MONITORING"} <= set(self.features):
            raise invalid(
                "features", "EKS_RUNTIME_MONITORING",
                "GuardDuty accepts RUNTIME_MONITORING or EKS_RUNTIME_MONITORING, not both; "
                "RUNTIME_MONITORING already covers EKS",
            )
        check_choices(
            "runtime_agent_management", self.runtime_agent_management, RUNTIME_AGENT_MANAGEMENT
        )
        if "EKS_RUNTIME_MONITORING" in self.features:
            extra = set(self.runtime_agent_management) - {"EKS_ADDON_MANAGEMENT"}
            if extra:
                raise invalid(
                    "runtime_agent_management", sorted(extra),
                    "EKS_RUNTIME_MONITORING supports only EKS_ADDON_MANAGEMENT; "
                    "use RUNTIME_MONITORING for EC2 and ECS agents",
                )
        check_choices(
            "inspector_resource_types", self.inspector_resource_types, INSPECTOR_RESOURCE_TYPES
        )
        if self.enable_inspector and not self.inspector_resource_types:
            raise invalid(
                "inspector_resource_types", self.inspector_resource_types,
                "list at least one of EC2, ECR, LAMBDA, LAMBDA_CODE, or set enable_inspector=False",
            )
        if "LAMBDA_CODE" in self.inspector_resource_types and (
            "LAMBDA" not in self.inspector_resource_types
        ):
            raise invalid(
                "inspector_resource_types", self.inspector_resource_types,
                "LAMBDA_CODE scanning requires LAMBDA scanning as well",
            )
        check_tags("tags", self.tags)


def _detector_source_conditions(account_id: pulumi.Input[str], partition: str) -> dict[str, Any]:
    return {
        "StringEquals": {"aws:SourceAccount": account_id},
        "ArnLike": {
            "aws:SourceArn": pulumi.Output.concat(
                f"arn:{partition}:guardduty:*:", account_id, ":detector/*"
            )
        },
    }


def _bucket_of(destination_arn: pulumi.Input[str]) -> pulumi.Output[str]:
    """``arn:aws:s3:::bucket/prefix`` -> ``arn:aws:s3:::bucket``."""
    return pulumi.Output.from_input(destination_arn).apply(lambda arn: arn.split("/", 1)[0])


def guardduty_bucket_policy_statements(
    destination_arn: pulumi.Input[str],
    kms_key_arn: pulumi.Input[str],
    account_id: pulumi.Input[str],
    partition: str = "aws",
) -> list[dict[str, Any]]:
    """Bucket-policy statements GuardDuty needs to export findings to ``destination_arn``.

    Allows ``guardduty.amazonaws.com`` to read the bucket location and put objects under
    the destination (prefix), only for this account's detectors, and denies objects not
    encrypted with ``kms_key_arn``. Values may be Outputs: serialize the enclosing
    document with ``pulumi.Output.json_dumps``.
    """
    bucket = _bucket_of(destination_arn)
    objects = pulumi.Output.concat(destination_arn, "/*")
    principal = {"Service": "guardduty.amazonaws.com"}
    return [
        {
            "Sid": "GuardDutyGetBucketLocation",
            "Effect": "Allow",
            "Principal": principal,
            "Action": "s3:GetBucketLocation",
            "Resource": bucket,
            "Condition": _detector_source_conditions(account_id, partition),
        },
        {
            "Sid": "GuardDutyPutFindings",
            "Effect": "Allow",
            "Principal": principal,
            "Action": "s3:PutObject",
            "Resource": objects,
            "Condition": _detector_source_conditions(account_id, partition),
        },
        {
            "Sid": "GuardDutyDenyUnencryptedFindings",
            "Effect": "Deny",
            "Principal": principal,
            "Action": "s3:PutObject",
            "Resource": objects,
            "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"}},
        },
        {
            "Sid": "GuardDutyDenyFindingsUnderOtherKeys",
            "Effect": "Deny",
            "Principal": principal,
            "Action": "s3:PutObject",
            "Resource": objects,
            "Condition": {
                "StringNotEquals": {"s3:x-amz-server-side-encryption-aws-kms-key-id": kms_key_arn}
            },
        },
    ]


def guardduty_key_policy_statements(
    account_id: pulumi.Input[str], partition: str = "aws"
) -> list[dict[str, Any]]:
    """Key-policy statement letting this account's detectors encrypt exported findings."""
    return [
        {
            "Sid": "GuardDutyEncryptFindings",
            "Effect": "Allow",
            "Principal": {"Service": "guardduty.amazonaws.com"},
            "Action": "kms:GenerateDataKey",
            "Resource": "*",
            "Condition": _detector_source_conditions(account_id, partition),
        }
    ]


class ThreatDetection(pulumi.ComponentResource):
    """GuardDuty detector, protection plans, findings export and Inspector in one region."""

    detector_id: pulumi.Output[str]
    detector_arn: pulumi.Output[str]
    publishing_destination_id: pulumi.Output[str]
    enabled_features: pulumi.Output[list[str]]
    inspector_resource_types: pulumi.Output[list[str]]

    def __init__(
        self,
        name: str,
        args: ThreatDetectionArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        if not isinstance(args, ThreatDetectionArgs):
            raise TypeError("args must be a ThreatDetectionArgs")
        super().__init__(COMPONENT_TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        detector = aws.guardduty.Detector(
            f"{name}-detector",
            enable=True,
            finding_publishing_frequency=args.finding_publishing_frequency,
            tags=dict(args.tags),
            opts=child,
        )

        managed = list(MANAGED_FEATURES)
        if "EKS_RUNTIME_MONITORING" in args.features:
            managed[managed.index("RUNTIME_MONITORING")] = "EKS_RUNTIME_MONITORING"
        for feature in managed:
            enabled = feature in args.features
            additional: list[aws.guardduty.DetectorFeatureAdditionalConfigurationArgs] = []
            if feature in ("RUNTIME_MONITORING", "EKS_RUNTIME_MONITORING"):
                choices = (
                    RUNTIME_AGENT_MANAGEMENT
                    if feature == "RUNTIME_MONITORING"
                    else ("EKS_ADDON_MANAGEMENT",)
                )
                additional = [
                    aws.guardduty.DetectorFeatureAdditionalConfigurationArgs(
                        name=config,
                        status=(
                            "ENABLED"
                            if enabled and config in args.runtime_agent_management
                            else "DISABLED"
                        ),
                    )
                    for config in choices
                ]
            aws.guardduty.DetectorFeature(
                f"{name}-{feature.lower().replace('_', '-')}",
                detector_id=detector.id,
                name=feature,
                status="ENABLED" if enabled else "DISABLED",
                additional_configurations=additional or None,
                opts=child,
            )

        destination = aws.guardduty.PublishingDestination(
            f"{name}-findings-export",
            detector_id=detector.id,
            destination_type="S3",
            destination_arn=args.findings_destination_arn,
            kms_key_arn=args.findings_kms_key_arn,
            tags=dict(args.tags),
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=list(args.destination_depends_on)
            ),
        )

        inspector_types: list[str] = []
        if args.enable_inspector:
            inspector_types = list(args.inspector_resource_types)
            aws.inspector2.Enabler(
                f"{name}-inspector",
                account_ids=[args.account_id],
                resource_types=inspector_types,
                opts=child,
            )

        self.detector_id = detector.id
        self.detector_arn = detector.arn
        self.publishing_destination_id = destination.id
        self.enabled_features = pulumi.Output.from_input(
            [f for f in managed if f in args.features]
        )
        self.inspector_resource_types = pulumi.Output.from_input(inspector_types)
        self.register_outputs({
            "detector_id": self.detector_id,
            "detector_arn": self.detector_arn,
            "publishing_destination_id": self.publishing_destination_id,
            "enabled_features": self.enabled_features,
            "inspector_resource_types": self.inspector_resource_types,
        })
