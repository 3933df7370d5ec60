"""Helpers of the recovery commands (`backup now`, `recover ...`): times, ARNs, job waits."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

from runbooks.commands._shared import Settings, stderr_console
from runbooks.core.errors import InvalidInput, PreconditionFailed
from runbooks.core.ids import INSTANCE_ID as INSTANCE_ID

_AGO = re.compile(r"^(\d+)\s*([mhd])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}
VOLUME_ID = re.compile(r"^vol-[0-9a-f]{8}([0-9a-f]{9})?$")


def parse_time(value: str, option: str, now: datetime | None = None) -> datetime:
    """`2026-11-28T03:00:00Z` (naive = UTC) or `90m`/`6h`/`2d` (that long ago); past only."""
    now = now or datetime.now(timezone.utc)
    ago = _AGO.match(value.strip())
    if ago:
        return now - timedelta(**{_UNITS[ago.group(2)]: int(ago.group(1))})
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError as err:
        raise InvalidInput(f"{option} {value!r}: give an ISO 8601 time such as "
                           "2026-11-28T03:00:00Z, or how long ago, such as 6h or 2d") from err
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    if moment > now:
        raise InvalidInput(f"{option} {moment.isoformat()} is in the future (now "
                           f"{now.isoformat(timespec='seconds')}); give a time before the "
                           "incident")
    return moment


def newest_recovery_point(backup: Any, resource_arn: str, before: datetime,
                          vault: str | None = None) -> dict[str, Any]:
    """The newest COMPLETED recovery point of `resource_arn` created before `before`.

    `vault`: the readiness vault, named in the refusal (points of every vault count)."""
    from botocore.exceptions import ClientError

    try:
        points = [p for page in backup.get_paginator(
            "list_recovery_points_by_resource").paginate(ResourceArn=resource_arn)
            for p in page.get("RecoveryPoints", [])]
    except ClientError as err:
        # AWS Backup answers this for a resource it has never backed up.
        if err.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise
        points = []
    usable = [p for p in points if p.get("Status") == "COMPLETED"
              and p["CreationDate"] < before]
    if not usable:
        known = ", ".join(sorted(f"{p['CreationDate'].isoformat()} {p.get('Status')}"
                                 for p in points)[-3:]) or "none"
        resource = resource_arn.rsplit("/", 1)[-1]
        where = f" in backup vault {vault} or any other" if vault else ""
        raise PreconditionFailed(
            f"no completed recovery point of {resource}{where} before "
            f"{before.isoformat()} (recovery points: {known}); back it up first "
            "(`irctl backup now`), pick a later --before, or pass --recovery-point ARN")
    best: dict[str, Any] = max(usable, key=lambda p: p["CreationDate"])
    return best


@contextmanager
def job_progress(settings: Settings, title: str) -> Iterator[Callable[[float, str], None]]:
    """A progress bar on stderr (when a terminal and not --output json) for a Backup job."""
    console = stderr_console()
    if settings.json or not console.is_terminal:
        yield lambda percent, state: None
        return
    from rich.progress import (
        BarColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    with Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                  TextColumn("{task.fields[state]}"), TimeElapsedColumn(),
                  console=console) as bar:
        task = bar.add_task(title, total=100.0, state="")

        def update(percent: float, state: str) -> None:
            bar.update(task, completed=percent, state=state.lower())

        yield update


def earlier_result(records: list[dict[str, Any]], step: str, target: str) -> dict[str, Any]:
    """The result of an `applied` `step` on `target` already in the case's audit log."""
    for record in reversed(records):
        if (record.get("event") == "applied" and record.get("step") == step
                and record.get("target") == target):
            result: dict[str, Any] = record.get("result") or {}
            return result
    return {}
