"""Containment does not wait on evidence storage; queued evidence is uploaded later.

Against the emulator server behind the fault-injecting layer, with the real CLI as a
subprocess: every S3 PutObject failing (503 SlowDown, 500 InternalError, 403
AccessDenied) or hanging, and what `irctl case sync` and the next `--apply` run do once
S3 is healthy. Assertions are on AWS state (ENI groups, profile associations, objects and
their SHA-256 in the bucket) and on the files in the case directory.
"""

from __future__ import annotations

import hashlib
import json
import stat
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.runbooks.conftest import Readiness, launch_instances

pytestmark = pytest.mark.server

# Client timeouts for the CLI under test (seconds): a hung call fails in 2 x (1 + 2) s.
FAST_TIMEOUTS = {"IR_AWS_CONNECT_TIMEOUT": "1", "IR_AWS_READ_TIMEOUT": "2"}


def instance_profile(world: Readiness) -> str:
    iam = world.client("iam")
    name = f"app-{uuid.uuid4().hex[:8]}"
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"Service": "ec2.amazonaws.com"}}]}))
    arn: str = iam.create_instance_profile(InstanceProfileName=name)["InstanceProfile"]["Arn"]
    iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)
    return arn


def two_instances_with_profiles(world: Readiness) -> list[str]:
    profile = instance_profile(world)
    ids = launch_instances(world, 2, volumes=1, profile_arn=profile)
    assert len(associations(world, ids)) == 2
    return ids


def associations(world: Readiness, ids: list[str]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = world.client("ec2").describe_iam_instance_profile_associations(
        Filters=[{"Name": "instance-id", "Values": ids},
                 {"Name": "state", "Values": ["associated", "associating"]}],
    )["IamInstanceProfileAssociations"]
    return found


def isolated(world: Readiness, ids: list[str]) -> list[str]:
    isolation = world.manifest["quarantine"][world.vpc_id]["isolationSecurityGroupId"]
    enis = world.client("ec2").describe_network_interfaces(Filters=[
        {"Name": "attachment.instance-id", "Values": ids}])["NetworkInterfaces"]
    return sorted(e["Attachment"]["InstanceId"] for e in enis
                  if [g["GroupId"] for g in e["Groups"]] == [isolation])


def metadata_key(case: str, iid: str) -> str:
    return f"cases/{case}/instances/{iid}/metadata.json"


def bucket_object(world: Readiness, key: str) -> dict[str, Any] | None:
    from botocore.exceptions import ClientError

    try:
        got: dict[str, Any] = world.client("s3").get_object(
            Bucket=world.manifest["evidenceBucket"], Key=key)
    except ClientError as err:
        if err.response["Error"]["Code"] in ("NoSuchKey", "404"):
            return None
        raise
    got["BodyBytes"] = got["Body"].read()
    return got


def pending_files(world: Readiness, case: str) -> list[Path]:
    assert world.case_dir is not None
    directory = world.case_dir / case / "pending"
    return sorted(directory.glob("*")) if directory.is_dir() else []


def audit_events(world: Readiness, case: str, event: str) -> list[dict[str, Any]]:
    assert world.case_dir is not None
    lines = (world.case_dir / case / "audit.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["event"] == event]


@pytest.mark.parametrize("fault", ["503 SlowDown", "500 InternalError", "403 AccessDenied"])
def test_every_put_object_failing_still_cuts_both_instances_and_queues_the_evidence(
        fault_readiness: Readiness, fault: str) -> None:
    world = fault_readiness
    assert world.faults is not None
    ids = two_instances_with_profiles(world)
    case = f"c-{uuid.uuid4().hex[:6]}"
    status, code = fault.split()
    if code == "AccessDenied":
        world.faults.deny("PutObject")
    else:
        world.faults.fail("PutObject", status=int(status), code=code)

    started = time.monotonic()
    run = world.irctl("--output", "json", "contain", "instance", *ids, "--apply",
                      "--case", case)
    elapsed = time.monotonic() - started

    # the cut happened, and did not wait on the evidence bucket
    assert isolated(world, ids) == sorted(ids), run.stdout + run.stderr
    assert associations(world, ids) == []
    assert elapsed < 30, elapsed
    assert world.faults.faulted["PutObject"] >= 2
    # ... and does not read as plain success
    assert run.returncode == 4, run.stdout + run.stderr
    report = json.loads(run.stdout)
    assert report["exitCode"] == 4
    queued = {q["key"]: q for q in report["evidenceQueued"]}
    assert set(queued) == {metadata_key(case, i) for i in ids}
    assert all(code in q["error"] for q in queued.values())
    warnings = [w for r in report["runs"] for w in r["warnings"]]
    assert sum("evidence NOT in the evidence bucket" in w for w in warnings) == 2
    # nothing reached the bucket; the objects are in the case directory, private
    assert all(bucket_object(world, k) is None for k in queued)
    files = pending_files(world, case)
    assert len(files) == 4  # a body and its entry per object
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
    for item in queued.values():
        body = Path(item["path"]).read_bytes()
        assert hashlib.sha256(body).hexdigest() == item["sha256"]
        assert json.loads(body)["instance"]["InstanceId"] in ids
    assert {r["key"] for r in audit_events(world, case, "evidence-queued")} == set(queued)

    # S3 healthy again: `case sync` uploads both, with their SHA-256 and encryption
    world.faults.clear()
    synced = world.irctl("--output", "json", "case", "sync", case)
    assert synced.returncode == 0, synced.stdout + synced.stderr
    for key, item in queued.items():
        stored = bucket_object(world, key)
        assert stored is not None, key
        assert hashlib.sha256(stored["BodyBytes"]).hexdigest() == item["sha256"]
        assert stored["Metadata"]["sha256"] == item["sha256"]
        assert stored["ServerSideEncryption"] == "aws:kms"
        assert stored["SSEKMSKeyId"] == world.manifest["kmsKeyArn"]
    assert pending_files(world, case) == []
    assert {r["key"] for r in audit_events(world, case, "evidence-uploaded")} == set(queued)
    assert bucket_object(world, f"cases/{case}/audit.jsonl") is not None


def test_text_output_says_plainly_what_was_not_saved(fault_readiness: Readiness) -> None:
    world = fault_readiness
    assert world.faults is not None
    [iid] = launch_instances(world, 1, volumes=1)
    world.faults.fail("PutObject", status=503, code="SlowDown")
    run = world.irctl("contain", "instance", iid, "--apply", "--case", "c-text")
    text = run.stdout + run.stderr
    assert run.returncode == 4, text
    assert "evidence NOT in the evidence bucket" in text
    assert metadata_key("c-text", iid) in text
    assert "irctl case sync c-text" in text
    assert "Traceback" not in text
    assert isolated(world, [iid]) == [iid]


def test_sync_sends_only_what_is_missing_and_names_what_is_still_queued(
        fault_readiness: Readiness) -> None:
    world = fault_readiness
    assert world.faults is not None
    ids = launch_instances(world, 2, volumes=1)
    case = "c-idem"
    world.faults.deny("PutObject")  # answered at once: no backoff to wait out
    assert world.irctl("contain", "instance", *ids, "--apply", "--case", case
                       ).returncode == 4

    # still down: non-zero, naming every object still queued
    still = world.irctl("case", "sync", case)
    assert still.returncode == 1
    for iid in ids:
        assert metadata_key(case, iid) in still.stdout
    assert "STILL QUEUED" in still.stdout

    # one object reached the bucket already (e.g. a sync killed before it cleaned up)
    world.faults.clear()
    entries = [json.loads(p.read_text()) for p in pending_files(world, case)
               if p.suffix == ".json"]
    first = next(e for e in entries if e["key"] == metadata_key(case, ids[0]))
    body = next(p for p in pending_files(world, case)
                if p.suffix == ".body" and hashlib.sha256(p.read_bytes()).hexdigest()
                == first["sha256"]).read_bytes()
    world.client("s3").put_object(Bucket=world.manifest["evidenceBucket"], Key=first["key"],
                                  Body=body, Metadata={"sha256": first["sha256"]})
    puts_before = world.faults.seen["PutObject"]
    synced = world.irctl("--output", "json", "case", "sync", case)
    assert synced.returncode == 0, synced.stdout + synced.stderr
    report = json.loads(synced.stdout)
    assert [o["key"] for o in report["alreadyThere"]] == [first["key"]]
    assert [o["key"] for o in report["uploaded"]] == [metadata_key(case, ids[1])]
    # one evidence object and the audit log: the one already there was not sent again
    assert world.faults.seen["PutObject"] - puts_before == 2
    versions = world.client("s3").list_object_versions(
        Bucket=world.manifest["evidenceBucket"], Prefix=first["key"])["Versions"]
    assert len(versions) == 1
    again = world.irctl("case", "sync", case)
    assert again.returncode == 0 and "nothing queued" in again.stdout


def test_a_modified_local_copy_is_never_uploaded(fault_readiness: Readiness) -> None:
    world = fault_readiness
    assert world.faults is not None
    [iid] = launch_instances(world, 1, volumes=1)
    world.faults.deny("PutObject")  # answered at once: no backoff to wait out
    assert world.irctl("contain", "instance", iid, "--apply", "--case", "c-mod"
                       ).returncode == 4
    world.faults.clear()
    [body] = [p for p in pending_files(world, "c-mod") if p.suffix == ".body"]
    body.write_bytes(body.read_bytes().replace(b"running", b"stopped"))
    synced = world.irctl("case", "sync", "c-mod")
    assert synced.returncode == 1
    assert "was modified" in synced.stdout
    assert bucket_object(world, metadata_key("c-mod", iid)) is None


def test_the_next_apply_run_of_the_case_uploads_the_queue(
        fault_readiness: Readiness) -> None:
    world = fault_readiness
    assert world.faults is not None
    ids = launch_instances(world, 2, volumes=1)
    world.faults.deny("PutObject")  # answered at once: no backoff to wait out
    assert world.irctl("contain", "instance", *ids, "--apply", "--case", "c-next"
                       ).returncode == 4
    world.faults.clear()
    again = world.irctl("--output", "json", "contain", "instance", *ids, "--apply",
                        "--case", "c-next")
    assert again.returncode == 0, again.stdout + again.stderr
    assert json.loads(again.stdout)["evidenceQueued"] == []
    for iid in ids:
        assert bucket_object(world, metadata_key("c-next", iid)) is not None
    assert pending_files(world, "c-next") == []


def test_a_hung_evidence_bucket_does_not_hold_up_the_cut(
        fault_readiness: Readiness) -> None:
    world = fault_readiness
    assert world.faults is not None
    ids = two_instances_with_profiles(world)
    world.faults.hang("PutObject", seconds=60)
    started = time.monotonic()
    run = world.irctl("--output", "json", "contain", "instance", *ids, "--apply",
                      "--case", "c-hung", env=FAST_TIMEOUTS)
    elapsed = time.monotonic() - started
    assert isolated(world, ids) == sorted(ids), run.stdout + run.stderr
    assert associations(world, ids) == []
    assert run.returncode == 4, run.stdout + run.stderr
    # two attempts of 1 s connect + 2 s read each, the two objects concurrently; no more
    # PutObject once S3 failed (the audit log copy is not attempted)
    assert elapsed < 20, elapsed
    queued = json.loads(run.stdout)["evidenceQueued"]
    assert len(queued) == 2
    assert all("timeout" in q["error"].lower() for q in queued)
    assert world.faults.seen["PutObject"] == 4


def test_a_hung_endpoint_fails_the_call_within_the_configured_timeout(
        fault_readiness: Readiness) -> None:
    world = fault_readiness
    assert world.faults is not None
    ids = launch_instances(world, 3, volumes=1)
    world.faults.hang("DescribeInstances", seconds=120)
    started = time.monotonic()
    run = world.irctl("contain", "instance", *ids, "--apply", "--case", "c-hang",
                      env=FAST_TIMEOUTS, timeout=60)
    elapsed = time.monotonic() - started
    text = run.stdout + run.stderr
    assert run.returncode == 1, text
    assert "AWS did not answer (Read timeout on endpoint URL" in text
    assert "Traceback" not in text
    # 2 attempts x (1 s + 2 s), asked once for all three targets, plus process start
    assert elapsed < 20, elapsed
    assert world.faults.seen["DescribeInstances"] == 2
    world.faults.clear()
    assert isolated(world, ids) == []  # refused before any change
