"""`irctl contain database` / `release database` against a moto server (behind the fault
layer), run as a responder would (the CLI as a subprocess); every assertion reads RDS
state: public flag, VPC security groups, deletion protection, case-tagged snapshots, the
managed master secret."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from runbooks.core.ids import CASE_TAG
from tests.runbooks.conftest import Readiness

pytestmark = pytest.mark.server

PASSWORD = "initial-Passw0rd"


def subnet_group(world: Readiness) -> str:
    """A DB subnet group in the readiness VPC (two zones, as RDS requires)."""
    ec2, rds = world.client("ec2"), world.client("rds")
    name = world.extra.get("subnet_group")
    if name:
        return str(name)
    zone = ec2.describe_subnets(SubnetIds=[world.subnet_id])["Subnets"][0]["AvailabilityZone"]
    other = next(z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]
                 if z["ZoneName"] != zone)
    second = ec2.create_subnet(VpcId=world.vpc_id, CidrBlock="10.0.9.0/24",
                               AvailabilityZone=other)["Subnet"]["SubnetId"]
    name = f"db-{uuid.uuid4().hex[:8]}"
    rds.create_db_subnet_group(DBSubnetGroupName=name, DBSubnetGroupDescription="db",
                               SubnetIds=[world.subnet_id, second])
    world.extra["subnet_group"] = name
    return name


def app_group(world: Readiness, vpc_id: str | None = None) -> str:
    found: str = world.client("ec2").create_security_group(
        GroupName=f"app-db-{uuid.uuid4().hex[:8]}", Description="app to db",
        VpcId=vpc_id or world.vpc_id)["GroupId"]
    return found


def make_instance(world: Readiness, *, public: bool = True) -> tuple[str, str]:
    """A standalone PostgreSQL instance with the app's group; (identifier, group)."""
    group = app_group(world)
    name = f"orders-{uuid.uuid4().hex[:8]}"
    world.client("rds").create_db_instance(
        DBInstanceIdentifier=name, Engine="postgres", DBInstanceClass="db.t3.micro",
        AllocatedStorage=20, MasterUsername="app_admin", MasterUserPassword=PASSWORD,
        DBSubnetGroupName=subnet_group(world), VpcSecurityGroupIds=[group],
        PubliclyAccessible=public)
    return name, group


def make_cluster(world: Readiness) -> tuple[str, list[str], str]:
    """An Aurora PostgreSQL cluster with two members, one public; (id, members, group)."""
    group = app_group(world)
    rds = world.client("rds")
    name = f"orders-cl-{uuid.uuid4().hex[:6]}"
    rds.create_db_cluster(DBClusterIdentifier=name, Engine="aurora-postgresql",
                          MasterUsername="app_admin", MasterUserPassword=PASSWORD,
                          DBSubnetGroupName=subnet_group(world), VpcSecurityGroupIds=[group])
    members = [f"{name}-a", f"{name}-b"]
    for member, public in zip(members, (True, False), strict=True):
        rds.create_db_instance(DBInstanceIdentifier=member, DBClusterIdentifier=name,
                               Engine="aurora-postgresql", DBInstanceClass="db.r6g.large",
                               PubliclyAccessible=public)
    return name, members, group


def instance_state(world: Readiness, name: str) -> dict[str, Any]:
    db = world.client("rds").describe_db_instances(DBInstanceIdentifier=name)["DBInstances"][0]
    return {"public": db["PubliclyAccessible"],
            "groups": sorted(g["VpcSecurityGroupId"] for g in db["VpcSecurityGroups"]),
            "deletionProtection": db["DeletionProtection"],
            "secret": (db.get("MasterUserSecret") or {}).get("SecretArn")}


def cluster_state(world: Readiness, name: str, members: list[str]) -> dict[str, Any]:
    rds = world.client("rds")
    cluster = rds.describe_db_clusters(DBClusterIdentifier=name)["DBClusters"][0]
    return {"public": {m: rds.describe_db_instances(DBInstanceIdentifier=m)["DBInstances"][0][
                "PubliclyAccessible"] for m in members},
            "groups": sorted(g["VpcSecurityGroupId"] for g in cluster["VpcSecurityGroups"]),
            "deletionProtection": cluster["DeletionProtection"],
            "secret": (cluster.get("MasterUserSecret") or {}).get("SecretArn")}


def case_snapshots(world: Readiness, case: str) -> list[str]:
    rds = world.client("rds")
    found = []
    for snap in rds.describe_db_snapshots()["DBSnapshots"]:
        tags = rds.list_tags_for_resource(ResourceName=snap["DBSnapshotArn"])["TagList"]
        if {"Key": CASE_TAG, "Value": case} in tags:
            found.append(f"{snap['DBInstanceIdentifier']}:{snap['DBSnapshotIdentifier']}")
    for snap in rds.describe_db_cluster_snapshots()["DBClusterSnapshots"]:
        tags = rds.list_tags_for_resource(ResourceName=snap["DBClusterSnapshotArn"])["TagList"]
        if {"Key": CASE_TAG, "Value": case} in tags:
            found.append(f"{snap['DBClusterIdentifier']}:{snap['DBClusterSnapshotIdentifier']}")
    return found


def isolation(world: Readiness) -> str:
    group: str = world.manifest["quarantine"][world.vpc_id]["isolationSecurityGroupId"]
    return group


def audit_events(world: Readiness, case: str) -> list[dict[str, Any]]:
    assert world.case_dir is not None
    path = world.case_dir / case / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def error_line(done: Any) -> str:
    lines = [x for x in done.stderr.splitlines() if x.startswith("error:")]
    assert lines, (done.stdout, done.stderr)
    return " ".join(lines)


def test_contain_database_isolates_snapshots_and_rotates_then_release_restores(
        fault_readiness: Readiness) -> None:
    world = fault_readiness
    name, group = make_instance(world)
    case = f"ir-rds-{uuid.uuid4().hex[:6]}"

    planned = world.irctl("contain", "database", name, "--case", case)
    assert planned.returncode == 0, (planned.stdout, planned.stderr)
    assert instance_state(world, name) == {"public": True, "groups": [group],
                                           "deletionProtection": False, "secret": None}

    done = world.irctl("contain", "database", name, "--case", case, "--apply",
                       "--output", "json")
    assert done.returncode == 0, (done.stdout, done.stderr)
    contained = instance_state(world, name)
    assert contained["public"] is False
    assert contained["groups"] == [isolation(world)]
    assert contained["deletionProtection"] is True
    assert contained["secret"] and ":secret:rds!db-" in contained["secret"]
    assert case_snapshots(world, case) == [f"{name}:{case}-{name}"]

    # `verify case` checks every change against RDS (the seeded world has no trail, so
    # only the containment area is asserted)
    verified = world.irctl("verify", "case", case, "--output", "json")
    checks = {c["what"]: c["status"] for c in json.loads(verified.stdout)["checks"]
              if c["area"] == "containment"}
    assert checks == {f"public access of DB instance {name}": "holds",
                      f"security groups of instance {name}": "holds",
                      f"deletion protection of instance {name}": "holds",
                      f"snapshot {case}-{name}": "holds",
                      f"master password of instance {name}": "holds"}, checks

    released = world.irctl("release", "database", name, "--case", case, "--apply")
    assert released.returncode == 0, (released.stdout, released.stderr)
    after = instance_state(world, name)
    assert after["public"] is True and after["groups"] == [group]
    assert after["deletionProtection"] is False
    # one-way: the compromised password is never given back; evidence stays
    assert after["secret"] == contained["secret"]
    assert case_snapshots(world, case) == [f"{name}:{case}-{name}"]


def test_contain_aurora_cluster_isolates_the_cluster_and_every_public_member(
        fault_readiness: Readiness) -> None:
    world = fault_readiness
    name, members, group = make_cluster(world)
    case = f"ir-aurora-{uuid.uuid4().hex[:6]}"

    done = world.irctl("contain", "database", name, "--case", case, "--apply")

    assert done.returncode == 0, (done.stdout, done.stderr)
    state = cluster_state(world, name, members)
    assert state["groups"] == [isolation(world)]
    assert state["public"] == {members[0]: False, members[1]: False}
    assert state["deletionProtection"] is True
    assert state["secret"] and ":secret:rds!cluster-" in state["secret"]
    assert case_snapshots(world, case) == [f"{name}:{case}-{name}"]

    released = world.irctl("release", "database", name, "--case", case, "--apply")
    assert released.returncode == 0, (released.stdout, released.stderr)
    state = cluster_state(world, name, members)
    assert state["groups"] == [group]
    assert state["public"] == {members[0]: True, members[1]: False}
    assert state["deletionProtection"] is False


def test_a_failure_mid_way_rolls_back_what_was_applied(fault_readiness: Readiness) -> None:
    """The third modification (deletion protection) is denied: the public flag and the
    groups already changed are put back, the run exits 1, the audit log says so."""
    world = fault_readiness
    name, group = make_instance(world)
    case = f"ir-rds-fail-{uuid.uuid4().hex[:6]}"
    assert world.faults is not None
    world.faults.deny("ModifyDBInstance", calls={3})

    done = world.irctl("contain", "database", name, "--case", case, "--apply")

    assert done.returncode == 1, (done.stdout, done.stderr)
    assert instance_state(world, name) == {"public": True, "groups": [group],
                                           "deletionProtection": False, "secret": None}
    events = [(r["event"], r.get("step")) for r in audit_events(world, case)]
    assert ("apply-failed", "rds.protect") in events
    assert ("rolled-back", "rds.isolate") in events
    assert ("rolled-back", "rds.disable-public-access") in events
    assert case_snapshots(world, case) == []  # the snapshot comes after: never taken


def test_release_refuses_when_the_groups_were_changed_since(
        fault_readiness: Readiness) -> None:
    world = fault_readiness
    name, group = make_instance(world)
    case = f"ir-rds-drift-{uuid.uuid4().hex[:6]}"
    done = world.irctl("contain", "database", name, "--case", case, "--apply")
    assert done.returncode == 0, (done.stdout, done.stderr)
    someone_elses = app_group(world)
    world.client("rds").modify_db_instance(DBInstanceIdentifier=name, ApplyImmediately=True,
                                           VpcSecurityGroupIds=[someone_elses])
    before = instance_state(world, name)

    released = world.irctl("release", "database", name, "--case", case, "--apply")

    assert released.returncode == 2, (released.stdout, released.stderr)
    assert someone_elses in error_line(released) and "--force" in error_line(released)
    assert instance_state(world, name) == before  # nothing restored, nothing undone


@pytest.mark.parametrize("case", ["unknown", "member", "no-quarantine", "other-account",
                                  "malformed", "drifted-isolation"])
def test_refusals_exit_2_and_change_nothing(fault_readiness: Readiness, case: str) -> None:
    world = fault_readiness
    ec2, rds = world.client("ec2"), world.client("rds")
    name, group = make_instance(world)
    target, expect = name, name
    if case == "unknown":
        target, expect = "no-such-db", "not found"
    elif case == "member":
        cluster, members, _ = make_cluster(world)
        target, expect = members[0], f"contain database {cluster}"
    elif case == "no-quarantine":
        vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
        zones = [z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]]
        subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.9.{i}.0/24",
                                     AvailabilityZone=zones[i])["Subnet"]["SubnetId"]
                   for i in range(2)]
        rds.create_db_subnet_group(DBSubnetGroupName=f"other-{name}",
                                   DBSubnetGroupDescription="x", SubnetIds=subnets)
        target = f"elsewhere-{uuid.uuid4().hex[:6]}"
        rds.create_db_instance(
            DBInstanceIdentifier=target, Engine="postgres", DBInstanceClass="db.t3.micro",
            AllocatedStorage=20, MasterUsername="app_admin", MasterUserPassword=PASSWORD,
            DBSubnetGroupName=f"other-{name}", VpcSecurityGroupIds=[app_group(world, vpc)],
            PubliclyAccessible=True)
        expect = f"VPC {vpc}, which has no quarantine security group"
    elif case == "other-account":
        target, expect = f"arn:aws:rds:us-east-1:111122223333:db:{name}", "--account"
    elif case == "malformed":
        target, expect = "orders--db", "malformed"
    elif case == "drifted-isolation":
        ec2.authorize_security_group_ingress(GroupId=isolation(world), IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432,
             "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
        expect = "drifted"
    before = {db["DBInstanceIdentifier"]: instance_state(world, db["DBInstanceIdentifier"])
              for db in rds.describe_db_instances()["DBInstances"]}

    done = world.irctl("contain", "database", target, "--case", f"ir-ref-{case}", "--apply")

    assert done.returncode == 2, (done.stdout, done.stderr)
    assert expect in error_line(done)
    after = {db["DBInstanceIdentifier"]: instance_state(world, db["DBInstanceIdentifier"])
             for db in rds.describe_db_instances()["DBInstances"]}
    assert after == before
    assert case_snapshots(world, f"ir-ref-{case}") == []


def test_verify_case_flags_a_new_finding_for_the_contained_database(
        fault_readiness: Readiness) -> None:
    from datetime import datetime, timezone

    from rehearsal.emulator import inject_finding
    from runbooks.core.manifest_schema import MANIFEST_PARAMETER

    world = fault_readiness
    # a detector that exists (the seeded manifest names a made-up one)
    world.manifest["guardDutyDetectorId"] = world.client("guardduty").create_detector(
        Enable=True)["DetectorId"]
    world.client("ssm").put_parameter(Name=MANIFEST_PARAMETER, Type="String",
                                      Value=json.dumps(world.manifest), Overwrite=True)
    name, _ = make_instance(world)
    case = f"ir-rds-new-{uuid.uuid4().hex[:6]}"
    done = world.irctl("contain", "database", name, "--case", case, "--apply")
    assert done.returncode == 0, (done.stdout, done.stderr)
    now = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    inject_finding({"Type": "CredentialAccess:RDS/TorIPCaller.SuccessfulLogin",
                    "Title": f"Login to {name} from a Tor exit node", "Severity": 8,
                    "CreatedAt": now, "UpdatedAt": now,
                    "Resource": {"ResourceType": "RDSDBInstance", "RdsDbInstanceDetails": {
                        "DbInstanceIdentifier": name, "Engine": "postgres"}},
                    "Service": {"ResourceRole": "TARGET"}},
                   world.manifest["guardDutyDetectorId"], world.manifest["accountId"],
                   "us-east-1")

    verified = world.irctl("verify", "case", case, "--output", "json")

    findings = [c for c in json.loads(verified.stdout)["checks"] if c["area"] == "findings"]
    assert any(not c["holds"] and "CredentialAccess:RDS/TorIPCaller" in c["actual"]
               for c in findings), findings


def test_a_run_killed_mid_swap_leaves_changes_release_restores(
        fault_readiness: Readiness) -> None:
    """The terminal dies while RDS applies the security group swap (the call was made,
    its answer never read): the case records both changes, and release restores the
    public flag and the groups from it."""
    world = fault_readiness
    assert world.faults is not None
    name, group = make_instance(world)
    case = f"ir-rds-kill-{uuid.uuid4().hex[:6]}"
    hold = world.faults.hold("ModifyDBInstance", calls={2})  # 1: public access, 2: groups
    proc = world.irctl_popen("contain", "database", name, "--case", case, "--apply")
    try:
        assert hold.arrived.wait(120), proc.communicate(timeout=10)
        proc.kill()
        proc.wait(10)
    finally:
        hold.release()
        world.faults.clear()
    killed = instance_state(world, name)
    assert killed["public"] is False and killed["groups"] == [isolation(world)]

    shown = world.irctl("case", "show", case, "--output", "json")
    in_place = {c["step"] for c in json.loads(shown.stdout)["inPlace"]}
    assert {"rds.disable-public-access", "rds.isolate"} <= in_place, shown.stdout

    released = world.irctl("release", "database", name, "--case", case, "--apply")

    assert released.returncode == 0, (released.stdout, released.stderr)
    assert instance_state(world, name) == {"public": True, "groups": [group],
                                           "deletionProtection": False, "secret": None}


def test_throttled_and_5xx_modifications_are_retried_to_containment(
        fault_readiness: Readiness) -> None:
    world = fault_readiness
    assert world.faults is not None
    name, _ = make_instance(world)
    world.faults.throttle("ModifyDBInstance", calls={1, 3})
    world.faults.fail("CreateDBSnapshot", status=503, code="ServiceUnavailable", calls={1})

    done = world.irctl("contain", "database", name, "--case", "ir-rds-throttle", "--apply")

    assert done.returncode == 0, (done.stdout, done.stderr)
    state = instance_state(world, name)
    assert state["public"] is False and state["groups"] == [isolation(world)]
    assert state["deletionProtection"] is True and state["secret"]
    assert case_snapshots(world, "ir-rds-throttle") == [f"{name}:ir-rds-throttle-{name}"]
    assert world.faults.seen["ModifyDBInstance"] >= 6  # 4 changes + 2 retried
