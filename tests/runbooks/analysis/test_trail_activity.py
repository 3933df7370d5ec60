"""CloudTrail activity from the trail's S3 log files (moto S3) and its filtering."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import boto3
import pytest
from moto import mock_aws

from runbooks.analysis.cloudtrail import LogLocation, Subject, collect, log_keys
from tests.runbooks.analysis.trail_logs import ACCOUNT, put_log, record

T0 = datetime(2026, 11, 27, 22, 0, tzinfo=timezone.utc)


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        bucket = f"trail-{uuid.uuid4().hex[:12]}"
        client.create_bucket(Bucket=bucket)
        yield client, bucket


def test_s3_logs_filtered_to_window_and_subject_across_days(s3) -> None:
    client, bucket = s3
    bot_run = record("RunInstances", T0 + timedelta(minutes=5),
                     response={"instancesSet": {"items": [{"instanceId": "i-0bad"}]}})
    other = record("RunInstances", T0 + timedelta(minutes=6), user="alice", key="AKIAOTHER")
    # Crosses midnight: events at 23:58 delivered the next day.
    late = record("CreateUser", T0 + timedelta(hours=1, minutes=58),
                  source="iam.amazonaws.com", request={"userName": "backdoor"})
    too_early = record("DescribeInstances", T0 - timedelta(days=2))
    put_log(client, bucket, T0 + timedelta(minutes=10), [bot_run, other])
    put_log(client, bucket, T0 + timedelta(hours=2, minutes=3), [late])
    put_log(client, bucket, T0 - timedelta(days=2) + timedelta(minutes=5), [too_early])
    location = LogLocation(bucket, ACCOUNT, "us-east-1")

    activity = collect(subjects=[Subject("Username", "build-bot")], start=T0,
                       end=T0 + timedelta(hours=3), s3=client, location=location)

    assert [e.name for e in activity.events] == ["RunInstances", "CreateUser"]
    assert {e.event_id for e in activity.events} == {bot_run["eventID"], late["eventID"]}
    assert all(e.origin.startswith(f"s3://{bucket}/AWSLogs/{ACCOUNT}/") for e in activity.events)


def test_files_delivered_outside_the_window_are_not_read(s3) -> None:
    client, bucket = s3
    inside = put_log(client, bucket, T0 + timedelta(minutes=15), [record("X", T0)])
    put_log(client, bucket, T0 - timedelta(hours=3), [record("Y", T0 - timedelta(hours=3))])
    put_log(client, bucket, T0 + timedelta(hours=9), [record("Z", T0 + timedelta(hours=9))])
    keys = list(log_keys(client, LogLocation(bucket, ACCOUNT, "us-east-1"), T0,
                         T0 + timedelta(hours=1)))
    assert keys == [inside]


def test_prefix_and_resource_matching(s3) -> None:
    client, bucket = s3
    stop = record("StopInstances", T0 + timedelta(minutes=1), user="ops", key="AKIAOPS",
                  request={"instancesSet": {"items": [{"instanceId": "i-0a1b2c3d4e5f60718"}]}})
    by_arn = record("ModifyInstanceAttribute", T0 + timedelta(minutes=2), user="ops",
                    key="AKIAOPS",
                    resources=["arn:aws:ec2:us-east-1:123456789012:instance/i-0a1b2c3d4e5f60718"])
    unrelated = record("StopInstances", T0 + timedelta(minutes=3), user="ops", key="AKIAOPS",
                       request={"instancesSet": {"items": [{"instanceId": "i-0ffff"}]}})
    put_log(client, bucket, T0 + timedelta(minutes=5), [stop, by_arn, unrelated],
            prefix="org/trails")
    location = LogLocation(bucket, ACCOUNT, "us-east-1", prefix="org/trails")
    activity = collect(subjects=[Subject("ResourceName", "i-0a1b2c3d4e5f60718")], start=T0,
                       end=T0 + timedelta(hours=1), s3=client, location=location)
    assert [e.name for e in activity.events] == ["StopInstances", "ModifyInstanceAttribute"]


def test_assumed_role_sessions_match_by_role_and_session(s3) -> None:
    identity = {
        "type": "AssumedRole",
        "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/web-app/i-0a1b2c3d4e5f60718",
        "accessKeyId": "ASIAEXAMPLE",
        "sessionContext": {"sessionIssuer": {"type": "Role", "userName": "web-app",
                                             "arn": f"arn:aws:iam::{ACCOUNT}:role/web-app"}},
    }
    event = record("ListBuckets", T0, source="s3.amazonaws.com", identity=identity)
    assert Subject("Username", "i-0a1b2c3d4e5f60718").matches(event)
    assert Subject("Username", "web-app").matches(event)
    assert Subject("AccessKeyId", "ASIAEXAMPLE").matches(event)
    assert not Subject("Username", "build-bot").matches(event)


def test_a_corrupt_log_file_is_skipped_and_named(s3) -> None:
    client, bucket = s3
    key = (f"AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/2026/11/27/"
           f"{ACCOUNT}_CloudTrail_us-east-1_20261127T2205Z_x.json.gz")
    client.put_object(Bucket=bucket, Key=key, Body=b"not gzip")
    good = record("RunInstances", T0 + timedelta(minutes=1))
    put_log(client, bucket, T0 + timedelta(minutes=10), [good])
    activity = collect(subjects=[], start=T0, end=T0 + timedelta(hours=1), s3=client,
                       location=LogLocation(bucket, ACCOUNT, "us-east-1"))
    assert [e.event_id for e in activity.events] == [good["eventID"]]
    assert any("not a gzip CloudTrail log file" in n and key in n for n in activity.notes)


def test_lookup_events_reads_every_page(s3) -> None:
    from rehearsal.emulator import inject_events, install
    from tests.runbooks.analysis.trail_logs import as_lookup_event

    install()
    now = datetime.now(timezone.utc).replace(microsecond=0)
    records = [record("DescribeInstances", now - timedelta(minutes=i), user="pager",
                      key="AKIAPAGER") for i in range(1, 121)]
    inject_events([as_lookup_event(r) for r in records], account_id=ACCOUNT,
                  region="us-east-1")
    client = boto3.client("cloudtrail", region_name="us-east-1")
    calls: list[str] = []
    client.meta.events.register("before-call.cloudtrail.LookupEvents",
                                lambda **kw: calls.append("x"))
    activity = collect(subjects=[Subject("Username", "pager")],
                       start=now - timedelta(hours=3), end=now, cloudtrail=client)
    assert {e.event_id for e in activity.events} == {r["eventID"] for r in records}
    assert len(calls) == 3  # 50 + 50 + 20


def test_organization_trail_layout_is_found(s3) -> None:
    import gzip
    import json

    from runbooks.analysis.cloudtrail import organization_folder

    client, bucket = s3
    assert organization_folder(client, bucket, "", ACCOUNT) is None  # empty bucket
    event = record("RunInstances", T0 + timedelta(minutes=1))
    key = (f"org/AWSLogs/o-a1b2c3d4e5/{ACCOUNT}/CloudTrail/us-east-1/2026/11/27/"
           f"{ACCOUNT}_CloudTrail_us-east-1_20261127T2205Z_abc.json.gz")
    client.put_object(Bucket=bucket, Key=key,
                      Body=gzip.compress(json.dumps({"Records": [event]}).encode()))
    client.put_object(Bucket=bucket, Key="org/AWSLogs/o-a1b2c3d4e5/210987654321/x", Body=b"")
    org = organization_folder(client, bucket, "org", ACCOUNT)
    assert org == "o-a1b2c3d4e5"
    assert organization_folder(client, bucket, "org", "111122223333") is None
    activity = collect(subjects=[Subject("Username", "build-bot")], start=T0,
                       end=T0 + timedelta(hours=1), s3=client,
                       location=LogLocation(bucket, ACCOUNT, "us-east-1", "org", org))
    assert [e.event_id for e in activity.events] == [event["eventID"]]


def test_an_archived_log_file_is_skipped_and_named_with_its_restore_command(s3) -> None:
    client, bucket = s3
    early = record("CreateUser", T0 + timedelta(minutes=1))
    archived = put_log(client, bucket, T0 + timedelta(minutes=5), [early])
    # what the log bucket's lifecycle rule does after archiveAfterDays
    client.copy_object(Bucket=bucket, Key=archived, CopySource={"Bucket": bucket,
                                                                "Key": archived},
                       StorageClass="GLACIER")
    good = record("RunInstances", T0 + timedelta(minutes=11))
    put_log(client, bucket, T0 + timedelta(minutes=15), [good])

    activity = collect(subjects=[], start=T0, end=T0 + timedelta(hours=1), s3=client,
                       location=LogLocation(bucket, ACCOUNT, "us-east-1"))

    assert [e.event_id for e in activity.events] == [good["eventID"]]
    (note,) = [n for n in activity.notes if archived in n]
    assert "archived in Glacier" in note and "restore-object" in note
