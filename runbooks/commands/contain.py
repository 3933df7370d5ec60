"""`irctl contain ...`: the containment group, and `contain instance`.

Other modules attach their own subcommands to `contain` (see `runbooks.cli`), and can
reuse `run_containment()` to plan/apply pipelines, notify and render in one call.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence

import click

from runbooks.commands._shared import (
    Session,
    Settings,
    common_options,
    handle_errors,
    make_runner,
    open_session,
    pass_settings,
    progress,
    render_results,
)


@click.group()
def contain() -> None:
    """Stop a compromised resource from doing harm, keeping evidence (plan; --apply acts)."""


def summary_message(session: Session, results: Sequence[object]) -> str:
    from runbooks.core.runner import APPLIED, RunResult

    ctx = session.ctx
    lines = [f"ir-readiness case {ctx.case_id}: containment by {session.identity.get('Arn')}",
             f"account {ctx.account_id}, region {ctx.region}", ""]
    for result in results:
        assert isinstance(result, RunResult)
        for target in result.targets:
            done = [c.change.summary + (" -- NOT in the evidence bucket: queued locally"
                                        if isinstance(c.result.get("queued"), dict) else "")
                    for c in target.changes if c.status == APPLIED]
            lines.append(f"{result.kind} {target.target}: {target.status}")
            lines += [f"  - {summary}" for summary in done]
            if target.error:
                lines.append(f"  ! {target.error}")
    kinds = sorted({t.kind for r in results if isinstance(r, RunResult) for t in r.targets})
    lines += ["", f"Timeline: irctl case show {ctx.case_id}",
              *[f"Undo: irctl release {k} TARGET --case {ctx.case_id} --apply" for k in kinds]]
    return "\n".join(lines)


def run_containment(
    settings: Settings,
    kind: str,
    pipelines: Mapping[str, Sequence[object]],
    session: Session | None = None,
) -> None:
    """Plan (or apply) `pipelines` (target -> [StepCall]), notify the high topic when
    something was applied, render, and exit with the run's exit code."""
    from runbooks.core.runner import APPLIED, StepCall

    calls = {t: [c for c in p if isinstance(c, StepCall)] for t, p in pipelines.items()}
    session = session or open_session(settings)
    with progress(settings, f"contain {kind}") as listener:
        runner = make_runner(session, listener)
        result = runner.run(kind, calls)
        results = [result]
        applied = any(c.status == APPLIED for t in result.targets for c in t.changes)
        if settings.apply and applied:
            notify = runner.run("notify", {"high-topic": [StepCall("sns.notify", {
                "severity": "high",
                "subject": f"[{session.ctx.case_id}] contained {kind}: "
                           f"{', '.join(list(calls)[:3])}{' ...' if len(calls) > 3 else ''}",
                "message": summary_message(session, results)})]})
            results.append(notify)
    sys.exit(render_results(settings, results))


INSTANCE_STEPS = [
    "ec2.capture-metadata", "ec2.protect", "ec2.tag-contained", "autoscaling.detach-instance",
    "elbv2.deregister-instance", "ec2.isolate", "ec2.disassociate-address",
    "ec2.detach-instance-profile",
    "ec2.revoke-instance-role-sessions", "ec2.snapshot-volumes",
]
"""`contain instance`, in order: evidence first, then leave ASG/target groups (so health
checks cannot kill or replace it once isolated), isolate, cut credentials, snapshot."""


def instance_pipelines(instance_ids: Sequence[str], stop: bool = False) -> dict[str, list[
        object]]:
    from runbooks.core.runner import StepCall

    steps = INSTANCE_STEPS + (["ec2.stop"] if stop else [])
    return {iid: [StepCall(name, {"instance_id": iid}) for name in steps]
            for iid in dict.fromkeys(instance_ids)}


@contain.command("instance")
@common_options
@click.argument("instance_ids", nargs=-1, required=True, metavar="ID [ID ...]")
@click.option("--stop", is_flag=True, help="Stop the instance(s) after evidence capture.")
@pass_settings
@handle_errors
def instance(settings: Settings, instance_ids: tuple[str, ...], stop: bool) -> None:
    """Contain EC2 instances, keeping evidence and a way back.

    For each instance: save its metadata and console output to the evidence bucket;
    enable termination protection, shutdown behaviour stop, keep volumes; tag it with
    the case and its pre-action state; detach it from its Auto Scaling group (capacity
    kept) and its load balancer target groups; swap every ENI to the VPC's conversion,
    then isolation security group; disassociate its Elastic IPs (allocations kept,
    release puts them back) and its instance profile, and revoke the
    role's older sessions; snapshot all volumes together. Then notify the high topic.

    \b
    Examples:
      irctl contain instance i-0123456789abcdef0              # plan only
      irctl contain instance i-0123456789abcdef0 --apply      # act
      irctl --output json contain instance i-0aa... i-0bb... --apply --stop
      irctl contain instance 111122223333:eu-west-1:i-0aa... 444455556666:us-east-1:i-0bb...

    Targets written ACCOUNT:REGION:ID (or REGION:ID) are contained in that account and
    region, through its member responder role (--role-name, --external-id), all scopes
    concurrently under one case; every scope's preconditions are checked first.
    """
    # Validate ids before any AWS call (the runner validates again; this fails faster).
    from runbooks.core.accounts import Scope, group_targets
    from runbooks.core.errors import InvalidInput
    from runbooks.core.ids import INSTANCE_ID

    default = Scope(settings.account, settings.region)
    groups = group_targets(instance_ids, default)
    bad = [i for ids in groups.values() for i in ids if not INSTANCE_ID.match(i)]
    if bad:
        raise InvalidInput(f"not EC2 instance ids: {', '.join(bad)} (expected i- followed "
                           "by 8 or 17 hex digits, optionally as ACCOUNT:REGION:ID)")
    if list(groups) == [default]:
        run_containment(settings, "instance", instance_pipelines(groups[default], stop=stop))
        return
    from runbooks.commands._fleet import run_across

    run_across(settings, "instance",
               {scope: instance_pipelines(ids, stop=stop) for scope, ids in groups.items()})


COMMANDS = [contain]
