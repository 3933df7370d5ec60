"""AWS Backup: the recovery half of ransomware response; backups nobody can delete early."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import Severity

from ._util import (
    Findings,
    ResourceContext,
    StackIndex,
    as_list,
    describe,
    int_or_none,
    present,
    resource_rule,
    stack_rule,
)

AREA = "backup"
VAULT = "aws:backup/vault:Vault"
LOCK = "aws:backup/vaultLockConfiguration:VaultLockConfiguration"
PLAN = "aws:backup/plan:Plan"
SELECTION = "aws:backup/selection:Selection"


@resource_rule(
    name="backup-vault-cmk", area=AREA, severity=Severity.HIGH, mandatory=True, types=(VAULT,),
    description="Backup vaults must be encrypted with a customer-managed KMS key.",
    remediation="Set kms_key_arn on the aws.backup.Vault to your customer-managed key.",
)
def vault_cmk(ctx: ResourceContext) -> Iterator[str]:
    if not present(ctx.props, "kmsKeyArn"):
        yield f"vault {ctx.name!r} uses the AWS-managed backup key"


@stack_rule(
    name="backup-vault-lock", area=AREA, severity=Severity.CRITICAL, mandatory=True,
    description="Every backup vault must have Vault Lock with a minimum retention at or above "
                "the configured days.",
    remediation="Add aws.backup.VaultLockConfiguration(backup_vault_name=vault.name, "
                "min_retention_days>=minRetentionDays, max_retention_days=..., "
                "changeable_for_days=3 for compliance mode).",
    config={"minRetentionDays": {"type": "integer", "minimum": 1, "default": 7,
                                 "description": "Lowest acceptable Vault Lock "
                                                "min_retention_days."}},
)
def vault_lock(index: StackIndex, config: Mapping[str, Any]) -> Findings:
    minimum = int(config["minRetentionDays"])
    vaults = index.of_type(VAULT)
    locks: dict[str, list[int | None]] = {v.urn: [] for v in vaults}
    for lock in index.of_type(LOCK):
        for vault in index.references(lock, "backupVaultName", vaults, ("name",)):
            locks[vault.urn].append(int_or_none(lock.props.get("minRetentionDays")))
    for vault in vaults:
        found = locks[vault.urn]
        if not found:
            yield f"{describe(vault)} has no Vault Lock", vault.urn
        elif max((d or 0) for d in found) < minimum:
            yield (f"{describe(vault)} Vault Lock min_retention_days is "
                   f"{max((d or 0) for d in found)}; at least {minimum} required"), vault.urn


@stack_rule(
    name="backup-plan-selection", area=AREA, severity=Severity.HIGH, mandatory=True,
    description="Every backup plan must have at least one selection (a plan without one backs "
                "up nothing).",
    remediation="Add aws.backup.Selection(plan_id=plan.id, iam_role_arn=..., "
                "selection_tags=[...]) or resources=[...].",
)
def plan_selection(index: StackIndex, config: Mapping[str, Any]) -> Findings:
    plans = index.of_type(PLAN)
    selected: set[str] = set()
    for selection in index.of_type(SELECTION):
        selected.update(p.urn for p in index.references(selection, "planId", plans, ("id",)))
    for plan in plans:
        if plan.urn not in selected:
            yield f"{describe(plan)} has no backup selection", plan.urn


RESTORE_TESTING_PLAN = "aws:backup/restoreTestingPlan:RestoreTestingPlan"
RESTORE_TESTING_SELECTION = "aws:backup/restoreTestingSelection:RestoreTestingSelection"
REPORT_PLAN = "aws:backup/reportPlan:ReportPlan"
REQUIRED_REPORTS = ("BACKUP_JOB_REPORT", "RESTORE_JOB_REPORT")


def _tested_vaults(index: StackIndex, vaults: list[Any]) -> set[str]:
    """Vaults a restore testing plan with at least one selection draws recovery points
    from (`includeVaults` naming the vault, by reference or ARN, or `*` in its region)."""
    plans = index.of_type(RESTORE_TESTING_PLAN)
    selected: set[str] = set()
    for selection in index.of_type(RESTORE_TESTING_SELECTION):
        selected.update(p.urn for p in index.references(
            selection, "restoreTestingPlanName", plans, ("name",)))
    tested: set[str] = set()
    for plan in plans:
        if plan.urn not in selected:
            continue
        linked = {d.urn for d in plan.property_dependencies.get("recoveryPointSelection", [])}
        points = plan.props.get("recoveryPointSelection")
        included = points.get("includeVaults") if isinstance(points, Mapping) else None
        names = [str(v) for v in as_list(included)]
        for vault in vaults:
            if (vault.urn in linked or vault.props.get("arn") in names
                    or ("*" in names and index.region(vault) == index.region(plan))):
                tested.add(vault.urn)
    return tested


@stack_rule(
    name="backup-restore-testing", area=AREA, severity=Severity.MEDIUM, mandatory=False,
    description="Every backup vault must be covered by an AWS Backup restore testing plan "
                "with at least one selection, so recovery is proven before it is needed.",
    remediation="Add aws.backup.RestoreTestingPlan(recovery_point_selection=include_vaults="
                "[vault.arn], ...) and an aws.backup.RestoreTestingSelection per protected "
                "resource type (ir:backup.restoreTesting.enabled).",
)
def restore_testing(index: StackIndex, config: Mapping[str, Any]) -> Findings:
    vaults = index.of_type(VAULT)
    tested = _tested_vaults(index, vaults)
    for vault in vaults:
        if vault.urn not in tested:
            yield (f"{describe(vault)} has no restore testing plan with a selection: its "
                   "recovery points are never proven to restore"), vault.urn


@stack_rule(
    name="backup-audit-reports", area=AREA, severity=Severity.LOW, mandatory=False,
    description="Each region with a backup vault must have Backup Audit Manager report plans "
                "for backup jobs and restore jobs delivered to S3.",
    remediation="Add aws.backup.ReportPlan with report_template BACKUP_JOB_REPORT and one with "
                "RESTORE_JOB_REPORT, delivering to the log bucket (ir:backup.auditReports).",
)
def audit_reports(index: StackIndex, config: Mapping[str, Any]) -> Findings:
    reports: dict[str | None, set[str]] = {}
    for plan in index.of_type(REPORT_PLAN):
        setting = plan.props.get("reportSetting")
        channel = plan.props.get("reportDeliveryChannel")
        template = setting.get("reportTemplate") if isinstance(setting, Mapping) else None
        if isinstance(channel, Mapping) and present(channel, "s3BucketName") and template:
            reports.setdefault(index.region(plan), set()).add(str(template))
    for vault in index.of_type(VAULT):
        missing = [t for t in REQUIRED_REPORTS if t not in reports.get(index.region(vault), ())]
        if missing:
            yield (f"{describe(vault)}: its region has no {' / '.join(missing)} report plan "
                   "delivered to S3"), vault.urn
