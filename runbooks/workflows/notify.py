"""The high-topic message every containment sends once something was applied."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from runbooks.core.runner import RunResult, StepCall
    from runbooks.workflows.session import Session


def summary_message(session: Session, results: Sequence[RunResult]) -> str:
    """What was applied to which target, and how to review and undo it."""
    from runbooks.core.runner import APPLIED

    ctx = session.ctx
    lines = [f"ir-readiness case {ctx.case_id}: containment by {session.identity.get('Arn')}",
             f"account {ctx.account_id}, region {ctx.region}", ""]
    for result in results:
        for target in result.targets:
            done = [c.change.summary + (" -- NOT in the evidence bucket: queued locally"
                                        if isinstance(c.result.get("queued"), dict) else "")
                    for c in target.changes if c.status == APPLIED]
            lines.append(f"{result.kind} {target.target}: {target.status}")
            lines += [f"  - {summary}" for summary in done]
            if target.error:
                lines.append(f"  ! {target.error}")
    kinds = sorted({t.kind for r in results for t in r.targets})
    timing = [r.timing() for r in results if r.isolated_at is not None]
    tail = [*[f"{r.kind}: isolated {t['isolatedAt']}, done {t['doneAt']}"
              for r, t in zip([r for r in results if r.isolated_at is not None], timing,
                              strict=True)],
            "", f"Timeline: irctl case show {ctx.case_id}",
            *[f"Undo: irctl release {k} TARGET --case {ctx.case_id} --apply" for k in kinds]]
    return _within_sns_limit(lines, tail)


SNS_MESSAGE_BYTES = 262_144
"""SNS's limit on one message; a fleet's summary is cut to it (the case has it all)."""


def _within_sns_limit(lines: list[str], tail: list[str]) -> str:
    budget = SNS_MESSAGE_BYTES - len("\n".join(tail).encode()) - 200
    kept: list[str] = []
    used = 0
    for index, line in enumerate(lines):
        size = len(line.encode()) + 1
        if used + size > budget:
            kept.append(f"... {len(lines) - index} more line(s): the whole record is in "
                        "`irctl case show`")
            break
        kept.append(line)
        used += size
    return "\n".join([*kept, *tail])


def containment_notice(session: Session, what: str, targets: Sequence[str],
                       results: Sequence[RunResult]) -> dict[str, list[StepCall]]:
    """The `notify` run's pipeline: one `sns.notify` to the high topic, its subject
    naming the case, `what` was contained and the first three targets."""
    from runbooks.core.runner import StepCall

    shown = f"{', '.join(list(targets)[:3])}{' ...' if len(targets) > 3 else ''}"
    return {"high-topic": [StepCall("sns.notify", {
        "severity": "high",
        "subject": f"[{session.ctx.case_id}] contained {what}: {shown}",
        "message": summary_message(session, results)})]}
