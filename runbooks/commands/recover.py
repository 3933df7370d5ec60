"""`irctl recover instance|volume|bucket`: back to a known-good state from the backups the
readiness stack provisioned (AWS Backup recovery points, S3 versioning)."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any

import click

from runbooks.commands._recovery import (
    INSTANCE_ID,
    VOLUME_ID,
    earlier_result,
    job_progress,
    newest_recovery_point,
    parse_time,
)
from runbooks.commands._shared import (
    Session,
    Settings,
    common_options,
    fail,
    handle_errors,
    make_runner,
    open_session,
    pass_settings,
    progress,
    render_results,
    stderr_console,
)
from runbooks.core.errors import InvalidInput, IrError, PreconditionFailed


@click.group("recover")
def recover() -> None:
    """Restore from AWS Backup recovery points or S3 versions (plan; --apply acts)."""


def _job_options(fn: Any) -> Any:
    fn = click.option("--poll-seconds", type=click.FloatRange(0.1, 300), default=10.0,
                      show_default=True, help="How often to check the restore job.")(fn)
    fn = click.option("--timeout-minutes", type=click.IntRange(1, 1440), default=240,
                      show_default=True,
                      help="Stop waiting after this long (the job keeps going).")(fn)
    fn = click.option("--vault", help="Vault of --recovery-point (default: the manifest's).")(fn)
    fn = click.option("--before", metavar="TIME",
                      help="Newest recovery point created before TIME (ISO 8601, or 6h / 2d "
                           "ago). Default: now.")(fn)
    fn = click.option("--recovery-point", "recovery_point", metavar="ARN",
                      help="Restore this recovery point instead of choosing one.")(fn)
    return fn


def _choose_point(session: Session, kind: str, resource_id: str | None,
                  recovery_point: str | None, before: datetime,
                  vault: str | None) -> tuple[str, str]:
    """(recovery point ARN, its vault)."""
    ctx = session.ctx
    if recovery_point:
        return recovery_point, vault or ctx.manifest["backup"]["vaultName"]
    arn = f"arn:aws:ec2:{ctx.region}:{ctx.account_id}:{kind}/{resource_id}"
    point = newest_recovery_point(ctx.client("backup"), arn, before,
                                  vault or ctx.manifest["backup"]["vaultName"])
    return str(point["RecoveryPointArn"]), str(point["BackupVaultName"])


def _default_group(session: Session, point: str, vault: str) -> list[str]:
    """The isolation group of the VPC the instance will be restored into."""
    ctx = session.ctx
    metadata = ctx.client("backup").get_recovery_point_restore_metadata(
        BackupVaultName=vault, RecoveryPointArn=point)["RestoreMetadata"]
    subnet = metadata.get("SubnetId")
    if subnet:
        vpc = ctx.client("ec2").describe_subnets(SubnetIds=[subnet])["Subnets"][0]["VpcId"]
        groups = ctx.manifest.get("quarantine", {}).get(vpc)
        if groups:
            return [str(groups["isolationSecurityGroupId"])]
    raise InvalidInput("name the security group for the restored instance with "
                       "--security-group sg-... (the manifest has no quarantine group for "
                       "its VPC); it never gets the compromised instance's groups")


def _restore(settings: Settings, session: Session, kind: str, point: str, vault: str,
             params: dict[str, Any], timeout_minutes: int, poll_seconds: float) -> None:
    """Plan/start the restore, wait, then tag + verify what it created, then notify."""
    from runbooks.core.runner import APPLIED, StepCall
    from runbooks.steps.backup import wait_for_job

    ctx = session.ctx
    restore_params = {"recovery_point_arn": point, "vault": vault,
                      "resource_type": "EC2" if kind == "instance" else "EBS", **params}
    earlier = earlier_result(session.audit.records(), "backup.start-restore", point)
    results = []
    with progress(settings, f"recover {kind}") as listener:
        runner = make_runner(session, listener)
        if earlier and settings.apply:
            job_id = str(earlier["restoreJobId"])  # resume: this case already started it
            stderr_console().print(f"resuming restore job {job_id} started earlier in case "
                                   f"{ctx.case_id}", highlight=False)
        else:
            result = runner.run(f"recover {kind}", {point: [
                StepCall("backup.start-restore", restore_params)]})
            results.append(result)
            started = [c for t in result.targets for c in t.changes if c.status == APPLIED]
            if not started:
                if not settings.apply and result.exit_code == 0:
                    stderr_console().print(
                        "after the restore: tag the new resource with the case, verify it "
                        + ("runs in the chosen group(s)" if kind == "instance"
                           else "is available") + ", notify the info topic", highlight=False)
                sys.exit(render_results(settings, results))
            job_id = str(started[0].result["restoreJobId"])
    client = ctx.client("backup")
    try:
        with job_progress(settings, f"restore {point.rsplit('/', 1)[-1]}") as update:
            job = wait_for_job(lambda: client.describe_restore_job(RestoreJobId=job_id),
                               "Status", update, poll_seconds, timeout_minutes * 60)
    except IrError as err:
        session.audit.append("restore-failed", kind=f"recover {kind}", target=point,
                             restoreJobId=job_id, error=str(err))
        fail(settings, f"restore job {job_id} of {point}: {err}", err.exit_code)
    created = str(job["CreatedResourceArn"])
    session.audit.append("restore-completed", kind=f"recover {kind}", target=point,
                         restoreJobId=job_id, createdResourceArn=created)
    resource_id = created.rsplit("/", 1)[-1]
    groups = sorted(params.get("security_group_ids") or [])
    with progress(settings, f"recover {kind}") as listener:
        runner = make_runner(session, listener)
        care = runner.run(f"recover {kind}", {resource_id: [
            StepCall("backup.tag-restored", {"resource_arn": created,
                                              "recovery_point_arn": point}),
            StepCall("backup.verify-restored", {"resource_arn": created,
                                                 "security_group_ids": groups,
                                                 "poll_seconds": poll_seconds}),
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
    sys.exit(render_results(settings, results, {"restoreJobId": job_id,
                                                "createdResourceArn": created,
                                                "recoveryPointArn": point}))


@recover.command("instance")
@common_options
@click.argument("instance_id", required=False)
@_job_options
@click.option("--security-group", "security_groups", multiple=True, metavar="SG",
              help="Group(s) for the restored instance (repeatable). Default: the "
                   "quarantine isolation group of its VPC from the manifest.")
@click.option("--subnet", help="Subnet to restore into (default: the original subnet).")
@click.option("--instance-type", help="Instance type (default: the original type).")
@pass_settings
@handle_errors
def instance(settings: Settings, instance_id: str | None, recovery_point: str | None,
             before: str | None, vault: str | None, timeout_minutes: int,
             poll_seconds: float, security_groups: tuple[str, ...], subnet: str | None,
             instance_type: str | None) -> None:
    """Restore INSTANCE_ID as a new instance from its newest recovery point before --before.

    Reads the recovery point's restore metadata, starts the restore job with the
    manifest's restore role, waits (progress bar), tags the new instance with the case,
    checks it runs in exactly the security group(s) asked for, and notifies the info
    topic. The compromised instance is not touched. Re-running with the same --case
    resumes the restore job instead of starting another.

    \b
    Examples:
      irctl recover instance i-0123456789abcdef0 --before 2026-11-28T02:00:00Z
      irctl recover instance i-0123456789abcdef0 --before 6h --security-group sg-0abc... --apply
      irctl recover instance --recovery-point arn:aws:ec2:eu-west-1::image/ami-0abc... --apply
    """
    if bool(instance_id) == bool(recovery_point):
        raise InvalidInput("give an INSTANCE_ID or --recovery-point ARN (one of them)")
    if instance_id and not INSTANCE_ID.match(instance_id):
        raise InvalidInput(f"{instance_id!r} is not an EC2 instance id (i- followed by 8 or "
                           "17 hex digits)")
    moment = parse_time(before, "--before") if before else datetime.now().astimezone()
    from runbooks.steps.backup import SG_ID, SUBNET_ID

    for group in security_groups:
        if not SG_ID.match(group):
            raise InvalidInput(f"--security-group {group!r} is not a security group id")
    if subnet and not SUBNET_ID.match(subnet):
        raise InvalidInput(f"--subnet {subnet!r} is not a subnet id")
    session = open_session(settings)
    point, point_vault = _choose_point(session, "instance", instance_id, recovery_point,
                                       moment, vault)
    groups = list(dict.fromkeys(security_groups)) or _default_group(session, point,
                                                                    point_vault)
    params: dict[str, Any] = {"security_group_ids": groups}
    if subnet:
        params["subnet_id"] = subnet
    if instance_type:
        params["instance_type"] = instance_type
    _restore(settings, session, "instance", point, point_vault, params, timeout_minutes,
             poll_seconds)


@recover.command("volume")
@common_options
@click.argument("volume_id", required=False)
@_job_options
@click.option("--availability-zone", help="Zone of the new volume (default: the original).")
@pass_settings
@handle_errors
def volume(settings: Settings, volume_id: str | None, recovery_point: str | None,
           before: str | None, vault: str | None, timeout_minutes: int, poll_seconds: float,
           availability_zone: str | None) -> None:
    """Restore VOLUME_ID as a new EBS volume from its newest recovery point before --before.

    The new volume is tagged with the case and left unattached (attach it to a clean or
    forensic instance); the original volume is not touched.

    \b
    Examples:
      irctl recover volume vol-0123456789abcdef0 --before 2026-11-28T02:00:00Z --apply
      irctl recover volume --recovery-point arn:aws:ec2:eu-west-1::snapshot/snap-0abc... --apply
    """
    if bool(volume_id) == bool(recovery_point):
        raise InvalidInput("give a VOLUME_ID or --recovery-point ARN (one of them)")
    if volume_id and not VOLUME_ID.match(volume_id):
        raise InvalidInput(f"{volume_id!r} is not an EBS volume id (vol- followed by 8 or 17 "
                           "hex digits)")
    moment = parse_time(before, "--before") if before else datetime.now().astimezone()
    session = open_session(settings)
    point, point_vault = _choose_point(session, "volume", volume_id, recovery_point, moment,
                                       vault)
    params: dict[str, Any] = {}
    if availability_zone:
        params["availability_zone"] = availability_zone
    _restore(settings, session, "volume", point, point_vault, params, timeout_minutes,
             poll_seconds)


@recover.command("bucket")
@common_options
@click.argument("bucket")
@click.option("--to", "to", required=True, metavar="TIME",
              help="Return every key to its newest version at or before TIME (ISO 8601, or "
                   "6h / 2d ago).")
@click.option("--prefix", default="", help="Only keys under this prefix.")
@click.option("--delete-new", is_flag=True,
              help="Also remove keys created after TIME (delete markers; versions kept).")
@pass_settings
@handle_errors
def bucket(settings: Settings, bucket: str, to: str, prefix: str, delete_new: bool) -> None:
    """Return BUCKET to how it was at --to, from S3 versioning (ransomware, mass deletion).

    Overwritten keys and keys deleted after TIME get their version of TIME back by a
    server-side copy (the incident's versions stay as evidence). Keys created after TIME
    are listed, and removed only with --delete-new. The plan shows counts and bytes.
    Safe to re-run: keys already at their version of TIME are skipped, so a failed or
    interrupted run resumes. Needs versioning enabled on the bucket.

    \b
    Examples:
      irctl recover bucket customer-data --to 2026-11-28T01:30:00Z          # plan
      irctl recover bucket customer-data --to 2026-11-28T01:30:00Z --apply
      irctl recover bucket customer-data --to 6h --delete-new --apply
    """
    from runbooks.core.runner import StepCall
    from runbooks.steps.s3_recovery import BUCKET_NAME, analyse

    if not BUCKET_NAME.match(bucket):
        raise InvalidInput(f"{bucket!r} is not a valid S3 bucket name")
    moment = parse_time(to, "--to")
    session = open_session(settings)
    params = {"bucket": bucket, "to": moment.isoformat(), "prefix": prefix}
    steps = [StepCall("s3.restore-versions", params)]
    if delete_new:
        steps.append(StepCall("s3.remove-new-keys", params))
    with progress(settings, "recover bucket") as listener:
        result = make_runner(session, listener).run("recover bucket", {bucket: steps})
    extra: dict[str, Any] = {}
    try:
        totals = analyse(session.ctx, bucket, moment, prefix).totals()
    except PreconditionFailed:
        totals = {}  # the run already reports why it refused
    if totals:
        extra["summary"] = totals
        if totals["createdAfter"] and not delete_new:
            result.warnings.append(
                f"{totals['createdAfter']} key(s) ({totals['createdAfterBytes']} bytes) were "
                f"created after {moment.isoformat()} and are kept; add --delete-new to remove "
                "them")
        if totals["archivedSkipped"]:
            result.warnings.append(
                f"{totals['archivedSkipped']} key(s) have their version of the time in "
                "GLACIER/DEEP_ARCHIVE: restore those versions (RestoreObject) and re-run")
    if totals and not settings.json:
        click.echo(
            f"{bucket} at {moment.isoformat()}: {totals['overwritten']} overwritten "
            f"({totals['overwrittenBytes']} bytes), {totals['deleted']} deleted "
            f"({totals['deletedBytes']} bytes), {totals['createdAfter']} created after, "
            f"{totals['unchanged']} unchanged; {totals['versionsListed']} versions listed")
    sys.exit(render_results(settings, [result], extra))


COMMANDS = [recover]
