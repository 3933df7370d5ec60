"""`backup now`: an on-demand AWS Backup job into the readiness vault, tagged with the case."""

from __future__ import annotations

from typing import Any

from runbooks.core.errors import IrError
from runbooks.workflows.recover import INSTANCE_ID, VOLUME_ID, JobFailed
from runbooks.workflows.session import (
    SILENT,
    Feedback,
    Outcome,
    Settings,
    make_runner,
    open_session,
)


def backup_now(settings: Settings, resource: str, *, wait: bool = True,
               timeout_minutes: int = 240, poll_seconds: float = 10.0,
               feedback: Feedback = SILENT) -> Outcome:
    """Start (plan) a backup of RESOURCE (instance id, volume id or ARN) and, with `wait`,
    wait for it; the JSON's `backupJobId`, `recoveryPointArn` and `state` say what ran."""
    from runbooks.core.runner import APPLIED, StepCall
    from runbooks.steps.backup import parse_arn, wait_for_job

    if not (INSTANCE_ID.match(resource) or VOLUME_ID.match(resource)):
        parse_arn(resource, "RESOURCE")  # bad input before any call
    session = open_session(settings, feedback=feedback)
    ctx = session.ctx
    arn = resource
    if INSTANCE_ID.match(resource):
        arn = f"arn:aws:ec2:{ctx.region}:{ctx.account_id}:instance/{resource}"
    elif VOLUME_ID.match(resource):
        arn = f"arn:aws:ec2:{ctx.region}:{ctx.account_id}:volume/{resource}"
    with feedback.progress("backup now") as listener:
        result = make_runner(session, listener).run(
            "backup now", {arn: [StepCall("backup.start-backup", {"resource_arn": arn})]})
    started = [c for t in result.targets for c in t.changes if c.status == APPLIED]
    extra: dict[str, Any] = {}
    if started:
        job_id = started[0].result["backupJobId"]
        extra = {"backupJobId": job_id, "recoveryPointArn": started[0].result[
            "recoveryPointArn"]}
        if wait:
            client = ctx.client("backup")
            try:
                with feedback.job(f"backup {arn.rsplit('/', 1)[-1]}") as update:
                    job = wait_for_job(lambda: client.describe_backup_job(BackupJobId=job_id),
                                       "State", update, poll_seconds, timeout_minutes * 60)
            except IrError as err:
                session.audit.append("backup-failed", kind="backup now", target=arn,
                                     backupJobId=job_id, error=str(err))
                raise JobFailed(f"backup job {job_id} of {arn}: {err}",
                                err.exit_code) from err
            session.audit.append("backup-completed", kind="backup now", target=arn,
                                 backupJobId=job_id,
                                 recoveryPointArn=job["RecoveryPointArn"])
            extra["state"] = job["State"]
    return Outcome([result], extra)
