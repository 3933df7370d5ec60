"""`irctl verify case` after a real containment (moto + emulator): holds, then each way
it can stop holding (groups swapped back, key re-activated, a new finding, trail
stopped) gives exit code 1 naming the check."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.runbooks.commands.analysis_world import ACCOUNT, REGION, World, build_world
from tests.runbooks.commands.test_eradicate import launch


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    yield from build_world(tmp_path, monkeypatch)


def contained_instance(world: World, case: str) -> tuple[str, str, list[str]]:
    iid = launch(world, managed=False)
    eni = world.client("ec2").describe_instances(InstanceIds=[iid])["Reservations"][0][
        "Instances"][0]["NetworkInterfaces"][0]
    original = [g["GroupId"] for g in eni["Groups"]]
    code, out = world.irctl_json("contain", "instance", iid, "--case", case, "--apply")
    assert code == 0, out
    return iid, eni["NetworkInterfaceId"], original


def failing(out: dict) -> list[dict]:
    return [c for c in out["checks"] if not c["holds"]]


def test_contained_instance_holds_then_groups_swapped_back_breaks(world: World) -> None:
    iid, eni, original = contained_instance(world, "ir-v1")
    code, out = world.irctl_json("verify", "case", "ir-v1")
    assert code == 0, out
    isolation = world.manifest["quarantine"][world.vpc_id]["isolationSecurityGroupId"]
    [groups] = [c for c in out["checks"] if c["what"] == f"{eni} security groups"]
    assert groups["expected"] == isolation and groups["holds"]
    assert any(c["area"] == "trail" and c["holds"] for c in out["checks"])

    world.client("ec2").modify_network_interface_attribute(NetworkInterfaceId=eni,
                                                           Groups=original)
    code, out = world.irctl_json("verify", "case", "ir-v1")
    assert code == 1
    [broken] = failing(out)
    assert broken["what"] == f"{eni} security groups" and broken["actual"] == original[0]


def test_new_guardduty_finding_for_the_instance_breaks(world: World) -> None:
    from rehearsal.emulator import inject_finding

    iid, _, _ = contained_instance(world, "ir-v2")
    now = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    doc = {  # as GetFindings returns it
        "Type": "CryptoCurrency:EC2/BitcoinTool.B!DNS",
        "Title": f"Bitcoin-related domain name queried by EC2 instance {iid}.",
        "Severity": 8, "CreatedAt": now, "UpdatedAt": now,
        "Resource": {"ResourceType": "Instance", "InstanceDetails": {"InstanceId": iid}},
        "Service": {"Action": {"ActionType": "DNS_REQUEST", "DnsRequestAction": {
            "Domain": "pool.minexmr.example"}}, "ResourceRole": "ACTOR"},
    }
    inject_finding(doc, world.manifest["guardDutyDetectorId"], ACCOUNT, REGION)
    code, out = world.irctl_json("verify", "case", "ir-v2")
    assert code == 1, out
    [broken] = failing(out)
    assert broken["area"] == "findings" and "CryptoCurrency:EC2" in broken["actual"]


def test_reactivated_key_and_stopped_trail_break(world: World) -> None:
    iam = world.client("iam")
    user = f"bot-{uuid.uuid4().hex[:6]}"
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
    code, out = world.irctl_json("contain", "access-key", key, "--case", "ir-v3", "--apply")
    assert code == 0, out
    code, out = world.irctl_json("verify", "case", "ir-v3")
    assert code == 0, out
    deny_all = world.manifest["containmentPolicies"]["denyAll"]
    assert {c["what"] for c in out["checks"]} >= {f"access key of {user}",
                                                  f"user {user} policy {deny_all}"}

    iam.update_access_key(UserName=user, AccessKeyId=key, Status="Active")
    iam.detach_user_policy(UserName=user, PolicyArn=deny_all)
    world.client("cloudtrail").stop_logging(Name=world.manifest["trail"]["arn"])
    code, out = world.irctl_json("verify", "case", "ir-v3")
    assert code == 1
    assert {(c["what"], c["actual"]) for c in failing(out)} == {
        (f"access key of {user}", "Active"), (f"user {user} policy {deny_all}", "detached"),
        ("trail logging", "STOPPED")}


def test_released_changes_are_not_expected_to_hold(world: World) -> None:
    iid, eni, _ = contained_instance(world, "ir-v4")
    code, out = world.irctl_json("release", "instance", iid, "--case", "ir-v4", "--apply")
    assert code == 0, out
    code, out = world.irctl_json("verify", "case", "ir-v4")
    assert code == 0, out
    assert not any(c["what"] == f"{eni} security groups" for c in out["checks"])


def test_unknown_case_is_refused(world: World) -> None:
    code, out = world.irctl_json("verify", "case", "ir-nope")
    assert code == 2 and "no audit log for case ir-nope" in out["error"]


def test_text_output_flags_what_no_longer_holds(world: World) -> None:
    iid, eni, original = contained_instance(world, "ir-v5")
    world.client("ec2").modify_network_interface_attribute(NetworkInterfaceId=eni,
                                                           Groups=original)
    result = world.irctl("verify", "case", "ir-v5")
    assert result.exit_code == 1
    assert "NO LONGER HOLDS" in result.stdout and "1 check(s) no longer hold" in result.stdout


def test_new_security_hub_finding_for_the_instance_breaks(world: World) -> None:
    iid, _, _ = contained_instance(world, "ir-v6")
    now = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    finding = {
        "SchemaVersion": "2018-10-08",
        "Id": f"arn:aws:inspector2:{REGION}:{ACCOUNT}:finding/{uuid.uuid4().hex}",
        "ProductArn": f"arn:aws:securityhub:{REGION}::product/aws/inspector",
        "GeneratorId": "AWSInspector", "AwsAccountId": ACCOUNT,
        "Types": ["Software and Configuration Checks/Vulnerabilities/CVE"],
        "CreatedAt": now, "UpdatedAt": now, "Severity": {"Label": "CRITICAL"},
        "Title": "CVE-2024-3094 - xz", "Description": "Backdoored xz on the instance.",
        "Resources": [{"Type": "AwsEc2Instance",
                       "Id": f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{iid}"}],
    }
    hub = world.client("securityhub")
    assert hub.batch_import_findings(Findings=[finding])["FailedCount"] == 0
    code, out = world.irctl_json("verify", "case", "ir-v6")
    assert code == 1, out
    [broken] = failing(out)
    assert broken["target"] == finding["Id"] and "CVE-2024-3094" in broken["actual"]


def test_deleted_network_acl_deny_entry_breaks(world: World) -> None:
    code, out = world.irctl_json("contain", "ip", "203.0.113.7", "--vpc", world.vpc_id,
                                 "--case", "ir-v7", "--apply")
    assert code == 0, out
    code, out = world.irctl_json("verify", "case", "ir-v7")
    assert code == 0, out
    acl_checks = [c for c in out["checks"] if " rule " in c["what"]]
    assert acl_checks and all(c["expected"] == "deny 203.0.113.7/32" and c["holds"]
                              for c in acl_checks)

    acl_id, direction, _, number = acl_checks[0]["what"].split()
    world.client("ec2").delete_network_acl_entry(
        NetworkAclId=acl_id, RuleNumber=int(number), Egress=direction == "egress")
    code, out = world.irctl_json("verify", "case", "ir-v7")
    assert code == 1
    [broken] = failing(out)
    assert broken["what"] == acl_checks[0]["what"] and broken["actual"] == "entry removed"


def test_elastic_ip_and_protection_are_checked_and_break_when_undone(world: World) -> None:
    iid = launch(world, managed=False)
    ec2 = world.client("ec2")
    allocation = ec2.allocate_address(Domain="vpc")["AllocationId"]
    ec2.associate_address(AllocationId=allocation, InstanceId=iid)
    ip = ec2.describe_addresses(AllocationIds=[allocation])["Addresses"][0]["PublicIp"]
    code, out = world.irctl_json("contain", "instance", iid, "--case", "ir-v8", "--apply")
    assert code == 0, out
    assert not ec2.describe_addresses(AllocationIds=[allocation])["Addresses"][0].get(
        "AssociationId")
    code, out = world.irctl_json("verify", "case", "ir-v8")
    assert code == 0, out
    whats = {c["what"] for c in out["checks"] if c["area"] == "containment"}
    assert {f"Elastic IP {ip}", "termination protection"} <= whats, whats

    ec2.associate_address(AllocationId=allocation, InstanceId=iid)
    ec2.modify_instance_attribute(InstanceId=iid, DisableApiTermination={"Value": False})
    code, out = world.irctl_json("verify", "case", "ir-v8")
    assert code == 1
    assert {c["what"] for c in failing(out)} == {f"Elastic IP {ip}", "termination protection"}
