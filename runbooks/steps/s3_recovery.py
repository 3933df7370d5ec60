"""S3 versioning recovery: return every key of a bucket to its newest version at or before T.

For ransomware (objects overwritten with encrypted copies) and mass deletion. One batched
listing (ListObjectVersions, 1000 entries a page, no per-object HEAD) classifies each key:

- *overwritten* or *deleted after T*: its version of T is restored by a server-side
  copy of that version onto the key (one CopyObject; a multipart copy above 5 GiB). The
  copy becomes the newest version, so the incident's versions and delete markers stay
  as evidence and nothing is lost.
- *created after T* (no version at T, or a delete marker at T): removed only when asked
  (`s3.remove-new-keys`), with a delete marker, so the versions stay and removal is
  reversible.
- already at its version of T (same version, or same ETag and size as that version:
  a previous run restored it): nothing, which makes a re-run resume where a failed or
  interrupted run stopped.

Restores are planned in batches of 1000 objects (one audit record each); the plan
shows counts and bytes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Annotated, Any

from botocore.exceptions import ClientError
from pydantic import Field

from runbooks.core.errors import ActionFailed, InvalidInput, PreconditionFailed
from runbooks.core.scopes import account_s3_scopes
from runbooks.core.step import Change, Check, Step, StepParams, checked_by, register

BATCH = 1000
COPY_WORKERS = 32
SINGLE_COPY_LIMIT = 5 * 1024**3  # CopyObject's limit; larger objects use a multipart copy
PART_SIZE = 512 * 1024**2
ARCHIVED = {"GLACIER", "DEEP_ARCHIVE"}
BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def parse_point_in_time(value: Any, now: datetime) -> datetime:
    """An ISO 8601 time (naive = UTC) not in the future, or InvalidInput."""
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError as err:
            raise InvalidInput(f"time {value!r} is not ISO 8601, e.g. 2026-11-28T03:00:00Z") \
                from err
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    if moment > now:
        raise InvalidInput(f"time {moment.isoformat()} is in the future (now "
                           f"{now.isoformat(timespec='seconds')}); give a time before the "
                           "incident")
    return moment


@dataclass(frozen=True)
class Entry:
    key: str
    version_id: str
    modified: datetime
    latest: bool
    delete_marker: bool
    size: int = 0
    etag: str = ""
    storage_class: str = "STANDARD"
    order: int = 0  # position in the listing: S3 lists a key's versions newest first


@dataclass
class Analysis:
    """What returning the bucket to T means, key by key (cached per run)."""

    restore: list[tuple[str, str, int, str]] = field(default_factory=list)
    """(key, version id of T, size, 'overwritten' | 'deleted')"""
    new_keys: list[tuple[str, int]] = field(default_factory=list)
    archived: list[str] = field(default_factory=list)
    unchanged: int = 0
    versions_listed: int = 0

    def totals(self) -> dict[str, Any]:
        overwritten = [r for r in self.restore if r[3] == "overwritten"]
        deleted = [r for r in self.restore if r[3] == "deleted"]
        return {
            "overwritten": len(overwritten),
            "overwrittenBytes": sum(r[2] for r in overwritten),
            "deleted": len(deleted),
            "deletedBytes": sum(r[2] for r in deleted),
            "createdAfter": len(self.new_keys),
            "createdAfterBytes": sum(n[1] for n in self.new_keys),
            "archivedSkipped": len(self.archived),
            "unchanged": self.unchanged,
            "versionsListed": self.versions_listed,
        }


def _entries(page: Mapping[str, Any], seen: int) -> Iterator[Entry]:
    """A page's versions and delete markers; `order` counts across pages, since one key's
    versions can continue on the next page."""
    for order, version in enumerate(page.get("Versions", []), start=seen):
        yield Entry(version["Key"], version["VersionId"], version["LastModified"],
                    bool(version.get("IsLatest")), False, int(version.get("Size", 0)),
                    str(version.get("ETag", "")), str(version.get("StorageClass", "STANDARD")),
                    order)
    for order, marker in enumerate(page.get("DeleteMarkers", []), start=seen):
        yield Entry(marker["Key"], marker["VersionId"], marker["LastModified"],
                    bool(marker.get("IsLatest")), True, order=order)


def _per_key(pages: Iterable[Mapping[str, Any]]) -> Iterator[list[Entry]]:
    """Entries grouped by key, newest first; a key may continue on the next page."""
    pending: list[Entry] = []
    seen = 0
    for page in pages:
        entries = sorted(_entries(page, seen), key=lambda e: e.key)
        seen += len(page.get("Versions", [])) + len(page.get("DeleteMarkers", []))
        for entry in entries:
            if pending and entry.key != pending[0].key:
                yield pending
                pending = []
            pending.append(entry)
    if pending:
        yield pending


def classify(entries: list[Entry], at: datetime, analysis: Analysis) -> None:
    # Newest first; the current entry first; same-second versions in S3's listing order.
    entries = sorted(entries, key=lambda e: (not e.latest, -e.modified.timestamp(), e.order))
    current = entries[0]
    target = next((e for e in entries if e.modified <= at), None)
    analysis.versions_listed += len(entries)
    if target is None or target.delete_marker:
        if current.delete_marker:
            analysis.unchanged += 1
        else:
            analysis.new_keys.append((current.key, current.size))
        return
    same = (current.version_id == target.version_id
            or (not current.delete_marker and current.etag == target.etag
                and current.size == target.size))
    if same:
        analysis.unchanged += 1
    elif target.storage_class in ARCHIVED:
        analysis.archived.append(target.key)
    else:
        kind = "deleted" if current.delete_marker else "overwritten"
        analysis.restore.append((target.key, target.version_id, target.size, kind))


def analyse(ctx: Any, bucket: str, at: datetime, prefix: str = "") -> Analysis:
    """Versioning checked, then one paged listing; cached for every step of the run."""

    def load() -> Analysis:
        s3 = ctx.client("s3")
        try:
            status = s3.get_bucket_versioning(Bucket=bucket).get("Status")
        except ClientError as err:
            if err.response["Error"]["Code"] not in ("NoSuchBucket", "AccessDenied"):
                raise
            raise PreconditionFailed(f"bucket {bucket}: {err.response['Error']['Code']}: "
                                     f"{err.response['Error'].get('Message', '')}") from err
        if status != "Enabled":
            state = (status or "never enabled").lower()
            raise PreconditionFailed(
                f"bucket {bucket} has versioning {state}: S3 keeps no earlier versions to "
                "recover from" + (" since it was suspended; re-enable versioning (irctl "
                                  "contain bucket does) before recovering"
                                  if status == "Suspended" else
                                  "; restore from AWS Backup or a replica instead"))
        analysis = Analysis()
        pages = s3.get_paginator("list_object_versions").paginate(
            Bucket=bucket, Prefix=prefix, PaginationConfig={"PageSize": 1000})
        for entries in _per_key(pages):
            classify(entries, at, analysis)
        return analysis

    key = f"s3-recovery:{bucket}:{prefix}:{at.isoformat()}"
    result: Analysis = ctx.cache.get(key, load)
    return result


def _human(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size} B"


def _check_bucket(bucket: Any) -> None:
    if not isinstance(bucket, str) or not BUCKET_NAME.match(bucket):
        raise InvalidInput(f"{bucket!r} is not a valid S3 bucket name")


class BucketRecoveryParams(StepParams):
    bucket: Annotated[str, checked_by(_check_bucket)]
    to: Annotated[str | datetime, Field(description="ISO 8601 time before the incident, "
                                                     "e.g. 2026-11-28T03:00:00Z")]
    prefix: str | None = None


class _BucketRecoveryStep(Step):
    Params = BucketRecoveryParams
    release_kind = "recover bucket"  # as `irctl recover bucket` records it

    def check(self) -> None:
        self.at = parse_point_in_time(self.params["to"], self.ctx.now())

    def analysis(self) -> Analysis:
        return analyse(self.ctx, self.params["bucket"], self.at,
                       str(self.params.get("prefix") or ""))


@register
class RestoreVersions(_BucketRecoveryStep):
    """Copy each overwritten/deleted key's version of T back on top (batches of 1000)."""

    name = "s3.restore-versions"
    description = "Restore overwritten and deleted objects to their version at a time"
    actions = frozenset({"s3:GetBucketVersioning", "s3:ListBucketVersions",
                         "s3:GetObjectVersion", "s3:GetObjectVersionTagging",
                         "s3:PutObject", "s3:PutObjectTagging"})
    scopes = account_s3_scopes(actions)
    reversible = False  # a re-run resumes; undoing a recovery is not wanted mid-incident

    def plan(self) -> list[Change]:
        restore = self.analysis().restore
        bucket = self.params["bucket"]
        batches = [restore[i:i + BATCH] for i in range(0, len(restore), BATCH)]
        changes = []
        for number, batch in enumerate(batches, start=1):
            overwritten = sum(1 for r in batch if r[3] == "overwritten")
            size = sum(r[2] for r in batch)
            changes.append(Change(
                self.name, bucket,
                f"Restore {len(batch)} object(s), {_human(size)}, to their version at "
                f"{self.at.isoformat()} ({overwritten} overwritten, {len(batch) - overwritten}"
                f" deleted after it; batch {number}/{len(batches)})",
                after={"objects": [[k, v, s] for k, v, s, _ in batch], "bytes": size}))
        return changes

    def apply(self, change: Change) -> Mapping[str, Any]:
        s3 = self.ctx.client("s3")
        bucket = self.params["bucket"]

        def copy(item: list[Any]) -> tuple[str, str | None, str | None]:
            key, version, size = item
            source = {"Bucket": bucket, "Key": key, "VersionId": version}
            try:
                if int(size) > SINGLE_COPY_LIMIT:
                    return key, _multipart_copy(s3, bucket, key, source, int(size)), None
                done = s3.copy_object(Bucket=bucket, Key=key, CopySource=source)
            except ClientError as err:
                error = err.response["Error"]
                return key, None, f"{error.get('Code')}: {error.get('Message', '')}"
            return key, done.get("VersionId"), None

        with ThreadPoolExecutor(max_workers=COPY_WORKERS) as pool:
            outcomes = list(pool.map(copy, change.after["objects"]))
        failed = [(key, error) for key, _, error in outcomes if error]
        if failed:
            first = "; ".join(f"{k}: {e}" for k, e in failed[:3])
            raise ActionFailed(f"{len(failed)} of {len(outcomes)} object(s) could not be "
                               f"restored ({first}); the others were. Fix the cause and "
                               "re-run the same command: it resumes with what is left")
        return {"restored": len(outcomes),
                "newVersions": {key: version for key, version, _ in outcomes}}


def _multipart_copy(s3: Any, bucket: str, key: str, source: Mapping[str, str],
                    size: int) -> str | None:
    upload = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    try:
        parts = []
        for number, start in enumerate(range(0, size, PART_SIZE), start=1):
            end = min(start + PART_SIZE, size) - 1
            part = s3.upload_part_copy(Bucket=bucket, Key=key, UploadId=upload,
                                       PartNumber=number, CopySource=dict(source),
                                       CopySourceRange=f"bytes={start}-{end}")
            parts.append({"PartNumber": number, "ETag": part["CopyPartResult"]["ETag"]})
        done = s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload,
                                            MultipartUpload={"Parts": parts})
    except ClientError:
        s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload)
        raise
    version: str | None = done.get("VersionId")
    return version


@register
class RemoveNewKeys(_BucketRecoveryStep):
    """Hide keys created after T behind delete markers (their versions stay)."""

    name = "s3.remove-new-keys"
    description = "Remove keys created after a time (delete markers, versions kept)"
    actions = frozenset({"s3:GetBucketVersioning", "s3:ListBucketVersions",
                         "s3:DeleteObject", "s3:DeleteObjectVersion"})
    scopes = account_s3_scopes(actions)
    multi_call = True

    def plan(self) -> list[Change]:
        new_keys = self.analysis().new_keys
        bucket = self.params["bucket"]
        changes = []
        for start in range(0, len(new_keys), BATCH):
            batch = new_keys[start:start + BATCH]
            size = sum(s for _, s in batch)
            changes.append(Change(
                self.name, bucket,
                f"Remove {len(batch)} key(s), {_human(size)}, created after "
                f"{self.at.isoformat()} (delete markers; their versions are kept)",
                after={"keys": [k for k, _ in batch], "bytes": size}))
        return changes

    def apply(self, change: Change) -> Mapping[str, Any]:
        done = self.ctx.client("s3").delete_objects(
            Bucket=self.params["bucket"],
            Delete={"Objects": [{"Key": k} for k in change.after["keys"]], "Quiet": False})
        markers = {d["Key"]: d["DeleteMarkerVersionId"] for d in done.get("Deleted", [])
                   if d.get("DeleteMarkerVersionId")}
        errors = done.get("Errors", [])
        if errors:
            # Record what was done so the runner can undo it, then fail.
            self._partial = markers
            raise ActionFailed(f"{len(errors)} key(s) could not be removed: "
                               f"{errors[0].get('Key')}: {errors[0].get('Code')}")
        return {"deleteMarkers": markers}

    def rollback(self, change: Change, result: Mapping[str, Any]) -> None:
        markers = dict(result.get("deleteMarkers") or getattr(self, "_partial", {}))
        items = [{"Key": k, "VersionId": v} for k, v in markers.items()]
        s3 = self.ctx.client("s3")
        for start in range(0, len(items), BATCH):
            s3.delete_objects(Bucket=self.params["bucket"],
                              Delete={"Objects": items[start:start + BATCH], "Quiet": True})

    def verify(self, change: Change, result: Mapping[str, Any]) -> Check:
        """Every removed key is still hidden: its newest entry is a delete marker (or it
        has no versions left). One listing under the keys' common prefix."""
        import os

        keys = [str(k) for k in change.after["keys"]]
        bucket = str(self.params["bucket"])
        visible: set[str] = set()
        pages = self.ctx.client("s3").get_paginator("list_object_versions").paginate(
            Bucket=bucket, Prefix=os.path.commonprefix(keys))
        wanted = set(keys)
        for page in pages:
            for version in page.get("Versions", []):
                if version.get("IsLatest") and version["Key"] in wanted:
                    visible.add(version["Key"])
        shown = ", ".join(sorted(visible)[:3]) + (" ..." if len(visible) > 3 else "")
        return Check("containment", f"bucket/{bucket}",
                     f"{len(keys)} key(s) created after {self.params['to']} hidden",
                     "all hidden", "all hidden" if not visible else
                     f"{len(visible)} visible again: {shown}", not visible)
