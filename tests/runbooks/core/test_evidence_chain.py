"""The evidence chain: every evidence object's SHA-256 in S3 and in the audit log, the
operator on every audit record, and `irctl case verify-evidence` catching an object that
was deleted or written over.

Against the emulator server with the real CLI as a subprocess; assertions on the objects
S3 holds (their checksum, metadata, versions) and on the records of the case's log.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from runbooks.core.audit import AuditLog
from tests.runbooks.conftest import ACCOUNT, Readiness, launch_instances

pytestmark = pytest.mark.server


def records(world: Readiness, case: str) -> list[dict[str, Any]]:
    assert world.case_dir is not None
    return AuditLog(case, Path(world.case_dir)).records()


def contain(world: Readiness, case: str) -> str:
    [iid] = launch_instances(world, 1, volumes=1)
    run = world.irctl("contain", "instance", iid, "--apply", "--case", case)
    assert run.returncode == 0, run.stdout + run.stderr
    return iid


def test_evidence_object_has_sha256_checksum_metadata_and_audit_entry(
        server_readiness: Readiness) -> None:
    world = server_readiness
    iid = contain(world, "c-chain")
    s3 = world.client("s3")
    bucket = world.manifest["evidenceBucket"]
    key = f"cases/c-chain/instances/{iid}/metadata.json"
    got = s3.get_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    body = got["Body"].read()
    digest = hashlib.sha256(body).digest()
    # S3 holds the SHA-256 as its checksum (sent with the body) and as metadata
    assert got["ChecksumSHA256"] == base64.b64encode(digest).decode()
    assert got["Metadata"]["sha256"] == digest.hex()
    # ... and the step's audit record names the object, version, size and SHA-256
    [applied] = [r for r in records(world, "c-chain") if r["event"] == "applied"
                 and r["step"] == "ec2.capture-metadata"]
    assert applied["evidence"] == [{"uri": f"s3://{bucket}/{key}",
                                    "versionId": got["VersionId"],
                                    "sha256": digest.hex(), "size": len(body)}]
    # the audit log's copy carries its SHA-256 the same way
    copy = s3.get_object(Bucket=bucket, Key="cases/c-chain/audit.jsonl",
                         ChecksumMode="ENABLED")
    copy_body = copy["Body"].read()
    assert copy["Metadata"]["sha256"] == hashlib.sha256(copy_body).hexdigest()
    assert copy["ChecksumSHA256"] == base64.b64encode(
        hashlib.sha256(copy_body).digest()).decode()


def test_every_audit_record_names_the_operator(server_readiness: Readiness) -> None:
    world = server_readiness
    contain(world, "c-op")
    arn = world.client("sts").get_caller_identity()["Arn"]
    found = records(world, "c-op")
    assert len(found) > 3
    assert all(r["operator"] == {"arn": arn, "account": ACCOUNT} for r in found)
    shown = json.loads(world.irctl("--output", "json", "case", "show", "c-op").stdout)
    assert shown["operators"] == [{"arn": arn, "account": ACCOUNT, "records": len(found)}]
    table = world.irctl("case", "show", "c-op")
    assert table.returncode == 0 and "Operator" in table.stdout


def test_case_show_lists_evidence_with_sha256_and_old_records_read_unknown(
        server_readiness: Readiness) -> None:
    world = server_readiness
    iid = contain(world, "c-show")
    shown = json.loads(world.irctl("--output", "json", "case", "show", "c-show").stdout)
    [obj] = shown["evidence"]
    body = world.client("s3").get_object(
        Bucket=world.manifest["evidenceBucket"],
        Key=f"cases/c-show/instances/{iid}/metadata.json")["Body"].read()
    assert obj["sha256"] == hashlib.sha256(body).hexdigest()
    assert obj["step"] == "ec2.capture-metadata"
    # a log written before records named their operator is still read
    log = AuditLog("c-old", Path(str(world.case_dir)))
    log.append("run-started", kind="instance", mode="plan", targets=[iid])
    old = json.loads(world.irctl("--output", "json", "case", "show", "c-old").stdout)
    assert old["chainVerified"] is True
    assert old["operators"] == [{"arn": "unknown", "account": "unknown", "records": 1}]


def test_verify_evidence_holds_then_detects_overwritten_and_deleted_objects(
        server_readiness: Readiness) -> None:
    world = server_readiness
    iid = contain(world, "c-tamper")
    held = world.irctl("--output", "json", "case", "verify-evidence", "c-tamper", "--deep")
    assert held.returncode == 0, held.stdout + held.stderr
    assert [o["status"] for o in json.loads(held.stdout)["objects"]] == ["ok"]

    s3 = world.client("s3")
    bucket = world.manifest["evidenceBucket"]
    key = f"cases/c-tamper/instances/{iid}/metadata.json"
    original = s3.head_object(Bucket=bucket, Key=key)["VersionId"]
    s3.put_object(Bucket=bucket, Key=key, Body=b'{"forged": true}')  # written over
    tampered = world.irctl("--output", "json", "case", "verify-evidence", "c-tamper")
    assert tampered.returncode == 1, tampered.stdout + tampered.stderr
    [obj] = json.loads(tampered.stdout)["objects"]
    assert obj["status"] == "superseded" and obj["versionId"] == original

    s3.delete_object(Bucket=bucket, Key=key, VersionId=original)  # the recorded version
    gone = world.irctl("--output", "json", "case", "verify-evidence", "c-tamper")
    assert gone.returncode == 1
    assert json.loads(gone.stdout)["objects"][0]["status"] == "missing"
    text = world.irctl("case", "verify-evidence", "c-tamper")
    assert text.returncode == 1 and "MISSING" in text.stdout


def test_verify_evidence_refuses_an_unknown_case(server_readiness: Readiness) -> None:
    run = server_readiness.irctl("case", "verify-evidence", "no-such-case")
    assert run.returncode == 2
    assert "no audit log for case no-such-case" in run.stderr


def test_queued_evidence_is_recorded_then_verified_once_case_sync_uploads_it(
        fault_readiness: Readiness) -> None:
    world = fault_readiness
    assert world.faults is not None
    [iid] = launch_instances(world, 1, volumes=1)
    world.faults.fail("PutObject", status=503, code="SlowDown")  # the bucket is down
    run = world.irctl("contain", "instance", iid, "--apply", "--case", "c-q")
    assert run.returncode == 4, run.stdout + run.stderr
    [applied] = [r for r in records(world, "c-q") if r["event"] == "applied"
                 and r["step"] == "ec2.capture-metadata"]
    [entry] = applied["evidence"]
    assert entry["queued"] is True and entry["versionId"] is None
    pending = world.irctl("--output", "json", "case", "verify-evidence", "c-q")
    assert pending.returncode == 1
    assert json.loads(pending.stdout)["objects"][0]["status"] == "queued"

    world.faults.clear()
    assert world.irctl("case", "sync", "c-q").returncode == 0
    bucket = world.manifest["evidenceBucket"]
    key = f"cases/c-q/instances/{iid}/metadata.json"
    got = world.client("s3").get_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    body = got["Body"].read()
    assert hashlib.sha256(body).hexdigest() == entry["sha256"]
    assert got["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(body).digest()).decode()
    [uploaded] = [r for r in records(world, "c-q") if r["event"] == "evidence-uploaded"]
    assert uploaded["evidence"][0]["versionId"] == got["VersionId"]
    held = world.irctl("--output", "json", "case", "verify-evidence", "c-q")
    assert held.returncode == 0, held.stdout + held.stderr
