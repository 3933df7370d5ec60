"""`irctl playbook list | show NAME | run NAME --param k=v ...`: the executable playbooks.

`run` executes a playbook's registered steps phase by phase through the runner, with
the same plan-by-default, audit log, rollback and exit codes as every other command,
then publishes the playbook's notifications for those phases to the manifest's alert
topics. Commands and manual actions are listed as follow-ups for the responder.

Changes are recorded under their step's `release_kind`, the kind the contain commands
use (`instance`, `access-key`, `role`, `ip`, `bucket`), so `irctl release instance ID --case CASE`
undoes a playbook's containment exactly like `irctl contain instance`'s.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

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
from runbooks.core.errors import InvalidInput

if TYPE_CHECKING:
    from runbooks.core.runner import RunResult
    from runbooks.playbooks import Action, Playbook

PHASE_CHOICES = ("analysis", "containment", "eradication", "recovery", "post-incident")

FREE_TEXT_PARAMS = frozenset({"restore_to"})
"""Playbook parameters that are not ids (a time may be written with a space)."""


def _parse_params(values: tuple[str, ...]) -> dict[str, str]:
    params: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidInput(f"--param {item!r} must be KEY=VALUE, e.g. --param "
                               "instance_id=i-0123456789abcdef0")
        if key in params:
            raise InvalidInput(f"--param {key} is given twice")
        params[key] = value
    return params


def target_kind(pb: Playbook, action_id: str) -> str:
    """The release kind of an action's target: its step's `release_kind`."""
    from runbooks.core.step import REGISTRY, load_all_steps

    for phase in pb.doc["phases"].values():
        for action in phase:
            if action["id"] == action_id:
                kind = REGISTRY.get(action["step"]) or load_all_steps()[action["step"]]
                if not kind.release_kind:  # the playbook loader refuses this
                    raise InvalidInput(f"step {action['step']} declares no release_kind")
                return kind.release_kind
    raise KeyError(action_id)


def run_playbook(
    settings: Settings,
    name: str,
    given: dict[str, str],
    phases: tuple[str, ...] = PHASE_CHOICES,
    session: Session | None = None,
) -> tuple[list[RunResult], dict[str, Any]]:
    """Run a playbook's steps (plan, or apply with settings.apply); results and extras.

    Phases run in order; a phase whose run fails stops the playbook (later phases are
    reported as not run). Used by `irctl playbook run`, the drill and the automation
    Lambda (which passes its already opened `session`).
    """
    from runbooks.core.ids import check_identifier
    from runbooks.core.runner import StepCall
    from runbooks.playbooks import load_playbook, substitute

    for key, value in given.items():
        if key not in FREE_TEXT_PARAMS and isinstance(value, str):
            # a schema `pattern` ending in `$` would admit a trailing newline
            check_identifier(value, f"playbook parameter {key}")
    pb = load_playbook(name)
    params = pb.resolve_params(given)  # bad input before any AWS call
    pb.actions(params, phases)  # refuses a branch whose parameter is missing, no I/O yet
    session = session or open_session(settings)
    case = session.ctx.case_id
    actions = pb.actions(params, phases, case=case)
    results: list[RunResult] = []
    follow_ups: list[dict[str, str]] = []
    stopped_at: str | None = None
    for phase in PHASE_CHOICES:
        if phase not in phases:
            continue
        phase_actions: list[Action] = [a for a in actions if a.phase == phase]
        follow_ups += [
            {"phase": phase, "id": a.id, "title": a.title,
             "command": str(substitute(a.command, {**params, "case": case}))}
            if a.command else {"phase": phase, "id": a.id, "title": a.title,
                               "manual": str(a.manual)}
            for a in phase_actions if not a.step
        ]
        if stopped_at is not None:
            continue
        by_kind: dict[str, dict[str, list[StepCall]]] = {}
        for action in phase_actions:
            if not action.step:
                continue
            kind = target_kind(pb, action.id)
            pipelines = by_kind.setdefault(kind, {})
            pipelines.setdefault(str(action.target), []).append(
                StepCall(action.step, dict(action.params)))
        phase_results: list[RunResult] = []
        with progress(settings, f"{pb.name}: {phase}") as listener:
            for kind, pipelines in by_kind.items():
                result = make_runner(session, listener).run(kind, pipelines)
                phase_results.append(result)
                results.append(result)
                if result.exit_code != 0:
                    stopped_at = phase
                    break
            notes = [n for n in pb.doc["notifications"] if n["phase"] == phase]
            changed = any(c.status in ("planned", "applied") for r in phase_results
                          for t in r.targets for c in t.changes)
            if stopped_at is None and notes and changed:
                values = {**params, "case": case}
                calls = {
                    f"notify:{n['id']}": [StepCall("sns.notify", {
                        "severity": n["topic"],
                        "subject": f"[{case}] {pb.title}: {phase}",
                        "message": str(substitute(n["message"], values)),
                    })]
                    for n in notes
                }
                result = make_runner(session, listener).run("notify", calls)
                results.append(result)
                if result.exit_code != 0:
                    stopped_at = phase
    extra = {
        "playbook": pb.name,
        "params": params,
        "phases": list(phases),
        "stoppedAt": stopped_at,
        "followUps": follow_ups,
    }
    return results, extra


@click.group("playbook")
def playbook() -> None:
    """Incident playbooks: the written procedure and the executable one.

    \b
    Examples:
      irctl playbook list
      irctl playbook show compromised-ec2-instance
      irctl playbook run compromised-ec2-instance --param instance_id=i-0123456789abcdef0
      irctl playbook run compromised-ec2-instance --param instance_id=i-0123456789abcdef0 \\
          --apply --case ir-20261128-031500-1a2b3c
    """


@playbook.command("list")
@common_options
@pass_settings
@handle_errors
def list_command(settings: Settings) -> None:
    """List the playbooks and the GuardDuty finding types that trigger each."""
    from runbooks.playbooks import load_all

    playbooks = load_all()
    if settings.json:
        click.echo(json.dumps([
            {"name": pb.name, "title": pb.title, "severity": pb.doc["severity"],
             "triggers": pb.doc["triggers"]} for pb in playbooks], indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Playbooks", title_justify="left")
    table.add_column("Name", no_wrap=True)
    table.add_column("Incident")
    table.add_column("Severity", no_wrap=True)
    table.add_column("Triggered by (GuardDuty)")
    for pb in playbooks:
        triggers = pb.doc["triggers"]["guardduty"]
        shown = ", ".join(triggers[:3]) + (f" (+{len(triggers) - 3})" if len(triggers) > 3
                                            else "")
        table.add_row(pb.name, pb.title, pb.doc["severity"], shown)
    Console().print(table)


@playbook.command("show")
@common_options
@click.argument("name")
@pass_settings
@handle_errors
def show_command(settings: Settings, name: str) -> None:
    """Show playbook NAME: triggers, parameters, decisions, phases, verification."""
    from runbooks.playbooks import load_playbook
    from runbooks.playbooks.render import render

    pb = load_playbook(name)
    if settings.json:
        click.echo(json.dumps(pb.doc, indent=2))
        return
    from rich.console import Console
    from rich.markdown import Markdown

    text = render(pb).split("\n", 2)[2]  # drop the generated-file banner
    Console().print(Markdown(text))


@playbook.command("run")
@common_options
@click.argument("name")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE",
              help="A playbook parameter (repeatable); see `irctl playbook show NAME`.")
@click.option("--phase", "phases", multiple=True, type=click.Choice(PHASE_CHOICES),
              help="Run only these phases (repeatable). Default: every phase.")
@pass_settings
@handle_errors
def run_command(settings: Settings, name: str, params: tuple[str, ...],
                phases: tuple[str, ...]) -> None:
    """Run playbook NAME's steps: plan by default, act with --apply.

    Steps run phase by phase through the runner (audit log, rollback on failure);
    after a phase, its notifications go to the manifest's alert topics. Commands and
    manual actions are printed as follow-ups. A failed phase stops the playbook.
    """
    results, extra = run_playbook(settings, name, _parse_params(params),
                                  phases or PHASE_CHOICES)
    code = render_results(settings, results, extra)
    if not settings.json:
        from rich.console import Console

        console = Console()
        if extra["stoppedAt"]:
            console.print(f"[bold red]stopped in phase {extra['stoppedAt']}[/]: later "
                          "phases were not run")
        if extra["followUps"]:
            console.print("[bold]Follow-ups for the responder:[/]")
            for item in extra["followUps"]:
                what = f"`{item['command']}`" if "command" in item else item["manual"]
                console.print(f"  [{item['phase']}] {item['title']}: {what}",
                              highlight=False, markup=False)
    sys.exit(code)


COMMANDS = [playbook]
