"""`irctl eradicate ...`: remove the cause once the harm is contained."""

from __future__ import annotations

import sys
from typing import Any

import click

from runbooks.commands._shared import (
    CliFeedback,
    Settings,
    common_options,
    exit_with,
    handle_errors,
    make_runner,
    open_session,
    out_console,
    pass_settings,
    progress,
    render_results,
)
from runbooks.core.errors import InvalidInput, PreconditionFailed


@click.group()
def eradicate() -> None:
    """Remove the cause: patch, terminate with evidence kept, rotate keys (plan; --apply acts)."""


@eradicate.command("patch")
@common_options
@click.option("--instance", "instance_ids", multiple=True, metavar="ID",
              help="Instance to patch (repeat for several).")
@click.option("--tag", "tag", metavar="KEY=VALUE",
              help="Patch every running instance with this tag.")
@click.option("--operation", type=click.Choice(["Install", "Scan"]), default="Install",
              show_default=True, help="Scan only reports missing patches.")
@click.option("--no-reboot", is_flag=True,
              help="RebootOption=NoReboot (patches needing a reboot stay pending).")
@click.option("--timeout-minutes", type=click.IntRange(1, 480), default=60, show_default=True,
              help="Give up waiting for an instance after this long.")
@pass_settings
@handle_errors
def patch(settings: Settings, instance_ids: tuple[str, ...], tag: str | None, operation: str,
          no_reboot: bool, timeout_minutes: int) -> None:
    """Run the SSM patch baseline (AWS-RunPatchBaseline) on instances and wait for each.

    Every instance must be managed by SSM (a registered, online SSM Agent); otherwise
    nothing is sent to any of them. Reports per instance; exit code 1 when patching
    failed on any.

    \b
    Examples:
      irctl eradicate patch --instance i-0123456789abcdef0 --apply
      irctl eradicate patch --tag app=web --apply
      irctl eradicate patch --instance 111122223333:eu-west-1:i-0aa... \\
                            --instance 444455556666:us-east-1:i-0bb... --apply

    --instance ACCOUNT:REGION:ID patches in that account and region through its member
    responder role; all accounts and regions run concurrently under one case (the SSM
    precondition is checked per account and region). --tag acts in one account and region.
    """
    from runbooks.workflows.eradicate import patch_instances

    exit_with(settings, patch_instances(settings, instance_ids, tag, operation=operation,
                                        no_reboot=no_reboot, timeout_minutes=timeout_minutes,
                                        feedback=CliFeedback(settings)))


@eradicate.group("terminate")
def terminate() -> None:
    """Terminate a resource once the case holds its evidence."""


@terminate.command("instance")
@common_options
@click.argument("instance_id")
@pass_settings
@handle_errors
def terminate_instance(settings: Settings, instance_id: str) -> None:
    """Terminate INSTANCE_ID, refusing unless --case holds snapshot evidence of every volume.

    Evidence means: the case's audit log recorded a snapshot of each EBS volume of the
    instance (`irctl contain instance` takes them), and each snapshot exists in EC2,
    completed and tagged with the case. Termination protection set by containment is
    lifted first. Irreversible.

    \b
    Example:
      irctl eradicate terminate instance i-0123456789abcdef0 --case ir-20261128-1a2b3c --apply
    """
    from runbooks.workflows.eradicate import terminate_instance

    exit_with(settings, terminate_instance(settings, instance_id,
                                           feedback=CliFeedback(settings)))


def new_key_hand_off(user: str, keys: list[dict[str, Any]]) -> list[str]:
    """The commands the user's owner runs, with their own credentials, to give USER a
    replacement key: irctl never creates credentials (a role that may mint a key for one
    user may mint one for an administrator). IAM allows two keys per user and a
    deactivated key still counts, so a user at the limit first loses one that is no
    longer evidence."""
    from runbooks.steps.eradicate import KEYS_PER_USER

    commands = []
    if len(keys) >= KEYS_PER_USER:
        oldest = min(keys, key=lambda k: str(k.get("CreateDate", "")))
        commands.append(f"aws iam delete-access-key --user-name {user} --access-key-id "
                        f"{oldest['AccessKeyId']}   # only once it is no longer evidence")
    commands.append(f"aws iam create-access-key --user-name {user}")
    return commands


@eradicate.command("rotate-key")
@common_options
@click.argument("user")
@click.option("--create-new-key", is_flag=True,
              help="Also print the exact command the user's owner runs to create the "
                   "replacement key (irctl never creates credentials).")
@pass_settings
@handle_errors
def rotate_key(settings: Settings, user: str, create_new_key: bool) -> None:
    """Deactivate USER's active access keys; with --create-new-key, hand the replacement
    to the user's owner.

    Old keys are deactivated, never deleted (they are evidence, and reversible with
    `irctl release rotate-key USER --case ID`). No role the stack generates may create
    an access key for another principal, so --create-new-key prints the `aws iam
    create-access-key` command for the owner of USER to run with their own credentials
    (and store the secret in their secrets manager); in --json output it is `handOff`.

    \b
    Example:
      irctl eradicate rotate-key build-bot --create-new-key --apply
    """
    from botocore.exceptions import ClientError

    from runbooks.core.runner import StepCall
    from runbooks.steps.eradicate import IAM_NAME

    if not IAM_NAME.match(user):
        raise InvalidInput(f"user name {user!r} is malformed: 1-64 characters of letters, "
                           "digits and +=,.@_-")
    session = open_session(settings)
    try:
        keys = session.ctx.client("iam").list_access_keys(UserName=user)["AccessKeyMetadata"]
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") == "NoSuchEntity":
            raise PreconditionFailed(f"IAM user {user} was not found in account "
                                     f"{session.ctx.account_id}") from err
        raise
    active = sorted(k["AccessKeyId"] for k in keys if k["Status"] == "Active")
    steps = [StepCall("iam.deactivate-access-key", {"access_key_id": key}) for key in active]
    with progress(settings, "rotate-key") as listener:
        result = make_runner(session, listener).run("rotate-key", {user: steps})
    hand_off = new_key_hand_off(user, keys) if create_new_key else []
    extra: dict[str, Any] = {}
    if hand_off and settings.structured:
        extra["handOff"] = {"UserName": user, "commands": hand_off}
    code = render_results(settings, [result], extra)
    if hand_off and not settings.structured:
        out_console(settings).print(
            f"[bold]replacement key for {user}[/]: irctl creates no credentials; the "
            "user's owner runs, with their own credentials:\n"
            + "\n".join(f"  {command}" for command in hand_off),
            highlight=False, soft_wrap=True)  # never wrap a command someone will paste
    sys.exit(code)


COMMANDS = [eradicate]
