"""`irctl case share-snapshots`: a case's snapshots copied with the stack key, described as
evidence and shared with the forensic account; release removes the share.

Against the emulator server (and its fault-injecting layer) with the real CLI as a
subprocess; assertions on the snapshots EBS holds (copies, tags, KMS key,
createVolumePermission), the description files in the evidence bucket and the case's log.
"""

from __future__ import annotations

import hashlib
import json
import signal
from pathlib import Path
from typing import Any

import pytest

from runbooks.core.audit import AuditLog
from runbooks.core.manifest_schema import MANIFEST_PARAMETER
from tests.runbooks.conftest import Readiness, launch_instances

pytestmark = pytest.mark.server

FORENSIC = "210987654321"


def name_forensic_account(world: Readiness, account: str | None = FORENSIC) -> None:
    """The stack with `ir:forensicAccount` set: its manifest names the account."""
    if account is None:
        world.manifest.pop("forensicAccount", None)
    else:
        world.manifest["forensicAccount"] = account
    world.client("ssm").put_parameter(Name=MANIFEST_PARAMETER, Type="String", Overwrite=True,
                                      Value=json.dumps(world.manifest))


def contained_case(world: Readiness, case: str, volumes: int = 2) -> list[str]:
    """A contained instance's case; its snapshot ids."""
    [iid] = launch_instances(world, 1, volumes=volumes)
    run = world.irctl("contain", "instance", iid, "--apply", "--case", case)
    assert run.returncode == 0, run.stdout + run.stderr
    return sorted(s["SnapshotId"] for s in world.client("ec2").describe_snapshots(
        OwnerIds=["self"], Filters=[{"Name": "tag:ir:case", "Values": [case]}])["Snapshots"])


def copy_of(world: Readiness, source: str) -> dict[str, Any] | None:
    found = world.client("ec2").describe_snapshots(OwnerIds=["self"], Filters=[
        {"Name": "tag:ir:copy-of", "Values": [source]}])["Snapshots"]
    assert len(found) <= 1
    return found[0] if found else None


def shared_with(world: Readiness, snapshot: str) -> list[str]:
    return sorted(p["UserId"] for p in world.client("ec2").describe_snapshot_attribute(
        SnapshotId=snapshot, Attribute="createVolumePermission")["CreateVolumePermissions"])


def records(world: Readiness, case: str) -> list[dict[str, Any]]:
    return AuditLog(case, Path(str(world.case_dir))).records()


def test_refused_without_a_forensic_account_naming_the_setting(
        server_readiness: Readiness) -> None:
    world = server_readiness
    sources = contained_case(world, "c-noacct", volumes=1)
    run = world.irctl("case", "share-snapshots", "c-noacct", "--apply")
    assert run.returncode == 2, run.stdout + run.stderr
    assert "ir:forensicAccount" in run.stderr
    assert copy_of(world, sources[0]) is None  # AWS unchanged


def test_share_copies_with_stack_key_describes_shares_and_release_unshares(
        server_readiness: Readiness) -> None:
    world = server_readiness
    sources = contained_case(world, "c-share")
    name_forensic_account(world)
    plan = world.irctl("case", "share-snapshots", "c-share")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert all(copy_of(world, s) is None for s in sources)  # a plan copies nothing

    run = world.irctl("--output", "json", "case", "share-snapshots", "c-share", "--apply",
                      "--wait-minutes", "1")
    assert run.returncode == 0, run.stdout + run.stderr
    bucket, s3 = world.manifest["evidenceBucket"], world.client("s3")
    for source in sources:
        copy = copy_of(world, source)
        assert copy is not None and copy["Encrypted"] is True
        assert copy["KmsKeyId"] == world.manifest["kmsKeyArn"]
        tags = {t["Key"]: t["Value"] for t in copy["Tags"]}
        assert tags["ir:case"] == "c-share" and tags["ir:copy-of"] == source
        assert shared_with(world, copy["SnapshotId"]) == [FORENSIC]
        assert shared_with(world, source) == []  # the source itself is never shared
        got = s3.get_object(Bucket=bucket, Key=f"cases/c-share/snapshots/{source}.json",
                            ChecksumMode="ENABLED")
        body = got["Body"].read()
        described = json.loads(body)
        assert described["copy"]["snapshotId"] == copy["SnapshotId"]
        assert described["source"]["snapshotId"] == source
        assert described["forensicAccount"] == FORENSIC
        assert got["Metadata"]["sha256"] == hashlib.sha256(body).hexdigest()
    # each description file is an evidence object of the case, with its SHA-256
    written = [e for r in records(world, "c-share") if r.get("step") ==
               "ec2.record-snapshot-copy" and r["event"] == "applied" for e in r["evidence"]]
    assert sorted(e["uri"] for e in written) == sorted(
        f"s3://{bucket}/cases/c-share/snapshots/{s}.json" for s in sources)
    assert world.irctl("case", "verify-evidence", "c-share").returncode == 0
    verified = json.loads(world.irctl("--output", "json", "verify", "case", "c-share").stdout)
    shares = [c for c in verified["checks"] if "forensic account" in c["what"]]
    assert len(shares) == len(sources) and all(c["status"] == "holds" for c in shares)

    again = world.irctl("case", "share-snapshots", "c-share", "--apply")
    assert again.returncode == 0 and len(world.client("ec2").describe_snapshots(
        OwnerIds=["self"], Filters=[{"Name": "tag:ir:case", "Values": ["c-share"]}])[
        "Snapshots"]) == 2 * len(sources)  # a re-run copies nothing twice

    released = world.irctl("release", "snapshot", sources[0], "--case", "c-share", "--apply")
    assert released.returncode == 0, released.stdout + released.stderr
    kept = copy_of(world, sources[0])
    assert kept is not None and shared_with(world, kept["SnapshotId"]) == []  # copy stays
    other = copy_of(world, sources[1])
    assert other is not None and shared_with(world, other["SnapshotId"]) == [FORENSIC]


def test_share_failing_is_recorded_nothing_shared_and_a_rerun_finishes(
        fault_readiness: Readiness) -> None:
    world = fault_readiness
    [source] = contained_case(world, "c-fail", volumes=1)
    name_forensic_account(world)
    assert world.faults is not None
    world.faults.fail("ModifySnapshotAttribute", status=503, code="Unavailable")
    run = world.irctl("case", "share-snapshots", "c-fail", "--apply", "--wait-minutes", "1")
    assert run.returncode == 1, run.stdout + run.stderr
    copy = copy_of(world, source)
    assert copy is not None and shared_with(world, copy["SnapshotId"]) == []
    events = [(r["event"], r.get("step")) for r in records(world, "c-fail")]
    assert ("apply-failed", "ec2.share-snapshot") in events
    assert ("applied", "ec2.record-snapshot-copy") in events

    world.faults.clear()
    rerun = world.irctl("case", "share-snapshots", "c-fail", "--apply")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert shared_with(world, copy["SnapshotId"]) == [FORENSIC]
    assert copy_of(world, source)["SnapshotId"] == copy["SnapshotId"]  # type: ignore[index]


def test_share_killed_mid_change_is_recorded_and_release_removes_it(
        fault_readiness: Readiness) -> None:
    world = fault_readiness
    [source] = contained_case(world, "c-kill", volumes=1)
    name_forensic_account(world)
    assert world.faults is not None
    held = world.faults.hold("ModifySnapshotAttribute")
    process = world.irctl_popen("case", "share-snapshots", "c-kill", "--apply")
    try:
        assert held.arrived.wait(90), "the share never reached EBS"
        process.send_signal(signal.SIGKILL)  # a killed terminal: the share is made
        process.wait(30)
    finally:
        held.release()
    copy = copy_of(world, source)
    assert copy is not None and shared_with(world, copy["SnapshotId"]) == [FORENSIC]
    shown = json.loads(world.irctl("--output", "json", "case", "show", "c-kill").stdout)
    assert [(c["kind"], c["target"], c["state"]) for c in shown["inPlace"]
            if c["step"] == "ec2.share-snapshot"] == [("snapshot", source, "applying")]
    released = world.irctl("release", "snapshot", source, "--case", "c-kill", "--apply")
    assert released.returncode == 0, released.stdout + released.stderr
    assert shared_with(world, copy["SnapshotId"]) == []
