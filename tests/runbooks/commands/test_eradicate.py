"""`irctl eradicate` on moto + the emulator: SSM commands issued (list_commands), the
instance terminated only with case evidence, key status after rotation, and a new secret
that appears once on stdout and nowhere else."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.runbooks.commands.analysis_world import World, build_world

AMI = "ami-12c6146b"
AGENT_POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Action": ["ssm:UpdateInstanceInformation", "ssmmessages:*",
                                  "ec2messages:*"], "Resource": "*"}]})


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    from rehearsal.emulator import ssm

    ssm.install()
    yield from build_world(tmp_path, monkeypatch)


def launch(world: World, managed: bool, tags: dict[str, str] | None = None) -> str:
    ec2 = world.client("ec2")
    kwargs: dict = {}
    if managed:
        iam = world.client("iam")
        name = f"app-{uuid.uuid4().hex[:8]}"
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action":
                                                    "sts:AssumeRole", "Principal": {
                                                        "Service": "ec2.amazonaws.com"}}]}))
        iam.put_role_policy(RoleName=name, PolicyName="ssm-agent", PolicyDocument=AGENT_POLICY)
        iam.create_instance_profile(InstanceProfileName=name)
        iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)
        kwargs["IamInstanceProfile"] = {"Name": name}
    if tags:
        kwargs["TagSpecifications"] = [{"ResourceType": "instance", "Tags": [
            {"Key": k, "Value": v} for k, v in tags.items()]}]
    subnet = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [world.vpc_id]}])[
        "Subnets"][0]["SubnetId"]
    group = ec2.create_security_group(GroupName=f"app-{uuid.uuid4().hex[:8]}",
                                      Description="app", VpcId=world.vpc_id)["GroupId"]
    instance = ec2.run_instances(
        ImageId=AMI, MinCount=1, MaxCount=1, InstanceType="t3.micro",
        NetworkInterfaces=[{"DeviceIndex": 0, "SubnetId": subnet, "Groups": [group]}],
        BlockDeviceMappings=[{"DeviceName": "/dev/sdf", "Ebs": {"VolumeSize": 8}}],
        **kwargs)["Instances"][0]
    return str(instance["InstanceId"])


def patch_commands(world: World) -> list[dict]:
    return [c for c in world.client("ssm").list_commands()["Commands"]
            if c["DocumentName"] == "AWS-RunPatchBaseline"]


def test_patch_instances_by_id_waits_and_reports_each(world: World) -> None:
    a, b = launch(world, managed=True), launch(world, managed=True)
    launch(world, managed=True)  # not asked for: must not be patched

    code, out = world.irctl_json("eradicate", "patch", "--instance", a, "--instance", b,
                                 "--apply")

    assert code == 0, out
    commands = patch_commands(world)
    assert sorted(i for c in commands for i in c["InstanceIds"]) == sorted([a, b])
    assert all(c["Parameters"]["Operation"] == ["Install"] for c in commands)
    results = {t["target"]: t["changes"][0] for t in out["runs"][0]["targets"]}
    assert set(results) == {a, b}
    for iid, change in results.items():
        assert change["status"] == "applied"
        assert change["result"]["status"] == "Success"
        invocation = world.client("ssm").get_command_invocation(
            CommandId=change["result"]["commandId"], InstanceId=iid)
        assert invocation["Status"] == "Success"


def test_patch_by_tag_targets_only_tagged_running_instances(world: World) -> None:
    web = [launch(world, managed=True, tags={"app": "web"}) for _ in range(2)]
    launch(world, managed=True, tags={"app": "db"})
    code, out = world.irctl_json("eradicate", "patch", "--tag", "app=web", "--apply")
    assert code == 0, out
    assert sorted(i for c in patch_commands(world) for i in c["InstanceIds"]) == sorted(web)


def test_unmanaged_instance_refuses_the_whole_run(world: World) -> None:
    managed, unmanaged = launch(world, managed=True), launch(world, managed=False)
    code, out = world.irctl_json("eradicate", "patch", "--instance", managed, "--instance",
                                 unmanaged, "--apply")
    assert code == 2
    assert unmanaged in out["runs"][0]["targets"][1]["error"] or unmanaged in json.dumps(out)
    assert "not managed by SSM" in json.dumps(out)
    assert patch_commands(world) == []


def test_patch_plan_sends_nothing_and_bad_input_is_refused(world: World) -> None:
    iid = launch(world, managed=True)
    code, _ = world.irctl_json("eradicate", "patch", "--instance", iid)
    assert code == 0
    assert patch_commands(world) == []
    code, out = world.irctl_json("eradicate", "patch", "--tag", "novalue", "--apply")
    assert code == 2 and "KEY=VALUE" in out["error"]
    code, out = world.irctl_json("eradicate", "patch", "--tag", "app=none", "--apply")
    assert code == 2 and "no running instance" in out["error"]
    code, out = world.irctl_json("eradicate", "patch", "--instance", "i-bogus", "--apply")
    assert code == 2 and "not an EC2 instance id" in out["error"]


def state_of(world: World, iid: str) -> str:
    return world.client("ec2").describe_instances(InstanceIds=[iid])["Reservations"][0][
        "Instances"][0]["State"]["Name"]


def test_terminate_refuses_without_case_evidence(world: World) -> None:
    iid = launch(world, managed=False)
    # A case that never contained the instance holds no snapshot of its volumes.
    world.irctl_json("eradicate", "patch", "--instance", iid, "--case", "ir-empty")
    code, out = world.irctl_json("eradicate", "terminate", "instance", iid, "--case",
                                 "ir-empty", "--apply")
    assert code == 2
    assert "no completed snapshot evidence" in json.dumps(out)
    assert state_of(world, iid) == "running"


def test_terminate_after_containment_keeps_evidence(world: World) -> None:
    iid = launch(world, managed=False)
    code, out = world.irctl_json("contain", "instance", iid, "--case", "ir-term", "--apply")
    assert code == 0, out
    # A snapshot that disappeared is no longer evidence: refuse.
    ec2 = world.client("ec2")
    snapshots = ec2.describe_snapshots(OwnerIds=["self"], Filters=[
        {"Name": "tag:ir:case", "Values": ["ir-term"]}])["Snapshots"]
    assert snapshots
    volumes = {m["Ebs"]["VolumeId"] for m in ec2.describe_instances(InstanceIds=[iid])[
        "Reservations"][0]["Instances"][0]["BlockDeviceMappings"]}
    assert {s["VolumeId"] for s in snapshots} == volumes

    code, out = world.irctl_json("eradicate", "terminate", "instance", iid, "--case",
                                 "ir-term", "--apply")

    assert code == 0, out
    assert state_of(world, iid) == "terminated"
    change = out["runs"][0]["targets"][0]["changes"][0]
    assert set(change["after"]["evidence"]) == volumes
    assert ec2.describe_snapshots(SnapshotIds=[s["SnapshotId"] for s in snapshots])[
        "Snapshots"]  # evidence untouched


def test_terminate_refuses_when_recorded_snapshot_was_deleted(world: World) -> None:
    iid = launch(world, managed=False)
    code, out = world.irctl_json("contain", "instance", iid, "--case", "ir-gone", "--apply")
    assert code == 0, out
    ec2 = world.client("ec2")
    for snap in ec2.describe_snapshots(OwnerIds=["self"], Filters=[
            {"Name": "tag:ir:case", "Values": ["ir-gone"]}])["Snapshots"]:
        ec2.delete_snapshot(SnapshotId=snap["SnapshotId"])
    code, out = world.irctl_json("eradicate", "terminate", "instance", iid, "--case",
                                 "ir-gone", "--apply")
    assert code == 2
    assert state_of(world, iid) == "running"


def keys_of(world: World, user: str) -> dict[str, str]:
    listed = world.client("iam").list_access_keys(UserName=user)["AccessKeyMetadata"]
    return {k["AccessKeyId"]: k["Status"] for k in listed}


def test_rotate_key_hands_the_new_key_to_the_owner_and_deactivates_old(world: World) -> None:
    """No generated role may create credentials: --create-new-key creates nothing and
    prints the exact command for the user's owner."""
    iam = world.client("iam")
    user = f"build-bot-{uuid.uuid4().hex[:6]}"
    iam.create_user(UserName=user)
    old = iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]

    result = world.irctl("eradicate", "rotate-key", user, "--create-new-key", "--case",
                         "ir-rot", "--apply", "--output", "json")

    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["handOff"] == {"UserName": user,
                              "commands": [f"aws iam create-access-key --user-name {user}"]}
    assert keys_of(world, user) == {old: "Inactive"}  # nothing created
    text = world.irctl("eradicate", "rotate-key", user, "--create-new-key", "--apply")
    assert f"aws iam create-access-key --user-name {user}" in text.output
    assert keys_of(world, user) == {old: "Inactive"}


def test_rotate_key_without_flag_only_deactivates(world: World) -> None:
    iam = world.client("iam")
    user = f"svc-{uuid.uuid4().hex[:6]}"
    iam.create_user(UserName=user)
    old = iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
    result = world.irctl("eradicate", "rotate-key", user, "--apply")
    assert result.exit_code == 0, result.output
    assert keys_of(world, user) == {old: "Inactive"}
    assert "SecretAccessKey" not in result.output


def test_rotate_key_at_the_key_limit_hands_off_a_delete_first(world: World) -> None:
    iam = world.client("iam")
    user = f"full-{uuid.uuid4().hex[:6]}"
    iam.create_user(UserName=user)
    keys = [iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"] for _ in range(2)]
    code, out = world.irctl_json("eradicate", "rotate-key", user, "--create-new-key",
                                 "--apply")
    # at IAM's two-key limit the owner first deletes one (deactivated keys still count)
    assert code == 0, out
    assert out["handOff"]["commands"][0].startswith(
        f"aws iam delete-access-key --user-name {user} --access-key-id ")
    assert out["handOff"]["commands"][1] == f"aws iam create-access-key --user-name {user}"
    assert keys_of(world, user) == {k: "Inactive" for k in keys}
    text = world.irctl("eradicate", "rotate-key", user, "--create-new-key", "--apply")
    # one pasteable line per command, however narrow the terminal
    assert any(line.strip().startswith(f"aws iam delete-access-key --user-name {user} "
                                       "--access-key-id AKIA")
               for line in text.output.splitlines()), text.output
    code, out = world.irctl_json("eradicate", "rotate-key", "nobody-here", "--apply")
    assert code == 2 and "nobody-here was not found" in out["error"]

