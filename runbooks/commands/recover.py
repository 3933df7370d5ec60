"""`irctl recover instance|volume|bucket`: back to a known-good state from the backups the
readiness stack provisioned (AWS Backup recovery points, S3 versioning)."""

from __future__ import annotations

import sys
from typing import Any

import click

from runbooks.commands._recovery import parse_time
from runbooks.commands._shared import (
    CliFeedback,
    Settings,
    common_options,
    exit_with,
    handle_errors,
    pass_settings,
    render_outcome,
)


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
    from runbooks.workflows.recover import JobOptions, recover_instance

    options = JobOptions(recovery_point, parse_time(before, "--before") if before else None,
                         vault, timeout_minutes, poll_seconds)
    exit_with(settings, recover_instance(
        settings, instance_id, options, security_groups=security_groups, subnet=subnet,
        instance_type=instance_type, feedback=CliFeedback(settings)))


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
    from runbooks.workflows.recover import JobOptions, recover_volume

    options = JobOptions(recovery_point, parse_time(before, "--before") if before else None,
                         vault, timeout_minutes, poll_seconds)
    exit_with(settings, recover_volume(settings, volume_id, options,
                                       availability_zone=availability_zone,
                                       feedback=CliFeedback(settings)))


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
    from runbooks.workflows.recover import recover_bucket

    moment = parse_time(to, "--to")
    outcome = recover_bucket(settings, bucket, moment, prefix=prefix, delete_new=delete_new,
                             feedback=CliFeedback(settings))
    totals = outcome.extra.get("summary")
    if totals and not settings.structured:
        click.echo(
            f"{bucket} at {moment.isoformat()}: {totals['overwritten']} overwritten "
            f"({totals['overwrittenBytes']} bytes), {totals['deleted']} deleted "
            f"({totals['deletedBytes']} bytes), {totals['createdAfter']} created after, "
            f"{totals['unchanged']} unchanged; {totals['versionsListed']} versions listed")
    sys.exit(render_outcome(settings, outcome))


COMMANDS = [recover]
