"""`irctl backup now RESOURCE`: an on-demand AWS Backup job into the readiness vault."""

from __future__ import annotations

import sys

import click

from runbooks.commands._shared import (
    CliFeedback,
    Settings,
    common_options,
    handle_errors,
    pass_settings,
    render_outcome,
)


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
    from runbooks.workflows.backup import backup_now

    outcome = backup_now(settings, resource, wait=wait, timeout_minutes=timeout_minutes,
                         poll_seconds=poll_seconds, feedback=CliFeedback(settings))
    code = render_outcome(settings, outcome)
    if "recoveryPointArn" in outcome.extra and not settings.structured:
        click.echo(f"recovery point: {outcome.extra['recoveryPointArn']}")
    sys.exit(code)


COMMANDS = [backup]
