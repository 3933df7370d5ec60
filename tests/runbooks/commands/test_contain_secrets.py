"""`irctl contain secret|key` and their release, end to end against an emulator server
(irctl as a subprocess): assertions on the secret's resource policy and version stages
and on the KMS key's state, plus failures mid-way through the fault-injecting layer."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.runbooks.commands.contain_world import as_json, audit_events, start
from tests.runbooks.conftest import ACCOUNT, Readiness

pytestmark = pytest.mark.server
ATTACKER = f"arn:aws:iam::{ACCOUNT}:user/ci-deploy"
PARTNER = {"Sid": "PartnerRead", "Effect": "Allow",
           "Principal": {"AWS": "arn:aws:iam::210987654321:role/reader"},
           "Action": "secretsmanager:GetSecretValue", "Resource": "*"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Readiness]:
    yield from start(tmp_path_factory)


def _secret(world: Readiness, *, policy: bool = True) -> tuple[str, str]:
    sm = world.client("secretsmanager")
    created = sm.create_secret(Name=f"prod/db-{uuid.uuid4().hex[:8]}",
                               SecretString="leaked-password-0001")
    if policy:
        sm.put_resource_policy(SecretId=created["ARN"], ResourcePolicy=json.dumps(
            {"Version": "2012-10-17", "Statement": [PARTNER]}))
    return created["ARN"], created["VersionId"]


def _policy(world: Readiness, arn: str) -> dict[str, Any] | None:
    text = world.client("secretsmanager").get_resource_policy(SecretId=arn).get(
        "ResourcePolicy")
    return json.loads(text) if text else None


def _stages(world: Readiness, arn: str) -> dict[str, list[str]]:
    stages: dict[str, list[str]] = world.client("secretsmanager").describe_secret(
        SecretId=arn)["VersionIdsToStages"]
    return stages


def _key_state(world: Readiness, key: str) -> dict[str, Any]:
    meta: dict[str, Any] = world.client("kms").describe_key(KeyId=key)["KeyMetadata"]
    return meta


def test_contain_secret_denies_the_principal_stores_a_new_value_and_release_removes_the_deny(
        server: Readiness) -> None:
    arn, leaked_version = _secret(server)
    case = f"case-{uuid.uuid4().hex[:8]}"

    plan = server.irctl("contain", "secret", arn, "--principal", ATTACKER, "--new-value",
                        "--case", case)
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert _policy(server, arn) == {"Version": "2012-10-17", "Statement": [PARTNER]}
    assert _stages(server, arn) == {leaked_version: ["AWSCURRENT"]}

    run = server.irctl("--output", "json", "contain", "secret", arn, "--principal", ATTACKER,
                       "--new-value", "--case", case, "--apply")
    assert run.returncode == 0, run.stdout + run.stderr
    policy = _policy(server, arn)
    assert policy is not None
    deny = [s for s in policy["Statement"] if s["Effect"] == "Deny"]
    assert [s for s in policy["Statement"] if s["Effect"] == "Allow"] == [PARTNER]
    assert len(deny) == 1 and deny[0]["Sid"].startswith("IrCase" + case.replace("-", ""))
    assert deny[0]["Condition"] == {"ArnLike": {"aws:PrincipalArn": [ATTACKER]}}
    assert set(deny[0]["Action"]) == {"secretsmanager:GetSecretValue",
                                      "secretsmanager:DescribeSecret"}
    stages = _stages(server, arn)
    assert stages[leaked_version] == ["AWSPREVIOUS"]
    [current] = [v for v, s in stages.items() if "AWSCURRENT" in s]
    value = server.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]
    assert value != "leaked-password-0001" and len(value) == 40
    # The new value is never printed or written to the case's audit log.
    assert value not in run.stdout + run.stderr
    assert server.case_dir is not None
    assert value not in (server.case_dir / case / "audit.jsonl").read_text()

    again = server.irctl("--output", "json", "contain", "secret", arn, "--principal", ATTACKER,
                         "--new-value", "--case", case, "--apply")
    assert again.returncode == 0, again.stdout + again.stderr
    assert as_json(again)["runs"][0]["targets"][0]["changes"] == []
    assert _stages(server, arn)[current] == ["AWSCURRENT"]

    released = server.irctl("release", "secret", arn, "--case", case, "--apply")
    assert released.returncode == 0, released.stdout + released.stderr
    assert _policy(server, arn) == {"Version": "2012-10-17", "Statement": [PARTNER]}
    # The rotation is one-way: the leaked value is not put back.
    assert _stages(server, arn)[current] == ["AWSCURRENT"]


def test_release_keeps_statements_added_after_containment_and_deletes_a_policy_it_made(
        server: Readiness) -> None:
    arn, _ = _secret(server, policy=False)
    case = f"case-{uuid.uuid4().hex[:8]}"
    session = f"arn:aws:sts::{ACCOUNT}:assumed-role/web-app/i-0abc"
    run = server.irctl("contain", "secret", arn, "--principal", session, "--no-rotate",
                       "--case", case, "--apply")
    assert run.returncode == 0, run.stdout + run.stderr
    [deny] = (_policy(server, arn) or {})["Statement"]
    assert deny["Condition"]["ArnLike"]["aws:PrincipalArn"] == [
        f"arn:aws:iam::{ACCOUNT}:role/web-app", f"arn:aws:iam::{ACCOUNT}:role/*/web-app"]

    released = server.irctl("release", "secret", arn, "--case", case, "--apply")
    assert released.returncode == 0, released.stdout + released.stderr
    assert _policy(server, arn) is None


def test_a_secret_without_rotation_is_refused_unless_asked_and_nothing_changes(
        server: Readiness) -> None:
    arn, version = _secret(server)
    run = server.irctl("--output", "json", "contain", "secret", arn, "--principal", ATTACKER,
                       "--apply")
    assert run.returncode == 2, run.stdout + run.stderr
    assert "has no rotation configured" in run.stdout
    assert _policy(server, arn) == {"Version": "2012-10-17", "Statement": [PARTNER]}
    assert _stages(server, arn) == {version: ["AWSCURRENT"]}


def test_a_secret_with_rotation_is_rotated_by_rotate_secret(server: Readiness) -> None:
    sm = server.client("secretsmanager")
    arn, _ = _secret(server, policy=False)
    # Rotation configured (the emulator rotates without a function: no Lambda runs here).
    sm.rotate_secret(SecretId=arn, RotationRules={"AutomaticallyAfterDays": 30})
    described = sm.describe_secret(SecretId=arn)
    assert described["RotationEnabled"] is True
    [before] = [v for v, s in described["VersionIdsToStages"].items() if "AWSCURRENT" in s]
    case = f"case-{uuid.uuid4().hex[:8]}"
    refused = server.irctl("--output", "json", "contain", "secret", arn, "--principal",
                           ATTACKER, "--new-value", "--case", case, "--apply")
    assert refused.returncode == 2 and "has rotation configured" in refused.stdout
    assert _policy(server, arn) is None
    run = server.irctl("--output", "json", "contain", "secret", arn, "--principal", ATTACKER,
                       "--case", case, "--apply")
    assert run.returncode == 0, run.stdout + run.stderr
    changes = as_json(run)["runs"][0]["targets"][0]["changes"]
    assert [c["step"] for c in changes] == ["secrets.deny-principal",
                                                      "secrets.rotate-now"]
    rotated = changes[1]["after"]["current"]
    stages = _stages(server, arn)
    assert stages[rotated] == ["AWSCURRENT"] and "AWSCURRENT" not in stages[before]


def test_malformed_secret_and_principal_exit_2(server: Readiness) -> None:
    bad = server.irctl("contain", "secret", "bad*secret", "--principal", ATTACKER)
    assert bad.returncode == 2 and "is malformed" in bad.stderr
    root = server.irctl("contain", "secret", "prod/db", "--principal",
                        f"arn:aws:iam::{ACCOUNT}:root")
    assert root.returncode == 2 and "account root" in root.stderr
    both = server.irctl("contain", "secret", "prod/db", "--principal", ATTACKER,
                        "--new-value", "--no-rotate")
    assert both.returncode == 2 and "contradict" in both.stderr


def test_contain_key_disables_it_and_release_enables_it(server: Readiness) -> None:
    kms = server.client("kms")
    key = kms.create_key(Description="payments data key")["KeyMetadata"]["KeyId"]
    case = f"case-{uuid.uuid4().hex[:8]}"
    plan = server.irctl("contain", "key", key, "--case", case)
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert _key_state(server, key)["KeyState"] == "Enabled"

    run = server.irctl("contain", "key", key, "--case", case, "--apply")
    assert run.returncode == 0, run.stdout + run.stderr
    assert _key_state(server, key)["KeyState"] == "Disabled"

    verify = server.irctl("--output", "json", "verify", "case", case)
    # (exit 3 here: the seeded account has no trail for verify's trail check)
    checks = [c for c in as_json(verify)["checks"] if c["area"] == "containment"]
    assert [(c["target"], c["status"], c["actual"]) for c in checks] == [
        (key, "holds", "Disabled")], verify.stdout

    released = server.irctl("release", "key", key, "--case", case, "--apply")
    assert released.returncode == 0, released.stdout + released.stderr
    assert _key_state(server, key)["KeyState"] == "Enabled"


def test_contain_key_keep_cancels_the_deletion_and_enables_the_key(server: Readiness) -> None:
    kms = server.client("kms")
    created = kms.create_key(Description="backup key")["KeyMetadata"]
    arn = created["Arn"]
    kms.schedule_key_deletion(KeyId=created["KeyId"], PendingWindowInDays=7)
    assert _key_state(server, arn)["KeyState"] == "PendingDeletion"
    case = f"case-{uuid.uuid4().hex[:8]}"
    plan = server.irctl("--output", "json", "contain", "key", arn, "--keep", "--case", case)
    assert plan.returncode == 0, plan.stdout + plan.stderr
    planned = as_json(plan)["runs"][0]["targets"][0]["changes"]
    assert [c["step"] for c in planned] == ["kms.cancel-deletion", "kms.enable-key"]
    assert "leaves the key Disabled" in planned[0]["summary"]
    assert _key_state(server, arn)["KeyState"] == "PendingDeletion"
    run = server.irctl("contain", "key", arn, "--keep", "--case", case, "--apply")
    assert run.returncode == 0, run.stdout + run.stderr
    meta = _key_state(server, arn)
    assert meta["KeyState"] == "Enabled" and not meta.get("DeletionDate")

    # Release undoes the enable (reversible) and never re-schedules the deletion.
    released = server.irctl("release", "key", arn, "--case", case, "--apply")
    assert released.returncode == 0, released.stdout + released.stderr
    assert _key_state(server, arn)["KeyState"] == "Disabled"


def test_the_stacks_key_and_protected_keys_are_refused(server: Readiness) -> None:
    kms = server.client("kms")
    stack_key = server.manifest["kmsKeyArn"]
    run = server.irctl("--output", "json", "contain", "key", stack_key, "--apply")
    assert run.returncode == 2, run.stdout + run.stderr
    assert "readiness stack's own key" in run.stdout
    assert _key_state(server, stack_key)["KeyState"] == "Enabled"

    protected = kms.create_key(Tags=[{"TagKey": "ir:protected", "TagValue": "true"}])[
        "KeyMetadata"]["KeyId"]
    run = server.irctl("--output", "json", "contain", "key", protected, "--apply")
    assert run.returncode == 2, run.stdout + run.stderr
    assert _key_state(server, protected)["KeyState"] == "Enabled"

    alias = server.irctl("contain", "key", "alias/payments")
    assert alias.returncode == 2 and "aliases are not accepted" in alias.stderr


# --- failures mid-way ----------------------------------------------------------------


def test_a_failed_rotation_rolls_the_deny_statement_back(fault_readiness: Readiness) -> None:
    world = fault_readiness
    assert world.faults is not None
    arn, version = _secret(world)
    world.faults.fail("PutSecretValue", status=500, code="InternalServiceError")
    run = world.irctl("--output", "json", "contain", "secret", arn, "--principal", ATTACKER,
                      "--new-value", "--case", "c-secret-fault", "--apply")
    assert run.returncode == 1, run.stdout + run.stderr
    assert world.faults.faulted["PutSecretValue"] >= 1
    # Never a statement left half-recorded, never the leaked version moved.
    assert _policy(world, arn) == {"Version": "2012-10-17", "Statement": [PARTNER]}
    assert _stages(world, arn) == {version: ["AWSCURRENT"]}
    assert world.case_dir is not None
    events = [e["event"] for e in audit_events(world.case_dir, "c-secret-fault")]
    assert "rolled-back" in events


def test_a_failed_enable_after_a_cancelled_deletion_is_recorded_and_releasable(
        fault_readiness: Readiness) -> None:
    world = fault_readiness
    assert world.faults is not None
    kms = world.client("kms")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
    world.faults.fail("EnableKey", status=400, code="AccessDeniedException")
    run = world.irctl("--output", "json", "contain", "key", key, "--keep", "--case",
                      "c-key-fault", "--apply")
    assert run.returncode in (1, 3), run.stdout + run.stderr
    # The deletion stays cancelled (one-way, keeping a key is never harm); the key is left
    # Disabled, as AWS leaves it: never more exposed than before.
    meta = _key_state(world, key)
    assert meta["KeyState"] == "Disabled" and not meta.get("DeletionDate")
    world.faults.clear()
    shown = world.irctl("--output", "json", "case", "show", "c-key-fault")
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert "kms.cancel-deletion" in shown.stdout
    retried = world.irctl("contain", "key", key, "--keep", "--case", "c-key-fault", "--apply")
    assert retried.returncode == 0, retried.stdout + retried.stderr
    assert _key_state(world, key)["KeyState"] == "Enabled"
    released = world.irctl("release", "key", key, "--case", "c-key-fault", "--apply")
    assert released.returncode == 0, released.stdout + released.stderr
    assert _key_state(world, key)["KeyState"] == "Disabled"
