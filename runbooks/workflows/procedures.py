"""A command's procedure is a view of a playbook phase, never a second list of steps.

`irctl contain instance` runs the containment phase of `compromised-ec2-instance`,
`contain access-key` and `contain role` that of `compromised-iam-credentials` (for the
credential kind), `contain bucket` that of `exposed-s3-bucket`, `contain function` that
of `compromised-lambda-function`: the order and the steps
are written once, in the playbook YAML, and the command and `irctl playbook run` cannot
drift apart.

The view takes parameters the command has already validated (with the step's own
checks, whose messages the responder knows), fills the playbook's defaults and selects
the phase's step actions whose `when` holds, in order.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runbooks.core.runner import StepCall
    from runbooks.playbooks import Playbook

INSTANCE_PLAYBOOK = "compromised-ec2-instance"
CREDENTIALS_PLAYBOOK = "compromised-iam-credentials"
BUCKET_PLAYBOOK = "exposed-s3-bucket"
FUNCTION_PLAYBOOK = "compromised-lambda-function"
DATABASE_PLAYBOOK = "compromised-rds-database"


@cache
def _playbook(name: str) -> Playbook:
    from runbooks.playbooks import load_playbook

    return load_playbook(name)


def procedure(playbook: str, phase: str, target: str, params: Mapping[str, Any]) -> list[
        StepCall]:
    """The step calls of `playbook`'s `phase` for one `target`, in the playbook's order.

    `params` are playbook parameters (defaults filled in); every step action of the
    phase must act on `target`, since a command's pipeline is per target."""
    from runbooks.core.runner import StepCall

    pb = _playbook(playbook)
    unknown = sorted(set(params) - set(pb.parameters))
    if unknown:
        raise ValueError(f"playbook {playbook} has no parameter {', '.join(unknown)}")
    values = {key: spec["default"] for key, spec in pb.parameters.items() if "default" in spec}
    values.update(params)
    calls: list[StepCall] = []
    for action in pb.actions(values, [phase]):
        if not action.step:
            continue
        if action.target != target:
            raise ValueError(f"playbook {playbook}: {phase} action {action.id} acts on "
                             f"{action.target!r}, not on the command's target {target!r}")
        calls.append(StepCall(action.step, dict(action.params)))
    return calls


def instance_containment(instance_id: str, *, stop: bool = False,
                         memory: bool = True) -> list[StepCall]:
    """`contain instance`: the EC2 playbook's containment phase (`--stop` answers its
    stop-or-keep-running decision, `--no-memory` its capture-memory decision)."""
    return procedure(INSTANCE_PLAYBOOK, "containment", instance_id,
                     {"instance_id": instance_id, "stop_instance": stop,
                      "capture_memory": memory})


def access_key_containment(access_key_id: str) -> list[StepCall]:
    """`contain access-key`: the credentials playbook's containment of a (human's) key."""
    return procedure(CREDENTIALS_PLAYBOOK, "containment", access_key_id,
                     {"credential_kind": "access-key", "access_key_id": access_key_id})


def role_containment(role_name: str) -> list[StepCall]:
    """`contain role`: the credentials playbook's containment of a role's sessions."""
    return procedure(CREDENTIALS_PLAYBOOK, "containment", role_name,
                     {"credential_kind": "role", "role_name": role_name})


def bucket_containment(bucket: str) -> list[StepCall]:
    """`contain bucket`: the exposed-bucket playbook's containment phase."""
    return procedure(BUCKET_PLAYBOOK, "containment", bucket, {"bucket": bucket})


def function_containment(function_name: str) -> list[StepCall]:
    """`contain function`: the Lambda playbook's containment phase."""
    return procedure(FUNCTION_PLAYBOOK, "containment", function_name,
                     {"function_name": function_name})


EKS_POD_PLAYBOOK = "compromised-eks-pod"
EKS_NODE_PLAYBOOK = "compromised-eks-node"


def pod_containment(cluster: str, namespace: str, pod: str) -> list[StepCall]:
    """`contain pod`: the EKS pod playbook's containment phase."""
    return procedure(EKS_POD_PLAYBOOK, "containment", f"{cluster}/{namespace}/{pod}",
                     {"cluster": cluster, "namespace": namespace, "pod": pod})


def node_containment(cluster: str, instance_id: str) -> list[StepCall]:
    """`contain node`: the EKS node playbook's containment phase (the cordon), then the
    EC2 playbook's for the node instance, which that phase names as its next action."""
    return [*procedure(EKS_NODE_PLAYBOOK, "containment", instance_id,
                       {"cluster": cluster, "instance_id": instance_id}),
            *instance_containment(instance_id)]


def database_containment(database: str) -> list[StepCall]:
    """`contain database`: the RDS playbook's containment phase (its steps; the manual
    session kill is the responder's)."""
    return procedure(DATABASE_PLAYBOOK, "containment", database, {"database": database})


SECRET_OR_KEY_PLAYBOOK = "compromised-secret-or-key"  # noqa: S105 - a playbook name


def secret_containment(secret_id: str, principal_arn: str, *, rotation: str) -> list[
        StepCall]:
    """`contain secret`: the secret-or-key playbook's containment of a secret (`rotation`
    answers its rotation decision: function, new-value or none)."""
    return procedure(SECRET_OR_KEY_PLAYBOOK, "containment", secret_id,
                     {"resource_kind": "secret", "secret_id": secret_id,
                      "principal_arn": principal_arn, "rotation": rotation})


def key_containment(key_id: str, *, keep: bool) -> list[StepCall]:
    """`contain key`: the secret-or-key playbook's containment of a KMS key (`keep`
    answers its key-action decision: keep, else disable)."""
    return procedure(SECRET_OR_KEY_PLAYBOOK, "containment", key_id,
                     {"resource_kind": "key", "key_id": key_id,
                      "key_action": "keep" if keep else "disable"})
