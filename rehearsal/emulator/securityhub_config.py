"""Security Hub configuration APIs moto 5.2 lacks: standards subscriptions and the
cross-region finding aggregator.

BatchEnableStandards subscribes the account to a standard of its region (the ARN's region
must be the request's; `arn:aws:securityhub:::ruleset/...` CIS 1.2 is global), as READY,
and GetEnabledStandards reads the subscriptions back. CreateFindingAggregator (one per
account, in the aggregation region: a second is a ResourceConflictException) is read back
with Get/ListFindingAggregators. Both require an enabled hub (InvalidAccessException).
Central configuration policies (CreateConfigurationPolicy, GetConfigurationPolicy) and
their association with the organisation's root, an OU or an account
(StartConfigurationPolicyAssociation, GetConfigurationPolicyAssociation) belong to the
delegated administrator once the organisation uses CENTRAL configuration (moto's
organisation configuration): AccessDeniedException for any other account,
ValidationException while configuration is LOCAL.

`SecurityHubConfigMixin` is mixed into the emulator's Security Hub response class
(`rehearsal.emulator.securityhub.EmulatedSecurityHubResponse`), so its routes are that
module's.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from moto.core.responses import ActionResult

from rehearsal.emulator._util import backend_state, service_error

ROUTES = [
    "{0}/standards/register$",
    "{0}/standards/get$",
    "{0}/findingAggregator/create$",
    "{0}/findingAggregator/list$",
    "{0}/findingAggregator/get/(?P<arn>.+)$",
    "{0}/configurationPolicy/create$",
    "{0}/configurationPolicy/get/(?P<identifier>.+)$",
    "{0}/configurationPolicyAssociation/associate$",
    "{0}/configurationPolicyAssociation/get$",
]
"""URL patterns of the operations below (added to moto's Security Hub routes)."""


@dataclass
class SecurityHubConfig:
    """Per account and region: {subscription ARN: doc}, {aggregator ARN: doc}."""

    standards: dict[str, dict[str, Any]] = field(default_factory=dict)
    aggregators: dict[str, dict[str, Any]] = field(default_factory=dict)
    policies: dict[str, dict[str, Any]] = field(default_factory=dict)
    associations: dict[str, dict[str, Any]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _aggregators_of_account(account: str) -> list[dict[str, Any]]:
    """Every region's aggregators of the account: AWS allows one per account."""
    from moto.securityhub.models import securityhub_backends

    found: list[dict[str, Any]] = []
    for backend in securityhub_backends[account].values():
        store = backend.__dict__.get("_ir_emulator", {}).get("config")
        if store is not None:
            found.extend(store.aggregators.values())
    return found


class SecurityHubConfigMixin:
    """The operations; `self` is moto's SecurityHubResponse."""

    securityhub_backend: Any
    region: str
    current_account: str
    path: str

    def _sh_params(self) -> dict[str, Any]:
        self.parse_parameters(self.normalized_request)  # type: ignore[attr-defined]
        return dict(self.params)  # type: ignore[attr-defined]

    def _sh_config(self) -> SecurityHubConfig:
        return backend_state(self.securityhub_backend, "config", SecurityHubConfig)

    def _hub_enabled(self) -> None:
        if not self.securityhub_backend.enabled:
            raise service_error("InvalidAccessException",
                                f"Account {self.current_account} is not subscribed to AWS "
                                "Security Hub")

    # -- standards -----------------------------------------------------------------------
    def batch_enable_standards(self) -> ActionResult:
        self._hub_enabled()
        requests = self._sh_params().get("StandardsSubscriptionRequests") or []
        out = []
        for request in requests:
            standard = str(request.get("StandardsArn") or "")
            parts = standard.split(":", 5)
            if (len(parts) != 6 or parts[2] != "securityhub" or parts[3] not in (
                    "", self.region) or not parts[5].startswith(("standards/", "ruleset/"))):
                raise service_error("InvalidInputException",
                                    f"StandardsArn {standard!r} is not a standard of "
                                    f"{self.region}")
            resource = parts[5].replace("standards/", "subscription/", 1).replace(
                "ruleset/", "subscription/", 1)
            arn = f"arn:aws:securityhub:{self.region}:{self.current_account}:{resource}"
            doc = {"StandardsSubscriptionArn": arn, "StandardsArn": standard,
                   "StandardsInput": dict(request.get("StandardsInput") or {}),
                   "StandardsStatus": "READY"}
            with self._sh_config().lock:
                self._sh_config().standards[arn] = doc
            out.append(doc)
        return ActionResult({"StandardsSubscriptions": out})

    def get_enabled_standards(self) -> ActionResult:
        self._hub_enabled()
        wanted = self._sh_params().get("StandardsSubscriptionArns")
        docs = [d for arn, d in self._sh_config().standards.items()
                if not wanted or arn in wanted]
        return ActionResult({"StandardsSubscriptions": docs})

    # -- finding aggregator --------------------------------------------------------------
    def create_finding_aggregator(self) -> ActionResult:
        self._hub_enabled()
        params = self._sh_params()
        mode = params.get("RegionLinkingMode")
        regions = list(params.get("Regions") or [])
        modes = ("ALL_REGIONS", "ALL_REGIONS_EXCEPT_SPECIFIED", "SPECIFIED_REGIONS",
                 "NO_REGIONS")
        if mode not in modes or (mode == "ALL_REGIONS" and regions):
            raise service_error("InvalidInputException",
                                f"RegionLinkingMode must be one of {list(modes)} (Regions "
                                f"not with ALL_REGIONS), got {mode!r} with {regions}")
        if _aggregators_of_account(self.current_account):
            raise service_error("ResourceConflictException",
                                "A finding aggregator already exists for this account")
        arn = (f"arn:aws:securityhub:{self.region}:{self.current_account}:"
               f"finding-aggregator/{uuid.uuid4()}")
        doc = {"FindingAggregatorArn": arn, "FindingAggregationRegion": self.region,
               "RegionLinkingMode": mode, "Regions": regions}
        with self._sh_config().lock:
            self._sh_config().aggregators[arn] = doc
        return ActionResult(dict(doc))

    def get_finding_aggregator(self) -> ActionResult:
        self._hub_enabled()
        arn = unquote(self.path.split("/findingAggregator/get/", 1)[1].split("?", 1)[0])
        doc = self._sh_config().aggregators.get(arn)
        if doc is None:
            raise service_error("ResourceNotFoundException",
                                f"Finding aggregator {arn} not found in {self.region}")
        return ActionResult(dict(doc))

    def list_finding_aggregators(self) -> ActionResult:
        self._hub_enabled()
        return ActionResult({"FindingAggregators": [
            {"FindingAggregatorArn": arn} for arn in self._sh_config().aggregators]})

    # -- central configuration --------------------------------------------------------------
    def _central_admin(self) -> None:
        org = self.securityhub_backend._get_org_config()
        if org["admin_account_id"] != self.current_account:
            raise service_error("AccessDeniedException",
                                f"Account {self.current_account} is not the Security Hub "
                                "delegated administrator")
        if org["configuration"].get("ConfigurationType") != "CENTRAL":
            raise service_error("ValidationException",
                                "Configuration policies need the organization's "
                                "ConfigurationType CENTRAL")

    def create_configuration_policy(self) -> ActionResult:
        from datetime import datetime, timezone

        self._central_admin()
        params = self._sh_params()
        name = str(params.get("Name") or "")
        policy = dict(params.get("ConfigurationPolicy") or {})
        if not name or "SecurityHub" not in policy:
            raise service_error("InvalidInputException",
                                "Name and ConfigurationPolicy.SecurityHub are required")
        if any(p["Name"] == name for p in self._sh_config().policies.values()):
            raise service_error("ResourceConflictException",
                                f"Configuration policy {name} already exists")
        policy_id = str(uuid.uuid4())
        now = datetime.now(timezone.utc)
        doc = {"Arn": f"arn:aws:securityhub:{self.region}:{self.current_account}:"
                      f"configuration-policy/{policy_id}",
               "Id": policy_id, "Name": name, "Description": params.get("Description") or "",
               "CreatedAt": now, "UpdatedAt": now, "ConfigurationPolicy": policy}
        with self._sh_config().lock:
            self._sh_config().policies[policy_id] = doc
        return ActionResult(dict(doc))

    def _policy(self, identifier: str) -> dict[str, Any]:
        for doc in self._sh_config().policies.values():
            if identifier in (doc["Id"], doc["Arn"]):
                return doc
        raise service_error("ResourceNotFoundException",
                            f"Configuration policy {identifier} not found")

    def get_configuration_policy(self) -> ActionResult:
        self._central_admin()
        identifier = unquote(self.path.split("/configurationPolicy/get/", 1)[1].split("?")[0])
        return ActionResult(dict(self._policy(identifier)))

    @staticmethod
    def _target(target: dict[str, Any]) -> tuple[str, str]:
        for key, kind in (("AccountId", "ACCOUNT"), ("OrganizationalUnitId",
                                                    "ORGANIZATIONAL_UNIT"), ("RootId", "ROOT")):
            if target.get(key):
                return str(target[key]), kind
        raise service_error("InvalidInputException",
                            "Target needs an AccountId, OrganizationalUnitId or RootId")

    def start_configuration_policy_association(self) -> ActionResult:
        from datetime import datetime, timezone

        self._central_admin()
        params = self._sh_params()
        policy = self._policy(str(params.get("ConfigurationPolicyIdentifier") or ""))
        target_id, kind = self._target(dict(params.get("Target") or {}))
        doc = {"ConfigurationPolicyId": policy["Id"], "TargetId": target_id,
               "TargetType": kind, "AssociationType": "APPLIED",
               "UpdatedAt": datetime.now(timezone.utc), "AssociationStatus": "SUCCESS"}
        with self._sh_config().lock:
            self._sh_config().associations[target_id] = doc
        return ActionResult(dict(doc))

    def get_configuration_policy_association(self) -> ActionResult:
        self._central_admin()
        target_id, _ = self._target(dict(self._sh_params().get("Target") or {}))
        doc = self._sh_config().associations.get(target_id)
        if doc is None:
            raise service_error("ResourceNotFoundException",
                                f"No configuration policy is associated with {target_id}")
        return ActionResult(dict(doc))
