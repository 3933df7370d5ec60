"""Build CloudTrail records and log files the way CloudTrail writes them (test helper)."""

from __future__ import annotations

import gzip
import json
import uuid
from datetime import datetime
from typing import Any

ACCOUNT = "123456789012"


def record(
    name: str,
    when: datetime,
    *,
    source: str = "ec2.amazonaws.com",
    user: str = "build-bot",
    key: str = "AKIAIOSFODNN7EXAMPLE",
    region: str = "us-east-1",
    request: dict[str, Any] | None = None,
    response: dict[str, Any] | None = None,
    resources: list[str] | None = None,
    error: str | None = None,
    identity: dict[str, Any] | None = None,
    event_type: str = "AwsApiCall",
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "eventVersion": "1.09",
        "userIdentity": identity or {
            "type": "IAMUser",
            "principalId": "AIDAJQABLZS4A3QDU576Q",
            "arn": f"arn:aws:iam::{ACCOUNT}:user/{user}",
            "accountId": ACCOUNT,
            "accessKeyId": key,
            "userName": user,
        },
        "eventTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": source,
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": "203.0.113.77",
        "userAgent": "aws-cli/2.15.0",
        "requestParameters": request,
        "responseElements": response,
        "requestID": str(uuid.uuid4()),
        "eventID": str(uuid.uuid4()),
        "readOnly": name.startswith(("Describe", "Get", "List")),
        "eventType": event_type,
        "managementEvent": event_type == "AwsApiCall",
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Management" if event_type == "AwsApiCall" else "Data",
    }
    if resources:
        doc["resources"] = [{"ARN": arn, "accountId": ACCOUNT} for arn in resources]
    if error:
        doc["errorCode"] = error
        doc["errorMessage"] = "denied"
    return doc


def log_key(delivered: datetime, region: str = "us-east-1", prefix: str = "") -> str:
    base = f"{prefix}/" if prefix else ""
    return (
        f"{base}AWSLogs/{ACCOUNT}/CloudTrail/{region}/{delivered:%Y/%m/%d}/"
        f"{ACCOUNT}_CloudTrail_{region}_{delivered:%Y%m%dT%H%M}Z_{uuid.uuid4().hex[:16]}.json.gz"
    )


def put_log(s3: Any, bucket: str, delivered: datetime, records: list[dict[str, Any]],
            region: str = "us-east-1", prefix: str = "") -> str:
    key = log_key(delivered, region, prefix)
    body = gzip.compress(json.dumps({"Records": records}).encode())
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    return key


def as_lookup_event(doc: dict[str, Any], *resources: tuple[str, str]) -> dict[str, Any]:
    """The same event as LookupEvents returns it: resources named as CloudTrail names
    them in event history (an instance by its id, a bucket by its name)."""
    identity = doc.get("userIdentity") or {}
    return {
        "EventId": doc["eventID"],
        "EventName": doc["eventName"],
        "ReadOnly": str(doc.get("readOnly", False)).lower(),
        "AccessKeyId": identity.get("accessKeyId"),
        "EventTime": doc["eventTime"],
        "EventSource": doc["eventSource"],
        "Username": identity.get("userName"),
        "Resources": [{"ResourceType": t, "ResourceName": n} for t, n in resources],
        "CloudTrailEvent": json.dumps(doc),
    }
