"""Drill scenario `compromised-eks-node`: a process running on an EKS worker node itself,
outside any pod (GuardDuty Runtime Monitoring on EKS names only the node instance).

The playbook's containment cordons the node, then its `contain-instance` follow-up runs
`irctl contain instance` on the node instance. The cluster and the node instance are the
emulator's; the node object is in the in-memory Kubernetes fake behind irctl's
Kubernetes interface (see `compromised_eks_pod.py` for what that does and does not prove).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from rehearsal.kube_fake import FakeCluster
from rehearsal.scenarios._base import (
    EC2_TRUST,
    Check,
    Incident,
    Scenario,
    check,
    image_id,
    scenario,
)

if TYPE_CHECKING:
    from rehearsal.world import World

NODE = "ip-10-0-7-42.ec2.internal"


@scenario
class CompromisedEksNode(Scenario):
    name = "compromised-eks-node"
    order = 76
    playbook = "compromised-eks-node"
    title = "A new binary executed on an EKS worker node, outside any pod"
    finding_type = "Execution:Runtime/NewBinaryExecuted"
    follow_ups = ("contain-instance",)

    def __init__(self) -> None:
        self.fake: FakeCluster | None = None

    @contextmanager
    def responding(self, world: World) -> Iterator[object]:
        from runbooks.core.kube import connector

        self.fake = FakeCluster(f"drill-eks-node-{world.run_id}")
        with connector(self.fake.connector):
            yield self.fake

    def prepare(self, world: World) -> dict[str, Any]:
        assert self.fake is not None, "prepare runs within responding()"
        ec2, iam = world.client("ec2"), world.client("iam")
        unique = f"{world.run_id}-{uuid.uuid4().hex[:6]}"
        role = f"drill-eks-node-{unique}"
        iam.create_role(RoleName=role, AssumeRolePolicyDocument=EC2_TRUST.replace(
            "ec2.amazonaws.com", "eks.amazonaws.com"),
            Tags=[{"Key": "ir-readiness:drill", "Value": world.run_id}])
        cluster = world.client("eks").create_cluster(
            name=self.fake.name, roleArn=f"arn:aws:iam::{world.account_id}:role/{role}",
            resourcesVpcConfig={"subnetIds": [world.workload_subnet_id]},
            tags={"ir-readiness:drill": world.run_id})["cluster"]
        node_sg = ec2.create_security_group(
            GroupName=f"drill-eks-node-{unique}", Description="drill EKS node group",
            VpcId=world.workload_vpc_id,
            TagSpecifications=[{"ResourceType": "security-group",
                                "Tags": world.drill_tags("drill-eks-node")}])["GroupId"]
        instance = ec2.run_instances(
            ImageId=image_id(world), MinCount=1, MaxCount=1, InstanceType="t3.medium",
            NetworkInterfaces=[{"DeviceIndex": 0, "SubnetId": world.workload_subnet_id,
                                "Groups": [node_sg]}],
            TagSpecifications=[{"ResourceType": "instance",
                                "Tags": world.drill_tags("drill-eks-node")},
                               {"ResourceType": "volume",
                                "Tags": world.drill_tags("drill-eks-node")}])["Instances"][0]
        self.fake.add_node(NODE, instance["InstanceId"])
        self.fake.add_node("ip-10-0-7-43.ec2.internal", "i-0fedcba9876543210")
        return {"cluster": self.fake.name, "clusterArn": cluster["arn"],
                "instance_id": instance["InstanceId"], "node_sg": node_sg}

    def resource(self, world: World, victim: Mapping[str, Any]) -> dict[str, Any]:
        return {"ResourceType": "EKSCluster",
                "EksClusterDetails": {"Name": victim["cluster"], "Arn": victim["clusterArn"],
                                      "VpcId": world.workload_vpc_id, "Status": "ACTIVE"},
                "InstanceDetails": {"InstanceId": victim["instance_id"],
                                    "InstanceType": "t3.medium", "InstanceState": "running"}}

    def params(self, world: World, victim: Mapping[str, Any]) -> dict[str, str]:
        return {"cluster": str(victim["cluster"]), "instance_id": str(victim["instance_id"])}

    def verify(self, world: World, incident: Incident, case: str) -> list[Check]:
        fake = self.fake
        assert fake is not None
        ec2 = world.client("ec2")
        instance_id = incident.victim["instance_id"]
        isolation = world.manifest.quarantine[world.workload_vpc_id].isolation_security_group_id

        def cordoned() -> tuple[bool, str]:
            spec = fake.nodes[NODE]["spec"]
            return spec.get("unschedulable") is True, f"node {NODE} spec {spec}"

        def other_node_schedulable() -> tuple[bool, str]:
            spec = fake.nodes["ip-10-0-7-43.ec2.internal"]["spec"]
            return not spec.get("unschedulable"), f"other node spec {spec}"

        def isolated() -> tuple[bool, str]:
            instance = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0][
                "Instances"][0]
            groups = [[g["GroupId"] for g in e["Groups"]] for e in instance["NetworkInterfaces"]]
            return groups == [[isolation]], f"ENI groups {groups}; isolation {isolation}"

        def cordon_first() -> tuple[bool, str]:
            from runbooks.core.audit import AuditLog

            applied = [r["step"] for r in AuditLog(case).records()
                       if r.get("event") == "applied"]
            ok = (bool(applied) and applied[0] == "eks.cordon-node"
                  and "ec2.isolate" in applied)
            return ok, f"applied in order: {', '.join(applied[:4])} ..."

        return [
            check("node cordoned (unschedulable)", cordoned),
            check("the cluster's other node still schedulable", other_node_schedulable),
            check("node instance carries only the VPC's isolation group", isolated),
            check("cordon applied before the instance's containment", cordon_first),
            *self.common_checks(world, incident, case, "high", instance_id),
        ]
