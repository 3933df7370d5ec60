"""OrganizationTrail: one trail for every account of an AWS Organization, created from
the management account, delivering into a locked bucket in the log-archive account.

Resources and where they live:

* in the **log-archive account** (the component's inherited provider: pass
  ``opts=ResourceOptions(providers={"aws": log_archive_provider})``): a KMS key and the
  locked bucket ``ir-readiness-org-trail-<org id>`` (Object Lock, versioning, SSE-KMS,
  Block Public Access, BucketOwnerEnforced, TLS-only, Glacier transition);
* in the **management account** (``Args.trail_provider``, home region): the trail,
  organization-wide, multi-region, global service events, log file validation, KMS, and
  its CloudWatch Logs copy (log group ``/ir-readiness/organization-trail`` encrypted with a
  management-account key usable by CloudWatch Logs for that group only; a delivery role
  CloudTrail may assume only for this trail, writing only that group's streams), and on
  that copy the same 15 CIS metric filters and alarms as the account trail
  (``alarm_topic_arns``): the copy holds every account's events, so they watch them all.

Organization trails write the management account's own events under
``AWSLogs/<management account>/`` and every member's under ``AWSLogs/<org id>/``. The
bucket policy admits CloudTrail for exactly those two prefixes and ``s3:GetBucketAcl``,
each only with ``aws:SourceArn`` = this trail's ARN (known before the trail exists:
``arn:<partition>:cloudtrail:<home>:<management>:trail/<name>``) and the
``bucket-owner-full-control`` ACL on writes. The key policy lets CloudTrail encrypt only
for that trail (``aws:SourceArn`` + the ``aws:cloudtrail:arn`` encryption context of the
management account's trails), the log-archive account administer the key through IAM, and
the reader accounts (the security account) decrypt and read the logs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.audit_trail import cis_alarms
from components.locked_bucket import locked_bucket
from components.settings import ObjectLock

TYPE = "ir-readiness:index:OrganizationTrail"

ORG_TRAIL_NAME = "ir-readiness-organization"
_ORG_ID = re.compile(r"^o-[a-z0-9]{10,32}$")
_ACCOUNT = re.compile(r"^[0-9]{12}$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-[0-9]+$")


def organization_trail_arn(partition: str, home_region: str, management_account_id: str,
                           trail_name: str = ORG_TRAIL_NAME) -> str:
    return f"arn:{partition}:cloudtrail:{home_region}:{management_account_id}:trail/{trail_name}"


def organization_trail_bucket(organization_id: str) -> str:
    """The log-archive bucket's name, derivable by every stack of the organization."""
    return f"ir-readiness-org-trail-{organization_id}"


@dataclass(frozen=True)
class OrganizationTrailArgs:
    organization_id: str
    """Organization id (o-...): members' logs land under ``AWSLogs/<org id>/``."""
    management_account_id: str
    """Account that owns the trail (the management account)."""
    log_archive_account_id: str
    """Account that owns the bucket and key (the inherited provider must act there)."""
    home_region: str
    """Region of the trail (the management stack's home region)."""
    trail_provider: pulumi.ProviderResource
    """Provider acting in the management account, home region."""
    reader_account_ids: Sequence[str] = ()
    """Accounts (e.g. the security account) whose IAM may read and decrypt the logs."""
    trail_name: str = ORG_TRAIL_NAME
    """Trail name."""
    partition: str = "aws"
    """ARN partition."""
    object_lock: ObjectLock = ObjectLock("GOVERNANCE", 365)
    """Default Object Lock retention of the log bucket."""
    archive_after_days: int = 90
    """Days before logs move to Glacier."""
    log_retention_days: int = 365
    """Retention of the trail's CloudWatch Logs copy (management account)."""
    log_group_name: str = "/ir-readiness/organization-trail"
    """Log group of that copy, in the management account, home region."""
    config_delivery: bool = False
    """Let the management account's AWS Config recorders (their role, through its IAM
    policy) deliver under ``config/AWSLogs/<management account>/`` and encrypt with the
    key through S3: the management account has no log bucket of its own."""
    alarm_topic_arns: Mapping[str, pulumi.Input[str]] | None = None
    """Management-account topics (home region) per severity: the 15 CIS metric filters and
    alarms on the log group copy notify them (every account's events flow through it);
    None: no alarms."""

    def __post_init__(self) -> None:
        if not _ORG_ID.match(self.organization_id or ""):
            raise ValueError(f"OrganizationTrailArgs.organization_id = {self.organization_id!r}"
                             ": must be an organization id (o- and 10-32 lowercase letters or "
                             "digits)")
        for field_name in ("management_account_id", "log_archive_account_id"):
            value = getattr(self, field_name)
            if not _ACCOUNT.match(value or ""):
                raise ValueError(f"OrganizationTrailArgs.{field_name} = {value!r}: must be a "
                                 "12-digit account id")
        for reader in self.reader_account_ids:
            if not _ACCOUNT.match(reader):
                raise ValueError(f"OrganizationTrailArgs.reader_account_ids: {reader!r} is not "
                                 "a 12-digit account id")
        if self.log_archive_account_id == self.management_account_id:
            raise ValueError("OrganizationTrailArgs.log_archive_account_id must differ from "
                             "management_account_id: keep logs away from the account that "
                             "can stop the trail")
        if not _REGION.match(self.home_region or ""):
            raise ValueError(f"OrganizationTrailArgs.home_region = {self.home_region!r}: not a "
                             "region")

    @property
    def trail_arn(self) -> str:
        return organization_trail_arn(self.partition, self.home_region,
                                      self.management_account_id, self.trail_name)


def bucket_policy_statements(bucket_arn: str, args: OrganizationTrailArgs) -> list[dict[str, Any]]:
    """What an organization trail needs on its bucket (the TLS-only deny is added first)."""
    source = {"aws:SourceArn": args.trail_arn}
    write_condition = {"StringEquals": {**source, "s3:x-amz-acl": "bucket-owner-full-control"}}
    statements: list[dict[str, Any]] = [
        {
            "Sid": "CloudTrailAclCheck",
            "Effect": "Allow",
            "Principal": {"Service": "cloudtrail.amazonaws.com"},
            "Action": "s3:GetBucketAcl",
            "Resource": bucket_arn,
            "Condition": {"StringEquals": source},
        },
        {
            "Sid": "CloudTrailWriteManagementAccount",
            "Effect": "Allow",
            "Principal": {"Service": "cloudtrail.amazonaws.com"},
            "Action": "s3:PutObject",
            "Resource": f"{bucket_arn}/AWSLogs/{args.management_account_id}/*",
            "Condition": write_condition,
        },
        {
            "Sid": "CloudTrailWriteOrganization",
            "Effect": "Allow",
            "Principal": {"Service": "cloudtrail.amazonaws.com"},
            "Action": "s3:PutObject",
            "Resource": f"{bucket_arn}/AWSLogs/{args.organization_id}/*",
            "Condition": write_condition,
        },
    ]
    if args.config_delivery:
        management = {"AWS": f"arn:{args.partition}:iam::{args.management_account_id}:root"}
        statements += [{
            "Sid": "ManagementConfigChecksBucket",
            "Effect": "Allow",
            "Principal": management,
            "Action": ["s3:GetBucketAcl", "s3:ListBucket"],
            "Resource": bucket_arn,
        }, {
            "Sid": "ManagementConfigDelivers",
            "Effect": "Allow",
            "Principal": management,
            "Action": "s3:PutObject",
            "Resource": f"{bucket_arn}/config/AWSLogs/{args.management_account_id}/*",
        }]
    if args.reader_account_ids:
        statements.append({
            "Sid": "LogReaders",
            "Effect": "Allow",
            "Principal": {"AWS": [f"arn:{args.partition}:iam::{a}:root"
                                  for a in sorted(args.reader_account_ids)]},
            "Action": ["s3:GetObject", "s3:ListBucket", "s3:GetBucketLocation"],
            "Resource": [bucket_arn, f"{bucket_arn}/*"],
        })
    return statements


def log_key_policy(args: OrganizationTrailArgs) -> dict[str, Any]:
    """Management-account key of the log group: the account administers it through IAM;
    CloudWatch Logs uses it only for this log group."""
    p = args.partition
    group_arn = (f"arn:{p}:logs:{args.home_region}:{args.management_account_id}:log-group:"
                 f"{args.log_group_name}")
    return {"Version": "2012-10-17", "Statement": [
        {
            "Sid": "ManagementAccountAdministersThroughIam",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:{p}:iam::{args.management_account_id}:root"},
            "Action": "kms:*",
            "Resource": "*",
        },
        {
            "Sid": "CloudWatchLogsForTheTrailLogGroup",
            "Effect": "Allow",
            "Principal": {"Service": f"logs.{args.home_region}.amazonaws.com"},
            # Only actions that carry an encryption context: on kms:Describe* (no context)
            # this condition could never hold, so listing them granted nothing. Context
            # values are strings to IAM, hence StringEquals rather than ArnEquals.
            "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*"],
            "Resource": "*",
            "Condition": {"StringEquals": {"kms:EncryptionContext:aws:logs:arn": group_arn}},
        },
    ]}


def delivery_trust_policy(args: OrganizationTrailArgs) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [{
        "Sid": "CloudTrailOfThisTrail",
        "Effect": "Allow",
        "Principal": {"Service": "cloudtrail.amazonaws.com"},
        "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"aws:SourceArn": args.trail_arn}},
    }]}


def key_policy(args: OrganizationTrailArgs) -> dict[str, Any]:
    p = args.partition
    trails = f"arn:{p}:cloudtrail:*:{args.management_account_id}:trail/*"
    statements: list[dict[str, Any]] = [
        {
            "Sid": "LogArchiveAccountAdministersThroughIam",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:{p}:iam::{args.log_archive_account_id}:root"},
            "Action": "kms:*",
            "Resource": "*",
        },
        {
            "Sid": "CloudTrailEncryptsForTheOrganizationTrail",
            "Effect": "Allow",
            "Principal": {"Service": "cloudtrail.amazonaws.com"},
            "Action": "kms:GenerateDataKey*",
            "Resource": "*",
            "Condition": {
                "StringEquals": {"aws:SourceArn": args.trail_arn},
                "StringLike": {"kms:EncryptionContext:aws:cloudtrail:arn": trails},
            },
        },
        {
            "Sid": "CloudTrailDescribesKey",
            "Effect": "Allow",
            "Principal": {"Service": "cloudtrail.amazonaws.com"},
            "Action": "kms:DescribeKey",
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:SourceArn": args.trail_arn}},
        },
    ]
    if args.config_delivery:
        statements.append({
            "Sid": "ManagementConfigEncryptsThroughS3",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:{p}:iam::{args.management_account_id}:root"},
            "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
            "Resource": "*",
            "Condition": {"StringEquals": {
                "kms:ViaService": f"s3.{args.home_region}.amazonaws.com"}},
        })
    if args.reader_account_ids:
        readers = {"AWS": [f"arn:{p}:iam::{a}:root" for a in sorted(args.reader_account_ids)]}
        # kms:DescribeKey carries no encryption context, so it cannot share the Decrypt
        # statement's context condition (there it would never be granted).
        statements += [{
            "Sid": "LogReadersDecrypt",
            "Effect": "Allow",
            "Principal": readers,
            "Action": "kms:Decrypt",
            "Resource": "*",
            "Condition": {"StringLike": {"kms:EncryptionContext:aws:cloudtrail:arn": trails}},
        }, {
            "Sid": "LogReadersDescribeKey",
            "Effect": "Allow",
            "Principal": readers,
            "Action": "kms:DescribeKey",
            "Resource": "*",
        }]
    return {"Version": "2012-10-17", "Statement": statements}


class OrganizationTrail(pulumi.ComponentResource):
    """Organization trail (management account) -> locked bucket + key (log archive)."""

    trail_arn: pulumi.Output[str]
    bucket_name: pulumi.Output[str]
    kms_key_arn: pulumi.Output[str]
    log_group_name: pulumi.Output[str]

    def __init__(self, name: str, args: OrganizationTrailArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        if not isinstance(args, OrganizationTrailArgs):
            raise TypeError("OrganizationTrail needs OrganizationTrailArgs")
        super().__init__(TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        key = aws.kms.Key(
            f"{name}-key",
            description=f"ir-readiness: organization trail {args.trail_name} log encryption",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=json.dumps(key_policy(args), sort_keys=True),
            opts=child,
        )
        aws.kms.Alias(f"{name}-key-alias", name="alias/ir-readiness/organization-trail",
                      target_key_id=key.key_id, opts=child)
        bucket = locked_bucket(
            f"{name}-logs",
            parent=self,
            kms_key_arn=key.arn,
            object_lock=args.object_lock,
            archive_after_days=args.archive_after_days,
            extra_statements=lambda arn: arn.apply(lambda a: bucket_policy_statements(a, args)),
            bucket_name=organization_trail_bucket(args.organization_id),
        )
        # -- CloudWatch Logs copy in the management account (CIS: trail -> CloudWatch Logs)
        in_management = pulumi.ResourceOptions(parent=self, provider=args.trail_provider)
        log_key = aws.kms.Key(
            f"{name}-log-key",
            description="ir-readiness: organization trail CloudWatch Logs copy",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            policy=json.dumps(log_key_policy(args), sort_keys=True),
            opts=in_management)
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-log-group",
            name=args.log_group_name,
            retention_in_days=args.log_retention_days,
            kms_key_id=log_key.arn,
            opts=in_management)
        delivery = aws.iam.Role(
            f"{name}-delivery",
            name=f"{args.trail_name}-cloudwatch-delivery"[:64],
            description="ir-readiness: organization trail delivery to CloudWatch Logs",
            assume_role_policy=json.dumps(delivery_trust_policy(args), sort_keys=True),
            opts=in_management)
        delivery_policy = aws.iam.RolePolicy(
            f"{name}-delivery-policy",
            role=delivery.id,
            policy=log_group.arn.apply(lambda arn: json.dumps({
                "Version": "2012-10-17",
                "Statement": [{
                    "Sid": "WriteTrailLogStreams",
                    "Effect": "Allow",
                    "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                    "Resource": f"{arn}:log-stream:*",
                }],
            }, sort_keys=True)),
            opts=in_management)
        trail = aws.cloudtrail.Trail(
            f"{name}-trail",
            cloud_watch_logs_group_arn=log_group.arn.apply(lambda arn: f"{arn}:*"),
            cloud_watch_logs_role_arn=delivery.arn,
            name=args.trail_name,
            s3_bucket_name=bucket.bucket.id,
            kms_key_id=key.arn,
            is_organization_trail=True,
            is_multi_region_trail=True,
            include_global_service_events=True,
            enable_log_file_validation=True,
            enable_logging=True,
            opts=pulumi.ResourceOptions(parent=self, provider=args.trail_provider,
                                        depends_on=[*bucket.ready, key, delivery_policy]),
        )
        self.alarm_names: list[pulumi.Output[str]] = []
        if args.alarm_topic_arns is not None:
            self.alarm_names = cis_alarms(name, parent=self, log_group_name=log_group.name,
                                          topic_arns=args.alarm_topic_arns,
                                          provider=args.trail_provider)
        self.trail_arn = trail.arn
        self.bucket_name = bucket.bucket.id
        self.kms_key_arn = key.arn
        self.log_group_name = log_group.name
        self.register_outputs({"trailArn": self.trail_arn, "bucketName": self.bucket_name,
                               "kmsKeyArn": self.kms_key_arn,
                               "logGroupName": self.log_group_name})
