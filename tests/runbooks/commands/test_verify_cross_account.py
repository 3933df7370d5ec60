"""`irctl verify case` for a case that contained resources in two member accounts (moto
multi-account): each account's changes are checked in that account, through its member
responder role; undoing containment by hand in one account fails naming that account."""

from __future__ import annotations

import json
from typing import Any

from runbooks.core.manifest_schema import MANIFEST_PARAMETER
from tests.runbooks.commands import test_cross_account as cross
from tests.runbooks.commands.test_cross_account import (
    EXTERNAL_ID,
    MEMBER_A,
    MEMBER_B,
    eni_groups,
    irctl,
    isolation_group,
)
from tests.runbooks.conftest import REGION, Readiness, launch_instances

members = cross.members  # the two member accounts' fixture


def finish_readiness(world: Readiness) -> None:
    """What verify reads besides containment: a logging trail, a detector, Security Hub."""
    manifest = world.manifest
    world.client("s3").create_bucket(Bucket=manifest["trail"]["bucket"])
    trail = world.client("cloudtrail").create_trail(
        Name=manifest["trail"]["arn"].rsplit("/", 1)[-1],
        S3BucketName=manifest["trail"]["bucket"])["TrailARN"]
    world.client("cloudtrail").start_logging(Name=trail)
    manifest["trail"]["arn"] = trail
    manifest["guardDutyDetectorId"] = world.client("guardduty").create_detector(
        Enable=True)["DetectorId"]
    world.client("securityhub").enable_security_hub()
    world.client("ssm").put_parameter(Name=MANIFEST_PARAMETER, Value=json.dumps(manifest),
                                      Type="String", Overwrite=True)


def verify(case: str) -> tuple[int, dict[str, Any]]:
    result = irctl("--output", "json", "--external-id", EXTERNAL_ID, "verify", "case", case)
    return result.exit_code, json.loads(result.stdout)


def test_verify_checks_each_accounts_containment_in_that_account(
        members: dict[str, Readiness]) -> None:
    from rehearsal.emulator import install

    install()
    a, b = members[MEMBER_A], members[MEMBER_B]
    for world in (a, b):
        finish_readiness(world)
    [in_a] = launch_instances(a, volumes=1)
    [in_b] = launch_instances(b, volumes=1)
    before_a = eni_groups(a, in_a)
    contained = irctl("--output", "json", "--external-id", EXTERNAL_ID, "contain", "instance",
                      f"{MEMBER_A}:{REGION}:{in_a}", f"{MEMBER_B}:{REGION}:{in_b}", "--apply")
    assert contained.exit_code == 0, contained.output
    case = json.loads(contained.stdout)["case"]

    code, out = verify(case)
    assert code == 0, out
    assert out["accounts"] == [MEMBER_A, MEMBER_B]
    groups = {(c["account"], c["target"]): c for c in out["checks"]
              if c["what"].endswith("security groups")}
    assert set(groups) == {(MEMBER_A, in_a), (MEMBER_B, in_b)}
    assert groups[(MEMBER_A, in_a)]["expected"] == isolation_group(a)
    assert groups[(MEMBER_B, in_b)]["expected"] == isolation_group(b)
    trails = {c["account"]: c["target"] for c in out["checks"] if c["area"] == "trail"}
    assert trails == {MEMBER_A: a.manifest["trail"]["arn"], MEMBER_B: b.manifest["trail"]["arn"]}

    # Someone puts A's instance back in its old groups by hand: only A's check breaks.
    [eni] = a.client("ec2").describe_instances(InstanceIds=[in_a])["Reservations"][0][
        "Instances"][0]["NetworkInterfaces"]
    a.client("ec2").modify_network_interface_attribute(
        NetworkInterfaceId=eni["NetworkInterfaceId"], Groups=sorted(before_a))
    assert eni_groups(b, in_b) == {isolation_group(b)}
    code, out = verify(case)
    assert code == 1, out
    broken = [c for c in out["checks"] if not c["holds"]]
    assert [(c["account"], c["target"]) for c in broken] == [(MEMBER_A, in_a)]
    assert broken[0]["actual"] == ",".join(sorted(before_a))


def test_records_without_an_account_belong_to_the_sessions_account() -> None:
    from runbooks.workflows.fleet import records_by_account

    records = [
        {"event": "applied", "target": "i-1", "account": MEMBER_B},
        {"event": "applied", "target": "i-0"},  # written before records named accounts
        {"event": "applied", "target": "i-2", "account": MEMBER_A},
        {"event": "planned", "target": "i-3", "account": "999999999999"},
    ]
    grouped = records_by_account(records, own="123456789012")
    assert list(grouped) == ["123456789012", MEMBER_A, MEMBER_B]  # nothing applied in 9999
    assert [r["target"] for r in grouped["123456789012"]] == ["i-0"]
