"""S3 refuses a body whose sent SHA-256 checksum does not match it (BadDigest), as S3
does; a matching one is stored and returned with ChecksumMode=ENABLED."""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError


def _checksum(body: bytes) -> str:
    return base64.b64encode(hashlib.sha256(body).digest()).decode()


def _bucket(client: Callable[..., Any]) -> tuple[Any, str]:
    s3 = client("s3")
    bucket = f"evidence-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    return s3, bucket


def test_a_matching_sha256_is_stored_and_returned(client: Callable[..., Any]) -> None:
    s3, bucket = _bucket(client)
    body = b'{"instance": "i-0123456789abcdef0"}'
    s3.put_object(Bucket=bucket, Key="cases/c/metadata.json", Body=body,
                  ChecksumAlgorithm="SHA256", ChecksumSHA256=_checksum(body))
    head = s3.head_object(Bucket=bucket, Key="cases/c/metadata.json", ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == _checksum(body)


def test_a_body_that_arrives_different_is_refused_and_not_stored(
        client: Callable[..., Any]) -> None:
    s3, bucket = _bucket(client)
    with pytest.raises(ClientError) as refused:
        s3.put_object(Bucket=bucket, Key="cases/c/metadata.json", Body=b"tampered in transit",
                      ChecksumAlgorithm="SHA256", ChecksumSHA256=_checksum(b"what was sent"))
    assert refused.value.response["Error"]["Code"] == "BadDigest"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0


def test_a_put_without_a_sha256_is_unchanged(client: Callable[..., Any]) -> None:
    s3, bucket = _bucket(client)
    s3.put_object(Bucket=bucket, Key="plain", Body=b"no checksum sent")
    assert s3.get_object(Bucket=bucket, Key="plain")["Body"].read() == b"no checksum sent"
