"""Evidence writes that must not hold up containment, and the local queue behind them.

Every step that writes evidence to the evidence bucket calls `put_evidence()`. It tries
S3 with a short, bounded retry (`Context.evidence_client()`); when S3 refuses the write
(5xx, throttling, AccessDenied, a KMS or bucket problem) or does not answer in time, the
object is written to the case directory instead, `<case dir>/pending/<name>.body` with a
`<name>.json` beside it (bucket, key, the `put_object` arguments it was meant to have,
its SHA-256, size, when and why it was queued), both mode 0600, and the step carries on:
reading the instance cost nothing irreversible, and the network cut and the credential
cut that follow destroy no evidence. The runner records the queued object in the audit
log (`evidence-queued`, not `applied` alone) and reports it per object; the CLI exits 4.

`sync()` uploads what is queued (`irctl case sync CASE`, and every later `--apply` run of
the case after its changes), each object with the credentials of the account it was
captured in (a case may span accounts: `irctl --account ID case sync CASE`): an object
the bucket already holds with the same SHA-256 (object metadata `sha256`) is not sent
again, a body whose SHA-256 no longer matches its entry is refused (never uploaded as
evidence), each upload is recorded in the audit log (`evidence-uploaded`), and a sent
entry is removed from the queue.

The evidence chain (one place): `put_evidence()` is the only function that writes an
evidence object. It computes the SHA-256 of the bytes once, sends it as the object's
`sha256` metadata and as its S3 checksum (`ChecksumAlgorithm=SHA256` with
`ChecksumSHA256`, so S3 refuses a body that arrives different), and notes the object,
`{uri, versionId, sha256, size}` (`queued: true` and no version while it waits locally),
in the collector the runner opens around each `apply()` (`recording_evidence()`): the
runner stores them as the `evidence` field of that step's audit record (`applied`, or
`apply-failed` when it failed after writing). `sync()` records what it uploads the same
way (`evidence-uploaded`). `runbooks.core.evidence_chain` lists a case's objects from its
log and re-reads each one's checksum from S3.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runbooks.core.audit import case_root

if TYPE_CHECKING:
    from runbooks.core.audit import AuditLog
    from runbooks.core.context import Context

PENDING_DIR = "pending"
# What S3 answers when the evidence bucket is unavailable, overloaded, or refuses us for a
# reason the responder fixes later (a bucket or key policy, a disabled key): queue, go on.
QUEUEABLE_CODES = frozenset({
    "AccessDenied", "AllAccessDisabled", "AccountProblem", "NoSuchBucket",
    "SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "Throttling",
    "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException",
    "KMS.DisabledException", "KMS.KMSInvalidStateException", "KMS.NotFoundException",
    "KMS.AccessDeniedException", "KMS.ThrottlingException", "KMS.KeyUnavailableException",
})
# put_object arguments kept with a queued object (the body and checksum are the entry's)
_KEPT_ARGS = ("ContentType", "Metadata", "ServerSideEncryption", "SSEKMSKeyId",
              "ExpectedBucketOwner", "ChecksumAlgorithm")


def is_queueable(err: BaseException) -> bool:
    """S3 could not take the write now (see QUEUEABLE_CODES, any 5xx, or no answer)."""
    from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

    if isinstance(err, ClientError):
        code = str(err.response.get("Error", {}).get("Code", ""))
        status = int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        return code in QUEUEABLE_CODES or status >= 500
    return isinstance(err, (ConnectionError, HTTPClientError))


def describe(err: BaseException) -> str:
    from botocore.exceptions import ClientError

    if isinstance(err, ClientError):
        error = err.response.get("Error", {})
        return f"{err.operation_name} failed: {error.get('Code')}: {error.get('Message', '')}"
    return f"{type(err).__name__}: {err}"


def pending_dir(case_id: str) -> Path:
    return case_root() / case_id / PENDING_DIR


@dataclass(frozen=True)
class QueuedObject:
    """One evidence object waiting in `<case dir>/pending/`."""

    entry: Path
    bucket: str
    key: str
    sha256: str
    size: int
    put_args: dict[str, Any] = field(default_factory=dict)
    queued_at: str = ""
    error: str = ""
    account: str = ""
    """The account whose credentials are to upload it (a case may span accounts)."""

    @property
    def body_path(self) -> Path:
        return self.entry.with_suffix(".body")

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def to_dict(self) -> dict[str, Any]:
        return {"bucket": self.bucket, "key": self.key, "s3Uri": self.uri,
                "sha256": self.sha256, "bytes": self.size, "path": str(self.body_path),
                "queuedAt": self.queued_at, "error": self.error, "account": self.account}

    @classmethod
    def load(cls, entry: Path) -> QueuedObject:
        data = json.loads(entry.read_text(encoding="utf-8"))
        return cls(entry, data["bucket"], data["key"], data["sha256"], int(data["bytes"]),
                   dict(data.get("putArgs", {})), data.get("queuedAt", ""),
                   data.get("error", ""), data.get("account", ""))


def _write_private(path: Path, data: bytes) -> None:
    """Write `path` atomically, mode 0600, on disk before returning."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def enqueue(case_id: str, bucket: str, key: str, body: bytes, put_args: Mapping[str, Any],
            error: str, account: str = "") -> QueuedObject:
    """Keep `body` for `s3://bucket/key` in the case's queue (body first, then its entry:
    an entry always names a complete body)."""
    directory = pending_dir(case_id)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(directory, 0o700)
    digest = hashlib.sha256(body).hexdigest()
    name = hashlib.sha256(f"{bucket}/{key}".encode()).hexdigest()[:16] + "-" + digest[:16]
    entry = directory / f"{name}.json"
    _write_private(entry.with_suffix(".body"), body)
    queued = QueuedObject(entry, bucket, key, digest, len(body),
                          {k: put_args[k] for k in _KEPT_ARGS if k in put_args},
                          datetime.now(timezone.utc).isoformat(timespec="seconds"), error,
                          account)
    _write_private(entry, json.dumps({
        "bucket": bucket, "key": key, "sha256": digest, "bytes": len(body),
        "putArgs": queued.put_args, "queuedAt": queued.queued_at, "error": error,
        "account": account,
    }, indent=2, sort_keys=True).encode("utf-8"))
    return queued


def pending(case_id: str, account: str | None = None) -> list[QueuedObject]:
    """The case's queued objects (of `account`, when given), oldest first."""
    directory = pending_dir(case_id)
    if not directory.is_dir():
        return []
    found = [q for q in map(QueuedObject.load, directory.glob("*.json"))
             if account is None or q.account in ("", account)]
    return sorted(found, key=lambda q: (q.queued_at, q.key))


def checksum_sha256(body: bytes) -> tuple[str, str]:
    """The body's SHA-256 as hex (metadata, audit log) and as S3's base64 checksum."""
    digest = hashlib.sha256(body).digest()
    return digest.hex(), base64.b64encode(digest).decode("ascii")


def hex_of_checksum(value: str) -> str | None:
    """S3's base64 `ChecksumSHA256` as hex (None when it is not a whole-object SHA-256,
    e.g. a multipart upload's checksum of checksums, `...-N`)."""
    try:
        raw = base64.b64decode(value, validate=True)
    except (ValueError, TypeError):
        return None
    return raw.hex() if len(raw) == 32 else None


def evidence_entry(bucket: str, key: str, sha256: str, size: int,
                   version_id: str | None, *, queued: bool = False) -> dict[str, Any]:
    """One evidence object as the audit log records it."""
    entry: dict[str, Any] = {"uri": f"s3://{bucket}/{key}", "versionId": version_id,
                             "sha256": sha256, "size": size}
    if queued:
        entry["queued"] = True
    return entry


_collector = threading.local()


@contextmanager
def recording_evidence() -> Iterator[list[dict[str, Any]]]:
    """Collect the evidence objects written in this thread while the block runs (the
    runner opens one around each `apply()`, and records what it holds)."""
    outer = getattr(_collector, "entries", None)
    entries: list[dict[str, Any]] = []
    _collector.entries = entries
    try:
        yield entries
    finally:
        _collector.entries = outer
        if outer is not None:
            outer.extend(entries)


def _note(entry: dict[str, Any]) -> None:
    entries = getattr(_collector, "entries", None)
    if entries is not None:
        entries.append(entry)


def put_evidence(ctx: Context, bucket: str, key: str, body: bytes,
                 **put_args: Any) -> dict[str, Any]:
    """Write one evidence object, or queue it locally when S3 cannot take it now. The one
    function every step calls to write evidence (see the module docstring).

    The object's SHA-256 is stored as its `sha256` metadata and its S3 checksum either way
    (how `sync()` recognises an object already there, and how `irctl case verify-evidence`
    re-checks it). Returns the step's result: `key`, `sha256`, `bytes`, `evidence` (the
    entry the audit record holds), and `versionId` when uploaded or `queued` (the local
    entry) when not.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    digest, checksum = checksum_sha256(body)
    args = {**put_args, "Metadata": {**dict(put_args.get("Metadata", {})), "sha256": digest},
            "ChecksumAlgorithm": "SHA256"}
    try:
        response = ctx.evidence_client().put_object(Bucket=bucket, Key=key, Body=body,
                                                    ChecksumSHA256=checksum, **args)
    except (ClientError, BotoCoreError) as err:
        if not is_queueable(err):
            raise
        ctx.evidence_unavailable = True
        queued = enqueue(ctx.case_id, bucket, key, body, args, describe(err), ctx.account_id)
        entry = evidence_entry(bucket, key, digest, len(body), None, queued=True)
        _note(entry)
        return {"key": key, "sha256": digest, "bytes": len(body), "queued": queued.to_dict(),
                "evidence": entry}
    version = response.get("VersionId")
    entry = evidence_entry(bucket, key, digest, len(body), version)
    _note(entry)
    return {"key": key, "sha256": digest, "bytes": len(body), "versionId": version,
            "evidence": entry}


@dataclass
class SyncReport:
    uploaded: list[dict[str, Any]] = field(default_factory=list)
    already_there: list[dict[str, Any]] = field(default_factory=list)
    still_queued: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.still_queued

    def to_dict(self) -> dict[str, Any]:
        return {"uploaded": self.uploaded, "alreadyThere": self.already_there,
                "stillQueued": self.still_queued}


def _remote(s3: Any, queued: QueuedObject) -> tuple[str | None, str | None]:
    """The bucket's latest object at the queued key: its `sha256` metadata and version."""
    from botocore.exceptions import ClientError

    owner = queued.put_args.get("ExpectedBucketOwner")
    try:
        head = s3.head_object(Bucket=queued.bucket, Key=queued.key,
                              **({"ExpectedBucketOwner": owner} if owner else {}))
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return None, None
        raise
    value = head.get("Metadata", {}).get("sha256")
    return (str(value) if value else None), head.get("VersionId")


def sync(ctx: Context, audit: AuditLog, *, stop_on_failure: bool = False) -> SyncReport:
    """Upload the case's queued evidence (see the module docstring).

    `stop_on_failure`: after the first object S3 still cannot take, leave the rest
    queued without trying them (a run's own sync must not wait on a bucket that is
    still down once per object).
    """
    from botocore.exceptions import BotoCoreError, ClientError

    report = SyncReport()
    s3 = ctx.evidence_client()
    remaining = pending(ctx.case_id, ctx.account_id)
    while remaining:
        queued = remaining.pop(0)
        summary = queued.to_dict()
        body = queued.body_path.read_bytes() if queued.body_path.exists() else b""
        if hashlib.sha256(body).hexdigest() != queued.sha256:
            summary["error"] = (f"local copy {queued.body_path} is missing or was modified "
                                f"(its SHA-256 is not {queued.sha256}); not uploaded")
            report.still_queued.append(summary)
            audit.append("evidence-sync-refused", bucket=queued.bucket, key=queued.key,
                         sha256=queued.sha256, error=summary["error"])
            continue
        try:
            remote_sha256, remote_version = _remote(s3, queued)
            if remote_sha256 == queued.sha256:
                # an earlier upload whose answer was lost: record the version it made
                report.already_there.append(summary)
                audit.append("evidence-already-uploaded", bucket=queued.bucket,
                             key=queued.key, sha256=queued.sha256,
                             evidence=[evidence_entry(queued.bucket, queued.key,
                                                      queued.sha256, queued.size,
                                                      remote_version)])
            else:
                _, checksum = checksum_sha256(body)
                response = s3.put_object(Bucket=queued.bucket, Key=queued.key, Body=body,
                                         **{**queued.put_args, "ChecksumAlgorithm": "SHA256"},
                                         ChecksumSHA256=checksum)
                summary["versionId"] = response.get("VersionId")
                report.uploaded.append(summary)
                audit.append("evidence-uploaded", bucket=queued.bucket, key=queued.key,
                             sha256=queued.sha256, bytes=queued.size,
                             versionId=response.get("VersionId"), queuedAt=queued.queued_at,
                             evidence=[evidence_entry(queued.bucket, queued.key,
                                                      queued.sha256, queued.size,
                                                      response.get("VersionId"))])
        except (ClientError, BotoCoreError) as err:
            if not is_queueable(err):
                raise
            summary["error"] = describe(err)
            report.still_queued.append(summary)
            ctx.evidence_unavailable = True
            if stop_on_failure:
                report.still_queued += [q.to_dict() for q in remaining]
                break
            continue
        queued.body_path.unlink()
        queued.entry.unlink()
    return report


def already_held(ctx: Context, bucket: str, key: str, sha256: str | None = None) -> bool:
    """Whether `s3://bucket/key` (with `sha256`, when given) is already evidence of the case:
    in the bucket, or queued locally. For a step's plan, so a re-run writes nothing twice.
    S3 unable to answer now reads as "not held": the write is planned, and queued if
    S3 still cannot take it (a plan must not fail on the evidence bucket either)."""
    from botocore.exceptions import BotoCoreError, ClientError

    for queued in pending(ctx.case_id, ctx.account_id):
        if (queued.bucket, queued.key) == (bucket, key) and sha256 in (None, queued.sha256):
            return True
    try:
        head = ctx.evidence_client().head_object(Bucket=bucket, Key=key,
                                                 ExpectedBucketOwner=ctx.account_id)
    except (ClientError, BotoCoreError) as err:
        if _absent_or_unreachable(err):
            return False
        raise
    return sha256 is None or head.get("Metadata", {}).get("sha256") == sha256


def _absent_or_unreachable(err: Exception) -> bool:
    """The object is not there (404), or S3 cannot answer now (`is_queueable`)."""
    from botocore.exceptions import ClientError

    if isinstance(err, ClientError) and err.response.get("Error", {}).get("Code") in (
            "404", "NoSuchKey", "NotFound"):
        return True
    return is_queueable(err)


def read_evidence(ctx: Context, bucket: str, key: str) -> bytes | None:
    """The bytes of evidence object `s3://bucket/key` as the case holds it: this case's
    local queue first (see `already_held`), else the bucket's current version. None when
    it is not there, S3 cannot give it now, or its bytes are not the ones it was written
    with: their SHA-256 differs from the queue entry's, or from the object's `sha256`
    metadata or S3 checksum (both set by `put_evidence`). For a plan that believes what
    the evidence says, so a read never fails the plan: the caller treats None as
    "unknown"."""
    from botocore.exceptions import BotoCoreError, ClientError

    for queued in pending(ctx.case_id, ctx.account_id):
        if (queued.bucket, queued.key) == (bucket, key):
            body = queued.body_path.read_bytes() if queued.body_path.exists() else b""
            return body if hashlib.sha256(body).hexdigest() == queued.sha256 else None
    try:
        response = ctx.evidence_client().get_object(
            Bucket=bucket, Key=key, ExpectedBucketOwner=ctx.account_id, ChecksumMode="ENABLED")
        body = response["Body"].read()
    except (ClientError, BotoCoreError) as err:
        if _absent_or_unreachable(err):
            return None
        raise
    digest = hashlib.sha256(body).hexdigest()
    if response.get("Metadata", {}).get("sha256") != digest:
        return None
    checksum = response.get("ChecksumSHA256")
    whole = hex_of_checksum(str(checksum)) if checksum else None
    return body if whole in (None, digest) else None
