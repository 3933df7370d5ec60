"""IAM Access Analyzer, which moto 5.2 does not emulate at all: analyzers.

CreateAnalyzer (ACCOUNT or ORGANIZATION, and the unused-access types; one analyzer per
name: ConflictException), GetAnalyzer, ListAnalyzers (filtered by type) and
DeleteAnalyzer, per account and region, serialised from botocore's model as AWS answers.
An ORGANIZATION analyzer needs the account to be the organisation's management account
or a delegated administrator: moto's Organizations backend is consulted, as AWS would
(ValidationException otherwise). Findings are not generated.

The service is registered with moto under its signing name `access-analyzer`, for
`mock_aws` (botocore stubber) and moto server alike, and its state is reset with
moto's (a `BackendDict`).
"""

from __future__ import annotations

import re
import sys
import types
from datetime import datetime, timezone
from typing import Any
from urllib.parse import unquote

from moto.core.base_backend import BackendDict, BaseBackend
from moto.core.responses import ActionResult, BaseResponse, EmptyResult

from rehearsal.emulator._util import service_error

URL_BASE = r"https?://access-analyzer\.(.+)\.amazonaws\.com"
TYPES = {"ACCOUNT", "ORGANIZATION", "ACCOUNT_UNUSED_ACCESS", "ORGANIZATION_UNUSED_ACCESS"}
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,254}$")


class AccessAnalyzerBackend(BaseBackend):
    def __init__(self, region_name: str, account_id: str) -> None:
        super().__init__(region_name, account_id)
        self.analyzers: dict[str, dict[str, Any]] = {}

    @property
    def _url_module(self) -> Any:
        # moto derives `<package>.urls` from the backend's module; this one is not in moto.
        return sys.modules[_URLS_MODULE]

    def create(self, name: str, kind: str, tags: dict[str, str],
               configuration: dict[str, Any] | None) -> str:
        if not _NAME.match(name):
            raise service_error("ValidationException", f"analyzerName {name!r} is invalid")
        if kind not in TYPES:
            raise service_error("ValidationException",
                                f"type must be one of {sorted(TYPES)}, got {kind!r}")
        if kind.startswith("ORGANIZATION") and not self._may_analyze_organization():
            raise service_error(
                "ValidationException",
                f"Account {self.account_id} is neither the management account of an "
                "organisation nor a delegated administrator for Access Analyzer")
        if name in self.analyzers:
            raise service_error("ConflictException", f"Analyzer {name} already exists")
        arn = f"arn:aws:access-analyzer:{self.region_name}:{self.account_id}:analyzer/{name}"
        doc: dict[str, Any] = {"arn": arn, "name": name, "type": kind,
                               "createdAt": datetime.now(timezone.utc), "status": "ACTIVE",
                               "tags": dict(tags)}
        if configuration:
            doc["configuration"] = configuration
        self.analyzers[name] = doc
        return arn

    def _may_analyze_organization(self) -> bool:
        from moto.organizations.models import organizations_backends

        own = organizations_backends[self.account_id]["aws"]
        if own.org is not None and own.org.master_account_id == self.account_id:
            return True
        # A member: its organisation's management account holds the delegations.
        membership = organizations_backends.master_accounts.get(self.account_id)
        if membership is None:
            return False
        management = organizations_backends[membership[0]][membership[1]]
        return any(admin.account.id == self.account_id
                   and "access-analyzer.amazonaws.com" in admin.services
                   for admin in management.admins)

    def get(self, name: str) -> dict[str, Any]:
        if name not in self.analyzers:
            raise service_error("ResourceNotFoundException", f"Analyzer {name} not found")
        return self.analyzers[name]


accessanalyzer_backends = BackendDict(AccessAnalyzerBackend, "accessanalyzer")


class AccessAnalyzerResponse(BaseResponse):
    def __init__(self) -> None:
        super().__init__(service_name="accessanalyzer")

    @property
    def backend(self) -> AccessAnalyzerBackend:
        backend: AccessAnalyzerBackend = accessanalyzer_backends[self.current_account][
            self.region]
        return backend

    def _params(self) -> dict[str, Any]:
        self.parse_parameters(self.normalized_request)
        return dict(self.params)

    def _name_in_path(self) -> str:
        return unquote(self.path.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1])

    def create_analyzer(self) -> ActionResult:
        params = self._params()
        arn = self.backend.create(str(params.get("analyzerName") or ""),
                                  str(params.get("type") or ""),
                                  dict(params.get("tags") or {}),
                                  params.get("configuration"))
        return ActionResult({"arn": arn})

    def get_analyzer(self) -> ActionResult:
        return ActionResult({"analyzer": dict(self.backend.get(self._name_in_path()))})

    def list_analyzers(self) -> ActionResult:
        kind = self.querystring.get("type", [None])[0]
        docs = [dict(d) for d in self.backend.analyzers.values()
                if kind is None or d["type"] == kind]
        return ActionResult({"analyzers": docs})

    def delete_analyzer(self) -> EmptyResult:
        name = self._name_in_path()
        self.backend.get(name)
        del self.backend.analyzers[name]
        return EmptyResult()


_URLS_MODULE = "rehearsal.emulator._accessanalyzer_urls"


def install() -> None:
    """Register the service with moto (idempotent): its routes, backends and host."""
    from moto import backend_index

    urls = types.ModuleType(_URLS_MODULE)
    urls.url_bases = [URL_BASE]  # type: ignore[attr-defined]
    urls.url_paths = {  # type: ignore[attr-defined]
        "{0}/analyzer$": AccessAnalyzerResponse.dispatch,
        "{0}/analyzer/(?P<analyzerName>[^/]+)$": AccessAnalyzerResponse.dispatch,
    }
    sys.modules[_URLS_MODULE] = urls
    # moto imports a service's backends as `moto.<name>` (name without dashes).
    sys.modules.setdefault("moto.accessanalyzer", sys.modules[__name__])
    if not any(name == "access-analyzer" for name, _ in backend_index.backend_url_patterns):
        backend_index.backend_url_patterns.append(("access-analyzer", re.compile(URL_BASE)))
