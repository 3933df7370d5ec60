"""S3 versioning recovery steps on moto: object contents after recovery equal the
pre-incident versions; re-runs resume; calls per restored object stay batched."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
from botocore.exceptions import ClientError

from runbooks.core.errors import ActionFailed, InvalidInput, PreconditionFailed
from runbooks.steps.s3_recovery import RemoveNewKeys, RestoreVersions
from tests.runbooks.conftest import FaultInjector, Readiness, s3_clock_behind


def _body(s3, bucket: str, key: str) -> bytes | None:
    """The current body, or None while the key's latest version is a delete marker."""
    try:
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as err:
        if err.response["Error"]["Code"] == "NoSuchKey":
            return None
        raise


def _incident(world: Readiness, keys: int = 12) -> tuple[str, datetime, dict[str, bytes]]:
    """Originals, then (after T) 6 overwritten with ransom, 3 deleted, 1 new ransom note."""
    s3 = world.client("s3")
    bucket = f"data-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    originals = {f"docs/{i:03d}.txt": f"original document {i}\n".encode() * (i + 1)
                 for i in range(keys)}
    with s3_clock_behind(10):  # the originals were written 10 s ago, T is 5 s ago
        for key, body in originals.items():
            s3.put_object(Bucket=bucket, Key=key, Body=body)
        s3.put_object(Bucket=bucket, Key="docs/000.txt", Body=originals["docs/000.txt"])
    at = datetime.now(timezone.utc) - timedelta(seconds=5)
    names = sorted(originals)
    for key in names[:6]:
        s3.put_object(Bucket=bucket, Key=key, Body=b"ENCRYPTED " + uuid.uuid4().bytes)
    for key in names[6:9]:
        s3.delete_object(Bucket=bucket, Key=key)
    s3.put_object(Bucket=bucket, Key="README-RANSOM.txt", Body=b"pay up")
    return bucket, at, originals


def _run(step) -> list:
    step.validate()
    changes = step.plan()
    return [(c, step.apply(c)) for c in changes]


def test_plan_counts_and_changes_nothing(readiness: Readiness) -> None:
    bucket, at, originals = _incident(readiness)
    ctx = readiness.context()
    step = RestoreVersions(ctx, {"bucket": bucket, "to": at.isoformat()})
    step.validate()
    [change] = step.plan()
    assert "Restore 9 object(s)" in change.summary
    assert "6 overwritten, 3 deleted" in change.summary
    names = sorted(originals)
    assert change.after["bytes"] == sum(len(originals[k]) for k in names[:9])
    totals = step.analysis().totals()
    assert totals["overwritten"] == 6 and totals["deleted"] == 3
    assert totals["createdAfter"] == 1 and totals["unchanged"] == 3
    assert totals["createdAfterBytes"] == len(b"pay up")
    s3 = readiness.client("s3")
    assert _body(s3, bucket, names[0]).startswith(b"ENCRYPTED")


def test_apply_restores_pre_incident_contents_and_keeps_evidence(readiness: Readiness) -> None:
    bucket, at, originals = _incident(readiness)
    s3 = readiness.client("s3")
    versions_before = len(s3.list_object_versions(Bucket=bucket).get("Versions", []))
    _run(RestoreVersions(readiness.context(), {"bucket": bucket, "to": at.isoformat()}))
    for key, body in originals.items():
        assert _body(s3, bucket, key) == body
    assert _body(s3, bucket, "README-RANSOM.txt") == b"pay up"  # kept without the flag
    listing = s3.list_object_versions(Bucket=bucket)
    assert len(listing["Versions"]) == versions_before + 9  # the ransom versions remain
    assert len(listing["DeleteMarkers"]) == 3
    # Safe to re-run: nothing left to do.
    again = RestoreVersions(readiness.context(), {"bucket": bucket, "to": at.isoformat()})
    again.validate()
    assert again.plan() == []


def test_remove_new_keys_is_explicit_and_reversible(readiness: Readiness) -> None:
    bucket, at, _ = _incident(readiness)
    s3 = readiness.client("s3")
    step = RemoveNewKeys(readiness.context(), {"bucket": bucket, "to": at.isoformat()})
    [(change, result)] = _run(step)
    assert change.after["keys"] == ["README-RANSOM.txt"]
    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket=bucket, Key="README-RANSOM.txt")
    assert err.value.response["Error"]["Code"] == "NoSuchKey"
    kept = [v for v in s3.list_object_versions(Bucket=bucket, Prefix="README")["Versions"]]
    assert len(kept) == 1  # the version is still there, behind a delete marker
    step.rollback(change, result)
    assert _body(s3, bucket, "README-RANSOM.txt") == b"pay up"


def test_failed_copies_are_resumed_by_a_re_run(readiness: Readiness) -> None:
    bucket, at, originals = _incident(readiness)
    s3 = readiness.client("s3")
    faults = FaultInjector().add("CopyObject", "AccessDenied", 403, calls={2, 5})
    ctx = readiness.context(event_hooks=faults.hooks(), max_attempts=1)
    with pytest.raises(ActionFailed, match="2 of 9 object"):
        _run(RestoreVersions(ctx, {"bucket": bucket, "to": at.isoformat()}))
    wrong = [k for k, body in originals.items() if _body(s3, bucket, k) != body]
    assert len(wrong) == 2
    resumed = RestoreVersions(readiness.context(), {"bucket": bucket, "to": at.isoformat()})
    done = _run(resumed)
    assert done[0][1]["restored"] == 2
    assert all(_body(s3, bucket, k) == body for k, body in originals.items())


def test_calls_per_restored_object_are_batched(readiness: Readiness) -> None:
    bucket, at, _ = _incident(readiness, keys=40)
    counter = FaultInjector()  # no rules: only counts calls by operation
    ctx = readiness.context(event_hooks=counter.hooks())
    [(_, result)] = _run(RestoreVersions(ctx, {"bucket": bucket, "to": at.isoformat()}))
    assert result["restored"] == 9
    assert "HeadObject" not in counter.seen and "GetObject" not in counter.seen
    assert counter.seen["CopyObject"] == 9
    assert sum(counter.seen.values()) <= 1.2 * 9 + 2  # + versioning check + one list page


def test_bad_input_and_preconditions(readiness: Readiness) -> None:
    s3 = readiness.client("s3")
    ctx = readiness.context()
    future = (datetime.now(timezone.utc) + timedelta(minutes=5)).isoformat()
    with pytest.raises(InvalidInput, match="future"):
        RestoreVersions(ctx, {"bucket": "some-bucket", "to": future}).validate()
    with pytest.raises(InvalidInput, match="ISO 8601"):
        RestoreVersions(ctx, {"bucket": "some-bucket", "to": "yesterday"}).validate()
    plain = f"plain-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=plain)
    s3.put_object(Bucket=plain, Key="k", Body=b"v")
    step = RestoreVersions(ctx, {"bucket": plain, "to": datetime.now(timezone.utc).isoformat()})
    step.validate()
    with pytest.raises(PreconditionFailed, match="versioning never enabled"):
        step.plan()
    missing = RestoreVersions(readiness.context(), {
        "bucket": f"gone-{uuid.uuid4().hex[:8]}", "to": datetime.now(timezone.utc).isoformat()})
    missing.validate()
    with pytest.raises(PreconditionFailed, match="NoSuchBucket"):
        missing.plan()


def test_same_second_versions_split_across_pages_keep_listing_order() -> None:
    """S3 lists a key's versions newest first with second-precision times; when a key's
    versions continue on the next page, the version of T is still the newest one."""
    from runbooks.steps.s3_recovery import Analysis, _per_key, classify

    second = datetime(2026, 11, 28, 4, 0, 0, tzinfo=timezone.utc)
    later = second + timedelta(seconds=30)
    pages = [
        {"Versions": [
            {"Key": "a", "VersionId": "a1", "LastModified": second, "IsLatest": True,
             "Size": 1, "ETag": '"a"'},
            {"Key": "k", "VersionId": "k3", "LastModified": later, "IsLatest": True,
             "Size": 9, "ETag": '"ransom"'},
            {"Key": "k", "VersionId": "k2", "LastModified": second, "IsLatest": False,
             "Size": 2, "ETag": '"good"'},
        ]},
        {"Versions": [
            {"Key": "k", "VersionId": "k1", "LastModified": second, "IsLatest": False,
             "Size": 1, "ETag": '"old"'},
        ]},
    ]
    analysis = Analysis()
    for entries in _per_key(pages):
        classify(entries, second + timedelta(seconds=1), analysis)
    assert analysis.restore == [("k", "k2", 2, "overwritten")]
    assert analysis.unchanged == 1
