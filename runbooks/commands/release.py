"""`irctl release KIND TARGET --case ID`: restore the recorded pre-action state."""

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


@click.command()
@common_options
@click.argument("kind")
@click.argument("target")
@click.option("--force", is_flag=True,
              help="Restore the recorded pre-action state even where the target was "
                   "changed since it was contained (drift).")
@pass_settings
@handle_errors
def release(settings: Settings, kind: str, target: str, force: bool) -> None:
    """Undo a containment: restore TARGET's pre-action state recorded in --case.

    KIND is what was contained (instance, access-key, role, ip, bucket, function, ...). Every
    change the case recorded and did not undo is restored, newest first, whatever its
    recorded state (applied; or applying, failed or rollback-failed: outcome unknown);
    one whose live state is already as before is marked done. One changed since it was
    contained (e.g. someone set the ENI's groups by hand) refuses the release with exit
    code 2, showing before / recorded after / live; --force restores it anyway. Evidence
    (captured metadata, snapshots, the audit log) is never touched. Plans by default;
    --apply acts.

    A target contained in another account is written as it was at containment,
    ACCOUNT:REGION:ID (or ACCOUNT:ID for account-wide targets: roles, buckets), or given
    with --account: release acts there through the member responder role, and restores
    only what the case recorded in that account.

    \b
    Examples:
      irctl release instance i-0123456789abcdef0 --case ir-20261128-031500-1a2b3c --apply
      irctl release bucket 111122223333:exports-a --case ir-20261128-031500-1a2b3c --apply
    """
    from runbooks.workflows.release import release_target

    exit_with(settings, release_target(settings, kind, target, force=force,
                                       feedback=CliFeedback(settings)))


COMMANDS = [release]
