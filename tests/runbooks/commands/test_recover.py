"""`irctl backup now` and `irctl recover instance|volume` end to end: irctl as a subprocess
against the emulator server (AWS Backup jobs, recovery points and restores emulated over
real moto AMIs, snapshots, instances and volumes); assertions on EC2/Backup state."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from rehearsal.emulator.backup import set_job_seconds
from runbooks.core.manifest_schema import MANIFEST_PARAMETER
from tests.runbooks.conftest import ACCOUNT, Readiness, launch_instances, s3_clock_behind

pytestmark = pytest.mark.server
FAST = ("--poll-seconds", "0.2")


@pytest.fixture
def world(server_readiness: Readiness) -> Readiness:
    set_job_seconds(0.4)
    backup = server_readiness.manifest["backup"]
    # IAM is global in the emulator: a role name of this test's own.
    backup["restoreRoleArn"] = f"arn:aws:iam::{ACCOUNT}:role/ir-restore-{uuid.uuid4().hex[:8]}"
    server_readiness.client("ssm").put_parameter(
        Name=MANIFEST_PARAMETER, Value=json.dumps(server_readiness.manifest), Type="String",
        Overwrite=True)
    server_readiness.client("backup").create_backup_vault(BackupVaultName=backup["vaultName"])
    server_readiness.client("iam").create_role(
        RoleName=backup["restoreRoleArn"].rsplit("/", 1)[-1],
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "backup.amazonaws.com"},
            "Action": "sts:AssumeRole"}]}))
    return server_readiness


def _instance(world: Readiness, instance_id: str) -> dict:
    return world.client("ec2").describe_instances(InstanceIds=[instance_id])[
        "Reservations"][0]["Instances"][0]


def _all_instances(world: Readiness) -> set[str]:
    pages = world.client("ec2").get_paginator("describe_instances").paginate()
    return {i["InstanceId"] for p in pages for r in p["Reservations"] for i in r["Instances"]}


def _backup(world: Readiness, resource: str) -> str:
    done = world.irctl("backup", "now", resource, "--apply", "--output", "json", *FAST)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["recoveryPointArn"]


def test_backup_now_plans_then_creates_a_recovery_point(world: Readiness) -> None:
    [instance_id] = launch_instances(world, 1, volumes=1)
    vault = world.manifest["backup"]["vaultName"]
    backup = world.client("backup")

    plan = world.irctl("backup", "now", instance_id)
    assert plan.returncode == 0, plan.stderr
    assert "Plan only" in plan.stdout
    assert backup.list_recovery_points_by_backup_vault(BackupVaultName=vault)[
        "RecoveryPoints"] == []

    point = _backup(world, instance_id)
    points = backup.list_recovery_points_by_backup_vault(BackupVaultName=vault)[
        "RecoveryPoints"]
    assert [p["RecoveryPointArn"] for p in points] == [point]
    assert points[0]["ResourceArn"].endswith(f"instance/{instance_id}")
    assert points[0]["Status"] == "COMPLETED"
    image_id = point.rsplit("/", 1)[-1]
    assert world.client("ec2").describe_images(ImageIds=[image_id])["Images"]


def test_backup_now_of_a_missing_instance_reports_the_failed_job(world: Readiness) -> None:
    gone = "i-0123456789abcdef0"
    done = world.irctl("backup", "now", gone, "--apply", *FAST)
    assert done.returncode == 1
    assert "FAILED" in done.stderr and gone in done.stderr


def test_recover_instance_into_the_named_group(world: Readiness) -> None:
    ec2 = world.client("ec2")
    app_sg = ec2.create_security_group(GroupName=f"app-{uuid.uuid4().hex[:6]}",
                                       Description="app", VpcId=world.vpc_id)["GroupId"]
    clean_sg = ec2.create_security_group(GroupName=f"clean-{uuid.uuid4().hex[:6]}",
                                         Description="clean", VpcId=world.vpc_id)["GroupId"]
    [victim] = launch_instances(world, 1, volumes=1, groups=[app_sg])
    point = _backup(world, victim)
    case = f"case-{uuid.uuid4().hex[:8]}"
    before = _all_instances(world)

    plan = world.irctl("recover", "instance", victim, "--before",
                       datetime.now(timezone.utc).isoformat(), "--security-group", clean_sg,
                       "--case", case, *FAST)
    assert plan.returncode == 0, plan.stderr
    assert _all_instances(world) == before  # a plan changes nothing

    done = world.irctl("recover", "instance", victim, "--security-group", clean_sg,
                       "--case", case, "--apply", "--output", "json", *FAST)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["recoveryPointArn"] == point
    restored_id = report["createdResourceArn"].rsplit("/", 1)[-1]
    assert _all_instances(world) == before | {restored_id}
    restored = _instance(world, restored_id)
    assert restored["State"]["Name"] == "running"
    assert restored["ImageId"] == point.rsplit("/", 1)[-1]
    assert [g["GroupId"] for g in restored["NetworkInterfaces"][0]["Groups"]] == [clean_sg]
    tags = {t["Key"]: t["Value"] for t in restored.get("Tags", [])}
    assert tags["ir:case"] == case
    assert tags["ir:restored-from"] == point
    original = _instance(world, victim)
    assert [g["GroupId"] for g in original["NetworkInterfaces"][0]["Groups"]] == [app_sg]
    notified = [r for r in report["runs"] if r["kind"] == "notify"]
    assert notified and notified[0]["targets"][0]["status"] == "done"

    # Same case again: resumes the finished restore job, launches nothing new.
    again = world.irctl("recover", "instance", victim, "--security-group", clean_sg,
                        "--case", case, "--apply", "--output", "json", *FAST)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["createdResourceArn"] == report["createdResourceArn"]
    assert _all_instances(world) == before | {restored_id}


def test_recover_instance_defaults_to_the_isolation_group(world: Readiness) -> None:
    [victim] = launch_instances(world, 1, volumes=1)
    _backup(world, victim)
    done = world.irctl("recover", "instance", victim, "--apply", "--output", "json", *FAST)
    assert done.returncode == 0, done.stderr
    restored_id = json.loads(done.stdout)["createdResourceArn"].rsplit("/", 1)[-1]
    isolation = world.manifest["quarantine"][world.vpc_id]["isolationSecurityGroupId"]
    groups = [g["GroupId"] for g in _instance(world, restored_id)["NetworkInterfaces"][0][
        "Groups"]]
    assert groups == [isolation]


@pytest.mark.parametrize("named", [False, True], ids=["default group", "named by hand"])
def test_recover_instance_refuses_a_drifted_isolation_group(world: Readiness,
                                                           named: bool) -> None:
    """The same quarantine drift check as `contain instance` (issue #16 section 4): an
    isolation group opened since the stack made it would put the restored copy of a
    compromised host on the network. Exit 2, the drift named, nothing launched."""
    [victim] = launch_instances(world, 1, volumes=1)
    _backup(world, victim)
    isolation = world.manifest["quarantine"][world.vpc_id]["isolationSecurityGroupId"]
    world.client("ec2").authorize_security_group_ingress(GroupId=isolation, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
         "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    before = _all_instances(world)
    restores = len(world.client("backup").list_restore_jobs()["RestoreJobs"])

    done = world.irctl("recover", "instance", victim, "--apply", *FAST,
                       *(("--security-group", isolation) if named else ()))

    assert done.returncode == 2, (done.stdout, done.stderr)
    assert f"isolation group {isolation}: inbound tcp:22-22 0.0.0.0/0 present" in \
        done.stderr, done.stderr
    assert _all_instances(world) == before
    assert len(world.client("backup").list_restore_jobs()["RestoreJobs"]) == restores


def test_recover_instance_picks_the_newest_point_before_the_time(world: Readiness) -> None:
    [victim] = launch_instances(world, 1, volumes=1)
    first = _backup(world, victim)
    between = datetime.now(timezone.utc)
    second = _backup(world, victim)
    assert first != second
    done = world.irctl("recover", "instance", victim, "--before", between.isoformat(),
                       "--output", "json")
    assert done.returncode == 0, done.stderr
    planned = json.loads(done.stdout)["runs"][0]["targets"][0]
    assert planned["target"] == first


def test_recover_volume(world: Readiness) -> None:
    ec2 = world.client("ec2")
    volume_id = ec2.create_volume(Size=5, AvailabilityZone="us-east-1a")["VolumeId"]
    point = _backup(world, volume_id)
    done = world.irctl("recover", "volume", volume_id, "--apply", "--output", "json", *FAST)
    assert done.returncode == 0, done.stderr
    new_id = json.loads(done.stdout)["createdResourceArn"].rsplit("/", 1)[-1]
    new = ec2.describe_volumes(VolumeIds=[new_id])["Volumes"][0]
    assert new["SnapshotId"] == point.rsplit("/", 1)[-1]
    assert new["Size"] == 5 and new["State"] == "available"
    assert {t["Key"]: t["Value"] for t in new["Tags"]}["ir:case"]


def test_recover_instance_refuses_a_volume_recovery_point(world: Readiness) -> None:
    volume_id = world.client("ec2").create_volume(Size=1, AvailabilityZone="us-east-1a")[
        "VolumeId"]
    point = _backup(world, volume_id)
    done = world.irctl("recover", "instance", "--recovery-point", point, "--security-group",
                       world.manifest["quarantine"][world.vpc_id]["isolationSecurityGroupId"],
                       "--apply")
    assert done.returncode == 2
    assert "irctl recover volume" in done.stdout + done.stderr


def test_bad_input_changes_nothing(world: Readiness) -> None:
    [victim] = launch_instances(world, 1, volumes=1)
    before = _all_instances(world)
    restores = len(world.client("backup").list_restore_jobs()["RestoreJobs"])
    future = (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()

    refused = world.irctl("recover", "instance", victim, "--before", future)
    assert refused.returncode == 2 and "future" in refused.stderr

    none_yet = world.irctl("recover", "instance", victim, "--apply")
    assert none_yet.returncode == 2
    assert "no completed recovery point" in none_yet.stderr

    _backup(world, victim)
    too_early = world.irctl("recover", "instance", victim, "--before", "2020-01-01T00:00:00Z",
                            "--apply")
    assert too_early.returncode == 2 and "before 2020-01-01" in too_early.stderr

    missing_sg = world.irctl("recover", "instance", victim, "--security-group",
                             "sg-0123456789abcdef0", "--apply")
    assert missing_sg.returncode == 2
    assert "sg-0123456789abcdef0" in missing_sg.stdout + missing_sg.stderr

    world.client("iam").delete_role(
        RoleName=world.manifest["backup"]["restoreRoleArn"].rsplit("/", 1)[-1])
    no_role = world.irctl("recover", "instance", victim, "--apply")
    assert no_role.returncode == 2 and "restore role" in no_role.stdout + no_role.stderr
    no_role_backup = world.irctl("backup", "now", victim, "--apply")
    assert no_role_backup.returncode == 2
    assert "restore role" in no_role_backup.stdout + no_role_backup.stderr

    assert _all_instances(world) == before
    assert len(world.client("backup").list_restore_jobs()["RestoreJobs"]) == restores


def test_recover_bucket_end_to_end(world: Readiness) -> None:
    s3 = world.client("s3")
    bucket = f"customer-data-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    originals = {f"k{i}": f"good {i}".encode() for i in range(6)}
    with s3_clock_behind(10):  # written 10 s ago; T 5 s ago (S3 times are to the second)
        for key, body in originals.items():
            s3.put_object(Bucket=bucket, Key=key, Body=body)
    at = (datetime.now(timezone.utc) - timedelta(seconds=5)).isoformat()
    for key in ("k0", "k1", "k2"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"encrypted!")
    s3.delete_object(Bucket=bucket, Key="k3")
    s3.put_object(Bucket=bucket, Key="HOW-TO-DECRYPT.txt", Body=b"ransom")
    case = f"case-{uuid.uuid4().hex[:8]}"

    plan = world.irctl("recover", "bucket", bucket, "--to", at, "--case", case,
                       "--output", "json")
    assert plan.returncode == 0, plan.stderr
    summary = json.loads(plan.stdout)["summary"]
    assert (summary["overwritten"], summary["deleted"], summary["createdAfter"]) == (3, 1, 1)
    assert summary["overwrittenBytes"] == sum(len(originals[k]) for k in ("k0", "k1", "k2"))
    assert s3.get_object(Bucket=bucket, Key="k0")["Body"].read() == b"encrypted!"

    done = world.irctl("recover", "bucket", bucket, "--to", at, "--case", case, "--apply")
    assert done.returncode == 0, done.stderr
    assert "--delete-new" in done.stdout  # the kept ransom note is pointed out
    for key, body in originals.items():
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body
    assert s3.get_object(Bucket=bucket, Key="HOW-TO-DECRYPT.txt")["Body"].read() == b"ransom"

    rerun = world.irctl("recover", "bucket", bucket, "--to", at, "--case", case, "--apply",
                        "--delete-new", "--output", "json")
    assert rerun.returncode == 0, rerun.stderr
    changes = [c for r in json.loads(rerun.stdout)["runs"] for t in r["targets"]
               for c in t["changes"]]
    assert [c["step"] for c in changes] == ["s3.remove-new-keys"]  # restores already done
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}
    assert keys == set(originals)

    # Removing new keys is reversible: release deletes the delete markers it added.
    undo = world.irctl("release", "recover bucket", bucket, "--case", case, "--apply")
    assert undo.returncode == 0, undo.stdout + undo.stderr
    assert s3.get_object(Bucket=bucket, Key="HOW-TO-DECRYPT.txt")["Body"].read() == b"ransom"
    for key, body in originals.items():  # restores are not undone
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body


def test_recover_bucket_refuses_without_versioning_or_with_a_future_time(
        world: Readiness) -> None:
    s3 = world.client("s3")
    bucket = f"plain-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    off = world.irctl("recover", "bucket", bucket, "--to", "1h", "--apply")
    assert off.returncode == 2
    assert "versioning" in off.stdout + off.stderr
    future = (datetime.now(timezone.utc) + timedelta(days=1)).isoformat()
    ahead = world.irctl("recover", "bucket", bucket, "--to", future, "--apply")
    assert ahead.returncode == 2 and "future" in ahead.stderr
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"
