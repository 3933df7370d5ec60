"""Drill scenario `compromised-ec2-memory`: a crypto-mining instance that SSM manages,
contained by the EC2 playbook with its memory captured after isolation.

The instance's role lets the SSM Agent register (what AmazonSSMManagedInstanceCore
grants), so the emulator treats it as managed; the drill's stack provisions memory
capture (document, upload role, the forensic group's HTTPS egress to the workload VPC's
endpoint group, a stand-in tool with its pinned SHA-256). Checked in AWS state: the
image is in the case's memory prefix with the SHA-256 the audit log records (and its
`.sha256` agrees with the bytes), and the ENI ends in exactly the isolation group.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from rehearsal.scenarios._base import Check, Incident, check, scenario
from rehearsal.scenarios.compromised_ec2_instance import CompromisedInstance

if TYPE_CHECKING:
    from rehearsal.world import World

AGENT_POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Resource": "*",
    "Action": ["ssm:UpdateInstanceInformation", "ssmmessages:CreateControlChannel",
               "ec2messages:GetMessages"]}]})


@scenario
class CompromisedInstanceMemory(CompromisedInstance):
    name = "compromised-ec2-memory"
    order = 15
    title = "Crypto-mining EC2 instance: isolated, then its memory captured"
    finding_type = "CryptoCurrency:EC2/BitcoinTool.B!DNS"

    def prepare(self, world: World) -> dict[str, Any]:
        victim = super().prepare(world)
        world.client("iam").put_role_policy(RoleName=victim["role"], PolicyName="ssm-agent",
                                            PolicyDocument=AGENT_POLICY)
        return victim

    def service_action(self, world: World, victim: Mapping[str, Any]) -> dict[str, Any]:
        return {"ActionType": "DNS_REQUEST",
                "DnsRequestAction": {"Domain": "pool.minexmr.drill.example",
                                     "Protocol": "UDP", "Blocked": False}}

    def verify(self, world: World, incident: Incident, case: str) -> list[Check]:
        s3, bucket = world.client("s3"), world.manifest.evidence_bucket
        instance_id = incident.victim["instance_id"]
        prefix = f"cases/{case}/memory/{instance_id}/"

        def recorded() -> dict[str, Any]:
            body = s3.get_object(Bucket=bucket, Key=f"cases/{case}/audit.jsonl")["Body"].read()
            results = [r.get("result", {}) for r in map(json.loads, body.splitlines())
                       if r.get("event") == "applied" and r.get("step") == "ec2.capture-memory"]
            return dict(results[-1]) if results else {}

        def image_with_recorded_sha256() -> tuple[bool, str]:
            result = recorded()
            if not result.get("captured"):
                return False, f"no capture recorded in the audit log: {result}"
            key = str(result["key"])
            body = s3.get_object(Bucket=bucket, Key=key,
                                 VersionId=result["versionId"])["Body"].read()
            digest = hashlib.sha256(body).hexdigest()
            sidecar = s3.get_object(Bucket=bucket, Key=f"{key}.sha256")["Body"].read().decode()
            ok = key.startswith(prefix) and digest == result["sha256"] == sidecar.split()[0]
            return ok, f"s3://{bucket}/{key}: {len(body)} bytes, sha256 {digest[:16]}..., " \
                       f"recorded {str(result['sha256'])[:16]}..."

        def forensic_group_gone() -> tuple[bool, str]:
            quarantine = world.manifest.quarantine[world.workload_vpc_id]
            enis = world.client("ec2").describe_network_interfaces(Filters=[
                {"Name": "attachment.instance-id", "Values": [instance_id]}])[
                "NetworkInterfaces"]
            groups = [sorted(g["GroupId"] for g in e["Groups"]) for e in enis]
            ok = bool(groups) and all(g == [quarantine.isolation_security_group_id]
                                      for g in groups)
            return ok, f"ENI groups {groups}; forensic group " \
                       f"{quarantine.forensic_security_group_id} detached"

        return [
            *super().verify(world, incident, case),
            check("memory image in the case's prefix with the SHA-256 the audit log records",
                  image_with_recorded_sha256),
            check("the ENI ends in exactly the isolation group (forensic group removed)",
                  forensic_group_gone),
        ]
