"""Helpers of the recovery commands (`backup now`, `recover ...`): reading times.

The recovery procedures are `runbooks.workflows.recover` and `.backup`; the job progress
bar is `_shared.job_progress`.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from runbooks.core.errors import InvalidInput

_AGO = re.compile(r"^(\d+)\s*([mhd])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


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
