"""`irctl contain instance` for 10 instances while EC2 throttles every 3rd mutating call.

The fault layer answers every 3rd mutating EC2 request (ModifyInstanceAttribute,
CreateTags, ModifyNetworkInterfaceAttribute, DisassociateIamInstanceProfile,
CreateSnapshots, counted together across all clients) with 503 RequestLimitExceeded, as
EC2 does; botocore's retries absorb it and every instance ends contained.

Slow (about 45 s on a loaded 2-CPU machine, 90 s with 20 instances; far less with
`AWS_RETRY_MODE=standard`): the
default adaptive retry mode reads throttling as congestion and paces the whole EC2 client
down to its minimum rate, and this synthetic throttle answers every 3rd call whatever
the rate. Against a token-bucket model of EC2's real limits, adaptive is what completes
(`bench/results/contain_throttled.md`: N=100 exit 0 with adaptive, exit 3 with standard).
"""

from __future__ import annotations

import json
import time

import pytest

from tests.runbooks.conftest import Readiness, launch_instances

pytestmark = [pytest.mark.server, pytest.mark.slow]


def test_ten_instances_are_contained_while_every_third_mutating_call_is_throttled(
        fault_readiness: Readiness) -> None:
    world = fault_readiness
    assert world.faults is not None
    ids = launch_instances(world, 10, volumes=1)
    world.faults.throttle_mutating("ec2", every=3)
    started = time.monotonic()
    run = world.irctl("--output", "json", "contain", "instance", *ids, "--apply",
                      "--case", "c-throttled", timeout=300)
    elapsed = time.monotonic() - started
    assert elapsed < 240, elapsed
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    # throttling met every instance's cut, as with 20 instances before (>= 40 for 20)
    assert sum(world.faults.faulted.values()) >= 2 * len(ids), world.faults.faulted
    ec2 = world.client("ec2")
    isolation = world.manifest["quarantine"][world.vpc_id]["isolationSecurityGroupId"]
    instances = [i for r in ec2.describe_instances(InstanceIds=ids)["Reservations"]
                 for i in r["Instances"]]
    assert len(instances) == len(ids)
    for instance in instances:
        assert [[g["GroupId"] for g in e["Groups"]] for e in instance["NetworkInterfaces"]] \
            == [[isolation]], instance["InstanceId"]
        tags = {t["Key"]: t["Value"] for t in instance.get("Tags", [])}
        assert tags["ir:case"] == "c-throttled"
        assert ec2.describe_instance_attribute(
            InstanceId=instance["InstanceId"], Attribute="disableApiTermination"
        )["DisableApiTermination"]["Value"] is True
    snapshots = ec2.describe_snapshots(Filters=[
        {"Name": "tag:ir:source-instance", "Values": ids}])["Snapshots"]
    assert sorted({next(t["Value"] for t in s["Tags"] if t["Key"] == "ir:source-instance")
                   for s in snapshots}) == sorted(ids)
    print(f"contained {len(ids)} instances in {elapsed:.1f} s; throttled: "
          f"{json.dumps(dict(world.faults.faulted))}")
