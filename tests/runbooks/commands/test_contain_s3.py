"""`irctl contain bucket NAME` and its release, end to end against an emulator server:
assertions on the bucket's policy, ACL, Block Public Access and versioning."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError

from tests.runbooks.commands.contain_world import as_json, start
from tests.runbooks.conftest import Readiness

pytestmark = pytest.mark.server
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Readiness]:
    yield from start(tmp_path_factory)


def _settings(server: Readiness, bucket: str) -> dict:
    s3 = server.client("s3")
    try:
        bpa = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    except ClientError as err:
        assert err.response["Error"]["Code"] == "NoSuchPublicAccessBlockConfiguration"
        bpa = None
    try:
        policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    except ClientError as err:
        assert err.response["Error"]["Code"] == "NoSuchBucketPolicy"
        policy = None
    grants = sorted(g["Grantee"].get("URI", g["Grantee"].get("ID", "")) + ":" + g["Permission"]
                    for g in s3.get_bucket_acl(Bucket=bucket)["Grants"])
    return {"bpa": bpa, "policy": policy, "grants": grants,
            "versioning": s3.get_bucket_versioning(Bucket=bucket).get("Status")}


def test_contain_bucket_and_release(server: Readiness):
    s3 = server.client("s3")
    bucket = f"exports-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "Public", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
         "Resource": f"arn:aws:s3:::{bucket}/*"},
        {"Sid": "Partner", "Effect": "Allow",
         "Principal": {"AWS": "arn:aws:iam::210987654321:root"}, "Action": "s3:GetObject",
         "Resource": f"arn:aws:s3:::{bucket}/*"}]}))
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read")
    s3.put_object(Bucket=bucket, Key="customers.csv", Body=b"id,email\n")
    before = _settings(server, bucket)
    assert any(g.startswith(ALL_USERS) for g in before["grants"])
    case = f"case-{uuid.uuid4().hex[:8]}"

    plan = server.irctl("contain", "bucket", bucket, "--case", case)
    assert plan.returncode == 0, plan.stderr
    assert _settings(server, bucket) == before

    run = server.irctl("--output", "json", "contain", "bucket", bucket,
                "--case", case, "--apply")
    assert run.returncode == 0, run.stderr
    after = _settings(server, bucket)
    assert after["bpa"] == {"BlockPublicAcls": True, "IgnorePublicAcls": True,
                            "BlockPublicPolicy": True, "RestrictPublicBuckets": True}
    assert [s["Sid"] for s in after["policy"]["Statement"]] == ["Partner"]
    assert not any(g.startswith(ALL_USERS) for g in after["grants"])
    assert after["versioning"] == "Enabled"
    assert s3.get_object(Bucket=bucket, Key="customers.csv")["Body"].read() == b"id,email\n"

    again = server.irctl("--output", "json", "contain", "bucket", bucket,
                  "--case", case)
    assert again.returncode == 0 and as_json(again)["runs"][0]["targets"][0]["changes"] == []

    released = server.irctl("release", "bucket", bucket, "--case", case, "--apply")
    assert released.returncode == 0, released.stdout + released.stderr
    restored = _settings(server, bucket)
    assert restored == {**before, "versioning": "Suspended"}  # versioning can only suspend


def test_exposed_bucket_playbook_is_released_to_the_original_state(server: Readiness):
    """The playbook closes the bucket in an order `release` can undo: Block Public Access
    is lifted before the recorded public policy and grants are put back (S3 refuses them
    while it is on)."""
    s3 = server.client("s3")
    bucket = f"exports-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "Public", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
         "Resource": f"arn:aws:s3:::{bucket}/*"}]}))
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read")
    before = _settings(server, bucket)
    case = f"case-{uuid.uuid4().hex[:8]}"

    run = server.irctl("--output", "json", "playbook", "run", "exposed-s3-bucket",
                       "--param", f"bucket={bucket}", "--param", "sensitive=false",
                       "--case", case, "--apply")
    assert run.returncode == 0, run.stdout + run.stderr
    closed = _settings(server, bucket)
    assert closed["bpa"] and all(closed["bpa"].values())
    assert closed["policy"] is None or not any(
        s.get("Principal") == "*" for s in closed["policy"]["Statement"])
    assert not any(g.startswith(ALL_USERS) for g in closed["grants"])

    released = server.irctl("release", "bucket", bucket, "--case", case, "--apply")
    assert released.returncode == 0, released.stdout + released.stderr
    assert _settings(server, bucket) == {**before, "versioning": "Suspended"}


def test_unknown_bucket_exits_2(server: Readiness):
    run = server.irctl("--output", "json", "contain", "bucket",
                f"missing-{uuid.uuid4().hex[:10]}", "--apply")
    assert run.returncode == 2
    assert "does not exist" in as_json(run)["runs"][0]["targets"][0]["error"]


def test_malformed_bucket_name_exits_2(server: Readiness):
    run = server.irctl("contain", "bucket", "Not_A_Bucket")
    assert run.returncode == 2
    assert "bucket name 'Not_A_Bucket' is malformed" in run.stderr
