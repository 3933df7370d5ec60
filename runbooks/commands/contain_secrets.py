"""`irctl contain secret ...` and `irctl contain key ...`: secrets and KMS keys."""

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


@contain.command("secret")
@common_options
@click.argument("secrets", nargs=-1, required=True, metavar="ARN|NAME [ARN|NAME ...]")
@click.option("--principal", "principal_arn", required=True, metavar="ARN",
              help="The compromised user, role or role-session ARN to deny.")
@click.option("--new-value", is_flag=True,
              help="The secret has no rotation configured: store a new random value "
                   "(revoke the leaked one where it was issued).")
@click.option("--no-rotate", is_flag=True, help="Deny the principal only; do not rotate.")
@pass_settings
@handle_errors
def secret(settings: Settings, secrets: tuple[str, ...], principal_arn: str,
           new_value: bool, no_rotate: bool) -> None:
    """Stop a compromised principal reading a Secrets Manager secret, and rotate it.

    Adds a Deny statement (Sid naming the case) for the principal's
    GetSecretValue/DescribeSecret to the secret's resource policy; an assumed-role
    session ARN denies every session of its role. Then rotates the secret now with its
    rotation function (RotateSecret, RotateImmediately), the old version kept as
    AWSPREVIOUS. A secret without rotation is refused (exit 2) unless --new-value
    (a new random value as AWSCURRENT; the leaked value stays valid where it was issued)
    or --no-rotate. No value is ever printed or logged.

    `irctl release secret ARN|NAME --case CASE` removes exactly the case's statement.
    The rotation is one-way: release never puts the leaked value back.

    \b
    Examples:
      irctl contain secret prod/payments/db --principal arn:aws:iam::111122223333:user/ci
      irctl contain secret prod/payments/db --principal ROLE_SESSION_ARN --apply
      irctl contain secret partner-token --principal USER_ARN --new-value --apply
    """
    from runbooks.core.errors import InvalidInput
    from runbooks.workflows.contain_secrets import contain_secrets

    if new_value and no_rotate:
        raise InvalidInput("--new-value and --no-rotate contradict each other; give one")
    rotation = "new-value" if new_value else "none" if no_rotate else "function"
    exit_with(settings, contain_secrets(settings, secrets, principal_arn, rotation=rotation,
                                        feedback=CliFeedback(settings)))


@contain.command("key")
@common_options
@click.argument("keys", nargs=-1, required=True, metavar="KEY_ID|ARN [KEY_ID|ARN ...]")
@click.option("--keep", is_flag=True,
              help="The attacker disabled the key or scheduled its deletion: cancel the "
                   "deletion and enable it (the ransomware path).")
@pass_settings
@handle_errors
def key(settings: Settings, keys: tuple[str, ...], keep: bool) -> None:
    """Disable a misused KMS key, or (--keep) save one an attacker sabotaged.

    Default: disable the key (nothing can encrypt or decrypt with it; release enables
    it). With --keep: cancel its scheduled deletion (AWS leaves the key Disabled; this is
    one-way, irctl never schedules a deletion) and enable it, so data under it stays
    readable (release disables it again). The readiness stack's own key and keys tagged
    ir:protected=true are refused (exit 2), by the plan and by the responder role.

    \b
    Examples:
      irctl contain key 1234abcd-12ab-34cd-56ef-1234567890ab            # plan only
      irctl contain key arn:aws:kms:eu-west-1:111122223333:key/1234abcd-... --apply
      irctl contain key 1234abcd-12ab-34cd-56ef-1234567890ab --keep --apply
    """
    from runbooks.workflows.contain_secrets import contain_keys

    exit_with(settings, contain_keys(settings, keys, keep=keep,
                                     feedback=CliFeedback(settings)))
