"""GuardDuty configuration APIs moto 5.2 lacks: publishing destinations, S3 Malware
Protection plans and the organisation configuration.

A publishing destination (where GuardDuty exports findings: an S3 bucket with a KMS key)
belongs to an existing detector (BadRequestException otherwise, as AWS answers) and is
read back with Describe/ListPublishingDestinations. The organisation configuration
(auto-enable of members and of each protection plan) is the delegated administrator's:
only an account some management account named with EnableOrganizationAdminAccount may
update it (BadRequestException otherwise); features merge by name, as AWS merges them;
with ALL, the organisation's existing member accounts get a detector with the ALL plans.
A malware protection plan names its role and the bucket it scans; the bucket must exist (an unknown
one is a BadRequestException) and the plan reads back with GetMalwareProtectionPlan, ACTIVE.

`GuardDutyConfigMixin` is mixed into the emulator's GuardDuty response class
(`rehearsal.emulator.guardduty.EmulatedGuardDutyResponse`), so its routes are that
module's.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from moto.core.responses import ActionResult

from rehearsal.emulator._util import backend_state, service_error

ROUTES = [
    "{0}/detector/(?P<detector_id>[^/]+)/publishingDestination$",
    "{0}/detector/(?P<detector_id>[^/]+)/publishingDestination/(?P<destination>[^/]+)$",
    "{0}/malware-protection-plan$",
    "{0}/malware-protection-plan/(?P<plan>[^/]+)$",
    "{0}/detector/(?P<detector_id>[^/]+)/admin$",
]
"""URL patterns of the operations below (added to moto's GuardDuty routes)."""


@dataclass
class GuardDutyConfig:
    """Per account and region: {detector: {destination id: doc}} and {plan id: doc}."""

    destinations: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    plans: dict[str, dict[str, Any]] = field(default_factory=dict)
    organization: dict[str, dict[str, Any]] = field(default_factory=dict)
    """{detector id: {"AutoEnableOrganizationMembers": ..., "Features": {name: doc}}}"""
    lock: threading.Lock = field(default_factory=threading.Lock)


class GuardDutyConfigMixin:
    """The operations; `self` is moto's GuardDutyResponse."""

    guardduty_backend: Any
    region: str
    current_account: str

    def _params(self) -> dict[str, Any]:
        raise NotImplementedError  # EmulatedGuardDutyResponse parses from the model

    def _gd_config(self) -> GuardDutyConfig:
        return backend_state(self.guardduty_backend, "config", GuardDutyConfig)

    def _existing_detector(self, detector_id: str) -> None:
        if detector_id not in self.guardduty_backend.detectors:
            raise service_error(
                "BadRequestException",
                f"The request is rejected because the input detectorId {detector_id} "
                "is not owned by the current account.")

    # -- publishing destinations -----------------------------------------------------------
    def create_publishing_destination(self) -> ActionResult:
        params = self._params()
        detector_id = str(params["DetectorId"])
        self._existing_detector(detector_id)
        if params.get("DestinationType") != "S3":
            raise service_error(
                "BadRequestException",
                f"destinationType must be S3, got {params.get('DestinationType')!r}")
        properties = dict(params.get("DestinationProperties") or {})
        if not str(properties.get("DestinationArn", "")).startswith("arn:aws:s3:::") or not (
                properties.get("KmsKeyArn")):
            raise service_error("BadRequestException",
                                "destinationProperties needs an S3 destinationArn and a "
                                "kmsKeyArn")
        destination_id = uuid.uuid4().hex
        with self._gd_config().lock:
            self._gd_config().destinations.setdefault(detector_id, {})[destination_id] = {
                "DestinationId": destination_id, "DestinationType": "S3",
                "Status": "PUBLISHING", "PublishingFailureStartTimestamp": 0,
                "DestinationProperties": properties, "Tags": dict(params.get("Tags") or {}),
            }
        return ActionResult({"DestinationId": destination_id})

    def describe_publishing_destination(self) -> ActionResult:
        params = self._params()
        detector_id = str(params["DetectorId"])
        self._existing_detector(detector_id)
        doc = self._gd_config().destinations.get(detector_id, {}).get(
            str(params["DestinationId"]))
        if doc is None:
            raise service_error("BadRequestException",
                                f"Publishing destination {params['DestinationId']} not found")
        return ActionResult(dict(doc))

    def list_publishing_destinations(self) -> ActionResult:
        params = self._params()
        detector_id = str(params["DetectorId"])
        self._existing_detector(detector_id)
        docs = self._gd_config().destinations.get(detector_id, {}).values()
        return ActionResult({"Destinations": [
            {k: d[k] for k in ("DestinationId", "DestinationType", "Status")} for d in docs]})

    # -- malware protection plans ---------------------------------------------------------
    def create_malware_protection_plan(self) -> ActionResult:
        from moto.s3.models import s3_backends

        params = self._params()
        role = str(params.get("Role") or "")
        bucket = (params.get("ProtectedResource") or {}).get("S3Bucket") or {}
        name = bucket.get("BucketName")
        if not role.startswith("arn:aws:iam::") or not name:
            raise service_error("BadRequestException",
                                "role (an IAM role ARN) and protectedResource.s3Bucket."
                                "bucketName are required")
        if name not in s3_backends[self.current_account]["aws"].buckets:
            raise service_error("BadRequestException",
                                f"The S3 bucket {name} does not exist in this account")
        plan_id = uuid.uuid4().hex[:20]
        doc = {
            "Arn": f"arn:aws:guardduty:{self.region}:{self.current_account}:"
                   f"malware-protection-plan/{plan_id}",
            "Role": role, "ProtectedResource": dict(params["ProtectedResource"]),
            "Actions": dict(params.get("Actions") or {}),
            "CreatedAt": datetime.now(timezone.utc), "Status": "ACTIVE",
            "Tags": dict(params.get("Tags") or {}),
        }
        with self._gd_config().lock:
            self._gd_config().plans[plan_id] = doc
        return ActionResult({"MalwareProtectionPlanId": plan_id})

    def get_malware_protection_plan(self) -> ActionResult:
        plan_id = str(self._params()["MalwareProtectionPlanId"])
        doc = self._gd_config().plans.get(plan_id)
        if doc is None:
            raise service_error("ResourceNotFoundException",
                                f"Malware protection plan {plan_id} not found")
        return ActionResult(dict(doc))

    def list_malware_protection_plans(self) -> ActionResult:
        return ActionResult({"MalwareProtectionPlans": [
            {"MalwareProtectionPlanId": plan_id} for plan_id in self._gd_config().plans]})

    # -- organisation configuration (the delegated administrator's detector) --------------
    def _is_delegated_admin(self) -> bool:
        from moto.guardduty.models import guardduty_backends

        for account in list(guardduty_backends):
            regions = guardduty_backends[account]
            if self.region in regions and self.current_account in (
                    regions[self.region].admin_account_ids):
                return True
        return False

    def update_organization_configuration(self) -> ActionResult:
        params = self._params()
        detector_id = str(params["DetectorId"])
        self._existing_detector(detector_id)
        if not self._is_delegated_admin():
            raise service_error(
                "BadRequestException",
                f"The request is rejected because account {self.current_account} is not "
                "the GuardDuty delegated administrator of its organization.")
        mode = params.get("AutoEnableOrganizationMembers")
        if mode is not None and mode not in ("NEW", "ALL", "NONE"):
            raise service_error("BadRequestException",
                                f"autoEnableOrganizationMembers must be NEW, ALL or NONE, "
                                f"got {mode!r}")
        with self._gd_config().lock:
            org = self._gd_config().organization.setdefault(
                detector_id, {"AutoEnableOrganizationMembers": "NONE", "Features": {}})
            if mode is not None:
                org["AutoEnableOrganizationMembers"] = mode
            for feature in params.get("Features") or []:
                org["Features"][feature["Name"]] = dict(feature)
            if org["AutoEnableOrganizationMembers"] == "ALL":
                self._enable_existing_members(org)
        return ActionResult({})

    def _enable_existing_members(self, org: dict[str, Any]) -> None:
        """ALL covers the accounts already in the organisation: each gets a detector in
        this region with the protection plans auto-enabled for ALL, as GuardDuty does.
        The management account is not one of them (AWS: add it as a member yourself)."""
        from moto.guardduty.models import guardduty_backends
        from moto.organizations.models import organizations_backends

        memberships = dict(organizations_backends.master_accounts)
        own = memberships.get(self.current_account)
        management = own[0] if own else self.current_account
        members = sorted(account for account, (master, _) in memberships.items()
                         if master == management and account != self.current_account)
        # moto keeps a detector's features as the request's JSON had them (camelCase).
        features = [{"name": name, "status": "ENABLED"}
                    for name, feature in org["Features"].items()
                    if feature.get("AutoEnable") == "ALL"]
        for account in members:
            backend = guardduty_backends[account][self.region]
            if not backend.detectors:
                backend.create_detector(True, "SIX_HOURS", {}, {}, list(features))
                continue
            for detector in backend.detectors.values():
                merged = {f.get("name"): f for f in detector.features}
                merged.update({f["name"]: f for f in features})
                detector.features = list(merged.values())

    def describe_organization_configuration(self) -> ActionResult:
        params = self._params()
        detector_id = str(params["DetectorId"])
        self._existing_detector(detector_id)
        org = self._gd_config().organization.get(
            detector_id, {"AutoEnableOrganizationMembers": "NONE", "Features": {}})
        return ActionResult({
            "AutoEnable": org["AutoEnableOrganizationMembers"] != "NONE",
            "MemberAccountLimitReached": False,
            "AutoEnableOrganizationMembers": org["AutoEnableOrganizationMembers"],
            "Features": list(org["Features"].values()),
        })
