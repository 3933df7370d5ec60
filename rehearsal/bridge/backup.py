"""Bridge handlers for AWS Backup: vaults, Vault Lock, plans, selections, notifications,
vault policies, report plans, restore testing plans and selections.

The APIs moto 5.2 lacks are the emulator's (`rehearsal.emulator.backup_config`).

=====================================================  ========================================
Type                                                   How
=====================================================  ========================================
aws:backup/vault:Vault                                 API backup CreateBackupVault
aws:backup/vaultLockConfiguration:...                  API backup PutBackupVaultLockConfiguration
aws:backup/plan:Plan                                   API backup CreateBackupPlan
aws:backup/selection:Selection                         API backup CreateBackupSelection
                                                       (emulator extension)
aws:backup/vaultNotifications:VaultNotifications       API backup PutBackupVaultNotifications
                                                       (emulator extension)
aws:backup/vaultPolicy:VaultPolicy                     API backup PutBackupVaultAccessPolicy
                                                       (emulator extension)
aws:backup/reportPlan:ReportPlan                       API backup CreateReportPlan
aws:backup/restoreTestingPlan:RestoreTestingPlan       API backup CreateRestoreTestingPlan
                                                       (emulator extension)
aws:backup/restoreTestingSelection:...                 API backup CreateRestoreTestingSelection
                                                       (emulator extension)
=====================================================  ========================================
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rehearsal.bridge._core import (
    Request,
    clean,
    handles,
    pascal,
    policy_text,
)


@handles("aws:backup/vault:Vault", api="backup:CreateBackupVault")
def _backup_vault(r: Request) -> tuple[str, dict[str, Any]]:
    name = r.autoname(max_len=50)
    kwargs = clean(
        {
            "BackupVaultName": name,
            "EncryptionKeyArn": r.get("kmsKeyArn"),
            "BackupVaultTags": dict(r.get("tags", {})) or None,
        }
    )
    vault = r.client("backup").create_backup_vault(**kwargs)
    return name, {"arn": vault["BackupVaultArn"], "name": name, "recoveryPoints": 0}


@handles(
    "aws:backup/vaultLockConfiguration:VaultLockConfiguration",
    api="backup:PutBackupVaultLockConfiguration",
)
def _backup_vault_lock(r: Request) -> tuple[str, dict[str, Any]]:
    vault = str(r.get("backupVaultName"))
    kwargs = clean(
        {
            "BackupVaultName": vault,
            "MinRetentionDays": r.get("minRetentionDays"),
            "MaxRetentionDays": r.get("maxRetentionDays"),
            "ChangeableForDays": r.get("changeableForDays"),
        }
    )
    r.client("backup").put_backup_vault_lock_configuration(**kwargs)
    return vault, {"backupVaultArn": r.arn("backup", f"backup-vault:{vault}")}


def _backup_lifecycle(lifecycle: Mapping[str, Any]) -> dict[str, Any]:
    return clean({
        "MoveToColdStorageAfterDays": lifecycle.get("coldStorageAfter"),
        "DeleteAfterDays": lifecycle.get("deleteAfter"),
        "OptInToArchiveForSupportedResources": lifecycle.get(
            "optInToArchiveForSupportedResources"),
    })


@handles("aws:backup/plan:Plan", api="backup:CreateBackupPlan")
def _backup_plan(r: Request) -> tuple[str, dict[str, Any]]:
    name = r.autoname(max_len=50)
    rules = []
    for rule in r.get("rules", []):
        api_rule = clean({
            "RuleName": rule.get("ruleName"),
            "TargetBackupVaultName": rule.get("targetVaultName"),
            "ScheduleExpression": rule.get("schedule"),
            "ScheduleExpressionTimezone": rule.get("scheduleExpressionTimezone"),
            "StartWindowMinutes": rule.get("startWindow"),
            "CompletionWindowMinutes": rule.get("completionWindow"),
            "EnableContinuousBackup": rule.get("enableContinuousBackup"),
            "RecoveryPointTags": dict(rule["recoveryPointTags"])
            if rule.get("recoveryPointTags") else None,
            "Lifecycle": _backup_lifecycle(rule["lifecycle"]) if rule.get("lifecycle")
            else None,
            "CopyActions": [
                clean({
                    "DestinationBackupVaultArn": c.get("destinationVaultArn"),
                    "Lifecycle": _backup_lifecycle(c["lifecycle"]) if c.get("lifecycle")
                    else None,
                })
                for c in rule.get("copyActions") or []
            ] or None,
        })
        rules.append(api_rule)
    kwargs = clean(
        {
            "BackupPlan": {"BackupPlanName": name, "Rules": rules},
            "BackupPlanTags": dict(r.get("tags", {})) or None,
        }
    )
    plan = r.client("backup").create_backup_plan(**kwargs)
    return plan["BackupPlanId"], {
        "arn": plan["BackupPlanArn"],
        "name": name,
        "version": plan["VersionId"],
    }


@handles("aws:backup/selection:Selection", api="backup:CreateBackupSelection (emulator)")
def _backup_selection(r: Request) -> tuple[str, dict[str, Any]]:
    plan_id = str(r.get("planId"))
    selection = clean({
        "SelectionName": r.get("name"),
        "IamRoleArn": r.get("iamRoleArn"),
        "Resources": r.get("resources") or None,
        "NotResources": r.get("notResources") or None,
        "ListOfTags": [
            {"ConditionType": t.get("type"), "ConditionKey": t.get("key"),
             "ConditionValue": t.get("value")}
            for t in r.get("selectionTags", [])
        ] or None,
    })
    created = r.client("backup").create_backup_selection(
        BackupPlanId=plan_id, BackupSelection=selection)
    return created["SelectionId"], {}


@handles(
    "aws:backup/vaultNotifications:VaultNotifications",
    api="backup:PutBackupVaultNotifications (emulator)",
)
def _backup_notifications(r: Request) -> tuple[str, dict[str, Any]]:
    vault = str(r.get("backupVaultName"))
    backup = r.client("backup")
    backup.put_backup_vault_notifications(
        BackupVaultName=vault, SNSTopicArn=r.get("snsTopicArn"),
        BackupVaultEvents=list(r.get("backupVaultEvents", [])))
    arn = backup.describe_backup_vault(BackupVaultName=vault)["BackupVaultArn"]
    return vault, {"backupVaultArn": arn}


@handles("aws:backup/vaultPolicy:VaultPolicy", api="backup:PutBackupVaultAccessPolicy (emulator)")
def _backup_vault_policy(r: Request) -> tuple[str, dict[str, Any]]:
    vault = str(r.get("backupVaultName"))
    backup = r.client("backup")
    backup.put_backup_vault_access_policy(
        BackupVaultName=vault, Policy=policy_text(r.get("policy")))
    arn = backup.describe_backup_vault(BackupVaultName=vault)["BackupVaultArn"]
    return vault, {"backupVaultArn": arn}


@handles("aws:backup/reportPlan:ReportPlan", api="backup:CreateReportPlan")
def _report_plan(r: Request) -> tuple[str, dict[str, Any]]:
    name = r.autoname(max_len=256)
    kwargs = clean({
        "ReportPlanName": name,
        "ReportPlanDescription": r.get("description"),
        "ReportDeliveryChannel": pascal(r.get("reportDeliveryChannel")),
        "ReportSetting": pascal(r.get("reportSetting")),
        "ReportPlanTags": dict(r.get("tags", {})) or None,
    })
    plan = r.client("backup").create_report_plan(**kwargs)
    return name, {"arn": plan["ReportPlanArn"], "name": name,
                  "creationTime": plan["CreationTime"].isoformat(),
                  "deploymentStatus": "COMPLETED"}


@handles("aws:backup/restoreTestingPlan:RestoreTestingPlan",
         api="backup:CreateRestoreTestingPlan (emulator)")
def _restore_testing_plan(r: Request) -> tuple[str, dict[str, Any]]:
    name = r.autoname(max_len=50)
    plan = clean({
        "RestoreTestingPlanName": name,
        "ScheduleExpression": r.get("scheduleExpression"),
        "ScheduleExpressionTimezone": r.get("scheduleExpressionTimezone"),
        "StartWindowHours": r.get("startWindowHours"),
        "RecoveryPointSelection": pascal(r.get("recoveryPointSelection")),
    })
    created = r.client("backup").create_restore_testing_plan(
        RestoreTestingPlan=plan, Tags=dict(r.get("tags", {})))
    return name, {"arn": created["RestoreTestingPlanArn"], "name": name}


@handles("aws:backup/restoreTestingSelection:RestoreTestingSelection",
         api="backup:CreateRestoreTestingSelection (emulator)")
def _restore_testing_selection(r: Request) -> tuple[str, dict[str, Any]]:
    plan_name = str(r.get("restoreTestingPlanName"))
    name = r.autoname(max_len=50)
    selection = clean({
        "RestoreTestingSelectionName": name,
        "ProtectedResourceType": r.get("protectedResourceType"),
        "IamRoleArn": r.get("iamRoleArn"),
        "ProtectedResourceArns": r.get("protectedResourceArns") or None,
        "ProtectedResourceConditions": pascal(r.get("protectedResourceConditions")),
        "RestoreMetadataOverrides": r.get("restoreMetadataOverrides") or None,
        "ValidationWindowHours": r.get("validationWindowHours"),
    })
    r.client("backup").create_restore_testing_selection(
        RestoreTestingPlanName=plan_name, RestoreTestingSelection=selection)
    return f"{name}:{plan_name}", {"name": name}
