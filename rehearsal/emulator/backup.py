"""AWS Backup jobs, recovery points and restores for EC2 instances and EBS volumes.

A backup of an instance creates a real moto AMI (recovery point
`arn:aws:ec2:<region>::image/ami-...`, as AWS names EC2 recovery points); a backup of a
volume creates a real snapshot (`...::snapshot/snap-...`). A restore of an EC2 recovery
point launches a real moto instance from that image with the restore metadata given
(SubnetId, SecurityGroupIds, InstanceType, ...); a restore of an EBS recovery point
creates a real volume from the snapshot. The resources are created when the job
starts; jobs then report RUNNING (with PercentDone) for `job_seconds` and COMPLETED
after, so a waiting client sees the transitions. Failures inside a job (resource gone,
security group unknown) end the job FAILED with a StatusMessage, as in AWS.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import unquote

from moto.backup.responses import BackupResponse
from moto.core.responses import ActionResult

from rehearsal.emulator import backup_config
from rehearsal.emulator._util import add_url_paths, backend_state, reroute, service_error

_settings_lock = threading.Lock()
_job_seconds = float(os.environ.get("IR_EMULATOR_BACKUP_JOB_SECONDS", "0.5"))


def set_job_seconds(seconds: float) -> None:
    """How long backup and restore jobs stay RUNNING before they complete (default 0.5)."""
    global _job_seconds
    if seconds < 0:
        raise ValueError(f"job seconds must be >= 0, got {seconds}")
    with _settings_lock:
        _job_seconds = seconds


def _now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class RecoveryPoint:
    arn: str
    vault_name: str
    vault_arn: str
    resource_arn: str
    resource_type: str
    iam_role_arn: str
    created: datetime
    ready_at: datetime
    size_bytes: int
    restore_metadata: dict[str, str]
    encryption_key_arn: str | None = None
    tags: dict[str, str] = field(default_factory=dict)

    def status(self) -> str:
        return "COMPLETED" if _now() >= self.ready_at else "CREATING"

    def describe(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "RecoveryPointArn": self.arn,
            "BackupVaultName": self.vault_name,
            "BackupVaultArn": self.vault_arn,
            "ResourceArn": self.resource_arn,
            "ResourceType": self.resource_type,
            "ResourceName": self.resource_arn.rsplit("/", 1)[-1],
            "CreatedBy": {},
            "IamRoleArn": self.iam_role_arn,
            "Status": self.status(),
            "CreationDate": self.created,
            "BackupSizeInBytes": self.size_bytes,
            "CalculatedLifecycle": {},
            "Lifecycle": {},
            "IsEncrypted": self.encryption_key_arn is not None,
            "StorageClass": "WARM",
            "VaultType": "BACKUP_VAULT",
            "IsParent": False,
        }
        if self.status() == "COMPLETED":
            doc["CompletionDate"] = self.ready_at
        if self.encryption_key_arn:
            doc["EncryptionKeyArn"] = self.encryption_key_arn
        return doc

    def by_resource(self) -> dict[str, Any]:
        doc = self.describe()
        keep = (
            "RecoveryPointArn",
            "CreationDate",
            "Status",
            "EncryptionKeyArn",
            "BackupVaultName",
            "IsParent",
            "ResourceName",
            "VaultType",
        )
        out = {k: doc[k] for k in keep if k in doc}
        out["BackupSizeBytes"] = self.size_bytes
        return out


@dataclass
class Job:
    job_id: str
    kind: str  # "backup" | "restore"
    account_id: str
    resource_type: str
    iam_role_arn: str
    recovery_point_arn: str
    created: datetime
    done_at: datetime
    resource_arn: str = ""
    vault_name: str = ""
    vault_arn: str = ""
    created_resource_arn: str = ""
    failure: str = ""
    size_bytes: int = 0

    def state(self) -> str:
        if self.failure:
            return "FAILED"
        if _now() >= self.done_at:
            return "COMPLETED"
        return "RUNNING" if self.kind == "backup" else "RUNNING"

    def percent(self) -> str:
        if self.state() in ("COMPLETED", "FAILED"):
            return "100.0"
        total = (self.done_at - self.created).total_seconds() or 1.0
        return f"{min(99.0, 100.0 * (_now() - self.created).total_seconds() / total):.1f}"

    def describe(self) -> dict[str, Any]:
        state = self.state()
        doc: dict[str, Any] = {
            "AccountId": self.account_id,
            "RecoveryPointArn": self.recovery_point_arn,
            "CreationDate": self.created,
            "PercentDone": self.percent(),
            "IamRoleArn": self.iam_role_arn,
            "ResourceType": self.resource_type,
        }
        if self.kind == "backup":
            doc.update(
                {
                    "BackupJobId": self.job_id,
                    "BackupVaultName": self.vault_name,
                    "BackupVaultArn": self.vault_arn,
                    "ResourceArn": self.resource_arn,
                    "ResourceName": self.resource_arn.rsplit("/", 1)[-1],
                    "State": state,
                    "BackupSizeInBytes": self.size_bytes,
                    "IsParent": False,
                    "StartBy": self.created + timedelta(hours=8),
                }
            )
        else:
            doc.update({"RestoreJobId": self.job_id, "Status": state})
            doc["BackupSizeInBytes"] = self.size_bytes
            if state == "COMPLETED":
                doc["CreatedResourceArn"] = self.created_resource_arn
        if state == "COMPLETED":
            doc["CompletionDate"] = self.done_at
        if self.failure:
            doc["StatusMessage"] = self.failure
            if self.kind == "restore":
                doc["StatusMessage"] = self.failure
        return doc


@dataclass
class BackupState:
    jobs: dict[str, Job] = field(default_factory=dict)
    restores: dict[str, Job] = field(default_factory=dict)
    points: dict[str, RecoveryPoint] = field(default_factory=dict)
    tokens: dict[tuple[str, str], str] = field(default_factory=dict)
    """(kind, IdempotencyToken) -> job id: a repeated request returns the same job."""
    lock: threading.Lock = field(default_factory=threading.Lock)


def _arn_parts(arn: str) -> tuple[str, str, str, str]:
    """(service, region, account, resource) of an ARN; InvalidParameterValue otherwise."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        raise service_error("InvalidParameterValueException", f"Invalid ARN: {arn}")
    return parts[2], parts[3], parts[4], parts[5]


def _page(items: list[Any], params: Mapping[str, Any], key: str) -> dict[str, Any]:
    max_results = int(params.get("MaxResults") or 1000)
    if not 1 <= max_results <= 1000:
        raise service_error(
            "InvalidParameterValueException", "MaxResults must be between 1 and 1000"
        )
    token = params.get("NextToken") or "0"
    if not str(token).isdigit():
        raise service_error("InvalidParameterValueException", "Invalid NextToken")
    start = int(token)
    out: dict[str, Any] = {key: items[start : start + max_results]}
    if start + max_results < len(items):
        out["NextToken"] = str(start + max_results)
    return out


class EmulatedBackupResponse(backup_config.BackupConfigMixin, BackupResponse):
    # -- helpers -----------------------------------------------------------------------
    def _params(self) -> dict[str, Any]:
        self.parse_parameters(self.normalized_request)
        params = dict(self.params)
        for key in ("recoveryPointArn", "resourceArn", "backupVaultName"):
            if key in self.uri_match:
                params.setdefault(key, unquote(self.uri_match[key]))
        return params

    def _state(self) -> BackupState:
        return backend_state(self.backup_backend, "jobs", BackupState)

    def _ec2(self) -> Any:
        from moto.ec2.models import ec2_backends

        return ec2_backends[self.current_account][self.region]

    def _vault(self, name: str) -> Any:
        vault = self.backup_backend.vaults.get(name)
        if vault is None:
            raise service_error("ResourceNotFoundException", f"Backup vault {name} does not exist")
        return vault

    def _require_role(self, role_arn: str | None) -> str:
        from moto.iam.models import iam_backends

        if not role_arn:
            raise service_error("MissingParameterValueException", "IamRoleArn is required")
        service, _, account, resource = _arn_parts(role_arn)
        if service != "iam" or not resource.startswith("role/"):
            raise service_error(
                "InvalidParameterValueException", f"Invalid IAM role ARN: {role_arn}"
            )
        name = resource.rsplit("/", 1)[-1]
        roles = iam_backends[account or self.current_account]["aws"].roles.values()
        if not any(role.name == name for role in roles):
            raise service_error(
                "InvalidParameterValueException",
                f"IAM Role {role_arn} does not exist or cannot be assumed by AWS Backup",
            )
        return role_arn

    def _point(self, arn: str) -> RecoveryPoint:
        point = self._state().points.get(arn)
        if point is None:
            raise service_error("ResourceNotFoundException", f"Recovery point {arn} not found")
        return point

    # -- vaults (moto omits the recovery point count and deletes non-empty vaults) ------
    def describe_backup_vault(self) -> ActionResult:
        vault = self._vault(unquote(self.path.split("/")[-1]))
        doc = vault.to_list_dict()
        doc["VaultType"] = "BACKUP_VAULT"
        return ActionResult(doc)

    def delete_backup_vault(self) -> ActionResult:  # type: ignore[override]
        name = unquote(self.path.split("/")[-1])
        vault = self._vault(name)
        if vault.num_of_recovery_points:
            raise service_error(
                "InvalidRequestException",
                f"Backup vault {name} cannot be deleted "
                f"(contains {vault.num_of_recovery_points} recovery points)",
            )
        return super().delete_backup_vault()

    # -- backup ------------------------------------------------------------------------
    def start_backup_job(self) -> ActionResult:
        params = self._params()
        token = params.get("IdempotencyToken")
        earlier = self._state().tokens.get(("backup", token)) if token else None
        if earlier:
            job = self._state().jobs[earlier]
            return ActionResult(
                {
                    "BackupJobId": job.job_id,
                    "RecoveryPointArn": job.recovery_point_arn,
                    "CreationDate": job.created,
                    "IsParent": False,
                }
            )
        vault = self._vault(params["BackupVaultName"])
        role_arn = self._require_role(params.get("IamRoleArn"))
        resource_arn = params["ResourceArn"]
        service, region, account, resource = _arn_parts(resource_arn)
        kind = resource.split("/", 1)[0]
        if service != "ec2" or kind not in ("instance", "volume"):
            raise service_error(
                "InvalidParameterValueException",
                f"Resource type of {resource_arn} is not supported by this emulator "
                "(EC2 instances and EBS volumes are)",
            )
        if region != self.region or account != self.current_account:
            raise service_error(
                "InvalidParameterValueException",
                f"{resource_arn} is not in account {self.current_account} region {self.region}",
            )
        created = _now()
        job = Job(
            job_id=str(uuid.uuid4()).upper(),
            kind="backup",
            account_id=self.current_account,
            resource_type="EC2" if kind == "instance" else "EBS",
            iam_role_arn=role_arn,
            recovery_point_arn="",
            created=created,
            done_at=created + timedelta(seconds=_job_seconds),
            resource_arn=resource_arn,
            vault_name=vault.backup_vault_name,
            vault_arn=vault.backup_vault_arn,
        )
        from moto.ec2.exceptions import EC2ClientError

        resource_id = resource.split("/", 1)[1]
        try:
            if kind == "instance":
                point_arn, size, metadata = self._backup_instance(resource_id, job.job_id)
            else:
                point_arn, size, metadata = self._backup_volume(resource_id, job.job_id)
        except EC2ClientError as err:
            job.failure = f"Resource {resource_arn} could not be backed up: {err.message}"
            job.recovery_point_arn = (
                f"arn:aws:backup:{self.region}:{self.current_account}:recovery-point:{job.job_id}"
            )
        else:
            job.recovery_point_arn = point_arn
            job.size_bytes = size
            tags = dict(params.get("RecoveryPointTags") or {})
            point = RecoveryPoint(
                arn=point_arn,
                vault_name=vault.backup_vault_name,
                vault_arn=vault.backup_vault_arn,
                resource_arn=resource_arn,
                resource_type=job.resource_type,
                iam_role_arn=role_arn,
                created=created,
                ready_at=job.done_at,
                size_bytes=size,
                restore_metadata=metadata,
                encryption_key_arn=vault.encryption_key_arn,
                tags=tags,
            )
            with self._state().lock:
                self._state().points[point_arn] = point
            vault.num_of_recovery_points += 1
        with self._state().lock:
            self._state().jobs[job.job_id] = job
            if token:
                self._state().tokens[("backup", token)] = job.job_id
        return ActionResult(
            {
                "BackupJobId": job.job_id,
                "RecoveryPointArn": job.recovery_point_arn,
                "CreationDate": created,
                "IsParent": False,
            }
        )

    def _backup_instance(self, instance_id: str, job_id: str) -> tuple[str, int, dict[str, str]]:
        ec2 = self._ec2()
        instance = ec2.get_instance(instance_id)
        if instance.state == "terminated":
            from moto.ec2.exceptions import InvalidInstanceIdError

            raise InvalidInstanceIdError(instance_id)
        image = ec2.create_image(
            instance_id,
            name=f"AwsBackup_{instance_id}_{job_id}",
            description=f"This AMI was created by AWS Backup for {instance_id}",
            tag_specifications=[],
        )
        primary = instance.nics.get(0)
        groups = [g.id for g in primary.group_set] if primary else []
        metadata = {
            "InstanceType": instance.instance_type,
            "SubnetId": instance.subnet_id or "",
            "SecurityGroupIds": json.dumps(groups),
            "Placement": json.dumps({"AvailabilityZone": instance.placement.zone}),
            "RequireIMDSv2": "false",
            "aws:backup:request-id": job_id,
        }
        if instance.key_name:
            metadata["KeyName"] = instance.key_name
        association = ec2.iam_instance_profile_associations.get(instance_id)
        if association is not None:
            metadata["IamInstanceProfileName"] = association.iam_instance_profile.name
        size = sum(int(v.size) for v in ec2.volumes.values() if _attached_to(v, instance_id))
        arn = f"arn:aws:ec2:{self.region}::image/{image.id}"
        return arn, size * 1024**3, metadata

    def _backup_volume(self, volume_id: str, job_id: str) -> tuple[str, int, dict[str, str]]:
        ec2 = self._ec2()
        volume = ec2.get_volume(volume_id)
        snapshot = ec2.create_snapshot(
            volume_id, description=f"This snapshot is created by the AWS Backup job {job_id}"
        )
        metadata = {
            "volumeId": volume_id,
            "volumeSize": str(volume.size),
            "volumeType": volume.volume_type,
            "availabilityZone": volume.zone.name,
            "encrypted": "true" if volume.encrypted else "false",
        }
        if volume.kms_key_id:
            metadata["kmsKeyId"] = volume.kms_key_id
        if volume.iops:
            metadata["iops"] = str(volume.iops)
        arn = f"arn:aws:ec2:{self.region}::snapshot/{snapshot.id}"
        return arn, int(volume.size) * 1024**3, metadata

    def describe_backup_job(self) -> ActionResult:
        params = self._params()
        job = self._state().jobs.get(params["BackupJobId"])
        if job is None:
            raise service_error(
                "ResourceNotFoundException", f"Backup job {params['BackupJobId']} not found"
            )
        return ActionResult(job.describe())

    def list_backup_jobs(self) -> ActionResult:
        params = self._params()
        jobs = [j.describe() for j in self._state().jobs.values()]
        filters = {
            "ByResourceArn": "ResourceArn",
            "ByState": "State",
            "ByBackupVaultName": "BackupVaultName",
            "ByResourceType": "ResourceType",
            "ByAccountId": "AccountId",
        }
        for param, key in filters.items():
            if params.get(param):
                jobs = [j for j in jobs if j.get(key) == params[param]]
        if params.get("ByCreatedAfter"):
            jobs = [j for j in jobs if j["CreationDate"] >= params["ByCreatedAfter"]]
        if params.get("ByCreatedBefore"):
            jobs = [j for j in jobs if j["CreationDate"] <= params["ByCreatedBefore"]]
        jobs.sort(key=lambda j: j["CreationDate"], reverse=True)
        return ActionResult(_page(jobs, params, "BackupJobs"))

    # -- recovery points ---------------------------------------------------------------
    def list_recovery_points_by_backup_vault(self) -> ActionResult:
        params = self._params()
        vault_name = params["BackupVaultName"]
        self._vault(vault_name)
        points = [p for p in self._state().points.values() if p.vault_name == vault_name]
        if params.get("ByResourceArn"):
            points = [p for p in points if p.resource_arn == params["ByResourceArn"]]
        if params.get("ByResourceType"):
            points = [p for p in points if p.resource_type == params["ByResourceType"]]
        if params.get("ByCreatedBefore"):
            points = [p for p in points if p.created <= params["ByCreatedBefore"]]
        if params.get("ByCreatedAfter"):
            points = [p for p in points if p.created >= params["ByCreatedAfter"]]
        points.sort(key=lambda p: p.created, reverse=True)
        return ActionResult(_page([p.describe() for p in points], params, "RecoveryPoints"))

    def list_recovery_points_by_resource(self) -> ActionResult:
        params = self._params()
        resource_arn = params["ResourceArn"]
        points = [p for p in self._state().points.values() if p.resource_arn == resource_arn]
        points.sort(key=lambda p: p.created, reverse=True)
        return ActionResult(_page([p.by_resource() for p in points], params, "RecoveryPoints"))

    def describe_recovery_point(self) -> ActionResult:
        params = self._params()
        point = self._point(params["RecoveryPointArn"])
        if point.vault_name != params["BackupVaultName"]:
            raise service_error(
                "ResourceNotFoundException",
                f"Recovery point {point.arn} is not in vault {params['BackupVaultName']}",
            )
        return ActionResult(point.describe())

    def get_recovery_point_restore_metadata(self) -> ActionResult:
        params = self._params()
        point = self._point(params["RecoveryPointArn"])
        if point.vault_name != params["BackupVaultName"]:
            raise service_error(
                "ResourceNotFoundException",
                f"Recovery point {point.arn} is not in vault {params['BackupVaultName']}",
            )
        return ActionResult(
            {
                "BackupVaultArn": point.vault_arn,
                "RecoveryPointArn": point.arn,
                "RestoreMetadata": dict(point.restore_metadata),
                "ResourceType": point.resource_type,
            }
        )

    # -- restore -----------------------------------------------------------------------
    def start_restore_job(self) -> ActionResult:
        params = self._params()
        token = params.get("IdempotencyToken")
        earlier = self._state().tokens.get(("restore", token)) if token else None
        if earlier:
            return ActionResult({"RestoreJobId": earlier})
        point = self._point(params["RecoveryPointArn"])
        role_arn = self._require_role(params.get("IamRoleArn"))
        if point.status() != "COMPLETED":
            raise service_error(
                "InvalidRequestException",
                f"Recovery point {point.arn} is not available for restore yet "
                f"(status {point.status()})",
            )
        metadata = dict(params.get("Metadata") or {})
        created = _now()
        job = Job(
            job_id=str(uuid.uuid4()).upper(),
            kind="restore",
            account_id=self.current_account,
            resource_type=point.resource_type,
            iam_role_arn=role_arn,
            recovery_point_arn=point.arn,
            created=created,
            done_at=created + timedelta(seconds=_job_seconds),
            size_bytes=point.size_bytes,
        )
        from moto.ec2.exceptions import EC2ClientError

        try:
            if point.resource_type == "EC2":
                job.created_resource_arn = self._restore_instance(point, metadata, job)
            else:
                job.created_resource_arn = self._restore_volume(point, metadata)
        except EC2ClientError as err:
            job.failure = f"Restore failed: {err.message}"
        with self._state().lock:
            self._state().restores[job.job_id] = job
            if token:
                self._state().tokens[("restore", token)] = job.job_id
        return ActionResult({"RestoreJobId": job.job_id})

    def _restore_instance(self, point: RecoveryPoint, metadata: dict[str, str], job: Job) -> str:
        ec2 = self._ec2()
        image_id = point.arn.rsplit("/", 1)[-1]
        ec2.describe_images(ami_ids=[image_id])
        subnet_id = metadata.get("SubnetId") or None
        groups = json.loads(metadata.get("SecurityGroupIds") or "[]")
        for group_id in groups:
            if ec2.get_security_group_from_id(group_id) is None:
                from moto.ec2.exceptions import InvalidSecurityGroupNotFoundError

                raise InvalidSecurityGroupNotFoundError(group_id)
        if metadata.get("NetworkInterfaces"):
            nics = json.loads(metadata["NetworkInterfaces"])
        else:
            # The groups go on the ENI, where EC2 keeps an instance's groups.
            nic: dict[str, Any] = {"DeviceIndex": 0, "Groups": groups}
            if subnet_id:
                nic["SubnetId"] = subnet_id
            nics = [nic]
        kwargs: dict[str, Any] = {
            "instance_type": metadata.get("InstanceType") or "m1.small",
            "is_instance_type_default": not metadata.get("InstanceType"),
            "region_name": self.region,
            "nics": nics,
            "key_name": metadata.get("KeyName") or None,
            "tags": {"instance": {"aws:backup:source-resource": point.resource_arn}},
            "client_token": job.job_id,
        }
        placement = json.loads(metadata.get("Placement") or "{}")
        if placement.get("AvailabilityZone") and not subnet_id:
            kwargs["placement"] = placement["AvailabilityZone"]
        reservation = ec2.run_instances(image_id, 1, None, [], **kwargs)
        instance = reservation.instances[0]
        if metadata.get("IamInstanceProfileName"):
            ec2.associate_iam_instance_profile(
                instance_id=instance.id,
                iam_instance_profile_name=metadata["IamInstanceProfileName"],
            )
        return f"arn:aws:ec2:{self.region}:{self.current_account}:instance/{instance.id}"

    def _restore_volume(self, point: RecoveryPoint, metadata: dict[str, str]) -> str:
        ec2 = self._ec2()
        snapshot = ec2.get_snapshot(point.arn.rsplit("/", 1)[-1])
        original = point.restore_metadata
        zone = metadata.get("availabilityZone") or original["availabilityZone"]
        volume = ec2.create_volume(
            size=int(metadata.get("volumeSize") or snapshot.volume.size),
            zone_name=zone,
            snapshot_id=snapshot.id,
            encrypted=(metadata.get("encrypted") or original.get("encrypted")) == "true",
            kms_key_id=metadata.get("kmsKeyId") or original.get("kmsKeyId"),
            volume_type=metadata.get("volumeType") or original.get("volumeType"),
        )
        return f"arn:aws:ec2:{self.region}:{self.current_account}:volume/{volume.id}"

    def describe_restore_job(self) -> ActionResult:
        params = self._params()
        job = self._state().restores.get(params["RestoreJobId"])
        if job is None:
            raise service_error(
                "ResourceNotFoundException", f"Restore job {params['RestoreJobId']} not found"
            )
        return ActionResult(job.describe())

    def list_restore_jobs(self) -> ActionResult:
        params = self._params()
        jobs = [j.describe() for j in self._state().restores.values()]
        if params.get("ByStatus"):
            jobs = [j for j in jobs if j["Status"] == params["ByStatus"]]
        if params.get("ByResourceType"):
            jobs = [j for j in jobs if j["ResourceType"] == params["ByResourceType"]]
        jobs.sort(key=lambda j: j["CreationDate"], reverse=True)
        return ActionResult(_page(jobs, params, "RestoreJobs"))


def _attached_to(volume: Any, instance_id: str) -> bool:
    attachment = getattr(volume, "attachment", None)
    return attachment is not None and attachment.instance.id == instance_id


def install() -> None:
    import moto.backup.urls as urls

    reroute(urls, BackupResponse, EmulatedBackupResponse)
    add_url_paths(
        urls,
        EmulatedBackupResponse.dispatch,
        [
            # Both spellings: moto server's Flask map strips a trailing "/?".
            "{0}/backup-jobs$",
            "{0}/backup-jobs/$",
            "{0}/backup-jobs/(?P<backup_job_id>[^/]+)$",
            "{0}/restore-jobs$",
            "{0}/restore-jobs/$",
            "{0}/restore-jobs/(?P<restore_job_id>[^/]+)$",
            "{0}/backup-vaults/(?P<vault>[^/]+)/recovery-points/$",
            "{0}/backup-vaults/(?P<vault>[^/]+)/recovery-points/(?P<point>.+)$",
            "{0}/resources/(?P<resource>.+)/recovery-points/$",
            *backup_config.ROUTES,
        ],
    )
