"""`irctl drill`: rehearse the whole response on an embedded emulator (no AWS account).

Starts a moto server with the emulator's extensions on 127.0.0.1, provisions the
readiness stack into it by running the real Pulumi program through the mocks -> moto
bridge (Pulumi.example.yaml's config), then per scenario creates a victim workload,
injects the incident (GuardDuty finding, EventBridge event, CloudTrail history), runs
the matching playbook with --apply, verifies every expected outcome in AWS state and
reports: timeline, actions, time to contain, pass/fail per check, as Markdown + JSON.
Exit code 0 only when every check of every scenario passed, 1 otherwise, 2 for bad
input (unknown scenario, unguarded sandbox request).
"""

from __future__ import annotations

import importlib.util
import json
import sys
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from runbooks.commands._shared import Settings, handle_errors, pass_settings
from runbooks.core.errors import InvalidInput

if TYPE_CHECKING:
    from collections.abc import Callable

    from rehearsal.run import DrillReport
    from rehearsal.world import World

DEFAULT_OUT = "drill-reports"

#: What the emulated drill imports beyond irctl's own dependencies: the emulator (moto and
#: the web server it runs on) and the stack it provisions (the Pulumi program's SDKs). The
#: `drill` extra installs all of them (it includes `stack`).
DRILL_EXTRA_MODULES = ("moto", "flask", "flask_cors", "pulumi", "pulumi_aws", "pydantic")


def require_drill_extra() -> None:
    """One line naming the install, not an ImportError traceback from deep in the drill,
    when irctl was installed without the `drill` extra."""
    missing = [name for name in DRILL_EXTRA_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise InvalidInput(
            "irctl drill runs the stack on an embedded emulator, which is not installed "
            f"(missing: {', '.join(missing)}): install ir-readiness[drill], e.g. "
            "pip install 'ir-readiness[drill]' (in a checkout: make drill)")


def run_emulated_drill(scenario: str, out: Path, config: Path | None = None,
                       latency_ms: float = 0,
                       inspect: Callable[[World, DrillReport], None] | None = None,
                       ) -> tuple[DrillReport, Path, Path]:
    """The whole emulated drill; returns the report and the Markdown/JSON paths.

    `inspect`, when given, is called with the world and the report while the emulator
    still runs (tests use it to read the resulting AWS state themselves).
    """
    require_drill_extra()
    from rehearsal.emulator import events_sns, s3_policy, start_server
    from rehearsal.run import DrillReport, run_scenario, write_report
    from rehearsal.scenarios import get_scenarios
    from rehearsal.world import (
        EMULATOR_CREDENTIALS,
        EXAMPLE_CONFIG,
        provision_world,
        scoped_env,
    )

    chosen = get_scenarios(scenario)  # bad input before anything starts
    run_id = uuid.uuid4().hex[:8]
    started = time.perf_counter()
    env: dict[str, str | None] = {
        **EMULATOR_CREDENTIALS,
        "AWS_PROFILE": None,  # never send the operator's real credentials anywhere
        "AWS_ENDPOINT_URL": None,
        "IR_CASE_DIR": str((out / "cases").resolve()),
        # The stack attaches AWS managed policies; moto only knows them when asked to.
        "MOTO_IAM_LOAD_MANAGED_POLICIES": "true",
    }
    with scoped_env(env), start_server(latency_ms=latency_ms) as server:
        try:
            # moto's backends are per process: start from an empty account even when
            # something ran in this process before (the test suite does).
            server.reset_state()
            world = provision_world(server.endpoint_url, run_id, config or EXAMPLE_CONFIG)
            reports = [run_scenario(world, s) for s in chosen]
            report = DrillReport(run_id=run_id, mode="emulator", account_id=world.account_id,
                                 home_region=world.home_region, regions=world.regions,
                                 provision_seconds=world.provision_seconds,
                                 provisioned=world.provisioned, scenarios=reports)
            if inspect is not None:
                inspect(world, report)
        finally:
            # The emulator's state lives in this process (moto's backends): leave none
            # behind for whatever runs next in it (tests share a process).
            server.reset_state()
            s3_policy.uninstall()
            events_sns.uninstall()
    report.seconds_total = time.perf_counter() - started
    md_path, json_path = write_report(report, out)
    return report, md_path, json_path


def _scenario_names() -> list[str]:
    from rehearsal.scenarios import SCENARIOS

    return ["all", *SCENARIOS]


def _print_summary(report: DrillReport, md_path: Path, json_path: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"Drill {report.run_id} ({report.mode}): "
                        f"{'PASSED' if report.passed else 'FAILED'}", title_justify="left")
    table.add_column("Scenario", no_wrap=True)
    table.add_column("Playbook")
    table.add_column("Contained in", justify="right")
    table.add_column("Checks", justify="right")
    table.add_column("Result")
    for s in report.scenarios:
        passed = sum(c.passed for c in s.checks)
        table.add_row(s.name, s.playbook,
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
              type=click.Choice(_scenario_names(), case_sensitive=True),
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
@click.option("--output", "output_", type=click.Choice(["text", "json"]), default=None,
              help="text (tables) or json (the report on stdout).")
@pass_settings
@handle_errors
def drill(settings: Settings, scenario: str, out_dir: str, latency_ms: float, sandbox: bool,
          confirm_account: str | None, output_: str | None) -> None:
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
    if output_:
        settings.output = output_
    if sandbox or confirm_account:
        report, md_path, json_path = run_sandbox_drill(settings, scenario, confirm_account,
                                                       Path(out_dir), sandbox=sandbox)
    else:
        report, md_path, json_path = run_emulated_drill(scenario, Path(out_dir),
                                                        latency_ms=latency_ms)
    if settings.json:
        click.echo(json.dumps(report.to_dict(), indent=2, default=str))
    else:
        _print_summary(report, md_path, json_path)
    sys.exit(0 if report.passed else 1)


def sandbox_scenario_names(scenario: str) -> list[str]:
    """`all` in sandbox mode means every scenario that is safe in a real account."""
    from rehearsal.sandbox import SANDBOX_SCENARIOS
    from rehearsal.scenarios import SCENARIOS, get_scenarios

    if scenario == "all":
        return [name for name in SCENARIOS if name in SANDBOX_SCENARIOS]
    return [s.name for s in get_scenarios(scenario)]


def run_sandbox_drill(settings: Settings, scenario: str, confirm_account: str | None,
                      out: Path, *, sandbox: bool = True,
                      inspect: Callable[[World, DrillReport], None] | None = None,
                      ) -> tuple[DrillReport, Path, Path]:
    """The drill in a real sandbox account where the readiness stack is deployed.

    Guard first (flag, account typed back, credentials of that account, safe scenarios
    only), then the manifest from SSM (refused clearly when missing); per scenario a
    victim tagged `ir-readiness:drill=<run id>`, the playbook with --apply, checks in
    AWS state; and in any case (finally) the cleanup of everything carrying the run's
    tag, listing leftovers in the report.
    """
    from runbooks.commands._shared import caller_identity, make_sessions
    from rehearsal.run import DrillReport, ScenarioReport, run_scenario, write_report
    from rehearsal.sandbox import Cleanup, SandboxGuard, sandbox_world
    from rehearsal.scenarios import SCENARIOS
    from rehearsal.world import scoped_env

    names = sandbox_scenario_names(scenario)  # bad input before any AWS call
    if not sandbox or not confirm_account:
        SandboxGuard.check(sandbox=sandbox, confirm_account=confirm_account, identity={},
                           run_id="", scenarios=names)
    sessions = make_sessions(settings)
    identity: dict[str, Any] = caller_identity(sessions, settings.region)
    guard = SandboxGuard.check(sandbox=True, confirm_account=confirm_account,
                               identity=identity, run_id=uuid.uuid4().hex[:8],
                               scenarios=names)
    started = time.perf_counter()
    world = sandbox_world(sessions, guard, settings.region, settings.endpoint_url)
    env: dict[str, str | None] = {"IR_CASE_DIR": str((out / "cases").resolve())}
    if settings.profile:  # the playbook's own sessions use the same credentials
        env["AWS_PROFILE"] = settings.profile
    reports: list[ScenarioReport] = []
    with scoped_env(env):
        try:
            for name in names:
                chosen = SCENARIOS[name]
                try:
                    reports.append(run_scenario(world, chosen))
                except Exception as err:  # noqa: BLE001 - reported in the scenario, then cleaned
                    failed = ScenarioReport(chosen.name, chosen.playbook, "-",
                                            chosen.finding_type, {})
                    failed.error = f"{type(err).__name__}: {err}"
                    failed.exit_code = getattr(err, "exit_code", 1)
                    reports.append(failed)
        finally:
            cleanup = Cleanup(guard, world.client("ec2"), world.client("iam"),
                              cases=[r.case for r in reports if r.case != "-"]).run()
    report = DrillReport(run_id=guard.run_id, mode="sandbox", account_id=world.account_id,
                         home_region=world.home_region, regions=world.regions,
                         provision_seconds=0.0, provisioned=[], scenarios=reports,
                         cleanup=cleanup)
    if inspect is not None:
        inspect(world, report)
    report.seconds_total = time.perf_counter() - started
    md_path, json_path = write_report(report, out)
    return report, md_path, json_path


COMMANDS = [drill]
