"""Drill scenario `sabotaged-kms-key`: the ransomware path through KMS. A leaked user's
key scheduled the deletion of the customer-managed key that encrypts a data set.

GuardDuty reports it as an IAM anomaly whose API call is ScheduleKeyDeletion (it has no
KMS finding family); triage names the key and `irctl contain key KEY --keep`. The
playbook cancels the deletion (AWS leaves the key Disabled) and enables the key, so the
data stays readable.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from rehearsal.scenarios._base import (
    Check,
    Incident,
    Scenario,
    attacker_user,
    check,
    key_details,
    scenario,
)

if TYPE_CHECKING:
    from rehearsal.world import World


@scenario
class SabotagedKmsKey(Scenario):
    name = "sabotaged-kms-key"
    order = 95
    playbook = "compromised-secret-or-key"
    title = "A leaked user's key scheduled a data key for deletion"
    finding_type = "Impact:IAMUser/AnomalousBehavior"
    severity = 8.0

    def prepare(self, world: World) -> dict[str, Any]:
        user = attacker_user(world, "saboteur")
        key = world.client("kms").create_key(
            Description=f"drill data key {world.run_id}",
            Tags=[{"TagKey": "ir-readiness:drill", "TagValue": world.run_id}])["KeyMetadata"]
        return {**user, "key_arn": key["Arn"], "key_id": key["KeyId"]}

    def attack(self, world: World, victim: Mapping[str, Any]) -> None:
        world.client("kms").schedule_key_deletion(KeyId=victim["key_id"],
                                                  PendingWindowInDays=7)

    def resource(self, world: World, victim: Mapping[str, Any]) -> dict[str, Any]:
        return key_details(victim, world.account_id)

    def service_action(self, world: World, victim: Mapping[str, Any]) -> dict[str, Any]:
        return {"ActionType": "AWS_API_CALL", "AwsApiCallAction": {
            "Api": "ScheduleKeyDeletion", "ServiceName": "kms.amazonaws.com",
            "CallerType": "Remote IP",
            "AffectedResources": {"AWS::KMS::Key": victim["key_arn"]},
            "RemoteIpDetails": {"IpAddressV4": "198.51.100.42"}}}

    def params(self, world: World, victim: Mapping[str, Any]) -> dict[str, str]:
        return {"resource_kind": "key", "key_id": str(victim["key_arn"]),
                "key_action": "keep"}

    def _triage(self, world: World, incident: Incident) -> tuple[bool, str]:
        """Routed by the finding's API call (see `compromised-secret`)."""
        import json

        from runbooks.analysis.findings import parse_findings

        gd = world.client("guardduty")
        fetched = gd.get_findings(DetectorId=world.manifest.guard_duty_detector_id,
                                  FindingIds=[incident.finding["Id"]])["Findings"]
        findings = parse_findings(json.loads(json.dumps({"Findings": fetched}, default=str)),
                                  "drill")
        commands = findings[0].api_call_commands() if findings else []
        wanted = f"irctl contain key {incident.victim['key_arn']} --keep"
        return wanted in commands, f"triage names {commands or 'no command'}"

    def verify(self, world: World, incident: Incident, case: str) -> list[Check]:
        kms = world.client("kms")
        arn = incident.victim["key_arn"]

        def kept() -> tuple[bool, str]:
            meta = kms.describe_key(KeyId=arn)["KeyMetadata"]
            ok = meta["KeyState"] == "Enabled" and not meta.get("DeletionDate")
            return ok, f"key {meta['KeyState']}, deletion date {meta.get('DeletionDate')}"

        return [
            check("the key's deletion is cancelled and the key enabled", kept),
            *self.common_checks(world, incident, case, "high", arn),
        ]
