"""EKS containment steps: a compromised pod and the node it runs on.

`irctl contain pod CLUSTER NAMESPACE POD` (playbook `compromised-eks-pod`) runs:

    eks.capture-pod      the pod's spec and status, its containers' recent logs and the
                         namespace's NetworkPolicies, to the case's evidence prefix
    eks.isolate-pod      a deny-all (ingress + egress) NetworkPolicy selecting the label
                         `ir-quarantine=<case>`, then that label on the pod: the EKS
                         best-practices guide's "isolate the pod" (incident response)

`irctl contain node INSTANCE_ID --cluster NAME` (playbook `compromised-eks-node`) runs
`eks.cordon-node` (no new pods land on the node) before the EC2 containment of the node
instance, which cuts the network of every pod on it.

Every Kubernetes call goes through `runbooks.core.kube.KubeClient`; the only AWS call is
`eks:DescribeCluster` (the endpoint and CA). A NetworkPolicy only adds allows: a deny-all
policy cannot override another policy that selects the same pod and allows traffic, so
the plan names such policies and `verify` reports isolation as broken while one exists.
The cluster's CNI must enforce NetworkPolicies (the VPC CNI's network policy agent, or
Calico); the README says so.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import Field

from runbooks.core.errors import InvalidInput, PreconditionFailed
from runbooks.core.evidence_queue import put_evidence
from runbooks.core.ids import require_instance_id
from runbooks.core.kube import KubeApiError, KubeClient, kube_client, not_found
from runbooks.core.scopes import EVIDENCE_OBJECTS, STACK_KEYS, Scope
from runbooks.core.step import Change, Check, Step, StepParams, checked_by, register

QUARANTINE_LABEL = "ir-quarantine"
MANAGED_BY = {"app.kubernetes.io/managed-by": "irctl"}
CLUSTER_NAME = re.compile(r"^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$")
NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
OBJECT_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
LOG_LIMIT_BYTES = 1024 * 1024
"""Per container: the recent end of its log (the API server's limitBytes)."""

# DescribeCluster names one cluster: the account's clusters, any region.
ACCOUNT_CLUSTERS = Scope("AccountEksClusters", ("arn:{partition}:eks:*:{account}:cluster/*",))


def _check(pattern: re.Pattern[str], what: str, allowed: str) -> Any:
    def run(value: Any) -> None:
        if not isinstance(value, str) or not pattern.fullmatch(value):
            raise InvalidInput(f"{what} {value!r} is malformed: {allowed}")

    return checked_by(run)


ClusterName = Annotated[str, _check(CLUSTER_NAME, "EKS cluster name",
                                    "1-100 letters, digits, '-' or '_'"),
                        Field(description="the EKS cluster's name")]
Namespace = Annotated[str, _check(NAMESPACE, "namespace",
                                  "a DNS label: 1-63 lower-case letters, digits or '-'"),
                      Field(description="the pod's Kubernetes namespace")]
PodName = Annotated[str, _check(OBJECT_NAME, "pod name",
                                "lower-case letters, digits, '-' or '.', at most 253"),
                    Field(description="the pod's name (kubectl get pods -n NAMESPACE)")]


class PodParams(StepParams):
    cluster: ClusterName
    namespace: Namespace
    pod: PodName


class NodeParams(StepParams):
    cluster: ClusterName
    instance_id: Annotated[str, checked_by(require_instance_id),
                           Field(description="the node's EC2 instance id")]


def policy_name(case_id: str) -> str:
    """The case's deny-all NetworkPolicy (one per namespace and case)."""
    slug = re.sub(r"[^a-z0-9.-]", "-", case_id.lower()).strip("-.")
    return f"ir-quarantine-{slug}"[:253]


def deny_all_policy(case_id: str, namespace: str) -> dict[str, Any]:
    """Selects the pods labelled `ir-quarantine=<case>`; no ingress or egress rule: with
    both policy types, all traffic to and from them is denied (DNS included)."""
    return {
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": policy_name(case_id), "namespace": namespace,
                     "labels": {QUARANTINE_LABEL: case_id, **MANAGED_BY}},
        "spec": {"podSelector": {"matchLabels": {QUARANTINE_LABEL: case_id}},
                 "policyTypes": ["Ingress", "Egress"]},
    }


def is_deny_all_of(policy: Mapping[str, Any] | None, case_id: str) -> bool:
    """`policy` is the case's deny-all, unchanged: same selector, both types, no rule."""
    if not policy:
        return False
    spec = policy.get("spec") or {}
    return (spec.get("podSelector") == {"matchLabels": {QUARANTINE_LABEL: case_id}}
            and sorted(spec.get("policyTypes") or []) == ["Egress", "Ingress"]
            and not spec.get("ingress") and not spec.get("egress"))


def selects(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """Kubernetes label-selector semantics (matchLabels and matchExpressions; an empty
    selector selects every pod of the namespace)."""
    selector = selector or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def allowing_policies(kube: KubeClient, namespace: str, labels: Mapping[str, str],
                      case_id: str) -> list[str]:
    """Other policies that select a pod with `labels` and allow some traffic: the union
    of allows wins over the deny-all, so these keep the pod reachable."""
    found = []
    for policy in kube.list_network_policies(namespace):
        spec = policy.get("spec") or {}
        name = str((policy.get("metadata") or {}).get("name", ""))
        if name == policy_name(case_id) or not selects(spec.get("podSelector"), labels):
            continue
        types = spec.get("policyTypes") or ["Ingress"]
        if ("Ingress" in types and spec.get("ingress")) or (
                "Egress" in types and spec.get("egress")):
            found.append(name)
    return sorted(found)


def labels_of(obj: Mapping[str, Any]) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("labels") or {})


class PodStep(Step):
    Params = PodParams
    release_kind = "pod"

    @property
    def cluster(self) -> str:
        return str(self.params["cluster"])

    @property
    def namespace(self) -> str:
        return str(self.params["namespace"])

    @property
    def pod(self) -> str:
        return str(self.params["pod"])

    @property
    def target(self) -> str:
        return f"{self.cluster}/{self.namespace}/{self.pod}"

    def kube(self) -> KubeClient:
        return kube_client(self.ctx, self.cluster)

    def read_pod(self) -> dict[str, Any]:
        try:
            return self.kube().get_pod(self.namespace, self.pod)
        except KubeApiError as err:
            if not_found(err):
                raise PreconditionFailed(
                    f"pod {self.pod} was not found in namespace {self.namespace} of EKS "
                    f"cluster {self.cluster}: it may have been replaced; find its "
                    f"successor (kubectl get pods -n {self.namespace}) and contain that, "
                    "or contain the node") from err
            raise


@register
class CapturePod(PodStep):
    name = "eks.capture-pod"
    description = ("Save the pod's spec and status, its containers' recent logs and the "
                   "namespace's NetworkPolicies as evidence")
    actions = frozenset({"eks:DescribeCluster", "s3:PutObject", "kms:GenerateDataKey"})
    scopes = {"eks:DescribeCluster": ACCOUNT_CLUSTERS, "s3:PutObject": EVIDENCE_OBJECTS,
              "kms:GenerateDataKey": STACK_KEYS}
    reversible = False

    def key(self) -> str:
        return (f"cases/{self.ctx.case_id}/eks/{self.cluster}/{self.namespace}/"
                f"{self.pod}/pod.json")

    def plan(self) -> list[Change]:
        self.read_pod()
        return [Change(self.name, self.target,
                       f"Save pod {self.namespace}/{self.pod} (spec, status, logs, the "
                       f"namespace's NetworkPolicies) to s3://"
                       f"{self.ctx.manifest.evidence_bucket}/{self.key()}",
                       after={"key": self.key()})]

    def apply(self, change: Change) -> Mapping[str, Any]:
        kube = self.kube()
        pod = self.read_pod()
        containers = [c.get("name") for c in (pod.get("spec") or {}).get("containers") or []]
        logs: dict[str, str] = {}
        for container in containers:
            try:
                logs[str(container)] = kube.pod_log(self.namespace, self.pod, str(container),
                                                    LOG_LIMIT_BYTES)
            except KubeApiError as err:  # a log the kubelet no longer has is not fatal
                logs[str(container)] = f"<log not available: {err}>"
        document = {
            "capturedAt": self.ctx.now().isoformat(), "case": self.ctx.case_id,
            "account": self.ctx.account_id, "region": self.ctx.region,
            "cluster": self.cluster, "pod": pod, "logs": logs,
            "networkPolicies": kube.list_network_policies(self.namespace),
        }
        body = json.dumps(document, indent=2, default=str).encode()
        return put_evidence(self.ctx, self.ctx.manifest.evidence_bucket, change.after["key"],
                            body, ContentType="application/json",
                            **self.ctx.evidence_encryption())


@register
class IsolatePod(PodStep):
    name = "eks.isolate-pod"
    description = ("Cut a pod's network: a deny-all NetworkPolicy for the case's "
                   "quarantine label, then the label ir-quarantine=<case> on the pod")
    actions = frozenset({"eks:DescribeCluster"})
    scopes = {"eks:DescribeCluster": ACCOUNT_CLUSTERS}
    multi_call = True  # the policy, then the label: a failed apply may have made the first

    def check(self) -> None:
        case = self.ctx.case_id
        if not LABEL_VALUE.fullmatch(case):
            raise InvalidInput(
                f"case id {case!r} cannot be a Kubernetes label value (at most 63 "
                "characters, starting and ending with a letter or digit); open the case "
                "with a shorter --case")

    def plan(self) -> list[Change]:
        case = self.ctx.case_id
        kube = self.kube()
        pod = self.read_pod()
        labels = labels_of(pod)
        name = policy_name(case)
        policy = kube.get_network_policy(self.namespace, name)
        if policy is not None and not is_deny_all_of(policy, case):
            raise PreconditionFailed(
                f"NetworkPolicy {self.namespace}/{name} exists but is not this case's "
                "deny-all (its selector or rules differ); someone changed it: inspect it "
                f"(kubectl get networkpolicy -n {self.namespace} {name} -o yaml) and delete "
                "it before re-running")
        held = labels.get(QUARANTINE_LABEL)
        if held not in (None, case):
            raise PreconditionFailed(
                f"pod {self.namespace}/{self.pod} is already quarantined under case {held} "
                f"(label {QUARANTINE_LABEL}={held}); continue that case, or release it there")
        if held == case and policy is not None:
            return []
        allowed_by = allowing_policies(kube, self.namespace,
                                       {**labels, QUARANTINE_LABEL: case}, case)
        note = (f"; NOTE: NetworkPolicies {', '.join(allowed_by)} also select the pod and "
                "allow traffic, which a deny-all cannot override: narrow or delete them"
                if allowed_by else "")
        where = {"cluster": self.cluster, "namespace": self.namespace, "pod": self.pod}
        return [Change(
            self.name, self.target,
            f"Isolate pod {self.namespace}/{self.pod} of EKS cluster {self.cluster}: "
            f"deny-all NetworkPolicy {name}, label {QUARANTINE_LABEL}={case}{note}",
            # "policy": None: the pod was not selected by it; the case's one policy per
            # namespace may exist already for another of its pods (apply tolerates that).
            before={**where, "label": held, "policy": None},
            after={**where, "label": case, "policy": name,
                   "uid": (pod.get("metadata") or {}).get("uid"), "allowedBy": allowed_by})]

    def apply(self, change: Change) -> Mapping[str, Any]:
        case = self.ctx.case_id
        kube = self.kube()
        try:
            kube.create_network_policy(self.namespace, deny_all_policy(case, self.namespace))
        except KubeApiError as err:
            # Made for another pod of this case in the namespace: fine if it is unchanged.
            if err.status != 409 or not is_deny_all_of(
                    kube.get_network_policy(self.namespace, policy_name(case)), case):
                raise
        kube.label_pod(self.namespace, self.pod, {QUARANTINE_LABEL: case})
        return {"policy": policy_name(case), "label": f"{QUARANTINE_LABEL}={case}"}

    def current(self, change: Change) -> Mapping[str, Any] | None:
        """The pod's quarantine label (None when the pod is gone) and whether the case's
        deny-all policy is still there."""
        kube = self.kube()
        try:
            label = labels_of(kube.get_pod(self.namespace, self.pod)).get(QUARANTINE_LABEL)
        except KubeApiError as err:
            if not not_found(err):
                raise
            label = None
        name = policy_name(self.ctx.case_id)
        exists = kube.get_network_policy(self.namespace, name) is not None
        return {"label": label, "policy": name if exists else None}

    def ours(self, change: Change) -> list[Mapping[str, Any]]:
        # The policy made, the label not (yet, or the pod was replaced since).
        return [change.after, {**change.after, "label": change.before.get("label")},
                {**change.after, "label": None}]

    def rollback(self, change: Change, result: Mapping[str, Any]) -> None:
        """The label back to what it was, then the case's policy deleted once no pod of
        the namespace carries the case's label (other pods of the case stay cut)."""
        kube = self.kube()
        case = self.ctx.case_id
        try:
            kube.label_pod(self.namespace, self.pod,
                           {QUARANTINE_LABEL: change.before.get("label")})
        except KubeApiError as err:
            if not not_found(err):  # the pod is gone: nothing to unlabel
                raise
        if kube.list_pods(self.namespace, f"{QUARANTINE_LABEL}={case}"):
            return
        try:
            kube.delete_network_policy(self.namespace, policy_name(case))
        except KubeApiError as err:
            if not not_found(err):
                raise

    def verify(self, change: Change, result: Mapping[str, Any]) -> Check:
        kube = self.kube()
        case = self.ctx.case_id
        what = f"network isolation of pod {self.namespace}/{self.pod}"
        expected = (f"label {QUARANTINE_LABEL}={case}, deny-all NetworkPolicy "
                    f"{policy_name(case)}, no other policy allowing its traffic")
        try:
            pod = kube.get_pod(self.namespace, self.pod)
        except KubeApiError as err:
            if not not_found(err):
                raise
            return Check("containment", change.target, what, expected,
                         "the pod no longer exists", True)
        labels = labels_of(pod)
        policy = kube.get_network_policy(self.namespace, policy_name(case))
        allowed_by = allowing_policies(kube, self.namespace, labels, case)
        problems = []
        if labels.get(QUARANTINE_LABEL) != case:
            problems.append(f"label {QUARANTINE_LABEL}={labels.get(QUARANTINE_LABEL)}")
        if not is_deny_all_of(policy, case):
            problems.append(f"deny-all policy {policy_name(case)} "
                            + ("missing" if policy is None else "changed"))
        if allowed_by:
            problems.append(f"allowed by {', '.join(allowed_by)}")
        return Check("containment", change.target, what, expected,
                     "; ".join(problems) or "as expected", not problems)


def node_of_instance(kube: KubeClient, cluster: str, instance_id: str) -> dict[str, Any]:
    """The cluster's node whose `spec.providerID` (aws:///<az>/<instance id>) names the
    instance; refuses an instance that is not one of its nodes."""
    for node in kube.list_nodes():
        provider = str((node.get("spec") or {}).get("providerID", ""))
        if provider.rsplit("/", 1)[-1] == instance_id:
            return node
    raise PreconditionFailed(
        f"instance {instance_id} is not a node of EKS cluster {cluster} (no node's "
        "spec.providerID names it); check the cluster (the finding's eksClusterDetails) "
        f"or contain the instance alone: irctl contain instance {instance_id}")


@register
class CordonNode(Step):
    name = "eks.cordon-node"
    description = "Cordon the node an instance runs as: no new pods are scheduled on it"
    actions = frozenset({"eks:DescribeCluster"})
    scopes = {"eks:DescribeCluster": ACCOUNT_CLUSTERS}
    Params = NodeParams
    release_kind = "instance"  # `release instance ID` uncordons with the EC2 changes

    @property
    def cluster(self) -> str:
        return str(self.params["cluster"])

    @property
    def instance_id(self) -> str:
        return str(self.params["instance_id"])

    def kube(self) -> KubeClient:
        return kube_client(self.ctx, self.cluster)

    def plan(self) -> list[Change]:
        node = node_of_instance(self.kube(), self.cluster, self.instance_id)
        name = str(node["metadata"]["name"])
        if (node.get("spec") or {}).get("unschedulable"):
            return []  # cordoned already: release will not uncordon what it did not cordon
        where = {"cluster": self.cluster, "node": name}
        return [Change(self.name, self.instance_id,
                       f"Cordon node {name} ({self.instance_id}) of EKS cluster "
                       f"{self.cluster}: no new pods are scheduled on it",
                       before={**where, "unschedulable": False},
                       after={**where, "unschedulable": True})]

    def apply(self, change: Change) -> Mapping[str, Any]:
        self.kube().set_unschedulable(change.after["node"], True)
        return {"node": change.after["node"], "unschedulable": True}

    def current(self, change: Change) -> Mapping[str, Any] | None:
        """Whether the node is cordoned; a node that is gone schedules nothing, which is
        the recorded state release would restore anyway."""
        try:
            node = self.kube().get_node(change.after["node"])
        except KubeApiError as err:
            if not_found(err):
                return {"unschedulable": False}
            raise
        return {"unschedulable": bool((node.get("spec") or {}).get("unschedulable"))}

    def rollback(self, change: Change, result: Mapping[str, Any]) -> None:
        try:
            self.kube().set_unschedulable(change.after["node"], False)
        except KubeApiError as err:
            if not not_found(err):
                raise

    def verify(self, change: Change, result: Mapping[str, Any]) -> Check:
        return self.verify_current(change, f"node {change.after['node']} cordoned")
