"""`irctl contain function`: contain compromised Lambda functions.

The steps are the containment phase of `compromised-lambda-function` (`procedures`). The
command runs them in two runs: the cut (concurrency, event sources, public statements,
role sessions) first, then the evidence capture (code package and configuration) in a
run of its own, so a failed download is reported (exit 1) but never rolls the
containment back, and the cut never waits on a download. `irctl playbook run` runs the
same phase as one run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from runbooks.workflows.fleet import run_across, split_targets
from runbooks.workflows.notify import containment_notice
from runbooks.workflows.procedures import function_containment
from runbooks.workflows.session import (
    SILENT,
    Feedback,
    Outcome,
    Settings,
    make_runner,
    open_session,
)

if TYPE_CHECKING:
    from runbooks.core.runner import Runner, RunResult, StepCall

EVIDENCE_STEPS = frozenset({"lambda.capture-function"})


def _split(names: list[str]) -> tuple[dict[str, list[StepCall]], dict[str, list[StepCall]]]:
    """Per function, the phase's containment calls and its evidence calls, in order."""
    cut: dict[str, list[StepCall]] = {}
    evidence: dict[str, list[StepCall]] = {}
    for name in names:
        calls = function_containment(name)
        cut[name] = [c for c in calls if c.name not in EVIDENCE_STEPS]
        evidence[name] = [c for c in calls if c.name in EVIDENCE_STEPS]
    return cut, evidence


def contain_functions(settings: Settings, names: Sequence[str], *,
                      feedback: Feedback = SILENT) -> Outcome:
    """Contain Lambda functions (`ACCOUNT:REGION:NAME` targets across scopes), then save
    each contained function's code and configuration in a run of its own."""
    from runbooks.core.runner import APPLIED
    from runbooks.steps.lambda_function import validate_function_name

    groups, single = split_targets(settings, names, what="function")
    for found in groups.values():
        for name in found:
            validate_function_name(name)  # bad input fails before any AWS call

    if not single:
        def capture(runner: Runner, contained: RunResult) -> list[RunResult]:
            planned = [t.target for t in contained.targets if t.error is None]
            if not planned:
                return []
            return [runner.run("function", _split(planned)[1])]

        return run_across(settings, "function",
                          {scope: _split(list(dict.fromkeys(found)))[0]
                           for scope, found in groups.items()},
                          after=capture, feedback=feedback)

    targets = list(dict.fromkeys(next(iter(groups.values()))))
    cut, evidence = _split(targets)
    session = open_session(settings, feedback=feedback)
    with feedback.progress("contain function") as listener:
        runner = make_runner(session, listener)
        contained = runner.run("function", cut)
        results = [contained]
        planned = [t.target for t in contained.targets if t.error is None]
        if planned:
            results.append(runner.run("function", {t: evidence[t] for t in planned}))
        applied = any(c.status == APPLIED for t in contained.targets for c in t.changes)
        if settings.apply and applied:
            results.append(runner.run("notify", containment_notice(
                session, "function", targets, results)))
    return Outcome(results)
