"""IAM Access Analyzer (not in moto at all) and Shield Advanced's SRT access and proactive
engagement: created, read back and refused as AWS does."""

from __future__ import annotations

import uuid

import pytest
from botocore.exceptions import ClientError

REGION = "us-east-1"
ACCOUNT = "123456789012"


def test_an_account_analyzer_is_created_listed_and_deleted(client) -> None:  # type: ignore[no-untyped-def]
    aa = client("accessanalyzer")
    name = f"ir-{uuid.uuid4().hex[:8]}"
    arn = aa.create_analyzer(analyzerName=name, type="ACCOUNT", tags={"ir": "yes"})["arn"]
    assert arn == f"arn:aws:access-analyzer:{REGION}:{ACCOUNT}:analyzer/{name}"
    got = aa.get_analyzer(analyzerName=name)["analyzer"]
    assert (got["type"], got["status"], got["tags"]) == ("ACCOUNT", "ACTIVE", {"ir": "yes"})
    assert [a["name"] for a in aa.list_analyzers(type="ACCOUNT")["analyzers"]] == [name]
    assert aa.list_analyzers(type="ORGANIZATION")["analyzers"] == []
    with pytest.raises(ClientError) as err:
        aa.create_analyzer(analyzerName=name, type="ACCOUNT")
    assert err.value.response["Error"]["Code"] == "ConflictException"
    aa.delete_analyzer(analyzerName=name)
    with pytest.raises(ClientError) as err:
        aa.get_analyzer(analyzerName=name)
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_an_organization_analyzer_needs_the_management_account(client) -> None:  # type: ignore[no-untyped-def]
    aa = client("accessanalyzer")
    with pytest.raises(ClientError) as err:
        aa.create_analyzer(analyzerName="org", type="ORGANIZATION")
    assert err.value.response["Error"]["Code"] == "ValidationException"
    client("organizations").create_organization(FeatureSet="ALL")
    arn = aa.create_analyzer(analyzerName="org", type="ORGANIZATION")["arn"]
    assert aa.get_analyzer(analyzerName="org")["analyzer"]["arn"] == arn


def test_srt_access_and_proactive_engagement_follow_awss_order(client) -> None:  # type: ignore[no-untyped-def]
    shield, iam = client("shield"), client("iam")
    role = iam.create_role(RoleName=f"srt-{uuid.uuid4().hex[:8]}",
                           AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    with pytest.raises(ClientError) as err:
        shield.associate_drt_role(RoleArn=role)
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"
    shield.create_subscription()
    assert shield.describe_subscription()["Subscription"]["ProactiveEngagementStatus"] == (
        "DISABLED")
    with pytest.raises(ClientError) as err:
        shield.associate_drt_role(RoleArn=role.replace("srt-", "gone-"))
    assert err.value.response["Error"]["Code"] == "InvalidParameterException"
    shield.associate_drt_role(RoleArn=role)
    assert shield.describe_drt_access()["RoleArn"] == role

    with pytest.raises(ClientError) as err:
        shield.enable_proactive_engagement()
    assert err.value.response["Error"]["Code"] == "InvalidOperationException"
    contacts = [{"EmailAddress": "oncall@example.com", "PhoneNumber": "+15555550100",
                 "ContactNotes": "security on-call"}]
    shield.associate_proactive_engagement_details(EmergencyContactList=contacts)
    shield.enable_proactive_engagement()
    assert shield.describe_emergency_contact_settings()["EmergencyContactList"] == contacts
    assert shield.describe_subscription()["Subscription"]["ProactiveEngagementStatus"] == (
        "ENABLED")
    with pytest.raises(ClientError) as err:
        shield.associate_proactive_engagement_details(EmergencyContactList=contacts)
    assert err.value.response["Error"]["Code"] == "InvalidOperationException"
