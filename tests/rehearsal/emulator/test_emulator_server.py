from __future__ import annotations

import time
import uuid

import boto3
import pytest

from rehearsal.emulator import start_server


@pytest.fixture
def creds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


def test_calls_are_counted_by_service_and_operation(creds) -> None:
    with start_server() as emu:
        assert emu.endpoint_url.startswith("http://127.0.0.1:")
        s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=emu.endpoint_url)
        ec2 = boto3.client("ec2", region_name="us-east-1", endpoint_url=emu.endpoint_url)
        bucket = f"b-{uuid.uuid4().hex[:12]}"
        s3.create_bucket(Bucket=bucket)
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        first = s3.put_object(Bucket=bucket, Key="a", Body=b"1")["VersionId"]
        s3.put_object(Bucket=bucket, Key="a", Body=b"2")
        s3.list_object_versions(Bucket=bucket)
        s3.copy_object(
            Bucket=bucket, Key="a", CopySource={"Bucket": bucket, "Key": "a", "VersionId": first}
        )
        s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "a"}]})
        ec2.describe_instances()
        calls = emu.calls()
        assert calls[("s3", "PutObject")] == 2
        assert calls[("s3", "ListObjectVersions")] == 1
        assert calls[("s3", "CopyObject")] == 1
        assert calls[("s3", "DeleteObjects")] == 1
        assert calls[("s3", "PutBucketVersioning")] == 1
        assert calls[("ec2", "DescribeInstances")] == 1
        emu.reset_calls()
        assert emu.calls() == {}


def test_latency_is_added_to_every_call(creds) -> None:
    with start_server(latency_ms=150) as emu:
        sts = boto3.client("sts", region_name="us-east-1", endpoint_url=emu.endpoint_url)
        started = time.perf_counter()
        sts.get_caller_identity()
        sts.get_caller_identity()
        assert time.perf_counter() - started >= 0.3
        emu.latency_ms = 0
        assert emu.calls()[("sts", "GetCallerIdentity")] == 2


def test_stopped_server_refuses_connections(creds) -> None:
    emu = start_server()
    url = emu.endpoint_url
    emu.stop()
    sts = boto3.client(
        "sts",
        region_name="us-east-1",
        endpoint_url=url,
        config=boto3.session.Config(retries={"max_attempts": 1}, connect_timeout=1),
    )
    with pytest.raises(Exception, match="Could not connect"):
        sts.get_caller_identity()
