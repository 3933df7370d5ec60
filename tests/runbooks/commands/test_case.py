"""The audit log detects every tampering, as responders meet it: `irctl case show`
(local, and `--from-evidence`), and `contain`/`release`/`verify case` refusing a case whose
log is not whole, with AWS left as it was. The CLI runs as a subprocess against a moto
server; assertions on the output a responder reads and on the instances' groups."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from runbooks.core.audit import AuditLog
from tests.runbooks.conftest import Readiness, launch_instances

pytestmark = pytest.mark.server


def eni_groups(world: Readiness, instance_id: str) -> list[list[str]]:
    enis = world.client("ec2").describe_network_interfaces(Filters=[
        {"Name": "attachment.instance-id", "Values": [instance_id]}])["NetworkInterfaces"]
    return [[g["GroupId"] for g in e["Groups"]] for e in enis]


def log_path(world: Readiness, case: str) -> Path:
    return world.case_dir / case / "audit.jsonl"


def drop_last(path: Path, count: int) -> None:
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:-count]))


def written_log(world: Readiness, case: str, count: int) -> AuditLog:
    log = AuditLog(case, root=world.case_dir)
    for n in range(count):
        log.append("applied", kind="instance", target=f"i-{n}", n=n)
    return log


def contained(world: Readiness, case: str) -> tuple[str, list[list[str]], str]:
    [iid] = launch_instances(world, 1)
    original = eni_groups(world, iid)
    done = world.irctl("contain", "instance", iid, "--apply", "--case", case)
    assert done.returncode == 0, done.stderr + done.stdout
    isolation = world.manifest["quarantine"][world.vpc_id]["isolationSecurityGroupId"]
    assert eni_groups(world, iid) == [[isolation]]
    return iid, original, isolation


def assert_clean_refusal(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    stdout, stderr = result.stdout, result.stderr
    assert "Traceback" not in stderr + stdout, stderr
    for needle in needles:
        assert needle in stderr + stdout, stderr + stdout


def test_case_show_names_the_records_dropped_from_the_end_of_the_local_log(
        server_readiness: Readiness) -> None:
    world = server_readiness
    log = written_log(world, "c-drop", 6)
    last = log.records()[-1]["sha256"]
    drop_last(log.path, 2)

    shown = world.irctl("case", "show", "c-drop")
    as_json = world.irctl("--output", "json", "case", "show", "c-drop")

    assert shown.returncode == 1
    assert_clean_refusal(shown, "hash chain BROKEN", "records 4-5 are missing",
                         f"says seq 5 sha256 {last[:12]}", "the log ends at seq 3")
    assert as_json.returncode == 1
    document = json.loads(as_json.stdout)
    assert document["chainVerified"] is False
    assert document["problem"].startswith("records 4-5 are missing")
    assert [r["seq"] for r in document["records"]] == [0, 1, 2, 3]


def test_case_show_from_evidence_names_the_records_dropped_from_the_bucket_copy(
        server_readiness: Readiness) -> None:
    world = server_readiness
    s3, bucket = world.client("s3"), world.manifest["evidenceBucket"]
    log = written_log(world, "c-remote", 5)
    key = log.upload(s3, bucket)
    metadata = s3.head_object(Bucket=bucket, Key=key)["Metadata"]
    whole = log.path.read_bytes()
    shortened = b"".join(whole.splitlines(keepends=True)[:3])

    # dropped from the copy, its metadata kept: the metadata names the missing records
    s3.put_object(Bucket=bucket, Key=key, Body=shortened, Metadata=metadata)
    kept = world.irctl("case", "show", "c-remote", "--from-evidence")
    assert kept.returncode == 1
    assert_clean_refusal(kept, "records 3-4 are missing", "chain-head metadata says seq 4")

    # metadata forged to match: the earlier version (immutable under Object Lock) is longer
    forged = AuditLog("c-remote", root=world.case_dir / "forged")
    forged.directory.mkdir(parents=True)
    forged.path.write_bytes(shortened)
    forged.upload(s3, bucket)
    versions = world.irctl("--output", "json", "case", "show", "c-remote", "--from-evidence")
    assert versions.returncode == 1
    problems = json.loads(versions.stdout)["problems"]
    assert any("shorter than its earlier version" in p and "up to seq 4" in p
               for p in problems), problems

    # the copy deleted (a delete marker): said so, not "no such case"
    s3.delete_object(Bucket=bucket, Key=key)
    deleted = world.irctl("case", "show", "c-remote", "--from-evidence")
    assert deleted.returncode == 1
    assert_clean_refusal(deleted, "was deleted")


def test_case_show_from_evidence_names_records_missing_from_the_local_log(
        server_readiness: Readiness) -> None:
    world = server_readiness
    log = written_log(world, "c-local", 5)
    log.upload(world.client("s3"), world.manifest["evidenceBucket"])
    drop_last(log.path, 2)
    log.head_path.unlink()  # the local head record went with them

    alone = world.irctl("case", "show", "c-local")
    against = world.irctl("case", "show", "c-local", "--from-evidence")

    assert alone.returncode == 0  # nothing local left to tell: the bucket copy does
    assert against.returncode == 1
    assert_clean_refusal(against, "DOES NOT match",
                         "records 3-4 are in the evidence bucket copy but missing")


DAMAGE = {
    "non-object line": (b'"just a string"\n', "line 4 is a JSON str, not a record"),
    "partial last line": (b'{"seq": 3, "event": "appl', "line 4 is incomplete"),
    "invalid utf-8": (b'{"event": "caf\xe9"}\n', "line 4 is not valid UTF-8"),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_log_gets_a_clear_message_from_every_command(
        server_readiness: Readiness, damage: str) -> None:
    world = server_readiness
    log = written_log(world, "c-damaged", 3)
    raw, message = DAMAGE[damage]
    with log.path.open("ab") as handle:
        handle.write(raw)

    shown = world.irctl("case", "show", "c-damaged")
    released = world.irctl("release", "instance", "i-1", "--case", "c-damaged", "--apply")
    verified = world.irctl("verify", "case", "c-damaged")
    appended = world.irctl("contain", "instance", "i-0123456789abcdef0", "--case", "c-damaged")

    assert shown.returncode == 1
    assert_clean_refusal(shown, message, "unreadable")
    for refused in (released, verified, appended):
        assert refused.returncode == 2, refused.stderr + refused.stdout
        assert_clean_refusal(refused, message)
    if damage == "partial last line":
        assert "irctl case repair c-damaged" in released.stderr


def test_case_repair_sets_the_incomplete_line_aside_then_commands_proceed(
        server_readiness: Readiness) -> None:
    world = server_readiness
    log = written_log(world, "c-repair", 2)
    with log.path.open("ab") as handle:
        handle.write(b'{"seq": 2, "event": "appl')

    planned = world.irctl("case", "repair", "c-repair")
    assert planned.returncode == 0 and "line 3 is incomplete" in planned.stdout
    assert log.path.read_bytes().endswith(b'"appl')  # plan only
    repaired = world.irctl("case", "repair", "c-repair", "--apply")
    assert repaired.returncode == 0, repaired.stderr
    assert "recorded as seq 2" in repaired.stdout

    shown = world.irctl("--output", "json", "case", "show", "c-repair")
    assert shown.returncode == 0, shown.stdout
    assert [r["event"] for r in json.loads(shown.stdout)["records"]][-1] == "repaired"


def test_contain_refuses_to_append_to_a_broken_chain_and_changes_nothing(
        server_readiness: Readiness) -> None:
    world = server_readiness
    contained(world, "c-contain")
    drop_last(log_path(world, "c-contain"), 2)
    [other] = launch_instances(world, 1)
    before = eni_groups(world, other)

    result = world.irctl("contain", "instance", other, "--apply", "--case", "c-contain")

    assert result.returncode == 2
    assert_clean_refusal(result, "refusing to append", "are missing")
    assert eni_groups(world, other) == before
    tags = world.client("ec2").describe_tags(Filters=[
        {"Name": "resource-id", "Values": [other]}])["Tags"]
    assert not any(t["Key"] == "ir:case" for t in tags)


def test_release_refuses_a_log_that_lost_its_last_records(
        server_readiness: Readiness) -> None:
    world = server_readiness
    iid, _, isolation = contained(world, "c-release")
    drop_last(log_path(world, "c-release"), 3)

    result = world.irctl("release", "instance", iid, "--case", "c-release", "--apply")

    assert result.returncode == 2
    assert_clean_refusal(result, "refusing to act on case c-release", "missing")
    assert eni_groups(world, iid) == [[isolation]]


def rehash_from(lines: list[bytes], index: int, edit: dict[str, object]) -> list[bytes]:
    """Edit record `index` and re-hash the chain after it, as a careful forger would."""
    out = list(lines[:index])
    prev = json.loads(out[-1])["sha256"] if out else "0" * 64
    for n, raw in enumerate(lines[index:]):
        record = json.loads(raw)
        if n == 0:
            record["change"] = {**record["change"], **edit}
        record["prev"] = prev
        body = {k: v for k, v in record.items() if k != "sha256"}
        record["sha256"] = prev = hashlib.sha256(json.dumps(
            body, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()
        out.append(json.dumps(record, sort_keys=True, separators=(",", ":")).encode() + b"\n")
    return out


def test_release_refuses_a_before_state_edited_to_the_conversion_group(
        server_readiness: Readiness) -> None:
    world = server_readiness
    iid, _, isolation = contained(world, "c-forged")
    conversion = world.manifest["quarantine"][world.vpc_id]["conversionSecurityGroupId"]
    path = log_path(world, "c-forged")
    lines = path.read_bytes().splitlines(keepends=True)
    index = next(n for n, raw in enumerate(lines)
                 if json.loads(raw)["event"] == "applied"
                 and json.loads(raw)["step"] == "ec2.isolate")
    before = json.loads(lines[index])["change"]["before"]
    forged = rehash_from(lines, index, {"before": {**before, "groups": [conversion]}})
    path.write_bytes(b"".join(forged))
    last = json.loads(forged[-1])
    (path.parent / "chain-head.json").write_text(json.dumps(
        {"seq": last["seq"], "sha256": last["sha256"]}))
    assert AuditLog("c-forged", root=world.case_dir).verify().ok  # locally consistent

    result = world.irctl("release", "instance", iid, "--case", "c-forged", "--apply")
    checked = world.irctl("verify", "case", "c-forged")

    assert result.returncode == 2
    assert_clean_refusal(result, f"record {index} differs between the local log")
    assert eni_groups(world, iid) == [[isolation]]
    assert checked.returncode == 2
    assert_clean_refusal(checked, f"record {index} differs between the local log")


def test_release_proceeds_when_the_local_log_is_ahead_of_the_bucket_copy(
        server_readiness: Readiness) -> None:
    """Plan runs are not copied: a local log longer than the copy is whole, not tampered."""
    world = server_readiness
    iid, original, _ = contained(world, "c-ahead")
    planned = world.irctl("contain", "instance", iid, "--case", "c-ahead")
    assert planned.returncode == 0

    result = world.irctl("release", "instance", iid, "--case", "c-ahead", "--apply")

    assert result.returncode == 0, result.stderr + result.stdout
    assert eni_groups(world, iid) == original
    checked = world.irctl("verify", "case", "c-ahead")
    assert "refusing" not in checked.stderr


def test_release_without_permission_to_read_the_copy_s_versions_says_which(
        fault_readiness: Readiness) -> None:
    world = fault_readiness
    iid, _, isolation = contained(world, "c-denied")
    world.faults.deny("ListObjectVersions")

    result = world.irctl("release", "instance", iid, "--case", "c-denied", "--apply")

    assert result.returncode == 2
    assert_clean_refusal(result, "s3:ListBucketVersions", "s3:GetObjectVersion")
    assert eni_groups(world, iid) == [[isolation]]
