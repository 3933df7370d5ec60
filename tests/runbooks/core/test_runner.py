"""Runner behaviour that no single step shows: a crash mid-apply is rolled back."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from runbooks.core.audit import AuditLog
from runbooks.core.runner import Runner, StepCall
from runbooks.core.step import REGISTRY, Change, Step
from tests.runbooks.conftest import Readiness, launch_instances


class Boom(Step):
    name = "test.boom"
    description = "a step with a bug in apply"
    actions = frozenset({"ec2:DescribeInstances"})

    def plan(self) -> list[Change]:
        return [Change(self.name, str(self.params["instance_id"]), "explode")]

    def apply(self, change: Change) -> Mapping[str, Any]:
        raise RuntimeError("bug in a step")


def test_a_crash_mid_apply_rolls_the_target_back_and_propagates(
        readiness: Readiness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(REGISTRY, Boom.name, Boom)
    [iid] = launch_instances(readiness, 1)
    ctx = readiness.context()
    audit = AuditLog(ctx.case_id)
    params = {"instance_id": iid}

    with pytest.raises(RuntimeError, match="bug in a step"):
        Runner(ctx, audit, apply=True).run("instance", {iid: [
            StepCall("ec2.protect", params), StepCall("test.boom", params)]})

    protected = readiness.client("ec2").describe_instance_attribute(
        InstanceId=iid, Attribute="disableApiTermination")["DisableApiTermination"]["Value"]
    assert protected is False
    events = [r["event"] for r in audit.records()]
    assert "apply-crashed" in events and events.count("rolled-back") == 2
    assert audit.verify().ok
