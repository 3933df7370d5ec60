"""Drill scenario `compromised-role-credentials`: instance role credentials used outside AWS.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from rehearsal.scenarios._base import (
    EC2_TRUST,
    Check,
    Incident,
    Scenario,
    check,
    policy_statements,
    scenario,
)

if TYPE_CHECKING:
    from rehearsal.world import World


@scenario
class CompromisedRole(Scenario):
    name = "compromised-role-credentials"
    order = 50
    playbook = "compromised-iam-credentials"
    title = "Instance role credentials used outside AWS"
    finding_type = "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS"

    def prepare(self, world: World) -> dict[str, Any]:
        role = f"drill-worker-{world.run_id}"
        world.client("iam").create_role(
            RoleName=role, Tags=[{"Key": "ir-readiness:drill", "Value": world.run_id}],
            AssumeRolePolicyDocument=EC2_TRUST)
        return {"role": role}

    def resource(self, world: World, victim: Mapping[str, Any]) -> dict[str, Any]:
        return {"ResourceType": "AccessKey", "AccessKeyDetails": {
            "AccessKeyId": "ASIADRILL0000EXAMPLE", "PrincipalId": "AROADRILLEXAMPLE:i-0drill",
            "UserName": victim["role"], "UserType": "AssumedRole"}}

    def params(self, world: World, victim: Mapping[str, Any]) -> dict[str, str]:
        return {"credential_kind": "role", "role_name": str(victim["role"])}

    def verify(self, world: World, incident: Incident, case: str) -> list[Check]:
        iam = world.client("iam")
        role = incident.victim["role"]

        def revoked() -> tuple[bool, str]:
            for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
                document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
                for statement in policy_statements(document):
                    condition = statement.get("Condition", {}).get("DateLessThan", {})
                    if statement.get("Effect") == "Deny" and "aws:TokenIssueTime" in condition:
                        return True, f"{name}: deny for tokens issued before " \
                                     f"{condition['aws:TokenIssueTime']}"
            return False, "no policy denies sessions issued before containment"

        return [
            check("the role's older sessions are revoked", revoked),
            *self.common_checks(world, incident, case, "high", role),
        ]
