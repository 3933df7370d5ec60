from __future__ import annotations

import json
import time
import uuid

import pytest
from botocore.exceptions import ClientError

from rehearsal.emulator.backup import set_job_seconds

ACCOUNT = "123456789012"
REGION = "us-east-1"


@pytest.fixture(autouse=True)
def short_jobs():
    set_job_seconds(0.3)
    yield
    set_job_seconds(0.5)


@pytest.fixture
def world(client):
    ec2, iam, backup = client("ec2"), client("iam"), client("backup")
    role = iam.create_role(
        RoleName=f"restore-{uuid.uuid4().hex[:8]}", AssumeRolePolicyDocument="{}"
    )["Role"]["Arn"]
    vault = f"vault-{uuid.uuid4().hex[:8]}"
    backup.create_backup_vault(BackupVaultName=vault)
    return ec2, backup, role, vault


def _wait(describe, key: str) -> dict:
    seen = []
    for _ in range(50):
        doc = describe()
        seen.append(doc[key])
        if doc[key] in ("COMPLETED", "FAILED"):
            return {**doc, "seen": seen}
        time.sleep(0.05)
    raise AssertionError(f"job never finished: {seen}")


def test_instance_backup_and_restore_launch_real_resources(world) -> None:
    ec2, backup, role, vault = world
    instance_id = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)["Instances"][0][
        "InstanceId"
    ]
    resource_arn = f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{instance_id}"

    started = backup.start_backup_job(
        BackupVaultName=vault, ResourceArn=resource_arn, IamRoleArn=role
    )
    job = _wait(lambda: backup.describe_backup_job(BackupJobId=started["BackupJobId"]), "State")
    assert job["seen"][0] == "RUNNING" and job["State"] == "COMPLETED"
    assert job["ResourceArn"] == resource_arn and job["ResourceType"] == "EC2"
    point_arn = started["RecoveryPointArn"]
    image_id = point_arn.rsplit("/", 1)[-1]
    assert point_arn == f"arn:aws:ec2:{REGION}::image/{image_id}"
    image = ec2.describe_images(ImageIds=[image_id])["Images"][0]
    assert image["State"] == "available"

    by_vault = backup.list_recovery_points_by_backup_vault(BackupVaultName=vault)
    assert [p["RecoveryPointArn"] for p in by_vault["RecoveryPoints"]] == [point_arn]
    by_resource = backup.list_recovery_points_by_resource(ResourceArn=resource_arn)
    assert [p["RecoveryPointArn"] for p in by_resource["RecoveryPoints"]] == [point_arn]
    point = backup.describe_recovery_point(BackupVaultName=vault, RecoveryPointArn=point_arn)
    assert point["Status"] == "COMPLETED" and point["ResourceArn"] == resource_arn
    assert backup.describe_backup_vault(BackupVaultName=vault)["NumberOfRecoveryPoints"] == 1

    metadata = backup.get_recovery_point_restore_metadata(
        BackupVaultName=vault, RecoveryPointArn=point_arn
    )["RestoreMetadata"]
    original = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    assert metadata["SubnetId"] == original["SubnetId"]
    assert json.loads(metadata["SecurityGroupIds"]) == [
        g["GroupId"] for g in original["NetworkInterfaces"][0]["Groups"]
    ]

    clean_sg = ec2.create_security_group(GroupName=f"clean-{uuid.uuid4().hex[:6]}", Description="c")
    metadata["SecurityGroupIds"] = json.dumps([clean_sg["GroupId"]])
    restore = backup.start_restore_job(
        RecoveryPointArn=point_arn, Metadata=metadata, IamRoleArn=role
    )
    done = _wait(
        lambda: backup.describe_restore_job(RestoreJobId=restore["RestoreJobId"]), "Status"
    )
    assert done["Status"] == "COMPLETED"
    restored_id = done["CreatedResourceArn"].rsplit("/", 1)[-1]
    restored = ec2.describe_instances(InstanceIds=[restored_id])["Reservations"][0]["Instances"][0]
    assert restored["ImageId"] == image_id
    assert restored["State"]["Name"] == "running"
    assert [g["GroupId"] for g in restored["NetworkInterfaces"][0]["Groups"]] == [
        clean_sg["GroupId"]
    ]
    assert restored_id != instance_id


def test_volume_backup_and_restore(world) -> None:
    ec2, backup, role, vault = world
    volume = ec2.create_volume(Size=20, AvailabilityZone=f"{REGION}b", VolumeType="gp3")
    resource_arn = f"arn:aws:ec2:{REGION}:{ACCOUNT}:volume/{volume['VolumeId']}"
    started = backup.start_backup_job(
        BackupVaultName=vault, ResourceArn=resource_arn, IamRoleArn=role
    )
    snapshot_id = started["RecoveryPointArn"].rsplit("/", 1)[-1]
    snapshot = ec2.describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"][0]
    assert snapshot["VolumeId"] == volume["VolumeId"]
    _wait(lambda: backup.describe_backup_job(BackupJobId=started["BackupJobId"]), "State")
    metadata = backup.get_recovery_point_restore_metadata(
        BackupVaultName=vault, RecoveryPointArn=started["RecoveryPointArn"]
    )["RestoreMetadata"]
    assert metadata["volumeSize"] == "20" and metadata["availabilityZone"] == f"{REGION}b"

    restore = backup.start_restore_job(
        RecoveryPointArn=started["RecoveryPointArn"], Metadata=metadata, IamRoleArn=role
    )
    done = _wait(
        lambda: backup.describe_restore_job(RestoreJobId=restore["RestoreJobId"]), "Status"
    )
    new_id = done["CreatedResourceArn"].rsplit("/", 1)[-1]
    new = ec2.describe_volumes(VolumeIds=[new_id])["Volumes"][0]
    assert new["SnapshotId"] == snapshot_id and new["Size"] == 20
    assert new["AvailabilityZone"] == f"{REGION}b"


def test_list_backup_jobs_filters_by_resource_and_state(world) -> None:
    ec2, backup, role, vault = world
    volumes = [
        ec2.create_volume(Size=1, AvailabilityZone=f"{REGION}a")["VolumeId"] for _ in range(2)
    ]
    arns = [f"arn:aws:ec2:{REGION}:{ACCOUNT}:volume/{v}" for v in volumes]
    for arn in arns:
        backup.start_backup_job(BackupVaultName=vault, ResourceArn=arn, IamRoleArn=role)
    assert len(backup.list_backup_jobs(ByBackupVaultName=vault)["BackupJobs"]) == 2
    only = backup.list_backup_jobs(ByResourceArn=arns[0])["BackupJobs"]
    assert [j["ResourceArn"] for j in only] == [arns[0]]
    time.sleep(0.35)
    assert (
        len(backup.list_backup_jobs(ByState="COMPLETED", ByBackupVaultName=vault)["BackupJobs"])
        == 2
    )


def test_backup_of_a_missing_instance_fails_the_job(world) -> None:
    _, backup, role, vault = world
    arn = f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/i-0123456789abcdef0"
    started = backup.start_backup_job(BackupVaultName=vault, ResourceArn=arn, IamRoleArn=role)
    job = backup.describe_backup_job(BackupJobId=started["BackupJobId"])
    assert job["State"] == "FAILED" and "i-0123456789abcdef0" in job["StatusMessage"]
    assert (
        backup.list_recovery_points_by_backup_vault(BackupVaultName=vault)["RecoveryPoints"] == []
    )


def _code(call) -> str:
    with pytest.raises(ClientError) as err:
        call()
    return err.value.response["Error"]["Code"]


def test_bad_requests_get_aws_error_codes(world) -> None:
    ec2, backup, role, vault = world
    volume = ec2.create_volume(Size=1, AvailabilityZone=f"{REGION}a")["VolumeId"]
    arn = f"arn:aws:ec2:{REGION}:{ACCOUNT}:volume/{volume}"
    assert (
        _code(
            lambda: backup.start_backup_job(
                BackupVaultName="no-such-vault", ResourceArn=arn, IamRoleArn=role
            )
        )
        == "ResourceNotFoundException"
    )
    missing_role = f"arn:aws:iam::{ACCOUNT}:role/not-there"
    assert (
        _code(
            lambda: backup.start_backup_job(
                BackupVaultName=vault, ResourceArn=arn, IamRoleArn=missing_role
            )
        )
        == "InvalidParameterValueException"
    )
    assert (
        _code(lambda: backup.describe_backup_job(BackupJobId="nope")) == "ResourceNotFoundException"
    )
    assert (
        _code(lambda: backup.describe_restore_job(RestoreJobId="nope"))
        == "ResourceNotFoundException"
    )
    assert (
        _code(lambda: backup.list_recovery_points_by_backup_vault(BackupVaultName="no-such-vault"))
        == "ResourceNotFoundException"
    )

    started = backup.start_backup_job(BackupVaultName=vault, ResourceArn=arn, IamRoleArn=role)
    point = started["RecoveryPointArn"]
    # Not restorable until the backup job has completed.
    assert (
        _code(
            lambda: backup.start_restore_job(RecoveryPointArn=point, Metadata={}, IamRoleArn=role)
        )
        == "InvalidRequestException"
    )
    assert (
        _code(
            lambda: backup.start_restore_job(
                RecoveryPointArn=f"arn:aws:ec2:{REGION}::snapshot/snap-0000000000000000a",
                Metadata={},
                IamRoleArn=role,
            )
        )
        == "ResourceNotFoundException"
    )
    time.sleep(0.35)
    assert (
        _code(
            lambda: backup.start_restore_job(
                RecoveryPointArn=point, Metadata={}, IamRoleArn=missing_role
            )
        )
        == "InvalidParameterValueException"
    )


def test_idempotency_token_returns_the_same_job(world) -> None:
    ec2, backup, role, vault = world
    volume = ec2.create_volume(Size=1, AvailabilityZone=f"{REGION}a")["VolumeId"]
    arn = f"arn:aws:ec2:{REGION}:{ACCOUNT}:volume/{volume}"
    first = backup.start_backup_job(
        BackupVaultName=vault, ResourceArn=arn, IamRoleArn=role, IdempotencyToken="t-1"
    )
    second = backup.start_backup_job(
        BackupVaultName=vault, ResourceArn=arn, IamRoleArn=role, IdempotencyToken="t-1"
    )
    assert first["BackupJobId"] == second["BackupJobId"]
    assert (
        len(
            ec2.describe_snapshots(Filters=[{"Name": "volume-id", "Values": [volume]}])["Snapshots"]
        )
        == 1
    )
    time.sleep(0.35)
    restores = {
        backup.start_restore_job(
            RecoveryPointArn=first["RecoveryPointArn"],
            Metadata={},
            IamRoleArn=role,
            IdempotencyToken="r-1",
        )["RestoreJobId"]
        for _ in range(2)
    }
    assert len(restores) == 1
