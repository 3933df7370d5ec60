"""ec2.capture-memory against the emulator server (moto + the SSM agent emulation),
behind the fault layer: irctl run as a responder runs it, and every assertion is on AWS
state (the image in the evidence bucket and its SHA-256, the ENI's groups, the command's
invocation), plus what must never appear (the upload credentials in output or audit)."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from typing import Any

import pytest

from components.memory_capture import Tool, document_content, upload_role_policy
from runbooks.core.manifest_schema import MANIFEST_PARAMETER
from runbooks.core.scopes import MEMORY_DOCUMENT_NAME, MEMORY_UPLOAD_ROLE_PATH
from tests.fault_server import wait_until
from tests.runbooks.conftest import ACCOUNT, Readiness, launch_instances

pytestmark = pytest.mark.server

LINUX = "ami-760aaa0f"  # Amazon Linux in moto's catalogue (its default AMI is Windows)
TOOL = b"#!/bin/sh\n# stand-in for AVML in the rehearsal\n"


def memory_ready(world: Any, *, endpoint_egress: bool = True, publish: bool = True) -> str:
    """What the stack provisions for memory capture: the tool in `tools/`, the command
    document, the upload role, the forensic group's HTTPS egress to the VPC endpoints'
    group, and `memoryCapture` in `world.manifest` (written to SSM when `publish`).
    `world`: anything with `client(service)`, `manifest` and `vpc_id`. Returns the
    upload role's name."""
    bucket = world.manifest["evidenceBucket"]
    world.client("s3").put_object(Bucket=bucket, Key="tools/avml", Body=TOOL)
    tool = Tool("tools/avml", hashlib.sha256(TOOL).hexdigest())
    ssm = world.client("ssm")
    # the emulator's backends outlive one server: a document an earlier test made stays
    if MEMORY_DOCUMENT_NAME in {d["Name"] for d in ssm.list_documents(
            Filters=[{"Key": "Owner", "Values": ["Self"]}])["DocumentIdentifiers"]}:
        ssm.delete_document(Name=MEMORY_DOCUMENT_NAME)
    ssm.create_document(
        Name=MEMORY_DOCUMENT_NAME, DocumentType="Command", DocumentFormat="JSON",
        Content=json.dumps(document_content(bucket, tool, tool, 900)))
    iam = world.client("iam")
    name = f"ir-memory-upload-{uuid.uuid4().hex[:6]}"
    role = iam.create_role(RoleName=name, Path=MEMORY_UPLOAD_ROLE_PATH,
                           AssumeRolePolicyDocument=json.dumps({
                               "Version": "2012-10-17", "Statement": [{
                                   "Effect": "Allow", "Action": "sts:AssumeRole",
                                   "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}}]}))
    iam.put_role_policy(RoleName=name, PolicyName="memory-upload", PolicyDocument=json.dumps(
        upload_role_policy("aws", bucket, [world.manifest["kmsKeyArn"]], [tool])))
    ec2 = world.client("ec2")
    forensic = world.manifest["quarantine"][world.vpc_id]["forensicSecurityGroupId"]
    ec2.revoke_security_group_egress(GroupId=forensic, IpPermissions=[
        {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    if endpoint_egress:
        endpoints = ec2.create_security_group(
            GroupName=f"vpce-{uuid.uuid4().hex[:6]}", Description="VPC endpoints",
            VpcId=world.vpc_id)["GroupId"]
        ec2.authorize_security_group_egress(GroupId=forensic, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
             "UserIdGroupPairs": [{"GroupId": endpoints}]}])
    world.manifest["memoryCapture"] = {"documentName": MEMORY_DOCUMENT_NAME,
                                       "uploadRoleArn": role["Role"]["Arn"],
                                       "timeoutSeconds": 120}
    if publish:
        world.client("ssm").put_parameter(Name=MANIFEST_PARAMETER, Overwrite=True,
                                          Value=json.dumps(world.manifest), Type="String")
    return name


def agent_profile(world: Any) -> str:
    """An instance profile whose role lets the SSM Agent register (a managed instance)."""
    iam = world.client("iam")
    name = f"agent-{uuid.uuid4().hex[:6]}"
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
            "Action": "sts:AssumeRole"}]}))
    iam.put_role_policy(RoleName=name, PolicyName="agent", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*",
                                                "Action": "ssm:UpdateInstanceInformation"}]}))
    arn: str = iam.create_instance_profile(InstanceProfileName=name)["InstanceProfile"]["Arn"]
    iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)
    return arn


def eni_groups(world: Readiness, iid: str) -> list[str]:
    described = world.client("ec2").describe_instances(InstanceIds=[iid])
    eni = described["Reservations"][0]["Instances"][0]["NetworkInterfaces"][0]
    found = world.client("ec2").describe_network_interfaces(
        NetworkInterfaceIds=[eni["NetworkInterfaceId"]])["NetworkInterfaces"][0]
    return sorted(g["GroupId"] for g in found["Groups"])


def group(world: Readiness, role: str) -> str:
    found: str = world.manifest["quarantine"][world.vpc_id][f"{role}SecurityGroupId"]
    return found


def memory_change(stdout: str, iid: str) -> dict[str, Any]:
    document = json.loads(stdout)
    [change] = [c for run in document["runs"] for t in run["targets"] if t["target"] == iid
                for c in t["changes"] if c["step"] == "ec2.capture-memory"]
    return dict(change)


def images(world: Readiness, case: str, iid: str) -> dict[str, bytes]:
    bucket = world.manifest["evidenceBucket"]
    listed = world.client("s3").list_objects_v2(Bucket=bucket,
                                                Prefix=f"cases/{case}/memory/{iid}/")
    return {o["Key"]: world.client("s3").get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
            for o in listed.get("Contents", [])}


def audit_text(world: Readiness, case: str) -> str:
    assert world.case_dir is not None
    return "\n".join(p.read_text() for p in world.case_dir.rglob("*.jsonl")
                     if case in str(p))


def upload_secrets() -> list[str]:
    """Every secret key and session token the emulated STS issued."""
    from moto.sts.models import sts_backends

    roles = sts_backends[ACCOUNT]["aws"].assumed_roles
    return [s for r in roles for s in (r.secret_access_key, r.session_token)]


def test_memory_is_captured_after_isolation_and_the_eni_ends_in_isolation_alone(
        fault_readiness: Readiness) -> None:
    world = fault_readiness
    memory_ready(world)
    [iid] = launch_instances(world, 1, volumes=1, profile_arn=agent_profile(world),
                             image_id=LINUX)
    proc = world.irctl("--output", "json", "--debug", "contain", "instance", iid,
                       "--apply", "--case", "mem-1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    change = memory_change(proc.stdout, iid)
    assert change["status"] == "applied", change
    # In AWS: the image and its .sha256 are in the case's prefix; the SHA-256 recorded in
    # the run (and the audit log) is the image's own.
    found = images(world, "mem-1", iid)
    assert found, change
    [image_key] = [k for k in found if not k.endswith(".sha256")]
    digest = hashlib.sha256(found[image_key]).hexdigest()
    assert found[f"{image_key}.sha256"].decode().split()[0] == digest
    audit = audit_text(world, "mem-1")
    assert digest in audit and image_key in audit
    head = world.client("s3").head_object(Bucket=world.manifest["evidenceBucket"],
                                          Key=image_key)
    assert head["ServerSideEncryption"] == "aws:kms"
    # The ENI ends in exactly the isolation group (the forensic group came and went).
    assert eni_groups(world, iid) == [group(world, "isolation")]
    # The upload credentials appear nowhere: not in the output, --debug lines, the audit.
    secrets = upload_secrets()
    assert secrets
    for secret in secrets:
        assert secret not in proc.stdout + proc.stderr and secret not in audit
    assert "ssm.SendCommand" in proc.stderr  # the --debug lines were there to check
    # A re-run does not capture twice.
    again = world.irctl("--output", "json", "contain", "instance", iid, "--apply",
                        "--case", "mem-1")
    assert again.returncode == 0, again.stdout + again.stderr
    assert not [c for run in json.loads(again.stdout)["runs"] for t in run["targets"]
                for c in t["changes"] if c["step"] == "ec2.capture-memory"]
    assert len(images(world, "mem-1", iid)) == 2
    # verify case checks the image's recorded version and SHA-256
    checked = world.irctl("--output", "json", "verify", "case", "mem-1")
    [memory] = [c for c in json.loads(checked.stdout)["checks"]
                if c["what"] == "memory capture"]
    assert memory["holds"] is True, memory


def test_an_instance_ssm_does_not_manage_is_reported_and_still_contained(
        fault_readiness: Readiness) -> None:
    world = fault_readiness
    memory_ready(world)
    [iid] = launch_instances(world, 1, volumes=1, image_id=LINUX)  # no profile: no agent
    proc = world.irctl("--output", "json", "contain", "instance", iid, "--apply",
                       "--case", "mem-2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    change = memory_change(proc.stdout, iid)
    assert "Memory NOT captured: SSM does not manage" in change["summary"]
    assert eni_groups(world, iid) == [group(world, "isolation")]
    assert images(world, "mem-2", iid) == {}
    assert world.faults is not None and world.faults.seen.get("SendCommand", 0) == 0


def test_a_forensic_group_without_endpoint_egress_is_reported_naming_the_setting(
        fault_readiness: Readiness) -> None:
    world = fault_readiness
    memory_ready(world, endpoint_egress=False)
    [iid] = launch_instances(world, 1, volumes=1, profile_arn=agent_profile(world),
                             image_id=LINUX)
    proc = world.irctl("--output", "json", "contain", "instance", iid, "--apply",
                       "--case", "mem-3")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = memory_change(proc.stdout, iid)["summary"]
    assert "endpointSecurityGroupIds" in summary and "no endpoint egress" in summary
    assert eni_groups(world, iid) == [group(world, "isolation")]
    assert images(world, "mem-3", iid) == {}


def test_a_capture_that_never_ends_is_cancelled_at_the_bound_and_isolation_stays(
        fault_readiness: Readiness) -> None:
    from rehearsal.emulator.ssm import HANG_TAG
    from runbooks.core.step import REGISTRY, load_all_steps
    from tests.runbooks.steps.conftest import apply_all

    world = fault_readiness
    memory_ready(world)
    [iid] = launch_instances(world, 1, volumes=1, profile_arn=agent_profile(world),
                             image_id=LINUX)
    world.client("ec2").create_tags(Resources=[iid], Tags=[
        {"Key": HANG_TAG, "Value": "hang"}, {"Key": "ir:case", "Value": "mem-4"}])
    load_all_steps()
    ctx = world.context("mem-4")
    ctx.targets = (iid,)
    apply_all(REGISTRY["ec2.isolate"](ctx, {"instance_id": iid}))
    step = REGISTRY["ec2.capture-memory"](ctx, {"instance_id": iid, "timeout_seconds": 2,
                                                "poll_seconds": 0.2})
    started = time.monotonic()
    [(change, result)] = apply_all(step)
    assert time.monotonic() - started < 15  # bounded by the timeout (plus a few calls)
    assert result["captured"] is False and result["status"] == "TimedOut", result
    invocation = world.client("ssm").get_command_invocation(CommandId=result["commandId"],
                                                            InstanceId=iid)
    assert invocation["Status"] == "Cancelled"
    assert eni_groups(world, iid) == [group(world, "isolation")]
    assert images(world, "mem-4", iid) == {}
    assert step.verify(change, result).holds  # the ENI is not left in the forensic group


def test_an_upload_the_role_may_not_make_fails_the_capture_not_the_containment(
        fault_readiness: Readiness) -> None:
    world = fault_readiness
    role = memory_ready(world)
    # The upload role lost its policy: its session cannot put the image.
    world.client("iam").delete_role_policy(RoleName=role, PolicyName="memory-upload")
    [iid] = launch_instances(world, 1, volumes=1, profile_arn=agent_profile(world),
                             image_id=LINUX)
    proc = world.irctl("--output", "json", "contain", "instance", iid, "--apply",
                       "--case", "mem-5")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    audit = audit_text(world, "mem-5")
    records = [json.loads(line) for line in audit.splitlines() if line.strip()]
    [applied] = [r for r in records if r.get("event") == "applied"
                 and r.get("step") == "ec2.capture-memory"] or [
        r for r in records if r.get("step") == "ec2.capture-memory" and "result" in r]
    assert applied["result"]["captured"] is False
    assert "AccessDenied" in applied["result"]["reason"], applied["result"]
    assert images(world, "mem-5", iid) == {}
    assert eni_groups(world, iid) == [group(world, "isolation")]


def test_the_session_policy_keeps_the_upload_inside_the_case_prefix() -> None:
    from runbooks.steps.memory import session_policy

    policy = session_policy("aws", "evidence", "cases/c-1/memory/i-0123456789abcdef0/")
    [put] = [s for s in policy["Statement"] if "s3:PutObject" in s["Action"]]
    assert put["Resource"] == "arn:aws:s3:::evidence/cases/c-1/memory/i-0123456789abcdef0/*"
    assert not any("Delete" in a or "iam:" in a or "sts:" in a
                   for s in policy["Statement"] for a in
                   ([s["Action"]] if isinstance(s["Action"], str) else s["Action"]))


def test_send_command_failing_is_recorded_and_the_isolation_kept(
        fault_readiness: Readiness) -> None:
    world = fault_readiness
    assert world.faults is not None
    memory_ready(world)
    [iid] = launch_instances(world, 1, volumes=1, profile_arn=agent_profile(world),
                             image_id=LINUX)
    world.faults.fail("SendCommand", status=500, code="InternalError")
    proc = world.irctl("--output", "json", "contain", "instance", iid, "--apply",
                       "--case", "mem-6")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SendCommand failed: InternalError" in audit_text(world, "mem-6")
    assert eni_groups(world, iid) == [group(world, "isolation")]
    assert images(world, "mem-6", iid) == {}


def test_a_run_killed_mid_capture_is_seen_by_case_show_and_released(
        fault_readiness: Readiness) -> None:
    from rehearsal.emulator.ssm import HANG_TAG

    world = fault_readiness
    memory_ready(world)
    [iid] = launch_instances(world, 1, volumes=1, profile_arn=agent_profile(world),
                             image_id=LINUX)
    app = eni_groups(world, iid)
    world.client("ec2").create_tags(Resources=[iid], Tags=[{"Key": HANG_TAG,
                                                            "Value": "hang"}])
    forensic = group(world, "forensic")
    proc = world.irctl_popen("contain", "instance", iid, "--apply", "--case", "mem-7")
    try:
        assert wait_until(lambda: forensic in eni_groups(world, iid), 120), \
            proc.communicate(timeout=10)
    finally:
        proc.kill()
        proc.wait(10)
    assert eni_groups(world, iid) == sorted([group(world, "isolation"), forensic])
    shown = world.irctl("--output", "json", "case", "show", "mem-7")
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert "ec2.capture-memory" in {c.get("step") for c in json.loads(shown.stdout)["inPlace"]}
    released = world.irctl("release", "instance", iid, "--case", "mem-7", "--apply")
    assert released.returncode == 0, released.stdout + released.stderr
    assert eni_groups(world, iid) == app  # forensic group gone, the app's groups back


def test_removing_the_forensic_group_denied_rolls_the_target_back_never_left_open(
        fault_readiness: Readiness) -> None:
    world = fault_readiness
    assert world.faults is not None
    memory_ready(world)
    [iid] = launch_instances(world, 1, volumes=1, profile_arn=agent_profile(world),
                             image_id=LINUX)
    app = eni_groups(world, iid)
    # ModifyNetworkInterfaceAttribute: 1-2 isolate (conversion, isolation), 3 attaches
    # the forensic group, 4 removes it: refused
    world.faults.deny("ModifyNetworkInterfaceAttribute", calls={4})
    proc = world.irctl("--output", "json", "contain", "instance", iid, "--apply",
                       "--case", "mem-8")
    assert proc.returncode != 0, proc.stdout + proc.stderr
    change = memory_change(proc.stdout, iid)
    assert change["status"] == "rolled-back", change
    # Never reported as contained, never left with the forensic group: rolled back whole.
    assert group(world, "forensic") not in eni_groups(world, iid)
    assert eni_groups(world, iid) == app


def test_verify_stops_holding_when_the_forensic_group_returns_or_the_image_changes(
        fault_readiness: Readiness) -> None:
    from runbooks.core.step import REGISTRY, load_all_steps
    from tests.runbooks.steps.conftest import apply_all

    world = fault_readiness
    memory_ready(world)
    [iid] = launch_instances(world, 1, volumes=1, profile_arn=agent_profile(world),
                             image_id=LINUX)
    load_all_steps()
    ctx = world.context("mem-9")
    ctx.targets = (iid,)
    apply_all(REGISTRY["ec2.isolate"](ctx, {"instance_id": iid}))
    step = REGISTRY["ec2.capture-memory"](ctx, {"instance_id": iid, "poll_seconds": 0.1})
    [(change, result)] = apply_all(step)
    assert result["captured"] is True, result
    assert step.verify(change, result).holds
    # someone puts the forensic group back next to isolation: no longer holds
    eni = str(change.after["eni"])
    ec2 = world.client("ec2")
    ec2.modify_network_interface_attribute(NetworkInterfaceId=eni,
                                           Groups=list(change.after["groups"]))
    check = step.verify(change, result)
    assert not check.holds and "forensic" in check.actual
    ec2.modify_network_interface_attribute(NetworkInterfaceId=eni,
                                           Groups=[group(world, "isolation")])
    # the .sha256 beside the image no longer holds the recorded SHA-256: no longer holds
    world.client("s3").put_object(Bucket=world.manifest["evidenceBucket"],
                                  Key=f"{result['key']}.sha256", Body=b"0" * 64)
    check = step.verify(change, result)
    assert not check.holds and "SHA-256" in check.actual
