"""Rehearsal of the incident-response flow, apart from the product (`runbooks`).

What responders and the Lambda install is `runbooks`; this package is what only a
rehearsal needs, installed with the `drill` extra (moto, its web server, the stack's
SDKs):

- `rehearsal.emulator`: moto extended with the AWS APIs moto lacks (GuardDuty findings,
  Security Hub finding workflow and filters, AWS Backup jobs, recovery points and
  restores, CloudTrail `LookupEvents`, ...), in-process (`install`, with `mock_aws`) or
  over HTTP (`start_server`);
- `rehearsal.bridge`: the Pulumi mocks -> moto bridge that provisions the readiness
  program into the emulator, one module per AWS service;
- `rehearsal.scenarios`: the drill's incidents, one module per scenario;
- `rehearsal.world`, `rehearsal.sandbox`, `rehearsal.run`, `rehearsal.report`: the
  emulated world, the sandbox-account guard and cleanup, running and reporting.

The names below are the package's public interface: `irctl drill`
(`runbooks/commands/drill.py`, the only product module that imports this package)
uses nothing else. Product code never depends on the emulator; it talks to whatever
endpoint the session factory points at.
"""

from __future__ import annotations

from rehearsal.drill import (
    Inspect,
    run_emulated_drill,
    run_sandbox_drill,
    sandbox_scenario_names,
    scenario_names,
)
from rehearsal.run import DrillReport, Responder, ScenarioReport
from rehearsal.sandbox import SandboxGuard
from rehearsal.world import World

__all__ = [
    "DrillReport",
    "Inspect",
    "Responder",
    "SandboxGuard",
    "ScenarioReport",
    "World",
    "run_emulated_drill",
    "run_sandbox_drill",
    "sandbox_scenario_names",
    "scenario_names",
]
