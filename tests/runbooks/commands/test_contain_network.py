"""`irctl contain ip CIDR --vpc VPC` and its release, end to end against an emulator
server: assertions on the network ACL entries."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.runbooks.commands.contain_world import as_json, start
from tests.runbooks.conftest import Readiness

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Readiness]:
    yield from start(tmp_path_factory)


def _entries(server: Readiness, vpc: str) -> dict[str, list[tuple]]:
    acls = server.client("ec2").describe_network_acls(
        Filters=[{"Name": "vpc-id", "Values": [vpc]}])["NetworkAcls"]
    return {a["NetworkAclId"]: sorted((e["Egress"], e["RuleNumber"], e["RuleAction"],
                                       e.get("CidrBlock")) for e in a["Entries"])
            for a in acls}


def test_contain_ip_adds_deny_entries_and_release_removes_exactly_them(server: Readiness):
    ec2 = server.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    custom = ec2.create_network_acl(VpcId=vpc)["NetworkAcl"]["NetworkAclId"]
    ec2.create_network_acl_entry(NetworkAclId=custom, RuleNumber=1, Egress=False,
                                 Protocol="6", RuleAction="allow", CidrBlock="10.0.0.0/8",
                                 PortRange={"From": 22, "To": 22})
    before = _entries(server, vpc)
    case = f"case-{uuid.uuid4().hex[:8]}"

    plan = server.irctl("contain", "ip", "203.0.113.9", "--vpc", vpc, "--case", case)
    assert plan.returncode == 0, plan.stderr
    assert _entries(server, vpc) == before

    run = server.irctl("--output", "json", "contain", "ip", "203.0.113.9",
                "--vpc", vpc, "--case", case, "--apply")
    assert run.returncode == 0, run.stderr
    [target] = as_json(run)["runs"][0]["targets"]
    assert target["target"] == "203.0.113.9/32"  # the canonical CIDR release knows it by
    after = _entries(server, vpc)
    for acl, entries in after.items():
        added = sorted(set(entries) - set(before[acl]))
        assert [(e[0], e[2], e[3]) for e in added] == [(False, "deny", "203.0.113.9/32"),
                                                      (True, "deny", "203.0.113.9/32")]
        assert set(before[acl]) <= set(entries)  # nothing replaced
    assert (False, 2, "deny", "203.0.113.9/32") in after[custom]  # 1 is taken

    again = server.irctl("--output", "json", "contain", "ip", "203.0.113.9/32",
                  "--vpc", vpc, "--case", case)
    assert again.returncode == 0 and as_json(again)["runs"][0]["targets"][0]["changes"] == []

    # Released by the address as the responder typed it at containment.
    released = server.irctl("release", "ip", "203.0.113.9", "--case", case,
                     "--apply")
    assert released.returncode == 0, released.stderr
    assert _entries(server, vpc) == before


def test_malformed_cidr_exits_2(server: Readiness):
    run = server.irctl("contain", "ip", "203.0.113.300", "--vpc",
                "vpc-0123456789abcdef0", "--apply")
    assert run.returncode == 2
    assert "cidr '203.0.113.300' is not a valid network" in run.stderr


def test_unknown_vpc_exits_2_and_changes_nothing(server: Readiness):
    run = server.irctl("--output", "json", "contain", "ip", "203.0.113.9",
                "--vpc", "vpc-0123456789abcdef0", "--apply")
    assert run.returncode == 2
    assert "VPC vpc-0123456789abcdef0 was not found" in as_json(run)["runs"][0]["targets"][0][
        "error"]
