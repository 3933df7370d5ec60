"""`irctl contain function NAME` and its release, end to end: irctl as a subprocess
against an emulator server behind the fault-injecting layer, assertions on the function's
concurrency, event-source mappings, policy, its role and the evidence bucket."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import uuid
import zipfile
from dataclasses import dataclass

import pytest
from botocore.exceptions import ClientError

from tests.runbooks.commands.contain_world import as_json, audit_events
from tests.runbooks.conftest import Readiness

pytestmark = pytest.mark.server

TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Action": "sts:AssumeRole",
    "Principal": {"Service": "lambda.amazonaws.com"}}]})


@dataclass
class Victim:
    name: str
    role: str
    package: bytes
    code_sha256: str
    live_mapping: str
    idle_mapping: str


def _package() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", f"# {uuid.uuid4()}\ndef handler(e, c):\n    return 1\n")
    return buffer.getvalue()


def _queue(world: Readiness) -> str:
    sqs = world.client("sqs")
    url = sqs.create_queue(QueueName=f"q-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]


def victim(world: Readiness, *, reserved: int | None = 5, role_tags: list | None = None
           ) -> Victim:
    """A function with a role, reserved concurrency, an enabled and a disabled SQS
    mapping, a public statement and a source-pinned one."""
    iam, lam = world.client("iam"), world.client("lambda")
    role = f"fn-role-{uuid.uuid4().hex[:8]}"
    role_arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST,
                               Tags=role_tags or [])["Role"]["Arn"]
    name = f"orders-{uuid.uuid4().hex[:8]}"
    package = _package()
    created = lam.create_function(FunctionName=name, Runtime="python3.12", Role=role_arn,
                                  Handler="handler.handler", Code={"ZipFile": package})
    if reserved is not None:
        lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=reserved)
    live = lam.create_event_source_mapping(EventSourceArn=_queue(world), FunctionName=name)
    idle = lam.create_event_source_mapping(EventSourceArn=_queue(world), FunctionName=name,
                                           Enabled=False)
    lam.add_permission(FunctionName=name, StatementId="Anyone",
                       Action="lambda:InvokeFunction", Principal="*")
    lam.add_permission(FunctionName=name, StatementId="Uploads",
                       Action="lambda:InvokeFunction", Principal="s3.amazonaws.com",
                       SourceAccount=world.manifest["accountId"])
    return Victim(name, role, package, created["CodeSha256"], live["UUID"], idle["UUID"])


def state(world: Readiness, v: Victim) -> dict:
    lam = world.client("lambda")
    try:
        statements = json.loads(lam.get_policy(FunctionName=v.name)["Policy"])["Statement"]
    except ClientError as err:
        assert err.response["Error"]["Code"] == "ResourceNotFoundException"
        statements = []
    try:
        revocation = world.client("iam").get_role_policy(
            RoleName=v.role, PolicyName="AWSRevokeOlderSessions")["PolicyDocument"]
    except ClientError as err:
        assert err.response["Error"]["Code"] == "NoSuchEntity"
        revocation = None
    return {
        "reserved": lam.get_function_concurrency(FunctionName=v.name).get(
            "ReservedConcurrentExecutions"),
        "mappings": {u: lam.get_event_source_mapping(UUID=u)["State"]
                     for u in (v.live_mapping, v.idle_mapping)},
        "statements": sorted(json.dumps(s, sort_keys=True) for s in statements),
        "revoked": revocation is not None,
    }


def test_contain_function_saves_evidence_and_release_restores_it(fault_readiness: Readiness):
    world = fault_readiness
    v = victim(world)
    before = state(world, v)
    assert before["mappings"] == {v.live_mapping: "Enabled", v.idle_mapping: "Disabled"}
    case = f"case-{uuid.uuid4().hex[:8]}"

    plan = world.irctl("--output", "json", "contain", "function", v.name, "--case", case)
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert state(world, v) == before  # plan changes nothing

    run = world.irctl("--output", "json", "contain", "function", v.name, "--case", case,
                      "--apply")
    assert run.returncode == 0, run.stdout + run.stderr
    after = state(world, v)
    assert after["reserved"] == 0
    assert after["mappings"] == {v.live_mapping: "Disabled", v.idle_mapping: "Disabled"}
    assert [json.loads(s)["Sid"] for s in after["statements"]] == ["Uploads"]
    assert after["revoked"]

    # Evidence: the package as Lambda hashed it, SSE-KMS, digest in metadata and audit log.
    s3, bucket = world.client("s3"), world.manifest["evidenceBucket"]
    prefix = f"cases/{case}/functions/{v.name}/"
    code = s3.get_object(Bucket=bucket, Key=prefix + "code.zip")
    body = code["Body"].read()
    digest = hashlib.sha256(body).hexdigest()
    assert body == v.package
    assert base64.b64encode(bytes.fromhex(digest)).decode() == v.code_sha256
    assert code["Metadata"]["sha256"] == digest
    assert code["ServerSideEncryption"] == "aws:kms"
    config = json.loads(s3.get_object(Bucket=bucket, Key=prefix + "configuration.json")[
        "Body"].read())
    assert config["configuration"]["FunctionName"] == v.name
    assert {m["UUID"] for m in config["eventSourceMappings"]} == {v.live_mapping,
                                                                 v.idle_mapping}
    assert "Location" not in config["code"]  # the presigned URL is not kept
    applied = [e for e in audit_events(world.case_dir, case) if e.get("event") == "applied"
               and e.get("step") == "lambda.capture-function"]
    assert digest in {e["result"].get("sha256") for e in applied}

    again = world.irctl("--output", "json", "contain", "function", v.name, "--case", case)
    assert again.returncode == 0
    assert all(t["changes"] == [] for r in as_json(again)["runs"] for t in r["targets"])

    released = world.irctl("release", "function", v.name, "--case", case, "--apply")
    assert released.returncode == 0, released.stdout + released.stderr
    restored = state(world, v)
    assert restored == {**before, "revoked": True}  # the revocation is one-way


def test_function_without_reserved_concurrency_gets_none_back(fault_readiness: Readiness):
    world = fault_readiness
    v = victim(world, reserved=None)
    case = f"case-{uuid.uuid4().hex[:8]}"
    run = world.irctl("contain", "function", v.name, "--case", case, "--apply")
    assert run.returncode == 0, run.stdout + run.stderr
    assert state(world, v)["reserved"] == 0
    released = world.irctl("release", "function", v.name, "--case", case, "--apply")
    assert released.returncode == 0, released.stdout + released.stderr
    assert state(world, v)["reserved"] is None


def test_a_failure_mid_way_rolls_the_function_back(fault_readiness: Readiness):
    """RemovePermission fails (500 on every attempt) after concurrency and mappings were
    changed: both are rolled back, nothing reads as contained, no evidence run."""
    world = fault_readiness
    v = victim(world)
    before = state(world, v)
    assert world.faults is not None
    world.faults.fail("RemovePermission", status=500, code="ServiceException")
    case = f"case-{uuid.uuid4().hex[:8]}"
    run = world.irctl("--output", "json", "contain", "function", v.name, "--case", case,
                      "--apply")
    assert run.returncode == 1, run.stdout + run.stderr
    assert state(world, v) == before
    statuses = {c["step"]: c["status"] for r in as_json(run)["runs"] for t in r["targets"]
                for c in t["changes"]}
    assert statuses["lambda.zero-concurrency"] == "rolled-back"
    assert statuses["lambda.disable-event-source-mappings"] == "rolled-back"
    keys = world.client("s3").list_objects_v2(Bucket=world.manifest["evidenceBucket"],
                                              Prefix=f"cases/{case}/functions/")
    assert keys.get("KeyCount", 0) == 0


def test_release_refuses_a_function_changed_since_unless_forced(fault_readiness: Readiness):
    world = fault_readiness
    v = victim(world)
    before = state(world, v)
    case = f"case-{uuid.uuid4().hex[:8]}"
    run = world.irctl("contain", "function", v.name, "--case", case, "--apply")
    assert run.returncode == 0, run.stdout + run.stderr
    lam = world.client("lambda")
    lam.put_function_concurrency(FunctionName=v.name, ReservedConcurrentExecutions=50)
    contained = state(world, v)

    refused = world.irctl("--output", "json", "release", "function", v.name, "--case", case,
                          "--apply")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "changed since it was contained" in as_json(refused)["runs"][0]["targets"][0][
        "error"]
    assert state(world, v) == contained  # nothing restored

    forced = world.irctl("release", "function", v.name, "--case", case, "--apply", "--force")
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert state(world, v) == {**before, "revoked": True}


def test_a_mapping_re_enabled_by_hand_is_left_as_it_is(fault_readiness: Readiness):
    """Someone re-enabled the mapping already: release has nothing to undo for it (its
    live state is the recorded before-state) and restores the rest."""
    world = fault_readiness
    v = victim(world)
    case = f"case-{uuid.uuid4().hex[:8]}"
    assert world.irctl("contain", "function", v.name, "--case", case,
                       "--apply").returncode == 0
    world.client("lambda").update_event_source_mapping(UUID=v.live_mapping, Enabled=True)
    released = world.irctl("--output", "json", "release", "function", v.name, "--case", case,
                           "--apply")
    assert released.returncode == 0, released.stdout + released.stderr
    assert state(world, v)["mappings"] == {v.live_mapping: "Enabled",
                                           v.idle_mapping: "Disabled"}


def test_protected_execution_role_refuses_before_any_change(fault_readiness: Readiness):
    world = fault_readiness
    v = victim(world, role_tags=[{"Key": "ir:protected", "Value": "true"}])
    before = state(world, v)
    run = world.irctl("--output", "json", "contain", "function", v.name, "--apply")
    assert run.returncode == 2, run.stdout + run.stderr
    assert "ir:protected" in as_json(run)["runs"][0]["targets"][0]["error"]
    assert state(world, v) == before


def test_unknown_function_exits_2(fault_readiness: Readiness):
    run = fault_readiness.irctl("--output", "json", "contain", "function",
                                f"missing-{uuid.uuid4().hex[:8]}", "--apply")
    assert run.returncode == 2
    assert "was not found" in as_json(run)["runs"][0]["targets"][0]["error"]


def test_malformed_function_name_exits_2_before_any_call(fault_readiness: Readiness):
    run = fault_readiness.irctl("contain", "function", "arn:aws:lambda:x")
    assert run.returncode == 2
    assert "function name 'arn:aws:lambda:x' is malformed" in run.stderr
