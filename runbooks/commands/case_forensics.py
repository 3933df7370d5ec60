"""`irctl case share-snapshots ID`: the case's snapshots, copied for and shared with the
forensic account (`runbooks.workflows.forensics`)."""

from __future__ import annotations

import click

from runbooks.commands._shared import (
    CliFeedback,
    Settings,
    common_options,
    exit_with,
    handle_errors,
    pass_settings,
)
from runbooks.commands.case import case


@case.command("share-snapshots")
@common_options
@click.argument("case_id")
@click.option("--wait-minutes", type=click.FloatRange(0, 240), default=30, show_default=True,
              help="How long --apply waits for the copies to complete before it reports "
                   "the pending ones (exit 1; re-run later to finish them).")
@pass_settings
@handle_errors
def share_snapshots(settings: Settings, case_id: str, wait_minutes: float) -> None:
    """Copy CASE_ID's snapshots for the forensic account and share the copies.

    Every snapshot of this region tagged with the case (ec2.snapshot-volumes) is copied,
    re-encrypted with the stack key (a snapshot encrypted with the default aws/ebs key
    cannot be shared) and tagged with the case and its source; once a copy has completed,
    its description file (source and copy ids, volume, instance, KMS keys, times) is
    written to the evidence bucket with its SHA-256 in the audit log, and the copy's
    createVolumePermission adds the forensic account named by the stack setting
    ir:forensicAccount (manifest forensicAccount). Refused (exit 2) when none is
    configured. `irctl release snapshot SNAPSHOT --case ID` removes a share; the copies
    stay (evidence). Plans by default; --apply acts.

    \b
    Examples:
      irctl case share-snapshots ir-20261128-031500-1a2b3c
      irctl case share-snapshots ir-20261128-031500-1a2b3c --apply --wait-minutes 60
    """
    from runbooks.workflows.forensics import share_snapshots as run

    exit_with(settings, run(settings, case_id, wait_minutes=wait_minutes,
                            feedback=CliFeedback(settings)))


COMMANDS: list[click.Command] = []  # a subcommand of `case` (registered by decorating it)
