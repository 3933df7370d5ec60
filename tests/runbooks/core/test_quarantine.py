"""A quarantine group that drifted from the stack's rules is never used (issue #16 section
4): `contain instance` refuses with exit 2, names the drift, and changes nothing: the ENI
keeps its groups, no tag, no termination protection, no evidence written. Run as a
responder would (`irctl` subprocess) against a moto server behind the fault layer."""

from __future__ import annotations

from typing import Any

import pytest

from tests.runbooks.conftest import Readiness, launch_instances

pytestmark = pytest.mark.server

SSH_FROM_ANYWHERE = [{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
                      "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]


def group(world: Readiness, role: str) -> str:
    found: str = world.manifest["quarantine"][world.vpc_id][f"{role}SecurityGroupId"]
    return found


def state(world: Readiness, iid: str) -> dict[str, Any]:
    ec2 = world.client("ec2")
    described = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
    eni = described["NetworkInterfaces"][0]["NetworkInterfaceId"]
    groups = ec2.describe_network_interfaces(NetworkInterfaceIds=[eni])[
        "NetworkInterfaces"][0]["Groups"]
    return {
        "groups": sorted(g["GroupId"] for g in groups),
        "tags": {t["Key"]: t["Value"] for t in described.get("Tags", [])},
        "protected": ec2.describe_instance_attribute(
            InstanceId=iid, Attribute="disableApiTermination")["DisableApiTermination"]["Value"],
    }


def evidence(world: Readiness) -> list[str]:
    listed = world.client("s3").list_objects_v2(Bucket=world.manifest["evidenceBucket"])
    return [o["Key"] for o in listed.get("Contents", [])]


def drift_isolation_open(world: Readiness) -> str:
    world.client("ec2").authorize_security_group_ingress(
        GroupId=group(world, "isolation"), IpPermissions=SSH_FROM_ANYWHERE)
    return f"isolation group {group(world, 'isolation')}: inbound tcp:22-22 0.0.0.0/0 present"


def drift_isolation_egress(world: Readiness) -> str:
    world.client("ec2").authorize_security_group_egress(
        GroupId=group(world, "isolation"),
        IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    return (f"isolation group {group(world, 'isolation')}: outbound all traffic 0.0.0.0/0 "
            "present")


def drift_conversion_narrowed(world: Readiness) -> str:
    world.client("ec2").revoke_security_group_ingress(
        GroupId=group(world, "conversion"),
        IpPermissions=[{"IpProtocol": "-1", "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}])
    return f"conversion group {group(world, 'conversion')}: inbound all traffic ::/0 missing"


def drift_conversion_extra(world: Readiness) -> str:
    world.client("ec2").authorize_security_group_ingress(
        GroupId=group(world, "conversion"), IpPermissions=SSH_FROM_ANYWHERE)
    return f"conversion group {group(world, 'conversion')}: inbound tcp:22-22 0.0.0.0/0 added"


@pytest.mark.parametrize("drift", [drift_isolation_open, drift_isolation_egress,
                                   drift_conversion_narrowed, drift_conversion_extra],
                         ids=["isolation-ingress", "isolation-egress", "conversion-narrowed",
                              "conversion-extra-rule"])
def test_contain_refuses_a_drifted_quarantine_group_and_changes_nothing(
        fault_readiness: Readiness, drift: Any) -> None:
    world = fault_readiness
    [iid] = launch_instances(world, 1, volumes=1)
    before = state(world, iid)
    named = drift(world)

    done = world.irctl("contain", "instance", iid, "--case", "ir-drift", "--apply")

    assert done.returncode == 2, (done.stdout, done.stderr)
    [line] = [x for x in done.stderr.splitlines() if x.startswith("error:")]
    assert named in line and world.vpc_id in line, line
    assert state(world, iid) == before
    assert not [k for k in evidence(world) if "/instances/" in k]


def test_contain_uses_groups_that_match_the_stack(fault_readiness: Readiness) -> None:
    world = fault_readiness
    [iid] = launch_instances(world, 1, volumes=1)

    done = world.irctl("contain", "instance", iid, "--case", "ir-nodrift", "--apply")

    assert done.returncode == 0, (done.stdout, done.stderr)
    assert state(world, iid)["groups"] == [group(world, "isolation")]


def test_playbook_run_refuses_a_drifted_group(fault_readiness: Readiness) -> None:
    """Playbooks (and the automation Lambda, which runs them) isolate through the same
    `ec2.isolate` step, whose plan checks the groups."""
    world = fault_readiness
    [iid] = launch_instances(world, 1, volumes=1)
    before = state(world, iid)
    named = drift_isolation_open(world)

    done = world.irctl("playbook", "run", "compromised-ec2-instance", "--param",
                       f"instance_id={iid}", "--case", "ir-drift-pb", "--apply")

    assert done.returncode == 2, (done.stdout, done.stderr)
    assert named in done.stderr
    assert state(world, iid) == before
