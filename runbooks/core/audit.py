"""The append-only, hash-chained audit log of one case.

One JSON object per line in `<case dir>/audit.jsonl` (case dir: `$IR_CASE_DIR/<case>`,
default `~/.ir-cases/<case>`). Every record carries `seq`, `time`, `case`, `event`,
`prev` (the previous record's `sha256`, 64 zeros for the first) and `sha256` (of the
record's canonical JSON without `sha256`), so editing, dropping or reordering a line
breaks `verify()`. Appends are serialised across threads and processes (flock), and
each returns only once its record is on disk (fsync, shared by concurrent appends).
`upload()` copies the log to the evidence bucket under `cases/<case>/audit.jsonl`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from runbooks.core.errors import InvalidInput

GENESIS = "0" * 64
CASE_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


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


def _digest(record: dict[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k != "sha256"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Verification:
    ok: bool
    records: int
    problem: str | None = None


def parse_lines(lines: Iterable[str]) -> list[dict[str, Any]]:
    """Records of a log's lines; a line that is not JSON shows as an `unreadable` record."""
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            records.append({"seq": None, "event": "unreadable", "line": number})
    return records


def verify_lines(lines: Iterable[str]) -> Verification:
    """Check every record's hash, its sequence number and its link to the previous one."""
    prev = GENESIS
    count = 0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            return Verification(False, count, f"line {number} is not JSON")
        if not isinstance(record, dict):
            return Verification(False, count, f"line {number} is not a record")
        if record.get("prev") != prev:
            return Verification(False, count, f"line {number} does not link to the record "
                                "before it (a record was dropped, reordered or edited)")
        if record.get("sha256") != _digest(record):
            return Verification(False, count, f"line {number} was modified "
                                "(its sha256 does not match its content)")
        if record.get("seq") != count:
            return Verification(False, count, f"line {number} has seq {record.get('seq')}, "
                                f"expected {count}")
        prev = record["sha256"]
        count += 1
    return Verification(True, count)


class AuditLog:
    """Append-only JSONL log of a case; safe to share between threads."""

    def __init__(self, case_id: str, root: Path | None = None) -> None:
        self.case_id = validate_case_id(case_id)
        self.directory = (root or case_root()) / case_id
        self.path = self.directory / "audit.jsonl"
        self._lock = threading.Lock()
        self._sync_lock = threading.Lock()
        self._written = 0
        self._synced = 0

    def exists(self) -> bool:
        return self.path.exists()

    def append(self, event: str, **data: Any) -> dict[str, Any]:
        """Append one record and return it (with its hash)."""
        import fcntl

        with self._lock:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                last = self._last_record(fd)
                record: dict[str, Any] = {
                    "seq": (last["seq"] + 1) if last else 0,
                    "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                    "case": self.case_id,
                    "event": event,
                    **data,
                    "prev": last["sha256"] if last else GENESIS,
                }
                record["sha256"] = _digest(record)
                line = json.dumps(record, sort_keys=True, separators=(",", ":"), default=str)
                os.write(fd, (line + "\n").encode("utf-8"))
                self._written += 1
                ticket = self._written
            finally:
                os.close(fd)  # also releases the flock
        self._sync(ticket)
        return record

    def _sync(self, ticket: int) -> None:
        """Return once record `ticket` is on disk. Group commit: one fsync covers every
        record written before it, so concurrent appends share fsyncs instead of queueing."""
        with self._sync_lock:
            if self._synced >= ticket:
                return
            with self._lock:
                covered = self._written
            fd = os.open(self.path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            self._synced = covered

    @staticmethod
    def _last_record(fd: int) -> dict[str, Any] | None:
        size = os.lseek(fd, 0, os.SEEK_END)
        if size == 0:
            return None
        chunk = 4096
        data = b""
        pos = size
        while pos > 0:
            step = min(chunk, pos)
            pos -= step
            data = os.pread(fd, step, pos) + data
            lines = data.rstrip(b"\n").split(b"\n")
            if len(lines) > 1 or pos == 0:
                last: dict[str, Any] = json.loads(lines[-1])
                return last
        return None

    def records(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return parse_lines(self.path.read_text(encoding="utf-8").splitlines())

    def verify(self) -> Verification:
        """Check every record's hash and its link to the previous one."""
        if not self.path.exists():
            return Verification(False, 0, f"no audit log at {self.path}")
        return verify_lines(self.path.read_text(encoding="utf-8").splitlines())

    def head(self) -> str:
        """The sha256 of the last record (GENESIS when empty)."""
        records = self.records()
        return records[-1]["sha256"] if records else GENESIS

    def upload(self, s3: Any, bucket: str, kms_key_arn: str | None = None) -> str:
        """Copy the log to `s3://bucket/cases/<case>/audit.jsonl`; return the key."""
        key = f"cases/{self.case_id}/audit.jsonl"
        extra: dict[str, Any] = {}
        if kms_key_arn:
            extra = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key_arn}
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=self.path.read_bytes(),
            ContentType="application/x-ndjson",
            Metadata={"chain-head": self.head()},
            **extra,
        )
        return key
