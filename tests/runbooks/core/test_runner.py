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


def test_rollback_leaves_alone_what_someone_changed_since(readiness: Readiness) -> None:
    """Isolation applied, then the profile detach fails; meanwhile someone else moved the
    ENI to the forensic group: the rollback must not revert their change (it reports it,
    exit 3), and release later refuses it as drift."""
    from runbooks.core.errors import EXIT_BAD_INPUT, EXIT_PARTIAL
    from runbooks.workflows.contain import instance_pipelines
    from tests.runbooks.conftest import _error_response

    iam = readiness.client("iam")
    profile = iam.create_instance_profile(InstanceProfileName="app-profile")[
        "InstanceProfile"]["Arn"]
    [iid] = launch_instances(readiness, 1, volumes=1, profile_arn=profile)
    ec2 = readiness.client("ec2")
    eni = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0][
        "NetworkInterfaces"][0]["NetworkInterfaceId"]
    forensic = readiness.manifest["quarantine"][readiness.vpc_id]["forensicSecurityGroupId"]

    def someone_else_then_fail(request: Any, event_name: str = "", **_: Any) -> Any:
        if not event_name.endswith(".DisassociateIamInstanceProfile"):
            return None
        ec2.modify_network_interface_attribute(NetworkInterfaceId=eni, Groups=[forensic])
        url = request.url
        request.method, request.body, request.url = "GET", b"", url.split("?", 1)[0]
        return _error_response(url, "ec2", "UnauthorizedOperation", 403)

    ctx = readiness.context(event_hooks=[("before-send", someone_else_then_fail)])
    audit = AuditLog(ctx.case_id)
    result = Runner(ctx, audit, apply=True).run("instance", instance_pipelines([iid]))

    groups = ec2.describe_network_interfaces(NetworkInterfaceIds=[eni])[
        "NetworkInterfaces"][0]["Groups"]
    assert [g["GroupId"] for g in groups] == [forensic]  # their change stands
    assert result.exit_code == EXIT_PARTIAL, result.to_dict()
    [isolate] = [c for c in result.targets[0].changes if c.change.step == "ec2.isolate"]
    assert isolate.status == "rollback-skipped" and forensic in str(isolate.error)
    assert ec2.describe_instance_attribute(InstanceId=iid, Attribute="disableApiTermination")[
        "DisableApiTermination"]["Value"] is False  # the rest was rolled back

    released = Runner(readiness.context(ctx.case_id), audit, apply=True).release(
        "instance", iid)
    assert released.exit_code == EXIT_BAD_INPUT, released.to_dict()
    groups = ec2.describe_network_interfaces(NetworkInterfaceIds=[eni])[
        "NetworkInterfaces"][0]["Groups"]
    assert [g["GroupId"] for g in groups] == [forensic]
