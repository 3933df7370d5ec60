"""Drill scenario `malicious-ip`: a known-malicious address probing an exposed port.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from rehearsal.scenarios._base import (
    Check,
    Incident,
    Scenario,
    check,
    scenario,
)

if TYPE_CHECKING:
    from rehearsal.world import World


@scenario
class MaliciousIp(Scenario):
    name = "malicious-ip"
    order = 80
    playbook = "malicious-ip"
    title = "A known-malicious address probing an exposed port"
    finding_type = "Recon:EC2/PortProbeUnprotectedPort"
    severity = 5.0  # Medium: GuardDuty's Low band is deliberately not paged
    resource_role = "TARGET"
    cidr = "203.0.113.66/32"

    def prepare(self, world: World) -> dict[str, Any]:
        ec2 = world.client("ec2")
        acl = ec2.create_network_acl(VpcId=world.workload_vpc_id, TagSpecifications=[{
            "ResourceType": "network-acl", "Tags": world.drill_tags("drill-app-acl")}])[
            "NetworkAcl"]["NetworkAclId"]
        ec2.create_network_acl_entry(NetworkAclId=acl, RuleNumber=100, Protocol="6",
                                     RuleAction="allow", Egress=False, CidrBlock="0.0.0.0/0",
                                     PortRange={"From": 443, "To": 443})
        before = self._entries(world)
        return {"vpc_id": world.workload_vpc_id, "acl": acl, "before": before}

    def _entries(self, world: World) -> dict[str, list[dict[str, Any]]]:
        acls = world.client("ec2").describe_network_acls(Filters=[
            {"Name": "vpc-id", "Values": [world.workload_vpc_id]}])["NetworkAcls"]
        return {a["NetworkAclId"]: sorted(a["Entries"], key=lambda e: (e["Egress"],
                                                                       e["RuleNumber"]))
                for a in acls}

    def resource(self, world: World, victim: Mapping[str, Any]) -> dict[str, Any]:
        return {"ResourceType": "Instance", "InstanceDetails": {
            "InstanceId": "i-0d0d0d0d0d0d0d0d0", "NetworkInterfaces": [
                {"VpcId": victim["vpc_id"], "SubnetId": world.workload_subnet_id}]}}

    def service_action(self, world: World, victim: Mapping[str, Any]) -> dict[str, Any]:
        probe = {"LocalPortDetails": {"Port": 22, "PortName": "SSH"},
                 "RemoteIpDetails": {"IpAddressV4": self.cidr.split("/")[0]}}
        return {"ActionType": "PORT_PROBE",
                "PortProbeAction": {"Blocked": False, "PortProbeDetails": [probe]}}

    def params(self, world: World, victim: Mapping[str, Any]) -> dict[str, str]:
        return {"cidr": self.cidr, "vpc_id": str(victim["vpc_id"])}

    def verify(self, world: World, incident: Incident, case: str) -> list[Check]:
        before: dict[str, list[dict[str, Any]]] = incident.victim["before"]

        def denied_both_ways() -> tuple[bool, str]:
            after = self._entries(world)
            missing = []
            for acl, entries in after.items():
                for egress in (False, True):
                    if not any(e["CidrBlock"] == self.cidr and e["RuleAction"] == "deny"
                               and e["Egress"] is egress for e in entries
                               if "CidrBlock" in e):
                        missing.append(f"{acl} {'egress' if egress else 'ingress'}")
            return bool(after) and not missing, \
                f"{len(after)} ACL(s); missing deny: {missing or 'none'}"

        def unchanged_otherwise() -> tuple[bool, str]:
            after = self._entries(world)
            changed = [acl for acl, entries in before.items()
                       if [e for e in after.get(acl, []) if e.get("CidrBlock") != self.cidr]
                       != [e for e in entries if e.get("CidrBlock") != self.cidr]]
            return not changed, f"pre-existing entries changed in: {changed or 'none'}"

        return [
            check("every network ACL of the VPC denies the address both ways", denied_both_ways),
            check("pre-existing ACL entries are unchanged", unchanged_otherwise),
            *self.common_checks(world, incident, case, "info", self.cidr),
        ]
