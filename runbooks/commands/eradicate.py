"""`irctl eradicate ...`: remove the cause once the harm is contained."""

from __future__ import annotations

import re
import sys
import uuid
from typing import Any

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
from runbooks.core.errors import InvalidInput, PreconditionFailed
from runbooks.core.ids import INSTANCE_ID as _INSTANCE_ID

_TAG = re.compile(r"^([^=]{1,128})=(.{0,256})$")


@click.group()
def eradicate() -> None:
    """Remove the cause: patch, terminate with evidence kept, rotate keys (plan; --apply acts)."""


def instances_with_tag(ec2: Any, key: str, value: str) -> list[str]:
    pages = ec2.get_paginator("describe_instances").paginate(Filters=[
        {"Name": f"tag:{key}", "Values": [value]},
        {"Name": "instance-state-name", "Values": ["running"]}])
    return sorted(i["InstanceId"] for page in pages for r in page["Reservations"]
                  for i in r["Instances"])


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
    from runbooks.commands._fleet import run_across, split_targets
    from runbooks.core.runner import StepCall

    if bool(instance_ids) == bool(tag):
        raise InvalidInput("give --instance ID (one or more) or --tag KEY=VALUE, not both")
    groups, single = split_targets(settings, instance_ids, what="--instance")
    for instance_id in (i for ids in groups.values() for i in ids):
        if not _INSTANCE_ID.match(instance_id):
            raise InvalidInput(f"--instance {instance_id!r} is not an EC2 instance id "
                               "(i- followed by 8 or 17 hex digits, optionally as "
                               "ACCOUNT:REGION:ID)")
    match = _TAG.match(tag) if tag else None
    if tag and not match:
        raise InvalidInput(f"--tag {tag!r}: use KEY=VALUE, e.g. --tag app=web")
    params = {"operation": operation, "reboot": "NoReboot" if no_reboot else "RebootIfNeeded",
              "timeout_minutes": timeout_minutes}
    if not single:
        run_across(settings, "patch", {scope: {
            iid: [StepCall("ssm.run-patch-baseline", {"instance_id": iid, **params})]
            for iid in sorted(ids)} for scope, ids in groups.items()},
            title="eradicate patch", notify=False)
        return
    session = open_session(settings)
    targets = sorted({i for ids in groups.values() for i in ids})
    if match:
        targets = instances_with_tag(session.ctx.client("ec2"), match.group(1), match.group(2))
        if not targets:
            raise InvalidInput(f"no running instance in {session.ctx.region} has tag {tag}")
    pipelines = {iid: [StepCall("ssm.run-patch-baseline", {"instance_id": iid, **params})]
                 for iid in targets}
    with progress(settings, "patch") as listener:
        result = make_runner(session, listener).run("eradicate patch", pipelines)
    sys.exit(render_results(settings, [result]))


@eradicate.group("terminate")
def terminate() -> None:
    """Terminate a resource once the case holds its evidence."""


def recorded_snapshots(records: list[dict[str, Any]], instance_id: str) -> dict[str, str]:
    """volume id -> snapshot id, as the case's audit log recorded ec2.snapshot-volumes."""
    found: dict[str, str] = {}
    for record in records:
        if (record.get("event") == "applied" and record.get("step") == "ec2.snapshot-volumes"
                and record.get("target") == instance_id):
            found.update((record.get("result") or {}).get("snapshots") or {})
    return found


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
    from runbooks.core.runner import StepCall

    if not _INSTANCE_ID.match(instance_id):
        raise InvalidInput(f"{instance_id!r} is not an EC2 instance id")
    if not settings.case_id:
        raise PreconditionFailed("terminate needs --case ID: the case that holds the "
                                 "instance's snapshot evidence")
    session = open_session(settings, new_case=False)
    if not session.audit.exists():
        raise PreconditionFailed(
            f"no audit log for case {settings.case_id} at {session.audit.path}; without it "
            "there is no recorded evidence: set IR_CASE_DIR or check the case id")
    recorded = recorded_snapshots(session.audit.records(), instance_id)
    pipelines = {instance_id: [StepCall("ec2.terminate-instance", {
        "instance_id": instance_id, "recorded_snapshots": recorded})]}
    with progress(settings, "terminate") as listener:
        result = make_runner(session, listener).run("eradicate terminate", pipelines)
    sys.exit(render_results(settings, [result]))


@eradicate.command("rotate-key")
@common_options
@click.argument("user")
@click.option("--create-new-key", is_flag=True,
              help="Create a replacement key first and print its secret ONCE (it is never "
                   "written to the audit log or any file). Without it, old keys are only "
                   "deactivated.")
@pass_settings
@handle_errors
def rotate_key(settings: Settings, user: str, create_new_key: bool) -> None:
    """Deactivate USER's active access keys, optionally creating a replacement first.

    Old keys are deactivated, never deleted (they are evidence, and reversible with
    `irctl release rotate-key USER --case ID`). With --create-new-key and --apply, the new
    secret is printed once to stdout; store it in your secrets manager right away.

    \b
    Example:
      irctl eradicate rotate-key build-bot --create-new-key --apply
    """
    from botocore.exceptions import ClientError

    from runbooks.core.runner import StepCall
    from runbooks.steps.eradicate import IAM_NAME, claim_secret

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
    handle = uuid.uuid4().hex
    steps: list[StepCall] = []
    if create_new_key:
        steps.append(StepCall("iam.create-replacement-key",
                              {"user_name": user, "handle": handle, "retiring": active}))
    steps += [StepCall("iam.deactivate-access-key", {"access_key_id": key}) for key in active]
    with progress(settings, "rotate-key") as listener:
        result = make_runner(session, listener).run("rotate-key", {user: steps})
    created = claim_secret(handle)  # None unless applied; popped: it exists only here now
    kept = any(c.change.step == "iam.create-replacement-key" and c.status == "applied"
               for t in result.targets for c in t.changes)
    if created and not kept:
        created = None  # rolled back: the key was deleted again, its secret is useless
    extra: dict[str, Any] = {}
    if created and settings.json:
        extra["newAccessKey"] = {"UserName": user, "AccessKeyId": created[0],
                                 "SecretAccessKey": created[1]}
    code = render_results(settings, [result], extra)
    if created and not settings.json:
        from rich.console import Console

        Console().print(
            f"[bold]new access key for {user}[/] (shown once, not recorded anywhere; store it "
            f"now):\n  AccessKeyId:     {created[0]}\n  SecretAccessKey: {created[1]}",
            highlight=False)
    sys.exit(code)


COMMANDS = [eradicate]
