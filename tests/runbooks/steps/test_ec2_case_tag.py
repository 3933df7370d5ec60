"""An `ir:case` tag already on an instance never skips evidence capture (which records the
pre-action state) or the snapshots (issue #16 section 4): anyone with ec2:CreateTags can
write it. It is believed only for a case whose capture of the instance is in the
evidence bucket while the instance is still quarantined (a second responder re-running
containment). Run as a responder would (`irctl` subprocess) against a moto server behind
the fault layer."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.runbooks.conftest import Readiness, launch_instances

pytestmark = pytest.mark.server

FORGED = '{"sg":{},"profile":null,"state":"stopped"}'


def tags(world: Readiness, iid: str) -> dict[str, str]:
    described = world.client("ec2").describe_instances(InstanceIds=[iid])[
        "Reservations"][0]["Instances"][0]
    return {t["Key"]: t["Value"] for t in described.get("Tags", [])}


def groups(world: Readiness, iid: str) -> list[str]:
    described = world.client("ec2").describe_instances(InstanceIds=[iid])[
        "Reservations"][0]["Instances"][0]
    return [g["GroupId"] for g in described["NetworkInterfaces"][0]["Groups"]]


def metadata(world: Readiness, case: str, iid: str) -> dict[str, Any] | None:
    from botocore.exceptions import ClientError

    try:
        body = world.client("s3").get_object(
            Bucket=world.manifest["evidenceBucket"],
            Key=f"cases/{case}/instances/{iid}/metadata.json")["Body"].read()
    except ClientError as err:
        if err.response["Error"]["Code"] in ("NoSuchKey", "404"):
            return None
        raise
    document: dict[str, Any] = json.loads(body)
    return document


def snapshots(world: Readiness, case: str, iid: str) -> list[str]:
    found = world.client("ec2").describe_snapshots(OwnerIds=["self"], Filters=[
        {"Name": "tag:ir:case", "Values": [case]},
        {"Name": "tag:ir:source-instance", "Values": [iid]}])["Snapshots"]
    return [s["SnapshotId"] for s in found]


def plant(world: Readiness, iid: str, case: str) -> None:
    world.client("ec2").create_tags(Resources=[iid], Tags=[
        {"Key": "ir:case", "Value": case}, {"Key": "ir:pre-action", "Value": FORGED}])


def test_a_planted_case_tag_does_not_skip_capture_of_the_pre_action_state(
        fault_readiness: Readiness) -> None:
    world = fault_readiness
    [iid] = launch_instances(world, 1, volumes=1)
    app = groups(world, iid)
    plant(world, iid, "ir-attacker")

    done = world.irctl("contain", "instance", iid, "--case", "ir-tagged", "--apply")

    assert done.returncode == 0, (done.stdout, done.stderr)
    captured = metadata(world, "ir-tagged", iid)
    assert captured is not None and captured["consoleOutputBase64"] is not None
    assert captured["tags"]["ir:case"] == "ir-attacker"  # what the instance looked like
    now = tags(world, iid)
    assert now["ir:case"] == "ir-tagged"
    assert [[g["GroupId"] for g in e["Groups"]] for e in captured["networkInterfaces"]] \
        == [app]
    assert now["ir:pre-action"] == FORGED  # not irctl's: left alone, and never read
    assert snapshots(world, "ir-tagged", iid)
    # ...and release puts back what was there before, the planted tags included
    released = world.irctl("release", "instance", iid, "--case", "ir-tagged", "--apply")
    assert released.returncode == 0, (released.stdout, released.stderr)
    assert groups(world, iid) == app
    assert tags(world, iid)["ir:case"] == "ir-attacker"


def test_a_case_tag_left_on_a_released_instance_does_not_skip_capture(
        fault_readiness: Readiness) -> None:
    world = fault_readiness
    [iid] = launch_instances(world, 1, volumes=1)
    first = world.irctl("contain", "instance", iid, "--case", "ir-old", "--apply")
    assert first.returncode == 0, (first.stdout, first.stderr)
    released = world.irctl("release", "instance", iid, "--case", "ir-old", "--apply")
    assert released.returncode == 0, (released.stdout, released.stderr)
    plant(world, iid, "ir-old")  # a stale tag naming a case that did capture it once

    done = world.irctl("contain", "instance", iid, "--case", "ir-new", "--apply")

    assert done.returncode == 0, (done.stdout, done.stderr)
    assert metadata(world, "ir-new", iid) is not None
    assert tags(world, iid)["ir:case"] == "ir-new"
    assert snapshots(world, "ir-new", iid)


def test_an_instance_contained_by_another_case_is_left_as_it_is(
        fault_readiness: Readiness) -> None:
    world = fault_readiness
    [iid] = launch_instances(world, 1, volumes=1)
    first = world.irctl("contain", "instance", iid, "--case", "ir-first", "--apply")
    assert first.returncode == 0, (first.stdout, first.stderr)

    again = world.irctl("--output", "json", "contain", "instance", iid, "--case",
                        "ir-second", "--apply")

    assert again.returncode == 0, (again.stdout, again.stderr)
    applied = [c for r in json.loads(again.stdout)["runs"] for t in r["targets"]
               for c in t["changes"] if c["status"] == "applied"]
    assert applied == []
    assert metadata(world, "ir-second", iid) is None
    assert tags(world, iid)["ir:case"] == "ir-first"
