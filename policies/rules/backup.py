"""AWS Backup: the recovery half of ransomware response; backups nobody can delete early."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import Severity

from ._util import (
    Findings,
    ResourceContext,
    StackIndex,
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
