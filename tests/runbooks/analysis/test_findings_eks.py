"""EKS and container findings: triage names cluster, namespace, pod, containers, node and
Kubernetes user, and routing depends on what the finding names (pod, node, cluster) and on
the resource type (EC2 instance, EKS, ECS), not on the finding type alone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from runbooks.analysis.findings import parse_findings
from runbooks.analysis.playbooks import (
    COMPROMISED_EC2,
    COMPROMISED_EKS_NODE,
    COMPROMISED_EKS_POD,
    playbook_for,
    unsupported_reason,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def test_runtime_finding_in_a_pod_names_cluster_pod_containers_node_and_process() -> None:
    (finding,) = parse_findings(load("guardduty_event_eks_runtime_cryptocurrency.json"))

    assert finding.playbook == COMPROMISED_EKS_POD
    k8s = finding.to_dict()["kubernetes"]
    assert k8s["cluster"] == "prod-eks" and k8s["namespace"] == "shop"
    assert k8s["pod"] == "checkout-7d9f8c6b5-x2k4p" and k8s["workloadType"] == "pods"
    assert k8s["containers"] == ["checkout (shop/checkout:1.4)"]
    assert k8s["node"] == "i-0e1d2c3b4a5968778"
    assert k8s["nodePlaybook"] == COMPROMISED_EKS_NODE
    assert k8s["process"] == "/tmp/xmrig" and k8s["subject"] == "pod"
    kinds = {(r.kind, r.id) for r in finding.resources}
    assert {("eks-cluster", "prod-eks"), ("kubernetes-pod", "shop/checkout-7d9f8c6b5-x2k4p"),
            ("instance", "i-0e1d2c3b4a5968778"),
            ("container", "checkout (shop/checkout:1.4)")} <= kinds
    assert unsupported_reason(finding.type, finding.resource_type, k8s["subject"]) is None


def test_audit_log_finding_names_the_pod_and_the_kubernetes_user() -> None:
    (finding,) = parse_findings(load("guardduty_event_eks_audit_privileged_container.json"))

    assert finding.playbook == COMPROMISED_EKS_POD
    k8s = finding.to_dict()["kubernetes"]
    assert (k8s["cluster"], k8s["namespace"], k8s["pod"]) == (
        "prod-eks", "payments", "debug-tools-5c8f7")
    assert k8s["user"] == "dev-ci" and "ci-deployers" in k8s["userGroups"]
    assert k8s["node"] is None and k8s["nodePlaybook"] is None
    assert ("kubernetes-user", "dev-ci") in {(p.kind, p.name) for p in finding.principals}
    assert finding.remote_ips == ("198.51.100.23",)


def test_runtime_finding_on_the_node_itself_goes_to_the_node_playbook() -> None:
    (finding,) = parse_findings(load("guardduty_event_eks_runtime_node_process.json"))

    assert finding.playbook == COMPROMISED_EKS_NODE
    k8s = finding.to_dict()["kubernetes"]
    assert k8s["subject"] == "node" and k8s["node"] == "i-0e1d2c3b4a5968778"
    assert k8s["pod"] is None and k8s["process"] == "/var/tmp/.x/kworkerds"


def test_cluster_level_finding_gets_no_playbook_and_says_what_to_do() -> None:
    (finding,) = parse_findings(load("guardduty_event_eks_audit_anonymous_access.json"))

    assert finding.playbook is None
    assert finding.kubernetes is not None and finding.kubernetes.user == "system:anonymous"
    reason = unsupported_reason(finding.type, finding.resource_type,
                                finding.kubernetes.subject)
    assert reason is not None and "cluster-level" in reason and "RBAC" in reason


def test_ecs_runtime_finding_gets_no_playbook_with_the_node_and_fargate_paths() -> None:
    (finding,) = parse_findings(load("guardduty_event_ecs_runtime_new_binary.json"))

    assert finding.playbook is None and finding.kubernetes is None
    reason = unsupported_reason(finding.type, finding.resource_type)
    assert reason is not None
    assert "irctl contain instance" in reason and "Fargate" in reason


def test_runtime_finding_on_a_plain_instance_stays_the_ec2_playbook() -> None:
    doc = load("guardduty_event_eks_runtime_node_process.json")
    resource = doc["detail"]["resource"]
    resource["resourceType"] = "Instance"
    del resource["eksClusterDetails"]

    (finding,) = parse_findings(doc)

    assert finding.playbook == COMPROMISED_EC2 and finding.kubernetes is None


@pytest.mark.parametrize(("finding_type", "resource_type", "subject", "expected"), [
    # Runtime: by resource type and what the finding names.
    ("Execution:Runtime/ReverseShell", None, None, COMPROMISED_EC2),
    ("Execution:Runtime/ReverseShell", "Instance", None, COMPROMISED_EC2),
    ("Execution:Runtime/ReverseShell", "EKSCluster", "pod", COMPROMISED_EKS_POD),
    ("Execution:Runtime/ReverseShell", "EKSCluster", None, COMPROMISED_EKS_POD),
    ("Execution:Runtime/ReverseShell", "EKSCluster", "node", COMPROMISED_EKS_NODE),
    ("Execution:Runtime/ReverseShell", "EKSCluster", "cluster", None),
    ("Execution:Runtime/ReverseShell", "ECSCluster", None, None),
    ("CryptoCurrency:Runtime/BitcoinTool.B", "Container", None, None),
    # Kubernetes audit-log types: the pod playbook unless only the cluster is named.
    ("Execution:Kubernetes/ExecInKubeSystemPod", "EKSCluster", "pod", COMPROMISED_EKS_POD),
    ("PrivilegeEscalation:Kubernetes/PrivilegedContainer", None, None, COMPROMISED_EKS_POD),
    ("Persistence:Kubernetes/ContainerWithSensitiveMount", "EKSCluster", "pod",
     COMPROMISED_EKS_POD),
    ("Discovery:Kubernetes/SuccessfulAnonymousAccess", "EKSCluster", "cluster", None),
    ("CredentialAccess:Kubernetes/MaliciousIPCaller", "EKSCluster", "cluster", None),
    ("Impact:Kubernetes/MaliciousIPCaller", "EKSCluster", "pod", COMPROMISED_EKS_POD),
    ("Policy:Kubernetes/AdminAccessToDefaultServiceAccount", "EKSCluster", "cluster", None),
])
def test_routing_per_type_and_resource(finding_type: str, resource_type: str | None,
                                       subject: str | None, expected: str | None) -> None:
    assert playbook_for(finding_type, "ACTOR", resource_type=resource_type,
                        eks_subject=subject) == expected


def test_a_pod_named_as_target_is_still_the_pod_playbook() -> None:
    # EC2's TARGET rule (the victim of an inbound attack is a malicious-ip case) is about
    # instances; a pod finding's role does not turn it into blocking an address.
    assert playbook_for("Impact:Kubernetes/MaliciousIPCaller", "TARGET",
                        resource_type="EKSCluster", eks_subject="pod") == COMPROMISED_EKS_POD
