"""ReadinessManifest: the SSM parameter `/ir-readiness/manifest` of one region.

It holds the manifest v1 document, the only thing `irctl` reads to find what the stack
provisioned. The stack builds the same typed model irctl parses
(`runbooks.core.manifest_schema.Manifest`) and writes its JSON; the document is checked
against the shared schema first (its messages name key and value): an invalid manifest
fails the deployment instead of misleading a responder mid-incident.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from runbooks.core.manifest_schema import (
    MANIFEST_PARAMETER,
    MANIFEST_VERSION,
    Manifest,
    manifest_errors,
)

TYPE = "ir-readiness:index:ReadinessManifest"

# SSM Standard parameters hold up to 4 KB; larger manifests (many VPCs) need Advanced.
STANDARD_TIER_LIMIT = 4096


class ManifestError(ValueError):
    """The manifest the stack would write does not satisfy the v1 schema."""


@dataclass(frozen=True)
class QuarantineGroups:
    isolation_security_group_id: pulumi.Input[str]
    """Group with no rules at all: attach alone to cut an instance off."""
    conversion_security_group_id: pulumi.Input[str]
    """Allow-all group attached briefly so tracked connections become untracked."""
    forensic_security_group_id: pulumi.Input[str]
    """Group admitting only the forensic sources."""


@dataclass(frozen=True)
class ReadinessManifestArgs:
    region: str
    """Region of this manifest (the provider's region)."""
    home_region: str
    """Home region of the stack."""
    account_id: pulumi.Input[str]
    """Account the stack is deployed to."""
    kms_key_arn: pulumi.Input[str]
    """This region's readiness key."""
    evidence_bucket: pulumi.Input[str]
    """Evidence bucket name."""
    trail_arn: pulumi.Input[str]
    """Multi-region trail ARN."""
    trail_bucket: pulumi.Input[str]
    """Trail log bucket name."""
    trail_log_group: pulumi.Input[str]
    """Trail CloudWatch Logs group name."""
    topic_arns: Mapping[str, pulumi.Input[str]]
    """This region's alert topic ARN per severity (critical, high, info)."""
    quarantine: Mapping[str, QuarantineGroups]
    """Per VPC id in this region, its quarantine security groups."""
    backup_vault_name: pulumi.Input[str]
    """This region's backup vault name."""
    backup_vault_arn: pulumi.Input[str]
    """This region's backup vault ARN."""
    backup_plan_id: pulumi.Input[str]
    """This region's backup plan id."""
    backup_restore_role_arn: pulumi.Input[str]
    """Role AWS Backup uses to restore in this region."""
    guardduty_detector_id: pulumi.Input[str]
    """This region's GuardDuty detector id."""
    security_hub_enabled: pulumi.Input[bool]
    """Whether Security Hub is enabled in this region."""
    investigator_role_arn: pulumi.Input[str]
    """Investigator role ARN."""
    responder_role_arn: pulumi.Input[str]
    """Responder role ARN."""
    support_role_arn: pulumi.Input[str] | None = None
    """AWS Support role ARN (SupportAccess), when the stack has one (optional key
    ``responderRoles.support``)."""
    deny_all_policy_arn: pulumi.Input[str] | None = None
    """The stack's managed deny-all policy (``containmentPolicies.denyAll``)."""
    forensic_account: str | None = None
    """The forensic account snapshots are shared to (``forensicAccount``), when set."""
    memory_capture: Mapping[str, pulumi.Input[Any]] | None = None
    """Memory capture (``memoryCapture``): ``documentName``, ``uploadRoleArn``,
    ``timeoutSeconds``, when the stack provisions it."""

    def __post_init__(self) -> None:
        # Validated once, at construction, the same way as every other Args.
        missing = sorted({"critical", "high", "info"} - set(self.topic_arns))
        if missing:
            raise ValueError(
                f"ReadinessManifestArgs.topic_arns lacks {missing}; give critical, high, info"
            )


def manifest_model(values: Mapping[str, Any]) -> Manifest:
    """The `Manifest` of resolved values (camelCase keys); ManifestError when invalid."""
    document = {
        "version": MANIFEST_VERSION,
        "accountId": values["accountId"],
        "region": values["region"],
        "homeRegion": values["homeRegion"],
        "kmsKeyArn": values["kmsKeyArn"],
        "evidenceBucket": values["evidenceBucket"],
        "trail": values["trail"],
        "topics": values["topics"],
        "quarantine": values["quarantine"],
        "backup": values["backup"],
        "guardDutyDetectorId": values["guardDutyDetectorId"],
        "securityHubEnabled": values["securityHubEnabled"],
        "responderRoles": values["responderRoles"],
    }
    if values.get("containmentPolicies"):
        document["containmentPolicies"] = values["containmentPolicies"]
    if values.get("forensicAccount"):
        document["forensicAccount"] = values["forensicAccount"]
    if values.get("memoryCapture"):
        document["memoryCapture"] = values["memoryCapture"]
    errors = manifest_errors(document)
    if document.get("forensicAccount") == document["accountId"]:
        errors.append(f"forensicAccount {document['forensicAccount']}: is the stack's own "
                      "account; name the separate forensic account (ir:forensicAccount)")
    if errors:
        raise ManifestError(
            f"manifest for {values.get('region')} does not satisfy the v1 schema: "
            + "; ".join(errors)
        )
    return Manifest.from_document(document)


def build_manifest(values: Mapping[str, Any]) -> str:
    """Serialise resolved values as manifest v1 (the model's JSON, keys sorted, compact);
    raise ManifestError when invalid."""
    return json.dumps(manifest_model(values).to_dict(), sort_keys=True,
                      separators=(",", ":"))


class ReadinessManifest(pulumi.ComponentResource):
    """The region's manifest parameter."""

    parameter_name: pulumi.Output[str]
    parameter_arn: pulumi.Output[str]
    document: pulumi.Output[Any]
    """The manifest as an object (what the stack output `manifests[region]` shows)."""

    def __init__(
        self, name: str, args: ReadinessManifestArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        values: dict[str, Any] = {
            "accountId": args.account_id,
            "region": args.region,
            "homeRegion": args.home_region,
            "kmsKeyArn": args.kms_key_arn,
            "evidenceBucket": args.evidence_bucket,
            "trail": {
                "arn": args.trail_arn,
                "bucket": args.trail_bucket,
                "logGroup": args.trail_log_group,
            },
            "topics": {sev: args.topic_arns[sev] for sev in ("critical", "high", "info")},
            "quarantine": {
                vpc_id: {
                    "isolationSecurityGroupId": groups.isolation_security_group_id,
                    "conversionSecurityGroupId": groups.conversion_security_group_id,
                    "forensicSecurityGroupId": groups.forensic_security_group_id,
                }
                for vpc_id, groups in sorted(args.quarantine.items())
            },
            "backup": {
                "vaultName": args.backup_vault_name,
                "vaultArn": args.backup_vault_arn,
                "planId": args.backup_plan_id,
                "restoreRoleArn": args.backup_restore_role_arn,
            },
            "guardDutyDetectorId": args.guardduty_detector_id,
            "securityHubEnabled": args.security_hub_enabled,
            "responderRoles": {
                "investigator": args.investigator_role_arn,
                "responder": args.responder_role_arn,
                **({"support": args.support_role_arn}
                   if args.support_role_arn is not None else {}),
            },
        }
        if args.deny_all_policy_arn is not None:
            values["containmentPolicies"] = {"denyAll": args.deny_all_policy_arn}
        if args.forensic_account is not None:
            values["forensicAccount"] = args.forensic_account
        if args.memory_capture is not None:
            values["memoryCapture"] = dict(args.memory_capture)
        # Output.from_input resolves the nested Outputs; the apply only produces a value.
        text = pulumi.Output.from_input(values).apply(build_manifest)
        parameter = aws.ssm.Parameter(
            f"{name}-parameter",
            name=MANIFEST_PARAMETER,
            type="String",
            data_type="text",
            tier=text.apply(
                lambda t: "Standard" if len(t.encode()) <= STANDARD_TIER_LIMIT else "Advanced"
            ),
            description="ir-readiness manifest v1: what irctl uses in this region",
            value=text,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.parameter_name = parameter.name
        self.parameter_arn = parameter.arn
        self.document = text.apply(json.loads)
        self.register_outputs(
            {
                "parameterName": self.parameter_name,
                "parameterArn": self.parameter_arn,
                "document": self.document,
            }
        )
