"""What every step gets: clients from one session factory, the manifest, the case."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import boto3


@dataclass
class SessionFactory:
    """The one place clients are made: region, profile, endpoint override, retries.

    No module-level clients anywhere; tests and the drill point `endpoint_url` at an
    emulator. Retries are botocore's adaptive mode.
    """

    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None
    max_attempts: int = 10
    _session: boto3.Session | None = field(default=None, init=False, repr=False)
    _clients: dict[tuple[str, str | None], Any] = field(
        default_factory=dict, init=False, repr=False
    )

    def session(self) -> boto3.Session:
        if self._session is None:
            import boto3

            self._session = boto3.Session(profile_name=self.profile, region_name=self.region)
        return self._session

    def client(self, service: str, region: str | None = None) -> Any:
        key = (service, region)
        if key not in self._clients:
            from botocore.config import Config

            config = Config(retries={"mode": "adaptive", "max_attempts": self.max_attempts})
            self._clients[key] = self.session().client(
                service,
                region_name=region or self.region,
                endpoint_url=self.endpoint_url,
                config=config,
            )
        return self._clients[key]


@dataclass
class Context:
    """Handed to every step. `manifest` is the validated manifest document (dict)."""

    sessions: SessionFactory
    manifest: dict[str, Any]
    case_id: str
    account_id: str
    region: str

    def client(self, service: str) -> Any:
        return self.sessions.client(service, self.region)

    @staticmethod
    def now() -> datetime:
        return datetime.now(timezone.utc)
