"""Drill scenario `compromised-asg-instance`: auto-scaled EC2 instance mining cryptocurrency.

The decision point 'in an Auto Scaling group': detached, capacity kept.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rehearsal.scenarios._base import (
    Check,
    Incident,
    check,
    image_id,
    scenario,
)
from rehearsal.scenarios.compromised_ec2_instance import CompromisedInstance

if TYPE_CHECKING:
    from rehearsal.world import World


@scenario
class CompromisedAutoScaledInstance(CompromisedInstance):
    """The decision point 'in an Auto Scaling group': detached, capacity kept."""

    name = "compromised-asg-instance"
    order = 20
    title = "Auto-scaled EC2 instance mining cryptocurrency"
    finding_type = "CryptoCurrency:EC2/BitcoinTool.B!DNS"

    def prepare(self, world: World) -> dict[str, Any]:
        victim = super().prepare(world)
        autoscaling, ec2 = world.client("autoscaling"), world.client("ec2")
        group = f"drill-web-{world.run_id}"
        template = ec2.create_launch_template(
            LaunchTemplateName=group, LaunchTemplateData={
                "ImageId": image_id(world), "InstanceType": "t3.micro",
                "NetworkInterfaces": [{"DeviceIndex": 0, "SubnetId": world.workload_subnet_id,
                                       "Groups": [victim["app_sg"]]}]})
        autoscaling.create_auto_scaling_group(
            AutoScalingGroupName=group, MinSize=0, MaxSize=3, DesiredCapacity=0,
            LaunchTemplate={"LaunchTemplateId": template["LaunchTemplate"]["LaunchTemplateId"],
                            "Version": "$Latest"},
            VPCZoneIdentifier=world.workload_subnet_id,
            Tags=[{"Key": "ir-readiness:drill", "Value": world.run_id,
                   "PropagateAtLaunch": True}])
        autoscaling.attach_instances(InstanceIds=[victim["instance_id"]],
                                     AutoScalingGroupName=group)
        return {**victim, "group": group}

    def verify(self, world: World, incident: Incident, case: str) -> list[Check]:
        autoscaling = world.client("autoscaling")
        victim = incident.victim

        def detached_capacity_kept() -> tuple[bool, str]:
            group = autoscaling.describe_auto_scaling_groups(
                AutoScalingGroupNames=[victim["group"]])["AutoScalingGroups"][0]
            members = [i["InstanceId"] for i in group["Instances"]]
            ok = (victim["instance_id"] not in members and group["DesiredCapacity"] == 1
                  and len(members) == 1)
            return ok, (f"group {victim['group']}: desired {group['DesiredCapacity']}, "
                        f"members {members} (victim {victim['instance_id']} detached, "
                        "replacement launched)")

        return [check("detached from its Auto Scaling group, capacity kept",
                      detached_capacity_kept), *super().verify(world, incident, case)]
