"""Eradication: patch instances through SSM, terminate an instance whose evidence the
case holds. (Key rotation stays in its command until its hand-off is redesigned.)"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from runbooks.core.errors import InvalidInput, PreconditionFailed
from runbooks.core.ids import INSTANCE_ID as INSTANCE_ID
from runbooks.workflows.fleet import run_across, split_targets
from runbooks.workflows.session import (
    SILENT,
    Feedback,
    Outcome,
    Settings,
    make_runner,
    open_session,
)

TAG = re.compile(r"^([^=]{1,128})=(.{0,256})$")


def instances_with_tag(ec2: Any, key: str, value: str) -> list[str]:
    pages = ec2.get_paginator("describe_instances").paginate(Filters=[
        {"Name": f"tag:{key}", "Values": [value]},
        {"Name": "instance-state-name", "Values": ["running"]}])
    return sorted(i["InstanceId"] for page in pages for r in page["Reservations"]
                  for i in r["Instances"])


def patch_instances(settings: Settings, instance_ids: Sequence[str], tag: str | None, *,
                    operation: str = "Install", no_reboot: bool = False,
                    timeout_minutes: int = 60, feedback: Feedback = SILENT) -> Outcome:
    """AWS-RunPatchBaseline on the instances (across scopes), or on every running
    instance with `tag` (KEY=VALUE, one scope), waiting for each."""
    from runbooks.core.runner import StepCall

    if bool(instance_ids) == bool(tag):
        raise InvalidInput("give --instance ID (one or more) or --tag KEY=VALUE, not both")
    groups, single = split_targets(settings, instance_ids, what="--instance")
    for instance_id in (i for ids in groups.values() for i in ids):
        if not INSTANCE_ID.match(instance_id):
            raise InvalidInput(f"--instance {instance_id!r} is not an EC2 instance id "
                               "(i- followed by 8 or 17 hex digits, optionally as "
                               "ACCOUNT:REGION:ID)")
    match = TAG.match(tag) if tag else None
    if tag and not match:
        raise InvalidInput(f"--tag {tag!r}: use KEY=VALUE, e.g. --tag app=web")
    params = {"operation": operation, "reboot": "NoReboot" if no_reboot else "RebootIfNeeded",
              "timeout_minutes": timeout_minutes}
    if not single:
        return run_across(settings, "patch", {scope: {
            iid: [StepCall("ssm.run-patch-baseline", {"instance_id": iid, **params})]
            for iid in sorted(ids)} for scope, ids in groups.items()},
            title="eradicate patch", notify=False, feedback=feedback)
    session = open_session(settings, feedback=feedback)
    targets = sorted({i for ids in groups.values() for i in ids})
    if match:
        targets = instances_with_tag(session.ctx.client("ec2"), match.group(1), match.group(2))
        if not targets:
            raise InvalidInput(f"no running instance in {session.ctx.region} has tag {tag}")
    pipelines = {iid: [StepCall("ssm.run-patch-baseline", {"instance_id": iid, **params})]
                 for iid in targets}
    with feedback.progress("patch") as listener:
        result = make_runner(session, listener).run("eradicate patch", pipelines)
    return Outcome([result])


def recorded_snapshots(records: list[dict[str, Any]], instance_id: str) -> dict[str, str]:
    """volume id -> snapshot id, as the case's audit log recorded ec2.snapshot-volumes."""
    found: dict[str, str] = {}
    for record in records:
        if (record.get("event") == "applied" and record.get("step") == "ec2.snapshot-volumes"
                and record.get("target") == instance_id):
            found.update((record.get("result") or {}).get("snapshots") or {})
    return found


def terminate_instance(settings: Settings, instance_id: str, *,
                       feedback: Feedback = SILENT) -> Outcome:
    """Terminate INSTANCE_ID, refused unless the case recorded (and EC2 holds) a
    snapshot of every volume."""
    from runbooks.core.runner import StepCall

    if not INSTANCE_ID.match(instance_id):
        raise InvalidInput(f"{instance_id!r} is not an EC2 instance id")
    if not settings.case_id:
        raise PreconditionFailed("terminate needs --case ID: the case that holds the "
                                 "instance's snapshot evidence")
    session = open_session(settings, new_case=False, feedback=feedback)
    if not session.audit.exists():
        raise PreconditionFailed(
            f"no audit log for case {settings.case_id} at {session.audit.path}; without it "
            "there is no recorded evidence: set IR_CASE_DIR or check the case id")
    recorded = recorded_snapshots(session.audit.records(), instance_id)
    pipelines = {instance_id: [StepCall("ec2.terminate-instance", {
        "instance_id": instance_id, "recorded_snapshots": recorded})]}
    with feedback.progress("terminate") as listener:
        result = make_runner(session, listener).run("eradicate terminate", pipelines)
    return Outcome([result])
