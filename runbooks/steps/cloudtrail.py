"""CloudTrail evidence steps.

`cloudtrail.capture-key-activity` saves the recent CloudTrail management events made with
one access key (LookupEvents, AccessKeyId attribute) as JSON in the evidence bucket,
`cases/<case>/evidence/access-key-<KEY_ID>/cloudtrail-events.json`, encrypted with the
manifest's KMS key. LookupEvents covers the last 90 days of management events of one
region, so the step asks the manifest's region and us-east-1 (where IAM and other global
services record theirs); other regions need `irctl investigate` or the trail's S3 logs.
It is throttled to 2 requests per second, hence the `max_events` cap per region. When a
region cannot answer (the API is not permitted, not supported, or denied to the
responder) the object still records that its activity was *not available* and why, so
the evidence shows the gap instead of silently missing it. Evidence is never deleted or
rewritten: not reversible. The result lists the roles the key assumed (`assumedRoles`):
sessions of those roles are not cut by the user's deny-all, so contain each role too.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import timedelta
from typing import Annotated, Any

from botocore.exceptions import ClientError

from runbooks.core.errors import InvalidInput
from runbooks.core.evidence_queue import already_held, put_evidence
from runbooks.core.scopes import EVIDENCE_OBJECTS, STACK_KEYS
from runbooks.core.step import Change, Step, StepParams, checked_by, register
from runbooks.steps.iam import AccessKeyId, error_code

# Error codes meaning "this account/region cannot answer LookupEvents for us".
NOT_AVAILABLE_CODES = frozenset(
    {
        "UnsupportedOperationException",
        "OperationNotPermittedException",
        "AccessDeniedException",
        "AccessDenied",
        "UnrecognizedClientException",
    }
)


GLOBAL_EVENTS_REGION = "us-east-1"


def evidence_key(case_id: str, key_id: str) -> str:
    return f"cases/{case_id}/evidence/access-key-{key_id}/cloudtrail-events.json"


def assumed_roles(events: list[dict[str, Any]]) -> list[str]:
    """Roles the key assumed: their sessions outlive the user's deny-all (a role session
    has the role's permissions), so each needs `irctl contain role NAME`."""
    roles = set()
    for event in events:
        record = event.get("CloudTrailEvent")
        if not isinstance(record, dict) or not str(record.get("eventName", "")).startswith(
                "AssumeRole"):
            continue
        arn = (record.get("requestParameters") or {}).get("roleArn")
        if arn:
            roles.add(str(arn))
    return sorted(roles)


def _check_days(days: Any) -> None:
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 90:
        raise InvalidInput(f"days={days!r}: CloudTrail event history covers 1 to 90 days")


def _check_max_events(max_events: Any) -> None:
    if isinstance(max_events, bool) or not isinstance(max_events, int) \
            or not 1 <= max_events <= 50_000:
        raise InvalidInput(f"max_events={max_events!r}: give an integer from 1 to 50000")


class CaptureKeyActivityParams(StepParams):
    access_key_id: AccessKeyId
    days: Annotated[int, checked_by(_check_days)] = 7
    max_events: Annotated[int, checked_by(_check_max_events)] = 1000


@register
class CaptureKeyActivity(Step):
    name = "cloudtrail.capture-key-activity"
    description = "Save an access key's recent CloudTrail events to the evidence bucket"
    actions = frozenset({"cloudtrail:LookupEvents", "s3:PutObject", "s3:GetObject",
                         "kms:GenerateDataKey"})
    scopes = {"s3:GetObject": EVIDENCE_OBJECTS, "s3:PutObject": EVIDENCE_OBJECTS,
              "kms:GenerateDataKey": STACK_KEYS}
    reversible = False
    Params = CaptureKeyActivityParams
    release_kind = "access-key"

    def plan(self) -> list[Change]:
        key_id = str(self.params["access_key_id"])
        bucket = self.ctx.manifest.evidence_bucket
        key = evidence_key(self.ctx.case_id, key_id)
        if already_held(self.ctx, bucket, key):
            return []  # already captured (or queued) in this case; never rewritten
        days = int(self.params.get("days", 7))
        return [Change(self.name, key_id,
                       f"Save the last {days} days of CloudTrail events of key {key_id} "
                       f"({', '.join(self._regions())}) to s3://{bucket}/{key}",
                       after={"bucket": bucket, "key": key, "days": days})]

    def apply(self, change: Change) -> Mapping[str, Any]:
        key_id = change.target
        days = int(change.after["days"])
        end = self.ctx.now()
        start = end - timedelta(days=days)
        record: dict[str, Any] = {
            "accessKeyId": key_id, "case": self.ctx.case_id,
            "startTime": start.isoformat(), "endTime": end.isoformat(), "regions": {},
        }
        events: list[dict[str, Any]] = []
        for region in self._regions():
            try:
                found = self._lookup(region, key_id, start, end)
            except ClientError as err:
                if error_code(err) not in NOT_AVAILABLE_CODES:
                    raise
                record["regions"][region] = {
                    "available": False,
                    "reason": f"CloudTrail LookupEvents not available: {error_code(err)}"}
                continue
            record["regions"][region] = {"available": True, "events": len(found),
                                         "truncated": len(found) >= self._cap()}
            events += found
        record["available"] = any(r["available"] for r in record["regions"].values())
        record["events"] = events
        body = json.dumps(record, indent=2, sort_keys=True, default=str).encode("utf-8")
        written = put_evidence(
            self.ctx, change.after["bucket"], change.after["key"], body,
            ContentType="application/json", ChecksumAlgorithm="SHA256",
            **self.ctx.evidence_encryption(),
            ExpectedBucketOwner=self.ctx.account_id)
        unavailable = {r: v["reason"] for r, v in record["regions"].items()
                       if not v["available"]}
        return {"s3Uri": f"s3://{change.after['bucket']}/{change.after['key']}",
                "available": record["available"], "events": len(events),
                "sha256": hashlib.sha256(body).hexdigest(),
                **({"queued": written["queued"]} if "queued" in written else
                   {"versionId": written.get("versionId")}),
                "assumedRoles": assumed_roles(events),
                **({"notAvailable": unavailable} if unavailable else {})}

    def _regions(self) -> list[str]:
        # IAM, STS-global and other global services record their events in us-east-1.
        return list(dict.fromkeys([self.ctx.region, GLOBAL_EVENTS_REGION]))

    def _cap(self) -> int:
        return int(self.params.get("max_events", 1000))

    def _lookup(self, region: str, key_id: str, start: Any, end: Any) -> list[dict[str, Any]]:
        client = self.ctx.sessions.client("cloudtrail", region)
        pages = client.get_paginator("lookup_events").paginate(
            LookupAttributes=[{"AttributeKey": "AccessKeyId", "AttributeValue": key_id}],
            StartTime=start, EndTime=end,
            PaginationConfig={"MaxItems": self._cap(), "PageSize": 50})
        events: list[dict[str, Any]] = []
        for page in pages:
            for event in page.get("Events", []):
                # CloudTrailEvent is the full record as a JSON string: keep it parsed.
                raw = event.get("CloudTrailEvent")
                events.append({**event, "CloudTrailEvent": json.loads(raw)} if raw else event)
        return events
