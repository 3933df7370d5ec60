"""Bucket policies evaluated with principals and conditions (the drill's S3 extension)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from rehearsal.emulator import s3_policy
from rehearsal.emulator.s3_policy import statement_applies

ACCOUNT = "123456789012"
TLS_ONLY = {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "*",
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}}


@pytest.mark.parametrize(
    ("statement", "applies"),
    [
        (TLS_ONLY, False),  # the emulator stands in for HTTPS endpoints
        ({"Effect": "Deny", "Principal": "*", "Action": "s3:*"}, True),
        ({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "s3:GetObject"}, True),
        ({"Effect": "Allow", "Principal": {"Service": "guardduty.amazonaws.com"},
          "Action": "s3:PutObject"}, False),
        ({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
          "Action": "s3:*"}, True),
        ({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::999999999999:root"},
          "Action": "s3:*"}, False),
        ({"Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
          "Condition": {"StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"}}},
         False),  # a key the request does not carry: the condition does not match
        ({"Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
          "Condition": {"StringNotEqualsIfExists": {"aws:SourceAccount": ACCOUNT}}}, True),
    ],
)
def test_statement_applicability(statement: dict[str, Any], applies: bool) -> None:
    assert statement_applies(statement, ACCOUNT) is applies


@pytest.fixture
def policy_extension() -> Iterator[None]:
    s3_policy.install()
    yield
    s3_policy.uninstall()


def test_objects_are_writable_under_a_tls_only_policy_and_an_explicit_deny_still_holds(
    client: Callable[..., Any], policy_extension: None,
) -> None:
    s3 = client("s3")
    bucket = f"evidence-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17",
        "Statement": [{**TLS_ONLY, "Resource": [f"arn:aws:s3:::{bucket}",
                                                 f"arn:aws:s3:::{bucket}/*"]}]}))
    s3.put_object(Bucket=bucket, Key="cases/c/audit.jsonl", Body=b"{}")
    assert s3.get_object(Bucket=bucket, Key="cases/c/audit.jsonl")["Body"].read() == b"{}"

    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",
                       "Resource": f"arn:aws:s3:::{bucket}/*"}]}))
    with pytest.raises(ClientError) as denied:
        s3.get_object(Bucket=bucket, Key="cases/c/audit.jsonl")
    assert denied.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_access_logging_is_accepted_into_a_tls_only_bucket_granting_the_logging_service(
    client: Callable[..., Any], policy_extension: None,
) -> None:
    """Plain moto 5.2 fails PutBucketLogging with a 500 on the `Principal: "*"` statement."""
    s3 = client("s3")
    source, target = (f"{n}-{uuid.uuid4().hex[:10]}" for n in ("trail", "access-logs"))
    for bucket in (source, target):
        s3.create_bucket(Bucket=bucket)
    grant = {"Sid": "S3ServerAccessLogDelivery", "Effect": "Allow",
             "Principal": {"Service": "logging.s3.amazonaws.com"}, "Action": "s3:PutObject",
             "Resource": f"arn:aws:s3:::{target}/*",
             "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}}}
    tls = {**TLS_ONLY, "Resource": [f"arn:aws:s3:::{target}", f"arn:aws:s3:::{target}/*"]}
    logging = {"LoggingEnabled": {"TargetBucket": target, "TargetPrefix": "trail/"}}

    s3.put_bucket_policy(Bucket=target, Policy=json.dumps(
        {"Version": "2012-10-17", "Statement": [tls]}))
    with pytest.raises(ClientError) as refused:
        s3.put_bucket_logging(Bucket=source, BucketLoggingStatus=logging)
    assert refused.value.response["Error"]["Code"] == "InvalidTargetBucketForLogging"

    s3.put_bucket_policy(Bucket=target, Policy=json.dumps(
        {"Version": "2012-10-17", "Statement": [tls, grant]}))
    s3.put_bucket_logging(Bucket=source, BucketLoggingStatus=logging)
    assert s3.get_bucket_logging(Bucket=source)["LoggingEnabled"]["TargetBucket"] == target
