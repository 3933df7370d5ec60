"""Timeline rendering and persistence detection from seeded CloudTrail records."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from runbooks.analysis.cloudtrail import Activity, Subject, TrailEvent
from runbooks.analysis.findings import parse_findings
from runbooks.analysis.persistence import parse_principal_arn, parse_since, persistence
from runbooks.analysis.timeline import Timeline
from runbooks.core.errors import InvalidInput
from tests.runbooks.analysis.trail_logs import ACCOUNT, record

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
T0 = datetime(2026, 11, 27, 22, 0, tzinfo=timezone.utc)


def events(*records: dict) -> list[TrailEvent]:
    return [e for r in records if (e := TrailEvent.from_record(r, "test")) is not None]


def test_timeline_orders_finding_and_events_and_escapes_markdown() -> None:
    [finding] = parse_findings(json.loads(
        (FIXTURES / "guardduty_event_cryptocurrency_ec2.json").read_text()))
    hostile = record("CreateTags", T0 + timedelta(minutes=1),
                     request={"tags": "| injected <script>"},
                     resources=["arn:aws:ec2:us-east-1:123456789012:instance/a|b"])
    run = record("RunInstances", T0)
    activity = Activity(events(hostile, run), ["lookup_events"],
                        [Subject("ResourceName", "i-0a1b2c3d4e5f60718")],
                        T0 - timedelta(hours=1), T0 + timedelta(hours=1))
    timeline = Timeline("ir-test-1", [finding], activity, T0 + timedelta(hours=2))

    doc = timeline.to_json()
    assert [e["what"] for e in doc["entries"]] == [
        "ec2:RunInstances", "ec2:CreateTags",
        "CryptoCurrency:EC2/BitcoinTool.B!DNS (first seen)",
        "CryptoCurrency:EC2/BitcoinTool.B!DNS (last seen)",
    ]
    assert doc["findings"][0]["playbook"] == "compromised-ec2-instance"
    assert doc["events"][0]["eventId"] == run["eventID"]
    markdown = timeline.to_markdown()
    assert "| 2026-11-27 22:00:00 | ec2:RunInstances |" in markdown
    assert "a\\|b" in markdown and "<script>" not in markdown
    assert "Playbook: compromised-ec2-instance" in markdown


def test_persistence_lists_lasting_changes_with_containment_commands() -> None:
    seeded = events(
        record("CreateUser", T0, source="iam.amazonaws.com", request={"userName": "svc-backup"}),
        record("CreateAccessKey", T0 + timedelta(minutes=1), source="iam.amazonaws.com",
               request={"userName": "svc-backup"},
               response={"accessKey": {"accessKeyId": "AKIANEWKEY0000000001",
                                       "userName": "svc-backup", "status": "Active"}}),
        record("AttachRolePolicy", T0 + timedelta(minutes=2), source="iam.amazonaws.com",
               request={"roleName": "web-app",
                        "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}),
        record("UpdateAssumeRolePolicy", T0 + timedelta(minutes=3), source="iam.amazonaws.com",
               request={"roleName": "deploy", "policyDocument": "{}"}),
        record("RunInstances", T0 + timedelta(minutes=4),
               response={"instancesSet": {"items": [{"instanceId": "i-0miner1"},
                                                    {"instanceId": "i-0miner2"}]}}),
        record("AuthorizeSecurityGroupIngress", T0 + timedelta(minutes=5),
               request={"groupId": "sg-0123", "ipPermissions": {"items": [
                   {"ipProtocol": "tcp", "fromPort": 22, "toPort": 22,
                    "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}},
               response={"securityGroupRuleSet": {"items": [
                   {"securityGroupRuleId": "sgr-0abc"}]}}),
        record("CreateNetworkAclEntry", T0 + timedelta(minutes=6),
               request={"networkAclId": "acl-01", "ruleNumber": 5, "egress": False,
                        "ruleAction": "allow", "cidrBlock": "0.0.0.0/0"}),
        # Not persistence: failed, read-only, or a deactivation.
        record("CreateUser", T0 + timedelta(minutes=7), source="iam.amazonaws.com",
               request={"userName": "denied"}, error="AccessDenied"),
        record("DescribeInstances", T0 + timedelta(minutes=8)),
        record("UpdateAccessKey", T0 + timedelta(minutes=9), source="iam.amazonaws.com",
               request={"accessKeyId": "AKIAX", "status": "Inactive"}),
    )
    found = persistence(seeded, ACCOUNT)
    by_name = {p.event_name: p for p in found}
    assert [p.event_name for p in found] == [
        "CreateUser", "CreateAccessKey", "AttachRolePolicy", "UpdateAssumeRolePolicy",
        "RunInstances", "AuthorizeSecurityGroupIngress", "CreateNetworkAclEntry"]
    assert by_name["CreateAccessKey"].recommendation == \
        "irctl contain access-key AKIANEWKEY0000000001 --apply"
    assert by_name["AttachRolePolicy"].recommendation == "irctl contain role web-app --apply"
    assert by_name["UpdateAssumeRolePolicy"].category == "trust"
    assert by_name["RunInstances"].recommendation == \
        "irctl contain instance i-0miner1 i-0miner2 --apply"
    assert by_name["AuthorizeSecurityGroupIngress"].recommendation == (
        "aws ec2 revoke-security-group-ingress --group-id sg-0123 "
        "--security-group-rule-ids sgr-0abc")
    assert "0.0.0.0/0" in by_name["AuthorizeSecurityGroupIngress"].summary
    assert by_name["CreateNetworkAclEntry"].recommendation.endswith(
        "--network-acl-id acl-01 --rule-number 5 --ingress")
    assert "2026-11-27T22:00:00Z" in by_name["CreateUser"].recommendation


@pytest.mark.parametrize(
    ("arn", "kind", "name"),
    [
        ("arn:aws:iam::123456789012:user/build-bot", "iam-user", "build-bot"),
        ("arn:aws:iam::123456789012:user/path/to/alice", "iam-user", "alice"),
        ("arn:aws:iam::123456789012:role/web-app", "iam-role", "web-app"),
        ("arn:aws:sts::123456789012:assumed-role/web-app/i-0abc", "assumed-role", "web-app"),
        ("arn:aws:iam::123456789012:root", "root", "root"),
    ],
)
def test_principal_arns(arn: str, kind: str, name: str) -> None:
    ref = parse_principal_arn(arn)
    assert (ref.kind, ref.name, ref.account_id) == (kind, name, "123456789012")


@pytest.mark.parametrize("arn", ["build-bot", "arn:aws:s3:::bucket",
                                 "arn:aws:iam::123456789012:group/admins"])
def test_bad_principal_arns(arn: str) -> None:
    with pytest.raises(InvalidInput):
        parse_principal_arn(arn)


def test_since_parsing() -> None:
    now = datetime(2026, 11, 28, 4, 0, tzinfo=timezone.utc)
    assert parse_since("24h", now) == now - timedelta(hours=24)
    assert parse_since("7d", now) == now - timedelta(days=7)
    assert parse_since("2026-11-27T22:00:00Z", now) == T0
    assert parse_since("2026-11-27T22:00:00", now) == T0
    with pytest.raises(InvalidInput, match="in the future"):
        parse_since("2026-11-29T00:00:00Z", now)
    with pytest.raises(InvalidInput, match="not a time"):
        parse_since("yesterday", now)
