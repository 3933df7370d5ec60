"""Helpers shared by the analysis commands (triage, investigate, verify).

Import boto3/rich only inside functions: `irctl --help` imports the command modules.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from runbooks.core.errors import PreconditionFailed

if TYPE_CHECKING:
    from runbooks.analysis.cloudtrail import Activity, Subject
    from runbooks.commands._shared import Settings
    from runbooks.core.context import SessionFactory
    from runbooks.core.manifest_schema import Manifest

# Global services (IAM, STS global endpoint) write their events to us-east-1.
GLOBAL_EVENTS_REGION = "us-east-1"
SOURCES = ("auto", "api", "s3", "both")


@dataclass
class ReadSession:
    """A read-only session: the verified manifest and the caller, no case."""

    sessions: SessionFactory
    manifest: Manifest
    region: str
    identity: dict[str, Any]

    def client(self, service: str, region: str | None = None) -> Any:
        return self.sessions.client(service, region or self.region)


def read_session(settings: Settings) -> ReadSession:
    """Load the manifest and refuse when the caller's account differs from it."""
    from runbooks.commands._shared import caller_identity, make_sessions
    from runbooks.core.manifest import load_manifest

    sessions = make_sessions(settings)
    manifest = load_manifest(sessions, settings.region, settings.manifest_path)
    region = settings.region or manifest.region
    sessions.region = region
    identity = caller_identity(sessions, region)
    if identity["Account"] != manifest.account_id:
        raise PreconditionFailed(
            f"refusing: your credentials are for account {identity['Account']} "
            f"({identity.get('Arn', '?')}) but the manifest is for account "
            f"{manifest.account_id}; switch profile/role, or use that account's manifest"
        )
    return ReadSession(sessions, manifest, region, identity)


def trail_prefix(client: Any, trail_arn: str) -> tuple[str, str | None]:
    """The trail's S3 key prefix ('' when none) and a note when the trail is not found.
    A failing DescribeTrails raises (`read_errors`): the caller records the failure."""
    trails = client.describe_trails(trailNameList=[trail_arn]).get("trailList", [])
    for trail in trails:
        if trail.get("TrailARN") == trail_arn:
            return str(trail.get("S3KeyPrefix") or ""), None
    return "", f"trail {trail_arn} not found in this region; assumed no S3 key prefix"


def gather(
    session: ReadSession,
    subjects: list[Subject],
    start: datetime,
    end: datetime,
    source: str,
    data_events: bool,
    regions: list[str],
) -> Activity:
    """CloudTrail activity for `subjects` in [start, end] across `regions`.

    `source`: api = lookup_events; s3 = the trail's log files; both; auto = lookup_events
    when the window is within its 90 days, the log files otherwise, and the log files
    too when `data_events` (lookup_events never has data events).

    A source that fails (any region's lookup_events, the trail's settings, its log
    bucket) is named in `Activity.failures` with its error code and request id; every
    other source is still read.
    """
    from dataclasses import replace
    from datetime import timezone

    from runbooks.analysis.cloudtrail import (
        LOOKUP_RETENTION,
        Activity,
        LogLocation,
        collect,
        organization_folder,
    )
    from runbooks.analysis.sources import SourceFailure, failure, read_errors

    now = datetime.now(timezone.utc)
    use_api = source in ("api", "both") or (source == "auto" and start >= now - LOOKUP_RETENTION)
    use_s3 = source in ("s3", "both") or (source == "auto" and (not use_api or data_events))
    merged: dict[str, Any] = {}
    sources: list[str] = []
    notes: list[str] = []
    failures: list[SourceFailure] = []
    prefix, org_id = "", None
    trail = session.manifest.trail
    if use_s3:
        try:
            prefix, note = trail_prefix(session.client("cloudtrail"), trail.arn)
        except read_errors() as err:
            note = "the trail's S3 key prefix could not be read; assumed none"
            failures.append(failure(f"trail settings ({trail.arn})", err, "DescribeTrails"))
        if note:
            notes.append(note)
        try:
            org_id = organization_folder(session.client("s3"), trail.bucket, prefix,
                                         session.manifest.account_id)
        except read_errors() as err:
            failures.append(failure(f"s3://{trail.bucket}/", err, "ListObjectsV2"))
            use_s3 = False  # the bucket cannot be listed: its log files cannot be either
    for region in regions:
        if use_api:
            part = collect(subjects=subjects, start=start, end=end,
                           cloudtrail=session.client("cloudtrail", region))
            sources.extend(f"{s} ({region})" for s in part.sources)
            failures.extend(replace(f, source=f"{f.source} ({region})") for f in part.failures)
            notes.extend(part.notes)
            for event in part.events:
                merged.setdefault(event.event_id, event)
        if use_s3:
            location = LogLocation(trail.bucket, session.manifest.account_id, region,
                                   prefix, org_id)
            part = collect(subjects=subjects, start=start, end=end,
                           s3=session.client("s3"), location=location)
            sources.extend(part.sources)
            failures.extend(part.failures)
            notes.extend(part.notes)
            for event in part.events:
                merged[event.event_id] = event
    events = sorted(merged.values(), key=lambda e: (e.time, e.event_id))
    return Activity(events, sources, subjects, start, end, notes, failures)


def regions_for(region: str, include_global: bool) -> list[str]:
    if include_global and region != GLOBAL_EVENTS_REGION:
        return [region, GLOBAL_EVENTS_REGION]
    return [region]
