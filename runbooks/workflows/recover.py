"""Recovery: a new instance or volume from an AWS Backup recovery point, a bucket back
to a point in time from S3 versioning. The compromised resource is never touched."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from runbooks.core.errors import InvalidInput, IrError, PreconditionFailed
from runbooks.core.ids import INSTANCE_ID as INSTANCE_ID
from runbooks.workflows.session import (
    SILENT,
    Feedback,
    Outcome,
    Session,
    Settings,
    make_runner,
    open_session,
)

if TYPE_CHECKING:
    from runbooks.core.runner import RunResult

VOLUME_ID = re.compile(r"^vol-[0-9a-f]{8}([0-9a-f]{9})?$")


class JobFailed(IrError):
    """A backup or restore job failed or timed out; the exit code is the cause's."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class JobOptions:
    """How to pick a recovery point and how long to wait for its restore job."""

    recovery_point: str | None = None
    before: datetime | None = None
    vault: str | None = None
    timeout_minutes: int = 240
    poll_seconds: float = 10.0


def newest_recovery_point(backup: Any, resource_arn: str, before: datetime,
                          vault: str | None = None) -> dict[str, Any]:
    """The newest COMPLETED recovery point of `resource_arn` created before `before`.

    `vault`: the readiness vault, named in the refusal (points of every vault count)."""
    from botocore.exceptions import ClientError

    try:
        points = [p for page in backup.get_paginator(
            "list_recovery_points_by_resource").paginate(ResourceArn=resource_arn)
            for p in page.get("RecoveryPoints", [])]
    except ClientError as err:
        # AWS Backup answers this for a resource it has never backed up.
        if err.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise
        points = []
    usable = [p for p in points if p.get("Status") == "COMPLETED"
              and p["CreationDate"] < before]
    if not usable:
        known = ", ".join(sorted(f"{p['CreationDate'].isoformat()} {p.get('Status')}"
                                 for p in points)[-3:]) or "none"
        resource = resource_arn.rsplit("/", 1)[-1]
        where = f" in backup vault {vault} or any other" if vault else ""
        raise PreconditionFailed(
            f"no completed recovery point of {resource}{where} before "
            f"{before.isoformat()} (recovery points: {known}); back it up first "
            "(`irctl backup now`), pick a later --before, or pass --recovery-point ARN")
    best: dict[str, Any] = max(usable, key=lambda p: p["CreationDate"])
    return best


def earlier_result(records: list[dict[str, Any]], step: str, target: str) -> dict[str, Any]:
    """The result of an `applied` `step` on `target` already in the case's audit log."""
    for record in reversed(records):
        if (record.get("event") == "applied" and record.get("step") == step
                and record.get("target") == target):
            result: dict[str, Any] = record.get("result") or {}
            return result
    return {}


def _choose_point(session: Session, kind: str, resource_id: str | None,
                  options: JobOptions) -> tuple[str, str]:
    """(recovery point ARN, its vault)."""
    ctx = session.ctx
    if options.recovery_point:
        return options.recovery_point, options.vault or ctx.manifest.backup.vault_name
    arn = f"arn:aws:ec2:{ctx.region}:{ctx.account_id}:{kind}/{resource_id}"
    point = newest_recovery_point(ctx.client("backup"), arn,
                                  options.before or datetime.now().astimezone(),
                                  options.vault or ctx.manifest.backup.vault_name)
    return str(point["RecoveryPointArn"]), str(point["BackupVaultName"])


def _default_group(session: Session, point: str, vault: str) -> list[str]:
    """The isolation group of the VPC the instance will be restored into."""
    ctx = session.ctx
    metadata = ctx.client("backup").get_recovery_point_restore_metadata(
        BackupVaultName=vault, RecoveryPointArn=point)["RestoreMetadata"]
    subnet = metadata.get("SubnetId")
    if subnet:
        vpc = ctx.client("ec2").describe_subnets(SubnetIds=[subnet])["Subnets"][0]["VpcId"]
        groups = ctx.manifest.quarantine.get(vpc)
        if groups:
            _check_quarantine(session, vpc)
            return [groups.isolation_security_group_id]
    raise InvalidInput("name the security group for the restored instance with "
                       "--security-group sg-... (the manifest has no quarantine group for "
                       "its VPC); it never gets the compromised instance's groups")


def _check_quarantine(session: Session, vpc: str) -> None:
    """Refuse (exit 2, nothing launched) when `vpc`'s quarantine groups drifted from the
    stack's rules: an isolation group opened since would put the restored copy of a
    compromised host on the network, the same check `contain instance` runs."""
    from runbooks.core.quarantine import check_quarantine_groups

    ctx = session.ctx
    groups = ctx.manifest.quarantine[vpc]
    described = {g["GroupId"]: g for g in ctx.client("ec2").describe_security_groups(
        Filters=[{"Name": "group-id", "Values": sorted(groups.group_ids())}])[
        "SecurityGroups"]}
    check_quarantine_groups(vpc, groups, described)


def _restore(settings: Settings, session: Session, kind: str, point: str, vault: str,
             params: dict[str, Any], options: JobOptions, feedback: Feedback) -> Outcome:
    """Plan/start the restore, wait, then tag + verify what it created, then notify."""
    from runbooks.core.runner import APPLIED, StepCall
    from runbooks.steps.backup import wait_for_job

    ctx = session.ctx
    restore_params = {"recovery_point_arn": point, "vault": vault,
                      "resource_type": "EC2" if kind == "instance" else "EBS", **params}
    earlier = earlier_result(session.audit.records(), "backup.start-restore", point)
    results: list[RunResult] = []
    with feedback.progress(f"recover {kind}") as listener:
        runner = make_runner(session, listener)
        if earlier and settings.apply:
            job_id = str(earlier["restoreJobId"])  # resume: this case already started it
            feedback.notice(f"resuming restore job {job_id} started earlier in case "
                            f"{ctx.case_id}")
        else:
            result = runner.run(f"recover {kind}", {point: [
                StepCall("backup.start-restore", restore_params)]})
            results.append(result)
            started = [c for t in result.targets for c in t.changes if c.status == APPLIED]
            if not started:
                if not settings.apply and result.exit_code == 0:
                    feedback.notice(
                        "after the restore: tag the new resource with the case, verify it "
                        + ("runs in the chosen group(s)" if kind == "instance"
                           else "is available") + ", notify the info topic")
                return Outcome(results)
            job_id = str(started[0].result["restoreJobId"])
    client = ctx.client("backup")
    try:
        with feedback.job(f"restore {point.rsplit('/', 1)[-1]}") as update:
            job = wait_for_job(lambda: client.describe_restore_job(RestoreJobId=job_id),
                               "Status", update, options.poll_seconds,
                               options.timeout_minutes * 60)
    except IrError as err:
        session.audit.append("restore-failed", kind=f"recover {kind}", target=point,
                             restoreJobId=job_id, error=str(err))
        raise JobFailed(f"restore job {job_id} of {point}: {err}", err.exit_code) from err
    created = str(job["CreatedResourceArn"])
    session.audit.append("restore-completed", kind=f"recover {kind}", target=point,
                         restoreJobId=job_id, createdResourceArn=created)
    resource_id = created.rsplit("/", 1)[-1]
    groups = sorted(params.get("security_group_ids") or [])
    with feedback.progress(f"recover {kind}") as listener:
        runner = make_runner(session, listener)
        care = runner.run(f"recover {kind}", {resource_id: [
            StepCall("backup.tag-restored", {"resource_arn": created,
                                              "recovery_point_arn": point}),
            StepCall("backup.verify-restored", {"resource_arn": created,
                                                 "security_group_ids": groups,
                                                 "poll_seconds": options.poll_seconds}),
        ]})
        results.append(care)
        if care.exit_code == 0:
            message = (f"ir-readiness case {ctx.case_id}: restored {resource_id} from "
                       f"{point} (restore job {job_id}) by {session.identity.get('Arn')}"
                       + (f"; security groups {', '.join(groups)}" if groups else "")
                       + f".\nTimeline: irctl case show {ctx.case_id}")
            results.append(runner.run("notify", {"info-topic": [StepCall("sns.notify", {
                "severity": "info",
                "subject": f"{ctx.case_id}: restored {kind} {resource_id}",
                "message": message})]}))
    return Outcome(results, {"restoreJobId": job_id, "createdResourceArn": created,
                             "recoveryPointArn": point})


def recover_instance(settings: Settings, instance_id: str | None, options: JobOptions, *,
                     security_groups: tuple[str, ...] = (), subnet: str | None = None,
                     instance_type: str | None = None,
                     feedback: Feedback = SILENT) -> Outcome:
    """A new instance from INSTANCE_ID's newest recovery point before `options.before`
    (or `options.recovery_point`), in the given groups or its VPC's isolation group."""
    from runbooks.steps.backup import SG_ID, SUBNET_ID

    if bool(instance_id) == bool(options.recovery_point):
        raise InvalidInput("give an INSTANCE_ID or --recovery-point ARN (one of them)")
    if instance_id and not INSTANCE_ID.match(instance_id):
        raise InvalidInput(f"{instance_id!r} is not an EC2 instance id (i- followed by 8 or "
                           "17 hex digits)")
    for group in security_groups:
        if not SG_ID.match(group):
            raise InvalidInput(f"--security-group {group!r} is not a security group id")
    if subnet and not SUBNET_ID.match(subnet):
        raise InvalidInput(f"--subnet {subnet!r} is not a subnet id")
    session = open_session(settings, feedback=feedback)
    point, point_vault = _choose_point(session, "instance", instance_id, options)
    groups = list(dict.fromkeys(security_groups)) or _default_group(session, point,
                                                                    point_vault)
    if security_groups:
        # a quarantine group named by hand gets the same check as the default one
        for vpc, quarantine in session.ctx.manifest.quarantine.items():
            if set(groups) & {quarantine.isolation_security_group_id,
                              quarantine.conversion_security_group_id}:
                _check_quarantine(session, vpc)
    params: dict[str, Any] = {"security_group_ids": groups}
    if subnet:
        params["subnet_id"] = subnet
    if instance_type:
        params["instance_type"] = instance_type
    return _restore(settings, session, "instance", point, point_vault, params, options,
                    feedback)


def recover_volume(settings: Settings, volume_id: str | None, options: JobOptions, *,
                   availability_zone: str | None = None,
                   feedback: Feedback = SILENT) -> Outcome:
    """A new, unattached EBS volume from VOLUME_ID's newest recovery point."""
    if bool(volume_id) == bool(options.recovery_point):
        raise InvalidInput("give a VOLUME_ID or --recovery-point ARN (one of them)")
    if volume_id and not VOLUME_ID.match(volume_id):
        raise InvalidInput(f"{volume_id!r} is not an EBS volume id (vol- followed by 8 or 17 "
                           "hex digits)")
    session = open_session(settings, feedback=feedback)
    point, point_vault = _choose_point(session, "volume", volume_id, options)
    params: dict[str, Any] = {}
    if availability_zone:
        params["availability_zone"] = availability_zone
    return _restore(settings, session, "volume", point, point_vault, params, options,
                    feedback)


def recover_bucket(settings: Settings, bucket: str, to: datetime, *, prefix: str = "",
                   delete_new: bool = False, feedback: Feedback = SILENT) -> Outcome:
    """Every key of BUCKET back to its newest version at or before `to`; the JSON's
    `summary` holds the counts and bytes (absent when the run refused)."""
    from runbooks.core.runner import StepCall
    from runbooks.steps.s3_recovery import BUCKET_NAME, analyse

    if not BUCKET_NAME.match(bucket):
        raise InvalidInput(f"{bucket!r} is not a valid S3 bucket name")
    session = open_session(settings, feedback=feedback)
    params = {"bucket": bucket, "to": to.isoformat(), "prefix": prefix}
    steps = [StepCall("s3.restore-versions", params)]
    if delete_new:
        steps.append(StepCall("s3.remove-new-keys", params))
    with feedback.progress("recover bucket") as listener:
        result = make_runner(session, listener).run("recover bucket", {bucket: steps})
    extra: dict[str, Any] = {}
    try:
        totals = analyse(session.ctx, bucket, to, prefix).totals()
    except PreconditionFailed:
        totals = {}  # the run already reports why it refused
    if totals:
        extra["summary"] = totals
        if totals["createdAfter"] and not delete_new:
            result.warnings.append(
                f"{totals['createdAfter']} key(s) ({totals['createdAfterBytes']} bytes) were "
                f"created after {to.isoformat()} and are kept; add --delete-new to remove "
                "them")
        if totals["archivedSkipped"]:
            result.warnings.append(
                f"{totals['archivedSkipped']} key(s) have their version of the time in "
                "GLACIER/DEEP_ARCHIVE: restore those versions (RestoreObject) and re-run")
    return Outcome([result], extra)
