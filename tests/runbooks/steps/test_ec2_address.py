"""`ec2.disassociate-address`: the instance's Elastic IP comes off at containment and goes
back (the same allocation, the same ENI and private IP) at release; verify watches it."""

from __future__ import annotations

from typing import Any

from runbooks.core.audit import AuditLog
from runbooks.core.runner import Runner, StepCall
from runbooks.core.step import REGISTRY, Change, load_all_steps
from tests.runbooks.conftest import Readiness, launch_instances


def _with_address(readiness: Readiness) -> tuple[str, str, dict[str, Any]]:
    """A running instance with an Elastic IP on its ENI: (instance, allocation, address)."""
    [iid] = launch_instances(readiness, 1, volumes=1)
    ec2 = readiness.client("ec2")
    allocation = ec2.allocate_address(Domain="vpc")["AllocationId"]
    ec2.associate_address(AllocationId=allocation, InstanceId=iid)
    [address] = ec2.describe_addresses(AllocationIds=[allocation])["Addresses"]
    assert address["InstanceId"] == iid and address.get("AssociationId")
    return iid, allocation, address


def _address(readiness: Readiness, allocation: str) -> dict[str, Any]:
    [address] = readiness.client("ec2").describe_addresses(
        AllocationIds=[allocation])["Addresses"]
    return dict(address)


def test_containment_takes_the_address_off_and_release_puts_the_same_one_back(
        readiness: Readiness) -> None:
    iid, allocation, original = _with_address(readiness)
    ctx = readiness.context()
    audit = AuditLog(ctx.case_id)

    result = Runner(ctx, audit, apply=True).run("instance", {iid: [
        StepCall("ec2.disassociate-address", {"instance_id": iid})]})
    assert result.exit_code == 0

    kept = _address(readiness, allocation)  # the allocation stays the account's
    assert kept["PublicIp"] == original["PublicIp"]
    assert not kept.get("AssociationId") and not kept.get("InstanceId")
    assert not kept.get("NetworkInterfaceId")

    released = Runner(readiness.context(ctx.case_id), audit, apply=True).release(
        "instance", iid)
    assert released.exit_code == 0
    back = _address(readiness, allocation)
    assert back.get("AssociationId")
    assert back["NetworkInterfaceId"] == original["NetworkInterfaceId"]
    # (moto leaves InstanceId empty for an ENI association: ask the ENI whose it is)
    [eni] = readiness.client("ec2").describe_network_interfaces(
        NetworkInterfaceIds=[back["NetworkInterfaceId"]])["NetworkInterfaces"]
    assert eni["Attachment"]["InstanceId"] == iid
    assert back["PrivateIpAddress"] == original["PrivateIpAddress"]
    assert back["PublicIp"] == original["PublicIp"]


def test_a_rerun_plans_nothing_and_an_instance_without_address_is_left_alone(
        readiness: Readiness) -> None:
    iid, allocation, _ = _with_address(readiness)
    [plain] = launch_instances(readiness, 1, volumes=1)
    ctx = readiness.context()
    audit = AuditLog(ctx.case_id)
    calls = {i: [StepCall("ec2.disassociate-address", {"instance_id": i})]
             for i in (iid, plain)}
    first = Runner(ctx, audit, apply=True).run("instance", calls)
    assert [(t.target, len(t.changes)) for t in first.targets] == [(iid, 1), (plain, 0)]

    again = Runner(readiness.context(ctx.case_id), audit, apply=True).run("instance", calls)
    assert all(not t.changes for t in again.targets)
    assert not _address(readiness, allocation).get("AssociationId")


def test_verify_holds_until_the_address_reaches_the_instance_again(
        readiness: Readiness) -> None:
    iid, allocation, original = _with_address(readiness)
    ctx = readiness.context()
    step = load_all_steps()["ec2.disassociate-address"](ctx, {"instance_id": iid})
    step.validate()
    ctx.targets = (iid,)
    [change] = step.plan()
    result = dict(step.apply(change))

    check = step.verify(change, result)
    assert check.holds and check.actual == "unassociated"
    assert check.expected == f"not on {original['NetworkInterfaceId']}"

    readiness.client("ec2").associate_address(AllocationId=allocation, InstanceId=iid)
    check = step.verify(change, result)
    assert not check.holds and check.actual == f"on {original['NetworkInterfaceId']}"


def test_release_refuses_when_the_address_was_moved_elsewhere_since(
        readiness: Readiness) -> None:
    iid, allocation, _ = _with_address(readiness)
    [other] = launch_instances(readiness, 1, volumes=1)
    ctx = readiness.context()
    audit = AuditLog(ctx.case_id)
    Runner(ctx, audit, apply=True).run("instance", {iid: [
        StepCall("ec2.disassociate-address", {"instance_id": iid})]})
    readiness.client("ec2").associate_address(AllocationId=allocation, InstanceId=other)

    released = Runner(readiness.context(ctx.case_id), audit, apply=True).release(
        "instance", iid)
    assert released.exit_code != 0  # drift: someone else's association is not undone
    assert _address(readiness, allocation)["InstanceId"] == other


def test_the_step_is_registered_complete() -> None:
    cls = REGISTRY.get("ec2.disassociate-address") or load_all_steps()[
        "ec2.disassociate-address"]
    assert cls.actions == {"ec2:DescribeInstances", "ec2:DescribeAddresses",
                           "ec2:DisassociateAddress", "ec2:AssociateAddress"}
    assert cls.reversible and cls.release_kind == "instance"
    assert cls.subject(Change(cls.name, "i-0", "", {}, {"allocationId": "eipalloc-1"})) \
        == "eipalloc-1"
