"""An in-memory Kubernetes API (pods, NetworkPolicies, nodes) behind `KubeClient`.

The drill has no API server, and moto has no Kubernetes: the EKS scenarios and the step
tests fake Kubernetes at irctl's interface (`runbooks.core.kube.KubeClient`) with this,
installed through `runbooks.core.kube.connector`, so everything on the AWS side
(`eks:DescribeCluster` against the emulator, the evidence bucket, the audit log) is real
and only the API server is not. It keeps the API's semantics the steps rely on: 404 for
a missing object, 409 for a name taken, merge-patch labels (None removes one), label
selectors on list, `spec.unschedulable`; `calls` records each call for tests that count
them, and `fail` makes a named call raise (fault injection at the same interface).
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from runbooks.core.kube import ClusterEndpoint, KubeApiError, KubeClient, TokenSource


def _selector_matches(selector: str, labels: Mapping[str, str]) -> bool:
    """The equality-based selectors irctl sends (`key=value[,key=value]`)."""
    for term in filter(None, selector.split(",")):
        key, _, value = term.partition("=")
        if labels.get(key) != value:
            return False
    return True


@dataclass
class FakeCluster:
    """One cluster's objects; `client()` answers for it as the API server would."""

    name: str
    pods: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    policies: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    logs: dict[tuple[str, str, str], str] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    fail: dict[str, KubeApiError] = field(default_factory=dict)
    """Call name -> the error it raises (once), e.g. {"label_pod": KubeApiError(500...)}."""
    tokens: list[str] = field(default_factory=list)
    """Every bearer token a client presented (tests check their shape)."""

    def add_node(self, name: str, instance_id: str, zone: str = "us-east-1a",
                 unschedulable: bool = False) -> dict[str, Any]:
        node = {"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
                "spec": {"providerID": f"aws:///{zone}/{instance_id}",
                         **({"unschedulable": True} if unschedulable else {})}}
        self.nodes[name] = node
        return node

    def add_pod(self, namespace: str, name: str, labels: Mapping[str, str] | None = None,
                node: str | None = None, containers: tuple[str, ...] = ("app",)) -> dict[
                    str, Any]:
        pod = {"metadata": {"name": name, "namespace": namespace, "uid": str(uuid.uuid4()),
                            "labels": dict(labels or {})},
               "spec": {"nodeName": node, "containers": [
                   {"name": c, "image": f"registry.example/{c}:1"} for c in containers]},
               "status": {"phase": "Running"}}
        self.pods[(namespace, name)] = pod
        for container in containers:
            self.logs[(namespace, name, container)] = f"{container} started\n"
        return pod

    def connector(self, cluster: ClusterEndpoint, token: TokenSource) -> KubeClient:
        """A `runbooks.core.kube.Connector`: answers for this cluster only."""
        if cluster.name != self.name:
            raise KubeApiError(0, "Unreachable", f"no fake API server for {cluster.name}")
        return FakeKubeClient(self, token)


class FakeKubeClient:
    """`KubeClient` over a `FakeCluster`."""

    def __init__(self, cluster: FakeCluster, token: TokenSource) -> None:
        self.cluster = cluster
        self.token = token

    def _call(self, name: str) -> None:
        self.cluster.tokens.append(self.token())
        self.cluster.calls.append(name)
        error = self.cluster.fail.pop(name, None)
        if error is not None:
            raise error

    @staticmethod
    def _missing(kind: str, name: str) -> KubeApiError:
        return KubeApiError(404, "NotFound", f'{kind} "{name}" not found')

    def get_pod(self, namespace: str, name: str) -> dict[str, Any]:
        self._call("get_pod")
        pod = self.cluster.pods.get((namespace, name))
        if pod is None:
            raise self._missing("pods", name)
        return copy.deepcopy(pod)

    def list_pods(self, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        self._call("list_pods")
        return [copy.deepcopy(p) for (ns, _), p in sorted(self.cluster.pods.items())
                if ns == namespace and _selector_matches(label_selector,
                                                         p["metadata"]["labels"])]

    def pod_log(self, namespace: str, name: str, container: str, limit_bytes: int) -> str:
        self._call("pod_log")
        if (namespace, name) not in self.cluster.pods:
            raise self._missing("pods", name)
        return self.cluster.logs.get((namespace, name, container), "")[-limit_bytes:]

    def label_pod(self, namespace: str, name: str,
                  labels: Mapping[str, str | None]) -> dict[str, Any]:
        self._call("label_pod")
        pod = self.cluster.pods.get((namespace, name))
        if pod is None:
            raise self._missing("pods", name)
        current = pod["metadata"]["labels"]
        for key, value in labels.items():
            if value is None:
                current.pop(key, None)
            else:
                current[key] = value
        return copy.deepcopy(pod)

    def get_network_policy(self, namespace: str, name: str) -> dict[str, Any] | None:
        self._call("get_network_policy")
        policy = self.cluster.policies.get((namespace, name))
        return copy.deepcopy(policy) if policy is not None else None

    def list_network_policies(self, namespace: str) -> list[dict[str, Any]]:
        self._call("list_network_policies")
        return [copy.deepcopy(p) for (ns, _), p in sorted(self.cluster.policies.items())
                if ns == namespace]

    def create_network_policy(self, namespace: str,
                              body: Mapping[str, Any]) -> dict[str, Any]:
        self._call("create_network_policy")
        name = str(body["metadata"]["name"])
        if (namespace, name) in self.cluster.policies:
            raise KubeApiError(409, "AlreadyExists",
                               f'networkpolicies.networking.k8s.io "{name}" already exists')
        policy = copy.deepcopy(dict(body))
        policy["metadata"]["namespace"] = namespace
        self.cluster.policies[(namespace, name)] = policy
        return copy.deepcopy(policy)

    def delete_network_policy(self, namespace: str, name: str) -> None:
        self._call("delete_network_policy")
        if self.cluster.policies.pop((namespace, name), None) is None:
            raise self._missing("networkpolicies.networking.k8s.io", name)

    def list_nodes(self) -> list[dict[str, Any]]:
        self._call("list_nodes")
        return [copy.deepcopy(n) for _, n in sorted(self.cluster.nodes.items())]

    def get_node(self, name: str) -> dict[str, Any]:
        self._call("get_node")
        node = self.cluster.nodes.get(name)
        if node is None:
            raise self._missing("nodes", name)
        return copy.deepcopy(node)

    def set_unschedulable(self, name: str, unschedulable: bool) -> dict[str, Any]:
        self._call("set_unschedulable")
        node = self.cluster.nodes.get(name)
        if node is None:
            raise self._missing("nodes", name)
        if unschedulable:
            node["spec"]["unschedulable"] = True
        else:
            node["spec"].pop("unschedulable", None)
        return copy.deepcopy(node)
