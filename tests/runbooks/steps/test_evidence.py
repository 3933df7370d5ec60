"""evidence.write-case-file: content in the evidence bucket, encrypted, idempotent."""

from __future__ import annotations

import hashlib

import boto3
import pytest

from runbooks.core.errors import InvalidInput, PreconditionFailed
from runbooks.steps.evidence import WriteCaseFile
from tests.runbooks.steps.conftest import REGION, apply_all


def test_writes_once_and_refuses_a_file_changed_after_planning(make_ctx, tmp_path) -> None:
    ctx = make_ctx(evidence=True)
    path = tmp_path / "timeline.md"
    path.write_text("# timeline\n")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    params = {"name": "timeline.md", "path": str(path), "sha256": digest}
    [(_, result)] = apply_all(WriteCaseFile(ctx, params))
    s3 = boto3.client("s3", region_name=REGION)
    key = f"cases/{ctx.case_id}/timeline.md"
    head = s3.head_object(Bucket=ctx.manifest.evidence_bucket, Key=key)
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["Metadata"]["sha256"] == digest == result["sha256"]
    assert WriteCaseFile(ctx, params).plan() == []

    path.write_text("# timeline, updated\n")
    new = {"name": "timeline.md", "path": str(path),
           "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    step = WriteCaseFile(ctx, new)
    [change] = step.plan()
    path.write_text("# tampered between plan and apply\n")
    with pytest.raises(PreconditionFailed, match="changed since it was planned"):
        step.apply(change)
    body = s3.get_object(Bucket=ctx.manifest.evidence_bucket, Key=key)["Body"].read()
    assert body == b"# timeline\n"


@pytest.mark.parametrize("name", ["../escape.md", "", "a/b.json"])
def test_bad_names_are_refused(make_ctx, tmp_path, name: str) -> None:
    with pytest.raises(InvalidInput):
        WriteCaseFile(make_ctx(), {"name": name, "path": str(tmp_path),
                                   "sha256": "0" * 64}).validate()


def test_outside_the_home_region_the_buckets_own_key_encrypts(make_ctx, tmp_path) -> None:
    """The evidence bucket is in the home region and S3 accepts only a key of that region:
    a write from another region must not name that region's key (the manifest's)."""
    from runbooks.core.context import Context, SessionFactory

    home = make_ctx(evidence=True)
    bucket, home_key = home.manifest.evidence_bucket, home.manifest.kms_key_arn
    s3 = boto3.client("s3", region_name=REGION)
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms",
                                                "KMSMasterKeyID": home_key},
         "BucketKeyEnabled": True}]})
    other = "eu-west-1"
    regional_key = boto3.client("kms", region_name=other).create_key()["KeyMetadata"]["Arn"]
    ctx = Context(sessions=SessionFactory(region=other, max_attempts=2),
                  manifest=home.manifest.model_copy(update={
                      "region": other, "home_region": REGION, "kms_key_arn": regional_key}),
                  case_id=home.case_id, account_id=home.account_id, region=other)
    path = tmp_path / "timeline.json"
    path.write_text("{}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    apply_all(WriteCaseFile(ctx, {"name": "timeline.json", "path": str(path),
                                  "sha256": digest}))
    head = s3.head_object(Bucket=bucket, Key=f"cases/{ctx.case_id}/timeline.json")
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"] == home_key != regional_key
