"""The real-sandbox-account guard: explicit flag, account typed back, only own resources."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from click.testing import CliRunner
from moto.server import ThreadedMotoServer

from rehearsal.sandbox import DRILL_TAG, SandboxGuard
from runbooks.cli import main
from runbooks.core.errors import InvalidInput, PreconditionFailed

IDENTITY = {"Account": "210987654321", "Arn": "arn:aws:iam::210987654321:role/drill"}


def guard(**overrides: object) -> SandboxGuard:
    kwargs: dict[str, object] = {"sandbox": True, "confirm_account": "210987654321",
                                 "identity": IDENTITY, "run_id": "run1",
                                 "scenarios": ["compromised-ec2-instance"]}
    kwargs.update(overrides)
    return SandboxGuard.check(**kwargs)  # type: ignore[arg-type]


def test_the_sandbox_flag_is_required() -> None:
    with pytest.raises(InvalidInput, match="needs --sandbox"):
        guard(sandbox=False)


def test_the_account_must_be_typed_back() -> None:
    with pytest.raises(InvalidInput, match="needs --confirm-account"):
        guard(confirm_account=None)
    with pytest.raises(InvalidInput, match="not a 12-digit"):
        guard(confirm_account="2109876543")


def test_credentials_for_another_account_are_refused_naming_both() -> None:
    with pytest.raises(PreconditionFailed, match="account 210987654321 .* not the confirmed "
                                                 "123456789012"):
        guard(confirm_account="123456789012")


def test_scenarios_needing_injected_history_are_refused() -> None:
    with pytest.raises(PreconditionFailed, match="ransomware-data-destruction"):
        guard(scenarios=["malicious-ip", "ransomware-data-destruction"])


def test_only_resources_of_this_run_may_be_touched() -> None:
    g = guard()
    g.assert_owned("i-0123456789abcdef0", {DRILL_TAG: "run1", "Name": "victim"})
    with pytest.raises(PreconditionFailed, match="not tagged ir-readiness:drill=run1"):
        g.assert_owned("i-0fedcba9876543210", {"Name": "production-web"})
    with pytest.raises(PreconditionFailed, match="found 'run0'"):
        g.assert_owned("bucket old-drill", {DRILL_TAG: "run0"})


def test_arns_of_another_account_are_refused() -> None:
    g = guard()
    g.assert_region_of_account("arn:aws:sns:eu-west-1:210987654321:high")
    g.assert_region_of_account("arn:aws:s3:::bucket-without-account")
    with pytest.raises(PreconditionFailed, match="belongs to account 123456789012"):
        g.assert_region_of_account("arn:aws:sns:eu-west-1:123456789012:high")


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    _, port = server.get_host_and_port()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--confirm-account", "123456789012"], "needs --sandbox"),
        (["--sandbox"], "needs --confirm-account"),
        (["--sandbox", "--confirm-account", "111111111111"],
         "credentials are for account 123456789012"),
    ],
)
def test_cli_refuses_with_exit_2_and_creates_nothing(endpoint: str, args: list[str],
                                                     message: str) -> None:
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1"}
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                    region_name="us-east-1")
    s3, ec2 = (session.client(s, endpoint_url=endpoint) for s in ("s3", "ec2"))

    def state() -> tuple[list[str], list[str]]:
        # moto's state is per process, so compare before/after rather than expect empty
        return ([b["Name"] for b in s3.list_buckets()["Buckets"]],
                [i["InstanceId"] for r in ec2.describe_instances()["Reservations"]
                 for i in r["Instances"]])

    before = state()
    result = CliRunner().invoke(main, ["--endpoint-url", endpoint, "--output", "json",
                                       "drill", *args], env=env)
    assert result.exit_code == 2, result.output
    assert message in json.loads(result.stdout)["error"]
    assert state() == before


# -- the sandbox drill end to end, against an emulator standing in for the real account --

def _account_state(session: boto3.session.Session, endpoint: str) -> dict[str, object]:
    """Everything (and how it is configured) that the drill could create or change."""
    ec2, iam, s3 = (session.client(s, endpoint_url=endpoint) for s in ("ec2", "iam", "s3"))
    instances = {i["InstanceId"]: (i["State"]["Name"],
                                   sorted(g["GroupId"] for e in i["NetworkInterfaces"]
                                          for g in e["Groups"]),
                                   sorted((t["Key"], t["Value"]) for t in i.get("Tags", [])))
                 for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]
                 if i["State"]["Name"] != "terminated"}
    groups = {g["GroupId"]: (g["IpPermissions"], g["IpPermissionsEgress"])
              for g in ec2.describe_security_groups()["SecurityGroups"]}
    return {
        "instances": instances,
        "groups": groups,
        "snapshots": sorted(s["SnapshotId"] for s in ec2.describe_snapshots(
            OwnerIds=["self"])["Snapshots"]),
        "volumes": sorted(v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]
                          if v["State"] != "deleted"),
        "users": {u["UserName"]: (
            [(k["AccessKeyId"], k["Status"]) for k in
             iam.list_access_keys(UserName=u["UserName"])["AccessKeyMetadata"]],
            iam.list_user_policies(UserName=u["UserName"])["PolicyNames"])
            for u in iam.list_users()["Users"]},
        "roles": {r["RoleName"]: iam.list_role_policies(RoleName=r["RoleName"])["PolicyNames"]
                  for r in iam.list_roles()["Roles"]},
        "profiles": sorted(p["InstanceProfileName"] for p in
                           iam.list_instance_profiles()["InstanceProfiles"]),
        "buckets": sorted(b["Name"] for b in s3.list_buckets()["Buckets"]),
    }


@pytest.fixture
def sandbox_account(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> Iterator[
        tuple[str, boto3.session.Session]]:
    """An emulator seeded as an account where the readiness stack was deployed."""
    from rehearsal.emulator.server import start_server
    from tests.runbooks.conftest import REGION, seed_readiness

    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    server = start_server(latency_ms=0)
    try:
        session = boto3.session.Session(region_name=REGION)
        readiness = seed_readiness(
            lambda s: session.client(s, endpoint_url=server.endpoint_url))
        # Pre-existing workload the drill must never touch: an instance in the very
        # subnet the victims go into, a user, a snapshot.
        ec2 = session.client("ec2", endpoint_url=server.endpoint_url)
        image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
        ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1,
                          NetworkInterfaces=[{"DeviceIndex": 0,
                                              "SubnetId": readiness.subnet_id}],
                          TagSpecifications=[{"ResourceType": "instance", "Tags": [
                              {"Key": "Name", "Value": "production-web"}]}])
        volume = ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=1)["VolumeId"]
        ec2.create_snapshot(VolumeId=volume)
        session.client("iam", endpoint_url=server.endpoint_url).create_user(
            UserName=f"prod-{uuid.uuid4().hex[:6]}")
        yield server.endpoint_url, session
    finally:
        server.stop()


def test_sandbox_drill_acts_verifies_and_removes_everything_it_created(
        sandbox_account: tuple[str, boto3.session.Session], tmp_path: Path) -> None:
    from runbooks.commands._shared import Settings
    from runbooks.commands.drill import run_sandbox_drill

    endpoint, session = sandbox_account
    before = _account_state(session, endpoint)
    during: dict[str, object] = {}
    settings = Settings(region="us-east-1", endpoint_url=endpoint, output="json")
    report, md_path, json_path = run_sandbox_drill(
        settings, "all", "123456789012", tmp_path,
        inspect=lambda world, r: during.update(r.to_dict()), cli=main)

    names = [s.name for s in report.scenarios]
    assert names == ["compromised-ec2-instance", "compromised-iam-credentials",
                     "compromised-workload-key", "compromised-role-credentials"]
    for s in report.scenarios:
        assert s.error is None, s.error
        # The seeded account has no EventBridge rules (and moto's TestEventPattern is a
        # stub), so routing is the one check not provable here; everything else is.
        failed = [c for c in s.checks if not c.passed and "EventBridge rule" not in c.name]
        assert not failed, (s.name, failed)
        assert sum(c.passed for c in s.checks) >= 3
    cleanup = report.cleanup
    assert cleanup is not None
    assert cleanup["leftovers"] == [] and cleanup["errors"] == [] and cleanup["refused"] == []
    assert any(r.startswith("instance i-") for r in cleanup["removed"])
    assert any(r.startswith("snapshot snap-") for r in cleanup["removed"])
    assert any(r.startswith("user drill-alice-") for r in cleanup["removed"])
    # AWS state: exactly what was there before, unmodified (instances, their groups and
    # tags, group rules, users' keys and policies, roles, snapshots, volumes, buckets).
    assert _account_state(session, endpoint) == before
    written = json.loads(json_path.read_text())
    assert written["mode"] == "sandbox" and written["cleanup"]["leftovers"] == []
    assert "Leftovers (delete these by hand):** none" in md_path.read_text()


def test_cleanup_refuses_what_this_run_did_not_tag(
        sandbox_account: tuple[str, boto3.session.Session]) -> None:
    from rehearsal.sandbox import Cleanup

    endpoint, session = sandbox_account
    ec2, iam = (session.client(s, endpoint_url=endpoint) for s in ("ec2", "iam"))
    run = uuid.uuid4().hex[:8]
    g = guard(run_id=run)
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    # Named like the run's users, but untagged: someone else's.
    iam.create_user(UserName=f"drill-impostor-{run}")
    # Tagged by another run.
    other = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, TagSpecifications=[{
        "ResourceType": "instance", "Tags": [{"Key": DRILL_TAG, "Value": "otherrun"}]}])[
        "Instances"][0]["InstanceId"]
    # This run's own.
    mine = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, TagSpecifications=[{
        "ResourceType": "instance", "Tags": [{"Key": DRILL_TAG, "Value": run}]}])[
        "Instances"][0]["InstanceId"]

    # A snapshot of this run's case but of another run's instance: not adopted, kept.
    volume = ec2.create_volume(AvailabilityZone="us-east-1a", Size=1)["VolumeId"]
    foreign_snap = ec2.create_snapshot(VolumeId=volume, TagSpecifications=[{
        "ResourceType": "snapshot", "Tags": [{"Key": "ir:case", "Value": f"case-{run}"},
                                             {"Key": "ir:source-instance", "Value": other}]}])[
        "SnapshotId"]

    result = Cleanup(g, ec2, iam, wait_seconds=5, cases=[f"case-{run}"]).run()

    assert result["removed"] == [f"instance {mine} termination protection",
                                 f"instance {mine}"]
    assert [r for r in result["refused"] if f"drill-impostor-{run}" in r
            and "not tagged ir-readiness:drill=" + run in r]
    assert [r for r in result["refused"] if foreign_snap in r and "found 'otherrun'" in r]
    assert result["adopted"] == []
    assert result["leftovers"] == [f"snapshot {foreign_snap}", f"user drill-impostor-{run}"]
    assert [t for t in ec2.describe_snapshots(SnapshotIds=[foreign_snap])["Snapshots"][0][
        "Tags"] if t["Key"] == DRILL_TAG] == []
    iam.get_user(UserName=f"drill-impostor-{run}")  # still there
    state = {i["InstanceId"]: i["State"]["Name"] for r in ec2.describe_instances(
        InstanceIds=[other, mine])["Reservations"] for i in r["Instances"]}
    assert state == {other: "running", mine: "terminated"}


def test_a_failing_scenario_still_cleans_up(
        sandbox_account: tuple[str, boto3.session.Session], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from runbooks.commands._shared import Settings
    from runbooks.commands.drill import run_sandbox_drill
    from runbooks.workflows import playbook

    endpoint, session = sandbox_account
    before = _account_state(session, endpoint)

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("network gone mid-playbook")

    monkeypatch.setattr(playbook, "run_playbook", broken)
    report, _, _ = run_sandbox_drill(
        Settings(region="us-east-1", endpoint_url=endpoint, output="json"),
        "compromised-role-credentials", "123456789012", tmp_path, cli=main)
    assert not report.passed
    assert "network gone mid-playbook" in str(report.scenarios[0].error)
    assert report.cleanup is not None and report.cleanup["leftovers"] == []
    assert [r for r in report.cleanup["removed"] if r.startswith("role drill-worker-")]
    assert _account_state(session, endpoint) == before


def test_a_missing_manifest_is_refused_before_anything_is_created(
        sandbox_account: tuple[str, boto3.session.Session]) -> None:
    from runbooks.core.manifest_schema import MANIFEST_PARAMETER

    endpoint, session = sandbox_account
    session.client("ssm", endpoint_url=endpoint).delete_parameter(Name=MANIFEST_PARAMETER)
    before = _account_state(session, endpoint)
    result = CliRunner().invoke(main, ["--endpoint-url", endpoint, "--region", "us-east-1",
                                       "--output", "json", "drill", "--sandbox",
                                       "--confirm-account", "123456789012"])
    assert result.exit_code == 2, result.output
    error = json.loads(result.stdout)["error"]
    assert "no readiness manifest" in error and MANIFEST_PARAMETER in error
    assert _account_state(session, endpoint) == before
