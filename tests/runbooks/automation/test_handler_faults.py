"""The automation Lambda when the evidence bucket fails (issue #12 item 4 on the
automation path): the network cut and the profile removal never wait on evidence storage.

Runs the handler in-process against a moto server behind the fault-injecting layer, and
asserts the instance's state in the emulator.
"""

from __future__ import annotations

import importlib
import os
import time
from typing import Any

import pytest

from tests.runbooks.automation.test_handler import SHARED, load
from tests.runbooks.conftest import REGION, Readiness, launch_instances

pytestmark = pytest.mark.server


def _deliverable(world: Readiness, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, str, dict]:
    handler = importlib.import_module("runbooks.automation.handler")
    profile = world.client("iam").create_instance_profile(
        InstanceProfileName=f"app-{os.urandom(3).hex()}")["InstanceProfile"]["Arn"]
    [iid] = launch_instances(world, 1, volumes=1, profile_arn=profile)
    event = load(SHARED / "guardduty_event_cryptocurrency_ec2.json")
    details = event["detail"]["resource"]["instanceDetails"]
    details["instanceId"] = iid
    details.pop("iamInstanceProfile")
    details["networkInterfaces"][0]["vpcId"] = world.vpc_id
    assert world.endpoint_url
    for name, value in {"AWS_ENDPOINT_URL": world.endpoint_url, "AWS_REGION": REGION,
                        "IR_AUTOMATION_MODE": "apply",
                        "IR_AUTOMATION_FINDING_TYPES": "CryptoCurrency:EC2/",
                        "IR_AUTOMATION_MIN_SEVERITY": "1"}.items():
        monkeypatch.setenv(name, value)
    handler.reset_sessions()
    return handler, iid, event


def _state(world: Readiness, iid: str) -> tuple[list[str], list[str]]:
    ec2 = world.client("ec2")
    eni = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0][
        "NetworkInterfaces"][0]["NetworkInterfaceId"]
    groups = [g["GroupId"] for g in ec2.describe_network_interfaces(
        NetworkInterfaceIds=[eni])["NetworkInterfaces"][0]["Groups"]]
    profiles = [a["IamInstanceProfile"]["Arn"] for a in
                ec2.describe_iam_instance_profile_associations(Filters=[
                    {"Name": "instance-id", "Values": [iid]}])["IamInstanceProfileAssociations"]
                if a.get("State") in ("associated", "associating")]
    return groups, profiles


def test_with_every_evidence_write_failing_the_lambda_still_isolates(
        fault_readiness: Readiness, monkeypatch: pytest.MonkeyPatch) -> None:
    world = fault_readiness
    assert world.faults is not None
    handler, iid, event = _deliverable(world, monkeypatch)
    world.faults.fail("PutObject", status=503, code="SlowDown")
    world.faults.fail("ListObjectsV2", status=503, code="SlowDown")

    started = time.monotonic()
    try:
        result = handler.handler(event)
    finally:
        handler.reset_sessions()
    elapsed = time.monotonic() - started

    isolation = world.manifest["quarantine"][world.vpc_id]["isolationSecurityGroupId"]
    assert _state(world, iid) == ([isolation], [])
    [finding] = result["findings"]
    assert finding["status"] == "contained", finding
    warnings = " ".join(finding["warnings"])
    assert "NOT recorded" in warnings and "hourly cap NOT checked" in warnings, warnings
    assert "evidence NOT in the evidence bucket" in warnings, warnings
    assert world.faults.faulted["PutObject"] >= 1
    assert elapsed < 120, (elapsed, world.faults.faulted)  # bounded retries
