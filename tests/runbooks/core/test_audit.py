"""The audit log: append-only, hash-chained, tamper-evident, safe under concurrency."""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from runbooks.core.audit import (
    GENESIS,
    AuditLog,
    AuditWriteFailed,
    ChainBroken,
    new_case_id,
    read_evidence_copy,
    validate_case_id,
)
from runbooks.core.errors import InvalidInput, PreconditionFailed


def test_records_chain_and_verify(tmp_path: Path) -> None:
    log = AuditLog("case-1", root=tmp_path)
    first = log.append("run-started", targets=["i-1"])
    second = log.append("applied", target="i-1", change={"summary": "x"})
    assert first["prev"] == GENESIS and second["prev"] == first["sha256"]
    assert [r["seq"] for r in log.records()] == [0, 1]
    assert log.verify().ok and log.verify().records == 2
    assert (tmp_path / "case-1" / "audit.jsonl").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("tamper", ["edit", "drop", "reorder", "truncate-tail-kept-chain"])
def test_tampering_is_detected(tmp_path: Path, tamper: str) -> None:
    log = AuditLog("case-2", root=tmp_path)
    for n in range(4):
        log.append("applied", n=n)
    lines = log.path.read_text().splitlines()
    if tamper == "edit":
        record = json.loads(lines[1])
        record["n"] = 99
        lines[1] = json.dumps(record)
    elif tamper == "drop":
        del lines[1]
    elif tamper == "reorder":
        lines[1], lines[2] = lines[2], lines[1]
    else:  # rewrite a record and re-hash it: the next link breaks
        import hashlib

        record = json.loads(lines[2])
        record["n"] = 42
        body = {k: v for k, v in record.items() if k != "sha256"}
        record["sha256"] = hashlib.sha256(json.dumps(
            body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
        lines[2] = json.dumps(record)
    log.path.write_text("\n".join(lines) + "\n")
    result = log.verify()
    assert not result.ok and result.problem


def test_concurrent_appends_keep_one_chain(tmp_path: Path) -> None:
    log = AuditLog("case-3", root=tmp_path)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: log.append("applied", n=n), range(200)))
    assert log.verify().ok and log.verify().records == 200
    # a second writer (another process would use a new instance) continues the chain
    AuditLog("case-3", root=tmp_path).append("released")
    assert log.verify().records == 201


def test_case_ids() -> None:
    assert validate_case_id(new_case_id()).startswith("ir-")
    for bad in ("../etc", "", "a b", "x" * 65):
        with pytest.raises(InvalidInput):
            validate_case_id(bad)


def _drop_last(log: AuditLog, count: int) -> None:
    lines = log.path.read_bytes().splitlines(keepends=True)
    log.path.write_bytes(b"".join(lines[:-count]))


def test_dropping_the_last_records_is_detected_and_named(tmp_path: Path) -> None:
    log = AuditLog("case-5", root=tmp_path)
    for n in range(5):
        log.append("applied", n=n)
    last = log.records()[-1]["sha256"]
    _drop_last(log, 2)

    result = log.verify()

    assert not result.ok and result.problem is not None
    assert result.problem.startswith("records 3-4 are missing")
    assert f"seq 4 sha256 {last[:12]}" in result.problem and "ends at seq 2" in result.problem


def test_append_refuses_a_log_whose_end_was_dropped(tmp_path: Path) -> None:
    log = AuditLog("case-6", root=tmp_path)
    for n in range(3):
        log.append("applied", n=n)
    _drop_last(log, 1)
    before = log.path.read_bytes()

    with pytest.raises(ChainBroken) as refused:
        AuditLog("case-6", root=tmp_path).append("run-started")

    assert refused.value.exit_code == 2
    assert "record 2 is missing" in str(refused.value)
    assert "--from-evidence" in str(refused.value)  # what to do
    assert log.path.read_bytes() == before


def test_a_running_log_notices_its_own_records_removed_without_the_head_file(
        tmp_path: Path) -> None:
    log = AuditLog("case-7", root=tmp_path)
    for n in range(3):
        log.append("applied", n=n)
    _drop_last(log, 1)
    log.head_path.unlink()  # whoever truncated also removed the head record

    with pytest.raises(ChainBroken, match="record 2 is missing: this run's own record"):
        log.append("applied", n=3)


def test_appends_of_other_writers_are_verified_and_continued(tmp_path: Path) -> None:
    first = AuditLog("case-8", root=tmp_path)
    second = AuditLog("case-8", root=tmp_path)
    first.append("run-started")
    for n in range(3):
        second.append("applied", n=n)
    assert first.append("run-finished")["seq"] == 4
    assert first.verify().ok and first.verify().records == 5

    with first.path.open("ab") as handle:  # a forged record between two of its appends
        handle.write(b'{"seq": 5, "event": "applied"}\n')
    with pytest.raises(ChainBroken, match=r"line 6 \(seq 5\) was modified"):
        first.append("run-started")


def _fork_appends(root: Path, count: int) -> None:
    log = AuditLog("case-9", root=root)
    for n in range(count):
        log.append("applied", n=n)


def test_processes_appending_together_keep_one_chain(tmp_path: Path) -> None:
    import multiprocessing

    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_fork_appends, args=(tmp_path, 60)) for _ in range(3)]
    for worker in workers:
        worker.start()
    _fork_appends(tmp_path, 60)
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    log = AuditLog("case-9", root=tmp_path)
    assert log.verify().ok and log.verify().records == 240
    head = json.loads(log.head_path.read_text())
    assert head["seq"] <= 239  # a lower bound: never ahead of the log


def test_a_head_record_behind_the_log_is_not_a_problem(tmp_path: Path) -> None:
    """A crash between a record's fsync and the head's replacement leaves the head behind."""
    log = AuditLog("case-10", root=tmp_path)
    log.append("run-started")
    stale = log.head_path.read_bytes()
    log.append("applied")
    log.head_path.write_bytes(stale)
    assert log.verify().ok
    log.head_path.write_bytes(b"")  # renamed into place before its data reached the disk
    assert log.verify().ok
    assert AuditLog("case-10", root=tmp_path).append("run-finished")["seq"] == 2


def test_an_edited_head_record_is_reported(tmp_path: Path) -> None:
    log = AuditLog("case-11", root=tmp_path)
    log.append("run-started")
    log.head_path.write_text("{not json")
    assert "head record" in str(log.verify().problem)


DAMAGE = {
    "non-object line": (b"[1, 2]\n", "line 2 is a JSON list, not a record"),
    "partial last line": (b'{"seq": 1, "time": "2026-', "line 2 is incomplete"),
    "invalid utf-8": (b'{"event": "\xff\xfe"}\n', "line 2 is not valid UTF-8"),
    "empty line": (b"\n", "line 2 is empty"),
    "not JSON": (b"{not json\n", "line 2 is not JSON"),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_log_is_an_error_naming_the_line_from_every_reader(
        tmp_path: Path, damage: str) -> None:
    log = AuditLog("case-12", root=tmp_path)
    log.append("run-started")
    raw, message = DAMAGE[damage]
    with log.path.open("ab") as handle:
        handle.write(raw)

    assert message in str(log.verify().problem)
    with pytest.raises(ChainBroken, match=message) as damaged:
        log.records()
    assert damaged.value.exit_code == 2
    with pytest.raises(ChainBroken, match=message):
        AuditLog("case-12", root=tmp_path).append("run-started")
    [shown] = [r for r in log.scan().records if r["event"] == "unreadable"]
    assert shown["line"] == 2


def test_repair_sets_an_incomplete_last_line_aside_and_records_it(tmp_path: Path) -> None:
    import base64

    log = AuditLog("case-13", root=tmp_path)
    log.append("run-started")
    partial = b'{"seq": 1, "event": "appl'
    with log.path.open("ab") as handle:
        handle.write(partial)
    assert log.check().repairable

    record = log.repair("alice")

    assert record["event"] == "repaired" and record["seq"] == 1 and record["actor"] == "alice"
    assert base64.b64decode(record["removed"]) == partial
    assert log.verify().ok and [r["event"] for r in log.records()] == ["run-started", "repaired"]
    assert log.append("run-started")["seq"] == 2


def test_repair_refuses_anything_but_an_incomplete_last_line(tmp_path: Path) -> None:
    log = AuditLog("case-14", root=tmp_path)
    for n in range(3):
        log.append("applied", n=n)
    _drop_last(log, 1)
    before = log.path.read_bytes()
    with pytest.raises(ChainBroken, match="record 2 is missing"):
        log.repair("alice")
    assert log.path.read_bytes() == before


def test_a_failed_write_leaves_no_half_record(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import errno
    import os

    log = AuditLog("case-15", root=tmp_path)
    log.append("run-started")
    before = log.path.read_bytes()
    real_write = os.write

    def disk_full(fd: int, data: bytes) -> int:
        real_write(fd, bytes(data)[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", disk_full)
    with pytest.raises(AuditWriteFailed, match="No space left"):
        log.append("applied")
    monkeypatch.undo()

    assert log.path.read_bytes() == before
    assert log.append("applied")["seq"] == 1 and log.verify().ok


def test_upload_records_the_head_in_the_copy_s_metadata(moto_aws: Any) -> None:
    s3 = moto_aws("s3")
    s3.create_bucket(Bucket="evidence")
    log = AuditLog("case-16")
    for n in range(3):
        log.append("applied", n=n)

    key = log.upload(s3, "evidence")

    metadata = s3.head_object(Bucket="evidence", Key=key)["Metadata"]
    assert metadata == {"chain-head": log.head(), "chain-seq": "2",
                        "sha256": hashlib.sha256(log.path.read_bytes()).hexdigest()}


def test_a_run_on_another_machine_continues_the_chain_from_the_bucket_copy(
        moto_aws: Any, tmp_path: Path) -> None:
    """A Lambda retry in a fresh sandbox (no local log) must continue the case's chain:
    starting a second chain would upload over the copy and read as records dropped."""
    s3 = moto_aws("s3")
    s3.create_bucket(Bucket="evidence")
    s3.put_bucket_versioning(Bucket="evidence", VersioningConfiguration={"Status": "Enabled"})
    first = AuditLog("case-seed", root=tmp_path / "sandbox-a")
    for n in range(3):
        first.append("applied", n=n)
    first.upload(s3, "evidence")

    fresh = AuditLog("case-seed", root=tmp_path / "sandbox-b")
    assert fresh.seed_from_evidence(s3, "evidence")
    assert fresh.append("applied", n=3)["seq"] == 3
    fresh.upload(s3, "evidence")

    assert fresh.check(s3, "evidence").ok, fresh.check(s3, "evidence").problems
    assert not fresh.seed_from_evidence(s3, "evidence")  # a local log already exists
    assert [r["seq"] for r in AuditLog("case-seed", root=tmp_path / "sandbox-b").records()] \
        == [0, 1, 2, 3]


def test_without_a_copy_there_is_nothing_to_seed_and_a_broken_copy_is_refused(
        moto_aws: Any, tmp_path: Path) -> None:
    s3 = moto_aws("s3")
    s3.create_bucket(Bucket="evidence")
    s3.put_bucket_versioning(Bucket="evidence", VersioningConfiguration={"Status": "Enabled"})
    assert not AuditLog("case-none", root=tmp_path / "x").seed_from_evidence(s3, "evidence")
    assert not (tmp_path / "x" / "case-none").exists()

    log = AuditLog("case-cut", root=tmp_path / "a")
    for n in range(3):
        log.append("applied", n=n)
    log.upload(s3, "evidence")
    lines = log.path.read_bytes().splitlines(keepends=True)
    s3.put_object(Bucket="evidence", Key="cases/case-cut/audit.jsonl", Body=b"".join(lines[:2]),
                  Metadata={"chain-head": log.head(), "chain-seq": "2"})
    with pytest.raises(ChainBroken):
        AuditLog("case-cut", root=tmp_path / "b").seed_from_evidence(s3, "evidence")
    assert not (tmp_path / "b" / "case-cut" / "audit.jsonl").exists()


def test_an_archived_bucket_copy_says_so_and_how_to_restore_it(moto_aws: Any) -> None:
    s3 = moto_aws("s3")
    s3.create_bucket(Bucket="evidence")
    s3.put_bucket_versioning(Bucket="evidence", VersioningConfiguration={"Status": "Enabled"})
    log = AuditLog("case-archived")
    log.append("applied", n=1)
    key = log.upload(s3, "evidence")
    # a bucket deployed before case logs were kept out of the Glacier transition
    s3.copy_object(Bucket="evidence", Key=key, CopySource={"Bucket": "evidence", "Key": key},
                   StorageClass="GLACIER", MetadataDirective="COPY")

    with pytest.raises(PreconditionFailed) as archived:
        read_evidence_copy(s3, "evidence", "case-archived")

    message = str(archived.value)
    assert f"s3://evidence/{key}" in message and "GLACIER" in message
    assert "restore-object" in message and "--version-id" in message
