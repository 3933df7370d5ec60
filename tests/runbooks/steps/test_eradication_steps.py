"""Eradication steps against moto: termination protection lifted, replacement key
secret handed over once and the key deleted again on rollback."""

from __future__ import annotations

import boto3
import pytest

from runbooks.core.errors import PreconditionFailed
from runbooks.steps.eradicate import TerminateInstance
from tests.runbooks.steps.conftest import REGION, apply_all


def _instance_with_snapshot(ctx, case: str, tag_case: str | None = None):
    ec2 = boto3.client("ec2", region_name=REGION)
    instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)["Instances"][0]
    iid = instance["InstanceId"]
    ec2.modify_instance_attribute(InstanceId=iid, DisableApiTermination={"Value": True})
    volume = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0][
        "BlockDeviceMappings"][0]["Ebs"]["VolumeId"]
    snapshot = ec2.create_snapshot(VolumeId=volume, TagSpecifications=[
        {"ResourceType": "snapshot", "Tags": [{"Key": "ir:case", "Value": tag_case or case}]}])
    return iid, volume, snapshot["SnapshotId"]


def test_terminate_lifts_protection_with_evidence(make_ctx) -> None:
    ctx = make_ctx(case_id="ir-step-term")
    iid, volume, snap = _instance_with_snapshot(ctx, ctx.case_id)
    step = TerminateInstance(ctx, {"instance_id": iid, "recorded_snapshots": {volume: snap}})
    [(change, _)] = apply_all(step)
    assert change.before["terminationProtection"] is True
    ec2 = boto3.client("ec2", region_name=REGION)
    state = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0][
        "State"]["Name"]
    assert state in ("shutting-down", "terminated")
    assert TerminateInstance(ctx, {"instance_id": iid, "recorded_snapshots": {}}).plan() == []


def test_terminate_refuses_a_snapshot_of_another_case(make_ctx) -> None:
    ctx = make_ctx(case_id="ir-step-mine")
    iid, volume, snap = _instance_with_snapshot(ctx, ctx.case_id, tag_case="ir-someone-else")
    step = TerminateInstance(ctx, {"instance_id": iid, "recorded_snapshots": {volume: snap}})
    with pytest.raises(PreconditionFailed, match=volume):
        step.plan()


def test_no_step_declares_a_credential_creating_action() -> None:
    """Issue #15 point 0: credentials for other principals are the owner's to create."""
    from runbooks.core.step import load_all_steps

    creating = {"iam:CreateAccessKey", "iam:CreateLoginProfile", "iam:UpdateLoginProfile"}
    assert {n: sorted(c.actions & creating) for n, c in load_all_steps().items()
            if c.actions & creating} == {}
