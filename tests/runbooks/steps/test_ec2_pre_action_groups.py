"""Where an already-quarantined ENI's pre-action groups come from (issue #16 section 4,
issue #21): only from the metadata capture of the case that contained the instance, held
in the evidence bucket, believed as the `ir:case` tag is (`contained_by`), never from a
tag (anyone with ec2:CreateTags can write one; irctl no longer writes `ir:pre-action`,
and one left by an older version is ignored). An attacker who put an ENI into the
allow-all conversion group and forged the tags must not steer what `release` restores:
containment still isolates the ENI, and release refuses for it (naming the ENI and what
to do) rather than restore forged groups or any quarantine group. A capture that is gone
or whose bytes changed counts as no capture. Run as a responder would (`irctl`
subprocess) against a moto server behind the fault layer."""

from __future__ import annotations

import json

import pytest

from runbooks.core.errors import EXIT_PARTIAL
from tests.runbooks.conftest import Readiness, launch_instances

pytestmark = pytest.mark.server


def quarantine(world: Readiness, role: str) -> str:
    found: str = world.manifest["quarantine"][world.vpc_id][f"{role}SecurityGroupId"]
    return found


def eni_of(world: Readiness, iid: str) -> tuple[str, list[str]]:
    described = world.client("ec2").describe_instances(InstanceIds=[iid])[
        "Reservations"][0]["Instances"][0]
    eni = described["NetworkInterfaces"][0]["NetworkInterfaceId"]
    groups = world.client("ec2").describe_network_interfaces(NetworkInterfaceIds=[eni])[
        "NetworkInterfaces"][0]["Groups"]
    return eni, sorted(g["GroupId"] for g in groups)


def attacker_group(world: Readiness) -> str:
    created: str = world.client("ec2").create_security_group(
        GroupName="attacker-open", Description="opened by the attacker",
        VpcId=world.vpc_id)["GroupId"]
    return created


@pytest.mark.parametrize("forged_role", ["conversion", "attacker"])
def test_forged_tags_on_a_quarantined_eni_are_not_believed(
        fault_readiness: Readiness, forged_role: str) -> None:
    world = fault_readiness
    [iid] = launch_instances(world, 1)
    eni, app = eni_of(world, iid)
    conversion = quarantine(world, "conversion")
    forged = conversion if forged_role == "conversion" else attacker_group(world)
    ec2 = world.client("ec2")
    # the attacker's doing: the ENI in the allow-all group, tags that claim a case
    ec2.modify_network_interface_attribute(NetworkInterfaceId=eni, Groups=[conversion])
    ec2.create_tags(Resources=[iid], Tags=[
        {"Key": "ir:case", "Value": "ir-attacker"},
        {"Key": "ir:pre-action", "Value": json.dumps({"sg": {eni: [forged]}})}])

    done = world.irctl("--output", "json", "contain", "instance", iid, "--case",
                       "ir-forged", "--apply")

    assert done.returncode == 0, (done.stdout, done.stderr)
    assert eni_of(world, iid) == (eni, [quarantine(world, "isolation")])
    isolate = [c for r in json.loads(done.stdout)["runs"] for t in r["targets"]
               for c in t["changes"] if c["step"] == "ec2.isolate"]
    assert [c["before"]["groups"] for c in isolate] == [[]], isolate  # nothing believed

    released = world.irctl("release", "instance", iid, "--case", "ir-forged", "--apply")

    # the ENI is neither put into the forged group nor back into the conversion group
    assert eni_of(world, iid) == (eni, [quarantine(world, "isolation")])
    assert forged not in app
    # partial: the rest of the case's changes are undone, this ENI is not
    assert released.returncode == EXIT_PARTIAL, (released.stdout, released.stderr)
    assert eni in released.stderr and "release needs the recorded state" in \
        released.stderr, released.stderr


def crashed_between_the_swaps(world: Readiness, iid: str, eni: str, case: str) -> None:
    first = world.irctl("contain", "instance", iid, "--case", case, "--apply")
    assert first.returncode == 0, (first.stdout, first.stderr)
    # as if the run died between the two swaps: the ENI in the conversion group
    world.client("ec2").modify_network_interface_attribute(
        NetworkInterfaceId=eni, Groups=[quarantine(world, "conversion")])


def isolate_befores(stdout: str) -> list[list[str]]:
    return [sorted(c["before"]["groups"]) for r in json.loads(stdout)["runs"]
            for t in r["targets"] for c in t["changes"] if c["step"] == "ec2.isolate"]


def test_the_held_capture_of_the_case_that_contained_it_is_believed_after_a_crash(
        fault_readiness: Readiness) -> None:
    """The case that captured and tagged the instance (a re-run whose audit log is gone,
    e.g. a second responder) still gets the true groups back, from its capture: a
    forged `ir:pre-action` tag changes nothing."""
    world = fault_readiness
    [iid] = launch_instances(world, 1)
    eni, app = eni_of(world, iid)
    crashed_between_the_swaps(world, iid, eni, "ir-first")
    world.client("ec2").create_tags(Resources=[iid], Tags=[
        {"Key": "ir:pre-action", "Value": json.dumps({"sg": {eni: [attacker_group(world)]}})}])

    again = world.irctl("--output", "json", "contain", "instance", iid, "--case",
                        "ir-second", "--apply")

    assert again.returncode == 0, (again.stdout, again.stderr)
    assert eni_of(world, iid) == (eni, [quarantine(world, "isolation")])
    assert isolate_befores(again.stdout) == [app]
    released = world.irctl("release", "instance", iid, "--case", "ir-second", "--apply")
    assert released.returncode == 0, (released.stdout, released.stderr)
    assert eni_of(world, iid) == (eni, app)


@pytest.mark.parametrize("capture", ["tampered", "missing"])
def test_without_an_intact_held_capture_the_groups_are_unknown(
        fault_readiness: Readiness, capture: str) -> None:
    world = fault_readiness
    [iid] = launch_instances(world, 1)
    eni, app = eni_of(world, iid)
    crashed_between_the_swaps(world, iid, eni, "ir-first")
    s3, bucket = world.client("s3"), world.manifest["evidenceBucket"]
    key = f"cases/ir-first/instances/{iid}/metadata.json"
    held = s3.get_object(Bucket=bucket, Key=key)
    if capture == "tampered":
        # the capture rewritten to name the attacker's group, keeping its recorded SHA-256
        document = json.loads(held["Body"].read())
        document["networkInterfaces"][0]["Groups"] = [{"GroupId": attacker_group(world)}]
        s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(document).encode(),
                      Metadata=held["Metadata"], ChecksumAlgorithm="SHA256")
    else:
        s3.delete_object(Bucket=bucket, Key=key)

    again = world.irctl("--output", "json", "contain", "instance", iid, "--case",
                        "ir-second", "--apply")

    assert again.returncode == 0, (again.stdout, again.stderr)
    assert eni_of(world, iid) == (eni, [quarantine(world, "isolation")])
    assert isolate_befores(again.stdout) == [[]]  # nothing believed
    released = world.irctl("release", "instance", iid, "--case", "ir-second", "--apply")
    assert released.returncode == EXIT_PARTIAL, (released.stdout, released.stderr)
    assert eni_of(world, iid) == (eni, [quarantine(world, "isolation")])
    assert eni in released.stderr and "release needs the recorded state" in \
        released.stderr, released.stderr
    assert app != [quarantine(world, "isolation")]
