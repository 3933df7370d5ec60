"""Containment of Secrets Manager secrets and KMS keys (`irctl contain secret|key`).

The steps and their order are the `compromised-secret-or-key` playbook's containment
phase (`procedures`). Inputs are checked with the steps' own validators before any AWS
call; the pipelines run through `run_containment`, which notifies the high topic.
"""

from __future__ import annotations

from collections.abc import Sequence

from runbooks.core.errors import InvalidInput
from runbooks.workflows.contain import run_containment
from runbooks.workflows.procedures import key_containment, secret_containment
from runbooks.workflows.session import SILENT, Feedback, Outcome, Settings

ROTATIONS = ("function", "new-value", "none")


def contain_secrets(settings: Settings, secret_ids: Sequence[str], principal_arn: str, *,
                    rotation: str = "function", feedback: Feedback = SILENT) -> Outcome:
    """Deny `principal_arn` reading each secret, then rotate it as `rotation` says."""
    from runbooks.steps.secrets import validate_principal_arn, validate_secret_id

    if rotation not in ROTATIONS:
        raise InvalidInput(f"rotation {rotation!r} is not one of {', '.join(ROTATIONS)}")
    validate_principal_arn(principal_arn)
    for secret in secret_ids:
        validate_secret_id(secret)
    pipelines = {secret: secret_containment(secret, principal_arn, rotation=rotation)
                 for secret in dict.fromkeys(secret_ids)}
    return run_containment(settings, "secret", pipelines, feedback=feedback)


def contain_keys(settings: Settings, key_ids: Sequence[str], *, keep: bool = False,
                 feedback: Feedback = SILENT) -> Outcome:
    """Disable each KMS key (misused), or with `keep` cancel its scheduled deletion and
    enable it (sabotaged: the ransomware path)."""
    from runbooks.steps.kms import validate_key

    for key in key_ids:
        validate_key(key)
    pipelines = {key: key_containment(key, keep=keep) for key in dict.fromkeys(key_ids)}
    return run_containment(settings, "key", pipelines, feedback=feedback)
