"""EncryptionKey: the customer-managed KMS key of one region.

KMS keys are regional, so the stack creates one per covered region. The key policy
grants exactly the AWS service principals that use the key, each scoped to this
account (`aws:SourceAccount`), to our resources (`aws:SourceArn`) or to an encryption
context naming them; administration stays with the account (IAM policies decide who).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.backup_protection import reports_role_arn

TYPE = "ir-readiness:index:EncryptionKey"

# Services that publish to our encrypted SNS topics / SQS dead-letter queues.
PUBLISHING_SERVICES: tuple[str, ...] = (
    "events.amazonaws.com",
    "cloudwatch.amazonaws.com",
    "backup.amazonaws.com",
    "sns.amazonaws.com",
)


@dataclass(frozen=True)
class EncryptionKeyArgs:
    region: str
    """Region of the key (its provider must point there)."""
    account_id: pulumi.Input[str]
    """Account that owns the key; every service grant is scoped to it."""
    partition: pulumi.Input[str]
    """ARN partition (`aws`, `aws-us-gov`, ...)."""
    log_group_prefix: str
    """Log groups under this name prefix may use the key (CloudWatch Logs grant)."""
    trail_arn: pulumi.Input[str] | None = None
    """ARN of the trail allowed to encrypt with this key; None outside the home region."""
    findings_from_all_regions: bool = False
    """Let GuardDuty detectors of every region encrypt exported findings with this key
    (the home key: all regions export to the home evidence bucket)."""
    backup_reports: bool = False
    """Let Backup Audit Manager's service-linked role encrypt the reports it writes,
    through S3 of this region, into a bucket encrypted with this key (the home key)."""
    deletion_window_days: int = 30
    """Waiting period before a scheduled deletion takes effect (7-30)."""
    forensic_account: str | None = None
    """The forensic account (`ir:forensicAccount`) that may use the key through EBS, to
    create volumes from the snapshot copies shared with it; None: no such grant."""

    def __post_init__(self) -> None:
        # Validated once, at construction, the same way as every other Args.
        if self.forensic_account is not None and not re.fullmatch(r"[0-9]{12}",
                                                                  self.forensic_account):
            raise ValueError(
                f"EncryptionKeyArgs.forensic_account = {self.forensic_account!r}: must be "
                "a 12-digit AWS account id"
            )
        if not 7 <= self.deletion_window_days <= 30:
            raise ValueError(
                f"EncryptionKeyArgs.deletion_window_days = {self.deletion_window_days}: "
                "must be between 7 and 30"
            )
        if not self.log_group_prefix.startswith("/") or self.log_group_prefix.endswith("*"):
            raise ValueError(
                f"EncryptionKeyArgs.log_group_prefix = {self.log_group_prefix!r}: must be a "
                "log group path starting with '/' and without wildcard"
            )


def key_policy(
    *,
    account_id: str,
    partition: str,
    region: str,
    log_group_prefix: str,
    trail_arn: str | None,
    findings_from_all_regions: bool = False,
    backup_reports: bool = False,
    forensic_account: str | None = None,
) -> dict[str, Any]:
    """The key policy document (pure function, so it is unit-testable on its own)."""
    if forensic_account is not None and forensic_account == account_id:
        raise ValueError(
            f"ir:forensicAccount = {forensic_account}: is the stack's own account; name "
            "the separate account forensic analysts work in (or leave it unset)"
        )
    root = f"arn:{partition}:iam::{account_id}:root"
    source_account = {"StringEquals": {"aws:SourceAccount": account_id}}
    detector_region = "*" if findings_from_all_regions else region
    statements: list[dict[str, Any]] = [
        {
            # Without this statement no IAM policy could grant use of the key and the
            # key would become unmanageable; IAM policies then decide who may use it.
            "Sid": "AccountAdministersKeyThroughIam",
            "Effect": "Allow",
            "Principal": {"AWS": root},
            "Action": "kms:*",
            "Resource": "*",
        },
        {
            "Sid": "CloudWatchLogsEncryptOurLogGroups",
            "Effect": "Allow",
            "Principal": {"Service": f"logs.{region}.amazonaws.com"},
            "Action": [
                "kms:Encrypt",
                "kms:Decrypt",
                "kms:ReEncryptFrom",
                "kms:ReEncryptTo",
                "kms:GenerateDataKey",
                "kms:GenerateDataKeyWithoutPlaintext",
            ],
            "Resource": "*",
            # Encryption-context values are strings to IAM (String operators; Arn ones
            # are a type mismatch an IAM linter rejects), and every action here carries
            # the context, so the condition holds for each of them.
            "Condition": {
                "StringLike": {
                    "kms:EncryptionContext:aws:logs:arn": (
                        f"arn:{partition}:logs:{region}:{account_id}:log-group:"
                        f"{log_group_prefix}/*"
                    )
                }
            },
        },
        {
            "Sid": "AlertPublishersUseEncryptedTopicsAndQueues",
            "Effect": "Allow",
            "Principal": {"Service": list(PUBLISHING_SERVICES)},
            "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
            "Resource": "*",
            "Condition": source_account,
        },
        {
            "Sid": "GuardDutyPublishesFindings",
            "Effect": "Allow",
            "Principal": {"Service": "guardduty.amazonaws.com"},
            "Action": "kms:GenerateDataKey",
            "Resource": "*",
            "Condition": {
                "StringEquals": {"aws:SourceAccount": account_id},
                "ArnLike": {
                    "aws:SourceArn": (
                        f"arn:{partition}:guardduty:{detector_region}:{account_id}:detector/*"
                    )
                },
            },
        },
        {
            "Sid": "BackupEncryptsRecoveryPoints",
            "Effect": "Allow",
            "Principal": {"Service": "backup.amazonaws.com"},
            "Action": ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
            "Resource": "*",
            "Condition": source_account,
        },
        {
            "Sid": "BackupCreatesGrantsForAwsResourcesOnly",
            "Effect": "Allow",
            "Principal": {"Service": "backup.amazonaws.com"},
            "Action": "kms:CreateGrant",
            "Resource": "*",
            "Condition": {
                "StringEquals": {"aws:SourceAccount": account_id},
                "Bool": {"kms:GrantIsForAWSResource": "true"},
            },
        },
    ]
    if backup_reports:
        # The service-linked role appears with the first report plan, and a key policy
        # naming a missing principal is refused: match its ARN instead.
        statements.append({
            "Sid": "BackupAuditManagerEncryptsReports",
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": "kms:GenerateDataKey",
            "Resource": "*",
            "Condition": {
                "StringEquals": {
                    "aws:PrincipalArn": reports_role_arn(partition, account_id),
                    "kms:CallerAccount": account_id,
                    "kms:ViaService": f"s3.{region}.amazonaws.com",
                },
            },
        })
    if forensic_account is not None:
        # The forensic account creates volumes from (and copies) the case snapshots
        # `irctl case share-snapshots` re-encrypts with this key and shares with it: the
        # uses EBS makes of the key on its behalf, through EC2 of this region only, and
        # grants only for AWS resources (the volumes). Never administration, never
        # direct decryption outside EC2.
        forensic = {"AWS": f"arn:{partition}:iam::{forensic_account}:root"}
        via_ec2 = {"kms:ViaService": f"ec2.{region}.amazonaws.com"}
        statements += [
            {
                "Sid": "ForensicAccountUsesKeyThroughEbs",
                "Effect": "Allow",
                "Principal": forensic,
                "Action": [
                    "kms:Decrypt",
                    "kms:DescribeKey",
                    "kms:ReEncryptFrom",
                    "kms:ReEncryptTo",
                    "kms:GenerateDataKeyWithoutPlaintext",
                ],
                "Resource": "*",
                "Condition": {"StringEquals": via_ec2},
            },
            {
                "Sid": "ForensicAccountGrantsForEbsVolumesOnly",
                "Effect": "Allow",
                "Principal": forensic,
                "Action": "kms:CreateGrant",
                "Resource": "*",
                "Condition": {
                    "StringEquals": via_ec2,
                    "Bool": {"kms:GrantIsForAWSResource": "true"},
                },
            },
        ]
    if trail_arn is not None:
        trail_context = {
            "kms:EncryptionContext:aws:cloudtrail:arn": (
                f"arn:{partition}:cloudtrail:*:{account_id}:trail/*"
            )
        }
        statements += [
            {
                "Sid": "CloudTrailEncryptsLogs",
                "Effect": "Allow",
                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "kms:GenerateDataKey*",
                "Resource": "*",
                "Condition": {
                    "StringEquals": {"aws:SourceArn": trail_arn},
                    "StringLike": trail_context,
                },
            },
            {
                "Sid": "CloudTrailDescribesKey",
                "Effect": "Allow",
                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "kms:DescribeKey",
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:SourceArn": trail_arn}},
            },
        ]
    return {"Version": "2012-10-17", "Statement": statements}


class EncryptionKey(pulumi.ComponentResource):
    """A rotating customer-managed key and its alias, for one region."""

    key_arn: pulumi.Output[str]
    key_id: pulumi.Output[str]
    alias_name: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        args: EncryptionKeyArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        policy = pulumi.Output.all(args.account_id, args.partition, args.trail_arn).apply(
            lambda v: json.dumps(
                key_policy(
                    account_id=v[0],
                    partition=v[1],
                    region=args.region,
                    log_group_prefix=args.log_group_prefix,
                    trail_arn=v[2],
                    findings_from_all_regions=args.findings_from_all_regions,
                    backup_reports=args.backup_reports,
                    forensic_account=args.forensic_account,
                ),
                sort_keys=True,
            )
        )
        key = aws.kms.Key(
            f"{name}-key",
            description=f"ir-readiness: evidence, logs and alerts in {args.region}",
            enable_key_rotation=True,
            deletion_window_in_days=args.deletion_window_days,
            key_usage="ENCRYPT_DECRYPT",
            customer_master_key_spec="SYMMETRIC_DEFAULT",
            policy=policy,
            opts=child,
        )
        alias = aws.kms.Alias(
            f"{name}-alias",
            name=f"alias/ir-readiness/{pulumi.get_stack()}",
            target_key_id=key.key_id,
            opts=child,
        )
        self.key_arn = key.arn
        self.key_id = key.key_id
        self.alias_name = alias.name
        self.register_outputs(
            {"keyArn": self.key_arn, "keyId": self.key_id, "aliasName": self.alias_name}
        )
