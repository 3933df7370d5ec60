"""The whole drill, emulated or in a sandbox account: what `irctl drill` runs.

`run_emulated_drill` starts the emulator on 127.0.0.1, provisions the readiness stack
into it through the bridge and runs the chosen scenarios; `run_sandbox_drill` runs the
sandbox-safe scenarios in a real account whose guard already passed, and always cleans
up what the run created. Both write the Markdown/JSON report and return it with its
paths. The CLI adapter (`runbooks/commands/drill.py`) parses, guards, renders and exits,
and passes irctl itself in as the `Responder` the scenarios' playbooks and follow-up
commands run through.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rehearsal.run import DrillReport, Responder, ScenarioReport, run_scenario, write_report
from rehearsal.sandbox import SANDBOX_SCENARIOS, Cleanup, SandboxGuard, sandbox_world
from rehearsal.scenarios import SCENARIOS, get_scenarios
from rehearsal.world import World, scoped_env

Inspect = Callable[[World, DrillReport], None]
"""Called with the world and the report while the emulator still runs (tests read the
resulting AWS state with it)."""


def scenario_names() -> list[str]:
    """What `--scenario` accepts: `all`, then every scenario in the order a drill runs."""
    return ["all", *SCENARIOS]


def sandbox_scenario_names(scenario: str) -> list[str]:
    """`all` in sandbox mode means every scenario that is safe in a real account."""
    if scenario == "all":
        return [name for name in SCENARIOS if name in SANDBOX_SCENARIOS]
    return [s.name for s in get_scenarios(scenario)]


def run_emulated_drill(scenario: str, out: Path, responder: Responder,
                       config: Path | None = None, latency_ms: float = 0,
                       inspect: Inspect | None = None) -> tuple[DrillReport, Path, Path]:
    """The whole emulated drill; returns the report and the Markdown/JSON paths."""
    from rehearsal.emulator import events_sns, s3_policy, start_server
    from rehearsal.world import EMULATOR_CREDENTIALS, EXAMPLE_CONFIG, provision_world

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
            reports = [run_scenario(world, s, responder) for s in chosen]
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


def run_sandbox_drill(sessions: Any, guard: SandboxGuard, names: list[str],
                      region: str | None, endpoint_url: str | None, profile: str | None,
                      out: Path, responder: Responder, inspect: Inspect | None = None,
                      ) -> tuple[DrillReport, Path, Path]:
    """The drill in a real sandbox account where the readiness stack is deployed.

    `guard` has passed (flag, account typed back, credentials of that account, safe
    scenarios only). The manifest comes from SSM (refused clearly when missing); per
    scenario a victim tagged `ir-readiness:drill=<run id>`, the playbook with --apply,
    checks in AWS state; and in any case (finally) the cleanup of everything carrying the
    run's tag, listing leftovers in the report.
    """
    started = time.perf_counter()
    world = sandbox_world(sessions, guard, region, endpoint_url)
    env: dict[str, str | None] = {"IR_CASE_DIR": str((out / "cases").resolve())}
    if profile:  # the playbook's own sessions use the same credentials
        env["AWS_PROFILE"] = profile
    reports: list[ScenarioReport] = []
    with scoped_env(env):
        try:
            for name in names:
                chosen = SCENARIOS[name]
                try:
                    reports.append(run_scenario(world, chosen, responder))
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
