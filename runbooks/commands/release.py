"""`irctl release KIND TARGET --case ID`: restore the recorded pre-action state."""

from __future__ import annotations

import sys

import click

from runbooks.commands._shared import (
    Settings,
    common_options,
    handle_errors,
    make_runner,
    open_session,
    pass_settings,
    progress,
    render_results,
)
from runbooks.core.errors import PreconditionFailed


def canonical_target(kind: str, target: str) -> str:
    """The form a kind's targets are recorded in, so `release ip 203.0.113.7` finds the
    `203.0.113.7/32` that `contain ip 203.0.113.7` recorded."""
    if kind == "ip":
        from runbooks.steps.network import parse_cidr

        return str(parse_cidr(target))  # the same canonical form contain ip records
    return target


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

    KIND is what was contained (instance, access-key, role, ip, bucket, ...). Every
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
    if not settings.case_id:
        raise PreconditionFailed("release needs --case ID: the case whose log recorded "
                                 "the containment (see `irctl case show ID`)")
    from runbooks.commands._fleet import scope_of

    # Account-wide kinds may be written ACCOUNT:ID; regional ones need their region.
    scoped, target = scope_of(settings, target,
                              account_only=kind in ("bucket", "role", "access-key"))
    target = canonical_target(kind, target)
    session = open_session(scoped, new_case=False)
    if not session.audit.exists():
        raise PreconditionFailed(f"no audit log for case {settings.case_id} at "
                                 f"{session.audit.path}; set IR_CASE_DIR or check the id")
    session.audit.require_intact(session.ctx.client("s3"), session.ctx.manifest["evidenceBucket"])
    with progress(settings, f"release {kind}") as listener:
        runner = make_runner(session, listener)
        if not runner.in_place_changes(kind, target):
            raise PreconditionFailed(
                f"case {settings.case_id} has no change still in place for {kind} {target}; "
                "nothing to release (see `irctl case show`)")
        result = runner.release(kind, target, force=force)
    sys.exit(render_results(settings, [result]))


COMMANDS = [release]
