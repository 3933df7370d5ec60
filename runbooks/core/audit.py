"""The append-only, hash-chained audit log of one case, and the checks that it is whole.

One JSON object per line in `<case dir>/audit.jsonl` (case dir: `$IR_CASE_DIR/<case>`,
default `~/.ir-cases/<case>`). Every record carries `seq`, `time`, `case`, `event`,
`prev` (the previous record's `sha256`, 64 zeros for the first) and `sha256` (of the
record's canonical JSON without `sha256`), so editing, dropping or reordering a line
breaks the chain. Appends are serialised across threads and processes (flock), and
each returns only once its record is on disk (fsync, shared by concurrent appends).

A chain alone cannot show that records were dropped from its *end*, so two head records
live outside the log: `<case dir>/chain-head.json` (the last record's seq and sha256,
replaced atomically once the record is on disk) and the `chain-head`/`chain-seq`
metadata of every copy `upload()` puts in the evidence bucket, whose earlier versions
Object Lock keeps. `AuditLog.check()` compares the log with both; `append()` refuses to
extend a log whose chain is already broken (verifying it once per `AuditLog`, then only
what other writers added since). A damaged log (a line that is not a JSON object, an
unterminated last line, invalid UTF-8) is reported by line number as an `IrError`.

Every record names who made it: `operator` (`{"arn": ..., "account": ...}`, the caller
identity `sts:GetCallerIdentity` returned when the session opened, `AuditLog.operator`).
A record written before records carried it reads as "unknown" (`operator_of()`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from runbooks.core.errors import InvalidInput, IrError, PreconditionFailed

GENESIS = "0" * 64
CASE_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
HEAD_FILE = "chain-head.json"


class ChainBroken(PreconditionFailed):
    """The case's audit log is damaged, edited or truncated: nothing may act on it (exit 2)."""


class AuditWriteFailed(IrError):
    """The audit log could not be written (disk full, permissions): the run stops."""


def validate_case_id(case_id: str) -> str:
    if not CASE_ID_PATTERN.fullmatch(case_id):  # `$` would admit a trailing newline
        raise InvalidInput(
            f"case id {case_id!r} is invalid: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return case_id


def new_case_id(now: datetime | None = None) -> str:
    """A sortable, unique case id such as `ir-20261128-033000-1a2b3c`."""
    import secrets

    now = now or datetime.now(timezone.utc)
    return f"ir-{now:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def case_root() -> Path:
    configured = os.environ.get("IR_CASE_DIR")
    return Path(configured) if configured else Path.home() / ".ir-cases"


def evidence_key(case_id: str) -> str:
    """Where `upload()` copies a case's log in the evidence bucket."""
    return f"cases/{case_id}/audit.jsonl"


UNKNOWN_OPERATOR = "unknown"


def operator_of(record: dict[str, Any]) -> dict[str, str]:
    """Who made `record`: its operator's ARN and account, "unknown" for a record written
    before records carried one (or by a command that opened no AWS session)."""
    operator = record.get("operator")
    if not isinstance(operator, dict):
        return {"arn": UNKNOWN_OPERATOR, "account": UNKNOWN_OPERATOR}
    return {"arn": str(operator.get("arn") or UNKNOWN_OPERATOR),
            "account": str(operator.get("account") or UNKNOWN_OPERATOR)}


def _digest(record: dict[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k != "sha256"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _short(sha: str) -> str:
    return f"{sha[:12]}..."


def _seq_range(first: int, last: int) -> str:
    return f"record {first} is" if first == last else f"records {first}-{last} are"


@dataclass(frozen=True)
class Head:
    """A record's place in the chain: what the head file and the bucket metadata hold."""

    seq: int
    sha256: str


@dataclass
class Scan:
    """A log's bytes read leniently: every line as a record (damaged ones as `unreadable`
    placeholders, so a timeline can still be shown) and the first problem found."""

    records: list[dict[str, Any]] = field(default_factory=list)
    verified: list[dict[str, Any]] = field(default_factory=list)
    """The records before the first problem: a chain that verifies."""
    problem: str | None = None
    """The first damaged, edited, missing or misplaced record, by line number."""
    damage: str | None = None
    """The first line that is not a record at all (not UTF-8, not JSON, not an object)."""
    partial: bytes = b""
    """Bytes after the last newline: a record whose write never finished."""
    partial_line: int = 0
    good_size: int = 0
    """Bytes up to the end of the last verified record's line."""

    @property
    def last(self) -> Head | None:
        if not self.verified:
            return None
        return Head(self.verified[-1]["seq"], self.verified[-1]["sha256"])

    @property
    def ok(self) -> bool:
        return self.problem is None and not self.partial

    @property
    def first_problem(self) -> str | None:
        if self.problem is not None:
            return self.problem
        if self.partial:
            return (f"line {self.partial_line} is incomplete: its {len(self.partial)} bytes "
                    "end without a newline (the process writing it was killed, or the disk "
                    "filled, before the record was whole)")
        return None


def scan_bytes(data: bytes) -> Scan:
    """Parse and verify a log: hashes, sequence numbers and links, line by line. Line N of
    a whole log holds seq N-1 (append never writes an empty line)."""
    scan = Scan()
    *lines, tail = data.split(b"\n")
    offset = 0
    prev, expected = GENESIS, 0
    for number, raw in enumerate(lines, start=1):
        offset += len(raw) + 1
        record, damage = _parse_line(raw, number)
        if record is None:
            scan.records.append({"seq": None, "event": "unreadable", "line": number})
            scan.damage = scan.damage or damage
            scan.problem = scan.problem or damage
            continue
        scan.records.append(record)
        if scan.problem is not None:
            continue
        problem = _link_problem(record, number, prev, expected)
        if problem is not None:
            scan.problem = problem
            continue
        scan.verified.append(record)
        scan.good_size = offset
        prev, expected = record["sha256"], expected + 1
    if tail:
        scan.partial, scan.partial_line = tail, len(lines) + 1
        scan.records.append({"seq": None, "event": "unreadable", "line": len(lines) + 1})
    return scan


def _parse_line(raw: bytes, number: int) -> tuple[dict[str, Any] | None, str]:
    if not raw.strip():
        return None, f"line {number} is empty (appends never write an empty line)"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        return None, f"line {number} is not valid UTF-8 (byte {err.start + 1} of the line)"
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        return None, f"line {number} is not JSON ({err.msg} at column {err.colno})"
    if not isinstance(value, dict):
        return None, f"line {number} is a JSON {type(value).__name__}, not a record (object)"
    return value, ""


def _link_problem(record: dict[str, Any], number: int, prev: str,
                  expected: int) -> str | None:
    seq = record.get("seq")
    if record.get("sha256") != _digest(record):
        return (f"line {number} (seq {seq}) was modified: its sha256 does not match its "
                "content")
    if not isinstance(seq, int) or isinstance(seq, bool):
        return f"line {number} has no integer seq ({seq!r})"
    if seq > expected:
        return (f"{_seq_range(expected, seq - 1)} missing: line {number} has seq {seq}, "
                f"the record before it seq {expected - 1}")
    if seq != expected:
        return f"line {number} has seq {seq}, expected {expected} (records reordered or repeated)"
    if record.get("prev") != prev:
        return (f"line {number} (seq {seq}) does not link to the record before it: a record "
                "was replaced, or the chain was re-hashed from there")
    return None


def compare_head(scan: Scan, head: Head, holder: str, log: str) -> str | None:
    """Does the verified chain hold the record `holder` (head file, bucket metadata) names?"""
    last = scan.last
    if last is None or head.seq > last.seq:
        first = 0 if last is None else last.seq + 1
        ends = "is empty" if last is None else f"ends at seq {last.seq}"
        return (f"{_seq_range(first, head.seq)} missing: {holder} says seq {head.seq} sha256 "
                f"{_short(head.sha256)}, {log} {ends}")
    found = scan.verified[head.seq]["sha256"]
    if found != head.sha256:
        return (f"record {head.seq} is not the one {holder} names (sha256 "
                f"{_short(head.sha256)} there, {_short(found)} in {log}): the log was "
                f"rewritten at or before seq {head.seq}")
    return None


def compare_copies(local: Scan, remote: Scan, local_name: str) -> tuple[str | None, str]:
    """The bucket copy must be a prefix of the local log: (problem, note)."""
    mine, theirs = local.verified, remote.verified
    for seq in range(min(len(mine), len(theirs))):
        if mine[seq]["sha256"] != theirs[seq]["sha256"]:
            return (f"record {seq} differs between {local_name} (sha256 "
                    f"{_short(mine[seq]['sha256'])}) and the evidence bucket copy "
                    f"({_short(theirs[seq]['sha256'])})", "")
    if len(theirs) > len(mine):
        return (f"{_seq_range(len(mine), len(theirs) - 1)} in the evidence bucket copy but "
                f"missing from {local_name}, which ends at seq {len(mine) - 1}", "")
    if len(mine) > len(theirs):
        return None, (f"{local_name} has records {len(theirs)}-{len(mine) - 1} beyond the "
                      "bucket copy (plan runs, and runs whose upload failed, are copied by "
                      "the next --apply run)")
    return None, f"{local_name} and the evidence bucket copy hold the same {len(mine)} records"


@dataclass
class ChainReport:
    """The outcome of `AuditLog.check()`: problems mean nothing may act on the case."""

    case_id: str
    records: int
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    repairable: bool = False
    """The only problem is an unterminated last line (`irctl case repair`)."""
    scan: Scan = field(default_factory=Scan)
    """The local log as read for the check (its records, damaged lines as placeholders)."""

    @property
    def ok(self) -> bool:
        return not self.problems

    def advice(self) -> str:
        if self.repairable:
            return (f"set the incomplete line aside with `irctl case repair {self.case_id}` "
                    "(recorded in the log), then check what the interrupted run left with "
                    f"`irctl verify case {self.case_id}`")
        return (f"compare the local log with the evidence bucket's locked copy (`irctl case "
                f"show {self.case_id} --from-evidence`) and restore the log from there, or "
                "continue in a new case")


@dataclass
class EvidenceCopy:
    """The latest copy of a case's log in the evidence bucket, checked on its own."""

    location: str
    scan: Scan | None = None
    """None: there is no copy (no --apply run of the case copied it yet)."""
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def read_evidence_copy(s3: Any, bucket: str, case_id: str) -> EvidenceCopy:
    """The bucket copy's latest version, checked against its own `chain-head` metadata and
    against the copy's earlier versions (immutable under Object Lock): the log only grows,
    so a latest version smaller than an earlier one lost records."""
    from botocore.exceptions import ClientError

    key = evidence_key(case_id)
    copy = EvidenceCopy(f"s3://{bucket}/{key}")
    versions, markers = [], []
    try:
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket,
                                                                       Prefix=key):
            versions += [v for v in page.get("Versions", []) if v["Key"] == key]
            markers += [m for m in page.get("DeleteMarkers", []) if m["Key"] == key]
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") not in ("AccessDenied", "403"):
            raise
        raise PreconditionFailed(
            f"cannot check the audit log's copy {copy.location}: ListObjectVersions was "
            "denied; the responder role needs s3:ListBucketVersions and s3:GetObjectVersion "
            "on the evidence bucket (`pulumi up` the readiness stack to grant them)") from err
    latest = next((v for v in versions if v.get("IsLatest")), None)
    if latest is None:
        if versions or markers:
            copy.problems.append(
                f"the bucket copy {copy.location} was deleted (a delete marker hides it); "
                f"its {len(versions)} earlier version(s) remain under Object Lock")
        return copy
    try:
        obj = s3.get_object(Bucket=bucket, Key=key, VersionId=latest["VersionId"])
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") != "InvalidObjectState":
            raise
        raise PreconditionFailed(
            f"the audit log's copy {copy.location} (version {latest['VersionId']}) is "
            f"archived in {latest.get('StorageClass', 'Glacier')} and cannot be read until "
            f"restored: aws s3api restore-object --bucket {bucket} --key {key} "
            f"--version-id {latest['VersionId']} --restore-request Days=7, then run this "
            "again when the restore completes (minutes to hours)") from err
    copy.scan = scan_bytes(obj["Body"].read())
    problem = copy.scan.first_problem
    if problem is not None:
        copy.problems.append(f"in the bucket copy: {problem}")
    metadata = obj.get("Metadata", {})
    if "chain-head" in metadata:
        seq = metadata.get("chain-seq")
        if seq is not None and seq.isdigit():
            head_problem = compare_head(copy.scan, Head(int(seq), metadata["chain-head"]),
                                        "its chain-head metadata", "the bucket copy")
        elif copy.scan.last is None or copy.scan.last.sha256 != metadata["chain-head"]:
            # uploaded before chain-seq existed: the last record must be the head
            head_problem = (f"the bucket copy's last record is not its chain-head metadata "
                            f"({_short(metadata['chain-head'])}): its last records were "
                            "dropped or edited")
        else:
            head_problem = None
        if head_problem is not None:
            copy.problems.append(head_problem)
    longer = [v for v in versions if v["Size"] > latest["Size"]]
    if longer:
        widest = max(longer, key=lambda v: v["Size"])
        earlier = s3.head_object(Bucket=bucket, Key=key, VersionId=widest["VersionId"])
        seq = earlier.get("Metadata", {}).get("chain-seq")
        held = f"up to seq {seq}" if seq else f"{widest['Size']} bytes"
        copy.problems.append(
            f"the latest bucket copy ({latest['Size']} bytes) is shorter than its earlier "
            f"version {widest['VersionId']} of {widest['LastModified']} ({held}): records "
            "were dropped from the copy after they were uploaded")
    return copy


@dataclass(frozen=True)
class Verification:
    ok: bool
    records: int
    problem: str | None = None


@dataclass(frozen=True)
class _Tail:
    """The end of the log as this process last verified or wrote it."""

    size: int
    seq: int
    sha256: str
    line: bytes


class AuditLog:
    """Append-only JSONL log of a case; safe to share between threads."""

    def __init__(self, case_id: str, root: Path | None = None) -> None:
        self.case_id = validate_case_id(case_id)
        self.directory = (root or case_root()) / case_id
        self.path = self.directory / "audit.jsonl"
        self.head_path = self.directory / HEAD_FILE
        self._lock = threading.Lock()
        self._sync_lock = threading.Lock()
        self._written = 0
        self._synced = 0
        self._tail: _Tail | None = None
        """What this instance last verified or wrote; None until its first append."""
        self._written_tail: _Tail | None = None
        self.operator: dict[str, str] | None = None
        """The caller identity every record names (`set_operator`, at session start)."""

    def set_operator(self, arn: str, account: str) -> None:
        """Name the caller (`sts:GetCallerIdentity`) in every record appended from now."""
        self.operator = {"arn": arn, "account": account}

    def exists(self) -> bool:
        return self.path.exists()

    # -- writing ----------------------------------------------------------------------

    def append(self, event: str, **data: Any) -> dict[str, Any]:
        """Append one record and return it (with its hash). Raises `ChainBroken` when the
        log's chain is already broken: nothing is appended to a damaged or edited log."""
        import fcntl

        with self._lock:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                tail = self._verified_tail(fd)
                record: dict[str, Any] = {
                    "seq": tail.seq + 1 if tail else 0,
                    "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                    "case": self.case_id,
                    "event": event,
                    **({"operator": dict(self.operator)} if self.operator else {}),
                    **data,
                    "prev": tail.sha256 if tail else GENESIS,
                }
                record["sha256"] = _digest(record)
                line = (json.dumps(record, sort_keys=True, separators=(",", ":"), default=str)
                        + "\n").encode("utf-8")
                size = tail.size if tail else 0
                self._write_line(fd, line, size)
                self._tail = _Tail(size + len(line), record["seq"], record["sha256"], line)
                self._written += 1
                self._written_tail = self._tail
                ticket = self._written
            finally:
                os.close(fd)  # also releases the flock
        self._sync(ticket)
        return record

    def _write_line(self, fd: int, line: bytes, size: int) -> None:
        view = memoryview(line)
        try:
            while view:
                view = view[os.write(fd, view):]
        except OSError as err:
            # Never leave half a record behind (the next append would refuse the log).
            os.ftruncate(fd, size)
            raise AuditWriteFailed(f"could not write to the audit log {self.path}: {err}; "
                                   "nothing was recorded and the run stops here") from err

    def _verified_tail(self, fd: int) -> _Tail | None:
        """The log's last record, known to chain. Verifies the whole log (and the head
        record) on this instance's first append; after that only what other writers
        appended since this instance's last record, which must still be where it was.
        The flock is held, so no one is writing."""
        size = os.fstat(fd).st_size
        known = self._tail
        if known is not None and size >= known.size and os.pread(
                fd, len(known.line), known.size - len(known.line)) == known.line:
            return known if size == known.size else self._extend(fd, known, size)
        data = os.pread(fd, size, 0) if size else b""
        scan = scan_bytes(data)
        report = self._check_local(scan, self.read_head())
        if known is not None and report.ok:
            # This instance wrote or verified `known`: the log lost it since.
            report.problems.append(
                compare_head(scan, Head(known.seq, known.sha256), "this run's own record",
                             "the log")
                or f"the log was rewritten while this run was appending to it (seq "
                   f"{known.seq} is no longer where this run wrote it)")
        if not report.ok:
            raise ChainBroken(f"refusing to append to the audit log {self.path}: "
                              f"{report.problems[0]}; {report.advice()}")
        if not scan.verified:
            return None
        last = scan.verified[-1]
        line = data[:scan.good_size].rstrip(b"\n").rsplit(b"\n", 1)[-1] + b"\n"
        return _Tail(scan.good_size, last["seq"], last["sha256"], line)

    def _extend(self, fd: int, known: _Tail, size: int) -> _Tail:
        """Verify the lines other writers appended after `known`, chaining on from it."""
        *lines, partial = os.pread(fd, size - known.size, known.size).split(b"\n")
        tail = known
        for raw in lines:
            number = tail.seq + 2  # line N holds seq N-1
            record, problem = _parse_line(raw, number)
            if record is not None:
                problem = _link_problem(record, number, tail.sha256, tail.seq + 1) or ""
            if record is None or problem:
                raise ChainBroken(f"refusing to append to the audit log {self.path}: "
                                  f"{problem}; {ChainReport(self.case_id, 0).advice()}")
            tail = _Tail(tail.size + len(raw) + 1, record["seq"], record["sha256"],
                         raw + b"\n")
        if partial:
            report = ChainReport(self.case_id, 0, repairable=True)
            raise ChainBroken(f"refusing to append to the audit log {self.path}: line "
                              f"{tail.seq + 2} is incomplete: its {len(partial)} bytes end "
                              f"without a newline; {report.advice()}")
        return tail

    def _sync(self, ticket: int) -> None:
        """Return once record `ticket` is on disk, then record it as the head. Group commit:
        one fsync covers every record written before it, so concurrent appends share
        fsyncs instead of queueing. The head file is replaced only after the records it
        names are on disk, so a crash can leave it behind the log, never ahead of it."""
        with self._sync_lock:
            if self._synced >= ticket:
                return
            with self._lock:
                covered, tail = self._written, self._written_tail
            fd = os.open(self.path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            if tail is not None:
                self._write_head(tail)
            self._synced = covered

    def _write_head(self, tail: _Tail) -> None:
        payload = json.dumps({
            "case": self.case_id, "seq": tail.seq, "sha256": tail.sha256,
            "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
        }, sort_keys=True).encode("utf-8")
        # Not fsynced: it would cost more than the record's own fsync, on the hot path of a
        # mass containment. The records it names are already on disk, so a crash can only
        # leave it behind the log or (renamed before its data was written) empty, which
        # `read_head` takes as absent; never ahead of the log.
        fd, temp = tempfile.mkstemp(dir=self.directory, prefix=".chain-head.", suffix=".tmp")
        try:
            try:
                os.write(fd, payload)
            finally:
                os.close(fd)
            os.replace(temp, self.head_path)
        except OSError as err:
            Path(temp).unlink(missing_ok=True)
            raise AuditWriteFailed(f"could not write {self.head_path}: {err} (the record "
                                   f"seq {tail.seq} is in {self.path})") from err

    def repair(self, actor: str) -> dict[str, Any]:
        """Set aside an unterminated last line (a record whose write never finished) and
        record that, with the removed bytes, as a `repaired` record. Nothing else is
        repairable: an edited or truncated chain is restored from the evidence bucket."""
        import base64
        import fcntl

        with self._lock:
            fd = os.open(self.path, os.O_RDWR)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                data = os.pread(fd, os.fstat(fd).st_size, 0)
                scan = scan_bytes(data)
                report = self._check_local(scan, self.read_head())
                if not scan.partial:
                    if report.ok:
                        raise InvalidInput(f"the audit log {self.path} is whole: nothing to "
                                           "repair")
                    raise ChainBroken(f"cannot repair {self.path}: {report.problems[0]}; only "
                                      "an incomplete last line can be repaired. "
                                      f"{report.advice()}")
                if not report.repairable:
                    raise ChainBroken(f"cannot repair {self.path}: {report.problems[0]}; "
                                      f"{report.advice()}")
                os.ftruncate(fd, len(data) - len(scan.partial))
                os.fsync(fd)
                self._tail = None  # re-verified by the append below
            finally:
                os.close(fd)
        return self.append(
            "repaired", actor=actor, line=scan.partial_line,
            removedBytes=len(scan.partial),
            removedSha256=hashlib.sha256(scan.partial).hexdigest(),
            removed=base64.b64encode(scan.partial).decode("ascii"),
            note="an unterminated last line (a write that never finished) was set aside; "
                 "what the interrupted run did is in AWS, not in this log: verify the case")

    # -- reading ----------------------------------------------------------------------

    def read_head(self) -> tuple[Head | None, str | None]:
        """The head file's record, or a problem when it exists but is not a valid head."""
        try:
            raw = self.head_path.read_bytes()
        except FileNotFoundError:
            return None, None
        if not raw:
            return None, None  # a crash between its rename and its data reaching the disk
        try:
            value = json.loads(raw.decode("utf-8"))
            head = Head(value["seq"], value["sha256"])
            if not isinstance(head.seq, int) or head.seq < 0 or not isinstance(
                    head.sha256, str):
                raise TypeError(head)
        except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as err:
            return None, (f"the head record {self.head_path} is unreadable ({err!r}); it is "
                          "only ever written whole (temp file, rename)")
        return head, None

    def _read(self) -> bytes:
        """The log's bytes, read under a shared flock (never half a concurrent append)."""
        import fcntl

        fd = os.open(self.path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            return os.pread(fd, os.fstat(fd).st_size, 0)
        finally:
            os.close(fd)

    def scan(self) -> Scan:
        """The log read leniently (for showing a damaged log): see `check()` for problems."""
        return scan_bytes(self._read()) if self.exists() else Scan()

    def _check_local(self, scan: Scan, head: tuple[Head | None, str | None]) -> ChainReport:
        """The chain of `scan`, and the head record (`read_head()`) against it."""
        report = ChainReport(self.case_id, len(scan.verified), scan=scan)
        problem = scan.first_problem
        if problem is not None:
            report.problems.append(problem)
            report.repairable = scan.problem is None
        head_record, head_problem = head
        if head_problem is not None:
            report.problems.append(head_problem)
            report.repairable = False
        elif head_record is not None:
            mismatch = compare_head(scan, head_record, f"the head record {self.head_path}",
                                    "the log")
            if mismatch is not None:
                report.problems.append(mismatch)
                report.repairable = False
        elif scan.verified:
            report.notes.append(f"no head record {self.head_path} (a log copied from the "
                                "evidence bucket, or written before head records existed)")
        return report

    def check(self, s3: Any = None, bucket: str | None = None) -> ChainReport:
        """Is the case's log whole? Its chain, its head record and, given the evidence
        bucket, the bucket copy (checked on its own, and as a prefix of the local log)."""
        head = self.read_head()  # before the log: a head never names a record not yet read
        scan = self.scan()
        report = self._check_local(scan, head)
        if s3 is not None and bucket is not None:
            copy = read_evidence_copy(s3, bucket, self.case_id)
            report.problems += copy.problems
            if copy.problems:
                report.repairable = False
            if copy.scan is None:
                if not copy.problems:
                    report.notes.append(f"no copy at {copy.location} yet")
            else:
                problem, note = compare_copies(scan, copy.scan, f"the local log {self.path}")
                if problem is not None:
                    report.problems.append(problem)
                    report.repairable = False
                elif note:
                    report.notes.append(note)
        return report

    def require_intact(self, s3: Any = None, bucket: str | None = None) -> ChainReport:
        """`check()`, raising `ChainBroken` (exit 2) when anything is wrong: called before
        acting on what the log recorded (release, verify case)."""
        if not self.exists():
            raise PreconditionFailed(f"no audit log for case {self.case_id} at {self.path}; "
                                     "set IR_CASE_DIR or check the id")
        report = self.check(s3, bucket)
        if not report.ok:
            raise ChainBroken(f"refusing to act on case {self.case_id}: its audit log is not "
                              f"whole: {'; '.join(report.problems)}. {report.advice()}")
        return report

    def seed_from_evidence(self, s3: Any, bucket: str) -> bool:
        """Start a case with no local log from its copy in the evidence bucket, so a run on
        another machine (a fresh Lambda sandbox retrying a failed containment) continues
        the case's chain instead of starting a second one that would overwrite the copy.
        True when seeded; False when there is a local log already or no copy yet. A copy
        that is not whole is refused (`ChainBroken`), as a broken local log is."""
        if self.exists():
            return False
        copy = read_evidence_copy(s3, bucket, self.case_id)
        if copy.problems:
            raise ChainBroken(f"refusing to continue case {self.case_id} from its copy in "
                              f"the evidence bucket: {'; '.join(copy.problems)}")
        if copy.scan is None or copy.scan.last is None:
            return False
        data = s3.get_object(Bucket=bucket, Key=evidence_key(self.case_id))["Body"].read()
        if not scan_bytes(data).ok:  # a newer copy than the one checked, and not whole
            raise ChainBroken(f"refusing to continue case {self.case_id} from its copy in "
                              "the evidence bucket: it changed while it was read and is "
                              "not whole; run again")
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return False  # another process of this machine started it meanwhile
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        return True

    def records(self) -> list[dict[str, Any]]:
        """Every record; `ChainBroken` naming the line when one is not a whole record."""
        if not self.path.exists():
            return []
        scan = scan_bytes(self._read())
        if scan.damage is not None or scan.partial:
            report = ChainReport(self.case_id, 0, repairable=scan.damage is None)
            damage = scan.damage if scan.damage is not None else scan.first_problem
            raise ChainBroken(f"the audit log {self.path} is damaged: {damage}; "
                              f"{report.advice()}")
        return scan.records

    def verify(self) -> Verification:
        """Check every record's hash and link, and the head record."""
        if not self.path.exists():
            return Verification(False, 0, f"no audit log at {self.path}")
        report = self.check()
        return Verification(report.ok, report.records,
                            report.problems[0] if report.problems else None)

    def head(self) -> str:
        """The sha256 of the last record (GENESIS when empty)."""
        last = self.scan().last
        return last.sha256 if last else GENESIS

    def upload(self, s3: Any, bucket: str, kms_key_arn: str | None = None) -> str:
        """Copy the log to `s3://bucket/cases/<case>/audit.jsonl`, with its last record's
        sha256 and seq as `chain-head`/`chain-seq` metadata; return the key."""
        key = evidence_key(self.case_id)
        extra: dict[str, Any] = {}
        if kms_key_arn:
            extra = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key_arn}
        import base64

        body = self._read()
        last = scan_bytes(body).last
        digest = hashlib.sha256(body).digest()
        # The same SHA-256 metadata and S3 checksum as every evidence object
        # (`runbooks.core.evidence_queue.put_evidence`): S3 refuses a copy that arrives
        # different. The copy is not listed in the log itself (the log cannot hold the
        # digest of its own bytes); its chain-head metadata ties it to the log.
        metadata = {"chain-head": last.sha256 if last else GENESIS, "sha256": digest.hex()}
        if last is not None:
            metadata["chain-seq"] = str(last.seq)
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=body,
            ContentType="application/x-ndjson",
            Metadata=metadata,
            ChecksumAlgorithm="SHA256",
            ChecksumSHA256=base64.b64encode(digest).decode("ascii"),
            **extra,
        )
        return key


REFUSAL_EVENTS = frozenset({"run-started", "planned", "plan-failed", "claim-refused",
                            "run-refused"})
"""What a run refused before any change records (`Runner.run`)."""


def discard_refused_case(log: AuditLog) -> bool:
    """Remove `log`'s case directory when all it holds is runs refused before any change,
    and return whether it did. For a case id irctl generated under --apply (no --case): a
    refusal changed nothing, and a directory would open a case no one asked for. Any
    other file there (a timeline, queued evidence), a record of anything attempted, or a
    log whose chain does not verify keeps it."""
    if not log.exists() or not log.verify().ok:
        return False
    kept = {log.path.name, log.head_path.name}
    if any(p.name not in kept for p in log.directory.iterdir()):
        return False
    events = {str(r.get("event")) for r in log.records()}
    if "run-refused" not in events or not events <= REFUSAL_EVENTS:
        return False
    for path in (log.path, log.head_path):
        path.unlink(missing_ok=True)
    log.directory.rmdir()
    return True
