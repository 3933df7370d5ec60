"""CloudTrail activity for principals and resources, from the API and the trail's logs.

Two sources, one record shape (the CloudTrail record JSON):

- `lookup_events`: management events of the last 90 days in one region, one lookup
  attribute per call, paged with NextToken (botocore's paginator). Cheap for short
  windows, but it never has data events (S3 object reads, Lambda invokes).
- the trail's S3 log files, `[prefix/]AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/
  <account>_CloudTrail_<region>_<YYYYMMDDTHHMMZ>_<id>.json.gz`: every event the trail
  delivered, data events included, for as far back as the bucket keeps them. Files are
  listed per day and skipped by the delivery time in their name when it cannot hold
  events of the window.

Both are filtered to the window and to the subjects, and merged by `eventID`.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from runbooks.analysis.findings import Finding, parse_time
from runbooks.analysis.sources import SourceFailure, failure, read_errors
from runbooks.core.errors import PreconditionFailed

LOOKUP_RETENTION = timedelta(days=90)
# CloudTrail delivers a file about every 5 minutes; allow generous lateness.
DELIVERY_LAG = timedelta(hours=1)
_LOG_NAME = re.compile(r"_CloudTrail_[a-z0-9-]+_(\d{8}T\d{4})Z_[^/]+\.json\.gz$")
MAX_FILE_FAILURES = 5  # log files that may fail before the whole bucket is given up
LOOKUP_KEYS = ("Username", "AccessKeyId", "ResourceName", "EventName", "EventSource")


@dataclass(frozen=True)
class Subject:
    """One thing to look for, in `lookup_events` attribute terms."""

    attribute: str
    value: str

    def __post_init__(self) -> None:
        if self.attribute not in LOOKUP_KEYS:
            raise ValueError(f"unsupported lookup attribute {self.attribute}")

    def matches(self, record: Mapping[str, Any]) -> bool:
        """Does a raw CloudTrail record concern this subject (as lookup_events would)?"""
        identity = record.get("userIdentity") or {}
        value = self.value
        if self.attribute == "Username":
            issuer = ((identity.get("sessionContext") or {}).get("sessionIssuer") or {})
            arn = str(identity.get("arn") or "")
            return value in (identity.get("userName"), issuer.get("userName")) or (
                arn.endswith("/" + value)
            )
        if self.attribute == "AccessKeyId":
            return identity.get("accessKeyId") == value or _mentions(record, value)
        if self.attribute == "ResourceName":
            for res in record.get("resources") or []:
                arn = str(res.get("ARN") or res.get("arn") or "")
                if arn == value or arn.endswith(("/" + value, ":" + value)):
                    return True
            return _mentions(record, value)
        if self.attribute == "EventName":
            return record.get("eventName") == value
        return record.get("eventSource") == value

    def to_dict(self) -> dict[str, str]:
        return {"attribute": self.attribute, "value": self.value}


def _mentions(record: Mapping[str, Any], value: str) -> bool:
    for key in ("requestParameters", "responseElements"):
        part = record.get(key)
        if part and value in json.dumps(part, default=str):
            return True
    return False


@dataclass(frozen=True)
class TrailEvent:
    """One CloudTrail record, reduced to what a responder reads in a timeline."""

    event_id: str
    time: datetime
    name: str
    service: str
    region: str
    actor: str
    access_key_id: str | None
    source_ip: str | None
    user_agent: str | None
    error_code: str | None
    read_only: bool | None
    resources: tuple[str, ...]
    origin: str
    record: Mapping[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @classmethod
    def from_record(cls, record: Mapping[str, Any], origin: str) -> TrailEvent | None:
        when = parse_time(record.get("eventTime"))
        if when is None:
            return None
        identity = record.get("userIdentity") or {}
        actor = str(
            identity.get("arn")
            or identity.get("userName")
            or identity.get("invokedBy")
            or identity.get("type")
            or "unknown"
        )
        read_only = record.get("readOnly")
        if isinstance(read_only, str):
            read_only = read_only.lower() == "true"
        resources = tuple(
            str(r.get("ARN") or r.get("arn")) for r in record.get("resources") or []
            if r.get("ARN") or r.get("arn")
        )
        return cls(
            event_id=str(record.get("eventID") or f"{when.isoformat()}-{record.get('eventName')}"),
            time=when,
            name=str(record.get("eventName", "")),
            service=str(record.get("eventSource", "")),
            region=str(record.get("awsRegion", "")),
            actor=actor,
            access_key_id=identity.get("accessKeyId"),
            source_ip=record.get("sourceIPAddress"),
            user_agent=record.get("userAgent"),
            error_code=record.get("errorCode"),
            read_only=read_only,
            resources=resources,
            origin=origin,
            record=record,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "eventId": self.event_id,
            "time": self.time.isoformat().replace("+00:00", "Z"),
            "eventName": self.name,
            "eventSource": self.service,
            "region": self.region,
            "actor": self.actor,
            "accessKeyId": self.access_key_id,
            "sourceIp": self.source_ip,
            "userAgent": self.user_agent,
            "errorCode": self.error_code,
            "readOnly": self.read_only,
            "resources": list(self.resources),
            "origin": self.origin,
        }


def subjects_for(findings: Iterable[Finding]) -> list[Subject]:
    """What to look up for the findings' principals and resources."""
    subjects: dict[Subject, None] = {}
    for finding in findings:
        for principal in finding.principals:
            if principal.access_key_id:
                subjects[Subject("AccessKeyId", principal.access_key_id)] = None
            if principal.kind == "iam-user" and principal.name:
                subjects[Subject("Username", principal.name)] = None
            if principal.kind == "iam-role" and principal.arn:
                # AssumeRole events name the role by ARN.
                subjects[Subject("ResourceName", principal.arn)] = None
        for resource in finding.resources:
            if resource.kind == "instance":
                subjects[Subject("ResourceName", resource.id)] = None
                # Instance-role sessions are named after the instance.
                subjects[Subject("Username", resource.id)] = None
            elif resource.kind == "iam-role":
                subjects[Subject("ResourceName", resource.arn or resource.id)] = None
            elif resource.kind in ("s3-bucket", "security-group"):
                subjects[Subject("ResourceName", resource.id)] = None
            elif resource.kind == "iam-user":
                subjects[Subject("Username", resource.id)] = None
            elif resource.kind == "access-key":
                subjects[Subject("AccessKeyId", resource.id)] = None
    return list(subjects)


def lookup_events(
    client: Any, subject: Subject, start: datetime, end: datetime
) -> Iterator[TrailEvent]:
    """Every management event for `subject` in [start, end], all pages."""
    paginator = client.get_paginator("lookup_events")
    pages = paginator.paginate(
        LookupAttributes=[{"AttributeKey": subject.attribute, "AttributeValue": subject.value}],
        StartTime=start,
        EndTime=end,
        PaginationConfig={"PageSize": 50},
    )
    for page in pages:
        for event in page.get("Events", []):
            text = event.get("CloudTrailEvent")
            record: Mapping[str, Any]
            if text:
                record = json.loads(text)
            else:  # Rebuild the essentials from the summary fields.
                record = {
                    "eventID": event.get("EventId"),
                    "eventName": event.get("EventName"),
                    "eventSource": event.get("EventSource"),
                    "eventTime": event.get("EventTime"),
                    "userIdentity": {"userName": event.get("Username"),
                                     "accessKeyId": event.get("AccessKeyId")},
                    "resources": [{"ARN": r.get("ResourceName")}
                                  for r in event.get("Resources", [])],
                }
            parsed = TrailEvent.from_record(record, "lookup_events")
            if parsed and start <= parsed.time <= end:
                yield parsed


@dataclass(frozen=True)
class LogLocation:
    """Where one account's logs of one region live; `org_id` for an organization trail
    (`AWSLogs/<o-id>/<account>/CloudTrail/...`)."""

    bucket: str
    account_id: str
    region: str
    prefix: str = ""
    org_id: str | None = None

    def day_prefix(self, day: datetime) -> str:
        base = f"{self.prefix.strip('/')}/" if self.prefix.strip("/") else ""
        org = f"{self.org_id}/" if self.org_id else ""
        return (
            f"{base}AWSLogs/{org}{self.account_id}/CloudTrail/{self.region}/"
            f"{day:%Y}/{day:%m}/{day:%d}/"
        )


def organization_folder(client: Any, bucket: str, prefix: str, account_id: str) -> str | None:
    """The `o-...` folder holding `account_id`'s logs when the trail is an organization
    trail; None when the account's logs sit directly under AWSLogs/."""
    base = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
    listed = client.list_objects_v2(Bucket=bucket, Prefix=f"{base}AWSLogs/", Delimiter="/")
    folders = [p["Prefix"][len(base) + len("AWSLogs/"):].strip("/")
               for p in listed.get("CommonPrefixes", [])]
    if account_id in folders:
        return None
    for folder in folders:
        if folder.startswith("o-"):
            inside = client.list_objects_v2(Bucket=bucket, MaxKeys=1,
                                            Prefix=f"{base}AWSLogs/{folder}/{account_id}/")
            if inside.get("KeyCount", 0):
                return folder
    return None


def log_keys(client: Any, location: LogLocation, start: datetime, end: datetime) -> Iterator[str]:
    """Keys of the log files that can hold events of [start, end]."""
    day = datetime(start.year, start.month, start.day, tzinfo=timezone.utc)
    last = end + DELIVERY_LAG
    paginator = client.get_paginator("list_objects_v2")
    while day <= last:
        for page in paginator.paginate(Bucket=location.bucket, Prefix=location.day_prefix(day)):
            for obj in page.get("Contents", []):
                key = obj["Key"]
                match = _LOG_NAME.search(key)
                if not key.endswith(".json.gz"):
                    continue
                if match:
                    delivered = datetime.strptime(match.group(1), "%Y%m%dT%H%M").replace(
                        tzinfo=timezone.utc
                    )
                    # A file delivered before the window opened cannot hold its events;
                    # one delivered long after it closed holds later events only.
                    if delivered < start or delivered > last:
                        continue
                yield key
        day += timedelta(days=1)


class ArchivedLogFile(PreconditionFailed):
    """A trail log file moved to Glacier by the bucket's lifecycle rule."""


def read_log_file(client: Any, bucket: str, key: str) -> list[Mapping[str, Any]]:
    from botocore.exceptions import ClientError

    try:
        body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") != "InvalidObjectState":
            raise
        raise ArchivedLogFile(
            f"s3://{bucket}/{key} is archived in Glacier (the log bucket archives files "
            "after the configured days) and cannot be read until restored: aws s3api "
            f"restore-object --bucket {bucket} --key {key} --restore-request Days=7, or "
            "query a window the CloudWatch Logs copy still holds") from err
    try:
        document = json.loads(gzip.decompress(body))
    except (OSError, ValueError) as err:
        raise ValueError(f"s3://{bucket}/{key} is not a gzip CloudTrail log file: {err}") from err
    records = document.get("Records") if isinstance(document, Mapping) else None
    return list(records or [])


def s3_events(
    client: Any,
    location: LogLocation,
    subjects: list[Subject],
    start: datetime,
    end: datetime,
) -> Iterator[TrailEvent]:
    """Events of the trail's log files in [start, end] concerning any of `subjects`."""
    for key in log_keys(client, location, start, end):
        records = read_log_file(client, location.bucket, key)
        yield from _matching(records, f"s3://{location.bucket}/{key}", subjects, start, end)


def _matching(
    records: Iterable[Mapping[str, Any]],
    origin: str,
    subjects: list[Subject],
    start: datetime,
    end: datetime,
) -> Iterator[TrailEvent]:
    for record in records:
        event = TrailEvent.from_record(record, origin)
        if event is None or not (start <= event.time <= end):
            continue
        if not subjects or any(s.matches(record) for s in subjects):
            yield event


@dataclass
class Activity:
    """The merged result of a collection, with what was searched."""

    events: list[TrailEvent]
    sources: list[str]
    subjects: list[Subject]
    start: datetime
    end: datetime
    notes: list[str] = field(default_factory=list)
    failures: list[SourceFailure] = field(default_factory=list)
    """Sources (or single log files) that failed; what they returned before is kept."""


def collect(
    *,
    subjects: list[Subject],
    start: datetime,
    end: datetime,
    cloudtrail: Any | None = None,
    s3: Any | None = None,
    location: LogLocation | None = None,
) -> Activity:
    """Events from every given source, merged by event id and sorted by time.

    A source whose call fails (`read_errors`) is recorded in `failures` under its name
    (`lookup_events`, or the log prefix) and left there; what it returned before, and
    every other source, is kept. One unreadable log file is skipped, not the rest."""
    merged: dict[str, TrailEvent] = {}
    sources: list[str] = []
    notes: list[str] = []
    failures: list[SourceFailure] = []
    if cloudtrail is not None:
        sources.append("lookup_events")
        floor = datetime.now(timezone.utc) - LOOKUP_RETENTION
        if start < floor:
            notes.append(
                "lookup_events keeps 90 days; events before "
                f"{floor:%Y-%m-%d} come only from the trail's S3 log files"
            )
        if end > floor:
            try:
                for subject in subjects:
                    for event in lookup_events(cloudtrail, subject, max(start, floor), end):
                        merged.setdefault(event.event_id, event)
            except read_errors() as err:
                failures.append(failure("lookup_events", err, "LookupEvents"))
    if s3 is not None and location is not None:
        label = f"s3://{location.bucket}/{location.day_prefix(start).rsplit('/', 4)[0]}/"
        sources.append(label)
        failed_files = 0
        try:
            for key in log_keys(s3, location, start, end):
                try:
                    records = read_log_file(s3, location.bucket, key)
                except (ValueError, ArchivedLogFile) as err:
                    # One unreadable file must not hide the others' events; the note says
                    # which file was left out and why (an archived one: how to restore it).
                    notes.append(f"skipped {err}")
                    continue
                except read_errors() as err:
                    failures.append(failure(f"s3://{location.bucket}/{key}", err,
                                            "GetObject"))
                    failed_files += 1
                    if failed_files >= MAX_FILE_FAILURES:
                        # the bucket is failing, not one file: say so and stop asking
                        notes.append(f"stopped reading {label} after {failed_files} "
                                     "log files failed")
                        break
                    continue
                for event in _matching(records, f"s3://{location.bucket}/{key}", subjects,
                                       start, end):
                    # The S3 copy carries data events and the full record; prefer it.
                    merged[event.event_id] = event
        except read_errors() as err:
            failures.append(failure(label, err, "ListObjectsV2"))
    events = sorted(merged.values(), key=lambda e: (e.time, e.event_id))
    return Activity(events, sources, subjects, start, end, notes, failures)
