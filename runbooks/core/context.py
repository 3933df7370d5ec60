"""The session factory and the context handed to every step."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import boto3

    from runbooks.core.manifest_schema import Manifest
    from runbooks.core.pacing import Ec2Pacer

T = TypeVar("T")


DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_READ_TIMEOUT = 15.0
DEFAULT_MAX_ATTEMPTS = 10
DEFAULT_TIMEOUT_ATTEMPTS = 2
EVIDENCE_MAX_ATTEMPTS = 3
"""Attempts of an evidence write before it is queued locally (`runbooks.core.evidence_queue`):
containment must not wait on evidence storage."""
RETRY_MODES = ("standard", "adaptive")
DEFAULT_RETRY_MODE = "adaptive"
CONNECT_TIMEOUT_ENV = "IR_AWS_CONNECT_TIMEOUT"
READ_TIMEOUT_ENV = "IR_AWS_READ_TIMEOUT"
MAX_ATTEMPTS_ENV = "IR_AWS_MAX_ATTEMPTS"


def _seconds_from_env(name: str, default: float) -> float:
    """A timeout from the environment (seconds, > 0 and <= 300); InvalidInput otherwise."""
    import os

    from runbooks.core.errors import InvalidInput

    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError as err:
        raise InvalidInput(f"{name} = {raw!r}: must be a number of seconds "
                           f"(default {default:g})") from err
    if not 0 < value <= 300:
        raise InvalidInput(f"{name} = {raw!r}: must be more than 0 and at most 300 seconds "
                           f"(default {default:g})")
    return value


def _attempts_from_env() -> int:
    """Attempts per call for throttled and 5xx answers (`IR_AWS_MAX_ATTEMPTS`, 1 to 10),
    else the default; InvalidInput otherwise."""
    import os

    from runbooks.core.errors import InvalidInput

    raw = os.environ.get(MAX_ATTEMPTS_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_ATTEMPTS
    if not raw.isdigit() or not 1 <= int(raw) <= DEFAULT_MAX_ATTEMPTS:
        raise InvalidInput(f"{MAX_ATTEMPTS_ENV} = {raw!r}: must be a whole number from 1 to "
                           f"{DEFAULT_MAX_ATTEMPTS} (default {DEFAULT_MAX_ATTEMPTS})")
    return int(raw)


def _retry_mode_from_env() -> str:
    """botocore's own `AWS_RETRY_MODE`, if set (standard or adaptive), else the default."""
    import os

    from runbooks.core.errors import InvalidInput

    mode = os.environ.get("AWS_RETRY_MODE", "").strip().lower() or DEFAULT_RETRY_MODE
    if mode not in RETRY_MODES:
        raise InvalidInput(f"AWS_RETRY_MODE = {mode!r}: irctl supports "
                           f"{' or '.join(RETRY_MODES)} (default {DEFAULT_RETRY_MODE})")
    return mode


def _pacing_from_env() -> tuple[bool, dict[str, tuple[float, float]]]:
    from runbooks.core.pacing import pacing_from_env

    return pacing_from_env()


def is_timeout(err: BaseException | None) -> bool:
    """A connection that could not be made or an answer that did not come in time."""
    from botocore.exceptions import (
        ConnectionClosedError,
        ConnectTimeoutError,
        EndpointConnectionError,
        ReadTimeoutError,
    )

    return isinstance(err, (ConnectTimeoutError, ReadTimeoutError, EndpointConnectionError,
                            ConnectionClosedError))


def timeout_message(err: BaseException) -> str:
    """What a responder reads when AWS did not answer: what happened and what to do."""
    return (f"AWS did not answer ({err}) within the client timeouts ({CONNECT_TIMEOUT_ENV}, "
            f"{READ_TIMEOUT_ENV}: {DEFAULT_CONNECT_TIMEOUT:g} + {DEFAULT_READ_TIMEOUT:g} s "
            f"by default, {DEFAULT_TIMEOUT_ATTEMPTS} attempts); check the network, endpoint "
            "and AWS Health, then re-run: a run resumes where it stopped")


class TimeoutRetryBound:
    """`needs-retry` handler: no further attempt once `attempts` of one call timed out.

    botocore counts every attempt against one `max_attempts`, but the two failures cost
    very different time: a throttled or 5xx answer comes back in milliseconds (worth
    many attempts, with backoff), a hung endpoint costs a full connect + read timeout per
    attempt. Registered first on the client's `needs-retry` event: returning False
    (not None) is the answer botocore's endpoint takes, so the standard/adaptive handler's
    retry is vetoed while its bookkeeping (quota, rate limiter) still runs.
    """

    def __init__(self, attempts: int) -> None:
        self.attempts = attempts

    def __call__(self, caught_exception: BaseException | None = None,
                 request_dict: dict[str, Any] | None = None, **_: Any) -> bool | None:
        if not is_timeout(caught_exception) or request_dict is None:
            return None
        context = request_dict.setdefault("context", {})
        context["ir_timed_out"] = timed_out = int(context.get("ir_timed_out", 0)) + 1
        return False if timed_out >= self.attempts else None


@dataclass
class SessionFactory:
    """The one place clients are made: region, profile, endpoint override, retries, timeouts.

    No module-level clients anywhere; tests and the drill point `endpoint_url` at an
    emulator. Retries are botocore's adaptive mode by default (`retry_mode`), up to
    `max_attempts` per call for throttled and 5xx answers (env `IR_AWS_MAX_ATTEMPTS` lowers
    it); at most `timeout_attempts` of
    one call may end in a connect or read timeout (`connect_timeout`, `read_timeout`;
    env `IR_AWS_CONNECT_TIMEOUT` / `IR_AWS_READ_TIMEOUT` override the defaults), so a hung
    endpoint fails a call within `hung_call_seconds()` (40 s by default). `event_hooks` are
    `(event name, handler)` pairs registered on the session before any client is made
    (tests use them to inject throttling, 5xx or AccessDenied; the benchmark counts
    calls). Client creation is serialised: boto3 sessions are not thread-safe, the
    clients they make are.
    """

    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None
    max_attempts: int = field(default_factory=_attempts_from_env)
    retry_mode: str = field(default_factory=_retry_mode_from_env)
    event_hooks: list[tuple[str, Callable[..., Any]]] = field(default_factory=list)
    max_pool_connections: int = 50
    connect_timeout: float = field(
        default_factory=lambda: _seconds_from_env(CONNECT_TIMEOUT_ENV, DEFAULT_CONNECT_TIMEOUT))
    read_timeout: float = field(
        default_factory=lambda: _seconds_from_env(READ_TIMEOUT_ENV, DEFAULT_READ_TIMEOUT))
    timeout_attempts: int = DEFAULT_TIMEOUT_ATTEMPTS
    ec2_pacing: tuple[bool, dict[str, tuple[float, float]]] = field(
        default_factory=_pacing_from_env)
    """(on, per-API overrides): client-side token buckets per EC2 API
    (`runbooks.core.pacing`; env `IR_EC2_PACING`, `IR_EC2_LIMITS`)."""
    _pacers: dict[str | None, Ec2Pacer] = field(default_factory=dict, init=False, repr=False)
    _session: boto3.Session | None = field(default=None, init=False, repr=False)
    _clients: dict[tuple[str, str | None, int], Any] = field(
        default_factory=dict, init=False, repr=False
    )
    _lock: threading.RLock = field(default_factory=threading.RLock, init=False, repr=False)

    def session(self) -> boto3.Session:
        with self._lock:
            if self._session is None:
                import boto3

                session = boto3.Session(profile_name=self.profile, region_name=self.region)
                for event, handler in self.event_hooks:
                    # first: ahead of an in-process emulator's own before-send handler
                    session.events.register_first(event, handler)
                self._session = session
            return self._session

    def client(self, service: str, region: str | None = None, *,
               max_attempts: int | None = None) -> Any:
        """A client of `service`; `max_attempts` lowers the attempts of this client's calls
        (the evidence writer's short, bounded retry)."""
        attempts = min(max_attempts, self.max_attempts) if max_attempts else self.max_attempts
        key = (service, region, attempts)
        with self._lock:
            if key not in self._clients:
                from botocore.config import Config

                config = Config(
                    retries={"mode": self.retry_mode, "total_max_attempts": attempts},
                    max_pool_connections=self.max_pool_connections,
                    connect_timeout=self.connect_timeout,
                    read_timeout=self.read_timeout,
                )
                client = self.session().client(
                    service,
                    region_name=region or self.region,
                    endpoint_url=self.endpoint_url,
                    config=config,
                )
                event = f"needs-retry.{client.meta.service_model.service_id.hyphenize()}"
                client.meta.events.register_first(event, TimeoutRetryBound(
                    min(self.timeout_attempts, attempts)))
                pacer = self.pacer(region) if service == "ec2" else None
                if pacer is not None:
                    pacer.register(client)
                self._clients[key] = client
            return self._clients[key]

    def pacer(self, region: str | None = None) -> Ec2Pacer | None:
        """The EC2 token buckets of `region` in this factory's account (one per region,
        shared by its EC2 clients), or None when pacing is off."""
        enabled, limits = self.ec2_pacing
        if not enabled:
            return None
        from runbooks.core.pacing import Ec2Pacer

        with self._lock:
            key = region or self.region
            if key not in self._pacers:
                self._pacers[key] = Ec2Pacer(limits)
            return self._pacers[key]

    def hung_call_seconds(self) -> float:
        """Worst case of one call against an endpoint that accepts and never answers (or
        cannot be reached): every timed-out attempt waits connect + read timeout; the
        backoff between them is botocore's non-throttling one (under 0.1 s)."""
        return self.timeout_attempts * (self.connect_timeout + self.read_timeout) + 0.5


class RunCache:
    """Per-run memo shared by all steps and threads: batch a read once, use it N times.

    `get(key, loader)` runs `loader` once per key even when many threads ask at the same
    time (the others wait for the first). A loader's exception is not cached, except a
    timeout (`is_timeout`): an endpoint that did not answer already cost up to
    `SessionFactory.hung_call_seconds()`, and every target of the run asking it again
    would multiply that wait; the run reports the one error instead.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, Any] = {}
        self._timeouts: dict[str, BaseException] = {}
        self._key_locks: dict[str, threading.Lock] = {}

    def get(self, key: str, loader: Callable[[], T]) -> T:
        with self._lock:
            if key in self._values:
                value: T = self._values[key]
                return value
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                if key in self._values:
                    cached: T = self._values[key]
                    return cached
                timed_out = self._timeouts.get(key)
            if timed_out is not None:
                raise timed_out
            try:
                loaded = loader()
            except BaseException as err:
                if is_timeout(err):
                    with self._lock:
                        self._timeouts[key] = err
                raise
            with self._lock:
                self._values[key] = loaded
            return loaded

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self._timeouts.clear()


@dataclass
class Context:
    """Handed to every step. `manifest` is the parsed manifest v1 (`Manifest`).

    `targets` are all the targets of the current run (steps batch their reads over
    them through `cache`).
    """

    sessions: SessionFactory
    manifest: Manifest
    case_id: str
    account_id: str
    region: str
    targets: tuple[str, ...] = ()
    cache: RunCache = field(default_factory=RunCache)
    deadline: float | None = None
    """`time.monotonic()` after which no change may start (the automation Lambda sets it
    from its remaining time); None: no limit. See `Runner._out_of_time()`."""
    evidence_unavailable: bool = False
    """Set once S3 could not take an evidence write in this session (it was queued
    locally): later runs of the session do not wait on the bucket again."""

    def client(self, service: str) -> Any:
        if service == "ec2":
            pacer = self.sessions.pacer(self.region)
            if pacer is not None:  # so the pacer can tell a conversion call from others
                pacer.conversion_groups.update(
                    q.conversion_security_group_id for q in self.manifest.quarantine.values())
        return self.sessions.client(service, self.region)

    def evidence_client(self) -> Any:
        """The S3 client evidence is written with: a short, bounded retry
        (`EVIDENCE_MAX_ATTEMPTS`), after which the write is queued locally instead
        (`runbooks.core.evidence_queue`), so a failing evidence bucket never holds up
        containment."""
        return self.sessions.client("s3", self.region, max_attempts=EVIDENCE_MAX_ATTEMPTS)

    def seconds_left(self) -> float | None:
        if self.deadline is None:
            return None
        import time

        return self.deadline - time.monotonic()

    def evidence_encryption(self) -> dict[str, str]:
        """`put_object` arguments for writing into the evidence bucket.

        The evidence bucket lives in the home region, and S3 only accepts a KMS key of the
        bucket's own region. The manifest's `kmsKeyArn` is this region's key: name it
        only in the home region; elsewhere the bucket's default encryption (SSE-KMS with
        the home-region key, provisioned by the stack) applies.
        """
        if self.region == self.manifest.home_region:
            return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": self.manifest.kms_key_arn}
        return {}

    @staticmethod
    def now() -> datetime:
        return datetime.now(timezone.utc)

    def run_time(self) -> datetime:
        """One time for the whole current run: the first time a step asked for it since
        the run started (the runner clears `cache` when a run starts), the same for every
        target and thread. What a run stamps on all its targets alike (`ir:contained-at`),
        so one call can tag them all."""
        return self.cache.get("context.run-time", self.now)
