"""AWS Backup recovery steps: on-demand backup, restore, and the restored resource's care.

`backup.start-backup` starts an on-demand job into the manifest's vault with the
manifest's restore role; `backup.start-restore` restores a recovery point with the
restore metadata AWS Backup recorded, overriding only what the responder chose (the
security group, never the compromised instance's groups by default; subnet; instance
type; availability zone). Both start jobs and return their ids; waiting for a job is
`wait_for_job`, used by the commands to drive a progress bar. `backup.tag-restored`
tags what a restore created with the case, and `backup.verify-restored` checks the
instance runs in exactly the groups asked for (or the volume is available).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Annotated, Any

from botocore.exceptions import ClientError
from pydantic import Field

from runbooks.core.errors import ActionFailed, InvalidInput, PreconditionFailed
from runbooks.core.ids import CASE_TAG, INSTANCE_ID
from runbooks.core.scopes import ACCOUNT_ROLES, PASS_TO_BACKUP, PASS_TO_EC2, RUN_WITHOUT_PROFILE
from runbooks.core.step import Change, Check, Step, StepParams, checked_by, register

ARN = re.compile(r"^arn:(aws[a-z-]*):([a-z0-9-]+):([a-z0-9-]*):(\d{12})?:(.+)$")
VOLUME_ID = re.compile(r"^vol-[0-9a-f]{8,17}$")
SG_ID = re.compile(r"^sg-[0-9a-f]{8,17}$")
SUBNET_ID = re.compile(r"^subnet-[0-9a-f]{8,17}$")
RESTORED_FROM_TAG = "ir:restored-from"
FINISHED = {"COMPLETED", "FAILED", "ABORTED", "EXPIRED", "PARTIAL"}


def parse_arn(arn: str, what: str) -> tuple[str, str, str, str]:
    """(service, region, account, resource) of `arn`, or InvalidInput naming `what`."""
    match = ARN.match(arn or "")
    if not match:
        raise InvalidInput(f"{what} {arn!r} is not an ARN (arn:aws:SERVICE:REGION:ACCOUNT:...)")
    return match.group(2), match.group(3), match.group(4) or "", match.group(5)


def role_exists(ctx: Any, role_arn: str) -> None:
    """PreconditionFailed unless the manifest's restore role exists (AWS Backup assumes it)."""
    iam = ctx.client("iam")
    name = role_arn.rsplit("/", 1)[-1]
    try:
        iam.get_role(RoleName=name)
    except ClientError as err:
        if err.response["Error"]["Code"] != "NoSuchEntity":
            raise
        raise PreconditionFailed(
            f"the backup restore role {role_arn} (manifest backup.restoreRoleArn) does not "
            "exist; re-deploy the readiness stack (BackupVault component creates it)"
        ) from err


def vault_exists(ctx: Any, vault: str) -> None:
    try:
        ctx.client("backup").describe_backup_vault(BackupVaultName=vault)
    except ClientError as err:
        if err.response["Error"]["Code"] not in ("ResourceNotFoundException", "AccessDenied"):
            raise
        raise PreconditionFailed(
            f"backup vault {vault!r} (manifest backup.vaultName) is not in "
            f"{ctx.region}: {err.response['Error'].get('Message', '')}; re-deploy the "
            "readiness stack or pass the right --region"
        ) from err


def wait_for_job(
    describe: Callable[[], Mapping[str, Any]],
    state_key: str,
    on_progress: Callable[[float, str], None],
    poll_seconds: float,
    timeout_seconds: float,
) -> Mapping[str, Any]:
    """Poll a Backup/Restore job until it finishes; ActionFailed unless COMPLETED."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        job = describe()
        state = str(job.get(state_key))
        try:
            percent = float(job.get("PercentDone") or 0.0)
        except ValueError:
            percent = 0.0
        on_progress(100.0 if state == "COMPLETED" else percent, state)
        if state == "COMPLETED":
            return job
        if state in FINISHED:
            raise ActionFailed(
                f"job ended {state}: {job.get('StatusMessage') or 'no status message'}"
            )
        if time.monotonic() > deadline:
            raise ActionFailed(
                f"job still {state} after {timeout_seconds / 60:.0f} min; it keeps running "
                "in AWS Backup: check it in the console, or re-run with a longer --timeout"
            )
        time.sleep(poll_seconds)


def _check_region_account(ctx: Any, arn: str, region: str, account: str, what: str) -> None:
    if region and region != ctx.region:
        raise InvalidInput(f"{what} {arn} is in region {region}, not {ctx.region}: "
                           f"pass --region {region}")
    if account and account != ctx.account_id:
        raise InvalidInput(f"{what} {arn} belongs to account {account}, not the manifest's "
                           f"{ctx.account_id}")


def _check_arn(what: str) -> Any:
    return checked_by(lambda value: parse_arn(value if isinstance(value, str) else "", what))


def _check_groups(groups: Any) -> None:
    for group in groups if isinstance(groups, (list, tuple)) else []:
        if not isinstance(group, str) or not SG_ID.match(group):
            raise InvalidInput(f"--security-group {group!r} is not a security group id "
                               "(sg-...)")


def _check_subnet(subnet: Any) -> None:
    if subnet and not (isinstance(subnet, str) and SUBNET_ID.match(subnet)):
        raise InvalidInput(f"--subnet {subnet!r} is not a subnet id (subnet-...)")


GroupIds = Annotated[list[str], checked_by(_check_groups), Field(strict=False)]


class StartBackupParams(StepParams):
    resource_arn: Annotated[str, _check_arn("resource")]


class StartRestoreParams(StepParams):
    recovery_point_arn: Annotated[str, _check_arn("recovery point")]
    vault: Annotated[str, Field(min_length=1, description="the recovery point's vault")]
    resource_type: Annotated[str | None, Field(pattern="^(EC2|EBS)$")] = None
    security_group_ids: GroupIds | None = None
    subnet_id: Annotated[str | None, checked_by(_check_subnet)] = None
    instance_type: str | None = None
    availability_zone: str | None = None


class TagRestoredParams(StepParams):
    resource_arn: Annotated[str, checked_by(lambda v: _resource_id(str(v or "")))]
    recovery_point_arn: str | None = None


class VerifyRestoredParams(StepParams):
    resource_arn: Annotated[str, checked_by(lambda v: _resource_id(str(v or "")))]
    security_group_ids: GroupIds | None = None
    poll_seconds: Annotated[float, Field(gt=0)] = 5


@register
class StartBackup(Step):
    """On-demand backup of `resource_arn` into the manifest's vault, with its restore role."""

    name = "backup.start-backup"
    description = "Start an on-demand AWS Backup job into the readiness vault"
    actions = frozenset({"backup:StartBackupJob", "backup:DescribeBackupVault",
                         "iam:GetRole", "iam:PassRole"})
    scopes = {"iam:GetRole": ACCOUNT_ROLES, "iam:PassRole": PASS_TO_BACKUP}
    reversible = False
    Params = StartBackupParams

    def check(self) -> None:
        _, region, account, _ = parse_arn(str(self.params["resource_arn"]), "resource")
        _check_region_account(self.ctx, self.params["resource_arn"], region, account,
                              "resource")

    def plan(self) -> list[Change]:
        backup = self.ctx.manifest.backup
        vault_exists(self.ctx, backup.vault_name)
        role_exists(self.ctx, backup.restore_role_arn)
        arn = self.params["resource_arn"]
        return [Change(self.name, arn,
                       f"Start on-demand backup of {arn} into vault {backup.vault_name}",
                       after={"vault": backup.vault_name, "role": backup.restore_role_arn})]

    def apply(self, change: Change) -> Mapping[str, Any]:
        job = self.ctx.client("backup").start_backup_job(
            BackupVaultName=change.after["vault"],
            ResourceArn=change.target,
            IamRoleArn=change.after["role"],
            IdempotencyToken=f"{self.ctx.case_id}:{change.target}"[:128],
            RecoveryPointTags={CASE_TAG: self.ctx.case_id},
        )
        return {"backupJobId": job["BackupJobId"], "recoveryPointArn": job["RecoveryPointArn"]}


@register
class StartRestore(Step):
    """Restore `recovery_point_arn` (in `vault`) as a new EC2 instance or EBS volume.

    Params: `security_group_ids` (instance; replaces the recorded groups), `subnet_id`,
    `instance_type`, `availability_zone` (volume). Plan reads the recovery point and its
    restore metadata and checks the role, groups and subnet; nothing is created.
    """

    name = "backup.start-restore"
    description = "Restore an AWS Backup recovery point with chosen overrides"
    actions = frozenset({"backup:DescribeRecoveryPoint", "backup:GetRecoveryPointRestoreMetadata",
                         "backup:StartRestoreJob", "iam:GetRole", "iam:PassRole",
                         "ec2:DescribeSecurityGroups", "ec2:DescribeSubnets",
                         "ec2:RunInstances", "ec2:CreateVolume", "ec2:CreateTags"})
    scopes = {"iam:GetRole": ACCOUNT_ROLES, "iam:PassRole": (PASS_TO_BACKUP, PASS_TO_EC2),
              "ec2:RunInstances": RUN_WITHOUT_PROFILE}
    reversible = False
    Params = StartRestoreParams

    def check(self) -> None:
        arn = str(self.params["recovery_point_arn"])
        service, region, account, _ = parse_arn(arn, "recovery point")
        if service not in ("ec2", "backup"):
            raise InvalidInput(f"recovery point {arn} is not an EC2/EBS recovery point")
        _check_region_account(self.ctx, arn, region, account, "recovery point")

    def plan(self) -> list[Change]:
        backup = self.ctx.client("backup")
        arn, vault = self.params["recovery_point_arn"], self.params["vault"]
        try:
            point = backup.describe_recovery_point(BackupVaultName=vault, RecoveryPointArn=arn)
        except ClientError as err:
            if err.response["Error"]["Code"] != "ResourceNotFoundException":
                raise
            raise PreconditionFailed(f"recovery point {arn} is not in vault {vault}") from err
        if point["Status"] != "COMPLETED":
            raise PreconditionFailed(f"recovery point {arn} is {point['Status']}, not "
                                     "COMPLETED; pick an earlier one with --before")
        role = self.ctx.manifest.backup.restore_role_arn
        role_exists(self.ctx, role)
        metadata = dict(backup.get_recovery_point_restore_metadata(
            BackupVaultName=vault, RecoveryPointArn=arn)["RestoreMetadata"])
        resource_type = point["ResourceType"]
        expected = self.params.get("resource_type")
        if expected and resource_type != expected:
            raise PreconditionFailed(
                f"recovery point {arn} is a backup of {point['ResourceArn']} "
                f"({resource_type}), not of an {expected} resource; use `irctl recover "
                f"{'instance' if resource_type == 'EC2' else 'volume'}` for it")
        if resource_type == "EC2":
            metadata = self._instance_metadata(metadata, point["ResourceArn"])
            what = (f"launch an instance ({metadata.get('InstanceType')}) in "
                    f"{metadata.get('SubnetId') or 'the default subnet'} with groups "
                    f"{', '.join(json.loads(metadata['SecurityGroupIds']))}")
        elif resource_type == "EBS":
            if self.params.get("availability_zone"):
                metadata["availabilityZone"] = self.params["availability_zone"]
            what = (f"create a {metadata.get('volumeSize')} GiB volume in "
                    f"{metadata.get('availabilityZone')}")
        else:
            raise PreconditionFailed(f"recovery point {arn} is a {resource_type} backup; "
                                     "irctl restores EC2 instances and EBS volumes")
        created = point["CreationDate"]
        when = (created.isoformat(timespec="seconds") if isinstance(created, datetime)
                else str(created))
        return [Change(self.name, arn,
                       f"Restore {point['ResourceArn']} as of {when}: {what}",
                       before={"resourceArn": point["ResourceArn"], "created": when},
                       after={"metadata": metadata, "resourceType": resource_type,
                              "role": role})]

    def _instance_metadata(self, metadata: dict[str, str], source_arn: str) -> dict[str, str]:
        groups = list(self.params.get("security_group_ids") or [])
        if not groups:
            raise InvalidInput("name the security group the restored instance goes into "
                               "(--security-group sg-...); it never gets the compromised "
                               "instance's groups by default")
        subnet = self.params.get("subnet_id") or metadata.get("SubnetId")
        ec2 = self.ctx.client("ec2")
        try:
            found = ec2.describe_security_groups(GroupIds=groups)["SecurityGroups"]
        except ClientError as err:
            if err.response["Error"]["Code"] != "InvalidGroup.NotFound":
                raise
            raise InvalidInput(f"security group(s) {', '.join(groups)} not found in "
                               f"{self.ctx.region}: {err.response['Error']['Message']}") from err
        if subnet:
            try:
                vpc = ec2.describe_subnets(SubnetIds=[subnet])["Subnets"][0]["VpcId"]
            except ClientError as err:
                if err.response["Error"]["Code"] != "InvalidSubnetID.NotFound":
                    raise
                raise InvalidInput(f"subnet {subnet} not found in {self.ctx.region}; pass "
                                   "--subnet in the VPC to restore into") from err
            elsewhere = [g["GroupId"] for g in found if g.get("VpcId") != vpc]
            if elsewhere:
                raise InvalidInput(f"security group(s) {', '.join(elsewhere)} are not in "
                                   f"{vpc}, the VPC of subnet {subnet}; pick groups of that "
                                   "VPC or another --subnet")
            metadata["SubnetId"] = subnet
        metadata["SecurityGroupIds"] = json.dumps(groups)
        metadata.pop("NetworkInterfaces", None)  # would bring back the original groups
        if self.params.get("instance_type"):
            metadata["InstanceType"] = self.params["instance_type"]
        return metadata

    def apply(self, change: Change) -> Mapping[str, Any]:
        job = self.ctx.client("backup").start_restore_job(
            RecoveryPointArn=change.target,
            Metadata=dict(change.after["metadata"]),
            IamRoleArn=change.after["role"],
            IdempotencyToken=f"{self.ctx.case_id}:{change.target}"[:128],
            ResourceType=change.after["resourceType"],
        )
        return {"restoreJobId": job["RestoreJobId"]}


def _resource_id(arn: str) -> str:
    _, _, _, resource = parse_arn(arn, "restored resource")
    kind, _, resource_id = resource.partition("/")
    if not ((kind == "instance" and INSTANCE_ID.match(resource_id))
            or (kind == "volume" and VOLUME_ID.match(resource_id))):
        raise InvalidInput(f"{arn} is not an EC2 instance or EBS volume ARN")
    return resource_id


@register
class TagRestored(Step):
    """Tag the restored instance/volume with the case and the recovery point it came from."""

    name = "backup.tag-restored"
    description = "Tag a restored instance or volume with the case"
    actions = frozenset({"ec2:DescribeTags", "ec2:CreateTags", "ec2:DeleteTags"})
    Params = TagRestoredParams
    # as `irctl recover instance` records it (`recover volume` for a restored volume)
    release_kind = "recover instance"

    def plan(self) -> list[Change]:
        resource_id = _resource_id(self.params["resource_arn"])
        wanted = {CASE_TAG: self.ctx.case_id,
                  RESTORED_FROM_TAG: str(self.params.get("recovery_point_arn", ""))[:256]}
        tags = self.ctx.client("ec2").describe_tags(
            Filters=[{"Name": "resource-id", "Values": [resource_id]}])["Tags"]
        current = {t["Key"]: t["Value"] for t in tags}
        missing = {k: v for k, v in wanted.items() if current.get(k) != v}
        if not missing:
            return []
        return [Change(self.name, resource_id,
                       f"Tag {resource_id} with case {self.ctx.case_id}",
                       before={k: current.get(k) for k in missing}, after=missing)]

    def apply(self, change: Change) -> Mapping[str, Any]:
        self.ctx.client("ec2").create_tags(
            Resources=[change.target],
            Tags=[{"Key": k, "Value": v} for k, v in change.after.items()])
        return {}

    def rollback(self, change: Change, result: Mapping[str, Any]) -> None:
        ec2 = self.ctx.client("ec2")
        restore = {k: v for k, v in change.before.items() if v is not None}
        drop = [k for k, v in change.before.items() if v is None]
        if drop:
            ec2.delete_tags(Resources=[change.target], Tags=[{"Key": k} for k in drop])
        if restore:
            ec2.create_tags(Resources=[change.target],
                            Tags=[{"Key": k, "Value": v} for k, v in restore.items()])

    def verify(self, change: Change, result: Mapping[str, Any]) -> Check:
        tags = self.ctx.client("ec2").describe_tags(
            Filters=[{"Name": "resource-id", "Values": [change.target]}])["Tags"]
        live = {t["Key"]: t["Value"] for t in tags}
        wanted = dict(change.after)
        differs = sorted(k for k, v in wanted.items() if live.get(k) != v)
        return Check("containment", change.target, f"tags {', '.join(sorted(wanted))}",
                     "as tagged", "as tagged" if not differs else
                     "changed: " + ", ".join(f"{k}={live.get(k)}" for k in differs),
                     not differs)


@register
class VerifyRestored(Step):
    """Check the restored instance runs in exactly the groups asked for / volume available."""

    name = "backup.verify-restored"
    description = "Verify a restored instance runs isolated as asked, or a volume is available"
    actions = frozenset({"ec2:DescribeInstances", "ec2:DescribeVolumes"})
    reversible = False
    Params = VerifyRestoredParams

    def plan(self) -> list[Change]:
        resource_id = _resource_id(self.params["resource_arn"])
        groups = sorted(self.params.get("security_group_ids") or [])
        what = (f"running with groups {', '.join(groups)}" if resource_id.startswith("i-")
                else "available")
        return [Change(self.name, resource_id, f"Verify {resource_id} is {what}",
                       after={"securityGroupIds": groups})]

    def apply(self, change: Change) -> Mapping[str, Any]:
        ec2 = self.ctx.client("ec2")
        delay = float(self.params.get("poll_seconds", 5))
        attempts = max(1, int(600 / max(delay, 0.1)))
        config = {"Delay": max(1, int(delay)) if delay >= 1 else 1, "MaxAttempts": attempts}
        if change.target.startswith("vol-"):
            ec2.get_waiter("volume_available").wait(VolumeIds=[change.target],
                                                    WaiterConfig=config)
            return {"state": "available"}
        ec2.get_waiter("instance_running").wait(InstanceIds=[change.target],
                                                WaiterConfig=config)
        instance = ec2.describe_instances(InstanceIds=[change.target])[
            "Reservations"][0]["Instances"][0]
        groups = sorted({g["GroupId"] for eni in instance.get("NetworkInterfaces", [])
                         for g in eni.get("Groups", [])})
        if groups != list(change.after["securityGroupIds"]):
            raise ActionFailed(f"restored instance {change.target} has groups "
                               f"{', '.join(groups)}, expected "
                               f"{', '.join(change.after['securityGroupIds'])}; fix them "
                               "before letting traffic in")
        return {"state": instance["State"]["Name"], "securityGroupIds": groups}
