"""`irctl contain ip CIDR --vpc VPC` and its release, end to end against an emulator
server: assertions on the network ACL entries."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.runbooks.commands.contain_world import Server, irctl, start

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from start(tmp_path_factory)


def _entries(server: Server, vpc: str) -> dict[str, list[tuple]]:
    acls = server.client("ec2").describe_network_acls(
        Filters=[{"Name": "vpc-id", "Values": [vpc]}])["NetworkAcls"]
    return {a["NetworkAclId"]: sorted((e["Egress"], e["RuleNumber"], e["RuleAction"],
                                       e.get("CidrBlock")) for e in a["Entries"])
            for a in acls}


def test_contain_ip_adds_deny_entries_and_release_removes_exactly_them(server: Server,
                                                                       tmp_path: Path):
    ec2 = server.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    custom = ec2.create_network_acl(VpcId=vpc)["NetworkAcl"]["NetworkAclId"]
    ec2.create_network_acl_entry(NetworkAclId=custom, RuleNumber=1, Egress=False,
                                 Protocol="6", RuleAction="allow", CidrBlock="10.0.0.0/8",
                                 PortRange={"From": 22, "To": 22})
    before = _entries(server, vpc)
    case = f"case-{uuid.uuid4().hex[:8]}"

    plan = irctl(server, tmp_path, "contain", "ip", "203.0.113.9", "--vpc", vpc, "--case", case)
    assert plan.code == 0, plan.stderr
    assert _entries(server, vpc) == before

    run = irctl(server, tmp_path, "--output", "json", "contain", "ip", "203.0.113.9",
                "--vpc", vpc, "--case", case, "--apply")
    assert run.code == 0, run.stderr
    [target] = run.json()["runs"][0]["targets"]
    assert target["target"] == "203.0.113.9/32"  # the canonical CIDR release knows it by
    after = _entries(server, vpc)
    for acl, entries in after.items():
        added = sorted(set(entries) - set(before[acl]))
        assert [(e[0], e[2], e[3]) for e in added] == [(False, "deny", "203.0.113.9/32"),
                                                      (True, "deny", "203.0.113.9/32")]
        assert set(before[acl]) <= set(entries)  # nothing replaced
    assert (False, 2, "deny", "203.0.113.9/32") in after[custom]  # 1 is taken

    again = irctl(server, tmp_path, "--output", "json", "contain", "ip", "203.0.113.9/32",
                  "--vpc", vpc, "--case", case)
    assert again.code == 0 and again.json()["runs"][0]["targets"][0]["changes"] == []

    released = irctl(server, tmp_path, "release", "ip", "203.0.113.9/32", "--case", case,
                     "--apply")
    assert released.code == 0, released.stderr
    assert _entries(server, vpc) == before


def test_malformed_cidr_exits_2(server: Server, tmp_path: Path):
    run = irctl(server, tmp_path, "contain", "ip", "203.0.113.300", "--vpc",
                "vpc-0123456789abcdef0", "--apply")
    assert run.code == 2
    assert "cidr '203.0.113.300' is not a valid network" in run.stderr


def test_unknown_vpc_exits_2_and_changes_nothing(server: Server, tmp_path: Path):
    run = irctl(server, tmp_path, "--output", "json", "contain", "ip", "203.0.113.9",
                "--vpc", "vpc-0123456789abcdef0", "--apply")
    assert run.code == 2
    assert "VPC vpc-0123456789abcdef0 was not found" in run.json()["runs"][0]["targets"][0][
        "error"]
