"""The `fault_readiness` fixture: the CLI reaches the emulator through the fault layer."""

from __future__ import annotations

import pytest

from tests.runbooks.conftest import Readiness, launch_instances

pytestmark = pytest.mark.server


def test_the_cli_sees_the_faults_and_a_killed_client_leaves_the_change_made(
        fault_readiness: Readiness) -> None:
    world = fault_readiness
    assert world.faults is not None
    [iid] = launch_instances(world, 1, volumes=1)
    world.faults.deny("DescribeInstances")
    denied = world.irctl("contain", "instance", iid)
    assert denied.returncode != 0
    assert "UnauthorizedOperation" in denied.stdout + denied.stderr
    assert world.faults.faulted["DescribeInstances"] >= 1
    world.faults.clear()

    hold = world.faults.hold("ModifyNetworkInterfaceAttribute", calls={1})
    proc = world.irctl_popen("contain", "instance", iid, "--apply", "--case", "fx-1")
    try:
        assert hold.arrived.wait(60), proc.communicate(timeout=5)
        proc.kill()
        proc.wait(10)
    finally:
        hold.release()
    eni = world.client("ec2").describe_instances(InstanceIds=[iid])[
        "Reservations"][0]["Instances"][0]["NetworkInterfaces"][0]
    conversion = world.manifest["quarantine"][world.vpc_id]["conversionSecurityGroupId"]
    # the call the client never heard back from was made: the ENI is in the conversion group
    assert [g["GroupId"] for g in eni["Groups"]] == [conversion]
