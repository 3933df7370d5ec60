"""A command's procedure is its playbook's phase: one list, one order, run either way."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from runbooks.core.audit import AuditLog
from runbooks.core.errors import EXIT_OK
from runbooks.playbooks import PLAYBOOK_DIR
from runbooks.workflows.playbook import run_playbook
from runbooks.workflows.procedures import (
    access_key_containment,
    bucket_containment,
    instance_containment,
    procedure,
    role_containment,
)
from runbooks.workflows.session import Session, Settings
from tests.runbooks.conftest import Readiness, launch_instances

INSTANCE = "i-0123456789abcdef0"


def _phase_steps(playbook: str, phase: str) -> list[tuple[str, Any]]:
    doc = yaml.safe_load((PLAYBOOK_DIR / f"{playbook}.yaml").read_text())
    return [(a["step"], a.get("when")) for a in doc["phases"][phase] if "step" in a]


def _names(calls: list[Any]) -> list[str]:
    return [c.name for c in calls]


def test_contain_instance_is_the_ec2_playbooks_containment_phase() -> None:
    written = [step for step, _ in _phase_steps("compromised-ec2-instance", "containment")]
    assert _names(instance_containment(INSTANCE, stop=True)) == written
    assert _names(instance_containment(INSTANCE)) == [s for s in written if s != "ec2.stop"]
    assert all(c.params == {"instance_id": INSTANCE} for c in instance_containment(INSTANCE))


def test_the_capture_and_case_tag_come_before_isolation_changes_what_they_record() -> None:
    """A re-run after a crash reads the true pre-action state from the metadata capture
    of the case named by `ir:case`: both must be there while the ENIs still have the
    application's groups and the profile is attached; evidence comes first, and the
    instance leaves its ASG and target groups before it is isolated (health checks would
    replace or kill it). The tag is applied first, for every instance of the run in one
    pass (one CreateTags for many); the capture still describes the instance as read
    before any change (checked on moto in test_runner_network_first)."""
    order = _names(instance_containment(INSTANCE, stop=True))
    assert order[:2] == ["ec2.tag-contained", "ec2.capture-metadata"]
    tag = order.index("ec2.tag-contained")
    assert tag < order.index("ec2.isolate") and tag < order.index("ec2.detach-instance-profile")
    assert order.index("autoscaling.detach-instance") < order.index("ec2.isolate")
    assert order.index("elbv2.deregister-instance") < order.index("ec2.isolate")
    assert order[-1] == "ec2.stop"


def test_iam_and_s3_commands_are_views_of_their_playbooks() -> None:
    key = "AKIAIOSFODNN7EXAMPLE"
    assert _names(access_key_containment(key)) == [
        "iam.deactivate-access-key", "iam.deny-all-user", "iam.remove-login-profile"]
    assert _names(role_containment("web-app-role")) == ["iam.revoke-role-sessions"]
    bucket = _names(bucket_containment("customer-exports"))
    assert bucket == [step for step, _ in _phase_steps("exposed-s3-bucket", "containment")]
    # release undoes newest first: S3 refuses to restore a public policy or ACL under a block
    assert bucket.index("s3.block-public-access") > bucket.index(
        "s3.remove-public-policy-statements")
    assert bucket.index("s3.block-public-access") > bucket.index("s3.remove-public-acl-grants")


def test_a_phase_acting_on_another_target_cannot_be_a_command(tmp_path: Path) -> None:
    doc = yaml.safe_load((PLAYBOOK_DIR / "compromised-ec2-instance.yaml").read_text())
    doc["phases"]["containment"][1]["target"] = "${case}"
    path = tmp_path / "compromised-ec2-instance.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(ValueError, match="not on the command's target"):
        procedure(str(path), "containment", INSTANCE, {"instance_id": INSTANCE})
    with pytest.raises(ValueError, match="no parameter instance"):
        procedure(str(path), "containment", INSTANCE, {"instance": INSTANCE})


def captured_groups(world: Readiness, case: str, iid: str) -> list[list[str]]:
    """Every ENI's groups in the case's metadata capture of the instance (evidence bucket)."""
    body = world.client("s3").get_object(
        Bucket=world.manifest["evidenceBucket"],
        Key=f"cases/{case}/instances/{iid}/metadata.json")["Body"].read()
    return [[g["GroupId"] for g in e["Groups"]] for e in json.loads(body)["networkInterfaces"]]


class Killed(BaseException):
    """The responder's terminal (or the Lambda sandbox) dies mid-call."""


def test_a_playbook_run_killed_while_isolating_leaves_the_case_tag_and_capture(
        readiness: Readiness) -> None:
    """A re-run after a crash takes the true pre-action state from the held capture of
    the case named by `ir:case`: tag and capture must already be there when isolation
    starts. (The playbook used to tag last, so a run killed while isolating left the
    instance untagged.)"""
    ec2 = readiness.client("ec2")
    iid = launch_instances(readiness)[0]
    original = [[g["GroupId"] for g in eni["Groups"]] for eni in ec2.describe_instances(
        InstanceIds=[iid])["Reservations"][0]["Instances"][0]["NetworkInterfaces"]]

    killed: list[str] = []

    def dead_from_the_first_swap(event_name: str, **_: Any) -> None:
        # from the first ENI swap on, the process is gone: no call (not even a
        # rollback's) reaches AWS any more
        if killed or event_name.endswith(".ModifyNetworkInterfaceAttribute"):
            killed.append(event_name)
            raise Killed()

    ctx = readiness.context(event_hooks=[("before-call", dead_from_the_first_swap)])
    settings = Settings(region=ctx.region, case_id=ctx.case_id, apply=True, output="json")
    session = Session(settings, ctx.sessions, ctx, AuditLog(ctx.case_id), {"Arn": "tester"})

    with pytest.raises(Killed):
        run_playbook(settings, "compromised-ec2-instance", {"instance_id": iid},
                     ("containment",), session=session)

    described = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
    assert [[g["GroupId"] for g in e["Groups"]] for e in described["NetworkInterfaces"]] == (
        original)  # killed before the first swap
    tags = {t["Key"]: t["Value"] for t in described.get("Tags", [])}
    assert tags["ir:case"] == ctx.case_id
    assert captured_groups(readiness, ctx.case_id, iid) == original


def test_playbook_run_contains_and_records_the_application_groups(
        readiness: Readiness) -> None:
    ec2 = readiness.client("ec2")
    iid = launch_instances(readiness)[0]
    original = [[g["GroupId"] for g in eni["Groups"]] for eni in ec2.describe_instances(
        InstanceIds=[iid])["Reservations"][0]["Instances"][0]["NetworkInterfaces"]]
    ctx = readiness.context()
    settings = Settings(region=ctx.region, case_id=ctx.case_id, apply=True, output="json")
    session = Session(settings, ctx.sessions, ctx, AuditLog(ctx.case_id), {"Arn": "tester"})

    results, extra = run_playbook(settings, "compromised-ec2-instance",
                                  {"instance_id": iid}, ("containment",), session=session)

    assert [r.exit_code for r in results] == [EXIT_OK] * len(results), extra
    described = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
    isolation = readiness.manifest["quarantine"][readiness.vpc_id]["isolationSecurityGroupId"]
    assert [[g["GroupId"] for g in e["Groups"]] for e in described["NetworkInterfaces"]] == [
        [isolation]]
    tags = {t["Key"]: t["Value"] for t in described["Tags"]}
    assert tags["ir:case"] == ctx.case_id and "ir:pre-action" not in tags
    assert captured_groups(readiness, ctx.case_id, iid) == original
