"""`irctl investigate principal` against moto + the emulator's LookupEvents and S3 logs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from uuid import uuid4

import pytest

from tests.runbooks.analysis.trail_logs import as_lookup_event, put_log, record
from tests.runbooks.commands.analysis_world import ACCOUNT, REGION, World, build_world

BOT = f"arn:aws:iam::{ACCOUNT}:user/build-bot"


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    yield from build_world(tmp_path, monkeypatch)


def seed(now: datetime) -> dict[str, dict]:
    from rehearsal.emulator import inject_events

    t = now - timedelta(hours=5)
    iam = {
        "CreateUser": record("CreateUser", t, source="iam.amazonaws.com",
                             request={"userName": "svc-backup"}),
        "CreateAccessKey": record(
            "CreateAccessKey", t + timedelta(minutes=1), source="iam.amazonaws.com",
            request={"userName": "svc-backup"},
            response={"accessKey": {"accessKeyId": "AKIANEWKEY0000000001",
                                    "userName": "svc-backup", "status": "Active"}}),
        "UpdateAssumeRolePolicy": record(
            "UpdateAssumeRolePolicy", t + timedelta(minutes=2), source="iam.amazonaws.com",
            request={"roleName": "deploy", "policyDocument": "{}"}),
        "AliceUser": record("CreateUser", t + timedelta(minutes=3), source="iam.amazonaws.com",
                            user="alice", key="AKIAALICE", request={"userName": "ok"}),
    }
    ec2 = {
        "RunInstances": record(
            "RunInstances", t + timedelta(minutes=4),
            response={"instancesSet": {"items": [{"instanceId": "i-0miner1"}]}}),
        "Old": record("AuthorizeSecurityGroupIngress", now - timedelta(days=3),
                      request={"groupId": "sg-0old"}),
    }
    inject_events([as_lookup_event(r) for r in iam.values()], account_id=ACCOUNT,
                  region="us-east-1")
    inject_events([as_lookup_event(r) for r in ec2.values()], account_id=ACCOUNT,
                  region=REGION)
    return iam | ec2


def test_lists_persistence_with_containment_commands(world: World) -> None:
    now = datetime.now(timezone.utc).replace(microsecond=0)
    seed(now)
    code, out = world.irctl_json("investigate", "principal", BOT, "--since", "1d")
    assert code == 0, out
    found = {p["eventName"]: p for p in out["persistence"]}
    assert list(found) == ["CreateUser", "CreateAccessKey", "UpdateAssumeRolePolicy",
                           "RunInstances"]
    assert found["CreateAccessKey"]["recommendation"] == \
        "irctl contain access-key AKIANEWKEY0000000001 --apply"
    assert found["UpdateAssumeRolePolicy"]["recommendation"] == \
        "irctl contain role deploy --apply"
    assert found["RunInstances"]["recommendation"] == "irctl contain instance i-0miner1 --apply"
    # alice's CreateUser and the 3-day-old rule are outside the principal or the window.
    assert all("ok" not in p["summary"] and "sg-0old" not in p["target"]
               for p in out["persistence"])


def test_trail_logs_beyond_lookup_window(world: World) -> None:
    old = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=120)
    rule = record("AuthorizeSecurityGroupIngress", old, request={
        "groupId": "sg-0abc", "ipPermissions": {"items": [
            {"ipProtocol": "tcp", "fromPort": 22, "toPort": 22,
             "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}},
        response={"securityGroupRuleSet": {"items": [{"securityGroupRuleId": "sgr-0a"}]}})
    put_log(world.client("s3"), world.manifest["trail"]["bucket"], old + timedelta(minutes=5),
            [rule], prefix="ct")
    code, out = world.irctl_json("investigate", "principal", BOT, "--since",
                                 (old - timedelta(hours=1)).isoformat())
    assert code == 0, out
    [item] = out["persistence"]
    assert item["recommendation"] == (
        "aws ec2 revoke-security-group-ingress --group-id sg-0abc "
        "--security-group-rule-ids sgr-0a")
    assert any(s.startswith("s3://") for s in out["sources"])


def test_future_since_and_bad_arn_and_other_account_are_refused(world: World) -> None:
    future = (datetime.now(timezone.utc) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    code, out = world.irctl_json("investigate", "principal", BOT, "--since", future)
    assert code == 2 and "in the future" in out["error"]
    code, out = world.irctl_json("investigate", "principal", "build-bot", "--since", "1d")
    assert code == 2 and "not an IAM principal ARN" in out["error"]
    code, out = world.irctl_json("investigate", "principal",
                                 "arn:aws:iam::210987654321:user/x", "--since", "1d")
    assert code == 2 and "210987654321" in out["error"]


def test_text_output_is_a_table_with_commands(world: World) -> None:
    seed(datetime.now(timezone.utc).replace(microsecond=0))
    result = world.irctl("investigate", "principal", BOT, "--since", "1d")
    assert result.exit_code == 0, result.output
    assert "irctl contain instance i-0miner1" in result.stdout
    assert "4 lasting change(s)" in result.stdout


def test_role_sessions_are_found_through_assume_role(world: World) -> None:
    from rehearsal.emulator import inject_events

    now = datetime.now(timezone.utc).replace(microsecond=0)
    role_arn = f"arn:aws:iam::{ACCOUNT}:role/deploy"
    assume = record("AssumeRole", now - timedelta(hours=2), source="sts.amazonaws.com",
                    request={"roleArn": role_arn, "roleSessionName": "attacker-session"},
                    resources=[role_arn])
    session_identity = {
        "type": "AssumedRole", "accessKeyId": "ASIAATTACKER",
        "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/deploy/attacker-session",
        "sessionContext": {"sessionIssuer": {"type": "Role", "userName": "deploy",
                                             "arn": role_arn}},
    }
    backdoor = record("CreateUser", now - timedelta(hours=1), source="iam.amazonaws.com",
                      identity=session_identity, request={"userName": "backdoor"})
    # Same session name, another role: not this principal.
    other_identity = dict(session_identity, arn=f"arn:aws:sts::{ACCOUNT}:assumed-role/"
                          "other/attacker-session", sessionContext={"sessionIssuer": {
                              "arn": f"arn:aws:iam::{ACCOUNT}:role/other"}})
    decoy = record("CreateUser", now - timedelta(minutes=50), source="iam.amazonaws.com",
                   identity=other_identity, request={"userName": "decoy"})
    events = [as_lookup_event(assume, ("AWS::IAM::Role", role_arn))]
    for item in (backdoor, decoy):
        event = as_lookup_event(item)
        event["Username"] = "attacker-session"  # event history names a session by its name
        events.append(event)
    inject_events(events, account_id=ACCOUNT, region="us-east-1")

    code, out = world.irctl_json("investigate", "principal", role_arn, "--since", "1d")

    assert code == 0, out
    assert [p["target"] for p in out["persistence"]] == [
        f"arn:aws:iam::{ACCOUNT}:user/backdoor"]


def test_finds_what_the_principal_did_through_the_emulator(world: World) -> None:
    """No seeded history: real calls, recorded by the emulator as CloudTrail records them."""
    import boto3

    iam = world.client("iam")
    attacker = f"intruder-{uuid4().hex[:8]}"
    arn = iam.create_user(UserName=attacker)["User"]["Arn"]
    creds = iam.create_access_key(UserName=attacker)["AccessKey"]
    as_attacker = boto3.Session(aws_access_key_id=creds["AccessKeyId"],
                                aws_secret_access_key=creds["SecretAccessKey"],
                                region_name=REGION)
    a_iam, a_ec2 = as_attacker.client("iam"), as_attacker.client("ec2")
    backdoor = f"backdoor-{uuid4().hex[:8]}"
    a_iam.create_user(UserName=backdoor)
    created = a_iam.create_access_key(UserName=backdoor)["AccessKey"]
    new_key = created["AccessKeyId"]
    group = a_ec2.create_security_group(GroupName=f"g-{uuid4().hex[:8]}",
                                        Description="x")["GroupId"]
    rule = a_ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
         "IpRanges": [{"CidrIp": "203.0.113.0/24"}]}])["SecurityGroupRules"][0]
    instance = a_ec2.run_instances(ImageId="ami-12c6146b", MinCount=1,
                                   MaxCount=1)["Instances"][0]["InstanceId"]

    code, out = world.irctl_json("investigate", "principal", arn, "--since", "1h")
    assert code == 0, out
    found = {p["eventName"]: p for p in out["persistence"]}
    assert found["CreateUser"]["target"] == f"arn:aws:iam::{ACCOUNT}:user/{backdoor}"
    assert found["CreateAccessKey"]["recommendation"] == \
        f"irctl contain access-key {new_key} --apply"
    assert found["CreateAccessKey"]["summary"] == \
        f"created access key {new_key} for user {backdoor}"
    ingress = found["AuthorizeSecurityGroupIngress"]
    assert ingress["summary"] == f"opened ingress on {group} to 203.0.113.0/24"
    assert rule["SecurityGroupRuleId"] in ingress["recommendation"]
    assert found["RunInstances"]["recommendation"] == \
        f"irctl contain instance {instance} --apply"
    # The new key's secret is never written into the recorded events.
    records = [e["CloudTrailEvent"] for e in world.client("cloudtrail").lookup_events(
        LookupAttributes=[{"AttributeKey": "Username", "AttributeValue": attacker}])["Events"]]
    assert records and not any(created["SecretAccessKey"] in r for r in records)


def test_the_sweep_finds_secrets_grants_groups_rules_and_outside_trust_through_the_emulator(
        world: World) -> None:
    """#20 part 6: real calls by the principal, recorded by the emulator as CloudTrail
    records them; each new kind with its undo, and a role trusting another account gets
    "remove that trust", not `contain role`."""
    import json

    import boto3

    iam = world.client("iam")
    attacker = f"intruder-{uuid4().hex[:8]}"
    arn = iam.create_user(UserName=attacker)["User"]["Arn"]
    creds = iam.create_access_key(UserName=attacker)["AccessKey"]
    session = boto3.Session(aws_access_key_id=creds["AccessKeyId"],
                            aws_secret_access_key=creds["SecretAccessKey"], region_name=REGION)
    secret = session.client("secretsmanager").create_secret(
        Name=f"stash-{uuid4().hex[:6]}", SecretString="loot")["ARN"]
    key = world.client("kms").create_key()["KeyMetadata"]["KeyId"]
    grant = session.client("kms").create_grant(
        KeyId=key, GranteePrincipal="arn:aws:iam::999988887777:root",
        Operations=["Decrypt"])["GrantId"]
    group = f"shadow-{uuid4().hex[:6]}"
    a_iam = session.client("iam")
    a_iam.create_group(GroupName=group)
    rule = f"beacon-{uuid4().hex[:6]}"
    events = session.client("events")
    events.put_rule(Name=rule, ScheduleExpression="rate(5 minutes)")
    events.put_targets(Rule=rule, Targets=[
        {"Id": "t1", "Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:exfil"}])
    role = f"backdoor-{uuid4().hex[:6]}"
    a_iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::999988887777:root"},
            "Action": "sts:AssumeRole"}]}))

    code, out = world.irctl_json("investigate", "principal", arn, "--since", "1h")
    assert code == 0, out
    found = {p["eventName"]: p for p in out["persistence"]}
    assert found["CreateSecret"]["recommendation"].startswith(
        f"irctl contain secret {secret} --principal")
    assert found["CreateGrant"]["recommendation"] == \
        f"aws kms revoke-grant --key-id {key} --grant-id {grant}"
    assert found["CreateGroup"]["target"] == f"arn:aws:iam::{ACCOUNT}:group/{group}"
    assert found["PutRule"]["recommendation"].startswith(f"aws events disable-rule --name {rule}")
    assert found["PutTargets"]["recommendation"] == \
        f"aws events remove-targets --rule {rule} --ids t1"
    trust = found["CreateRole"]
    assert "999988887777" in trust["summary"]
    assert f"aws iam delete-role --role-name {role}" in trust["recommendation"]
    assert f"irctl contain role {role}" not in trust["recommendation"]
