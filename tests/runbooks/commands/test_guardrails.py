"""Guardrails before any change (issue 16, part 3), `irctl` as a subprocess against a moto
server: `contain ip` refuses CIDRs that are never an attacker's, ids with whitespace,
control or non-ASCII characters are refused before any AWS call or file write, plans
leave no case directory, and every refusal has its one line on stderr."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.runbooks.conftest import Readiness, launch_instances


def acl_entries(world: Readiness) -> list[tuple[int, bool, str, str]]:
    acls = world.client("ec2").describe_network_acls(Filters=[
        {"Name": "vpc-id", "Values": [world.vpc_id]}])["NetworkAcls"]
    return sorted((e["RuleNumber"], e["Egress"], e["RuleAction"], e.get("CidrBlock", ""))
                  for acl in acls for e in acl["Entries"])


def evidence_keys(world: Readiness) -> list[str]:
    """What the evidence bucket holds besides the runner's per-target claims (`locks/`)."""
    listed = world.client("s3").list_objects_v2(Bucket=world.manifest["evidenceBucket"])
    return [o["Key"] for o in listed.get("Contents", []) if not o["Key"].startswith("locks/")]


def case_dirs(world: Readiness) -> list[str]:
    root = Path(str(world.case_dir))
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


def eni_groups(world: Readiness, instance_id: str) -> list[list[str]]:
    instance = world.client("ec2").describe_instances(InstanceIds=[instance_id])[
        "Reservations"][0]["Instances"][0]
    return [sorted(g["GroupId"] for g in eni["Groups"]) for eni in instance["NetworkInterfaces"]]


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


# -- contain ip ---------------------------------------------------------------------------


@pytest.mark.parametrize("cidr,extra,says", [
    ("10.0.0.0/8", (), "overlaps"),  # the seeded VPC is 10.0.0.0/16
    ("10.0.3.7", (), "overlaps"),
    ("0.0.0.0/1", ("--allow-broad",), "overlaps"),  # broad allowed, VPC range never
    ("0.0.0.0/1", (), "broader than /8"),
    ("127.0.0.1", (), "loopback"),
    ("169.254.169.254", (), "link-local"),
    ("224.0.0.251/32", (), "multicast"),
])
def test_contain_ip_refuses_and_changes_nothing(server_readiness: Readiness, cidr: str,
                                               extra: tuple[str, ...], says: str) -> None:
    world = server_readiness
    before = acl_entries(world)

    done = world.irctl("contain", "ip", cidr, "--vpc", world.vpc_id, *extra, "--apply",
                       "--case", "ir-guard-ip")

    assert done.returncode == 2, done.stdout + done.stderr
    assert acl_entries(world) == before
    (line,) = error_lines(done.stderr)
    assert says in line
    assert evidence_keys(world) == []


def test_contain_ip_allow_broad_admits_a_range_outside_the_vpc(
        server_readiness: Readiness) -> None:
    world = server_readiness

    refused = world.irctl("contain", "ip", "192.0.0.0/4", "--vpc", world.vpc_id, "--apply",
                          "--case", "ir-guard-broad")
    done = world.irctl("contain", "ip", "192.0.0.0/4", "--vpc", world.vpc_id, "--apply",
                       "--allow-broad", "--case", "ir-guard-broad")

    assert refused.returncode == 2 and "--allow-broad" in refused.stderr
    assert done.returncode == 0, done.stdout + done.stderr
    denies = [e for e in acl_entries(world) if e[2] == "deny" and e[3] == "192.0.0.0/4"]
    assert len(denies) == 2  # ingress and egress


# -- ids, names and case ids ----------------------------------------------------------------


@pytest.mark.parametrize("bad", ["{iid}\n", "{iid} ", "\t{iid}", "{iid}\u200b",
                                 "i-0\u0430b1c2d3e4f5a6b7c"])
def test_instance_ids_with_stray_characters_are_refused_before_any_call(
        server_readiness: Readiness, bad: str) -> None:
    world = server_readiness
    (iid,) = launch_instances(world, 1, volumes=1)
    before = eni_groups(world, iid)

    done = world.irctl("contain", "instance", bad.format(iid=iid), "--apply")

    assert done.returncode == 2, done.stdout + done.stderr
    (line,) = error_lines(done.stderr)
    assert "printable ASCII" in line
    assert eni_groups(world, iid) == before
    assert evidence_keys(world) == [] and case_dirs(world) == []


@pytest.mark.parametrize("case_id", ["c1\n", "c1 ", "c\u00e91", "c1\x07"])
def test_case_ids_with_stray_characters_write_nothing(server_readiness: Readiness,
                                                      case_id: str) -> None:
    world = server_readiness
    (iid,) = launch_instances(world, 1, volumes=1)
    before = eni_groups(world, iid)

    done = world.irctl("contain", "instance", iid, "--apply", "--case", case_id)

    assert done.returncode == 2, done.stdout + done.stderr
    assert "case id" in done.stderr
    assert evidence_keys(world) == [] and case_dirs(world) == []
    assert eni_groups(world, iid) == before


def test_role_names_and_vpc_ids_are_checked_too(server_readiness: Readiness) -> None:
    world = server_readiness
    role = world.irctl("contain", "role", "ci-deploy\n", "--apply")
    vpc = world.irctl("contain", "ip", "203.0.113.7", "--vpc", f"{world.vpc_id}\n", "--apply")
    for done in (role, vpc):
        assert done.returncode == 2, done.stdout + done.stderr
        assert len(error_lines(done.stderr)) == 1
    assert case_dirs(world) == [] and evidence_keys(world) == []


# -- case directories -------------------------------------------------------------------


def test_a_plan_leaves_no_case_directory_and_its_case_id_works_for_apply(
        server_readiness: Readiness) -> None:
    world = server_readiness
    (iid,) = launch_instances(world, 1, volumes=1)

    plan = world.irctl("contain", "instance", iid)

    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert case_dirs(world) == [] and evidence_keys(world) == []
    found = re.search(r"case: (\S+) \(generated", plan.stderr)
    assert found, plan.stderr
    case_id = found.group(1)

    done = world.irctl("contain", "instance", iid, "--apply", "--case", case_id)

    assert done.returncode == 0, done.stdout + done.stderr
    assert case_dirs(world) == [case_id]
    isolation = world.manifest["quarantine"][world.vpc_id]["isolationSecurityGroupId"]
    assert eni_groups(world, iid) == [[isolation]]


def test_a_scoped_plan_leaves_no_case_directory(server_readiness: Readiness) -> None:
    # REGION:ID targets run through the multi-scope path, which names the case itself.
    world = server_readiness
    (iid,) = launch_instances(world, 1, volumes=1)

    plan = world.irctl("contain", "instance", f"us-east-1:{iid}")

    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "generated" in plan.stderr
    assert case_dirs(world) == [] and evidence_keys(world) == []


def test_a_plan_with_an_explicit_case_keeps_its_record(server_readiness: Readiness) -> None:
    world = server_readiness
    (iid,) = launch_instances(world, 1, volumes=1)

    plan = world.irctl("contain", "instance", iid, "--case", "ir-planned")

    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert case_dirs(world) == ["ir-planned"]


# -- refusals on stderr -------------------------------------------------------------------


def test_a_refused_target_prints_one_line_on_stderr(server_readiness: Readiness) -> None:
    world = server_readiness

    done = world.irctl("contain", "instance", "i-0123456789abcdef0", "--apply",
                       "--case", "ir-refused")

    assert done.returncode == 2, done.stdout + done.stderr
    (line,) = error_lines(done.stderr)
    assert "i-0123456789abcdef0" in line


def test_recover_instance_without_a_recovery_point_names_instance_and_vault(
        server_readiness: Readiness) -> None:
    world = server_readiness
    (iid,) = launch_instances(world, 1, volumes=1)
    vault: Any = world.manifest["backup"]["vaultName"]

    done = world.irctl("recover", "instance", iid, "--apply", "--case", "ir-recover")

    assert done.returncode == 2, done.stdout + done.stderr
    (line,) = error_lines(done.stderr)
    assert iid in line and vault in line
    assert case_dirs(world) == [] and evidence_keys(world) == []


def test_playbook_parameters_are_checked_before_any_call(server_readiness: Readiness) -> None:
    # The playbook's role_name pattern (`\\w`) admits any Unicode letter: the look-alike
    # Cyrillic "е" must be refused before IAM is asked about a role that is not there.
    world = server_readiness
    role = "ci-d\u0435ploy"

    done = world.irctl("playbook", "run", "compromised-iam-credentials", "--param",
                       "credential_kind=role", "--param", f"role_name={role}",
                       "--phase", "containment", "--apply")

    assert done.returncode == 2, done.stdout + done.stderr
    (line,) = error_lines(done.stderr)
    assert "role_name" in line and "U+0435" in line
    assert case_dirs(world) == [] and evidence_keys(world) == []
