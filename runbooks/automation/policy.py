"""What automation may run and the IAM actions that needs (no AWS calls, no Pulumi).

Used by the handler, by the stack settings (to reject finding types automation cannot
handle) and by the ResponseAutomation component (the function role's policy).

The role is granted the actions of the steps the automated playbooks' *containment*
phase uses (plus the steps every case finishes with: `sns.notify`,
`automation.count-containment`, `securityhub.notify-finding`),
not every step's: an automated function never terminates, restores, patches or rotates
anything, so it must not be able to (`responder_actions()` is for humans, who do).
"""

from __future__ import annotations

from collections.abc import Mapping

from runbooks.analysis.playbooks import CONTROL_IDS, playbook_for
from runbooks.automation.routing import AUTOMATED_PHASES, AUTOMATED_PLAYBOOKS
from runbooks.core.automation_contract import CONTROL_PREFIX, DEFAULT_FINDING_TYPES

# What the handler calls outside the playbooks' steps (the component adds these to the
# steps' declared actions): opt-out tags, the claim, the case's audit log copy (Security
# Hub workflow, notifications and the cap marker are steps now).
# Measured, not hand-kept: tests/runbooks/automation/test_handler_actions_measured.py.
HANDLER_ACTIONS: frozenset[str] = frozenset({
    "sts:GetCallerIdentity",
    "ssm:GetParameter",
    "ec2:DescribeInstances",
    "ec2:DescribeVpcs",
    "iam:ListUserTags",
    "iam:ListRoleTags",
    "s3:GetBucketTagging",
    "s3:GetObject",
    "s3:PutObject",
    "s3:ListBucket",
    # the runner checks the case's audit log copy before appending to it
    # (`read_evidence_copy`): its versions, and the latest one on a retry
    "s3:ListBucketVersions",
    "s3:GetObjectVersion",
})

__all__ = ["CONTROL_PREFIX", "DEFAULT_FINDING_TYPES", "automated_playbook_for",
           "automated_steps", "automation_actions"]


def automated_playbook_for(entry: str) -> str | None:
    """The automated playbook an allow-list entry leads to, or None.

    Entries are GuardDuty finding-type prefixes (`CryptoCurrency:EC2/`,
    `UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration`) or Security Hub
    controls as `control/<SecurityControlId>` (`control/S3.2`).
    """
    if entry.startswith(CONTROL_PREFIX):
        playbook = CONTROL_IDS.get(entry[len(CONTROL_PREFIX):])
    else:
        playbook = playbook_for(entry)
    return playbook if playbook in AUTOMATED_PLAYBOOKS else None


# Steps of an automated playbook's phase that automation never runs (its routing answers
# their decision "no"), and why: the role does not get their actions.
HUMAN_ONLY_STEPS: Mapping[str, str] = {
    "ec2.capture-memory": "runs a command on the instance (ssm:SendCommand) and assumes the "
                          "memory upload role: a responder captures memory with "
                          "`irctl contain instance` (routing passes capture_memory=false)",
}


def automated_steps() -> list[str]:
    """Sorted names of the steps automation can run."""
    from runbooks.playbooks import load_playbook

    # the finish of every case: its summary, its count towards the hourly cap and the
    # Security Hub workflow (`runbooks.automation.workflow.finish`)
    names = {"sns.notify", "automation.count-containment", "securityhub.notify-finding"}
    for name in AUTOMATED_PLAYBOOKS:
        doc = load_playbook(name).doc
        for phase in AUTOMATED_PHASES:
            names.update(action["step"] for action in doc["phases"].get(phase, [])
                         if action.get("step") and action["step"] not in HUMAN_ONLY_STEPS)
    return sorted(names)


def automation_actions() -> list[str]:
    """Sorted IAM actions of the function's role: its steps' plus the handler's own."""
    from runbooks.core.step import load_all_steps

    registry = load_all_steps()
    actions = set(HANDLER_ACTIONS)
    for name in automated_steps():
        actions.update(registry[name].actions)
    return sorted(actions)
