"""`irctl playbook run` end to end as a subprocess against the emulator: plan changes
nothing, --apply contains, the topic's subscriber is told, a re-run is a no-op, and
`irctl release` undoes the playbook's containment like `contain instance`'s."""

from __future__ import annotations

import json
from typing import Any

from tests.runbooks.conftest import Readiness, launch_instances


def _groups(world: Readiness, instance_id: str) -> list[list[str]]:
    instance = world.client("ec2").describe_instances(InstanceIds=[instance_id])[
        "Reservations"][0]["Instances"][0]
    return [[g["GroupId"] for g in eni["Groups"]] for eni in instance["NetworkInterfaces"]]


def _subscribe_inbox(world: Readiness, severity: str) -> str:
    sqs = world.client("sqs")
    url = sqs.create_queue(QueueName=f"inbox-{severity}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"]
    world.client("sns").subscribe(TopicArn=world.manifest["topics"][severity], Protocol="sqs",
                                  Endpoint=arn)
    return url


def _drain(world: Readiness, url: str) -> list[dict[str, Any]]:
    messages = world.client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10).get(
        "Messages", [])
    return [json.loads(m["Body"]) for m in messages]


def test_plan_apply_rerun_and_release(server_readiness: Readiness) -> None:
    world = server_readiness
    inbox = _subscribe_inbox(world, "high")
    instance_id = launch_instances(world)[0]
    original = _groups(world, instance_id)
    isolation = world.manifest["quarantine"][world.vpc_id]["isolationSecurityGroupId"]
    args = ["--output", "json", "playbook", "run", "compromised-ec2-instance",
            "--param", f"instance_id={instance_id}"]

    plan = world.irctl(*args)
    assert plan.returncode == 0, plan.stderr
    planned = json.loads(plan.stdout)
    assert planned["playbook"] == "compromised-ec2-instance"
    steps = [c["step"] for run in planned["runs"] for t in run["targets"] for c in t["changes"]]
    assert "ec2.isolate" in steps and "sns.notify" in steps
    assert _groups(world, instance_id) == original  # plan changed nothing
    assert _drain(world, inbox) == []

    case = "ir-20261128-040000-abcdef"
    applied = world.irctl(*args, "--apply", "--case", case)
    assert applied.returncode == 0, applied.stderr
    assert _groups(world, instance_id) == [[isolation]]
    told = _drain(world, inbox)
    assert len(told) == 1 and instance_id in told[0]["Message"]
    assert any(f["id"] == "terminate" for f in json.loads(applied.stdout)["followUps"])

    again = world.irctl(*args, "--apply", "--case", case)
    assert again.returncode == 0, again.stderr
    rerun = json.loads(again.stdout)
    assert [c for run in rerun["runs"] for t in run["targets"] for c in t["changes"]] == []
    assert _drain(world, inbox) == []  # nothing changed, nobody paged twice

    released = world.irctl("--output", "json", "release", "instance", instance_id,
                           "--case", case, "--apply")
    assert released.returncode == 0, released.stderr
    assert _groups(world, instance_id) == original


def test_a_refused_plan_exits_2_and_changes_nothing(server_readiness: Readiness) -> None:
    world = server_readiness
    run = world.irctl("--output", "json", "playbook", "run", "compromised-ec2-instance",
                      "--param", "instance_id=i-0123456789abcdef0", "--apply")
    assert run.returncode == 2, run.stdout + run.stderr
    document = json.loads(run.stdout)
    assert document["stoppedAt"] == "containment"
    assert all(c["status"] == "not-attempted" for r in document["runs"]
               for t in r["targets"] for c in t["changes"])
