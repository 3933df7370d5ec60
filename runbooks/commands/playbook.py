"""`irctl playbook list | show NAME | run NAME --param k=v ...`: the executable playbooks.

`run` is the adapter of `runbooks.workflows.playbook.run_playbook` (phase by phase
through the runner, then the playbook's notifications); this module parses, renders
the runs and the follow-ups, and exits.
"""

from __future__ import annotations

import sys

import click

from runbooks.commands._shared import (
    CliFeedback,
    Settings,
    common_options,
    emit_document,
    handle_errors,
    out_console,
    pass_settings,
    render_results,
)
from runbooks.core.errors import InvalidInput

# `run_playbook` stays importable from here for the drill (which calls it in-process)
# until it imports the workflow layer itself.
from runbooks.workflows.playbook import PHASE_CHOICES, run_playbook

__all__ = ["COMMANDS", "PHASE_CHOICES", "run_playbook"]


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
    if settings.structured:
        emit_document(settings, [
            {"name": pb.name, "title": pb.title, "severity": pb.doc["severity"],
             "triggers": pb.doc["triggers"]} for pb in playbooks])
        return
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
    out_console(settings).print(table)


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
    if settings.structured:
        emit_document(settings, pb.doc)
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
                                  phases or PHASE_CHOICES, feedback=CliFeedback(settings))
    code = render_results(settings, results, extra)
    if not settings.structured:
        console = out_console(settings)
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
