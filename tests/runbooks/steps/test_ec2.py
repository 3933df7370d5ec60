"""EC2 containment steps through the runner, against moto in-process: assert AWS state."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from runbooks.core.audit import AuditLog
from runbooks.core.errors import EXIT_ACTION_FAILED, EXIT_BAD_INPUT, EXIT_OK, EXIT_PARTIAL
from runbooks.core.runner import Runner, RunResult
from runbooks.core.step import declared_actions
from runbooks.workflows.contain import instance_pipelines
from tests.runbooks.conftest import (
    ACCOUNT,
    FaultInjector,
    Readiness,
    launch_instances,
    quarantine_vpc,
)


def contain(world: Readiness, ids: list[str], *, case: str | None = None, apply: bool = True,
            keep_going: bool = False, injector: FaultInjector | None = None,
            stop: bool = False) -> tuple[RunResult, AuditLog]:
    kwargs: dict[str, Any] = {"max_attempts": 4}
    if injector:
        kwargs["event_hooks"] = injector.hooks()
    ctx = world.context(case, **kwargs)
    audit = AuditLog(ctx.case_id)
    runner = Runner(ctx, audit, apply=apply, keep_going=keep_going, max_workers=8)
    return runner.run("instance", instance_pipelines(ids, stop=stop)), audit


def release(world: Readiness, case: str, target: str, apply: bool = True) -> RunResult:
    ctx = world.context(case)
    return Runner(ctx, AuditLog(case), apply=apply).release("instance", target)


def eni_groups(world: Readiness, instance_id: str) -> list[list[str]]:
    enis = world.client("ec2").describe_network_interfaces(Filters=[
        {"Name": "attachment.instance-id", "Values": [instance_id]}])["NetworkInterfaces"]
    return [[g["GroupId"] for g in e["Groups"]] for e in enis]


def attribute(world: Readiness, instance_id: str, name: str) -> Any:
    response = world.client("ec2").describe_instance_attribute(InstanceId=instance_id,
                                                               Attribute=name)
    key = name[0].upper() + name[1:]
    return response[key]["Value"]


def describe(world: Readiness, instance_id: str) -> dict[str, Any]:
    reservations = world.client("ec2").describe_instances(InstanceIds=[instance_id])
    instance: dict[str, Any] = reservations["Reservations"][0]["Instances"][0]
    return instance


def tags(resource: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in resource.get("Tags", [])}


def snapshots(world: Readiness, instance_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = world.client("ec2").describe_snapshots(
        OwnerIds=["self"], Filters=[{"Name": "tag:ir:source-instance",
                                     "Values": [instance_id]}])["Snapshots"]
    return found


def make_profile(world: Readiness) -> tuple[str, str]:
    iam = world.client("iam")
    role = f"app-{uuid.uuid4().hex[:8]}"
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"Service": "ec2.amazonaws.com"}}]}))
    profile = iam.create_instance_profile(InstanceProfileName=role)["InstanceProfile"]
    iam.add_role_to_instance_profile(InstanceProfileName=role, RoleName=role)
    return profile["Arn"], role


def associations(world: Readiness, instance_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = world.client("ec2").describe_iam_instance_profile_associations(
        Filters=[{"Name": "instance-id", "Values": [instance_id]}]
    )["IamInstanceProfileAssociations"]
    return [a for a in found if a["State"] == "associated"]


def test_contain_instance_isolates_protects_snapshots_and_keeps_evidence(
        readiness: Readiness) -> None:
    profile_arn, role = make_profile(readiness)
    [iid] = launch_instances(readiness, 1, volumes=2, profile_arn=profile_arn)
    original_groups = eni_groups(readiness, iid)
    groups = readiness.manifest["quarantine"][readiness.vpc_id]

    result, audit = contain(readiness, [iid])

    assert result.exit_code == EXIT_OK, result.to_dict()
    assert eni_groups(readiness, iid) == [[groups["isolationSecurityGroupId"]]]
    assert attribute(readiness, iid, "disableApiTermination") is True
    assert attribute(readiness, iid, "instanceInitiatedShutdownBehavior") == "stop"
    mappings = describe(readiness, iid)["BlockDeviceMappings"]
    assert len(mappings) == 2
    assert all(m["Ebs"]["DeleteOnTermination"] is False for m in mappings)
    instance_tags = tags(describe(readiness, iid))
    assert instance_tags["ir:case"] == audit.case_id
    assert instance_tags["ir:contained-at"].endswith("Z")
    assert "ir:pre-action" not in instance_tags  # the held capture records the groups
    # crash-consistent snapshots of both volumes, tagged with case, source and time
    taken = snapshots(readiness, iid)
    assert sorted(s["VolumeId"] for s in taken) == sorted(m["Ebs"]["VolumeId"] for m in mappings)
    for snapshot in taken:
        assert tags(snapshot)["ir:case"] == audit.case_id
        assert "ir:captured-at" in tags(snapshot)
    # instance profile gone, role's older sessions revoked
    assert associations(readiness, iid) == []
    policy = readiness.client("iam").get_role_policy(RoleName=role,
                                                     PolicyName="AWSRevokeOlderSessions")
    statement = policy["PolicyDocument"]["Statement"][0]
    assert statement["Effect"] == "Deny"
    assert "aws:TokenIssueTime" in statement["Condition"]["DateLessThan"]
    # evidence in the bucket: metadata, and the audit log copy
    bucket = readiness.manifest["evidenceBucket"]
    s3 = readiness.client("s3")
    key = f"cases/{audit.case_id}/instances/{iid}/metadata.json"
    evidence = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    assert evidence["instance"]["InstanceId"] == iid
    assert len(evidence["volumes"]) == 2
    assert evidence["profileAssociation"]["IamInstanceProfile"]["Arn"] == profile_arn
    assert [[g["GroupId"] for g in e["Groups"]] for e in evidence["networkInterfaces"]] == \
        original_groups
    assert "consoleOutputBase64" in evidence
    head = s3.head_object(Bucket=bucket, Key=key)
    assert head["ServerSideEncryption"] == "aws:kms"
    uploaded = s3.get_object(Bucket=bucket, Key=f"cases/{audit.case_id}/audit.jsonl")
    assert uploaded["Body"].read() == audit.path.read_bytes()
    assert audit.verify().ok


def test_plan_changes_nothing(readiness: Readiness) -> None:
    [iid] = launch_instances(readiness, 1)
    before = eni_groups(readiness, iid)

    result, audit = contain(readiness, [iid], apply=False)

    assert result.exit_code == EXIT_OK
    steps = {c.change.step for t in result.targets for c in t.changes}
    assert {"ec2.isolate", "ec2.protect", "ec2.snapshot-volumes"} <= steps
    assert eni_groups(readiness, iid) == before
    assert attribute(readiness, iid, "disableApiTermination") is False
    assert snapshots(readiness, iid) == []
    assert "ir:case" not in tags(describe(readiness, iid))
    assert [r["event"] for r in audit.records()][-1] == "run-finished"


def test_containing_a_contained_instance_plans_nothing(readiness: Readiness) -> None:
    [iid] = launch_instances(readiness, 1)
    first, _ = contain(readiness, [iid])
    assert first.exit_code == EXIT_OK

    again, _ = contain(readiness, [iid], apply=False)  # a different case, even

    assert [t.changes for t in again.targets] == [[]]
    assert len(snapshots(readiness, iid)) == 2


def test_release_restores_pre_action_state_and_keeps_evidence(readiness: Readiness) -> None:
    profile_arn, role = make_profile(readiness)
    [iid] = launch_instances(readiness, 1, profile_arn=profile_arn)
    original = eni_groups(readiness, iid)
    result, audit = contain(readiness, [iid])
    assert result.exit_code == EXIT_OK

    plan = release(readiness, audit.case_id, iid, apply=False)
    assert eni_groups(readiness, iid) != original  # a release plan changes nothing
    assert plan.targets[0].changes

    done = release(readiness, audit.case_id, iid)

    assert done.exit_code == EXIT_OK, done.to_dict()
    assert eni_groups(readiness, iid) == original
    assert attribute(readiness, iid, "disableApiTermination") is False
    assert attribute(readiness, iid, "instanceInitiatedShutdownBehavior") == "stop"  # moto's
    assert all(m["Ebs"]["DeleteOnTermination"] for m in describe(readiness, iid)[
        "BlockDeviceMappings"])
    assert [a["IamInstanceProfile"]["Arn"] for a in associations(readiness, iid)] == [
        profile_arn]
    assert "ir:case" not in tags(describe(readiness, iid))
    assert len(snapshots(readiness, iid)) == 2  # evidence stays
    # stolen pre-containment sessions stay revoked
    readiness.client("iam").get_role_policy(RoleName=role, PolicyName="AWSRevokeOlderSessions")
    key = f"cases/{audit.case_id}/instances/{iid}/metadata.json"
    readiness.client("s3").head_object(Bucket=readiness.manifest["evidenceBucket"], Key=key)
    assert audit.verify().ok
    # released twice: nothing left in place
    assert release(readiness, audit.case_id, iid).targets[0].changes == []


def test_asg_detached_without_decrementing_and_target_group_deregistered(
        readiness: Readiness) -> None:
    ec2, autoscaling, elbv2 = (readiness.client(s) for s in ("ec2", "autoscaling", "elbv2"))
    name = f"asg-{uuid.uuid4().hex[:8]}"
    template = ec2.create_launch_template(LaunchTemplateName=name, LaunchTemplateData={
        "ImageId": "ami-12c6146b", "InstanceType": "t3.micro"})["LaunchTemplate"]
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=name, MinSize=0, MaxSize=4, DesiredCapacity=1,
        LaunchTemplate={"LaunchTemplateId": template["LaunchTemplateId"]},
        VPCZoneIdentifier=readiness.subnet_id)
    [iid] = launch_instances(readiness, 1)
    autoscaling.attach_instances(InstanceIds=[iid], AutoScalingGroupName=name)
    desired = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])[
        "AutoScalingGroups"][0]["DesiredCapacity"]
    group = elbv2.create_target_group(Name=name, Protocol="HTTP", Port=80,
                                      VpcId=readiness.vpc_id, TargetType="instance")
    tg_arn = group["TargetGroups"][0]["TargetGroupArn"]
    elbv2.register_targets(TargetGroupArn=tg_arn, Targets=[{"Id": iid, "Port": 8080}])

    def members() -> list[str]:
        found = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])[
            "AutoScalingGroups"][0]
        return [i["InstanceId"] for i in found["Instances"]]

    def targets() -> list[tuple[str, int]]:
        health = elbv2.describe_target_health(TargetGroupArn=tg_arn)
        return [(d["Target"]["Id"], d["Target"]["Port"])
                for d in health["TargetHealthDescriptions"]]

    assert iid in members() and (iid, 8080) in targets()

    result, audit = contain(readiness, [iid])

    assert result.exit_code == EXIT_OK, result.to_dict()
    assert iid not in members()
    group_now = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])[
        "AutoScalingGroups"][0]
    assert group_now["DesiredCapacity"] == desired  # capacity kept: a replacement launches
    assert (iid, 8080) not in targets()

    assert release(readiness, audit.case_id, iid).exit_code == EXIT_OK
    assert iid in members()
    assert (iid, 8080) in targets()


def test_vpc_without_quarantine_group_refuses_and_changes_nothing(
        readiness: Readiness) -> None:
    ec2 = readiness.client("ec2")
    other_vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=other_vpc, CidrBlock="10.9.0.0/24")["Subnet"]["SubnetId"]
    [covered] = launch_instances(readiness, 1)
    [uncovered] = launch_instances(readiness, 1, subnet_id=subnet)
    before = eni_groups(readiness, covered)

    result, _ = contain(readiness, [covered, uncovered])

    assert result.exit_code == EXIT_BAD_INPUT
    errors = {t.target: t.error for t in result.targets}
    assert other_vpc in str(errors[uncovered]) and "quarantine" in str(errors[uncovered])
    assert eni_groups(readiness, covered) == before  # the whole run was refused
    assert attribute(readiness, covered, "disableApiTermination") is False


def test_missing_quarantine_group_named_by_manifest_is_reported(readiness: Readiness) -> None:
    [iid] = launch_instances(readiness, 1)
    vpc, _, groups = quarantine_vpc(readiness.clients, "10.7.0.0/16")
    readiness.manifest["quarantine"][readiness.vpc_id]["isolationSecurityGroupId"] = \
        "sg-0123456789abcdef0"

    result, _ = contain(readiness, [iid])

    assert result.exit_code == EXIT_BAD_INPUT
    assert "sg-0123456789abcdef0" in str(result.targets[0].error)


@pytest.mark.parametrize("state", ["unknown", "terminated"])
def test_unknown_or_terminated_instance_is_bad_input(readiness: Readiness, state: str) -> None:
    if state == "unknown":
        iid = "i-0123456789abcdef0"
    else:
        [iid] = launch_instances(readiness, 1)
        readiness.client("ec2").terminate_instances(InstanceIds=[iid])

    result, _ = contain(readiness, [iid])

    assert result.exit_code == EXIT_BAD_INPUT
    assert iid in str(result.targets[0].error)
    assert ("not found" if state == "unknown" else "terminated") in str(result.targets[0].error)


def test_throttling_and_5xx_are_retried(readiness: Readiness) -> None:
    [iid] = launch_instances(readiness, 1)
    injector = FaultInjector()
    injector.add("ModifyNetworkInterfaceAttribute", "RequestLimitExceeded", 503, {1, 2})
    injector.add("CreateSnapshots", "InternalError", 500, {1})

    result, _ = contain(readiness, [iid], injector=injector)

    assert result.exit_code == EXIT_OK, result.to_dict()
    groups = readiness.manifest["quarantine"][readiness.vpc_id]
    assert eni_groups(readiness, iid) == [[groups["isolationSecurityGroupId"]]]
    assert injector.seen["ModifyNetworkInterfaceAttribute"] == 4  # 2 failures + 2 swaps
    assert injector.seen["CreateSnapshots"] == 2
    assert len(snapshots(readiness, iid)) == 2


def test_denied_call_rolls_back_and_a_rerun_resumes(readiness: Readiness) -> None:
    [iid] = launch_instances(readiness, 1)
    original = eni_groups(readiness, iid)
    injector = FaultInjector().add("ModifyNetworkInterfaceAttribute",
                                   "UnauthorizedOperation", 403, {2})

    failed, audit = contain(readiness, [iid], injector=injector)

    assert failed.exit_code == EXIT_ACTION_FAILED, failed.to_dict()
    assert "UnauthorizedOperation" in str(failed.targets[0].error)
    assert eni_groups(readiness, iid) == original  # conversion swap rolled back
    assert attribute(readiness, iid, "disableApiTermination") is False
    assert "ir:case" not in tags(describe(readiness, iid))
    assert len(snapshots(readiness, iid)) == 0  # never reached
    events = [r["event"] for r in audit.records()]
    assert "apply-failed" in events and "rolled-back" in events
    assert audit.verify().ok

    resumed, _ = contain(readiness, [iid], case=audit.case_id)

    assert resumed.exit_code == EXIT_OK
    groups = readiness.manifest["quarantine"][readiness.vpc_id]
    assert eni_groups(readiness, iid) == [[groups["isolationSecurityGroupId"]]]


def test_keep_going_leaves_a_recorded_partial_state(readiness: Readiness) -> None:
    [iid] = launch_instances(readiness, 1)
    injector = FaultInjector().add("CreateSnapshots", "UnauthorizedOperation", 403)

    result, audit = contain(readiness, [iid], keep_going=True, injector=injector)

    assert result.exit_code == EXIT_PARTIAL
    groups = readiness.manifest["quarantine"][readiness.vpc_id]
    assert eni_groups(readiness, iid) == [[groups["isolationSecurityGroupId"]]]
    assert len(snapshots(readiness, iid)) == 0
    applied = [r for r in audit.records() if r["event"] == "applied"]
    assert {r["step"] for r in applied} >= {"ec2.isolate", "ec2.protect"}


def test_many_instances_contained_concurrently_with_batched_reads(
        readiness: Readiness) -> None:
    ids = launch_instances(readiness, 12)
    injector = FaultInjector()

    result, _ = contain(readiness, ids, injector=injector)

    assert result.exit_code == EXIT_OK
    groups = readiness.manifest["quarantine"][readiness.vpc_id]
    for iid in ids:
        assert eni_groups(readiness, iid) == [[groups["isolationSecurityGroupId"]]]
        assert len(snapshots(readiness, iid)) == 2
    assert injector.seen["DescribeInstances"] == 1
    assert injector.seen["DescribeSnapshots"] == 1
    assert injector.seen["CreateSnapshots"] == 12


def test_every_step_declares_actions_and_ec2_steps_are_registered() -> None:
    actions = declared_actions()
    assert {"ec2:ModifyNetworkInterfaceAttribute", "ec2:CreateSnapshots",
            "autoscaling:DetachInstances", "elasticloadbalancing:DeregisterTargets",
            "sns:Publish"} <= actions
    assert ACCOUNT  # moto's account is what the manifest fixture uses


def test_every_eni_isolated_and_stopped_then_release_restores_groups_and_hands_off_start(
        readiness: Readiness) -> None:
    """No generated role may start an instance (with ModifyInstanceAttribute that would
    run new user data as the instance's role): the stop is one-way for irctl, and the
    plan and result name the owner's start command."""
    [iid] = launch_instances(readiness, 1)
    ec2 = readiness.client("ec2")
    extra_group = ec2.create_security_group(GroupName=f"db-{uuid.uuid4().hex[:8]}",
                                            Description="db", VpcId=readiness.vpc_id)["GroupId"]
    eni = ec2.create_network_interface(SubnetId=readiness.subnet_id, Groups=[extra_group])[
        "NetworkInterface"]["NetworkInterfaceId"]
    ec2.attach_network_interface(NetworkInterfaceId=eni, InstanceId=iid, DeviceIndex=1)
    original = sorted(eni_groups(readiness, iid))
    assert len(original) == 2
    isolation = readiness.manifest["quarantine"][readiness.vpc_id]["isolationSecurityGroupId"]

    result, audit = contain(readiness, [iid], stop=True)

    assert result.exit_code == EXIT_OK, result.to_dict()
    assert eni_groups(readiness, iid) == [[isolation], [isolation]]
    assert describe(readiness, iid)["State"]["Name"] == "stopped"
    hand_off = f"aws ec2 start-instances --instance-ids {iid}"
    assert hand_off in json.dumps(result.to_dict(), default=str)

    released = release(readiness, audit.case_id, iid)
    assert released.exit_code == EXIT_OK
    assert sorted(eni_groups(readiness, iid)) == original
    assert describe(readiness, iid)["State"]["Name"] == "stopped"  # the owner starts it
    assert "ec2.stop" not in {c["step"] for t in released.to_dict()["targets"]
                              for c in t["changes"]}


def test_runs_sharing_a_context_read_the_world_afresh(readiness: Readiness) -> None:
    """A playbook runs several phases with one context: the second must not plan from
    what the first read before it changed the instance."""
    [iid] = launch_instances(readiness, 1)
    ctx = readiness.context()
    audit = AuditLog(ctx.case_id)

    first = Runner(ctx, audit, apply=True).run("instance", instance_pipelines([iid]))
    second = Runner(ctx, audit, apply=False).run("instance", instance_pipelines([iid]))

    assert first.exit_code == EXIT_OK
    assert [t.changes for t in second.targets] == [[]]


def test_a_profile_already_disassociated_counts_as_done_unless_another_took_its_place(
        readiness: Readiness) -> None:
    from runbooks.core.errors import PreconditionFailed
    from runbooks.core.step import REGISTRY, load_all_steps

    load_all_steps()
    iam = readiness.client("iam")
    arns = [iam.create_instance_profile(InstanceProfileName=f"p-{uuid.uuid4().hex[:6]}")[
        "InstanceProfile"]["Arn"] for _ in range(2)]
    [iid] = launch_instances(readiness, 1, volumes=1, profile_arn=arns[0])
    ec2 = readiness.client("ec2")

    def planned() -> Any:
        ctx = readiness.context()
        ctx.targets = (iid,)
        step = REGISTRY["ec2.detach-instance-profile"](ctx, {"instance_id": iid})
        return step, step.plan()[0]

    def association() -> dict[str, Any] | None:
        found = ec2.describe_iam_instance_profile_associations(Filters=[
            {"Name": "instance-id", "Values": [iid]},
            {"Name": "state", "Values": ["associated"]}])["IamInstanceProfileAssociations"]
        return found[0] if found else None

    # another run (or a lost answer's retry) disassociated it first: done
    step, change = planned()
    ec2.disassociate_iam_instance_profile(AssociationId=change.before["associationId"])
    assert step.apply(change) == {"alreadyDone": True}
    assert association() is None
    # the association is gone but another profile was associated meanwhile: refused
    ec2.associate_iam_instance_profile(IamInstanceProfile={"Arn": arns[1]}, InstanceId=iid)
    with pytest.raises(PreconditionFailed, match=arns[1]):
        step.apply(change)
    current = association()
    assert current is not None and current["IamInstanceProfile"]["Arn"] == arns[1]
