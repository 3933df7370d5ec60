"""The #20 steps' own `verify()` against moto: it holds right after apply, and stops
holding when someone undoes the change in AWS (or the cluster) by hand.

Each step is seeded with the same world its measured-actions scenario uses
(`tests/runbooks/core/test_step_actions_measured.py`), applied as the runner applies it,
verified, undone by hand with the call an operator (or an attacker) would make, and
verified again."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from runbooks.core.context import Context, SessionFactory
from runbooks.core.manifest_schema import Manifest
from runbooks.core.step import load_all_steps
from tests.runbooks.commands.analysis_world import ACCOUNT, REGION, World
from tests.runbooks.core.test_step_actions_measured import (  # noqa: F401 - fixtures
    KUBE,
    SCENARIOS,
    Scenario,
    kubernetes,
    recorder,
    world,
)

FORENSIC = "210987654321"


def _undo_lambda_concurrency(w: World, s: Scenario) -> None:
    w.client("lambda").put_function_concurrency(
        FunctionName=s.params["function_name"], ReservedConcurrentExecutions=3)


def _undo_mappings(w: World, s: Scenario) -> None:
    lam = w.client("lambda")
    for mapping in lam.list_event_source_mappings(
            FunctionName=s.params["function_name"])["EventSourceMappings"]:
        lam.update_event_source_mapping(UUID=mapping["UUID"], Enabled=True)


def _undo_permissions(w: World, s: Scenario) -> None:
    w.client("lambda").add_permission(
        FunctionName=s.params["function_name"], StatementId="Anyone",
        Action="lambda:InvokeFunction", Principal="*")


def _modify_db(**kwargs: Any) -> Callable[[World, Scenario], None]:
    def undo(w: World, s: Scenario) -> None:
        rds = w.client("rds")
        if kwargs.get("VpcSecurityGroupIds") == "app":
            app = w.client("ec2").create_security_group(
                GroupName=f"again-{s.case_id}", Description="put back by hand",
                VpcId=w.vpc_id)["GroupId"]
            rds.modify_db_instance(DBInstanceIdentifier=s.params["database"],
                                   VpcSecurityGroupIds=[app], ApplyImmediately=True)
            return
        rds.modify_db_instance(DBInstanceIdentifier=s.params["database"],
                               ApplyImmediately=True, **kwargs)
    return undo


def _uncordon(w: World, s: Scenario) -> None:
    for node in KUBE.nodes.values():
        node["spec"]["unschedulable"] = False


def _delete_pod_policy(w: World, s: Scenario) -> None:
    KUBE.policies.clear()


def _undo_share(w: World, s: Scenario) -> None:
    ec2 = w.client("ec2")
    for snap in ec2.describe_snapshots(OwnerIds=["self"], Filters=[
            {"Name": "tag-key", "Values": ["ir:copy-of"]}])["Snapshots"]:
        ec2.modify_snapshot_attribute(SnapshotId=snap["SnapshotId"],
                                      Attribute="createVolumePermission",
                                      OperationType="remove", UserIds=[FORENSIC])


def _undo_deny(w: World, s: Scenario) -> None:
    w.client("secretsmanager").delete_resource_policy(SecretId=s.params["secret_id"])


def _kms(action: str) -> Callable[[World, Scenario], None]:
    def undo(w: World, s: Scenario) -> None:
        getattr(w.client("kms"), action)(KeyId=s.params["key_id"])
    return undo


UNDO: dict[str, Callable[[World, Scenario], None]] = {
    "lambda.zero-concurrency": _undo_lambda_concurrency,
    "lambda.disable-event-source-mappings": _undo_mappings,
    "lambda.remove-public-permissions": _undo_permissions,
    "rds.disable-public-access": _modify_db(PubliclyAccessible=True),
    "rds.isolate": _modify_db(VpcSecurityGroupIds="app"),
    "rds.protect": _modify_db(DeletionProtection=False),
    "eks.cordon-node": _uncordon,
    "eks.isolate-pod": _delete_pod_policy,
    "ec2.share-snapshot": _undo_share,
    "secrets.deny-principal": _undo_deny,
    "kms.disable-key": _kms("enable_key"),
    "kms.enable-key": _kms("disable_key"),
}


@pytest.mark.parametrize("name", sorted(UNDO))
def test_verify_holds_after_apply_and_breaks_when_undone_by_hand(
        name: str, world: World) -> None:  # noqa: F811 - fixture
    cls = load_all_steps()[name]
    assert cls.reversible
    scenario = SCENARIOS[name](world)
    ctx = Context(sessions=SessionFactory(region=REGION, max_attempts=2),
                  manifest=Manifest.from_document(world.manifest), case_id=scenario.case_id,
                  account_id=ACCOUNT, region=REGION, targets=scenario.targets)
    cls.prefetch(ctx)
    step = cls(ctx, {k: v for k, v in scenario.params.items() if k in cls.Params.model_fields})
    step.validate()
    done = [(change, dict(step.apply(change))) for change in step.plan()]
    assert done, f"{name} planned nothing on its seeded world"
    checks = [c for change, result in done for c in step.verify_all(change, result)]
    assert checks and all(c.holds for c in checks), [(c.what, c.actual) for c in checks]

    UNDO[name](world, scenario)
    ctx.cache.clear()
    after = [c for change, result in done for c in step.verify_all(change, result)]
    assert any(not c.holds for c in after), [(c.what, c.expected, c.actual) for c in after]
