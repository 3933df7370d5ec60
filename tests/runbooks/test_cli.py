"""irctl end to end, as a user runs it: `python -m runbooks` in a subprocess against a moto
server on loopback (AWS_ENDPOINT_URL, fake credentials). Assertions on AWS state."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from runbooks.core.manifest_schema import MANIFEST_PARAMETER
from tests.runbooks.conftest import Readiness, launch_instances

pytestmark = pytest.mark.server


def eni_groups(world: Readiness, instance_id: str) -> list[list[str]]:
    enis = world.client("ec2").describe_network_interfaces(Filters=[
        {"Name": "attachment.instance-id", "Values": [instance_id]}])["NetworkInterfaces"]
    return [[g["GroupId"] for g in e["Groups"]] for e in enis]


def subscribe_queue(world: Readiness, severity: str) -> str:
    sqs = world.client("sqs")
    url: str = sqs.create_queue(QueueName=f"q-{severity}-{world.vpc_id}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    world.client("sns").subscribe(TopicArn=world.manifest["topics"][severity], Protocol="sqs",
                                  Endpoint=arn)
    return url


def messages(world: Readiness, queue_url: str) -> list[dict[str, Any]]:
    received = world.client("sqs").receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
    return [json.loads(m["Body"]) for m in received.get("Messages", [])]


def test_contain_instance_end_to_end_then_case_show_and_release(
        server_readiness: Readiness) -> None:
    world = server_readiness
    ids = launch_instances(world, 2)
    original = {i: eni_groups(world, i) for i in ids}
    queue = subscribe_queue(world, "high")
    isolation = world.manifest["quarantine"][world.vpc_id]["isolationSecurityGroupId"]

    plan = world.irctl("contain", "instance", *ids)
    assert plan.returncode == 0, plan.stderr
    assert "Re-run with --apply" in plan.stdout
    assert {i: eni_groups(world, i) for i in ids} == original
    assert "case: ir-" in plan.stderr  # generated and printed

    done = world.irctl("--output", "json", "contain", "instance", *ids, "--apply",
                       "--case", "ir-e2e-1")
    assert done.returncode == 0, done.stderr + done.stdout
    report = json.loads(done.stdout)
    assert report["case"] == "ir-e2e-1" and report["exitCode"] == 0
    for iid in ids:
        assert eni_groups(world, iid) == [[isolation]]
        snapshots = world.client("ec2").describe_snapshots(OwnerIds=["self"], Filters=[
            {"Name": "tag:ir:source-instance", "Values": [iid]}])["Snapshots"]
        assert len(snapshots) == 2
    [notice] = messages(world, queue)
    assert "ir-e2e-1" in notice["Subject"]
    assert all(i in notice["Message"] for i in ids)
    assert "irctl release instance" in notice["Message"]
    uploaded = world.client("s3").get_object(Bucket=world.manifest["evidenceBucket"],
                                             Key="cases/ir-e2e-1/audit.jsonl")["Body"].read()
    assert uploaded == (world.case_dir / "ir-e2e-1" / "audit.jsonl").read_bytes()

    again = world.irctl("--output", "json", "--case", "ir-e2e-1", "contain", "instance", *ids,
                        "--apply")
    assert again.returncode == 0
    assert all(t["changes"] == [] for t in json.loads(again.stdout)["runs"][0]["targets"])
    assert messages(world, queue) == []  # nothing applied, nobody paged

    shown = world.irctl("case", "show", "ir-e2e-1")
    assert shown.returncode == 0, shown.stderr
    assert "hash chain verified" in shown.stdout
    assert "ec2.isolate" in shown.stdout

    released = world.irctl("release", "instance", ids[0], "--case", "ir-e2e-1", "--apply")
    assert released.returncode == 0, released.stderr + released.stdout
    assert eni_groups(world, ids[0]) == original[ids[0]]
    assert eni_groups(world, ids[1]) == [[isolation]]  # only what was asked

    log = world.case_dir / "ir-e2e-1" / "audit.jsonl"
    lines = log.read_text().splitlines()
    record = json.loads(lines[3])
    record["event"] = "edited"
    lines[3] = json.dumps(record)
    log.write_text("\n".join(lines) + "\n")
    tampered = world.irctl("--output", "json", "case", "show", "ir-e2e-1")
    assert tampered.returncode == 1
    assert json.loads(tampered.stdout)["chainVerified"] is False

    # the evidence bucket's copy (uploaded after the release) still verifies, and shows
    # that the local log no longer matches it
    remote = world.irctl("--output", "json", "case", "show", "ir-e2e-1", "--from-evidence")
    assert remote.returncode == 1, remote.stderr
    shown_remote = json.loads(remote.stdout)
    assert shown_remote["chainVerified"] is True
    assert "DOES NOT match" in shown_remote["notes"][0]


def test_wrong_account_is_refused_and_nothing_changes(server_readiness: Readiness,
                                                     tmp_path: Path) -> None:
    world = server_readiness
    [iid] = launch_instances(world, 1)
    before = eni_groups(world, iid)
    other = dict(world.manifest, accountId="111122223333")
    path = world.write_manifest_file(tmp_path / "m.json", other)

    result = world.irctl("--manifest", str(path), "contain", "instance", iid, "--apply")

    assert result.returncode == 2
    assert "refusing to act" in result.stderr and "111122223333" in result.stderr
    assert eni_groups(world, iid) == before


def test_missing_manifest_says_what_to_do(server_readiness: Readiness) -> None:
    world = server_readiness
    world.client("ssm").delete_parameter(Name=MANIFEST_PARAMETER)

    result = world.irctl("contain", "instance", "i-0123456789abcdef0")

    assert result.returncode == 2
    assert "no readiness manifest" in result.stderr
    assert "--manifest FILE" in result.stderr


def test_invalid_manifest_and_stack_output_file(server_readiness: Readiness,
                                               tmp_path: Path) -> None:
    world = server_readiness
    [iid] = launch_instances(world, 1)
    broken = world.write_manifest_file(tmp_path / "bad.json",
                                       dict(world.manifest, version=2, evidenceBucket="X"))
    result = world.irctl("--manifest", str(broken), "contain", "instance", iid)
    assert result.returncode == 2
    assert "version" in result.stderr and "evidenceBucket" in result.stderr

    stack_output = world.write_manifest_file(tmp_path / "stack.json", {
        "manifests": {"us-east-1": json.dumps(world.manifest)}, "evidenceBucket": "x"})
    planned = world.irctl("--output", "json", "--manifest", str(stack_output), "contain",
                          "instance", iid)
    assert planned.returncode == 0, planned.stderr
    assert json.loads(planned.stdout)["runs"][0]["mode"] == "plan"


def test_bad_instance_input(server_readiness: Readiness) -> None:
    world = server_readiness
    malformed = world.irctl("contain", "instance", "not-an-id")
    assert malformed.returncode == 2 and "not-an-id" in malformed.stderr

    unknown = world.irctl("--output", "json", "contain", "instance", "i-0123456789abcdef0",
                          "--apply")
    assert unknown.returncode == 2
    target = json.loads(unknown.stdout)["runs"][0]["targets"][0]
    assert "not found" in target["error"]


def test_status_reports_checks(server_readiness: Readiness) -> None:
    world = server_readiness
    launch_instances(world, 1)
    ec2 = world.client("ec2")
    uncovered = ec2.create_vpc(CidrBlock="10.5.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=uncovered, CidrBlock="10.5.0.0/24")["Subnet"]["SubnetId"]
    launch_instances(world, 1, subnet_id=subnet)
    for arn in world.manifest["topics"].values():  # a ready account has someone listening
        world.client("sns").subscribe(TopicArn=arn, Protocol="email",
                                      Endpoint="oncall@example.com")

    result = world.irctl("--output", "json", "status")

    report = json.loads(result.stdout)
    checks = {c["check"]: c for c in report["checks"]}
    assert checks["Manifest"]["ok"] and checks["Account"]["ok"]
    assert checks["Alert topics"]["ok"]
    assert not checks["Quarantine groups"]["ok"]
    assert uncovered in checks["Quarantine groups"]["detail"]
    assert not checks["CloudTrail trail"]["ok"]  # no trail was created in this account
    assert result.returncode == 1 and report["ready"] is False
