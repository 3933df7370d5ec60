"""BackupProtection: a locked, encrypted backup vault, a tag-based plan and its service role.

One per covered region, created with that region's provider in ``opts``.

* ``aws.backup.Vault`` encrypted with the customer-managed key from Args, and an
  ``aws.backup.VaultPolicy`` denying recovery-point deletion and lifecycle shortening to
  every principal (lifecycle expiry by AWS Backup itself is unaffected). This protects
  backups during Vault Lock's grace period, before the lock becomes immutable.
* ``aws.backup.VaultLockConfiguration`` (min/max retention, ``changeable_for_days``: after
  that many days the lock is in compliance mode and nobody, root included, can delete a
  recovery point before its retention ends; ransomware cannot either).
* ``aws.backup.Plan`` with daily / weekly / monthly rules (schedule, retention and cold
  storage from Args; cold storage requires ``delete_after >= cold_storage_after + 90``),
  an optional continuous-backup rule (point-in-time restore for RDS, S3, SAP HANA;
  retention 1-35 days) and an optional copy of every snapshot rule to a vault in another
  covered region. Every retention must sit inside the vault lock's min/max, or jobs fail:
  this is checked here, before anything is created.
* ``aws.backup.Selection`` of every resource tagged ``selection_tag_key=selection_tag_value``,
  run by an ``aws.iam.Role`` trusted only by ``backup.amazonaws.com`` for this account
  (``aws:SourceAccount``) with the AWS managed backup and restore policies (and the S3
  backup/restore policies when ``protect_s3``). That role is the manifest's
  ``backup.restoreRoleArn``: ``irctl`` passes it to ``StartRestoreJob``.
* ``aws.backup.VaultNotifications`` to the alert topic: AlertRouting's *info* topic,
  because every job completion, successful or not, is sent. AWS Backup no longer emits the
  deprecated ``BACKUP_JOB_FAILED`` / ``RESTORE_JOB_FAILED`` vault events (the API accepts
  them but "deprecated events do not return statuses or notifications"); failures arrive
  as ``BACKUP_JOB_COMPLETED`` / ``RESTORE_JOB_COMPLETED`` with state FAILED, plus
  ``COPY_JOB_FAILED``, the S3 object failures and ``RECOVERY_POINT_MODIFIED`` (a retention
  change is a ransomware signal). AlertRouting routes the EventBridge job-state
  FAILED/ABORTED/EXPIRED events to the high topic, and tampering API calls (recovery
  point deletion, lifecycle or lock changes) to the critical topic.

* ``aws.backup.RestoreTestingPlan`` (``restore_testing``): on its schedule, the newest
  snapshot recovery point of this vault within the selection window is restored, one
  ``aws.backup.RestoreTestingSelection`` per resource type selecting the same tag as the
  backup selection, by the same service role; AWS Backup deletes the restored copy when
  the validation window ends. Each test is a restore job of this vault, so its result
  reaches the alert topic (the info topic) as ``RESTORE_JOB_COMPLETED`` with its state,
  required in the notification events while restore testing is on.
* ``aws.backup.ReportPlan`` x2 (``report_bucket_name``): Backup Audit Manager writes a
  daily backup-job and restore-job report (CSV and JSON) of this region under
  ``backup-reports/`` of the log bucket, as its service-linked role; the bucket policy
  carries ``report_bucket_statements`` and the bucket's key lets that role encrypt.

Cost: AWS Backup bills warm storage per GB-month, cold storage at a lower rate (but for
at least 90 days), continuous backups as warm storage, restores per GB for some
services, and cross-region copies per GB transferred plus the copy's storage. Vault Lock
itself is free, but in compliance mode nobody can delete recovery points early, so the
retention chosen here is storage you will pay for. A restore test is billed per job
(and per GB restored for some types), plus the restored copy (an instance, a volume, a
database) while it exists, at most the validation window. Backup Audit Manager bills per
report and per evaluated recovery point/job; the reports' storage is the log bucket's.

What it needs from the other components (stack-core):

* the **KMS key policy** (``kms_key_arn``) must let AWS Backup use the key for this
  account's vault: ``kms:Encrypt``, ``kms:Decrypt``, ``kms:ReEncrypt*``,
  ``kms:GenerateDataKey*``, ``kms:DescribeKey`` and ``kms:CreateGrant`` (with
  ``kms:GrantIsForAWSResource``) for the account's principals via
  ``kms:ViaService = backup.<region>.amazonaws.com``, plus the restore role;
* the **alert topic** (``alert_topic_arn``) policy must allow ``backup.amazonaws.com`` to
  ``SNS:Publish`` (AlertRouting does) and, for a KMS-encrypted topic, the key policy must
  allow ``backup.amazonaws.com`` ``kms:GenerateDataKey*`` and ``kms:Decrypt``;
* for a cross-region copy, the destination vault (another region's BackupProtection,
  ``vault_arn``) and its key must exist first: pass it in ``copy_depends_on``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components.regional_validation import (
    ARN_RE,
    check_account,
    check_arn,
    check_choices,
    check_region,
    check_tags,
    invalid,
)
from runbooks.core.scopes import BACKUP_ROLE_PATH

COMPONENT_TYPE = "ir-readiness:index:BackupProtection"

_VAULT_NAME_RE = re.compile(r"^[a-zA-Z0-9\-_]{2,50}$")
_CRON_RE = re.compile(r"^cron\(\S+( \S+){5}\)$")
_TAG_VALUE_RE = re.compile(r"^[\w .:/=+\-@]{1,256}$")
COLD_STORAGE_MIN_DAYS = 90
CONTINUOUS_MAX_DAYS = 35
LOCK_MIN_CHANGEABLE_DAYS = 3
SUPPORTED_VAULT_EVENTS = (
    "BACKUP_JOB_STARTED",
    "BACKUP_JOB_COMPLETED",
    "COPY_JOB_STARTED",
    "COPY_JOB_SUCCESSFUL",
    "COPY_JOB_FAILED",
    "RESTORE_JOB_STARTED",
    "RESTORE_JOB_COMPLETED",
    "RECOVERY_POINT_MODIFIED",
    "S3_BACKUP_OBJECT_FAILED",
    "S3_RESTORE_OBJECT_FAILED",
)
DEPRECATED_VAULT_EVENTS = (
    "BACKUP_JOB_SUCCESSFUL",
    "BACKUP_JOB_FAILED",
    "BACKUP_JOB_EXPIRED",
    "RESTORE_JOB_SUCCESSFUL",
    "RESTORE_JOB_FAILED",
    "BACKUP_PLAN_CREATED",
    "BACKUP_PLAN_MODIFIED",
)
DEFAULT_VAULT_EVENTS = (
    "BACKUP_JOB_COMPLETED",
    "RESTORE_JOB_COMPLETED",
    "COPY_JOB_FAILED",
    "S3_BACKUP_OBJECT_FAILED",
    "S3_RESTORE_OBJECT_FAILED",
    "RECOVERY_POINT_MODIFIED",
)
BACKUP_POLICY = "service-role/AWSBackupServiceRolePolicyForBackup"
RESTORE_POLICY = "service-role/AWSBackupServiceRolePolicyForRestores"
S3_BACKUP_POLICY = "AWSBackupServiceRolePolicyForS3Backup"
S3_RESTORE_POLICY = "AWSBackupServiceRolePolicyForS3Restore"
# Denied to every principal on the vault: what an intruder with admin rights would try.
PROTECTED_ACTIONS = (
    "backup:DeleteRecoveryPoint",
    "backup:UpdateRecoveryPointLifecycle",
    "backup:DisassociateRecoveryPoint",
)


@dataclass(frozen=True)
class BackupRule:
    """One scheduled snapshot rule."""

    schedule: str
    """AWS Backup cron expression, six fields: ``cron(0 5 ? * * *)``."""

    delete_after_days: int
    """Days a recovery point is kept (must fit the vault lock's min/max retention)."""

    cold_storage_after_days: int | None = None
    """Move to cold storage after this many days (supported resource types only);
    requires ``delete_after_days >= cold_storage_after_days + 90``."""


RESTORE_TEST_RESOURCE_TYPES = (
    "Aurora", "DocumentDB", "DynamoDB", "EBS", "EC2", "EFS", "FSx", "Neptune", "RDS", "S3",
)
REPORT_TEMPLATES = ("BACKUP_JOB_REPORT", "RESTORE_JOB_REPORT")
REPORT_PREFIX = "backup-reports"
REPORTS_ROLE_NAME = "AWSServiceRoleForBackupReports"


def reports_role_arn(partition: str, account_id: str) -> str:
    """Backup Audit Manager's service-linked role, which writes the reports."""
    return (f"arn:{partition}:iam::{account_id}:role/aws-service-role/"
            f"reports.backup.amazonaws.com/{REPORTS_ROLE_NAME}")


def report_bucket_statements(bucket_arn: str, account_id: str,
                             partition: str) -> list[dict[str, Any]]:
    """The bucket-policy grant Backup Audit Manager needs to deliver reports under
    ``backup-reports/``. The service-linked role exists only after the first report plan,
    and a policy naming a missing role is refused, so the principal is matched by
    ``aws:PrincipalArn`` (a fixed ARN in this account: not a public grant)."""
    return [{
        "Sid": "BackupAuditManagerDeliversReports",
        "Effect": "Allow",
        "Principal": {"AWS": "*"},
        "Action": "s3:PutObject",
        "Resource": f"{bucket_arn}/{REPORT_PREFIX}/*",
        "Condition": {
            "StringEquals": {
                "aws:PrincipalArn": reports_role_arn(partition, account_id),
                "aws:PrincipalAccount": account_id,
                "s3:x-amz-acl": "bucket-owner-full-control",
            },
        },
    }]


def _plan_name(text: str) -> str:
    """Restore testing and report plan names allow letters, digits and underscores."""
    return re.sub(r"[^A-Za-z0-9_]", "_", text)[:50]


@dataclass(frozen=True)
class RestoreTesting:
    """A restore testing plan over this vault: the newest recovery point of each selected
    resource is restored on schedule, validated, and the copy deleted."""

    schedule: str = "cron(0 6 ? * MON *)"
    """Six-field cron expression of the tests."""
    resource_types: tuple[str, ...] = ("EBS", "EC2", "RDS", "DynamoDB", "EFS", "S3")
    """Protected resource types tested, one selection each."""
    selection_window_days: int = 7
    """Latest recovery point within this many days (1-365)."""
    validation_window_hours: int = 1
    """Hours the restored copy is kept before AWS Backup deletes it (1-168)."""
    start_window_hours: int = 24
    """Hours a test may wait to start (1-168)."""

    def __post_init__(self) -> None:
        if not _CRON_RE.match(self.schedule):
            raise invalid("restore_testing.schedule", self.schedule,
                          "a six-field AWS cron expression such as cron(0 6 ? * MON *)")
        if not self.resource_types:
            raise invalid("restore_testing.resource_types", (), "list at least one type")
        check_choices("restore_testing.resource_types", self.resource_types,
                      RESTORE_TEST_RESOURCE_TYPES)
        for name, value, top in (("selection_window_days", self.selection_window_days, 365),
                                 ("validation_window_hours", self.validation_window_hours, 168),
                                 ("start_window_hours", self.start_window_hours, 168)):
            if not 1 <= value <= top:
                raise invalid(f"restore_testing.{name}", value, f"1-{top}")


@dataclass(frozen=True)
class BackupProtectionArgs:
    """Inputs of one region's backup protection."""

    region: str
    """The region this component is created in (the provider's region in ``opts``)."""

    account_id: pulumi.Input[str]
    """12-digit account id; the service role trusts AWS Backup for this account only."""

    kms_key_arn: pulumi.Input[str]
    """Customer-managed KMS key that encrypts the vault (see the module docstring)."""

    alert_topic_arn: pulumi.Input[str]
    """SNS topic (AlertRouting's high topic) receiving vault notifications."""

    vault_name: str = "ir-readiness"
    """Backup vault name (2-50 letters, digits, ``-``, ``_``), unique per region."""

    daily: BackupRule | None = BackupRule("cron(0 5 ? * * *)", 35)
    """Daily rule (None to skip): 05:00 UTC, kept 35 days."""

    weekly: BackupRule | None = BackupRule("cron(0 5 ? * SUN *)", 90)
    """Weekly rule (None to skip): Sundays 05:00 UTC, kept 90 days."""

    monthly: BackupRule | None = BackupRule("cron(0 5 1 * ? *)", 365, 90)
    """Monthly rule (None to skip): 1st of the month, cold after 90 days, kept 365 days."""

    continuous_backup_days: int | None = None
    """Enable a continuous-backup (point-in-time) rule kept this many days (1-35)."""

    copy_to_vault_arn: pulumi.Input[str] | None = None
    """Vault in another covered region that receives a copy of every snapshot rule."""

    copy_retention_days: int | None = None
    """Retention of the copies (default: the source rule's retention)."""

    copy_depends_on: Sequence[pulumi.Resource] = ()
    """Resources the plan waits for when copying (the destination vault and its lock)."""

    selection_tag_key: str = "ir-readiness:backup"
    """Resources carrying this tag key ..."""

    selection_tag_value: str = "true"
    """... with this value are backed up."""

    lock_min_retention_days: int = 7
    """Vault Lock: recovery points cannot be kept for less than this."""

    lock_max_retention_days: int = 3650
    """Vault Lock: recovery points cannot be kept for more than this."""

    lock_changeable_for_days: int = LOCK_MIN_CHANGEABLE_DAYS
    """Vault Lock grace period (>= 3 days); afterwards the lock is immutable."""

    start_window_minutes: int = 60
    """A job that has not started within this window is cancelled (>= 60)."""

    completion_window_minutes: int = 1440
    """A job not finished within this window is cancelled (>= start window + 60)."""

    schedule_timezone: str = "Etc/UTC"
    """IANA time zone the cron schedules are evaluated in."""

    protect_s3: bool = True
    """Also attach the S3 backup/restore managed policies (S3 buckets need them)."""

    notification_events: tuple[str, ...] = DEFAULT_VAULT_EVENTS
    """Vault events sent to ``alert_topic_arn`` (supported, non-deprecated events only)."""

    restore_testing: RestoreTesting | None = RestoreTesting()
    """Scheduled restore tests of this vault's recovery points (None: none)."""

    report_bucket_name: pulumi.Input[str] | None = None
    """Bucket receiving the Backup Audit Manager backup-job and restore-job reports under
    ``backup-reports/`` (its policy must carry `report_bucket_statements`); None: no
    report plans."""

    report_depends_on: Sequence[pulumi.Resource] = ()
    """The report bucket's policy (and key): the report plans wait for them."""

    partition: str = "aws"
    """ARN partition of the AWS managed policies."""

    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags on the vault, plan and role (recovery points get the rule name too)."""

    def __post_init__(self) -> None:
        check_region("region", self.region)
        check_account("account_id", self.account_id)
        check_arn("kms_key_arn", self.kms_key_arn, "kms", "key/")
        check_arn("alert_topic_arn", self.alert_topic_arn, "sns")
        if not _VAULT_NAME_RE.match(self.vault_name):
            raise invalid("vault_name", self.vault_name, "2-50 letters, digits, '-' or '_'")
        self._check_lock()
        rules = self.snapshot_rules
        if not rules and self.continuous_backup_days is None:
            raise invalid(
                "daily/weekly/monthly", None,
                "enable at least one rule (or continuous_backup_days)",
            )
        for label, rule in rules.items():
            self._check_rule(label, rule)
        if self.continuous_backup_days is not None:
            days = self.continuous_backup_days
            if not 1 <= days <= CONTINUOUS_MAX_DAYS:
                raise invalid("continuous_backup_days", days, "continuous backups keep 1-35 days")
            self._check_retention("continuous_backup_days", days)
        self._check_copy()
        if not self.selection_tag_key or not _TAG_VALUE_RE.match(self.selection_tag_key):
            raise invalid("selection_tag_key", self.selection_tag_key, "a non-empty tag key")
        if not _TAG_VALUE_RE.match(self.selection_tag_value):
            raise invalid("selection_tag_value", self.selection_tag_value, "a non-empty tag value")
        if self.start_window_minutes < 60:
            raise invalid("start_window_minutes", self.start_window_minutes, "at least 60")
        if self.completion_window_minutes < self.start_window_minutes + 60:
            raise invalid(
                "completion_window_minutes", self.completion_window_minutes,
                f"at least start_window_minutes + 60 ({self.start_window_minutes + 60})",
            )
        if not self.schedule_timezone or " " in self.schedule_timezone:
            raise invalid("schedule_timezone", self.schedule_timezone, "an IANA zone like Etc/UTC")
        deprecated = [e for e in self.notification_events if e in DEPRECATED_VAULT_EVENTS]
        if deprecated:
            raise invalid(
                "notification_events", deprecated[0],
                "deprecated by AWS Backup and never delivered; use BACKUP_JOB_COMPLETED / "
                "RESTORE_JOB_COMPLETED (their state says FAILED) or COPY_JOB_FAILED",
            )
        check_choices("notification_events", self.notification_events, SUPPORTED_VAULT_EVENTS)
        if not self.notification_events:
            raise invalid("notification_events", (), "list at least one event")
        if self.restore_testing is not None and not isinstance(
                self.restore_testing, RestoreTesting):
            raise invalid("restore_testing", self.restore_testing,
                          "a RestoreTesting(...) or None")
        if self.restore_testing is not None and (
                "RESTORE_JOB_COMPLETED" not in self.notification_events):
            raise invalid("notification_events", self.notification_events,
                          "must include RESTORE_JOB_COMPLETED with restore_testing: the "
                          "restore tests' results reach the alert topic that way")
        check_tags("tags", self.tags)

    @property
    def snapshot_rules(self) -> dict[str, BackupRule]:
        candidates = {"daily": self.daily, "weekly": self.weekly, "monthly": self.monthly}
        return {label: rule for label, rule in candidates.items() if rule is not None}

    def _check_lock(self) -> None:
        if self.lock_min_retention_days < 1:
            raise invalid("lock_min_retention_days", self.lock_min_retention_days, "at least 1")
        if self.lock_max_retention_days < self.lock_min_retention_days:
            raise invalid(
                "lock_max_retention_days", self.lock_max_retention_days,
                f"at least lock_min_retention_days ({self.lock_min_retention_days})",
            )
        if self.lock_max_retention_days > 36500:
            raise invalid("lock_max_retention_days", self.lock_max_retention_days, "at most 36500")
        if self.lock_changeable_for_days < LOCK_MIN_CHANGEABLE_DAYS:
            raise invalid(
                "lock_changeable_for_days", self.lock_changeable_for_days,
                "at least 3 (AWS Backup's minimum grace period before the lock is immutable)",
            )

    def _check_retention(self, field_name: str, days: int) -> None:
        if not self.lock_min_retention_days <= days <= self.lock_max_retention_days:
            raise invalid(
                field_name, days,
                f"must lie within the vault lock retention {self.lock_min_retention_days}-"
                f"{self.lock_max_retention_days} days, or every job fails",
            )

    def _check_rule(self, label: str, rule: BackupRule) -> None:
        if not isinstance(rule, BackupRule):
            raise invalid(label, rule, "expected a BackupRule(schedule, delete_after_days, ...)")
        if not _CRON_RE.match(rule.schedule):
            raise invalid(
                f"{label}.schedule", rule.schedule,
                "a six-field AWS cron expression such as cron(0 5 ? * * *)",
            )
        self._check_retention(f"{label}.delete_after_days", rule.delete_after_days)
        cold = rule.cold_storage_after_days
        if cold is not None:
            if cold < 1:
                raise invalid(f"{label}.cold_storage_after_days", cold, "at least 1")
            if rule.delete_after_days < cold + COLD_STORAGE_MIN_DAYS:
                raise invalid(
                    f"{label}.delete_after_days", rule.delete_after_days,
                    f"cold storage keeps recovery points at least 90 days: needs >= "
                    f"cold_storage_after_days + 90 = {cold + COLD_STORAGE_MIN_DAYS}",
                )

    def _check_copy(self) -> None:
        if self.copy_to_vault_arn is None:
            if self.copy_retention_days is not None:
                raise invalid(
                    "copy_retention_days", self.copy_retention_days,
                    "set copy_to_vault_arn as well, or leave this unset",
                )
            return
        check_arn("copy_to_vault_arn", self.copy_to_vault_arn, "backup", "backup-vault:")
        if isinstance(self.copy_to_vault_arn, str):
            match = ARN_RE.match(self.copy_to_vault_arn)
            if match is not None and match.group("region") == self.region:
                raise invalid(
                    "copy_to_vault_arn", self.copy_to_vault_arn,
                    f"the copy must go to another covered region, not {self.region}",
                )
        if self.copy_retention_days is not None:
            self._check_retention("copy_retention_days", self.copy_retention_days)


def _trust_policy(account_id: pulumi.Input[str]) -> pulumi.Output[str]:
    return pulumi.Output.json_dumps({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": "backup.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
        }],
    })


def _vault_policy(vault_arn: pulumi.Input[str]) -> pulumi.Output[str]:
    return pulumi.Output.json_dumps({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "DenyRecoveryPointDeletionAndShortening",
            "Effect": "Deny",
            "Principal": {"AWS": "*"},
            "Action": list(PROTECTED_ACTIONS),
            "Resource": vault_arn,
        }],
    })


class BackupProtection(pulumi.ComponentResource):
    """Locked, encrypted backup vault with a tag-based plan, service role and notifications."""

    vault_name: pulumi.Output[str]
    vault_arn: pulumi.Output[str]
    plan_id: pulumi.Output[str]
    plan_arn: pulumi.Output[str]
    restore_role_arn: pulumi.Output[str]
    selection_id: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        args: BackupProtectionArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        if not isinstance(args, BackupProtectionArgs):
            raise TypeError("args must be a BackupProtectionArgs")
        super().__init__(COMPONENT_TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(args.tags)

        vault = aws.backup.Vault(
            f"{name}-vault",
            name=args.vault_name,
            kms_key_arn=args.kms_key_arn,
            force_destroy=False,
            tags=tags,
            opts=child,
        )
        aws.backup.VaultPolicy(
            f"{name}-vault-policy",
            backup_vault_name=vault.name,
            policy=_vault_policy(vault.arn),
            opts=child,
        )
        lock = aws.backup.VaultLockConfiguration(
            f"{name}-vault-lock",
            backup_vault_name=vault.name,
            min_retention_days=args.lock_min_retention_days,
            max_retention_days=args.lock_max_retention_days,
            changeable_for_days=args.lock_changeable_for_days,
            opts=child,
        )

        role = aws.iam.Role(
            f"{name}-service-role",
            description=f"AWS Backup backup and restore role for vault {args.vault_name}",
            assume_role_policy=_trust_policy(args.account_id),
            # The generated roles may pass to AWS Backup only roles under this path
            # (runbooks.core.scopes.PASS_TO_BACKUP): the restore role is known by path,
            # its name stays generated.
            path=BACKUP_ROLE_PATH,
            tags=tags,
            opts=child,
        )
        policies = [BACKUP_POLICY, RESTORE_POLICY]
        if args.protect_s3:
            policies += [S3_BACKUP_POLICY, S3_RESTORE_POLICY]
        attachments = [
            aws.iam.RolePolicyAttachment(
                f"{name}-{policy.rsplit('For', 1)[1].lower()}",
                role=role.name,
                policy_arn=f"arn:{args.partition}:iam::aws:policy/{policy}",
                opts=child,
            )
            for policy in policies
        ]

        rules = [
            self._snapshot_rule(label, rule, vault.name, args)
            for label, rule in args.snapshot_rules.items()
        ]
        if args.continuous_backup_days is not None:
            rules.append(aws.backup.PlanRuleArgs(
                rule_name="continuous",
                target_vault_name=vault.name,
                schedule="cron(0 5 ? * * *)",
                schedule_expression_timezone=args.schedule_timezone,
                enable_continuous_backup=True,
                start_window=args.start_window_minutes,
                completion_window=args.completion_window_minutes,
                lifecycle=aws.backup.PlanRuleLifecycleArgs(
                    delete_after=args.continuous_backup_days
                ),
                recovery_point_tags={**tags, "ir-readiness:rule": "continuous"},
            ))
        plan = aws.backup.Plan(
            f"{name}-plan",
            name=f"{args.vault_name}-plan"[:50],  # plan names are at most 50 characters
            rules=rules,
            tags=tags,
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[lock, *args.copy_depends_on]
            ),
        )
        selection = aws.backup.Selection(
            f"{name}-selection",
            name=f"{args.vault_name}-tagged"[:50],
            plan_id=plan.id,
            iam_role_arn=role.arn,
            selection_tags=[aws.backup.SelectionSelectionTagArgs(
                type="STRINGEQUALS",
                key=args.selection_tag_key,
                value=args.selection_tag_value,
            )],
            opts=pulumi.ResourceOptions(parent=self, depends_on=attachments),
        )
        restore_testing_plan = None
        if args.restore_testing is not None:
            restore_testing_plan = self._restore_testing(name, args, vault, role, attachments)
        report_bucket = args.report_bucket_name
        report_plans = [] if report_bucket is None else [
            aws.backup.ReportPlan(
                f"{name}-report-{template.split('_')[0].lower()}-jobs",
                name=_plan_name(f"{args.vault_name}_{template.lower()}"),
                description=f"ir-readiness: {template.replace('_', ' ').lower()} of "
                            f"{args.region}, daily, into the log bucket",
                report_delivery_channel=aws.backup.ReportPlanReportDeliveryChannelArgs(
                    s3_bucket_name=report_bucket,
                    s3_key_prefix=REPORT_PREFIX,
                    formats=["CSV", "JSON"],
                ),
                report_setting=aws.backup.ReportPlanReportSettingArgs(
                    report_template=template),
                tags=tags,
                opts=pulumi.ResourceOptions(parent=self,
                                            depends_on=list(args.report_depends_on)),
            )
            for template in REPORT_TEMPLATES
        ]
        aws.backup.VaultNotifications(
            f"{name}-notifications",
            backup_vault_name=vault.name,
            sns_topic_arn=args.alert_topic_arn,
            backup_vault_events=list(args.notification_events),
            opts=child,
        )

        self.vault_name = vault.name
        self.vault_arn = vault.arn
        self.plan_id = plan.id
        self.plan_arn = plan.arn
        self.restore_role_arn = role.arn
        self.selection_id = selection.id
        self.restore_testing_plan_name = (
            restore_testing_plan.name if restore_testing_plan is not None else None)
        self.report_plan_arns = [plan.arn for plan in report_plans]
        self.register_outputs({
            "vault_name": self.vault_name,
            "vault_arn": self.vault_arn,
            "plan_id": self.plan_id,
            "plan_arn": self.plan_arn,
            "restore_role_arn": self.restore_role_arn,
            "selection_id": self.selection_id,
        })

    def _restore_testing(
        self, name: str, args: BackupProtectionArgs, vault: aws.backup.Vault,
        role: aws.iam.Role, attachments: Sequence[pulumi.Resource],
    ) -> aws.backup.RestoreTestingPlan:
        """The plan (newest snapshot of this vault within the window) and one selection per
        resource type, matching the backup selection's tag; the service role restores."""
        testing = args.restore_testing
        assert testing is not None
        plan = aws.backup.RestoreTestingPlan(
            f"{name}-restore-testing",
            name=_plan_name(f"{args.vault_name}_restore_test"),
            schedule_expression=testing.schedule,
            schedule_expression_timezone=args.schedule_timezone,
            start_window_hours=testing.start_window_hours,
            recovery_point_selection=aws.backup.RestoreTestingPlanRecoveryPointSelectionArgs(
                algorithm="LATEST_WITHIN_WINDOW",
                include_vaults=[vault.arn],
                recovery_point_types=["SNAPSHOT"],
                selection_window_days=testing.selection_window_days,
            ),
            tags=dict(args.tags),
            opts=pulumi.ResourceOptions(parent=self),
        )
        for resource_type in testing.resource_types:
            aws.backup.RestoreTestingSelection(
                f"{name}-restore-testing-{resource_type.lower()}",
                name=_plan_name(f"tagged_{resource_type.lower()}"),
                restore_testing_plan_name=plan.name,
                protected_resource_type=resource_type,
                iam_role_arn=role.arn,
                protected_resource_conditions=(
                    aws.backup.RestoreTestingSelectionProtectedResourceConditionsArgs(
                        string_equals=[
                            aws.backup.RestoreTestingSelectionProtectedResourceConditionsStringEqualArgs(  # noqa: E501
                                key=f"aws:ResourceTag/{args.selection_tag_key}",
                                value=args.selection_tag_value,
                            )
                        ],
                    )),
                # The restored copy is deleted when this window ends.
                validation_window_hours=testing.validation_window_hours,
                opts=pulumi.ResourceOptions(parent=self, depends_on=list(attachments)),
            )
        return plan

    @staticmethod
    def _snapshot_rule(
        label: str, rule: BackupRule, vault_name: pulumi.Output[str], args: BackupProtectionArgs
    ) -> aws.backup.PlanRuleArgs:
        lifecycle: dict[str, Any] = {"delete_after": rule.delete_after_days}
        if rule.cold_storage_after_days is not None:
            lifecycle["cold_storage_after"] = rule.cold_storage_after_days
            lifecycle["opt_in_to_archive_for_supported_resources"] = True
        copy_actions = None
        if args.copy_to_vault_arn is not None:
            copy_actions = [aws.backup.PlanRuleCopyActionArgs(
                destination_vault_arn=args.copy_to_vault_arn,
                lifecycle=aws.backup.PlanRuleCopyActionLifecycleArgs(
                    delete_after=args.copy_retention_days or rule.delete_after_days,
                ),
            )]
        return aws.backup.PlanRuleArgs(
            rule_name=label,
            target_vault_name=vault_name,
            schedule=rule.schedule,
            schedule_expression_timezone=args.schedule_timezone,
            start_window=args.start_window_minutes,
            completion_window=args.completion_window_minutes,
            lifecycle=aws.backup.PlanRuleLifecycleArgs(**lifecycle),
            copy_actions=copy_actions,
            recovery_point_tags={**dict(args.tags), "ir-readiness:rule": label},
        )


