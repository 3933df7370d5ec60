"""A case's evidence objects, as its audit log records them, and their re-check in S3.

Every evidence object irctl writes goes through `runbooks.core.evidence_queue.
put_evidence`, which records `{uri, versionId, sha256, size}` in the `evidence` field of
the audit record of the step that wrote it (`sync()` does the same for an object it
uploads later). `evidence_objects()` lists them from the records (the latest record of
a URI wins: an object queued, then uploaded by `irctl case sync`); `check_object()` reads
one back from S3, the version the log names, and compares what S3 holds with what was
recorded: S3's own SHA-256 checksum (computed on arrival), the `sha256` metadata, the
size, and (`deep`) the SHA-256 of the bytes read back. A missing version, or a newer
version or delete marker on top of it (the key no longer serves the recorded bytes), is
reported too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from runbooks.core.audit import operator_of
from runbooks.core.evidence_queue import hex_of_checksum

OK = "ok"
MISMATCH = "mismatch"
MISSING = "missing"
SUPERSEDED = "superseded"
QUEUED = "queued"
UNREADABLE = "unreadable"

_NOT_FOUND = frozenset({"404", "NoSuchKey", "NoSuchVersion", "NotFound"})
_DENIED = frozenset({"AccessDenied", "403"})


@dataclass(frozen=True)
class EvidenceObject:
    """One evidence object of a case, from the audit record that wrote it."""

    uri: str
    sha256: str
    size: int
    version_id: str | None
    queued: bool
    seq: int | None
    event: str
    step: str
    target: str
    account: str
    operator: str
    time: str

    @property
    def bucket(self) -> str:
        return self.uri.removeprefix("s3://").split("/", 1)[0]

    @property
    def key(self) -> str:
        return self.uri.removeprefix("s3://").split("/", 1)[1]

    def to_dict(self) -> dict[str, Any]:
        return {"uri": self.uri, "versionId": self.version_id, "sha256": self.sha256,
                "size": self.size, "queued": self.queued, "seq": self.seq,
                "event": self.event, "step": self.step, "target": self.target,
                "account": self.account, "operator": self.operator, "time": self.time}


def evidence_objects(records: Iterable[Mapping[str, Any]], own_account: str = ""
                     ) -> list[EvidenceObject]:
    """Every evidence object the records name, one per URI (its latest record), in the
    order first written. A record without `account` was made in `own_account`."""
    found: dict[str, EvidenceObject] = {}
    for record in records:
        entries = record.get("evidence")
        if not isinstance(entries, list):
            continue
        for entry in entries:
            if not isinstance(entry, Mapping) or not str(entry.get("uri", "")).startswith(
                    "s3://"):
                continue
            uri = str(entry["uri"])
            found.pop(uri, None)  # re-insert: the latest record of it wins
            found[uri] = EvidenceObject(
                uri=uri, sha256=str(entry.get("sha256", "")),
                size=int(entry.get("size") or 0),
                version_id=str(entry["versionId"]) if entry.get("versionId") else None,
                queued=bool(entry.get("queued")), seq=record.get("seq"),
                event=str(record.get("event", "")), step=str(record.get("step", "")),
                target=str(record.get("target", "")),
                account=str(record.get("account") or own_account),
                operator=operator_of(dict(record))["arn"], time=str(record.get("time", "")))
    return list(found.values())


@dataclass
class EvidenceCheck:
    """What S3 holds for one evidence object, against what the audit log recorded."""

    object: EvidenceObject
    status: str
    problems: list[str] = field(default_factory=list)
    s3: dict[str, Any] = field(default_factory=dict)
    """What S3 answered: checksum (hex), metadata sha256, size, latest version."""

    @property
    def ok(self) -> bool:
        return self.status == OK

    def to_dict(self) -> dict[str, Any]:
        return {**self.object.to_dict(), "status": self.status, "problems": self.problems,
                "s3": self.s3}


def _code(err: Any) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


def check_object(s3: Any, obj: EvidenceObject, *, deep: bool = False,
                 expected_owner: str | None = None) -> EvidenceCheck:
    """Re-read `obj` from S3 (read-only): HeadObject of the recorded version with its
    checksum, the key's latest version, and with `deep` the bytes themselves."""
    from botocore.exceptions import ClientError

    if obj.queued and obj.version_id is None:
        return EvidenceCheck(obj, QUEUED, [
            f"{obj.uri} was queued locally and never uploaded: `irctl case sync` uploads "
            "it"])
    owner = {"ExpectedBucketOwner": expected_owner} if expected_owner else {}
    version = {"VersionId": obj.version_id} if obj.version_id else {}
    try:
        head = s3.head_object(Bucket=obj.bucket, Key=obj.key, ChecksumMode="ENABLED",
                              **version, **owner)
    except ClientError as err:
        if _code(err) in _NOT_FOUND or (_code(err) == "405" and version):
            which = f"version {obj.version_id}" if obj.version_id else "the object"
            return EvidenceCheck(obj, MISSING, [f"{which} of {obj.uri} is not in the "
                                                "evidence bucket (deleted?)"])
        if _code(err) in _DENIED:
            return EvidenceCheck(obj, UNREADABLE, [
                f"HeadObject {obj.uri} was denied: the caller needs s3:GetObjectVersion "
                "on the evidence bucket (the investigator or responder role has it)"])
        raise
    check = EvidenceCheck(obj, OK)
    checksum = head.get("ChecksumSHA256")
    checksum_hex = hex_of_checksum(str(checksum)) if checksum else None
    metadata = str(head.get("Metadata", {}).get("sha256", "")) or None
    size = int(head.get("ContentLength", -1))
    check.s3 = {"versionId": head.get("VersionId"), "checksumSha256": checksum_hex,
                "metadataSha256": metadata, "size": size}
    if checksum_hex is None:
        check.problems.append(f"{obj.uri}: S3 holds no SHA-256 checksum for it (written "
                              "without one, so S3 never verified its bytes)")
    elif checksum_hex != obj.sha256:
        check.problems.append(f"{obj.uri}: S3's SHA-256 checksum {checksum_hex} is not the "
                              f"recorded {obj.sha256}")
    if metadata != obj.sha256:
        check.problems.append(f"{obj.uri}: its sha256 metadata {metadata} is not the "
                              f"recorded {obj.sha256}")
    if size != obj.size:
        check.problems.append(f"{obj.uri}: {size} bytes in S3, {obj.size} recorded")
    if deep:
        body = s3.get_object(Bucket=obj.bucket, Key=obj.key, **version, **owner)["Body"]
        digest = hashlib.sha256()
        for chunk in iter(lambda: body.read(1 << 20), b""):
            digest.update(chunk)
        check.s3["bodySha256"] = digest.hexdigest()
        if digest.hexdigest() != obj.sha256:
            check.problems.append(f"{obj.uri}: the bytes read back hash to "
                                  f"{digest.hexdigest()}, not the recorded {obj.sha256}")
    if check.problems:
        check.status = MISMATCH
        return check
    latest = _latest(s3, obj)
    check.s3["latest"] = latest
    if obj.version_id and latest is not None and latest != obj.version_id:
        check.status = SUPERSEDED
        check.problems.append(
            f"{obj.uri}: the recorded version {obj.version_id} is intact, but the key now "
            f"serves {latest} (written over after it was captured: read the recorded "
            "version, and find out who wrote the new one)")
    return check


def _latest(s3: Any, obj: EvidenceObject) -> str | None:
    """The key's latest version id ("delete marker <id>" for a delete marker)."""
    paginator = s3.get_paginator("list_object_versions")
    for page in paginator.paginate(Bucket=obj.bucket, Prefix=obj.key):
        for version in page.get("Versions", []):
            if version["Key"] == obj.key and version.get("IsLatest"):
                return str(version["VersionId"])
        for marker in page.get("DeleteMarkers", []):
            if marker["Key"] == obj.key and marker.get("IsLatest"):
                return f"delete marker {marker['VersionId']}"
    return None
