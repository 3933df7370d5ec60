"""`collect()` against a moto server behind the fault layer: a failing source or log file
is recorded with its error code and request id, and every other one is still read
(issue #16 section 2)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import boto3
import pytest
from botocore.config import Config

from runbooks.analysis.cloudtrail import MAX_FILE_FAILURES, LogLocation, Subject, collect
from tests.fault_server import FaultPlan, start_fault_server
from tests.runbooks.analysis.trail_logs import ACCOUNT, put_log, record

pytestmark = pytest.mark.server
REGION = "us-east-1"


@pytest.fixture
def faulty(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FaultPlan, Any]]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    plan = FaultPlan()
    server = start_fault_server(plan)
    try:
        # one attempt per call: the fault is what the caller sees, not a retry's success
        s3 = boto3.client("s3", region_name=REGION, endpoint_url=server.endpoint_url,
                          config=Config(retries={"total_max_attempts": 1}))
        yield plan, s3
    finally:
        plan.clear()
        server.stop()


def logs(s3: Any, count: int) -> tuple[str, datetime, list[str]]:
    bucket = f"trail-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    start = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=2)
    ids = []
    for i in range(count):
        event = record("CreateUser", start + timedelta(minutes=10 * i + 1),
                       source="iam.amazonaws.com", request={"userName": f"u{i}"})
        put_log(s3, bucket, start + timedelta(minutes=10 * i + 5), [event])
        ids.append(event["eventID"])
    return bucket, start, ids


def test_a_failing_log_file_is_named_and_the_others_are_read(
        faulty: tuple[FaultPlan, Any]) -> None:
    plan, s3 = faulty
    bucket, start, ids = logs(s3, 3)
    plan.fail("GetObject", status=500, code="InternalError", calls={2})

    activity = collect(subjects=[Subject("Username", "build-bot")], start=start,
                       end=start + timedelta(hours=1), s3=s3,
                       location=LogLocation(bucket, ACCOUNT, REGION))

    assert sorted(e.event_id for e in activity.events) == sorted([ids[0], ids[2]])
    [failed] = activity.failures
    assert failed.source.startswith(f"s3://{bucket}/AWSLogs/{ACCOUNT}/CloudTrail/{REGION}/")
    assert failed.error.code == "InternalError" and failed.error.request_id


def test_a_failing_bucket_is_given_up_after_a_few_files(
        faulty: tuple[FaultPlan, Any]) -> None:
    plan, s3 = faulty
    bucket, start, _ = logs(s3, MAX_FILE_FAILURES + 2)
    plan.deny("GetObject")

    activity = collect(subjects=[], start=start, end=start + timedelta(hours=2), s3=s3,
                       location=LogLocation(bucket, ACCOUNT, REGION))

    assert activity.events == []
    assert len(activity.failures) == MAX_FILE_FAILURES
    assert {f.error.code for f in activity.failures} == {"AccessDenied"}
    assert plan.seen["GetObject"] == MAX_FILE_FAILURES
    assert any("stopped reading" in n for n in activity.notes)


def test_lookup_events_failing_is_recorded_not_raised(
        faulty: tuple[FaultPlan, Any]) -> None:
    plan, s3 = faulty
    cloudtrail = boto3.client("cloudtrail", region_name=REGION,
                              endpoint_url=s3.meta.endpoint_url,
                              config=Config(retries={"total_max_attempts": 1}))
    plan.throttle("LookupEvents")
    now = datetime.now(timezone.utc)

    activity = collect(subjects=[Subject("Username", "build-bot")],
                       start=now - timedelta(hours=1), end=now, cloudtrail=cloudtrail)

    [failed] = activity.failures
    assert (failed.source, failed.error.operation, failed.error.code) == (
        "lookup_events", "LookupEvents", "ThrottlingException")
    assert failed.error.request_id
