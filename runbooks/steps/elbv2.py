"""Load balancer steps: stop sending traffic to a compromised instance."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runbooks.core.context import Context
from runbooks.core.step import Change, Check, register
from runbooks.steps.ec2 import InstanceStep, all_instances


def target_registrations(ctx: Context) -> dict[str, list[dict[str, Any]]]:
    """instance id -> [{targetGroupArn, port}] over the instance target groups of the
    targets' VPCs: one DescribeTargetGroups page walk plus one DescribeTargetHealth per
    group, shared by every target of the run."""

    def load() -> dict[str, list[dict[str, Any]]]:
        elbv2 = ctx.client("elbv2")
        vpcs = {i.get("VpcId") for i in all_instances(ctx).values()}
        found: dict[str, list[dict[str, Any]]] = {}
        for page in elbv2.get_paginator("describe_target_groups").paginate():
            for group in page["TargetGroups"]:
                if group.get("TargetType", "instance") != "instance" or \
                        group.get("VpcId") not in vpcs:
                    continue
                health = elbv2.describe_target_health(TargetGroupArn=group["TargetGroupArn"])
                for description in health["TargetHealthDescriptions"]:
                    target = description["Target"]
                    found.setdefault(target["Id"], []).append(
                        {"targetGroupArn": group["TargetGroupArn"], "port": target.get("Port")})
        return found

    return ctx.cache.get("elbv2.registrations", load)


@register
class DeregisterTargets(InstanceStep):
    name = "elbv2.deregister-instance"
    description = "Deregister the instance from every load balancer target group"
    actions = frozenset({"ec2:DescribeInstances", "elasticloadbalancing:DescribeTargetGroups",
                         "elasticloadbalancing:DescribeTargetHealth",
                         "elasticloadbalancing:DeregisterTargets",
                         "elasticloadbalancing:RegisterTargets"})

    @classmethod
    def prefetch(cls, ctx: Context) -> None:
        target_registrations(ctx)

    def plan(self) -> list[Change]:
        self.instance()
        return [Change(self.name, self.instance_id,
                       f"Deregister from target group {r['targetGroupArn'].split(':')[-1]}"
                       f" (port {r['port']})", before=r, after={"targetGroupArn": None})
                for r in target_registrations(self.ctx).get(self.instance_id, [])]

    def _target(self, port: Any) -> dict[str, Any]:
        return {"Id": self.instance_id, **({"Port": port} if port else {})}

    def apply(self, change: Change) -> Mapping[str, Any]:
        self.ctx.client("elbv2").deregister_targets(
            TargetGroupArn=change.before["targetGroupArn"],
            Targets=[self._target(change.before["port"])])
        return {}

    def rollback(self, change: Change, result: Mapping[str, Any]) -> None:
        self.ctx.client("elbv2").register_targets(
            TargetGroupArn=change.before["targetGroupArn"],
            Targets=[self._target(change.before["port"])])

    @classmethod
    def subject(cls, change: Change) -> str:
        return f"{change.before.get('targetGroupArn')}:{change.before.get('port')}"

    def current(self, change: Change) -> Mapping[str, Any] | None:
        from botocore.exceptions import ClientError

        arn = change.before["targetGroupArn"]
        try:
            health = self.ctx.client("elbv2").describe_target_health(
                TargetGroupArn=arn, Targets=[self._target(change.before["port"])])
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") not in ("InvalidTarget",
                                                                  "TargetGroupNotFound"):
                raise
            return {"targetGroupArn": None}
        registered = [d for d in health["TargetHealthDescriptions"]
                      if d.get("TargetHealth", {}).get("State") not in ("unused", "draining")]
        return {"targetGroupArn": arn if registered else None}

    def verify(self, change: Change, result: Mapping[str, Any]) -> Check:
        group = str(change.before.get("targetGroupArn", "")).split(":")[-1]
        return self.verify_current(
            change, f"registration in {group} (port {change.before.get('port')})")
