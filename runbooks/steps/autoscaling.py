"""Auto Scaling steps: take a compromised instance out of its group, keep capacity."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runbooks.core.context import Context
from runbooks.core.step import Change, Check, register
from runbooks.steps.ec2 import InstanceStep, _chunks, _instance_targets


def asg_memberships(ctx: Context) -> dict[str, dict[str, Any]]:
    """DescribeAutoScalingInstances for every instance target, 50 ids per call."""

    def load() -> dict[str, dict[str, Any]]:
        autoscaling = ctx.client("autoscaling")
        found: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(_instance_targets(ctx), 50):
            response = autoscaling.describe_auto_scaling_instances(InstanceIds=chunk)
            found |= {i["InstanceId"]: i for i in response["AutoScalingInstances"]}
        return found

    return ctx.cache.get("autoscaling.instances", load)


@register
class DetachFromAutoScaling(InstanceStep):
    """Detach without decrementing desired capacity: the group launches a clean
    replacement, and cannot terminate the contained instance on a failed health check."""

    name = "autoscaling.detach-instance"
    description = "Detach the instance from its Auto Scaling group, keeping capacity"
    actions = frozenset({"ec2:DescribeInstances", "autoscaling:DescribeAutoScalingInstances",
                         "autoscaling:DetachInstances", "autoscaling:AttachInstances"})

    @classmethod
    def prefetch(cls, ctx: Context) -> None:
        asg_memberships(ctx)

    def plan(self) -> list[Change]:
        self.instance()
        membership = asg_memberships(self.ctx).get(self.instance_id)
        if membership is None:
            return []
        group = membership["AutoScalingGroupName"]
        return [Change(self.name, self.instance_id,
                       f"Detach from Auto Scaling group {group} (desired capacity "
                       "kept: the group launches a replacement)",
                       before={"autoScalingGroup": group}, after={"autoScalingGroup": None})]

    def apply(self, change: Change) -> Mapping[str, Any]:
        response = self.ctx.client("autoscaling").detach_instances(
            InstanceIds=[self.instance_id], ShouldDecrementDesiredCapacity=False,
            AutoScalingGroupName=change.before["autoScalingGroup"])
        return {"activities": [a["ActivityId"] for a in response.get("Activities", [])]}

    def rollback(self, change: Change, result: Mapping[str, Any]) -> None:
        # Attaching raises desired capacity by one: the replacement stays too.
        self.ctx.client("autoscaling").attach_instances(
            InstanceIds=[self.instance_id],
            AutoScalingGroupName=change.before["autoScalingGroup"])

    @classmethod
    def subject(cls, change: Change) -> str:
        return "auto-scaling-group"

    def current(self, change: Change) -> Mapping[str, Any] | None:
        found = self.ctx.client("autoscaling").describe_auto_scaling_instances(
            InstanceIds=[self.instance_id])["AutoScalingInstances"]
        members = [i["AutoScalingGroupName"] for i in found
                   if i.get("LifecycleState") not in ("Detaching", "Detached")]
        return {"autoScalingGroup": members[0] if members else None}

    def verify(self, change: Change, result: Mapping[str, Any]) -> Check:
        return self.verify_current(change, "Auto Scaling group")
