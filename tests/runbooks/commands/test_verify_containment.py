"""`irctl verify case` checks everything containment set (issue #16 section 4).

Each test runs `irctl` as a responder would (a subprocess) against a moto server behind
the fault layer (`tests/fault_server.py`): contain, see every check hold, break one thing
by hand as an attacker (or a careless colleague) would, and see `verify case` exit 1
naming it: an ENI attached after containment, the isolation group opened, the conversion
group narrowed, the session cutoff moved back or the revocation narrowed, the deny-all
policy's document replaced, termination protection off. And one check's API failing
(denied, 500, throttled past the retries, hung) makes only that check `unknown`, with
the error code and request id, while the others are still made (exit 3, or 1 when one
broke).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from tests.runbooks.commands.test_degrade import failed, no_markup, run, with_sources
from tests.runbooks.conftest import Readiness, launch_instances

pytestmark = pytest.mark.server

OLD_CUTOFF = "2000-01-01T00:00:00Z"


def by_what(out: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["what"]: c for c in out["checks"]}


def broken(out: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["what"]: c for c in out["checks"] if c["status"] == "broken"}


def instance_profile(world: Readiness) -> tuple[str, str]:
    """A role (assumable by EC2) in an instance profile: (role name, profile ARN)."""
    iam = world.client("iam")
    name = f"app-{uuid.uuid4().hex[:8]}"
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
            "Action": "sts:AssumeRole"}]}))
    arn = iam.create_instance_profile(InstanceProfileName=name)["InstanceProfile"]["Arn"]
    iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)
    return name, arn


def contained_instance(world: Readiness, case: str) -> tuple[str, str, str]:
    """An instance with a profile, contained by `irctl`: (instance, its ENI, role)."""
    role, profile = instance_profile(world)
    [iid] = launch_instances(world, 1, volumes=1, profile_arn=profile)
    done = world.irctl("contain", "instance", iid, "--case", case, "--apply")
    assert done.returncode == 0, (done.stdout, done.stderr)
    eni = world.client("ec2").describe_instances(InstanceIds=[iid])["Reservations"][0][
        "Instances"][0]["NetworkInterfaces"][0]["NetworkInterfaceId"]
    return iid, eni, role


def revocation(world: Readiness, role: str) -> dict[str, Any]:
    document = world.client("iam").get_role_policy(
        RoleName=role, PolicyName="AWSRevokeOlderSessions")["PolicyDocument"]
    return document if isinstance(document, dict) else json.loads(document)


def put_revocation(world: Readiness, role: str, document: dict[str, Any]) -> None:
    world.client("iam").put_role_policy(RoleName=role, PolicyName="AWSRevokeOlderSessions",
                                        PolicyDocument=json.dumps(document))


def test_what_the_issue_broke_by_hand_is_each_named(fault_readiness: Readiness) -> None:
    world = with_sources(fault_readiness)
    iid, eni, role = contained_instance(world, "ir-vc1")
    groups = world.manifest["quarantine"][world.vpc_id]
    isolation = groups["isolationSecurityGroupId"]
    conversion = groups["conversionSecurityGroupId"]
    revoke = f"role {role} policy AWSRevokeOlderSessions"

    done, out = run(world, "verify", "case", "ir-vc1")

    assert done.returncode == 0, (done.stdout, done.stderr)
    checks = by_what(out)
    for what in (f"{eni} security groups", "isolation group rules", "conversion group rules",
                 revoke, "termination protection"):
        assert checks[what]["status"] == "holds", checks.get(what, checks)
    assert checks["isolation group rules"]["target"] == isolation
    assert checks[revoke]["actual"].startswith("Deny * on * for sessions issued before 20")

    ec2 = world.client("ec2")
    # the attacker opens the isolation group, attaches a fresh ENI in an open group,
    # moves the session cutoff back, and turns termination protection off
    ec2.authorize_security_group_ingress(GroupId=isolation, IpPermissions=[
        {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    app = ec2.create_security_group(GroupName=f"open-{uuid.uuid4().hex[:6]}",
                                    Description="open", VpcId=world.vpc_id)["GroupId"]
    new_eni = ec2.create_network_interface(SubnetId=world.subnet_id,
                                           Groups=[app])["NetworkInterface"]["NetworkInterfaceId"]
    ec2.attach_network_interface(NetworkInterfaceId=new_eni, InstanceId=iid, DeviceIndex=1)
    document = revocation(world, role)
    document["Statement"][0]["Condition"]["DateLessThan"]["aws:TokenIssueTime"] = OLD_CUTOFF
    put_revocation(world, role, document)
    ec2.modify_instance_attribute(InstanceId=iid, DisableApiTermination={"Value": False})
    # and narrows the conversion group's egress to IPv6 only: IPv4 flows stay tracked
    ec2.revoke_security_group_egress(GroupId=conversion, IpPermissions=[
        {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    [egress] = ec2.describe_security_groups(GroupIds=[conversion])["SecurityGroups"][0][
        "IpPermissionsEgress"]
    assert not egress["IpRanges"] and egress["Ipv6Ranges"] == [{"CidrIpv6": "::/0"}]

    done, out = run(world, "verify", "case", "ir-vc1")

    assert done.returncode == 1, (done.stdout, done.stderr)
    assert out["ok"] is False and out["exitCode"] == 1 and out["partial"] is False
    bad = broken(out)
    assert set(bad) == {f"{new_eni} security groups", "isolation group rules",
                        "conversion group rules", revoke, "termination protection"}, bad
    assert bad[f"{new_eni} security groups"]["actual"] == app
    assert bad[f"{new_eni} security groups"]["expected"] == isolation
    assert bad["isolation group rules"]["actual"] == "inbound all traffic 0.0.0.0/0 present"
    assert bad["conversion group rules"]["actual"] == "outbound all traffic 0.0.0.0/0 missing"
    assert bad[revoke]["actual"] == f"cutoff moved back to {OLD_CUTOFF}"
    assert by_what(out)[f"{eni} security groups"]["status"] == "holds"

    text = world.irctl("verify", "case", "ir-vc1")
    assert text.returncode == 1
    assert "5 check(s) no longer hold" in text.stdout and new_eni in text.stdout


def test_a_deleted_extra_eni_and_a_deleted_revocation(fault_readiness: Readiness) -> None:
    world = with_sources(fault_readiness)
    _, _, role = contained_instance(world, "ir-vc2")
    world.client("iam").delete_role_policy(RoleName=role, PolicyName="AWSRevokeOlderSessions")

    done, out = run(world, "verify", "case", "ir-vc2")

    assert done.returncode == 1, (done.stdout, done.stderr)
    assert {w: c["actual"] for w, c in broken(out).items()} == {
        f"role {role} policy AWSRevokeOlderSessions": "missing"}


def contained_role(world: Readiness, case: str) -> str:
    role, _ = instance_profile(world)
    done = world.irctl("contain", "role", role, "--case", case, "--apply")
    assert done.returncode == 0, (done.stdout, done.stderr)
    return role


@pytest.mark.parametrize("edit,says", [
    ("cutoff", f"cutoff moved back to {OLD_CUTOFF}"),
    ("narrowed", "document changed: "),
    ("allow", "document changed: "),
], ids=["cutoff-moved-back", "one-action-only", "allow-instead"])
def test_revoke_sessions_document_is_the_one_the_step_wrote(
        fault_readiness: Readiness, edit: str, says: str) -> None:
    world = with_sources(fault_readiness)
    role = contained_role(world, f"ir-vc3-{edit}")
    what = f"role {role} policy AWSRevokeOlderSessions"
    done, out = run(world, "verify", "case", f"ir-vc3-{edit}")
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert by_what(out)[what]["status"] == "holds"

    document = revocation(world, role)
    statement = document["Statement"][0]
    if edit == "cutoff":
        statement["Condition"]["DateLessThan"]["aws:TokenIssueTime"] = OLD_CUTOFF
    elif edit == "narrowed":
        statement["Action"] = ["s3:GetObject"]
    else:
        statement["Effect"] = "Allow"
    put_revocation(world, role, document)

    done, out = run(world, "verify", "case", f"ir-vc3-{edit}")

    assert done.returncode == 1, (done.stdout, done.stderr)
    [(name, check)] = broken(out).items()
    assert name == what and check["actual"].startswith(says), check
    assert check["expected"].startswith("Deny * on * for sessions issued before 20")


def test_a_later_revocation_with_a_later_cutoff_holds(fault_readiness: Readiness) -> None:
    world = with_sources(fault_readiness)
    role = contained_role(world, "ir-vc4")
    document = revocation(world, role)
    document["Statement"][0]["Sid"] = "IrctlRevokeOlderSessionsirlater"
    document["Statement"][0]["Condition"]["DateLessThan"]["aws:TokenIssueTime"] = \
        "2099-01-01T00:00:00Z"
    put_revocation(world, role, document)

    done, out = run(world, "verify", "case", "ir-vc4")

    assert done.returncode == 0, (done.stdout, done.stderr)
    assert by_what(out)[f"role {role} policy AWSRevokeOlderSessions"]["actual"] == \
        "Deny * on * for sessions issued before 2099-01-01T00:00:00Z"


def test_deny_all_policy_document_must_stay_the_stacks(fault_readiness: Readiness) -> None:
    world = with_sources(fault_readiness)
    iam = world.client("iam")
    user = f"bot-{uuid.uuid4().hex[:6]}"
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
    done = world.irctl("contain", "access-key", key, "--case", "ir-vc5", "--apply")
    assert done.returncode == 0, (done.stdout, done.stderr)
    deny_all = world.manifest["containmentPolicies"]["denyAll"]
    done, out = run(world, "verify", "case", "ir-vc5")
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert by_what(out)["deny-all policy document"]["status"] == "holds"
    assert by_what(out)[f"user {user} policy {deny_all}"]["status"] == "holds"

    # still attached, but its default version now denies one harmless action only
    iam.create_policy_version(PolicyArn=deny_all, SetAsDefault=True, PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [
            {"Effect": "Deny", "Action": "s3:DeleteBucket", "Resource": "*"}]}))

    done, out = run(world, "verify", "case", "ir-vc5")

    assert done.returncode == 1, (done.stdout, done.stderr)
    [(what, check)] = broken(out).items()
    assert what == "deny-all policy document" and check["target"] == deny_all
    assert "s3:DeleteBucket" in check["actual"]


# -- one check's API failing ---------------------------------------------------------


@pytest.mark.parametrize("how,code", [
    ("denied", "UnauthorizedOperation"),
    ("500", "InternalError"),
    ("throttled", "RequestLimitExceeded"),
], ids=["denied", "500", "throttled"])
def test_a_failing_check_is_unknown_and_the_others_still_run(
        fault_readiness: Readiness, how: str, code: str) -> None:
    world = with_sources(fault_readiness)
    assert world.faults is not None
    _, eni, role = contained_instance(world, f"ir-vc6-{how}")
    operation = "DescribeIamInstanceProfileAssociations"
    if how == "denied":
        world.faults.deny(operation)
    elif how == "500":
        world.faults.fail(operation, status=500, code="InternalError")
    else:
        world.faults.throttle(operation)

    done, out = run(world, "verify", "case", f"ir-vc6-{how}")

    assert done.returncode == 3, (done.stdout, done.stderr)
    assert out["exitCode"] == 3 and out["partial"] is True
    [unknown] = [c for c in out["checks"] if c["status"] == "unknown"]
    assert unknown["area"] == "containment" and unknown["target"].startswith("i-")
    assert unknown["error"]["errorCode"] == code and unknown["error"]["requestId"]
    assert unknown["error"]["operation"] == operation
    checks = by_what(out)
    # the checks after it in the case were still made
    for what in (f"{eni} security groups", "isolation group rules",
                 f"role {role} policy AWSRevokeOlderSessions", "termination protection",
                 "trail logging"):
        assert checks[what]["status"] == "holds", what
    assert list(failed(out)) == [unknown["error"]["source"]]
    assert any(line.startswith("error: source ec2.detach-instance-profile check of ")
               and code in line and "request id" in line
               for line in done.stderr.splitlines()), done.stderr
    no_markup(done.stdout, done.stderr)


def test_a_hung_check_is_unknown_and_a_broken_one_still_exits_1(
        fault_readiness: Readiness) -> None:
    world = with_sources(fault_readiness)
    assert world.faults is not None
    iid, eni, _ = contained_instance(world, "ir-vc7")
    world.client("ec2").modify_instance_attribute(InstanceId=iid,
                                                  DisableApiTermination={"Value": False})
    # the ENI check's reads hang past the client's read timeout, every attempt
    world.faults.hang("DescribeSecurityGroups", 5)

    done = world.irctl("--output", "json", "verify", "case", "ir-vc7",
                       env={"IR_AWS_READ_TIMEOUT": "1", "IR_AWS_CONNECT_TIMEOUT": "1"})
    out = json.loads(done.stdout)

    assert done.returncode == 1, (done.stdout, done.stderr)  # broken beats unknown
    assert out["partial"] is True
    [unknown] = [c for c in out["checks"] if c["status"] == "unknown"]
    assert unknown["what"].startswith("ec2.isolate: ") and eni in unknown["what"]
    assert unknown["error"]["errorCode"] == "ReadTimeoutError"
    assert {w for w in broken(out)} == {"termination protection"}
    assert by_what(out)["trail logging"]["status"] == "holds"
