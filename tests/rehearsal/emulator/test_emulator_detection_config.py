"""GuardDuty publishing destinations and malware protection plans, Security Hub standards
and the finding aggregator: stored and read back as AWS does, with AWS's checks."""

from __future__ import annotations

import uuid

import pytest
from botocore.exceptions import ClientError

REGION = "us-east-1"
ACCOUNT = "123456789012"
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{uuid.uuid4()}"


def test_a_publishing_destination_belongs_to_its_detector(client) -> None:  # type: ignore[no-untyped-def]
    gd = client("guardduty")
    detector = gd.create_detector(Enable=True)["DetectorId"]
    created = gd.create_publishing_destination(
        DetectorId=detector, DestinationType="S3",
        DestinationProperties={"DestinationArn": "arn:aws:s3:::evidence/guardduty",
                               "KmsKeyArn": KEY})["DestinationId"]
    got = gd.describe_publishing_destination(DetectorId=detector, DestinationId=created)
    assert got["DestinationProperties"] == {"DestinationArn": "arn:aws:s3:::evidence/guardduty",
                                            "KmsKeyArn": KEY}
    assert (got["DestinationType"], got["Status"]) == ("S3", "PUBLISHING")
    listed = gd.list_publishing_destinations(DetectorId=detector)["Destinations"]
    assert [d["DestinationId"] for d in listed] == [created]
    with pytest.raises(ClientError) as err:
        gd.create_publishing_destination(
            DetectorId="0" * 32, DestinationType="S3",
            DestinationProperties={"DestinationArn": "arn:aws:s3:::b", "KmsKeyArn": KEY})
    assert err.value.response["Error"]["Code"] == "BadRequestException"


def test_a_malware_protection_plan_scans_an_existing_bucket(client) -> None:  # type: ignore[no-untyped-def]
    gd, s3 = client("guardduty"), client("s3")
    bucket = f"evidence-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    role = f"arn:aws:iam::{ACCOUNT}:role/malware-scan"
    plan_id = gd.create_malware_protection_plan(
        Role=role, ProtectedResource={"S3Bucket": {"BucketName": bucket}},
        Actions={"Tagging": {"Status": "ENABLED"}})["MalwareProtectionPlanId"]
    plan = gd.get_malware_protection_plan(MalwareProtectionPlanId=plan_id)
    assert plan["ProtectedResource"]["S3Bucket"]["BucketName"] == bucket
    assert (plan["Role"], plan["Status"]) == (role, "ACTIVE")
    assert plan["Actions"] == {"Tagging": {"Status": "ENABLED"}}
    assert plan["Arn"] == f"arn:aws:guardduty:{REGION}:{ACCOUNT}:malware-protection-plan/{plan_id}"
    with pytest.raises(ClientError) as err:
        gd.create_malware_protection_plan(
            Role=role, ProtectedResource={"S3Bucket": {"BucketName": "no-such-bucket-x1"}})
    assert err.value.response["Error"]["Code"] == "BadRequestException"


def test_standards_and_the_aggregator_need_the_hub_and_read_back(client) -> None:  # type: ignore[no-untyped-def]
    sh = client("securityhub")
    standard = f"arn:aws:securityhub:{REGION}::standards/aws-foundational-security-best-" \
               "practices/v/1.0.0"
    with pytest.raises(ClientError) as err:
        sh.batch_enable_standards(StandardsSubscriptionRequests=[{"StandardsArn": standard}])
    assert err.value.response["Error"]["Code"] == "InvalidAccessException"
    sh.enable_security_hub(EnableDefaultStandards=False)
    (sub,) = sh.batch_enable_standards(
        StandardsSubscriptionRequests=[{"StandardsArn": standard}])["StandardsSubscriptions"]
    assert sub["StandardsSubscriptionArn"] == (
        f"arn:aws:securityhub:{REGION}:{ACCOUNT}:subscription/aws-foundational-security-best-"
        "practices/v/1.0.0")
    enabled = sh.get_enabled_standards()["StandardsSubscriptions"]
    assert [(s["StandardsArn"], s["StandardsStatus"]) for s in enabled] == [(standard, "READY")]
    with pytest.raises(ClientError) as err:
        sh.batch_enable_standards(StandardsSubscriptionRequests=[
            {"StandardsArn": standard.replace(REGION, "eu-west-1")}])
    assert err.value.response["Error"]["Code"] == "InvalidInputException"

    arn = sh.create_finding_aggregator(RegionLinkingMode="SPECIFIED_REGIONS",
                                       Regions=["eu-west-1"])["FindingAggregatorArn"]
    got = sh.get_finding_aggregator(FindingAggregatorArn=arn)
    assert (got["FindingAggregationRegion"], got["RegionLinkingMode"], got["Regions"]) == (
        REGION, "SPECIFIED_REGIONS", ["eu-west-1"])
    assert [a["FindingAggregatorArn"] for a in sh.list_finding_aggregators()[
        "FindingAggregators"]] == [arn]
    with pytest.raises(ClientError) as err:
        sh.create_finding_aggregator(RegionLinkingMode="ALL_REGIONS")
    assert err.value.response["Error"]["Code"] == "ResourceConflictException"


def test_guardduty_organisation_configuration_is_the_delegated_admins(client) -> None:  # type: ignore[no-untyped-def]
    gd = client("guardduty")
    detector = gd.create_detector(Enable=True)["DetectorId"]
    with pytest.raises(ClientError) as err:
        gd.update_organization_configuration(DetectorId=detector,
                                             AutoEnableOrganizationMembers="ALL")
    assert err.value.response["Error"]["Code"] == "BadRequestException"
    gd.enable_organization_admin_account(AdminAccountId=ACCOUNT)
    gd.update_organization_configuration(DetectorId=detector,
                                         AutoEnableOrganizationMembers="ALL")
    gd.update_organization_configuration(DetectorId=detector, Features=[
        {"Name": "S3_DATA_EVENTS", "AutoEnable": "ALL"}])
    gd.update_organization_configuration(DetectorId=detector, Features=[
        {"Name": "RUNTIME_MONITORING", "AutoEnable": "NEW",
         "AdditionalConfiguration": [{"Name": "EC2_AGENT_MANAGEMENT", "AutoEnable": "NEW"}]}])
    got = gd.describe_organization_configuration(DetectorId=detector)
    assert got["AutoEnableOrganizationMembers"] == "ALL" and got["AutoEnable"] is True
    assert {f["Name"]: f["AutoEnable"] for f in got["Features"]} == {
        "S3_DATA_EVENTS": "ALL", "RUNTIME_MONITORING": "NEW"}


def test_security_hub_configuration_policies_need_central_configuration(client) -> None:  # type: ignore[no-untyped-def]
    orgs, sh = client("organizations"), client("securityhub")
    orgs.create_organization(FeatureSet="ALL")
    root = orgs.list_roots()["Roots"][0]["Id"]
    policy = {"SecurityHub": {"ServiceEnabled": True, "EnabledStandardIdentifiers": [
        f"arn:aws:securityhub:{REGION}::standards/cis-aws-foundations-benchmark/v/3.0.0"]}}
    with pytest.raises(ClientError) as err:
        sh.create_configuration_policy(Name="org", ConfigurationPolicy=policy)
    assert err.value.response["Error"]["Code"] == "AccessDeniedException"
    # One account here: the management account is an account of its organisation, so it
    # can be the delegated administrator too.
    sh.enable_organization_admin_account(AdminAccountId=ACCOUNT)
    with pytest.raises(ClientError) as err:
        sh.create_configuration_policy(Name="org", ConfigurationPolicy=policy)
    assert err.value.response["Error"]["Code"] == "ValidationException"
    sh.update_organization_configuration(
        AutoEnable=False, AutoEnableStandards="NONE",
        OrganizationConfiguration={"ConfigurationType": "CENTRAL", "Status": "ENABLED"})
    created = sh.create_configuration_policy(Name="org", ConfigurationPolicy=policy)
    associated = sh.start_configuration_policy_association(
        ConfigurationPolicyIdentifier=created["Arn"], Target={"RootId": root})
    assert (associated["TargetType"], associated["AssociationStatus"]) == ("ROOT", "SUCCESS")
    got = sh.get_configuration_policy_association(Target={"RootId": root})
    assert got["ConfigurationPolicyId"] == created["Id"]
    assert sh.get_configuration_policy(Identifier=created["Id"])["ConfigurationPolicy"] == policy


def test_auto_enable_all_gives_existing_members_a_detector(client) -> None:  # type: ignore[no-untyped-def]
    orgs, gd = client("organizations"), client("guardduty")
    orgs.create_organization(FeatureSet="ALL")
    request = orgs.create_account(AccountName="member", Email="member@example.com")
    member = orgs.describe_create_account_status(CreateAccountRequestId=request[
        "CreateAccountStatus"]["Id"])["CreateAccountStatus"]["AccountId"]
    creds = client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{member}:role/OrganizationAccountAccessRole",
        RoleSessionName="test")["Credentials"]
    member_gd = client("guardduty", aws_access_key_id=creds["AccessKeyId"],
                       aws_secret_access_key=creds["SecretAccessKey"],
                       aws_session_token=creds["SessionToken"])
    assert member_gd.list_detectors()["DetectorIds"] == []
    detector = gd.create_detector(Enable=True)["DetectorId"]
    gd.enable_organization_admin_account(AdminAccountId=ACCOUNT)
    gd.update_organization_configuration(DetectorId=detector,
                                         AutoEnableOrganizationMembers="ALL")
    gd.update_organization_configuration(DetectorId=detector, Features=[
        {"Name": "S3_DATA_EVENTS", "AutoEnable": "ALL"},
        {"Name": "EKS_AUDIT_LOGS", "AutoEnable": "NEW"}])
    (member_detector,) = member_gd.list_detectors()["DetectorIds"]
    features = member_gd.get_detector(DetectorId=member_detector)["Features"]
    assert [(f["Name"], f["Status"]) for f in features] == [("S3_DATA_EVENTS", "ENABLED")]
    assert gd.list_detectors()["DetectorIds"] == [detector]  # the admin's own, untouched
