"""Cross-account response against moto's multi-account support.

The caller is moto's default account (123456789012), playing the security account.
After STS AssumeRole into `arn:aws:iam::<acct>:role/<name>` moto serves every call made
with the returned credentials from that account's own state, so each member account
below has its own VPC, quarantine groups, manifest (SSM) and instances.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner, Result
from moto import mock_aws

from runbooks.cli import main
from runbooks.core.accounts import (
    DEFAULT_MEMBER_ROLE_NAME,
    Scope,
    assumed_sessions,
    group_targets,
)
from runbooks.core.context import SessionFactory
from runbooks.core.errors import InvalidInput, PreconditionFailed
from runbooks.core.manifest_schema import MANIFEST_PARAMETER
from tests.runbooks.conftest import (
    ACCOUNT,
    REGION,
    FaultInjector,
    Readiness,
    launch_instances,
    seed_readiness,
)

MEMBER_A = "111122223333"
MEMBER_B = "444455556666"
EXTERNAL_ID = "ir-test-external-id"


def member_clients(account: str) -> Any:
    credentials = boto3.client("sts", region_name=REGION).assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole",
        RoleSessionName="seed")["Credentials"]
    session = boto3.Session(aws_access_key_id=credentials["AccessKeyId"],
                            aws_secret_access_key=credentials["SecretAccessKey"],
                            aws_session_token=credentials["SessionToken"],
                            region_name=REGION)
    return lambda service: session.client(service)


@pytest.fixture
def members(fake_aws_env: Path) -> Iterator[dict[str, Readiness]]:
    with mock_aws():
        worlds = {}
        for account in (MEMBER_A, MEMBER_B):
            world = seed_readiness(member_clients(account), account=account)
            world.case_dir = fake_aws_env
            worlds[account] = world
        yield worlds


def eni_groups(world: Readiness, instance_id: str) -> set[str]:
    reservations = world.client("ec2").describe_instances(InstanceIds=[instance_id])
    instance = reservations["Reservations"][0]["Instances"][0]
    return {g["GroupId"] for eni in instance["NetworkInterfaces"] for g in eni["Groups"]}


def isolation_group(world: Readiness) -> str:
    group: str = world.manifest["quarantine"][world.vpc_id]["isolationSecurityGroupId"]
    return group


def irctl(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_assumed_sessions_act_in_the_member_account_with_the_external_id(
        members: dict[str, Readiness]) -> None:
    seen: list[dict[str, Any]] = []

    def capture(params: dict[str, Any], **_: Any) -> None:
        seen.append(dict(params))

    source = SessionFactory(region=REGION,
                            event_hooks=[("before-parameter-build.sts.AssumeRole", capture)])
    sessions = assumed_sessions(source, MEMBER_A, external_id=EXTERNAL_ID)
    identity = sessions.client("sts").get_caller_identity()
    assert identity["Account"] == MEMBER_A
    assert f":assumed-role/{DEFAULT_MEMBER_ROLE_NAME}/" in identity["Arn"]
    assert seen[0]["RoleArn"] == f"arn:aws:iam::{MEMBER_A}:role/{DEFAULT_MEMBER_ROLE_NAME}"
    assert seen[0]["ExternalId"] == EXTERNAL_ID
    # The member's manifest is what its SSM returns, not the security account's.
    value = sessions.client("ssm").get_parameter(Name=MANIFEST_PARAMETER)["Parameter"]["Value"]
    assert json.loads(value)["accountId"] == MEMBER_A


def test_account_option_contains_in_the_member_account(
        members: dict[str, Readiness]) -> None:
    world = members[MEMBER_A]
    [instance] = launch_instances(world, volumes=1)
    result = irctl("--account", MEMBER_A, "--external-id", EXTERNAL_ID, "--output", "json",
                   "contain", "instance", instance, "--apply")
    assert result.exit_code == 0, result.output
    assert eni_groups(world, instance) == {isolation_group(world)}
    # Nothing of that instance exists in the caller's own account.
    own = boto3.client("ec2", region_name=REGION).describe_instances()["Reservations"]
    assert instance not in {i["InstanceId"] for r in own for i in r["Instances"]}


def test_contain_instances_in_two_accounts_in_one_command(
        members: dict[str, Readiness]) -> None:
    a, b = members[MEMBER_A], members[MEMBER_B]
    [in_a] = launch_instances(a, volumes=1)
    [in_b] = launch_instances(b, volumes=1)
    before_a, before_b = eni_groups(a, in_a), eni_groups(b, in_b)

    plan = irctl("--output", "json", "--external-id", EXTERNAL_ID, "contain", "instance",
                 f"{MEMBER_A}:{REGION}:{in_a}", f"{MEMBER_B}:{REGION}:{in_b}")
    assert plan.exit_code == 0, plan.output
    assert eni_groups(b, in_b) == before_b  # plan changes nothing

    result = irctl("--output", "json", "--external-id", EXTERNAL_ID, "contain", "instance",
                   f"{MEMBER_A}:{REGION}:{in_a}", f"{MEMBER_B}:{REGION}:{in_b}", "--apply")
    assert result.exit_code == 0, result.output
    assert eni_groups(a, in_a) == {isolation_group(a)}
    assert eni_groups(b, in_b) == {isolation_group(b)}
    document = json.loads(result.stdout)
    scopes = {(s["account"], s["region"]): s["targets"] for s in document["scopes"]}
    assert scopes == {(MEMBER_A, REGION): [in_a], (MEMBER_B, REGION): [in_b]}
    # Each account's instance carries the same case tag.
    for world, instance in ((a, in_a), (b, in_b)):
        tags = world.client("ec2").describe_tags(
            Filters=[{"Name": "resource-id", "Values": [instance]}])["Tags"]
        assert {"Key": "ir:case", "Value": document["case"]} in [
            {"Key": t["Key"], "Value": t["Value"]} for t in tags]
    # Undo in one account, with that account's role: the other stays contained.
    released = irctl("--account", MEMBER_A, "--external-id", EXTERNAL_ID, "release",
                     "instance", in_a, "--case", document["case"], "--apply")
    assert released.exit_code == 0, released.output
    assert eni_groups(a, in_a) == before_a
    assert eni_groups(b, in_b) == {isolation_group(b)}


def test_refuses_when_the_member_manifest_names_another_account(
        members: dict[str, Readiness]) -> None:
    b = members[MEMBER_B]
    [instance] = launch_instances(b, volumes=1)
    before = eni_groups(b, instance)
    wrong = {**b.manifest, "accountId": MEMBER_A}
    b.client("ssm").put_parameter(Name=MANIFEST_PARAMETER, Value=json.dumps(wrong),
                                  Type="String", Overwrite=True)
    result = irctl("--account", MEMBER_B, "contain", "instance", instance, "--apply")
    assert result.exit_code == 2
    assert f"--account is {MEMBER_B} but the manifest" in result.output
    assert f"is for account {MEMBER_A}" in result.output
    assert eni_groups(b, instance) == before


def test_a_refusal_in_one_account_changes_nothing_in_the_other(
        members: dict[str, Readiness]) -> None:
    a, b = members[MEMBER_A], members[MEMBER_B]
    [in_a] = launch_instances(a, volumes=1)
    [in_b] = launch_instances(b, volumes=1)
    before_a = eni_groups(a, in_a)
    b.client("ssm").delete_parameter(Name=MANIFEST_PARAMETER)
    result = irctl("contain", "instance", f"{MEMBER_A}:{REGION}:{in_a}",
                   f"{MEMBER_B}:{REGION}:{in_b}", "--apply")
    assert result.exit_code == 2
    assert "no readiness manifest" in result.output
    assert eni_groups(a, in_a) == before_a


def test_assume_role_denied_raises_precondition_failed(members: dict[str, Readiness]) -> None:
    injector = FaultInjector().add("AssumeRole", "AccessDenied", status=403)
    source = SessionFactory(region=REGION, event_hooks=injector.hooks())
    sessions = assumed_sessions(source, MEMBER_A, external_id="wrong-id")
    with pytest.raises(PreconditionFailed, match=r"cannot assume arn:aws:iam::111122223333:"
                                                 r"role/ir-readiness-member-responder "
                                                 r"\(AccessDenied\).*--external-id"):
        sessions.client("ec2").describe_instances()


def test_bad_account_and_scoped_targets_fail_before_any_call() -> None:
    source = SessionFactory(region=REGION)
    with pytest.raises(InvalidInput, match="not an AWS account id"):
        assumed_sessions(source, "12345")
    with pytest.raises(InvalidInput, match="not a region"):
        group_targets([f"{MEMBER_A}:west:i-0123456789abcdef0"], Scope(None, None))
    with pytest.raises(InvalidInput, match="names an account but no region"):
        group_targets([f"{MEMBER_A}:i-0123456789abcdef0"], Scope(None, None))


def test_targets_group_by_account_and_region() -> None:
    groups = group_targets(
        [f"{MEMBER_A}:eu-west-1:i-0aaaaaaaaaaaaaaaa", "us-east-1:i-0bbbbbbbbbbbbbbbb",
         "i-0ccccccccccccccccc"[:19], f"{MEMBER_A}:eu-west-1:i-0aaaaaaaaaaaaaaaa"],
        Scope(MEMBER_B, "us-west-2"))
    assert groups == {
        Scope(MEMBER_A, "eu-west-1"): ["i-0aaaaaaaaaaaaaaaa"],
        Scope(MEMBER_B, "us-east-1"): ["i-0bbbbbbbbbbbbbbbb"],
        Scope(MEMBER_B, "us-west-2"): ["i-0cccccccccccccccc"],
    }


def test_default_role_name_matches_the_member_baseline() -> None:
    from components.settings import OrganizationSettings

    assert OrganizationSettings().member_role_name == DEFAULT_MEMBER_ROLE_NAME
    assert ACCOUNT not in (MEMBER_A, MEMBER_B)


@pytest.mark.server
def test_irctl_as_a_process_over_http_assumes_the_member_role(
        moto_server: str, fake_aws_env: Path) -> None:
    """The same flow as a responder runs it: `python -m runbooks` against a moto server,
    the external id from IR_EXTERNAL_ID."""
    sts = boto3.client("sts", region_name=REGION, endpoint_url=moto_server)
    credentials = sts.assume_role(
        RoleArn=f"arn:aws:iam::{MEMBER_A}:role/OrganizationAccountAccessRole",
        RoleSessionName="seed")["Credentials"]
    session = boto3.Session(aws_access_key_id=credentials["AccessKeyId"],
                            aws_secret_access_key=credentials["SecretAccessKey"],
                            aws_session_token=credentials["SessionToken"], region_name=REGION)
    world = seed_readiness(lambda service: session.client(service, endpoint_url=moto_server),
                           account=MEMBER_A)
    world.endpoint_url, world.case_dir = moto_server, fake_aws_env
    [instance] = launch_instances(world, volumes=1)

    run = world.irctl("--account", MEMBER_A, "--output", "json", "contain", "instance",
                      instance, "--apply", env={"IR_EXTERNAL_ID": EXTERNAL_ID})
    assert run.returncode == 0, run.stderr
    assert eni_groups(world, instance) == {isolation_group(world)}

    # An account without a member baseline: refused, exit 2, nothing to change.
    refused = world.irctl("--account", MEMBER_B, "contain", "instance", instance, "--apply")
    assert refused.returncode == 2
    assert "no readiness manifest" in refused.stderr


def test_one_manifest_file_cannot_describe_targets_in_two_accounts(
        members: dict[str, Readiness], tmp_path: Path) -> None:
    a, b = members[MEMBER_A], members[MEMBER_B]
    [in_a] = launch_instances(a, volumes=1)
    [in_b] = launch_instances(b, volumes=1)
    before = eni_groups(a, in_a), eni_groups(b, in_b)
    manifest = a.write_manifest_file(tmp_path / "manifest.json")
    result = irctl("--manifest", str(manifest), "contain", "instance",
                   f"{MEMBER_A}:{REGION}:{in_a}", f"{MEMBER_B}:{REGION}:{in_b}", "--apply")
    assert result.exit_code == 2
    assert "drop --manifest" in result.output
    assert (eni_groups(a, in_a), eni_groups(b, in_b)) == before


def test_a_malformed_scoped_target_changes_nothing(members: dict[str, Readiness]) -> None:
    a = members[MEMBER_A]
    [in_a] = launch_instances(a, volumes=1)
    before = eni_groups(a, in_a)
    result = irctl("contain", "instance", f"{MEMBER_A}:{REGION}:{in_a}",
                   f"{MEMBER_B}:{REGION}:not-an-instance", "--apply")
    assert result.exit_code == 2
    assert "not-an-instance" in result.output
    assert eni_groups(a, in_a) == before


# -- every command with several targets: buckets, roles, patching ------------------------

def public_bucket(world: Readiness) -> str:
    s3 = world.client("s3")
    name = f"exports-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    s3.put_bucket_policy(Bucket=name, Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "Public", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
         "Resource": f"arn:aws:s3:::{name}/*"}]}))
    return name


def bucket_state(world: Readiness, name: str) -> dict[str, Any]:
    s3 = world.client("s3")
    try:
        bpa = s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"]
    except s3.exceptions.ClientError:
        bpa = None
    try:
        sids = [s.get("Sid") for s in json.loads(
            s3.get_bucket_policy(Bucket=name)["Policy"])["Statement"]]
    except s3.exceptions.ClientError:
        sids = []
    return {"bpa": bpa, "sids": sids,
            "versioning": s3.get_bucket_versioning(Bucket=name).get("Status")}


def test_contain_buckets_in_two_accounts_then_release_one(
        members: dict[str, Readiness]) -> None:
    a, b = members[MEMBER_A], members[MEMBER_B]
    in_a, in_b = public_bucket(a), public_bucket(b)
    before_a, before_b = bucket_state(a, in_a), bucket_state(b, in_b)
    # ACCOUNT:NAME (the default region) and ACCOUNT:REGION:NAME both work for buckets.
    targets = (f"{MEMBER_A}:{in_a}", f"{MEMBER_B}:{REGION}:{in_b}")

    plan = irctl("--output", "json", "--external-id", EXTERNAL_ID, "contain", "bucket",
                 *targets)
    assert plan.exit_code == 0, plan.output
    assert (bucket_state(a, in_a), bucket_state(b, in_b)) == (before_a, before_b)

    result = irctl("--output", "json", "--external-id", EXTERNAL_ID, "contain", "bucket",
                   *targets, "--apply")
    assert result.exit_code == 0, result.output
    blocked = {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
               "RestrictPublicBuckets": True}
    for world, name in ((a, in_a), (b, in_b)):
        state = bucket_state(world, name)
        assert state["bpa"] == blocked and state["sids"] == [], state
        assert state["versioning"] == "Enabled"
    document = json.loads(result.stdout)
    scopes = {(s["account"], s["region"]): s["targets"] for s in document["scopes"]}
    assert scopes == {(MEMBER_A, REGION): [in_a], (MEMBER_B, REGION): [in_b]}

    released = irctl("--external-id", EXTERNAL_ID, "release", "bucket", f"{MEMBER_A}:{in_a}",
                     "--case", document["case"], "--apply")
    assert released.exit_code == 0, released.output
    assert bucket_state(a, in_a) == {**before_a, "versioning": "Suspended"}
    assert bucket_state(b, in_b)["bpa"] == blocked


def revoke_policies(world: Readiness, role: str) -> list[str]:
    names: list[str] = world.client("iam").list_role_policies(RoleName=role)["PolicyNames"]
    return names


def test_same_named_roles_in_two_accounts_are_contained_and_released_apart(
        members: dict[str, Readiness]) -> None:
    a, b = members[MEMBER_A], members[MEMBER_B]
    role = f"web-{uuid.uuid4().hex[:8]}"
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "sts:AssumeRole",
        "Principal": {"Service": "ec2.amazonaws.com"}}]})
    for world in (a, b):
        world.client("iam").create_role(RoleName=role, AssumeRolePolicyDocument=trust)

    result = irctl("--output", "json", "--external-id", EXTERNAL_ID, "contain", "role",
                   f"{MEMBER_A}:{role}", f"{MEMBER_B}:{role}", "--apply")
    assert result.exit_code == 0, result.output
    assert revoke_policies(a, role) == ["AWSRevokeOlderSessions"]
    assert revoke_policies(b, role) == ["AWSRevokeOlderSessions"]
    case = json.loads(result.stdout)["case"]

    # One case log holds both accounts' changes to "the same" role: releasing it in A
    # restores only A's record.
    released = irctl("--output", "json", "--external-id", EXTERNAL_ID, "release", "role",
                     f"{MEMBER_A}:{role}", "--case", case, "--apply")
    assert released.exit_code == 0, released.output
    [target] = json.loads(released.stdout)["runs"][0]["targets"]
    assert len(target["changes"]) == 1
    assert revoke_policies(a, role) == []
    assert revoke_policies(b, role) == ["AWSRevokeOlderSessions"]
    again = irctl("--external-id", EXTERNAL_ID, "release", "role", f"{MEMBER_A}:{role}",
                  "--case", case, "--apply")
    assert again.exit_code == 2 and "no change still in place" in again.output


def test_a_manifest_naming_another_account_refuses_every_bucket(
        members: dict[str, Readiness]) -> None:
    a, b = members[MEMBER_A], members[MEMBER_B]
    in_a, in_b = public_bucket(a), public_bucket(b)
    before = bucket_state(a, in_a), bucket_state(b, in_b)
    wrong = {**b.manifest, "accountId": MEMBER_A}
    b.client("ssm").put_parameter(Name=MANIFEST_PARAMETER, Value=json.dumps(wrong),
                                  Type="String", Overwrite=True)
    result = irctl("contain", "bucket", f"{MEMBER_A}:{in_a}", f"{MEMBER_B}:{in_b}", "--apply")
    assert result.exit_code == 2
    assert f"--account is {MEMBER_B} but the manifest" in result.output
    assert (bucket_state(a, in_a), bucket_state(b, in_b)) == before


def test_cross_account_buckets_refuse_a_manifest_file(
        members: dict[str, Readiness], tmp_path: Path) -> None:
    a, b = members[MEMBER_A], members[MEMBER_B]
    in_a, in_b = public_bucket(a), public_bucket(b)
    before = bucket_state(a, in_a), bucket_state(b, in_b)
    manifest = a.write_manifest_file(tmp_path / "manifest.json")
    result = irctl("--manifest", str(manifest), "contain", "bucket", f"{MEMBER_A}:{in_a}",
                   f"{MEMBER_B}:{in_b}", "--apply")
    assert result.exit_code == 2 and "drop --manifest" in result.output
    assert (bucket_state(a, in_a), bucket_state(b, in_b)) == before


def test_account_only_targets_are_for_account_wide_kinds() -> None:
    default = Scope(None, "eu-west-1")
    assert group_targets([f"{MEMBER_A}:exports"], default, account_only=True) == {
        Scope(MEMBER_A, "eu-west-1"): ["exports"]}
    with pytest.raises(InvalidInput, match="names an account but no region"):
        group_targets([f"{MEMBER_A}:i-0123456789abcdef0"], default)


def managed_instance(world: Readiness) -> str:
    """A running instance whose profile lets the SSM agent register (the emulator's test
    for `managed`), launched in `world`'s account."""
    iam, ec2 = world.client("iam"), world.client("ec2")
    name = f"app-{uuid.uuid4().hex[:8]}"
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"Service": "ec2.amazonaws.com"}}]}))
    iam.put_role_policy(RoleName=name, PolicyName="ssm-agent", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*",
                                                "Action": ["ssm:UpdateInstanceInformation"]}]}))
    iam.create_instance_profile(InstanceProfileName=name)
    iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)
    subnet = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [world.vpc_id]}])[
        "Subnets"][0]["SubnetId"]
    instance = ec2.run_instances(
        ImageId="ami-12c6146b", MinCount=1, MaxCount=1, InstanceType="t3.micro",
        SubnetId=subnet, IamInstanceProfile={"Name": name})["Instances"][0]
    return str(instance["InstanceId"])


def patched(world: Readiness) -> list[str]:
    return sorted(i for c in world.client("ssm").list_commands()["Commands"]
                  if c["DocumentName"] == "AWS-RunPatchBaseline" for i in c["InstanceIds"])


@pytest.fixture
def ssm_emulator() -> None:
    from rehearsal.emulator import ssm

    ssm.install()


def test_patch_instances_in_two_accounts_in_one_command(
        ssm_emulator: None, members: dict[str, Readiness]) -> None:
    a, b = members[MEMBER_A], members[MEMBER_B]
    in_a, in_b = managed_instance(a), managed_instance(b)
    result = irctl("--output", "json", "--external-id", EXTERNAL_ID, "eradicate", "patch",
                   "--instance", f"{MEMBER_A}:{REGION}:{in_a}",
                   "--instance", f"{MEMBER_B}:{REGION}:{in_b}", "--apply")
    assert result.exit_code == 0, result.output
    # Each account's SSM ran the patch baseline on its own instance, and only there.
    assert patched(a) == [in_a]
    assert patched(b) == [in_b]
    document = json.loads(result.stdout)
    assert {r["kind"] for r in document["runs"]} == {"eradicate patch"}  # no notify run
    statuses = {t["target"]: t["changes"][0]["result"]["status"]
                for r in document["runs"] for t in r["targets"]}
    assert statuses == {in_a: "Success", in_b: "Success"}


def test_patch_refused_in_one_account_sends_nothing_anywhere(
        ssm_emulator: None, members: dict[str, Readiness]) -> None:
    a, b = members[MEMBER_A], members[MEMBER_B]
    in_a, in_b = managed_instance(a), managed_instance(b)
    wrong = {**b.manifest, "accountId": MEMBER_A}
    b.client("ssm").put_parameter(Name=MANIFEST_PARAMETER, Value=json.dumps(wrong),
                                  Type="String", Overwrite=True)
    result = irctl("eradicate", "patch", "--instance", f"{MEMBER_A}:{REGION}:{in_a}",
                   "--instance", f"{MEMBER_B}:{REGION}:{in_b}", "--apply")
    assert result.exit_code == 2
    assert f"is for account {MEMBER_A}" in result.output
    assert patched(a) == [] and patched(b) == []


def user_with_key(world: Readiness) -> tuple[str, str]:
    iam = world.client("iam")
    user = f"ci-bot-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=user)
    key: str = iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
    return user, key


def key_state(world: Readiness, user: str) -> tuple[str, list[str]]:
    iam = world.client("iam")
    status: str = iam.list_access_keys(UserName=user)["AccessKeyMetadata"][0]["Status"]
    # inline policy names, and "deny-all" for the stack's managed one when attached
    return status, iam.list_user_policies(UserName=user)["PolicyNames"] + [
        "deny-all" for p in iam.list_attached_user_policies(UserName=user)["AttachedPolicies"]
        if p["PolicyArn"] == world.manifest["containmentPolicies"]["denyAll"]]


def test_contain_access_keys_in_two_accounts_in_one_command(
        members: dict[str, Readiness]) -> None:
    from rehearsal.emulator import cloudtrail

    cloudtrail.install()  # moto has no LookupEvents; the evidence run needs it
    a, b = members[MEMBER_A], members[MEMBER_B]
    (user_a, key_a), (user_b, key_b) = user_with_key(a), user_with_key(b)
    result = irctl("--output", "json", "--external-id", EXTERNAL_ID, "contain", "access-key",
                   f"{MEMBER_A}:{key_a}", f"{MEMBER_B}:{key_b}", "--apply")
    assert result.exit_code == 0, result.output
    assert key_state(a, user_a) == ("Inactive", ["deny-all"])
    assert key_state(b, user_b) == ("Inactive", ["deny-all"])
    document = json.loads(result.stdout)
    kinds = [r["kind"] for r in document["runs"]]
    assert kinds.count("access-key") == 2 and kinds.count("evidence") == 2
    # Each account's evidence went to that account's own evidence bucket.
    for world, key in ((a, key_a), (b, key_b)):
        world.client("s3").head_object(
            Bucket=world.manifest["evidenceBucket"],
            Key=f"cases/{document['case']}/evidence/access-key-{key}/cloudtrail-events.json")
    released = irctl("--external-id", EXTERNAL_ID, "release", "access-key",
                     f"{MEMBER_B}:{key_b}", "--case", document["case"], "--apply")
    assert released.exit_code == 0, released.output
    assert key_state(b, user_b) == ("Active", [])
    assert key_state(a, user_a) == ("Inactive", ["deny-all"])


def test_release_of_a_regional_target_needs_its_region() -> None:
    result = irctl("release", "instance", f"{MEMBER_A}:i-0123456789abcdef0", "--case",
                   "ir-20261128-031500-1a2b3c")
    assert result.exit_code == 2 and "names an account but no region" in result.output


def test_a_target_that_cannot_be_planned_in_one_account_refuses_every_account(
        ssm_emulator: None, members: dict[str, Readiness]) -> None:
    a, b = members[MEMBER_A], members[MEMBER_B]
    in_a = managed_instance(a)
    subnet = b.client("ec2").describe_subnets(
        Filters=[{"Name": "vpc-id", "Values": [b.vpc_id]}])["Subnets"][0]["SubnetId"]
    unmanaged = b.client("ec2").run_instances(  # no instance profile: no SSM agent
        ImageId="ami-12c6146b", MinCount=1, MaxCount=1, InstanceType="t3.micro",
        SubnetId=subnet)["Instances"][0]["InstanceId"]
    result = irctl("--output", "json", "eradicate", "patch",
                   "--instance", f"{MEMBER_A}:{REGION}:{in_a}",
                   "--instance", f"{MEMBER_B}:{REGION}:{unmanaged}", "--apply")
    assert result.exit_code != 0, result.output
    assert patched(a) == [] and patched(b) == []  # nothing sent in either account
    targets = {t["target"]: t for r in json.loads(result.stdout)["runs"] for t in r["targets"]}
    assert "not managed by SSM" in targets[unmanaged]["error"]
    assert "another account or region" in targets[in_a]["error"]


def test_an_unknown_instance_in_one_account_leaves_the_other_uncontained(
        members: dict[str, Readiness]) -> None:
    a = members[MEMBER_A]
    [in_a] = launch_instances(a, volumes=1)
    before = eni_groups(a, in_a)
    result = irctl("contain", "instance", f"{MEMBER_A}:{REGION}:{in_a}",
                   f"{MEMBER_B}:{REGION}:i-0123456789abcdef0", "--apply")
    assert result.exit_code != 0, result.output
    assert eni_groups(a, in_a) == before
