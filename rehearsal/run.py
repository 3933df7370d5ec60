"""Run drill scenarios end to end and collect what happened.

For each scenario: create the victim, inject the incident, run the matching playbook
with `--apply` exactly as `irctl playbook run` does (same runner, audit log, exit
codes), run the playbook follow-up commands the scenario needs (e.g. the ransomware
restore), verify every expected outcome in AWS state (the scenario's own checks, and
every change still in place through its registered step's verify), and time it.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from rehearsal.scenarios import Check, Scenario
    from rehearsal.world import World


class Responder(Protocol):
    """What the drill asks of irctl, the product it rehearses: run a playbook, run one of
    its commands, in-process and exactly as a responder would. The `irctl drill` adapter
    provides it, so this package imports neither the CLI nor its commands (the adapter
    imports this package: the other way round would be a package cycle)."""

    def run_playbook(self, world: World, case: str, playbook: str,
                     params: Mapping[str, str], phases: Sequence[str],
                     ) -> tuple[list[Any], dict[str, Any]]:
        """`irctl playbook run` with --apply under `case`: (results, extra); raises an
        `IrError` when the playbook refuses to run."""
        ...

    def run_command(self, world: World, argv: Sequence[str]) -> tuple[int, str, str]:
        """One irctl command (the words after `irctl`) against the world's region and
        endpoint, JSON output: (exit code, stdout, stderr)."""
        ...


@dataclass
class ScenarioReport:
    """What one scenario did and whether every check passed."""

    name: str
    playbook: str
    case: str
    finding_type: str
    params: dict[str, str]
    timeline: list[dict[str, Any]] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)
    follow_ups: list[dict[str, Any]] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    exit_code: int = 0
    error: str | None = None
    seconds_to_contain: float | None = None
    seconds_total: float = 0.0

    @property
    def passed(self) -> bool:
        return self.error is None and self.exit_code == 0 and bool(self.checks) and all(
            c.passed for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.name,
            "playbook": self.playbook,
            "case": self.case,
            "findingType": self.finding_type,
            "params": self.params,
            "passed": self.passed,
            "exitCode": self.exit_code,
            "error": self.error,
            "secondsToContain": self.seconds_to_contain,
            "secondsTotal": round(self.seconds_total, 3),
            "timeline": self.timeline,
            "actions": self.actions,
            "followUps": self.follow_ups,
            "checks": [c.to_dict() for c in self.checks],
        }


def _stamp(timeline: list[dict[str, Any]], what: str, **extra: Any) -> float:
    now = time.perf_counter()
    timeline.append({"time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                     "event": what, **extra})
    return now


def _audit_timeline(case: str) -> list[dict[str, Any]]:
    """Each applied (or failed) change, at the time the case's audit log recorded it."""
    from runbooks.core.audit import AuditLog

    entries = []
    for record in AuditLog(case).records():
        if record.get("event") not in ("applied", "apply-failed", "rolled-back"):
            continue
        change = record.get("change", {})
        entries.append({"time": record["time"],
                        "event": f"{record['event']}: {record.get('step')} "
                                 f"{change.get('summary', '')}".strip()})
    return entries


def _run_follow_up(world: World, responder: Responder, command: str) -> dict[str, Any]:
    """Run one of the playbook's irctl commands in-process, as a responder would."""
    exit_code, stdout, stderr = responder.run_command(world, shlex.split(command)[1:])
    return {"command": command, "exitCode": exit_code,
            "output": stdout[-2000:], "error": stderr[-2000:] or None}


def run_scenario(world: World, scenario: Scenario, responder: Responder) -> ScenarioReport:
    """Victim, incident, playbook with --apply, follow-ups, verification, all within the
    scenario's `responding` (e.g. the EKS scenarios' Kubernetes fake, installed at
    irctl's Kubernetes interface)."""
    with scenario.responding(world):
        return _run_scenario(world, scenario, responder)


def _run_scenario(world: World, scenario: Scenario, responder: Responder) -> ScenarioReport:
    from runbooks.core.audit import new_case_id
    from runbooks.core.errors import IrError
    from runbooks.playbooks import load_playbook, substitute

    started = time.perf_counter()
    case = new_case_id()
    report = ScenarioReport(scenario.name, scenario.playbook, case, scenario.finding_type, {})
    timeline = report.timeline
    victim = scenario.prepare(world)
    _stamp(timeline, "victim workload created", victim={k: v for k, v in victim.items()
                                                       if k not in ("secret", "originals",
                                                                    "before")})
    incident = scenario.inject(world, victim)
    report.params = incident.params
    detected = _stamp(timeline, f"incident injected: {scenario.finding_type}",
                      finding=incident.finding.get("Id"), notes=incident.notes)
    try:
        results, extra = responder.run_playbook(world, case, scenario.playbook,
                                                incident.params, scenario.phases)
    except IrError as err:
        report.error = f"playbook refused: {err}"
        report.exit_code = err.exit_code
        report.seconds_total = time.perf_counter() - started
        return report
    contained = _stamp(timeline, f"playbook {scenario.playbook} applied "
                                 f"({', '.join(scenario.phases)})", stoppedAt=extra["stoppedAt"])
    timeline[-1:-1] = _audit_timeline(case)
    report.seconds_to_contain = round(contained - detected, 3)
    codes = [r.exit_code for r in results]
    report.exit_code = 3 if 3 in codes else max(codes, default=0)
    for result in results:
        for target in result.targets:
            for change in target.changes:
                report.actions.append({"kind": result.kind, "target": target.target,
                                       "step": change.change.step,
                                       "summary": change.change.summary,
                                       "status": change.status, "error": change.error})
    if scenario.follow_ups and report.exit_code == 0:
        pb = load_playbook(scenario.playbook)
        commands = {a["id"]: a["command"] for phase in pb.doc["phases"].values()
                    for a in phase if "command" in a}
        values = {**pb.resolve_params(incident.params), "case": case}
        for action_id in scenario.follow_ups:
            if not scenario.wants_follow_up(world, action_id):
                continue
            command = str(substitute(commands[action_id], values))
            outcome = _run_follow_up(world, responder, command)
            report.follow_ups.append(outcome)
            _stamp(timeline, f"follow-up `{command}` exited {outcome['exitCode']}")
            if outcome["exitCode"] != 0:
                report.exit_code = int(outcome["exitCode"])
    _stamp(timeline, "verification started")
    # The scenario's own outcomes, then every change still in place through its step's
    # verify (the registry's checks: what the steps themselves say must hold).
    from rehearsal.registry_checks import registry_checks

    report.checks = scenario.verify(world, incident, case) + registry_checks(world, case)
    _stamp(timeline, f"verification done: {sum(c.passed for c in report.checks)}/"
                     f"{len(report.checks)} checks passed")
    report.seconds_total = time.perf_counter() - started
    return report


@dataclass
class DrillReport:
    run_id: str
    mode: str
    account_id: str
    home_region: str
    regions: list[str]
    provision_seconds: float
    provisioned: list[dict[str, Any]]
    scenarios: list[ScenarioReport]
    seconds_total: float = 0.0
    cleanup: dict[str, Any] | None = None
    """Sandbox mode: what the cleanup removed, refused, failed on, and what is left."""

    @property
    def passed(self) -> bool:
        clean = self.cleanup is None or not (self.cleanup["leftovers"]
                                             or self.cleanup["errors"])
        return bool(self.scenarios) and all(s.passed for s in self.scenarios) and clean

    def to_dict(self) -> dict[str, Any]:
        recorded = [r for r in self.provisioned if r.get("recordedOnly")]
        return {
            "runId": self.run_id,
            "mode": self.mode,
            "passed": self.passed,
            "accountId": self.account_id,
            "homeRegion": self.home_region,
            "regions": self.regions,
            "secondsTotal": round(self.seconds_total, 3),
            "provisioning": {
                "seconds": round(self.provision_seconds, 3),
                "resources": len(self.provisioned),
                "recordedOnly": sorted({f"{r['type']} ({r['how']})" for r in recorded}),
            },
            "scenarios": [s.to_dict() for s in self.scenarios],
            **({"cleanup": self.cleanup} if self.cleanup is not None else {}),
        }


def write_report(report: DrillReport, directory: Path) -> tuple[Path, Path]:
    """Write `drill-<run>.json` and `drill-<run>.md` into `directory`."""
    import json

    from rehearsal.report import markdown

    directory.mkdir(parents=True, exist_ok=True)
    json_path = directory / f"drill-{report.run_id}.json"
    md_path = directory / f"drill-{report.run_id}.md"
    json_path.write_text(json.dumps(report.to_dict(), indent=2, default=str) + "\n")
    md_path.write_text(markdown(report.to_dict()))
    return md_path, json_path
