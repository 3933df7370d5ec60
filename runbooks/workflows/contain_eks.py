"""Containment of EKS pods and nodes (`irctl contain pod`, `irctl contain node`).

The steps and their order are the EKS playbooks' containment phases
(`procedures.pod_containment`, `procedures.node_containment`); a node's containment is
its cordon followed by the EC2 playbook's containment of the node instance, recorded
under the kind `instance`, so `irctl release instance ID` uncordons it with the rest.
"""

from __future__ import annotations

from runbooks.core.errors import InvalidInput
from runbooks.workflows.contain import run_containment
from runbooks.workflows.procedures import node_containment, pod_containment
from runbooks.workflows.session import SILENT, Feedback, Outcome, Settings


def _check(params: dict[str, str]) -> None:
    """The steps' own parameter checks, before any AWS call."""
    from runbooks.core.step import parse_params
    from runbooks.steps.eks import NodeParams, PodParams

    schema = NodeParams if "instance_id" in params else PodParams
    parse_params("contain", schema, params)


def contain_pod(settings: Settings, cluster: str, namespace: str, pod: str, *,
                feedback: Feedback = SILENT) -> Outcome:
    """Save the pod's evidence and cut its network (deny-all NetworkPolicy + label)."""
    if settings.account:
        raise InvalidInput("contain pod acts in the credentials' own account: --account "
                           "is not supported for it; run it with that account's "
                           "responder credentials")
    _check({"cluster": cluster, "namespace": namespace, "pod": pod})
    return run_containment(settings, "pod",
                           {f"{cluster}/{namespace}/{pod}":
                            pod_containment(cluster, namespace, pod)}, feedback=feedback)


def contain_node(settings: Settings, cluster: str, instance_id: str, *,
                 feedback: Feedback = SILENT) -> Outcome:
    """Cordon the node, then contain its instance as `contain instance` does."""
    if settings.account:
        raise InvalidInput("contain node acts in the credentials' own account: --account "
                           "is not supported for it; run it with that account's "
                           "responder credentials")
    _check({"cluster": cluster, "instance_id": instance_id})
    return run_containment(settings, "instance",
                           {instance_id: node_containment(cluster, instance_id)},
                           feedback=feedback)
