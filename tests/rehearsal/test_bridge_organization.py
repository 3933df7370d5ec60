"""The organisation example stacks provision into the emulator, none of their types only
recorded: an AWS Organization in moto (management, security, log-archive and member
accounts), the management stack as the management account and the security stack as
the security account, then the delegations, auto-enable and central configuration are
read back from the emulator as each account sees them."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from components.mockrun import evaluate, load_stack_config
from rehearsal.bridge import HANDLERS, MotoBridge

ROOT = Path(__file__).resolve().parents[2]
REGION = "eu-west-1"
MANAGEMENT = "123456789012"  # moto's default account: the organisation's creator


@pytest.fixture(scope="module")
def org(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    from rehearsal.emulator import s3_policy, start_server
    from rehearsal.world import EMULATOR_CREDENTIALS, scoped_env

    with scoped_env({**EMULATOR_CREDENTIALS, "AWS_PROFILE": None,
                     "AWS_ENDPOINT_URL": None}), start_server() as server:
        server.reset_state()
        s3_policy.install()
        endpoint = server.endpoint_url
        orgs = _client(endpoint, "organizations")
        organization = orgs.create_organization(FeatureSet="ALL")["Organization"]
        root_id = orgs.list_roots()["Roots"][0]["Id"]
        accounts = {name: _create_account(orgs, name)
                    for name in ("security", "logarchive", "member")}
        try:
            yield {"endpoint": endpoint, "org_id": organization["Id"], "root_id": root_id,
                   **accounts}
        finally:
            server.reset_state()
            s3_policy.uninstall()


def _client(endpoint: str, service: str, region: str = REGION,
            credentials: dict[str, str] | None = None) -> Any:
    creds = credentials or {"aws_access_key_id": "testing",
                            "aws_secret_access_key": "testing"}
    return boto3.client(service, endpoint_url=endpoint, region_name=region, **creds)


def _create_account(orgs: Any, name: str) -> str:
    request = orgs.create_account(AccountName=name, Email=f"{name}@example.com")[
        "CreateAccountStatus"]
    for _ in range(50):
        status = orgs.describe_create_account_status(
            CreateAccountRequestId=request["Id"])["CreateAccountStatus"]
        if status["State"] == "SUCCEEDED":
            return str(status["AccountId"])
        time.sleep(0.05)
    raise AssertionError(f"account {name} was never created")


def _credentials_of(endpoint: str, account: str) -> dict[str, str]:
    """Credentials moto maps to `account` (an assumed role there)."""
    creds = _client(endpoint, "sts").assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole",
        RoleSessionName="drill")["Credentials"]
    return {"aws_access_key_id": creds["AccessKeyId"],
            "aws_secret_access_key": creds["SecretAccessKey"]}


def _config(name: str, org: dict[str, Any]) -> dict[str, str]:
    """The example stack config with its made-up ids replaced by the emulator's."""
    ids = {"111111111111": MANAGEMENT, "222222222222": org["security"],
           "333333333333": org["logarchive"], "444444444444": org["member"],
           "o-abcdef1234": org["org_id"], "r-ab12": org["root_id"]}
    config = load_stack_config(ROOT / f"Pulumi.{name}.example.yaml")
    for key, value in config.items():
        for example, real in ids.items():
            value = value.replace(example, real)
        config[key] = value
    config["ir:alertSubscriptions"] = json.dumps({})
    return config


def _provision(org: dict[str, Any], name: str, account: str) -> MotoBridge:
    creds = None if account == MANAGEMENT else _credentials_of(org["endpoint"], account)
    mocks = MotoBridge(org["endpoint"], REGION,
                       **({} if creds is None else {
                           "access_key": creds["aws_access_key_id"],
                           "secret_key": creds["aws_secret_access_key"]}))
    assert mocks.account_id == account
    org["outputs"] = evaluate(_config(name, org), mocks=mocks, stack=name).outputs
    assert mocks.errors == []
    assert [r.type for r in mocks.records if HANDLERS.get(r.type) is not None
            and HANDLERS[r.type].recorded_only] == []
    return mocks


def test_the_management_stack_delegates_detection_to_the_security_account(
    org: dict[str, Any],
) -> None:
    mocks = _provision(org, "org-management", MANAGEMENT)
    endpoint, security = org["endpoint"], org["security"]
    # The organisation trail's bucket is made through the log-archive provider's
    # assumed role: it lands in the log-archive account, the trail in the management's.
    bucket = mocks.outputs_of("aws:s3/bucket:Bucket")["ir-org-trail-logs"]["id"]
    in_log_archive = _client(endpoint, "s3", REGION, _credentials_of(
        endpoint, org["logarchive"])).list_buckets()["Buckets"]
    assert bucket in [b["Name"] for b in in_log_archive]
    assert bucket not in [b["Name"] for b in _client(endpoint, "s3").list_buckets()["Buckets"]]
    trail = _client(endpoint, "cloudtrail").get_trail(Name=org["outputs"]["organizationTrailArn"])
    assert trail["Trail"]["S3BucketName"] == bucket and trail["Trail"]["IsOrganizationTrail"]
    for region in ("eu-west-1", "us-east-1"):
        gd = _client(endpoint, "guardduty", region)
        admins = gd.list_organization_admin_accounts()["AdminAccounts"]
        assert [a["AdminAccountId"] for a in admins] == [security]
        inspector = _client(endpoint, "inspector2", region)
        delegated = inspector.list_delegated_admin_accounts()["delegatedAdminAccounts"]
        assert [(a["accountId"], a["status"]) for a in delegated] == [(security, "ENABLED")]
    # Only Security Hub's delegated administrator may read the organisation configuration.
    sh = _client(endpoint, "securityhub", REGION, _credentials_of(endpoint, security))
    assert sh.describe_organization_configuration()["AutoEnableStandards"]
    with pytest.raises(ClientError) as err:
        _client(endpoint, "securityhub", REGION, _credentials_of(
            endpoint, org["member"])).describe_organization_configuration()
    assert err.value.response["Error"]["Code"] == "AccessDeniedException"


def test_the_security_stack_turns_on_auto_enable_and_central_configuration(
    org: dict[str, Any],
) -> None:
    security = org["security"]
    mocks = _provision(org, "org-security", security)
    endpoint, creds = org["endpoint"], _credentials_of(org["endpoint"], security)

    gd = _client(endpoint, "guardduty", REGION, creds)
    (detector,) = gd.list_detectors()["DetectorIds"]
    configuration = gd.describe_organization_configuration(DetectorId=detector)
    assert configuration["AutoEnableOrganizationMembers"] == "ALL"
    features = {f["Name"]: f["AutoEnable"] for f in configuration["Features"]}
    assert features and set(features.values()) == {"ALL"}

    inspector = _client(endpoint, "inspector2", REGION, creds)
    auto = inspector.describe_organization_configuration()["autoEnable"]
    assert (auto["ec2"], auto["ecr"], auto["lambda"]) == (True, True, True)
    member = inspector.get_member(accountId=org["member"])["member"]
    assert member["delegatedAdminAccountId"] == security

    sh = _client(endpoint, "securityhub", REGION, creds)
    org_config = sh.describe_organization_configuration()
    assert org_config["OrganizationConfiguration"]["ConfigurationType"] == "CENTRAL"
    association = sh.get_configuration_policy_association(Target={"RootId": org["root_id"]})
    policy = sh.get_configuration_policy(Identifier=association["ConfigurationPolicyId"])
    hub = policy["ConfigurationPolicy"]["SecurityHub"]
    assert hub["ServiceEnabled"] is True
    assert any("cis-aws-foundations-benchmark" in s for s in hub["EnabledStandardIdentifiers"])

    events = _client(endpoint, "events", REGION, creds)
    (bus_name,) = [state["name"] for state in
                   mocks.outputs_of("aws:cloudwatch/eventBus:EventBus").values()
                   if f":events:{REGION}:" in state["arn"]]
    bus = events.describe_event_bus(Name=bus_name)
    statements = json.loads(bus["Policy"])["Statement"]
    assert any(org["org_id"] in json.dumps(s.get("Condition", {})) for s in statements)


def test_a_member_stack_provisions_after_the_security_stack(org: dict[str, Any]) -> None:
    creds = _credentials_of(org["endpoint"], org["member"])
    # The security stack's auto-enable ALL gave the existing member its detectors; the
    # member manifest names the home region's.
    member_gd = _client(org["endpoint"], "guardduty", REGION, creds)
    (detector,) = member_gd.list_detectors()["DetectorIds"]
    features = member_gd.get_detector(DetectorId=detector)["Features"]
    assert {f["Status"] for f in features} == {"ENABLED"} and len(features) >= 5
    mocks = _provision(org, "org-member", org["member"])
    ssm = _client(org["endpoint"], "ssm", REGION, creds)
    manifest = json.loads(ssm.get_parameter(Name="/ir-readiness/manifest")["Parameter"][
        "Value"])
    assert detector in json.dumps(manifest)
    backup = _client(org["endpoint"], "backup", REGION,
                     _credentials_of(org["endpoint"], org["member"]))
    (vault,) = [state["name"] for state in
                mocks.outputs_of("aws:backup/vault:Vault").values()
                if f":backup:{REGION}:" in state["arn"]]
    assert backup.get_backup_vault_access_policy(BackupVaultName=vault)["Policy"]
    assert backup.get_backup_vault_notifications(BackupVaultName=vault)["BackupVaultEvents"]
