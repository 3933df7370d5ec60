"""BackupProtection under Pulumi mocks: locked encrypted vault, plan, selection, role, alerts."""

from __future__ import annotations

import json
import re

import pulumi
import pulumi_aws as aws
import pytest

from components.backup_protection import (
    COMPONENT_TYPE,
    BackupProtection,
    BackupProtectionArgs,
    BackupRule,
    RestoreTesting,
)
from tests.components.regional_mocks import ACCOUNT_ID, descends_from, provider, run

VAULT = "aws:backup/vault:Vault"
LOCK = "aws:backup/vaultLockConfiguration:VaultLockConfiguration"
VAULT_POLICY = "aws:backup/vaultPolicy:VaultPolicy"
PLAN = "aws:backup/plan:Plan"
SELECTION = "aws:backup/selection:Selection"
NOTIFICATIONS = "aws:backup/vaultNotifications:VaultNotifications"
ROLE = "aws:iam/role:Role"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
TOPIC_ARN = "arn:aws:sns:eu-west-1:123456789012:ir-readiness-high"
COPY_ARN = "arn:aws:backup:eu-central-1:123456789012:backup-vault:ir-readiness"


def _args(**overrides) -> BackupProtectionArgs:
    values = {
        "region": "eu-west-1",
        "account_id": ACCOUNT_ID,
        "kms_key_arn": KEY_ARN,
        "alert_topic_arn": TOPIC_ARN,
        "tags": {"project": "ir-readiness"},
        **overrides,
    }
    return BackupProtectionArgs(**values)


def _run(factory=_args, region: str = "eu-west-1"):
    def program():
        bp = BackupProtection(
            f"backup-{region}", factory(),
            opts=pulumi.ResourceOptions(providers={"aws": provider(region)}),
        )
        return {
            "vault_name": bp.vault_name,
            "vault_arn": bp.vault_arn,
            "plan_id": bp.plan_id,
            "restore_role_arn": bp.restore_role_arn,
            "selection_id": bp.selection_id,
        }

    return run(program)


def test_vault_is_encrypted_with_the_cmk_and_never_force_destroyed():
    result = _run()
    vault = result.one(VAULT)
    assert vault.inputs["kmsKeyArn"] == KEY_ARN
    assert vault.inputs["name"] == "ir-readiness"
    assert vault.inputs.get("forceDestroy") is False
    assert vault.inputs["tags"] == {"project": "ir-readiness"}


def test_vault_lock_bounds_and_grace_period():
    result = _run(lambda: _args(lock_min_retention_days=14, lock_max_retention_days=400,
                                lock_changeable_for_days=7))
    lock = result.one(LOCK)
    assert lock.inputs["minRetentionDays"] == 14
    assert lock.inputs["maxRetentionDays"] == 400
    assert lock.inputs["changeableForDays"] == 7
    assert lock.inputs["backupVaultName"] == result.outputs["vault_name"]


def test_vault_policy_denies_recovery_point_deletion_to_everyone():
    result = _run()
    policy = json.loads(result.one(VAULT_POLICY).inputs["policy"])
    (statement,) = policy["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Principal"] == {"AWS": "*"}
    assert "backup:DeleteRecoveryPoint" in statement["Action"]
    assert "backup:UpdateRecoveryPointLifecycle" in statement["Action"]
    assert statement["Resource"] == result.outputs["vault_arn"]


def test_plan_rules_schedules_and_lifecycles_respect_lock_and_cold_storage():
    result = _run()
    plan = result.one(PLAN)
    rules = {r["ruleName"]: r for r in plan.inputs["rules"]}
    assert set(rules) == {"daily", "weekly", "monthly"}
    lock = result.one(LOCK).inputs
    for rule in rules.values():
        assert rule["targetVaultName"] == "ir-readiness"
        assert rule["schedule"].startswith("cron(")
        lifecycle = rule["lifecycle"]
        assert lock["minRetentionDays"] <= lifecycle["deleteAfter"] <= lock["maxRetentionDays"]
        if "coldStorageAfter" in lifecycle:
            assert lifecycle["deleteAfter"] >= lifecycle["coldStorageAfter"] + 90
        assert rule["recoveryPointTags"]["ir-readiness:rule"] == rule["ruleName"]
        assert "copyActions" not in rule or not rule["copyActions"]
        assert rule.get("enableContinuousBackup") in (None, False)
    assert rules["daily"]["lifecycle"] == {"deleteAfter": 35}
    assert rules["monthly"]["lifecycle"]["coldStorageAfter"] == 90
    # the plan must not run before the lock is in place
    assert result.one(LOCK).urn in plan.dependencies


def test_continuous_rule_and_cross_region_copy():
    def factory():
        destination = aws.backup.Vault("dr-vault", name="ir-readiness", kms_key_arn=KEY_ARN)
        return _args(continuous_backup_days=14, copy_to_vault_arn=COPY_ARN,
                     copy_retention_days=60, weekly=None, copy_depends_on=(destination,))

    result = _run(factory)
    plan = result.one(PLAN)
    rules = {r["ruleName"]: r for r in plan.inputs["rules"]}
    assert set(rules) == {"daily", "monthly", "continuous"}
    assert rules["continuous"]["enableContinuousBackup"] is True
    assert rules["continuous"]["lifecycle"] == {"deleteAfter": 14}
    for label in ("daily", "monthly"):
        (copy,) = rules[label]["copyActions"]
        assert copy["destinationVaultArn"] == COPY_ARN
        assert copy["lifecycle"]["deleteAfter"] == 60
    assert result.named("dr-vault").urn in plan.dependencies


def test_tag_selection_uses_the_service_role_after_its_policies_attach():
    result = _run()
    selection = result.one(SELECTION)
    assert selection.inputs["selectionTags"] == [
        {"type": "STRINGEQUALS", "key": "ir-readiness:backup", "value": "true"}
    ]
    assert selection.inputs["planId"] == result.outputs["plan_id"]
    assert selection.inputs["iamRoleArn"] == result.outputs["restore_role_arn"]
    attachments = result.of_type(ATTACHMENT)
    assert {a.urn for a in attachments} <= set(selection.dependencies)


def test_service_role_trusts_only_backup_for_this_account_with_backup_and_restore_policies():
    result = _run()
    role = result.one(ROLE)
    trust = json.loads(role.inputs["assumeRolePolicy"])
    (statement,) = trust["Statement"]
    assert statement["Principal"] == {"Service": "backup.amazonaws.com"}
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT_ID}}
    arns = {a.inputs["policyArn"] for a in result.of_type(ATTACHMENT)}
    assert arns == {
        "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup",
        "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForRestores",
        "arn:aws:iam::aws:policy/AWSBackupServiceRolePolicyForS3Backup",
        "arn:aws:iam::aws:policy/AWSBackupServiceRolePolicyForS3Restore",
    }
    assert result.outputs["restore_role_arn"].startswith(f"arn:aws:iam::{ACCOUNT_ID}:role/")


def test_without_s3_only_the_generic_policies_attach():
    result = _run(lambda: _args(protect_s3=False))
    assert len(result.of_type(ATTACHMENT)) == 2


def test_vault_notifications_deliver_job_outcomes_to_the_alert_topic():
    result = _run()
    notifications = result.one(NOTIFICATIONS)
    assert notifications.inputs["snsTopicArn"] == TOPIC_ARN
    events = set(notifications.inputs["backupVaultEvents"])
    assert {"BACKUP_JOB_COMPLETED", "RESTORE_JOB_COMPLETED", "COPY_JOB_FAILED"} <= events
    assert "RECOVERY_POINT_MODIFIED" in events
    assert not events & {"BACKUP_JOB_FAILED", "RESTORE_JOB_FAILED"}  # deprecated, never sent


def test_children_are_parented_regional_and_tagged_where_taggable():
    result = _run(region="eu-west-1")
    component = result.one(COMPONENT_TYPE)
    for child in result.aws_resources():
        assert descends_from(result, child, component.urn)
        assert child.region == "eu-west-1"
    for typ in (VAULT, PLAN, ROLE):
        assert result.one(typ).inputs["tags"]["project"] == "ir-readiness"
    outputs = result.outputs
    assert outputs["vault_arn"].endswith(":backup-vault:ir-readiness")
    assert outputs["plan_id"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"region": "eu"}, "region='eu' is invalid"),
        ({"account_id": "abc"}, "account_id='abc' is invalid"),
        ({"kms_key_arn": "alias/aws/backup"}, "kms_key_arn='alias/aws/backup' is invalid"),
        ({"alert_topic_arn": "arn:aws:sqs:eu-west-1:123456789012:q"}, "alert_topic_arn="),
        ({"vault_name": "x"}, "vault_name='x' is invalid"),
        ({"vault_name": "bad name!"}, "2-50 letters"),
        ({"daily": BackupRule("rate(1 day)", 35)}, "daily.schedule='rate(1 day)'"),
        ({"daily": BackupRule("cron(0 5 * *)", 35)}, "six-field"),
        ({"weekly": BackupRule("cron(0 5 ? * SUN *)", 3)}, "weekly.delete_after_days=3"),
        ({"monthly": BackupRule("cron(0 5 1 * ? *)", 120, 90)}, ">= cold_storage_after_days + 90"),
        ({"monthly": BackupRule("cron(0 5 1 * ? *)", 365, 0)}, "cold_storage_after_days=0"),
        ({"daily": None, "weekly": None, "monthly": None}, "enable at least one rule"),
        ({"continuous_backup_days": 36}, "continuous_backup_days=36"),
        ({"continuous_backup_days": 5}, "within the vault lock retention 7-3650"),
        ({"lock_min_retention_days": 0}, "lock_min_retention_days=0"),
        ({"lock_max_retention_days": 5}, "at least lock_min_retention_days"),
        ({"lock_max_retention_days": 100}, "monthly.delete_after_days=365"),
        ({"lock_changeable_for_days": 1}, "lock_changeable_for_days=1"),
        ({"copy_to_vault_arn": "arn:aws:backup:eu-west-1:123456789012:backup-vault:v"},
         "another covered region"),
        ({"copy_to_vault_arn": "arn:aws:s3:::bucket"}, "copy_to_vault_arn="),
        ({"copy_retention_days": 30}, "set copy_to_vault_arn as well"),
        ({"copy_to_vault_arn": COPY_ARN, "copy_retention_days": 4000}, "copy_retention_days=4000"),
        ({"selection_tag_key": ""}, "selection_tag_key=''"),
        ({"start_window_minutes": 30}, "start_window_minutes=30"),
        ({"completion_window_minutes": 90}, "completion_window_minutes=90"),
        ({"notification_events": ("BACKUP_JOB_FAILED",)}, "deprecated by AWS Backup"),
        ({"notification_events": ("JOB_DONE",)}, "notification_events='JOB_DONE'"),
        ({"tags": {"aws:x": "1"}}, "reserved by AWS"),
        ({"notification_events": ("BACKUP_JOB_COMPLETED",)}, "must include RESTORE_JOB_COMPLETED"),
    ],
)
def test_invalid_args_name_the_field_and_value(overrides, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        _args(**overrides)


RESTORE_PLAN = "aws:backup/restoreTestingPlan:RestoreTestingPlan"
RESTORE_SELECTION = "aws:backup/restoreTestingSelection:RestoreTestingSelection"
REPORT_PLAN = "aws:backup/reportPlan:ReportPlan"
PLAN_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,49}$")


def test_restore_testing_draws_from_this_vault_and_tests_each_type_by_the_backup_tag():
    result = _run(lambda: _args(restore_testing=RestoreTesting(
        resource_types=("EBS", "RDS"), validation_window_hours=2, selection_window_days=3)))
    plan = result.one(RESTORE_PLAN)
    vault = result.one(VAULT)
    assert PLAN_NAME.match(plan.inputs["name"])  # letters, digits and underscores only
    points = plan.inputs["recoveryPointSelection"]
    assert points["includeVaults"] == [vault.outputs["arn"]]
    assert points["selectionWindowDays"] == 3
    assert plan.inputs["scheduleExpressionTimezone"] == "Etc/UTC"
    role = result.one(ROLE)
    selections = result.of_type(RESTORE_SELECTION)
    assert sorted(s.inputs["protectedResourceType"] for s in selections) == ["EBS", "RDS"]
    for selection in selections:
        assert PLAN_NAME.match(selection.inputs["name"])
        assert selection.inputs["restoreTestingPlanName"] == plan.outputs["name"]
        assert selection.inputs["iamRoleArn"] == role.outputs["arn"]
        assert selection.inputs["validationWindowHours"] == 2
        assert selection.inputs["protectedResourceConditions"] == {"stringEquals": [
            {"key": "aws:ResourceTag/ir-readiness:backup", "value": "true"}]}
        # restores run only once the role holds the restore policies
        attachments = {a.urn for a in result.of_type(ATTACHMENT)}
        assert attachments <= set(selection.dependencies)


def test_no_restore_testing_and_no_reports_when_not_asked():
    result = _run(lambda: _args(restore_testing=None))
    assert result.of_type(RESTORE_PLAN) == [] and result.of_type(RESTORE_SELECTION) == []
    assert result.of_type(REPORT_PLAN) == []


def test_report_plans_for_backup_and_restore_jobs_into_the_given_bucket():
    result = _run(lambda: _args(report_bucket_name="ir-logs"))
    plans = result.of_type(REPORT_PLAN)
    assert sorted(p.inputs["reportSetting"]["reportTemplate"] for p in plans) == [
        "BACKUP_JOB_REPORT", "RESTORE_JOB_REPORT"]
    for plan in plans:
        assert PLAN_NAME.match(plan.inputs["name"])
        assert plan.inputs["reportDeliveryChannel"] == {
            "s3BucketName": "ir-logs", "s3KeyPrefix": "backup-reports",
            "formats": ["CSV", "JSON"]}


@pytest.mark.parametrize(
    ("testing", "message"),
    [
        (lambda: RestoreTesting(resource_types=("Redshift",)),
         "restore_testing.resource_types='Redshift'"),
        (lambda: RestoreTesting(resource_types=()), "list at least one type"),
        (lambda: RestoreTesting(schedule="rate(7 days)"), "restore_testing.schedule="),
        (lambda: RestoreTesting(validation_window_hours=169), "validation_window_hours=169"),
    ],
)
def test_invalid_restore_testing_names_the_field(testing, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        testing()
