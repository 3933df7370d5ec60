"""Shield Advanced APIs moto 5.2 lacks: the Shield Response Team's access role and
proactive engagement with its emergency contacts.

AssociateDRTRole needs a subscription and an existing IAM role
(InvalidParameterException otherwise); DescribeDRTAccess reads it back. Proactive
engagement follows AWS's order: AssociateProactiveEngagementDetails (the first contact
list, only while none is set) or UpdateEmergencyContactSettings set the contacts,
EnableProactiveEngagement needs them (InvalidOperationException otherwise), and
DescribeSubscription then reports `ProactiveEngagementStatus` ENABLED (moto reports
ENABLED from the start: a new subscription here starts DISABLED, as in AWS).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from moto.core.responses import ActionResult, EmptyResult
from moto.shield.responses import ShieldResponse

from rehearsal.emulator._util import backend_state, reroute, service_error


@dataclass
class ShieldConfig:
    drt_role_arn: str | None = None
    contacts: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class EmulatedShieldResponse(ShieldResponse):
    def _config(self) -> ShieldConfig:
        return backend_state(self.shield_backend, "config", ShieldConfig)

    def _subscription(self) -> Any:
        subscription = self.shield_backend.subscription
        if subscription is None:
            raise service_error("ResourceNotFoundException",
                                "The account does not have a Shield Advanced subscription")
        return subscription

    def create_subscription(self) -> ActionResult:
        result = super().create_subscription()
        self._subscription().proactive_engagement_status = "DISABLED"
        return result

    # -- Shield Response Team access ---------------------------------------------------------
    def associate_drt_role(self) -> EmptyResult:
        from moto.iam.models import iam_backends

        self._subscription()
        role_arn = str(self._get_param("RoleArn") or "")
        parts = role_arn.split(":", 5)
        exists = (len(parts) == 6 and parts[2] == "iam" and parts[5].startswith("role/")
                  and any(r.arn == role_arn for r in
                          iam_backends[parts[4] or self.current_account]["aws"].roles.values()))
        if not exists:
            raise service_error("InvalidParameterException",
                                f"RoleArn {role_arn!r} is not an existing IAM role")
        with self._config().lock:
            self._config().drt_role_arn = role_arn
        return EmptyResult()

    def describe_drt_access(self) -> ActionResult:
        role = self._config().drt_role_arn
        return ActionResult({"RoleArn": role} if role else {})

    def disassociate_drt_role(self) -> EmptyResult:
        self._subscription()
        with self._config().lock:
            self._config().drt_role_arn = None
        return EmptyResult()

    # -- proactive engagement ------------------------------------------------------------
    def _contacts(self) -> list[dict[str, Any]]:
        contacts = list(self._get_param("EmergencyContactList") or [])
        if any(not c.get("EmailAddress") for c in contacts):
            raise service_error("InvalidParameterException",
                                "every emergency contact needs an EmailAddress")
        return contacts

    def associate_proactive_engagement_details(self) -> EmptyResult:
        self._subscription()
        contacts = self._contacts()
        with self._config().lock:
            if self._config().contacts:
                raise service_error("InvalidOperationException",
                                    "Emergency contacts are already set; use "
                                    "UpdateEmergencyContactSettings")
            self._config().contacts = contacts
        self._subscription().proactive_engagement_status = "ENABLED"
        return EmptyResult()

    def update_emergency_contact_settings(self) -> EmptyResult:
        contacts = self._contacts()
        with self._config().lock:
            self._config().contacts = contacts
        return EmptyResult()

    def describe_emergency_contact_settings(self) -> ActionResult:
        return ActionResult({"EmergencyContactList": list(self._config().contacts)})

    def enable_proactive_engagement(self) -> EmptyResult:
        subscription = self._subscription()
        if not self._config().contacts:
            raise service_error("InvalidOperationException",
                                "Proactive engagement needs emergency contacts first")
        subscription.proactive_engagement_status = "ENABLED"
        return EmptyResult()

    def disable_proactive_engagement(self) -> EmptyResult:
        self._subscription().proactive_engagement_status = "DISABLED"
        return EmptyResult()


def install() -> None:
    import moto.shield.urls as urls

    reroute(urls, ShieldResponse, EmulatedShieldResponse)
