"""`irctl drill`: rehearse the whole response on an embedded emulator (no AWS account).

A thin adapter over the `rehearsal` package (installed with the `drill` extra; never
part of what responders and the Lambda run): it parses, guards, renders and exits, and
`rehearsal` does the rest. Without the extra it prints one line saying what to install
and exits 2.

The drill starts a moto server with the emulator's extensions on 127.0.0.1, provisions
the readiness stack into it by running the real Pulumi program through the mocks -> moto
bridge (Pulumi.example.yaml's config), then per scenario creates a victim workload,
injects the incident (GuardDuty finding, EventBridge event, CloudTrail history), runs
the matching playbook with --apply, verifies every expected outcome in AWS state and
reports: timeline, actions, time to contain, pass/fail per check, as Markdown + JSON.
Exit code 0 only when every check of every scenario passed, 1 otherwise, 2 for bad
input (unknown scenario, unguarded sandbox request, the extra not installed).
"""

from __future__ import annotations

import importlib.util
import sys
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from runbooks.commands._shared import (
    Settings,
    aws_cli_options,
    emit_document,
    handle_errors,
    out_console,
    pass_settings,
    waiting,
)
from runbooks.core.errors import InvalidInput

if TYPE_CHECKING:
    from rehearsal import DrillReport, Inspect, World

DEFAULT_OUT = "drill-reports"

#: What the drill imports beyond irctl's own dependencies: the rehearsal package (the
#: emulator, the bridge, the scenarios; never part of what responders and the Lambda run),
#: the emulator's moto and the web server it runs on, and the stack it provisions (the
#: Pulumi program's SDKs). The `drill` extra installs all of them (it includes `stack`).
DRILL_EXTRA_MODULES = ("rehearsal", "moto", "flask", "flask_cors", "pulumi", "pulumi_aws",
                       "pydantic")


def require_drill_extra(modules: tuple[str, ...] = DRILL_EXTRA_MODULES) -> None:
    """One line naming the install, not an ImportError traceback from deep in the drill,
    when irctl was installed without the `drill` extra."""
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if missing:
        raise InvalidInput(
            "irctl drill needs the rehearsal tooling (the embedded emulator and the stack "
            f"it provisions), which is not installed (missing: {', '.join(missing)}): "
            "install ir-readiness[drill], e.g. pip install 'ir-readiness[drill]' (in a "
            "checkout: make drill)")


class Irctl:
    """irctl as the drill uses it (`rehearsal.Responder`): playbooks and commands run
    in-process against the drill's world, exactly as a responder would run them."""

    def __init__(self, cli: click.Command) -> None:
        self.cli = cli
        """irctl's root command (global options, every subcommand)."""

    def run_playbook(self, world: World, case: str, playbook: str,
                     params: Mapping[str, str], phases: Sequence[str],
                     ) -> tuple[list[Any], dict[str, Any]]:
        from runbooks.workflows.playbook import run_playbook

        settings = Settings(region=world.home_region, endpoint_url=world.endpoint_url,
                            case_id=case, output="json", apply=True)
        return run_playbook(settings, playbook, dict(params), tuple(phases))

    def run_command(self, world: World, argv: Sequence[str]) -> tuple[int, str, str]:
        from click.testing import CliRunner

        args = ["--region", world.home_region, "--output", "json"]
        if world.endpoint_url:
            args += ["--endpoint-url", world.endpoint_url]
        result = CliRunner().invoke(self.cli, [*args, *argv])
        return result.exit_code, result.stdout, result.stderr


def _irctl(cli: click.Command | None) -> Irctl:
    """`cli`, or the root of the irctl invocation running now (`irctl drill`)."""
    if cli is None:
        context = click.get_current_context(silent=True)
        if context is None:
            raise TypeError("outside an irctl invocation, pass cli=runbooks.cli.main")
        cli = context.find_root().command
    return Irctl(cli)


def run_emulated_drill(scenario: str, out: Path, config: Path | None = None,
                       latency_ms: float = 0, inspect: Inspect | None = None,
                       cli: click.Command | None = None) -> tuple[DrillReport, Path, Path]:
    """The whole emulated drill (`rehearsal.run_emulated_drill`), once the extra is there.

    `inspect`, when given, is called with the world and the report while the emulator
    still runs (tests use it to read the resulting AWS state themselves). `cli` is irctl's
    root command (default: the one running now).
    """
    require_drill_extra()
    import rehearsal

    return rehearsal.run_emulated_drill(scenario, out, _irctl(cli), config=config,
                                        latency_ms=latency_ms, inspect=inspect)


def _scenario_names() -> list[str] | None:
    """`--scenario`'s choices, or None when the rehearsal package is not installed (the
    command then says how to install it instead of rejecting the option)."""
    if importlib.util.find_spec("rehearsal") is None:
        return None
    import rehearsal

    return rehearsal.scenario_names()


_SCENARIOS = _scenario_names()


def _print_summary(report: DrillReport, md_path: Path, json_path: Path) -> None:
    from rich.table import Table

    console = out_console()
    table = Table(title=f"Drill {report.run_id} ({report.mode}): "
                        f"{'PASSED' if report.passed else 'FAILED'}", title_justify="left")
    table.add_column("Scenario", no_wrap=True)
    table.add_column("Playbook")
    table.add_column("Case", no_wrap=True)
    table.add_column("Contained in", justify="right")
    table.add_column("Checks", justify="right")
    table.add_column("Result")
    for s in report.scenarios:
        passed = sum(c.passed for c in s.checks)
        table.add_row(s.name, s.playbook, s.case,
                      f"{s.seconds_to_contain:.2f} s" if s.seconds_to_contain is not None
                      else "-", f"{passed}/{len(s.checks)}",
                      "[green]pass[/]" if s.passed else "[bold red]FAIL[/]")
    console.print(table)
    for s in report.scenarios:
        if s.error:
            console.print(f"[red]{s.name}: {s.error}[/]", highlight=False)
        for c in s.checks:
            if not c.passed:
                console.print(f"[red]{s.name}: FAILED {c.name}: {c.detail}[/]", highlight=False)
    if report.cleanup is not None:
        cleanup = report.cleanup
        console.print(f"cleanup: {len(cleanup['removed'])} removed, "
                      f"{len(cleanup['refused'])} refused (not this run's), "
                      f"{len(cleanup['errors'])} error(s); total {report.seconds_total:.1f} s",
                      highlight=False)
        for problem in [*cleanup["errors"], *cleanup["refused"]]:
            console.print(f"[yellow]{problem}[/]", highlight=False)
        if cleanup["leftovers"]:
            console.print("[bold red]LEFTOVERS, delete by hand: "
                          f"{', '.join(cleanup['leftovers'])}[/]", highlight=False)
    else:
        console.print(f"stack provisioned ({len(report.provisioned)} resources) in "
                      f"{report.provision_seconds:.1f} s; total {report.seconds_total:.1f} s")
    console.print(f"report: {md_path} and {json_path}", highlight=False)


@click.command("drill")
@click.option("--scenario", default="all", show_default=True,
              type=click.Choice(_SCENARIOS, case_sensitive=True) if _SCENARIOS else str,
              help="Which incident to rehearse.")
@click.option("--out", "out_dir", default=DEFAULT_OUT, show_default=True,
              type=click.Path(file_okay=False), help="Where the Markdown/JSON report goes.")
@click.option("--latency-ms", default=0.0, show_default=True, type=click.FloatRange(0, 2000),
              help="Delay every emulated AWS call (100 models a real round trip).")
@click.option("--sandbox", is_flag=True,
              help="Run against a REAL sandbox account where the readiness stack is "
                   "deployed (guarded; see above).")
@click.option("--confirm-account", metavar="ACCOUNT_ID",
              help="With --sandbox: type the sandbox account id back to confirm.")
@aws_cli_options
@pass_settings
@handle_errors
def drill(settings: Settings, scenario: str, out_dir: str, latency_ms: float, sandbox: bool,
          confirm_account: str | None) -> None:
    """Rehearse incidents end to end; by default needs no AWS account.

    Starts an emulator on 127.0.0.1, provisions the readiness stack into it from the
    real Pulumi program, injects each scenario's incident, runs its playbook with
    --apply and verifies the outcome in AWS state. Exit code 0 only if every check
    passed.

    \b
    Real sandbox account (--sandbox; exercised only against the emulator so far):
      irctl --profile sandbox --region eu-west-1 drill --sandbox \\
            --confirm-account 123456789012 [--scenario compromised-ec2-instance]
    The readiness stack must already be deployed there (pulumi up): the manifest is
    read from SSM, nothing is provisioned. The credentials must be for the account
    typed back, else exit 2 and nothing is created. Only the scenarios safe in a real
    account run (all = compromised-ec2-instance, compromised-iam-credentials,
    compromised-workload-key, compromised-role-credentials); no GuardDuty finding or
    CloudTrail history is injected, the playbook acts on the victim's id; its
    notifications reach the stack's real alert subscribers. Victims are
    tagged ir-readiness:drill=<run id>; cleanup always runs and deletes only what
    carries that tag (instance, its snapshots and volumes, group, profile, roles,
    users); leftovers are listed in the report and fail the run.
    Cost: one t3.micro with an extra 8 GiB volume for a few minutes, and EBS
    snapshots that are deleted at the end.
    """
    # The drill runs for a minute or more: never silent meanwhile (a spinner, or a line
    # every few seconds in a log).
    with waiting(settings, f"drill {scenario}: provisioning the stack into the emulator, "
                 "injecting the incident, running the playbook, verifying"):
        if sandbox or confirm_account:
            report, md_path, json_path = run_sandbox_drill(
                settings, scenario, confirm_account, Path(out_dir), sandbox=sandbox)
        else:
            report, md_path, json_path = run_emulated_drill(scenario, Path(out_dir),
                                                            latency_ms=latency_ms)
    if settings.structured:
        emit_document(settings, report.to_dict())
    else:
        _print_summary(report, md_path, json_path)
    sys.exit(0 if report.passed else 1)


def run_sandbox_drill(settings: Settings, scenario: str, confirm_account: str | None,
                      out: Path, *, sandbox: bool = True, inspect: Inspect | None = None,
                      cli: click.Command | None = None) -> tuple[DrillReport, Path, Path]:
    """The drill in a real sandbox account where the readiness stack is deployed.

    Guard first (flag, account typed back, credentials of that account, safe scenarios
    only), then `rehearsal.run_sandbox_drill`: the manifest from SSM, a tagged victim and
    the playbook per scenario, and in any case the cleanup of what the run created.
    """
    # A real account needs neither the emulator nor the stack's SDKs: only the package.
    require_drill_extra(("rehearsal",))
    import rehearsal

    irctl = _irctl(cli)
    from runbooks.commands._shared import caller_identity, make_sessions

    names = rehearsal.sandbox_scenario_names(scenario)  # bad input before any AWS call
    if not sandbox or not confirm_account:
        rehearsal.SandboxGuard.check(sandbox=sandbox, confirm_account=confirm_account,
                                     identity={}, run_id="", scenarios=names)
    sessions = make_sessions(settings)
    identity: dict[str, Any] = caller_identity(sessions, settings.region)
    guard = rehearsal.SandboxGuard.check(sandbox=True, confirm_account=confirm_account,
                                         identity=identity, run_id=uuid.uuid4().hex[:8],
                                         scenarios=names)
    return rehearsal.run_sandbox_drill(sessions, guard, names, settings.region,
                                       settings.endpoint_url, settings.profile, out,
                                       irctl, inspect=inspect)


COMMANDS = [drill]
