"""`irctl contain access-key KEY_ID` and `irctl contain role NAME` (IAM credentials)."""

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
from runbooks.commands.contain import contain


@contain.command("access-key")
@common_options
@click.argument("key_ids", nargs=-1, required=True, metavar="KEY_ID [KEY_ID ...]")
@click.option("--days", type=click.IntRange(1, 90), default=7, show_default=True,
              help="How many days of the key's CloudTrail activity to save as evidence.")
@click.option("--max-events", type=click.IntRange(1, 50_000), default=1000,
              show_default=True, help="Cap on saved events per region (LookupEvents is "
                                      "throttled to 2 calls per second).")
@pass_settings
@handle_errors
def access_key(settings: Settings, key_ids: tuple[str, ...], days: int,
               max_events: int) -> None:
    """Contain a leaked or abused IAM user access key.

    For each key: deactivate it (never delete: the key id is evidence and deactivation
    is reversible); attach the inline policy IrctlDenyAll (Deny * on *) to its user,
    which also cuts every session derived from the user's credentials (GetSessionToken,
    GetFederationToken, console); delete the user's console password; then save the
    key's recent CloudTrail activity (this region and us-east-1) to the evidence bucket,
    or record that event history was not available (in a run of its own: a failure to
    save evidence is reported, exit 1, but never undoes the containment). Keys of
    another account are refused, and so is the user irctl itself runs as (it would lock
    the run out).

    Sessions of roles the key assumed are NOT cut by the user's deny (a role session has
    the role's permissions): the run's JSON/audit result lists them as `assumedRoles`;
    contain each with `irctl contain role NAME`.

    The deleted console password cannot come back: `irctl release access-key` re-creates
    console access with an unknown random password and PasswordResetRequired, so an
    administrator must set a new password before the user can sign in again.

    \b
    Examples:
      irctl contain access-key AKIAIOSFODNN7EXAMPLE            # plan only
      irctl contain access-key AKIAIOSFODNN7EXAMPLE --apply    # act
      irctl release access-key AKIAIOSFODNN7EXAMPLE --case CASE --apply
      irctl contain access-key 111122223333:AKIA... 444455556666:AKIA... --apply

    A key written ACCOUNT:KEY_ID (or ACCOUNT:REGION:KEY_ID) is contained in that account
    through its member responder role; IAM is global, the region picks the regional
    manifest, session and the CloudTrail history searched. Accounts run concurrently
    under one case, each containing then capturing its own keys' evidence.
    """
    from runbooks.workflows.contain import contain_access_keys

    exit_with(settings, contain_access_keys(settings, key_ids, days=days,
                                            max_events=max_events,
                                            feedback=CliFeedback(settings)))


@contain.command("role")
@common_options
@click.argument("role_names", nargs=-1, required=True, metavar="NAME [NAME ...]")
@pass_settings
@handle_errors
def role(settings: Settings, role_names: tuple[str, ...]) -> None:
    """Revoke every session of an IAM role issued before now.

    Puts the inline policy AWSRevokeOlderSessions on the role (the same one the IAM
    console's "Revoke active sessions" writes): Deny * when aws:TokenIssueTime is before
    now. Stolen temporary credentials stop working; principals the trust policy allows
    can assume the role again and get working sessions. Release removes the deny (or
    restores an earlier one), so release only after the old sessions have expired (the
    role's maximum session duration).

    \b
    Examples:
      irctl contain role web-app-role --apply
      irctl release role web-app-role --case CASE --apply
      irctl contain role 111122223333:web-app-role 444455556666:web-app-role --apply

    A role written ACCOUNT:NAME (or ACCOUNT:REGION:NAME) is contained in that account
    through its member responder role; IAM is global, so the region only picks which
    regional manifest and session act. All accounts run concurrently under one case.
    """
    from runbooks.workflows.contain import contain_roles

    exit_with(settings, contain_roles(settings, role_names, feedback=CliFeedback(settings)))
