"""Drill scenario `compromised-eks-pod`: a reverse shell in a pod of an EKS cluster
(GuardDuty Runtime Monitoring on EKS).

What is real and what is not: the EKS cluster is created in the emulator and irctl
describes it there (`eks:DescribeCluster`), the evidence goes to the stack's evidence
bucket, the audit log and notifications are the product's own. The drill has no
Kubernetes API server: the cluster's pods and NetworkPolicies live in an in-memory fake
(`rehearsal.kube_fake`) installed at irctl's Kubernetes interface
(`runbooks.core.kube.connector`) while the scenario runs, so the drill proves the AWS side
and the interface's use, not a real API server's or CNI's enforcement.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from rehearsal.kube_fake import FakeCluster
from rehearsal.scenarios._base import EC2_TRUST, Check, Incident, Scenario, check, scenario

if TYPE_CHECKING:
    from rehearsal.world import World

NAMESPACE = "payments"
POD = "payments-api-7d9c8b7f6-x2x9q"
NEIGHBOUR = "payments-api-7d9c8b7f6-k4n2p"
APP_LABELS = {"app": "payments-api", "pod-template-hash": "7d9c8b7f6"}


@scenario
class CompromisedEksPod(Scenario):
    name = "compromised-eks-pod"
    order = 75
    playbook = "compromised-eks-pod"
    title = "A reverse shell in a pod of an EKS cluster"
    finding_type = "Execution:Runtime/ReverseShell"

    def __init__(self) -> None:
        self.fake: FakeCluster | None = None

    @contextmanager
    def responding(self, world: World) -> Iterator[object]:
        from runbooks.core.kube import connector

        self.fake = FakeCluster(f"drill-eks-{world.run_id}")
        with connector(self.fake.connector):
            yield self.fake

    def prepare(self, world: World) -> dict[str, Any]:
        assert self.fake is not None, "prepare runs within responding()"
        iam = world.client("iam")
        role = f"drill-eks-{world.run_id}"
        iam.create_role(RoleName=role, AssumeRolePolicyDocument=EC2_TRUST.replace(
            "ec2.amazonaws.com", "eks.amazonaws.com"),
            Tags=[{"Key": "ir-readiness:drill", "Value": world.run_id}])
        cluster = world.client("eks").create_cluster(
            name=self.fake.name, roleArn=f"arn:aws:iam::{world.account_id}:role/{role}",
            resourcesVpcConfig={"subnetIds": [world.workload_subnet_id]},
            tags={"ir-readiness:drill": world.run_id})["cluster"]
        self.fake.add_node("ip-10-0-1-23.ec2.internal", "i-0abcdef0123456789")
        for name in (POD, NEIGHBOUR):
            self.fake.add_pod(NAMESPACE, name, APP_LABELS, node="ip-10-0-1-23.ec2.internal")
        # Another workload's policy in the namespace (kept, and saved with the evidence).
        # One that selected the API pods and allowed traffic would keep the pod reachable
        # (policies only add allows): the plan names it and `verify` fails on it.
        self.fake.policies[(NAMESPACE, "payments-db-ingress")] = {
            "metadata": {"name": "payments-db-ingress", "namespace": NAMESPACE},
            "spec": {"podSelector": {"matchLabels": {"app": "payments-db"}},
                     "policyTypes": ["Ingress"],
                     "ingress": [{"from": [{"podSelector": {}}]}]}}
        return {"cluster": self.fake.name, "clusterArn": cluster["arn"], "role": role}

    def resource(self, world: World, victim: Mapping[str, Any]) -> dict[str, Any]:
        # As GuardDuty Runtime Monitoring reports a process in a pod of an EKS cluster.
        return {"ResourceType": "EKSCluster",
                "EksClusterDetails": {"Name": victim["cluster"], "Arn": victim["clusterArn"],
                                      "VpcId": world.workload_vpc_id, "Status": "ACTIVE"},
                "KubernetesDetails": {"KubernetesWorkloadDetails": {
                    "Name": POD, "Type": "pods", "Namespace": NAMESPACE,
                    "Uid": "3f1c9a52-0d7e-4c1b-9a3e-2b8f6f0e7d11",
                    "Containers": [{"Name": "app",
                                    "Image": "registry.example/app:1"}]}}}

    def params(self, world: World, victim: Mapping[str, Any]) -> dict[str, str]:
        return {"cluster": str(victim["cluster"]), "namespace": NAMESPACE, "pod": POD}

    def verify(self, world: World, incident: Incident, case: str) -> list[Check]:
        fake = self.fake
        assert fake is not None
        policy_name = f"ir-quarantine-{case.lower()}"

        def labelled() -> tuple[bool, str]:
            labels = fake.pods[(NAMESPACE, POD)]["metadata"]["labels"]
            return labels.get("ir-quarantine") == case, f"pod labels {labels}"

        def deny_all() -> tuple[bool, str]:
            policy = fake.policies.get((NAMESPACE, policy_name))
            spec = (policy or {}).get("spec", {})
            holds = (spec.get("podSelector") == {"matchLabels": {"ir-quarantine": case}}
                     and sorted(spec.get("policyTypes", [])) == ["Egress", "Ingress"]
                     and not spec.get("ingress") and not spec.get("egress"))
            return holds, f"{policy_name}: {json.dumps(spec)}"

        def neighbour_untouched() -> tuple[bool, str]:
            labels = fake.pods[(NAMESPACE, NEIGHBOUR)]["metadata"]["labels"]
            return "ir-quarantine" not in labels, f"{NEIGHBOUR} labels {labels}"

        def evidence() -> tuple[bool, str]:
            key = f"cases/{case}/eks/{fake.name}/{NAMESPACE}/{POD}/pod.json"
            body = world.client("s3").get_object(Bucket=world.manifest.evidence_bucket,
                                                 Key=key)["Body"].read()
            saved = json.loads(body)
            ok = (saved["pod"]["metadata"]["name"] == POD and "app" in saved["logs"]
                  and any(p["metadata"]["name"] == "payments-db-ingress"
                          for p in saved["networkPolicies"]))
            return ok, f"s3://{world.manifest.evidence_bucket}/{key}: {len(body)} bytes"

        def cluster_described() -> tuple[bool, str]:
            status = world.client("eks").describe_cluster(name=fake.name)["cluster"]["status"]
            return status == "ACTIVE", f"cluster {fake.name} {status}"

        return [
            check("pod labelled ir-quarantine=<case>", labelled),
            check("deny-all ingress+egress NetworkPolicy selects the case's label", deny_all),
            check("the workload's other pod is not isolated", neighbour_untouched),
            check("pod spec, logs and the namespace's policies saved as evidence", evidence),
            check("EKS cluster untouched in AWS", cluster_described),
            *self.common_checks(world, incident, case, "high", POD),
        ]
