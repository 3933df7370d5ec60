"""The containment notice of a fleet fits in one SNS message and carries isolated/done."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

from runbooks.core.runner import APPLIED, ChangeOutcome, RunResult, TargetOutcome
from runbooks.core.step import Change
from runbooks.workflows.notify import SNS_MESSAGE_BYTES, summary_message


def session() -> Any:
    ctx = SimpleNamespace(case_id="c-fleet", account_id="123456789012", region="eu-west-1")
    return SimpleNamespace(ctx=ctx, identity={"Arn": "arn:aws:sts::123456789012:x"})


def test_a_thousand_instances_fit_in_one_sns_message_with_both_times() -> None:
    now = datetime(2026, 12, 6, 22, 0, tzinfo=timezone.utc)
    isolated = now + timedelta(seconds=600)
    result = RunResult("c-fleet", "instance", True, started_at=now, isolated_at=isolated,
                       done_at=now + timedelta(seconds=1000))
    for index in range(1000):
        target = TargetOutcome("instance", f"i-{index:017x}")
        for eni in range(8):
            change = Change("ec2.isolate", target.target,
                            f"eni-{index:08x}{eni}: security groups sg-1 -> sg-2 -> sg-3 "
                            + "x" * 60)
            target.changes.append(ChangeOutcome(change, APPLIED))
        result.targets.append(target)
    message = summary_message(session(), [result])
    assert len(message.encode()) <= SNS_MESSAGE_BYTES
    assert "more line(s)" in message
    assert f"isolated {isolated.isoformat()}" in message
    assert message.rstrip().endswith("--case c-fleet --apply")
