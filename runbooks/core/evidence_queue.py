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
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
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


def put_evidence(ctx: Context, bucket: str, key: str, body: bytes,
                 **put_args: Any) -> dict[str, Any]:
    """Write one evidence object, or queue it locally when S3 cannot take it now.

    The object's SHA-256 is stored as its `sha256` metadata either way (how `sync()`
    recognises an object already there). Returns the step's result: `key`, `sha256`,
    `bytes`, and `versionId` when uploaded or `queued` (the local entry) when not.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    digest = hashlib.sha256(body).hexdigest()
    args = {**put_args, "Metadata": {**dict(put_args.get("Metadata", {})), "sha256": digest}}
    try:
        response = ctx.evidence_client().put_object(Bucket=bucket, Key=key, Body=body, **args)
    except (ClientError, BotoCoreError) as err:
        if not is_queueable(err):
            raise
        ctx.evidence_unavailable = True
        queued = enqueue(ctx.case_id, bucket, key, body, args, describe(err), ctx.account_id)
        return {"key": key, "sha256": digest, "bytes": len(body), "queued": queued.to_dict()}
    return {"key": key, "sha256": digest, "bytes": len(body),
            "versionId": response.get("VersionId")}


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


def _remote_sha256(s3: Any, queued: QueuedObject) -> str | None:
    from botocore.exceptions import ClientError

    owner = queued.put_args.get("ExpectedBucketOwner")
    try:
        head = s3.head_object(Bucket=queued.bucket, Key=queued.key,
                              **({"ExpectedBucketOwner": owner} if owner else {}))
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return None
        raise
    value = head.get("Metadata", {}).get("sha256")
    return str(value) if value else None


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
            if _remote_sha256(s3, queued) == queued.sha256:
                report.already_there.append(summary)
                audit.append("evidence-already-uploaded", bucket=queued.bucket,
                             key=queued.key, sha256=queued.sha256)
            else:
                response = s3.put_object(Bucket=queued.bucket, Key=queued.key, Body=body,
                                         **queued.put_args)
                summary["versionId"] = response.get("VersionId")
                report.uploaded.append(summary)
                audit.append("evidence-uploaded", bucket=queued.bucket, key=queued.key,
                             sha256=queued.sha256, bytes=queued.size,
                             versionId=response.get("VersionId"), queuedAt=queued.queued_at)
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
        if isinstance(err, ClientError) and err.response.get("Error", {}).get("Code") in (
                "404", "NoSuchKey", "NotFound"):
            return False
        if is_queueable(err):
            return False
        raise
    return sha256 is None or head.get("Metadata", {}).get("sha256") == sha256
