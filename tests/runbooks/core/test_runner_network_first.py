"""Network first: a target's later steps come only after its own cut, run alongside the
other targets' remaining cuts (never holding one up), a later step that spends the cuts'
request bucket waits for every cut; the run reports `isolated` and `done`, and still
rolls a target back across both parts."""

from __future__ import annotations

import json
import threading
from typing import Any
from urllib.parse import parse_qs

import pytest

from runbooks.core.audit import AuditLog
from runbooks.core.runner import Runner
from runbooks.workflows.contain import instance_pipelines
from tests.runbooks.conftest import Readiness, _error_response, launch_instances

AFTER_THE_CUT = {"ec2.detach-instance-profile", "ec2.snapshot-volumes", "ec2.protect"}


def groups_of(readiness: Readiness, iid: str) -> list[list[str]]:
    instance = readiness.client("ec2").describe_instances(InstanceIds=[iid])[
        "Reservations"][0]["Instances"][0]
    return [[g["GroupId"] for g in e["Groups"]] for e in instance["NetworkInterfaces"]]


def tags_of(readiness: Readiness, iid: str) -> dict[str, str]:
    instance = readiness.client("ec2").describe_instances(InstanceIds=[iid])[
        "Reservations"][0]["Instances"][0]
    return {t["Key"]: t["Value"] for t in instance.get("Tags", [])}


def protected(readiness: Readiness, iid: str) -> bool:
    return bool(readiness.client("ec2").describe_instance_attribute(
        InstanceId=iid, Attribute="disableApiTermination")["DisableApiTermination"]["Value"])


def fail_for(operation: str, instance_id: str, code: str = "UnauthorizedOperation",
             network_interface: str | None = None, groups: str | None = None) -> Any:
    """A before-send hook answering `code` to `operation` calls naming the instance (or
    ENI, and optionally only those setting `groups`)."""

    def hook(request: Any, event_name: str = "", **_: Any) -> Any:
        if not event_name.endswith(f".{operation}"):
            return None
        form = parse_qs(request.body.decode() if isinstance(request.body, bytes)
                        else str(request.body or ""))
        if network_interface is not None:
            if form.get("NetworkInterfaceId") != [network_interface]:
                return None
            if groups is not None and form.get("SecurityGroupId.1") != [groups]:
                return None
        elif form.get("InstanceId") != [instance_id]:
            return None
        url = request.url
        request.method, request.body, request.url = "GET", b"", url.split("?", 1)[0]
        return _error_response(url, "ec2", code, 403)

    return hook


def eni_of(readiness: Readiness, iid: str) -> str:
    return str(readiness.client("ec2").describe_instances(InstanceIds=[iid])[
        "Reservations"][0]["Instances"][0]["NetworkInterfaces"][0]["NetworkInterfaceId"])


def test_later_steps_follow_their_own_cut_overlap_the_others_and_both_times_are_reported(
        readiness: Readiness) -> None:
    """Fault injection (a hung endpoint): the last instance's isolation call is held until
    another instance's termination protection (a later step, in its own request bucket)
    has been sent. A runner that waited for every cut before any later step would never
    send it: the held call would time out (10 s) and the order below would show it."""
    iam = readiness.client("iam")
    profile = iam.create_instance_profile(InstanceProfileName="fleet-profile")[
        "InstanceProfile"]["Arn"]
    ids = launch_instances(readiness, 4, volumes=1, profile_arn=profile)
    slow, slow_eni = ids[-1], eni_of(readiness, ids[-1])
    isolation = readiness.manifest["quarantine"][readiness.vpc_id]["isolationSecurityGroupId"]
    later_sent = threading.Event()

    def hold_the_slow_cut(request: Any, event_name: str = "", **_: Any) -> None:
        form = parse_qs(request.body.decode() if isinstance(request.body, bytes)
                        else str(request.body or ""))
        if event_name.endswith(".ModifyInstanceAttribute") and form.get("InstanceId") != [slow]:
            later_sent.set()
        elif (event_name.endswith(".ModifyNetworkInterfaceAttribute")
              and form.get("NetworkInterfaceId") == [slow_eni]
              and form.get("SecurityGroupId.1") == [isolation]):
            later_sent.wait(timeout=10)

    ctx = readiness.context(event_hooks=[("before-send", hold_the_slow_cut)])
    audit = AuditLog(ctx.case_id)
    result = Runner(ctx, audit, apply=True, claim_targets=False).run(
        "instance", instance_pipelines(ids))

    assert result.exit_code == 0, result.to_dict()
    for iid in ids:
        assert groups_of(readiness, iid) == [[isolation]]
        assert protected(readiness, iid)
    applied = [r for r in audit.records() if r["event"] == "applied"]
    for iid in ids:  # each target: nothing after the cut before its own cut
        mine = [r for r in applied if r["target"] == iid]
        cut = max(r["seq"] for r in mine if r["step"] == "ec2.isolate")
        later = [r for r in mine if r["step"] in AFTER_THE_CUT]
        assert {r["step"] for r in later} >= {"ec2.protect", "ec2.snapshot-volumes"}
        assert all(r["seq"] > cut for r in later), [(r["step"], r["seq"]) for r in later]
    last_cut = max(r["seq"] for r in applied if r["step"] == "ec2.isolate")
    assert [r for r in applied if r["step"] == "ec2.isolate"][-1]["target"] == slow
    overlapped = [r for r in applied if r["step"] in AFTER_THE_CUT and r["seq"] < last_cut]
    assert overlapped and slow not in {r["target"] for r in overlapped}
    [marker] = [r for r in audit.records() if r["event"] == "network-isolated"]
    assert marker["seq"] > last_cut and marker["cuts"] == 4
    # every instance tagged in one pass, first: one CreateTags for the four; the capture
    # written after it still describes each instance as read before any change
    tagged = [r for r in applied if r["step"] == "ec2.tag-contained"]
    assert len(tagged) == 4 and max(r["seq"] for r in tagged) < min(
        r["seq"] for r in applied if r["step"] != "ec2.tag-contained")
    assert {r["result"]["instancesPerCall"] for r in tagged} == {4}
    s3, bucket = readiness.client("s3"), readiness.manifest["evidenceBucket"]
    for iid in ids:
        assert tags_of(readiness, iid)["ir:case"] == ctx.case_id
        captured = json.loads(s3.get_object(
            Bucket=bucket, Key=f"cases/{ctx.case_id}/instances/{iid}/metadata.json"
        )["Body"].read())
        assert "ir:case" not in captured["tags"], captured["tags"]
    timing = result.to_dict()["timing"]
    assert result.started_at and result.isolated_at and result.done_at
    assert result.started_at <= result.isolated_at <= result.done_at
    assert 0 <= timing["isolatedSeconds"] <= timing["doneSeconds"]
    [finished] = [r for r in audit.records() if r["event"] == "run-finished"]
    assert finished["timing"]["isolatedAt"] == timing["isolatedAt"]


def test_a_plan_shows_every_step_and_reports_no_times(readiness: Readiness) -> None:
    ids = launch_instances(readiness, 1, volumes=1)
    ctx = readiness.context()
    result = Runner(ctx, AuditLog(ctx.case_id), claim_targets=False).run(
        "instance", instance_pipelines(ids))
    assert "timing" not in result.to_dict() and result.isolated_at is None
    steps = {c.change.step for c in result.targets[0].changes}
    assert {"ec2.isolate", "ec2.protect", "ec2.snapshot-volumes"} <= steps


def test_a_read_failing_after_the_cut_keeps_the_cut_recorded_and_releasable(
        readiness: Readiness) -> None:
    """Fault injection: with --apply the steps after the cut are planned once its cut is
    made; one instance's termination-protection read is refused then. Its cut stays
    (a failed read must not put it back on the network), exit 3, recorded: release
    restores it; the others are contained in full."""
    from runbooks.core.errors import EXIT_PARTIAL

    ids = launch_instances(readiness, 3, volumes=1)
    victim = ids[0]
    before = groups_of(readiness, victim)
    ctx = readiness.context(event_hooks=[
        ("before-send", fail_for("DescribeInstanceAttribute", victim))])
    audit = AuditLog(ctx.case_id)
    result = Runner(ctx, audit, apply=True, claim_targets=False).run(
        "instance", instance_pipelines(ids))

    assert result.exit_code == EXIT_PARTIAL, result.to_dict()
    isolation = readiness.manifest["quarantine"][readiness.vpc_id]["isolationSecurityGroupId"]
    assert groups_of(readiness, victim) == [[isolation]]
    assert not protected(readiness, victim)
    [target] = [t for t in result.targets if t.target == victim]
    assert target.status == "partial"
    assert "planning after the network cut failed" in str(target.error)
    assert "UnauthorizedOperation" in str(target.error)
    for iid in ids[1:]:
        assert groups_of(readiness, iid) == [[isolation]] and protected(readiness, iid)
    assert [r["target"] for r in audit.records() if r["event"] == "plan-failed"] == [victim]

    released = Runner(readiness.context(ctx.case_id), audit, apply=True,
                      claim_targets=False).release("instance", victim)
    assert released.exit_code == 0, released.to_dict()
    assert groups_of(readiness, victim) == before


def test_a_failure_after_the_cut_rolls_that_target_back_through_both_passes(
        readiness: Readiness) -> None:
    """Fault injection: termination protection (after the cut) is refused for one
    instance: its isolation from the first pass is undone, the others stay contained."""
    from runbooks.core.errors import EXIT_ACTION_FAILED

    ids = launch_instances(readiness, 3, volumes=1)
    victim, others = ids[0], ids[1:]
    before = groups_of(readiness, victim)
    ctx = readiness.context(event_hooks=[
        ("before-send", fail_for("ModifyInstanceAttribute", victim))])
    audit = AuditLog(ctx.case_id)
    result = Runner(ctx, audit, apply=True, claim_targets=False).run(
        "instance", instance_pipelines(ids))

    assert result.exit_code == EXIT_ACTION_FAILED, result.to_dict()
    assert groups_of(readiness, victim) == before  # rolled back, out of isolation
    isolation = readiness.manifest["quarantine"][readiness.vpc_id]["isolationSecurityGroupId"]
    for iid in others:
        assert groups_of(readiness, iid) == [[isolation]] and protected(readiness, iid)
    rolled = {r["step"] for r in audit.records()
              if r["event"] == "rolled-back" and r["target"] == victim}
    assert "ec2.isolate" in rolled and "ec2.tag-contained" in rolled
    # what stays recorded for the victim is nothing release would need to undo
    runner = Runner(readiness.context(ctx.case_id), audit, claim_targets=False)
    assert runner.in_place_changes("instance", victim) == []


def test_a_failed_cut_leaves_that_target_out_of_the_second_pass(
        readiness: Readiness) -> None:
    """Fault injection: the isolation call of one ENI is refused after its conversion:
    the ENI is put back (never left in the allow-all conversion group), nothing after
    the cut is attempted for that instance, and the others are contained in full."""
    ids = launch_instances(readiness, 3, volumes=1)
    victim = ids[0]
    before = groups_of(readiness, victim)
    eni = readiness.client("ec2").describe_instances(InstanceIds=[victim])[
        "Reservations"][0]["Instances"][0]["NetworkInterfaces"][0]["NetworkInterfaceId"]
    isolation = readiness.manifest["quarantine"][readiness.vpc_id]["isolationSecurityGroupId"]
    ctx = readiness.context(event_hooks=[("before-send", fail_for(
        "ModifyNetworkInterfaceAttribute", victim, network_interface=eni,
        groups=isolation))])
    audit = AuditLog(ctx.case_id)
    result = Runner(ctx, audit, apply=True, claim_targets=False).run(
        "instance", instance_pipelines(ids))

    assert result.exit_code != 0
    assert groups_of(readiness, victim) == before
    assert not protected(readiness, victim)
    [target] = [t for t in result.targets if t.target == victim]
    # the steps after its cut were never planned nor made for it
    assert not {c.change.step for c in target.changes} & AFTER_THE_CUT
    assert readiness.client("ec2").describe_snapshots(Filters=[
        {"Name": "tag:ir:source-instance", "Values": [victim]}])["Snapshots"] == []
    for iid in ids[1:]:
        assert groups_of(readiness, iid) == [[isolation]] and protected(readiness, iid)


@pytest.mark.server
def test_a_memory_capture_waits_for_every_cut_as_it_spends_the_cuts_bucket(
        fault_readiness: Readiness) -> None:
    """Fault injection (a hung endpoint): the last of the four isolation-group calls hangs
    5 s. The memory capture's ENI swap (ModifyNetworkInterfaceAttribute, the cuts' own
    request bucket) of the instance already cut is sent only after that last cut lands."""
    from tests.runbooks.steps.test_memory import LINUX, agent_profile, memory_ready

    world = fault_readiness
    memory_ready(world)
    ids = [iid for _ in range(2) for iid in launch_instances(
        world, 1, volumes=1, profile_arn=agent_profile(world), image_id=LINUX)]
    world.faults.hang("ModifyNetworkInterfaceAttribute", 5, calls={4})
    proc = world.irctl("--output", "json", "contain", "instance", *ids, "--apply",
                       "--case", "mem-wait")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    records = [json.loads(line) for p in sorted(world.case_dir.rglob("*.jsonl"))
               if "mem-wait" in str(p) for line in p.read_text().splitlines()]
    last_cut = max(r["seq"] for r in records
                   if r["event"] == "applied" and r["step"] == "ec2.isolate")
    captures = [r for r in records
                if r["event"] == "applying" and r["step"] == "ec2.capture-memory"]
    assert len(captures) == 2
    assert all(r["seq"] > last_cut for r in captures), (last_cut, captures)
