"""Client-side pacing of EC2 calls: one token bucket per EC2 API, as EC2 meters them.

EC2 throttles each API with its own token bucket per account and region (EC2 developer
guide, "Request throttling for the Amazon EC2 API", "Request token bucket sizes and
refill rates"). Bursting past a bucket only buys `RequestLimitExceeded` answers and
backoff (botocore's adaptive mode then slows *every* API of the client); pacing each API
to its own bucket keeps every call useful, so a fleet is contained as fast as the
limits allow and no faster.

Two rules beyond plain pacing, for `ec2.isolate`'s two calls per ENI (conversion group,
then isolation group):

* a conversion (`ModifyNetworkInterfaceAttribute` to a conversion group of the
  manifest) is admitted only when its bucket holds a second token, which it reserves for
  that ENI's isolation call: the isolation call never waits behind new conversions, so
  no ENI stays in the allow-all conversion group longer than its two round trips;
* a reservation whose isolation call never came (the conversion failed) lapses after
  `dwell_bound` seconds.

Configuration (environment, read once per session factory):

* `IR_EC2_PACING=off` turns pacing off (botocore's retries alone, as before);
* `IR_EC2_LIMITS="CreateTags=100/10,ModifyInstanceAttribute=50/5"` overrides the
  (capacity / refill per second) of named APIs, e.g. for an account whose limits AWS
  raised; every other API keeps the guide's default.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from runbooks.core.errors import InvalidInput

PACING_ENV = "IR_EC2_PACING"
LIMITS_ENV = "IR_EC2_LIMITS"
DEFAULT_DWELL_BOUND = 2.0
"""Seconds after which an unused isolation reservation lapses."""

NON_MUTATING = (100.0, 20.0)
MUTATING = (50.0, 5.0)
UNCATEGORIZED: dict[str, tuple[float, float]] = {
    # The guide's "uncategorized" rows that irctl's EC2 steps call.
    "CreateTags": (100.0, 10.0), "DeleteTags": (100.0, 10.0),
    "ModifyNetworkInterfaceAttribute": (100.0, 5.0), "CreateSnapshots": (100.0, 5.0),
    "CreateSnapshot": (100.0, 5.0), "DisassociateIamInstanceProfile": (100.0, 5.0),
    "AssociateIamInstanceProfile": (100.0, 5.0), "ModifyInstanceMetadataOptions": (100.0, 5.0),
    "CreateVolume": (100.0, 5.0), "DeleteSnapshot": (100.0, 5.0),
    "DeleteVolume": (100.0, 5.0), "ModifySnapshotAttribute": (100.0, 5.0),
}
READ_PREFIXES = ("Describe", "Get", "List", "Search")


def default_limit(operation: str) -> tuple[float, float]:
    """(capacity, refill per second) of an EC2 API's bucket, per the guide's table."""
    if operation in UNCATEGORIZED:
        return UNCATEGORIZED[operation]
    return NON_MUTATING if operation.startswith(READ_PREFIXES) else MUTATING


def parse_limits(raw: str) -> dict[str, tuple[float, float]]:
    """`API=CAPACITY/REFILL,...` into a map; InvalidInput naming the bad entry."""
    limits: dict[str, tuple[float, float]] = {}
    for entry in (e.strip() for e in raw.split(",")):
        if not entry:
            continue
        name, _, value = entry.partition("=")
        capacity, _, refill = value.partition("/")
        try:
            pair = (float(capacity), float(refill))
        except ValueError:
            pair = (0.0, 0.0)
        if not name.strip().isalnum() or not (0 < pair[0] <= 10_000 and 0 < pair[1] <= 10_000):
            raise InvalidInput(
                f"{LIMITS_ENV}: {entry!r} is not API=CAPACITY/REFILL (e.g. "
                "CreateTags=100/10: an EC2 API name, then two numbers above 0); fix or unset "
                f"{LIMITS_ENV}")
        limits[name.strip()] = pair
    return limits


def pacing_from_env() -> tuple[bool, dict[str, tuple[float, float]]]:
    """(pacing on, overrides) from `IR_EC2_PACING` and `IR_EC2_LIMITS`."""
    switch = os.environ.get(PACING_ENV, "").strip().lower() or "on"
    if switch not in ("on", "off"):
        raise InvalidInput(f"{PACING_ENV} = {switch!r}: must be on or off (default on)")
    return switch == "on", parse_limits(os.environ.get(LIMITS_ENV, ""))


@dataclass
class _Bucket:
    capacity: float
    refill: float
    tokens: float
    updated: float
    reserved: int = 0

    def fill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.refill)
        self.updated = now


class Ec2Pacer:
    """Token buckets for one account and region's EC2 APIs; hooks for one EC2 client.

    `register(client)` hooks the client: `before-parameter-build` notes what kind of
    call this thread is about to make, `before-send` (every attempt, retries included)
    waits for its bucket's token. `conversion_groups` are the manifest's conversion
    groups (`Context` adds them), so a conversion call can be told from others."""

    def __init__(self, limits: Mapping[str, tuple[float, float]] | None = None, *,
                 dwell_bound: float = DEFAULT_DWELL_BOUND,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.overrides = dict(limits or {})
        self.dwell_bound = dwell_bound
        self.clock = clock
        self.conversion_groups: set[str] = set()
        self.waited: dict[str, float] = {}
        """Seconds spent waiting for tokens, per API (what pacing cost)."""
        self._buckets: dict[str, _Bucket] = {}
        self._reservations: dict[str, float] = {}  # ENI -> when its conversion was admitted
        self._cond = threading.Condition()
        self._local = threading.local()

    def register(self, client: Any) -> None:
        events = client.meta.events
        events.register_first("before-parameter-build.ec2", self._note_call)
        events.register_first("before-send.ec2", self._before_send)

    def _note_call(self, params: Mapping[str, Any] | None = None, model: Any = None,
                   **_: Any) -> None:
        kind, eni = "plain", None
        if model is not None and model.name == "ModifyNetworkInterfaceAttribute" and params:
            eni = str(params.get("NetworkInterfaceId", ""))
            groups = params.get("Groups") or []
            if len(groups) == 1 and groups[0] in self.conversion_groups:
                kind = "conversion"
            else:
                kind = "isolation"
        self._local.call = (kind, eni)

    def _before_send(self, event_name: str = "", **_: Any) -> None:
        operation = event_name.rsplit(".", 1)[-1]
        kind, eni = getattr(self._local, "call", ("plain", None))
        self.acquire(operation, kind, eni)

    def bucket(self, operation: str) -> _Bucket:
        bucket = self._buckets.get(operation)
        if bucket is None:
            capacity, refill = self.overrides.get(operation) or default_limit(operation)
            bucket = self._buckets[operation] = _Bucket(capacity, refill, capacity,
                                                        self.clock())
        return bucket

    def acquire(self, operation: str, kind: str = "plain", eni: str | None = None) -> None:
        """Wait until `operation`'s bucket has a token for this call, then take it.

        `conversion`: needs a second token, reserved for the ENI's isolation call;
        `isolation` of an ENI holding a reservation: takes the reserved token at once."""
        started = self.clock()
        with self._cond:
            while True:
                now = self.clock()
                bucket = self.bucket(operation)
                bucket.fill(now)
                self._lapse(now)
                free = bucket.tokens - bucket.reserved
                if kind == "isolation" and eni in self._reservations and bucket.tokens >= 1:
                    del self._reservations[eni]
                    bucket.reserved -= 1
                    break
                if kind == "conversion" and eni not in self._reservations:
                    # its own token and the one it reserves (just its own when the bucket
                    # is too small to ever hold both beside the other reservations)
                    wanted = 2 if bucket.capacity - bucket.reserved >= 2 else 1
                    if free >= wanted:
                        self._reservations[str(eni)] = now
                        bucket.reserved += 1
                        break
                    needed = wanted - free
                elif free >= 1:
                    break
                else:
                    needed = 1 - free
                self._cond.wait(max(needed / bucket.refill, 0.005))
            bucket.tokens -= 1
            waited = self.clock() - started
            if waited > 0:
                self.waited[operation] = self.waited.get(operation, 0.0) + waited

    def _lapse(self, now: float) -> None:
        """Reservations of conversions whose isolation call never came (it failed)."""
        stale = [e for e, at in self._reservations.items() if now - at > self.dwell_bound]
        if not stale:
            return
        bucket = self.bucket("ModifyNetworkInterfaceAttribute")
        for eni in stale:
            del self._reservations[eni]
            bucket.reserved = max(0, bucket.reserved - 1)
