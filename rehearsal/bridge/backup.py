"""Bridge handlers for AWS Backup: vaults, Vault Lock, plans, selections, notifications,
vault policies.

=====================================================  ========================================
Type                                                   How
=====================================================  ========================================
aws:backup/vault:Vault                                 API backup CreateBackupVault
aws:backup/vaultLockConfiguration:...                  API backup PutBackupVaultLockConfiguration
aws:backup/plan:Plan                                   API backup CreateBackupPlan
aws:backup/selection:Selection                         recorded only: moto has no
                                                       CreateBackupSelection
aws:backup/vaultNotifications:VaultNotifications       recorded only: moto has no
                                                       PutBackupVaultNotifications
aws:backup/vaultPolicy:VaultPolicy                     recorded only: moto has no
                                                       PutBackupVaultAccessPolicy
=====================================================  ========================================
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from rehearsal.bridge._core import (
    Request,
    clean,
    handles,
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


@handles("aws:backup/selection:Selection", recorded_only="moto has no CreateBackupSelection")
def _backup_selection(r: Request) -> tuple[str, dict[str, Any]]:
    return uuid.uuid4().hex, {}


@handles(
    "aws:backup/vaultNotifications:VaultNotifications",
    recorded_only="moto has no PutBackupVaultNotifications",
)
def _backup_notifications(r: Request) -> tuple[str, dict[str, Any]]:
    vault = str(r.get("backupVaultName"))
    return vault, {"backupVaultArn": r.arn("backup", f"backup-vault:{vault}")}


@handles(
    "aws:backup/vaultPolicy:VaultPolicy", recorded_only="moto has no PutBackupVaultAccessPolicy"
)
def _backup_vault_policy(r: Request) -> tuple[str, dict[str, Any]]:
    vault = str(r.get("backupVaultName"))
    return vault, {"backupVaultArn": r.arn("backup", f"backup-vault:{vault}")}
