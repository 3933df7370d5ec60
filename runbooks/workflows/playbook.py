"""Run a playbook: its registered steps phase by phase, then its notifications.

Changes are recorded under the same kinds the contain workflows use (`instance`,
`access-key`, `role`, `ip`, `bucket`), so `irctl release instance ID --case CASE`
undoes a playbook's containment exactly like `irctl contain instance`'s. Commands and
manual actions come back as follow-ups for the responder. Used by `irctl playbook
run`, the automation Lambda and the drill.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runbooks.core.errors import InvalidInput
from runbooks.workflows.session import (
    SILENT,
    Feedback,
    Session,
    Settings,
    make_runner,
    open_session,
)

if TYPE_CHECKING:
    from runbooks.core.runner import RunResult
    from runbooks.playbooks import Action, Playbook

PHASE_CHOICES = ("analysis", "containment", "eradication", "recovery", "post-incident")

FREE_TEXT_PARAMS = frozenset({"restore_to"})
"""Playbook parameters that are not ids (a time may be written with a space)."""


def target_kind(pb: Playbook, action_id: str) -> str:
    """The release kind of an action's target: its step's `release_kind`, the kind the
    contain commands record (`instance`, `access-key`, `role`, `ip`, `bucket`), so
    `irctl release instance ID --case CASE` undoes a playbook's containment exactly like
    `irctl contain instance`'s."""
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
    *,
    feedback: Feedback = SILENT,
) -> tuple[list[RunResult], dict[str, Any]]:
    """Run a playbook's steps (plan, or apply with settings.apply); results and extras.

    Phases run in order; a phase whose run fails stops the playbook (later phases are
    reported as not run). Used by `irctl playbook run`, the drill and the automation
    Lambda (which passes its already opened `session`). The Lambda and the drill get
    no feedback; `irctl playbook run` passes the terminal's.
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
    session = session or open_session(settings, feedback=feedback)
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
        with feedback.progress(f"{pb.name}: {phase}") as listener:
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
