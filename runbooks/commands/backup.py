"""`irctl backup now RESOURCE`: an on-demand AWS Backup job into the readiness vault."""

from __future__ import annotations

import sys

import click

from runbooks.commands._recovery import INSTANCE_ID, VOLUME_ID, job_progress
from runbooks.commands._shared import (
    Settings,
    common_options,
    fail,
    handle_errors,
    make_runner,
    open_session,
    pass_settings,
    progress,
    render_results,
)
from runbooks.core.errors import IrError


@click.group("backup")
def backup() -> None:
    """Take backups with AWS Backup into the readiness vault (plan; --apply acts)."""


@backup.command("now")
@common_options
@click.argument("resource")
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="Wait for the job to complete, with a progress bar.")
@click.option("--timeout-minutes", type=click.IntRange(1, 1440), default=240,
              show_default=True, help="Stop waiting after this long (the job keeps going).")
@click.option("--poll-seconds", type=click.FloatRange(0.1, 300), default=10.0,
              show_default=True, help="How often to check the job.")
@pass_settings
@handle_errors
def now(settings: Settings, resource: str, wait: bool, timeout_minutes: int,
        poll_seconds: float) -> None:
    """Back up RESOURCE now: an instance id, a volume id, or any resource ARN AWS Backup
    supports. The job goes into the manifest's vault (backup.vaultName) and runs as the
    manifest's restore role (backup.restoreRoleArn); the recovery point is tagged with the
    case. Re-running for the same resource in the same --case returns the job already
    started (AWS Backup's idempotency token) instead of starting another.

    \b
    Examples:
      irctl backup now i-0123456789abcdef0                 # plan only
      irctl backup now i-0123456789abcdef0 --apply
      irctl backup now arn:aws:ec2:eu-west-1:111122223333:volume/vol-0abc... --apply
    """
    from runbooks.core.runner import APPLIED, StepCall
    from runbooks.steps.backup import parse_arn, wait_for_job

    if not (INSTANCE_ID.match(resource) or VOLUME_ID.match(resource)):
        parse_arn(resource, "RESOURCE")  # bad input before any call
    session = open_session(settings)
    ctx = session.ctx
    arn = resource
    if INSTANCE_ID.match(resource):
        arn = f"arn:aws:ec2:{ctx.region}:{ctx.account_id}:instance/{resource}"
    elif VOLUME_ID.match(resource):
        arn = f"arn:aws:ec2:{ctx.region}:{ctx.account_id}:volume/{resource}"
    with progress(settings, "backup now") as listener:
        result = make_runner(session, listener).run(
            "backup now", {arn: [StepCall("backup.start-backup", {"resource_arn": arn})]})
    started = [c for t in result.targets for c in t.changes if c.status == APPLIED]
    extra: dict[str, object] = {}
    if started:
        job_id = started[0].result["backupJobId"]
        extra = {"backupJobId": job_id, "recoveryPointArn": started[0].result[
            "recoveryPointArn"]}
        if wait:
            client = ctx.client("backup")
            try:
                with job_progress(settings, f"backup {arn.rsplit('/', 1)[-1]}") as update:
                    job = wait_for_job(lambda: client.describe_backup_job(BackupJobId=job_id),
                                       "State", update, poll_seconds, timeout_minutes * 60)
            except IrError as err:
                session.audit.append("backup-failed", kind="backup now", target=arn,
                                     backupJobId=job_id, error=str(err))
                fail(settings, f"backup job {job_id} of {arn}: {err}", err.exit_code)
            session.audit.append("backup-completed", kind="backup now", target=arn,
                                 backupJobId=job_id,
                                 recoveryPointArn=job["RecoveryPointArn"])
            extra["state"] = job["State"]
    code = render_results(settings, [result], extra)
    if started and not settings.json:
        click.echo(f"recovery point: {extra['recoveryPointArn']}")
    sys.exit(code)


COMMANDS = [backup]
