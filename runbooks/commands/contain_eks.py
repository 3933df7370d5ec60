"""`irctl contain pod` and `irctl contain node`: a compromised EKS pod or node."""

from __future__ import annotations

import click

from runbooks.commands._shared import (
    CliFeedback,
    Settings,
    common_options,
    exit_with,
    handle_errors,
    pass_settings,
)
from runbooks.commands.contain import contain


@contain.command("pod")
@common_options
@click.argument("cluster")
@click.argument("namespace")
@click.argument("pod")
@pass_settings
@handle_errors
def pod(settings: Settings, cluster: str, namespace: str, pod: str) -> None:
    """Cut a compromised EKS pod off the network, keeping it running for forensics.

    Saves the pod's spec, status, its containers' recent logs and the namespace's
    NetworkPolicies to the evidence bucket; creates a NetworkPolicy that selects the
    label ir-quarantine=<case> and denies all ingress and egress; then puts that label
    on the pod. The plan names any other NetworkPolicy that selects the pod and allows
    traffic (policies only add allows: narrow those by hand). `irctl release pod
    CLUSTER/NAMESPACE/POD --case CASE` removes the label, and the policy once no pod of
    the case in the namespace carries it. The cluster must enforce NetworkPolicies (VPC
    CNI network policy agent or Calico), and the responder role needs the cluster RBAC
    the README lists.

    \b
    Examples:
      irctl contain pod prod-eks payments payments-api-7d9c8b7f6-x2x9q          # plan
      irctl contain pod prod-eks payments payments-api-7d9c8b7f6-x2x9q --apply
    """
    from runbooks.workflows.contain_eks import contain_pod

    exit_with(settings, contain_pod(settings, cluster, namespace, pod,
                                    feedback=CliFeedback(settings)))


@contain.command("node")
@common_options
@click.argument("instance_id", metavar="INSTANCE_ID")
@click.option("--cluster", required=True, help="The EKS cluster the node belongs to.")
@pass_settings
@handle_errors
def node(settings: Settings, instance_id: str, cluster: str) -> None:
    """Cordon a compromised EKS node, then contain its instance.

    Cordons the node (found by its spec.providerID) so no new pod is scheduled on it,
    then runs what `irctl contain instance` runs for the node instance: evidence, the
    VPC's quarantine groups, the instance profile removed, snapshots. Isolating the
    node cuts the network of every pod on it. `irctl release instance INSTANCE_ID
    --case CASE` restores the instance and uncordons the node (only if it was
    schedulable before).

    \b
    Examples:
      irctl contain node i-0123456789abcdef0 --cluster prod-eks            # plan
      irctl contain node i-0123456789abcdef0 --cluster prod-eks --apply
    """
    from runbooks.workflows.contain_eks import contain_node

    exit_with(settings, contain_node(settings, cluster, instance_id,
                                     feedback=CliFeedback(settings)))
