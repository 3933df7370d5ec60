"""A token-bucket model of EC2's request limits, as a WSGI layer in front of the emulator.

EC2 throttles each API separately ("request rate limiting"): every API has its own bucket
of tokens, one token per request, refilled at a fixed rate up to the bucket's capacity; a
request finding its bucket empty is answered `503 RequestLimitExceeded` (EC2 developer
guide, "Request throttling for the Amazon EC2 API",
https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html, section
"Request token bucket sizes and refill rates"). The sizes below are that table's, per
account and region:

| category (as the guide names it) | capacity | refill / s |
|---|---:|---:|
| non-mutating (`Describe*`, `Get*`, `List*`, `Search*`) | 100 | 20 |
| unfiltered and unpaginated non-mutating (DescribeInstances, ... without filter) | 50 | 10 |
| mutating (all others, e.g. ModifyInstanceAttribute) | 50 | 5 |
| uncategorized: CreateTags, DeleteTags | 100 | 10 |
| uncategorized: ModifyNetworkInterfaceAttribute, CreateSnapshots, ... | 100 | 5 |
| (and DisassociateIamInstanceProfile, AssociateIamInstanceProfile) | 100 | 5 |

Only EC2 is modelled (other services pass untouched). Every bucket starts full (an
account that was quiet before the incident). Reusable (issue #21 wants it for up to
1,000 instances): `Ec2RequestLimits` is the WSGI middleware, pass it to
`EmulatorServer(middleware=...)` through `start_throttled_server()`; `limits` maps an API
to its (capacity, refill) and can be overridden; `calls`/`throttled` count per API.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from rehearsal.emulator.server import EmulatorServer, classify_request

NON_MUTATING = (100.0, 20.0)
UNFILTERED_NON_MUTATING = (50.0, 10.0)
MUTATING = (50.0, 5.0)
UNCATEGORIZED: dict[str, tuple[float, float]] = {
    # the uncategorized rows of the guide's table that irctl's EC2 steps can call
    "CreateTags": (100, 10), "DeleteTags": (100, 10),
    "ModifyNetworkInterfaceAttribute": (100, 5), "CreateSnapshots": (100, 5),
    "CreateSnapshot": (100, 5), "DisassociateIamInstanceProfile": (100, 5),
    "AssociateIamInstanceProfile": (100, 5), "CreateNetworkInterface": (100, 5),
    "DeleteNetworkInterface": (100, 5), "ModifySnapshotAttribute": (100, 5),
    "CreateVolume": (100, 5), "DeleteSnapshot": (100, 5), "DeleteVolume": (100, 5),
    "ModifyInstanceMetadataOptions": (100, 5), "RunInstances": (5, 2),
}
UNFILTERED_SUBSET = frozenset({
    "DescribeInstances", "DescribeInstanceStatus", "DescribeNetworkInterfaces",
    "DescribeSecurityGroups", "DescribeSnapshots", "DescribeSpotInstanceRequests",
    "DescribeVolumes",
})
READ_PREFIXES = ("Describe", "Get", "List", "Search")


def bucket_of(operation: str, filtered: bool) -> tuple[float, float]:
    """(capacity, refill per second) of `operation`'s bucket, per the guide's table."""
    if operation in UNCATEGORIZED:
        return UNCATEGORIZED[operation]
    if operation.startswith(READ_PREFIXES):
        if operation in UNFILTERED_SUBSET and not filtered:
            return UNFILTERED_NON_MUTATING
        return NON_MUTATING
    return MUTATING


def _filtered(body: bytes) -> bool:
    """An EC2 Query request with a filter, ids or pagination (not the small bucket)."""
    form = parse_qs(body.decode("utf-8", "replace"))
    return any(k.startswith(("Filter.", "InstanceId.", "VolumeId.", "GroupId.",
                             "SnapshotId.", "NetworkInterfaceId.", "MaxResults", "NextToken"))
               for k in form)


@dataclass
class TokenBucket:
    capacity: float
    refill: float
    tokens: float
    updated: float

    def take(self, now: float) -> bool:
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.refill)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class Ec2RequestLimits:
    """WSGI middleware: EC2 requests take a token from their API's bucket or get
    `503 RequestLimitExceeded` (EC2's XML error shape, so botocore retries it as
    throttling). `latency_ms` delays the throttled answers too (the emulator's own
    latency applies only to what reaches it: this layer sits in front)."""

    def __init__(self, app: Callable[..., Any], *, latency_ms: float = 0,
                 limits: Mapping[str, tuple[float, float]] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.app = app
        self.latency_ms = latency_ms
        self.overrides = dict(limits or {})
        self.clock = clock
        self.buckets: dict[str, TokenBucket] = {}
        self.calls: Counter[str] = Counter()
        self.throttled: Counter[str] = Counter()
        self.enabled = True
        """False: pass everything (seeding the world before the measured run)."""
        self._lock = threading.Lock()

    def limit_of(self, operation: str, filtered: bool) -> tuple[float, float]:
        return self.overrides.get(operation) or bucket_of(operation, filtered)

    def admit(self, operation: str, filtered: bool) -> bool:
        now = self.clock()
        with self._lock:
            self.calls[operation] += 1
            capacity, refill = self.limit_of(operation, filtered)
            key = operation if (operation in UNCATEGORIZED or filtered
                                or operation not in UNFILTERED_SUBSET) else f"{operation}*"
            bucket = self.buckets.get(key)
            if bucket is None:
                bucket = self.buckets[key] = TokenBucket(capacity, refill, capacity, now)
            if bucket.take(now):
                return True
            self.throttled[operation] += 1
            return False

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        service, operation, body = classify_request(environ)
        if not self.enabled or service != "ec2" or self.admit(operation, _filtered(body)):
            return self.app(environ, start_response)
        if self.latency_ms > 0:
            time.sleep(self.latency_ms / 1000.0)
        payload = (b"<Response><Errors><Error><Code>RequestLimitExceeded</Code>"
                   b"<Message>Request limit exceeded.</Message></Error></Errors>"
                   b"<RequestID>throttled</RequestID></Response>")
        start_response("503 Service Unavailable", [("Content-Type", "text/xml"),
                                                   ("Content-Length", str(len(payload)))])
        return [payload]

    def reset(self) -> None:
        """Full buckets and zero counters (a quiet account again)."""
        with self._lock:
            self.buckets.clear()
            self.calls.clear()
            self.throttled.clear()


def start_throttled_server(latency_ms: float = 0, **kwargs: Any
                           ) -> tuple[EmulatorServer, Ec2RequestLimits]:
    """The emulator server behind `Ec2RequestLimits`; returns (server, layer)."""
    holder: dict[str, Ec2RequestLimits] = {}

    def wrap(app: Callable[..., Any]) -> Callable[..., Any]:
        holder["layer"] = Ec2RequestLimits(app, latency_ms=latency_ms, **kwargs)
        return holder["layer"]

    server = EmulatorServer(latency_ms=latency_ms, middleware=wrap).start()
    return server, holder["layer"]
