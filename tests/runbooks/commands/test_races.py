"""The runner's state model under races and crashes (issue #12 items 1, 2, 3, 7, 8).

Each test runs `irctl` as a responder would (subprocesses) against a moto server behind
the fault-injecting layer (`tests/fault_server.py`), and asserts the instance's state in
the emulator: security groups of its ENI, instance profile, termination protection.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from typing import Any

import pytest

from tests.fault_server import wait_until
from tests.runbooks.conftest import ACCOUNT, REGION, Readiness, launch_instances

pytestmark = pytest.mark.server


def described(world: Readiness, iid: str) -> dict[str, Any]:
    found: dict[str, Any] = world.client("ec2").describe_instances(InstanceIds=[iid])[
        "Reservations"][0]["Instances"][0]
    return found


def eni_groups(world: Readiness, iid: str) -> list[str]:
    eni = described(world, iid)["NetworkInterfaces"][0]["NetworkInterfaceId"]
    found = world.client("ec2").describe_network_interfaces(NetworkInterfaceIds=[eni])
    return sorted(g["GroupId"] for g in found["NetworkInterfaces"][0]["Groups"])


def profile_of(world: Readiness, iid: str) -> list[str]:
    associations = world.client("ec2").describe_iam_instance_profile_associations(
        Filters=[{"Name": "instance-id", "Values": [iid]}])["IamInstanceProfileAssociations"]
    return [a["IamInstanceProfile"]["Arn"] for a in associations
            if a.get("State") in ("associated", "associating")]


def protected(world: Readiness, iid: str) -> bool:
    value: bool = world.client("ec2").describe_instance_attribute(
        InstanceId=iid, Attribute="disableApiTermination")["DisableApiTermination"]["Value"]
    return value


def quarantine(world: Readiness, role: str) -> str:
    group: str = world.manifest["quarantine"][world.vpc_id][f"{role}SecurityGroupId"]
    return group


def instance_profile(world: Readiness) -> str:
    name = f"app-{os.urandom(3).hex()}"
    arn: str = world.client("iam").create_instance_profile(InstanceProfileName=name)[
        "InstanceProfile"]["Arn"]
    return arn


def output(proc: subprocess.CompletedProcess[str] | tuple[str, str]) -> str:
    if isinstance(proc, tuple):
        return proc[0] + proc[1]
    return proc.stdout + proc.stderr


def targets(stdout: str) -> dict[str, dict[str, Any]]:
    document = json.loads(stdout)
    return {t["target"]: t for run in document["runs"] for t in run["targets"]}


def applied_steps(stdout: str, iid: str) -> set[str]:
    return {c["step"] for c in targets(stdout)[iid]["changes"] if c["status"] == "applied"}


def finish(proc: subprocess.Popen[str], timeout: float = 180) -> tuple[str, str]:
    out, err = proc.communicate(timeout=timeout)
    return out, err


def kill_while_held(world: Readiness, operation: str, *args: str) -> None:
    """Start `irctl ARGS`, hold its first `operation` call's answer (the call is made),
    kill the client while it waits: a terminal closed mid-change."""
    assert world.faults is not None
    hold = world.faults.hold(operation, calls={1})
    proc = world.irctl_popen(*args)
    try:
        assert hold.arrived.wait(120), finish(proc, 10)
        proc.kill()
        proc.wait(10)
    finally:
        hold.release()
        world.faults.clear()


# -- 1. concurrent runs never undo each other ----------------------------------------


@pytest.mark.parametrize("cases", [("race-1", "race-1"), ("race-1", "race-2")],
                         ids=["same-case", "two-cases"])
def test_two_concurrent_contains_never_undo_each_other(fault_readiness: Readiness,
                                                       cases: tuple[str, str]) -> None:
    world = fault_readiness
    assert world.faults is not None
    [iid] = launch_instances(world, 1, volumes=1, profile_arn=instance_profile(world))
    # The first run is held reading the profile association (planning); the second
    # starts meanwhile. Unclaimed, both plan the same disassociation and the loser's
    # rollback reverts the winner's isolation.
    hold = world.faults.hold("DescribeIamInstanceProfileAssociations", calls={1})
    first = world.irctl_popen("--output", "json", "contain", "instance", iid, "--apply",
                              "--case", cases[0])
    try:
        assert hold.arrived.wait(120), finish(first, 10)
        second = world.irctl_popen("--output", "json", "contain", "instance", iid,
                                   "--apply", "--case", cases[1])
        # Either the second run is waiting for the first one's claim (it polls the claim
        # object), or, unclaimed, it went ahead and finished.
        polls = world.faults.seen.get("GetObject", 0)
        assert wait_until(lambda: second.poll() is not None
                          or world.faults.seen.get("GetObject", 0) >= polls + 2, 120)
    finally:
        hold.release()
    first_out = finish(first)
    second_out = finish(second)
    assert eni_groups(world, iid) == [quarantine(world, "isolation")], (first_out,
                                                                        second_out)
    assert profile_of(world, iid) == []
    assert protected(world, iid)
    assert first.returncode == 0, first_out
    assert second.returncode == 0, second_out
    # The second run found the work done: it reports nothing it did not do.
    assert applied_steps(first_out[0], iid) >= {"ec2.isolate", "ec2.detach-instance-profile"}
    assert applied_steps(second_out[0], iid) == set()


def test_the_cli_racing_the_automation_handler(fault_readiness: Readiness,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    from tests.runbooks.automation.test_handler import SHARED, load

    handler = importlib.import_module("runbooks.automation.handler")

    world = fault_readiness
    assert world.faults is not None and world.endpoint_url
    [iid] = launch_instances(world, 1, volumes=1, profile_arn=instance_profile(world))
    event = load(SHARED / "guardduty_event_cryptocurrency_ec2.json")
    details = event["detail"]["resource"]["instanceDetails"]
    details["instanceId"] = iid
    details.pop("iamInstanceProfile")
    details["networkInterfaces"][0]["vpcId"] = world.vpc_id
    for name, value in {"AWS_ENDPOINT_URL": world.endpoint_url, "AWS_REGION": REGION,
                        "IR_AUTOMATION_MODE": "apply",
                        "IR_AUTOMATION_FINDING_TYPES": "CryptoCurrency:EC2/",
                        "IR_AUTOMATION_MIN_SEVERITY": "1"}.items():
        monkeypatch.setenv(name, value)
    handler.reset_sessions()

    hold = world.faults.hold("DescribeIamInstanceProfileAssociations", calls={1})
    cli = world.irctl_popen("--output", "json", "contain", "instance", iid, "--apply",
                            "--case", "race-cli")
    outcome: dict[str, Any] = {}

    def deliver() -> None:
        try:
            outcome["result"] = handler.handler(event)
        except BaseException as err:  # reported by the assertions below
            outcome["error"] = err

    lambda_run = threading.Thread(target=deliver)
    try:
        assert hold.arrived.wait(120), finish(cli, 10)
        lambda_run.start()
        polls = world.faults.seen.get("GetObject", 0)
        assert wait_until(lambda: not lambda_run.is_alive()
                          or world.faults.seen.get("GetObject", 0) >= polls + 3, 120)
    finally:
        hold.release()
    cli_out = finish(cli)
    lambda_run.join(180)
    handler.reset_sessions()
    assert eni_groups(world, iid) == [quarantine(world, "isolation")], (cli_out, outcome)
    assert profile_of(world, iid) == []
    assert cli.returncode == 0, cli_out
    assert "error" not in outcome, outcome
    [finding] = outcome["result"]["findings"]
    # The Lambda found the instance contained: it did not claim a containment it did not
    # make, and nothing it did failed.
    assert finding["exitCode"] == 0 and finding["status"] == "already-contained", finding
    assert [c for c in finding["changes"] if c["status"] == "applied"
            and c["step"] in ("ec2.isolate", "ec2.detach-instance-profile")] == []


def test_a_target_held_by_a_live_run_is_refused_naming_the_holder(
        fault_readiness: Readiness) -> None:
    from runbooks.core.claims import claim_key, this_host

    world = fault_readiness
    [iid] = launch_instances(world, 1, volumes=1)
    before = eni_groups(world, iid)
    # A claim held by a live process on this host (this test), not expiring soon.
    world.client("s3").put_object(
        Bucket=world.manifest["evidenceBucket"], Key=claim_key(ACCOUNT, REGION, iid),
        Body=json.dumps({"owner": "irctl", "case": "holder-case", "pid": os.getpid(),
                         "host": this_host(), "since": "now",
                         "expiresAt": time.time() + 600}).encode())
    proc = world.irctl("contain", "instance", iid, "--apply", "--case", "waiter",
                       env={"IR_CLAIM_WAIT_SECONDS": "2"})
    assert proc.returncode == 2, output(proc)
    assert "holder-case" in output(proc)
    assert eni_groups(world, iid) == before
    assert not protected(world, iid)


# -- 2. no ENI is left in the conversion group ----------------------------------------


def _case_show(world: Readiness, case: str) -> list[dict[str, Any]]:
    shown = world.irctl("--output", "json", "case", "show", case)
    assert shown.returncode == 0, output(shown)
    in_place: list[dict[str, Any]] = json.loads(shown.stdout)["inPlace"]
    return in_place


def verifiable(world: Readiness) -> None:
    """A real detector and a logging trail behind the manifest, so `verify case` runs."""
    from runbooks.core.manifest_schema import MANIFEST_PARAMETER

    world.manifest["guardDutyDetectorId"] = world.client("guardduty").create_detector(
        Enable=True)["DetectorId"]
    bucket = f"trail-{os.urandom(4).hex()}"
    world.client("s3").create_bucket(Bucket=bucket)
    trail = world.client("cloudtrail").create_trail(Name=bucket, S3BucketName=bucket)
    world.client("cloudtrail").start_logging(Name=trail["TrailARN"])
    world.manifest["trail"]["arn"] = trail["TrailARN"]
    world.manifest["securityHubEnabled"] = False
    world.client("ssm").put_parameter(Name=MANIFEST_PARAMETER, Overwrite=True,
                                      Value=json.dumps(world.manifest), Type="String")


def _verify_isolate_check(world: Readiness, case: str) -> dict[str, Any]:
    verifiable(world)
    checked = world.irctl("--output", "json", "verify", "case", case)
    checks = json.loads(checked.stdout)["checks"]
    [isolate] = [c for c in checks if "security groups" in c["what"]]
    assert checked.returncode == 1, output(checked)
    check: dict[str, Any] = isolate
    return check


def test_keep_going_with_the_isolation_call_failing_is_releasable(
        fault_readiness: Readiness) -> None:
    world = fault_readiness
    assert world.faults is not None
    [iid] = launch_instances(world, 1, volumes=1)
    app = eni_groups(world, iid)
    # call 1 puts the ENI in the conversion group, call 2 (isolation) is refused
    world.faults.deny("ModifyNetworkInterfaceAttribute", calls={2})
    proc = world.irctl("--output", "json", "contain", "instance", iid, "--apply",
                       "--keep-going", "--case", "kg-1")
    world.faults.clear()
    assert proc.returncode == 3, output(proc)
    assert eni_groups(world, iid) == [quarantine(world, "conversion")]

    states = {c["step"]: c["state"] for c in _case_show(world, "kg-1")}
    assert states["ec2.isolate"] == "apply-failed"
    check = _verify_isolate_check(world, "kg-1")
    assert "apply-failed" in check["what"] and not check["holds"]

    released = world.irctl("release", "instance", iid, "--case", "kg-1", "--apply")
    assert released.returncode == 0, output(released)
    assert eni_groups(world, iid) == app
    assert not protected(world, iid)


def test_keep_going_failure_then_a_rerun_isolates_and_release_restores(
        fault_readiness: Readiness) -> None:
    world = fault_readiness
    assert world.faults is not None
    [iid] = launch_instances(world, 1, volumes=1)
    app = eni_groups(world, iid)
    world.faults.deny("ModifyNetworkInterfaceAttribute", calls={2})
    first = world.irctl("contain", "instance", iid, "--apply", "--keep-going",
                        "--case", "kg-2")
    world.faults.clear()
    assert first.returncode == 3, output(first)
    rerun = world.irctl("contain", "instance", iid, "--apply", "--case", "kg-2")
    assert rerun.returncode == 0, output(rerun)
    assert eni_groups(world, iid) == [quarantine(world, "isolation")]
    released = world.irctl("release", "instance", iid, "--case", "kg-2", "--apply")
    assert released.returncode == 0, output(released)
    assert eni_groups(world, iid) == app  # not the conversion group the rerun found


def test_a_failed_rollback_is_listed_and_releasable(fault_readiness: Readiness) -> None:
    world = fault_readiness
    assert world.faults is not None
    [iid] = launch_instances(world, 1, volumes=1)
    app = eni_groups(world, iid)
    # isolation refused, then the rollback's own call refused too
    world.faults.deny("ModifyNetworkInterfaceAttribute", calls={2, 3})
    proc = world.irctl("contain", "instance", iid, "--apply", "--case", "rb-1")
    world.faults.clear()
    assert proc.returncode == 3, output(proc)
    assert eni_groups(world, iid) == [quarantine(world, "conversion")]
    states = {c["step"]: c["state"] for c in _case_show(world, "rb-1")}
    assert states == {"ec2.isolate": "rollback-failed"}
    check = _verify_isolate_check(world, "rb-1")
    assert "rollback-failed" in check["what"] and not check["holds"]

    released = world.irctl("release", "instance", iid, "--case", "rb-1", "--apply")
    assert released.returncode == 0, output(released)
    assert eni_groups(world, iid) == app
    assert _case_show(world, "rb-1") == []


def test_a_client_killed_after_the_conversion_call_is_releasable(
        fault_readiness: Readiness) -> None:
    world = fault_readiness
    [iid] = launch_instances(world, 1, volumes=1)
    app = eni_groups(world, iid)
    kill_while_held(world, "ModifyNetworkInterfaceAttribute", "contain", "instance", iid,
                    "--apply", "--case", "kill-1")
    assert eni_groups(world, iid) == [quarantine(world, "conversion")]
    states = {c["step"]: c["state"] for c in _case_show(world, "kill-1")}
    assert states["ec2.isolate"] == "applying"
    check = _verify_isolate_check(world, "kill-1")
    assert "applying" in check["what"] and not check["holds"]

    # The killed run's claim is taken over at once: its process is gone.
    released = world.irctl("release", "instance", iid, "--case", "kill-1", "--apply")
    assert released.returncode == 0, output(released)
    assert eni_groups(world, iid) == app
    assert not protected(world, iid)
    assert "ir:case" not in {t["Key"] for t in described(world, iid).get("Tags", [])}


# -- 3. a rerun after a crash records the true pre-action state ------------------------


@pytest.mark.parametrize("rerun_case", ["crash-1", "crash-2"],
                         ids=["same-case", "new-case"])
def test_rerun_after_a_crash_then_release_restores_the_original_groups(
        fault_readiness: Readiness, rerun_case: str) -> None:
    world = fault_readiness
    [iid] = launch_instances(world, 1, volumes=1)
    app = eni_groups(world, iid)
    kill_while_held(world, "ModifyNetworkInterfaceAttribute", "contain", "instance", iid,
                    "--apply", "--case", "crash-1")
    rerun = world.irctl("contain", "instance", iid, "--apply", "--case", rerun_case)
    assert rerun.returncode == 0, output(rerun)
    assert eni_groups(world, iid) == [quarantine(world, "isolation")]
    released = world.irctl("release", "instance", iid, "--case", rerun_case, "--apply")
    assert released.returncode == 0, output(released)
    assert eni_groups(world, iid) == app


def test_termination_protection_set_just_before_a_kill_is_released(
        fault_readiness: Readiness) -> None:
    world = fault_readiness
    [iid] = launch_instances(world, 1, volumes=1)
    kill_while_held(world, "ModifyInstanceAttribute", "contain", "instance", iid,
                    "--apply", "--case", "prot-1")
    assert protected(world, iid)
    released = world.irctl("release", "instance", iid, "--case", "prot-1", "--apply")
    assert released.returncode == 0, output(released)
    assert not protected(world, iid)


# -- 7. release notices drift ---------------------------------------------------------


def test_release_refuses_drift_with_the_difference_and_force_restores(
        fault_readiness: Readiness) -> None:
    world = fault_readiness
    [iid] = launch_instances(world, 1, volumes=1)
    app = eni_groups(world, iid)
    contained = world.irctl("contain", "instance", iid, "--apply", "--case", "drift-1")
    assert contained.returncode == 0, output(contained)
    ec2 = world.client("ec2")
    forensic = quarantine(world, "forensic")
    eni = described(world, iid)["NetworkInterfaces"][0]["NetworkInterfaceId"]
    ec2.modify_network_interface_attribute(NetworkInterfaceId=eni, Groups=[forensic])

    refused = world.irctl("release", "instance", iid, "--case", "drift-1", "--apply")
    assert refused.returncode == 2, output(refused)
    text = " ".join(output(refused).split())
    assert "--force" in text and forensic in text and app[0] in text
    assert eni_groups(world, iid) == [forensic]
    assert protected(world, iid)  # refused as a whole: nothing restored

    forced = world.irctl("release", "instance", iid, "--case", "drift-1", "--apply",
                         "--force")
    assert forced.returncode == 0, output(forced)
    assert eni_groups(world, iid) == app
    assert not protected(world, iid)


# -- 8. exit codes ---------------------------------------------------------------------


def test_one_rolled_back_and_one_contained_exits_1_with_per_target_status(
        fault_readiness: Readiness) -> None:
    world = fault_readiness
    assert world.faults is not None
    [plain] = launch_instances(world, 1, volumes=1)
    [with_profile] = launch_instances(world, 1, volumes=1,
                                      profile_arn=instance_profile(world))
    app = eni_groups(world, with_profile)
    world.faults.deny("DisassociateIamInstanceProfile")
    proc = world.irctl("--output", "json", "contain", "instance", plain, with_profile,
                       "--apply", "--case", "exit-1")
    world.faults.clear()
    assert proc.returncode == 1, output(proc)
    status = {t: o["status"] for t, o in targets(proc.stdout).items() if t != "high-topic"}
    assert status == {plain: "done", with_profile: "rolled-back"}
    assert eni_groups(world, plain) == [quarantine(world, "isolation")]
    assert eni_groups(world, with_profile) == app
    assert profile_of(world, with_profile) != []
