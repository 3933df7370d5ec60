"""SSM eradication steps.

`ssm.run-patch-baseline` runs AWS-RunPatchBaseline (Operation=Install by default) on one
instance and waits for its invocation to finish (botocore's `command_executed` waiter),
so a run reports per instance whether patching succeeded. Only instances whose SSM Agent
is registered and online can run commands: `plan()` checks DescribeInstanceInformation
(one batched call for all targets of the run) and refuses, before anything is sent, an
instance SSM does not manage. Patching cannot be undone: not reversible.

The roles may send only that document, and only to instances carrying the case tag
(`ssm:resourceTag/ir:case`): an instance the case has not yet tagged (a fleet patched by
`--tag Service=web`) is tagged `ir:case=<case id>` first, so every instance a role ran a
command on is marked with the case that did it. An instance another case already tagged
keeps that tag.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from botocore.exceptions import WaiterError
from pydantic import Field

from runbooks.core.errors import ActionFailed, InvalidInput, PreconditionFailed
from runbooks.core.ids import INSTANCE_ID, require_instance_id
from runbooks.core.scopes import CASE_INSTANCES, CASE_TAG, PATCH_BASELINE_DOCUMENT, PATCH_DOCUMENT
from runbooks.core.step import Change, Step, StepParams, checked_by, register

__all__ = ["PATCH_DOCUMENT", "CASE_TAG"]
OPERATIONS = ("Install", "Scan")
REBOOT_OPTIONS = ("RebootIfNeeded", "NoReboot")
FILTER_LIMIT = 50  # values per DescribeInstanceInformation filter


def managed_instances(ctx: Any, instance_ids: list[str]) -> dict[str, dict[str, Any]]:
    """InstanceInformation of those of `instance_ids` SSM manages (batched, paged)."""
    ssm = ctx.client("ssm")
    found: dict[str, dict[str, Any]] = {}
    paginator = ssm.get_paginator("describe_instance_information")
    for start in range(0, len(instance_ids), FILTER_LIMIT):
        chunk = instance_ids[start:start + FILTER_LIMIT]
        for page in paginator.paginate(
                Filters=[{"Key": "InstanceIds", "Values": chunk}],
                PaginationConfig={"PageSize": 50}):
            for info in page.get("InstanceInformationList", []):
                found[info["InstanceId"]] = info
    return found


def _one_of(key: str, allowed: tuple[str, ...]) -> Any:
    def check(value: Any) -> None:
        if value not in allowed:
            raise InvalidInput(f"{key} {value!r}: use one of {', '.join(allowed)}")
    return checked_by(check)


def _check_timeout(timeout: Any) -> None:
    if isinstance(timeout, bool) or not isinstance(timeout, int) or not 1 <= timeout <= 480:
        raise InvalidInput(f"timeout_minutes={timeout!r}: give 1 to 480 minutes")


class RunPatchBaselineParams(StepParams):
    instance_id: Annotated[str, checked_by(require_instance_id),
                           Field(description="i- and 8 or 17 hex digits")]
    operation: Annotated[str, _one_of("operation", OPERATIONS)] = "Install"
    reboot: Annotated[str, _one_of("reboot", REBOOT_OPTIONS)] = "RebootIfNeeded"
    timeout_minutes: Annotated[int, checked_by(_check_timeout)] = 60
    poll_seconds: Annotated[float, Field(gt=0, description="seconds between polls")] = 15


@register
class RunPatchBaseline(Step):
    name = "ssm.run-patch-baseline"
    description = "Install missing patches with the SSM patch baseline, and wait"
    actions = frozenset({"ssm:DescribeInstanceInformation", "ssm:SendCommand",
                         "ssm:GetCommandInvocation", "ec2:DescribeTags", "ec2:CreateTags"})
    # SendCommand's document and instance are separate resources of one call: IAM must
    # allow each, so the action has both scopes.
    scopes = {"ssm:SendCommand": (PATCH_BASELINE_DOCUMENT, CASE_INSTANCES)}
    reversible = False
    Params = RunPatchBaselineParams
    release_kind = "instance"

    @property
    def instance_id(self) -> str:
        return str(self.params["instance_id"])

    def plan(self) -> list[Change]:
        targets = sorted({t for t in self.ctx.targets if INSTANCE_ID.match(t)}
                         | {self.instance_id})
        managed = self.ctx.cache.get("ssm.managed-instances",
                                     lambda: managed_instances(self.ctx, targets))
        info = managed.get(self.instance_id)
        if info is None:
            raise PreconditionFailed(
                f"instance {self.instance_id} is not managed by SSM in {self.ctx.region} "
                "(no registered SSM Agent): give it an instance profile with "
                "AmazonSSMManagedInstanceCore and a running agent, or patch it another way")
        if info.get("PingStatus") != "Online":
            raise PreconditionFailed(
                f"the SSM Agent of instance {self.instance_id} is {info.get('PingStatus')}, "
                "not Online; it cannot run the patch baseline until it reconnects")
        operation = str(self.params.get("operation", "Install"))
        tagged = self.ctx.client("ec2").describe_tags(Filters=[
            {"Name": "resource-id", "Values": [self.instance_id]},
            {"Name": "key", "Values": [CASE_TAG]}])["Tags"]
        platform = " ".join(str(info.get(k, "")) for k in ("PlatformName", "PlatformVersion"))
        return [Change(self.name, self.instance_id,
                       f"Run {PATCH_DOCUMENT} Operation={operation} on {self.instance_id} "
                       f"({platform.strip() or info.get('PlatformType', '?')}) and wait"
                       + ("" if tagged else f"; tags it {CASE_TAG}={self.ctx.case_id} first"),
                       after={"document": PATCH_DOCUMENT, "operation": operation,
                              "reboot": self.params.get("reboot", "RebootIfNeeded"),
                              "tagCase": not tagged})]

    def apply(self, change: Change) -> Mapping[str, Any]:
        if change.after.get("tagCase"):
            # Before the command: the roles may send it only to case-tagged instances.
            self.ctx.client("ec2").create_tags(
                Resources=[self.instance_id], Tags=[{"Key": CASE_TAG, "Value": self.ctx.case_id}])
        ssm = self.ctx.client("ssm")
        timeout = int(self.params.get("timeout_minutes", 60)) * 60
        command = ssm.send_command(
            InstanceIds=[self.instance_id],
            DocumentName=PATCH_DOCUMENT,
            Parameters={"Operation": [str(change.after["operation"])],
                        "RebootOption": [str(change.after["reboot"])]},
            Comment=f"irctl eradicate patch, case {self.ctx.case_id}"[:100],
            TimeoutSeconds=timeout,
        )["Command"]
        command_id = command["CommandId"]
        delay = int(self.params.get("poll_seconds", 15))
        try:
            ssm.get_waiter("command_executed").wait(
                CommandId=command_id, InstanceId=self.instance_id,
                WaiterConfig={"Delay": delay, "MaxAttempts": max(1, timeout // delay + 4)})
        except WaiterError as err:
            invocation = ssm.get_command_invocation(CommandId=command_id,
                                                    InstanceId=self.instance_id)
            raise ActionFailed(
                f"patching {self.instance_id} ended {invocation.get('Status')} "
                f"({invocation.get('StatusDetails')}, exit code "
                f"{invocation.get('ResponseCode')}); command {command_id}: see "
                f"`aws ssm get-command-invocation --command-id {command_id} "
                f"--instance-id {self.instance_id}`") from err
        invocation = ssm.get_command_invocation(CommandId=command_id,
                                                InstanceId=self.instance_id)
        return {"commandId": command_id, "status": invocation.get("Status"),
                "responseCode": invocation.get("ResponseCode")}
