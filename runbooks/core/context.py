"""The session factory and the context handed to every step."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import boto3

T = TypeVar("T")


@dataclass
class SessionFactory:
    """The one place clients are made: region, profile, endpoint override, retries.

    No module-level clients anywhere; tests and the drill point `endpoint_url` at an
    emulator. Retries are botocore's adaptive mode by default (`retry_mode`). `event_hooks` are
    `(event name, handler)` pairs registered on the session before any client is made
    (tests use them to inject throttling, 5xx or AccessDenied; the benchmark counts
    calls). Client creation is serialised: boto3 sessions are not thread-safe, the
    clients they make are.
    """

    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None
    max_attempts: int = 10
    retry_mode: str = "adaptive"
    event_hooks: list[tuple[str, Callable[..., Any]]] = field(default_factory=list)
    max_pool_connections: int = 50
    _session: boto3.Session | None = field(default=None, init=False, repr=False)
    _clients: dict[tuple[str, str | None], Any] = field(
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

    def client(self, service: str, region: str | None = None) -> Any:
        key = (service, region)
        with self._lock:
            if key not in self._clients:
                from botocore.config import Config

                config = Config(
                    retries={"mode": self.retry_mode, "max_attempts": self.max_attempts},
                    max_pool_connections=self.max_pool_connections,
                )
                self._clients[key] = self.session().client(
                    service,
                    region_name=region or self.region,
                    endpoint_url=self.endpoint_url,
                    config=config,
                )
            return self._clients[key]


class RunCache:
    """Per-run memo shared by all steps and threads: batch a read once, use it N times.

    `get(key, loader)` runs `loader` once per key even when many threads ask at the same
    time (the others wait for the first); a loader's exception is not cached.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, Any] = {}
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
            loaded = loader()
            with self._lock:
                self._values[key] = loaded
            return loaded

    def clear(self) -> None:
        with self._lock:
            self._values.clear()


@dataclass
class Context:
    """Handed to every step. `manifest` is the validated manifest document (dict).

    `targets` are all the targets of the current run (steps batch their reads over
    them through `cache`).
    """

    sessions: SessionFactory
    manifest: dict[str, Any]
    case_id: str
    account_id: str
    region: str
    targets: tuple[str, ...] = ()
    cache: RunCache = field(default_factory=RunCache)

    def client(self, service: str) -> Any:
        return self.sessions.client(service, self.region)

    def evidence_encryption(self) -> dict[str, str]:
        """`put_object` arguments for writing into the evidence bucket.

        The evidence bucket lives in the home region, and S3 only accepts a KMS key of the
        bucket's own region. The manifest's `kmsKeyArn` is this region's key: name it
        only in the home region; elsewhere the bucket's default encryption (SSE-KMS with
        the home-region key, provisioned by the stack) applies.
        """
        if self.region == self.manifest.get("homeRegion", self.region):
            return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": self.manifest["kmsKeyArn"]}
        return {}

    @staticmethod
    def now() -> datetime:
        return datetime.now(timezone.utc)
