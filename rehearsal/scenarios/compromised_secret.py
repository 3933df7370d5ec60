"""Drill scenario `compromised-secret`: a leaked user's key read a Secrets Manager secret.

GuardDuty reports it as an IAM anomaly whose API call is GetSecretValue (it has no
Secrets Manager finding family); triage names the secret and `irctl contain secret`.
The playbook denies the user in the secret's resource policy and stores a new value
(no rotation function can run in the emulator, so the secret has none configured).
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
    policy_statements,
    scenario,
)

if TYPE_CHECKING:
    from rehearsal.world import World

LEAKED = "drill-leaked-db-password"


@scenario
class CompromisedSecret(Scenario):
    name = "compromised-secret"
    order = 92
    playbook = "compromised-secret-or-key"
    title = "A leaked user's key read a Secrets Manager secret"
    finding_type = "CredentialAccess:IAMUser/AnomalousBehavior"
    severity = 8.0

    def prepare(self, world: World) -> dict[str, Any]:
        user = attacker_user(world, "reader")
        created = world.client("secretsmanager").create_secret(
            Name=f"drill/payments-db-{world.run_id}", SecretString=LEAKED,
            Tags=[{"Key": "ir-readiness:drill", "Value": world.run_id}])
        return {**user, "secret_arn": created["ARN"], "leaked_version": created["VersionId"],
                "user_arn": f"arn:aws:iam::{world.account_id}:user/{user['user']}"}

    def resource(self, world: World, victim: Mapping[str, Any]) -> dict[str, Any]:
        return key_details(victim, world.account_id)

    def service_action(self, world: World, victim: Mapping[str, Any]) -> dict[str, Any]:
        return {"ActionType": "AWS_API_CALL", "AwsApiCallAction": {
            "Api": "GetSecretValue", "ServiceName": "secretsmanager.amazonaws.com",
            "CallerType": "Remote IP",
            "AffectedResources": {"AWS::SecretsManager::Secret": victim["secret_arn"]},
            "RemoteIpDetails": {"IpAddressV4": "198.51.100.41"}}}

    def params(self, world: World, victim: Mapping[str, Any]) -> dict[str, str]:
        return {"resource_kind": "secret", "secret_id": str(victim["secret_arn"]),
                "principal_arn": str(victim["user_arn"]), "rotation": "new-value"}

    def _triage(self, world: World, incident: Incident) -> tuple[bool, str]:
        """GuardDuty routes the finding to the credentials playbook (the principal is
        contained first); triage names this playbook's command from the API call."""
        import json

        from runbooks.analysis.findings import parse_findings

        gd = world.client("guardduty")
        fetched = gd.get_findings(DetectorId=world.manifest.guard_duty_detector_id,
                                  FindingIds=[incident.finding["Id"]])["Findings"]
        findings = parse_findings(json.loads(json.dumps({"Findings": fetched}, default=str)),
                                  "drill")
        commands = findings[0].api_call_commands() if findings else []
        wanted = (f"irctl contain secret {incident.victim['secret_arn']} --principal "
                  f"{incident.victim['user_arn']}")
        return wanted in commands, f"triage names {commands or 'no command'}"

    def verify(self, world: World, incident: Incident, case: str) -> list[Check]:
        sm = world.client("secretsmanager")
        arn, user_arn = incident.victim["secret_arn"], incident.victim["user_arn"]
        leaked = incident.victim["leaked_version"]

        def denied() -> tuple[bool, str]:
            text = sm.get_resource_policy(SecretId=arn).get("ResourcePolicy") or "{}"
            deny = [s for s in policy_statements(text) if s.get("Effect") == "Deny"
                    and user_arn in s.get("Condition", {}).get("ArnLike", {}).get(
                        "aws:PrincipalArn", [])
                    and "secretsmanager:GetSecretValue" in s.get("Action", [])]
            return bool(deny), (f"statement {deny[0]['Sid']} denies {user_arn}" if deny
                                else f"no Deny for {user_arn} in {text}")

        def rotated() -> tuple[bool, str]:
            stages = sm.describe_secret(SecretId=arn)["VersionIdsToStages"]
            value = sm.get_secret_value(SecretId=arn)["SecretString"]
            ok = stages.get(leaked) == ["AWSPREVIOUS"] and value != LEAKED
            return ok, f"leaked version {leaked} is {stages.get(leaked)}; value changed: " \
                       f"{value != LEAKED}"

        return [
            check("secret's resource policy denies the leaked principal", denied),
            check("new AWSCURRENT value, the leaked one kept as AWSPREVIOUS", rotated),
            *self.common_checks(world, incident, case, "high", arn),
        ]
