"""EKS containment against a moto server (the cluster, the evidence bucket, the instance)
with the Kubernetes API faked at irctl's interface (`rehearsal.kube_fake`): `contain pod`,
`contain node` and their release through irctl in-process, asserting the cluster's and
AWS's state, never irctl's bookkeeping."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner, Result

from rehearsal.kube_fake import FakeCluster
from runbooks.core.audit import AuditLog, new_case_id
from runbooks.core.kube import KubeApiError, connector
from runbooks.steps.eks import policy_name
from tests.runbooks.conftest import REGION, Readiness, launch_instances

NS = "shop"
POD = "checkout-7d9f8c6b5-x2k4p"
NODE = "ip-10-0-1-23.ec2.internal"
APP = {"app": "checkout"}


@pytest.fixture
def cluster(server_readiness: Readiness) -> Iterator[FakeCluster]:
    world = server_readiness
    fake = FakeCluster(f"prod-eks-{uuid.uuid4().hex[:8]}")
    world.client("eks").create_cluster(
        name=fake.name, roleArn="arn:aws:iam::123456789012:role/eks",
        resourcesVpcConfig={"subnetIds": [world.subnet_id]})
    fake.add_node(NODE, "i-0e1d2c3b4a5968778")
    fake.add_pod(NS, POD, APP, node=NODE, containers=("checkout", "sidecar"))
    fake.add_pod(NS, "checkout-7d9f8c6b5-other", APP, node=NODE)
    with connector(fake.connector):
        yield fake


def irctl(world: Readiness, *args: str) -> Result:
    from runbooks.cli import main

    return CliRunner().invoke(main, ["--region", REGION, "--endpoint-url",
                                     str(world.endpoint_url), "--output", "json", *args],
                              catch_exceptions=False)


def containment_checks(world: Readiness, case: str) -> list[dict[str, Any]]:
    """`irctl verify case`'s checks of the pod's isolation (the seeded world has no trail,
    so its trail checks are unknown and the command's exit code says nothing here)."""
    document = json.loads(irctl(world, "verify", "case", case).stdout)
    return [c for c in document["checks"]
            if c["area"] == "containment" and c["what"].startswith("network isolation")]


def labels(fake: FakeCluster, pod: str = POD) -> dict[str, str]:
    return dict(fake.pods[(NS, pod)]["metadata"]["labels"])


def evidence(world: Readiness, key: str) -> dict[str, Any]:
    got = world.client("s3").get_object(Bucket=world.manifest["evidenceBucket"], Key=key)
    return {"body": json.loads(got["Body"].read()), "metadata": got["Metadata"]}


def test_plan_changes_nothing(server_readiness: Readiness, cluster: FakeCluster) -> None:
    done = irctl(server_readiness, "contain", "pod", cluster.name, NS, POD)

    assert done.exit_code == 0, done.output
    steps = [c["step"] for r in json.loads(done.stdout)["runs"] for t in r["targets"]
             for c in t["changes"]]
    assert steps == ["eks.capture-pod", "eks.isolate-pod"]
    assert cluster.policies == {} and "ir-quarantine" not in labels(cluster)
    mutations = {"label_pod", "create_network_policy", "delete_network_policy"}
    assert not mutations & set(cluster.calls)


def test_contain_pod_isolates_it_keeps_evidence_and_release_restores(
        server_readiness: Readiness, cluster: FakeCluster) -> None:
    world, case = server_readiness, new_case_id()

    done = irctl(world, "contain", "pod", cluster.name, NS, POD, "--apply", "--case", case)

    assert done.exit_code == 0, done.output
    assert labels(cluster) == {**APP, "ir-quarantine": case}
    assert "ir-quarantine" not in labels(cluster, "checkout-7d9f8c6b5-other")
    policy = cluster.policies[(NS, policy_name(case))]
    assert policy["spec"] == {"podSelector": {"matchLabels": {"ir-quarantine": case}},
                              "policyTypes": ["Ingress", "Egress"]}
    saved = evidence(world, f"cases/{case}/eks/{cluster.name}/{NS}/{POD}/pod.json")
    assert saved["body"]["pod"]["metadata"]["name"] == POD
    assert set(saved["body"]["logs"]) == {"checkout", "sidecar"}
    assert len(saved["metadata"]["sha256"]) == 64
    # the cut is made by the label: the policy exists before the pod is labelled
    assert cluster.calls.index("create_network_policy") < cluster.calls.index("label_pod")

    pod_checks = containment_checks(world, case)
    assert [c["status"] for c in pod_checks] == ["holds"], pod_checks

    released = irctl(world, "release", "pod", f"{cluster.name}/{NS}/{POD}", "--case", case,
                     "--apply")

    assert released.exit_code == 0, released.output
    assert labels(cluster) == APP
    assert cluster.policies == {}
    assert evidence(world, f"cases/{case}/eks/{cluster.name}/{NS}/{POD}/pod.json")  # kept


def test_the_case_policy_stays_while_another_pod_of_the_case_is_isolated(
        server_readiness: Readiness, cluster: FakeCluster) -> None:
    world, case = server_readiness, new_case_id()
    other = "checkout-7d9f8c6b5-other"
    for pod in (POD, other):
        assert irctl(world, "contain", "pod", cluster.name, NS, pod, "--apply",
                     "--case", case).exit_code == 0

    assert irctl(world, "release", "pod", f"{cluster.name}/{NS}/{POD}", "--case", case,
                 "--apply").exit_code == 0

    assert "ir-quarantine" not in labels(cluster)
    assert labels(cluster, other)["ir-quarantine"] == case
    assert (NS, policy_name(case)) in cluster.policies  # the other pod stays cut

    assert irctl(world, "release", "pod", f"{cluster.name}/{NS}/{other}", "--case", case,
                 "--apply").exit_code == 0
    assert cluster.policies == {}


def test_a_policy_that_still_allows_the_pod_is_named_and_verify_reports_it(
        server_readiness: Readiness, cluster: FakeCluster) -> None:
    world, case = server_readiness, new_case_id()
    cluster.policies[(NS, "allow-frontend")] = {
        "metadata": {"name": "allow-frontend", "namespace": NS},
        "spec": {"podSelector": {"matchExpressions": [
            {"key": "app", "operator": "In", "values": ["checkout", "cart"]}]},
            "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "frontend"}}}]}]}}

    done = irctl(world, "contain", "pod", cluster.name, NS, POD, "--apply", "--case", case)
    assert done.exit_code == 0, done.output
    summaries = [c["summary"] for r in json.loads(done.stdout)["runs"]
                 for t in r["targets"] for c in t["changes"]]
    assert any("allow-frontend" in s and "cannot override" in s for s in summaries)

    (verdict,) = containment_checks(world, case)

    assert verdict["status"] == "broken" and "allowed by allow-frontend" in verdict["actual"]


def test_label_failure_after_the_policy_rolls_back(server_readiness: Readiness,
                                                   cluster: FakeCluster) -> None:
    world, case = server_readiness, new_case_id()
    cluster.fail["label_pod"] = KubeApiError(500, "InternalError", "etcdserver: timeout")

    done = irctl(world, "contain", "pod", cluster.name, NS, POD, "--apply", "--case", case)

    assert done.exit_code == 1, done.output
    assert "etcdserver: timeout" in done.stdout
    # the half-made change is undone: no policy left, no label
    assert cluster.policies == {} and "ir-quarantine" not in labels(cluster)
    events = [r["event"] for r in AuditLog(case).records()
              if r.get("step") == "eks.isolate-pod"]
    assert "apply-failed" in events and "rolled-back" in events


def test_a_pod_quarantined_by_another_case_is_refused(server_readiness: Readiness,
                                                      cluster: FakeCluster) -> None:
    cluster.pods[(NS, POD)]["metadata"]["labels"]["ir-quarantine"] = "ir-older-case"

    done = irctl(server_readiness, "contain", "pod", cluster.name, NS, POD, "--apply")

    assert done.exit_code == 2
    assert "already quarantined under case ir-older-case" in done.stdout
    assert cluster.policies == {}


@pytest.mark.parametrize(("args", "says"), [
    (("prod-eks", "Shop_NS", POD), "namespace 'Shop_NS' is malformed"),
    (("prod-eks", NS, "Bad/Pod"), "pod name 'Bad/Pod' is malformed"),
    (("prod.eks", NS, POD), "EKS cluster name 'prod.eks' is malformed"),
])
def test_bad_input_exits_2_before_any_call(server_readiness: Readiness,
                                           cluster: FakeCluster, args: tuple[str, ...],
                                           says: str) -> None:
    done = irctl(server_readiness, "contain", "pod", *args, "--apply")

    assert done.exit_code == 2
    assert says in done.output
    assert cluster.calls == [] and cluster.policies == {}


def test_unknown_cluster_exits_2_naming_it(server_readiness: Readiness,
                                           cluster: FakeCluster) -> None:
    done = irctl(server_readiness, "contain", "pod", "staging-eks", NS, POD, "--apply")

    assert done.exit_code == 2
    assert "EKS cluster staging-eks does not exist" in done.stdout
    assert cluster.calls == []


def test_missing_pod_exits_2(server_readiness: Readiness, cluster: FakeCluster) -> None:
    done = irctl(server_readiness, "contain", "pod", cluster.name, NS, "gone-pod", "--apply")

    assert done.exit_code == 2 and "pod gone-pod was not found" in done.stdout


def test_case_id_that_is_no_label_value_is_refused(server_readiness: Readiness,
                                                   cluster: FakeCluster) -> None:
    done = irctl(server_readiness, "contain", "pod", cluster.name, NS, POD, "--apply",
                 "--case", "case-ending-in-dash-")

    assert done.exit_code == 2 and "cannot be a Kubernetes label value" in done.stdout
    assert "label_pod" not in cluster.calls


def eni_groups(world: Readiness, instance_id: str) -> set[str]:
    found = world.client("ec2").describe_instances(InstanceIds=[instance_id])
    instance = found["Reservations"][0]["Instances"][0]
    return {g["GroupId"] for eni in instance["NetworkInterfaces"] for g in eni["Groups"]}


def test_contain_node_cordons_then_isolates_and_release_undoes_both(
        server_readiness: Readiness, cluster: FakeCluster) -> None:
    world, case = server_readiness, new_case_id()
    (instance_id,) = launch_instances(world, volumes=1)
    cluster.add_node("ip-10-0-9-9.ec2.internal", instance_id)
    before = eni_groups(world, instance_id)
    isolation = world.manifest["quarantine"][world.vpc_id]["isolationSecurityGroupId"]

    done = irctl(world, "contain", "node", instance_id, "--cluster", cluster.name, "--apply",
                 "--case", case)

    assert done.exit_code == 0, done.output
    assert cluster.nodes["ip-10-0-9-9.ec2.internal"]["spec"]["unschedulable"] is True
    assert cluster.nodes[NODE]["spec"].get("unschedulable") is None  # other nodes untouched
    assert eni_groups(world, instance_id) == {isolation}
    steps = [c["step"] for r in json.loads(done.stdout)["runs"] for t in r["targets"]
             for c in t["changes"]]
    assert steps[0] == "eks.cordon-node" and "ec2.isolate" in steps

    released = irctl(world, "release", "instance", instance_id, "--case", case, "--apply")

    assert released.exit_code == 0, released.output
    assert "unschedulable" not in cluster.nodes["ip-10-0-9-9.ec2.internal"]["spec"]
    assert eni_groups(world, instance_id) == before


def test_a_node_cordoned_before_is_not_uncordoned_by_release(
        server_readiness: Readiness, cluster: FakeCluster) -> None:
    world, case = server_readiness, new_case_id()
    (instance_id,) = launch_instances(world, volumes=1)
    cluster.add_node("ip-10-0-9-9.ec2.internal", instance_id, unschedulable=True)

    assert irctl(world, "contain", "node", instance_id, "--cluster", cluster.name, "--apply",
                 "--case", case).exit_code == 0
    assert "set_unschedulable" not in cluster.calls
    assert irctl(world, "release", "instance", instance_id, "--case", case,
                 "--apply").exit_code == 0

    assert cluster.nodes["ip-10-0-9-9.ec2.internal"]["spec"]["unschedulable"] is True


def test_an_instance_that_is_no_node_of_the_cluster_is_refused(
        server_readiness: Readiness, cluster: FakeCluster) -> None:
    world = server_readiness
    (instance_id,) = launch_instances(world, volumes=1)
    before = eni_groups(world, instance_id)

    done = irctl(world, "contain", "node", instance_id, "--cluster", cluster.name, "--apply")

    assert done.exit_code == 2
    assert f"instance {instance_id} is not a node of EKS cluster {cluster.name}" in done.stdout
    assert eni_groups(world, instance_id) == before  # nothing else ran either

