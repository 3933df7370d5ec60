"""Organization mode under Pulumi mocks: the example stack of each role, through the real
`__main__.py`, asserting the resources' security-relevant inputs."""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path
from typing import Any

import pulumi
import pytest

from components.mockrun import Evaluation, ReadinessMocks, evaluate, load_stack_config
from tests.components.conftest import as_list, by_sid, statements

ROOT = Path(__file__).resolve().parents[2]
ORG = "o-abcdef1234"
MANAGEMENT = "111111111111"
SECURITY = "222222222222"
LOG_ARCHIVE = "333333333333"
MEMBER = "444455556666"
REGIONS = ("eu-west-1", "us-east-1")
TRAIL_ARN = f"arn:aws:cloudtrail:eu-west-1:{MANAGEMENT}:trail/ir-readiness-organization"


class OrganizationMocks(ReadinessMocks):
    """ReadinessMocks plus what organization mode reads: the GuardDuty detector a member
    got from the delegated administrator's auto-enable, event bus ARNs."""

    def call(self, args: pulumi.runtime.MockCallArgs) -> Any:
        if args.token == "aws:guardduty/getDetector:getDetector":
            region = self.region_of(args.provider)
            return {"id": f"{region.replace('-', '')}{'0' * 32}"[:32], "status": "ENABLED",
                    "serviceRoleArn": "x", "findingPublishingFrequency": "FIFTEEN_MINUTES"}, []
        return super().call(args)

    def _custom_resource(self, typ: str, name: str, inputs: dict[str, Any],
                         region: str) -> tuple[str, dict[str, Any]]:
        rid, out = super()._custom_resource(typ, name, inputs, region)
        if typ == "aws:cloudwatch/eventBus:EventBus":
            out["arn"] = f"arn:aws:events:{region}:{self.account_id}:event-bus/{inputs['name']}"
        return rid, out


def run_example(role: str, account: str) -> Evaluation:
    config = load_stack_config(ROOT / f"Pulumi.org-{role}.example.yaml")
    return evaluate(config, mocks=OrganizationMocks(account_id=account,
                                                    default_region="eu-west-1"))


@pytest.fixture(scope="module")
def management() -> Evaluation:
    return run_example("management", MANAGEMENT)


@pytest.fixture(scope="module")
def security() -> Evaluation:
    return run_example("security", SECURITY)


@pytest.fixture(scope="module")
def member() -> Evaluation:
    return run_example("member", MEMBER)


def provider_of(evaluation: Evaluation, resource: Any) -> dict[str, Any]:
    urn = resource.provider.rsplit("::", 1)[0]
    [provider] = [r for r in evaluation.resources if r.urn == urn]
    return dict(provider.inputs)


def one(evaluation: Evaluation, type_token: str) -> Any:
    found = evaluation.of_type(type_token)
    assert len(found) == 1, [r.name for r in found]
    return found[0]


# ------------------------------------------------------------------ management


def test_organization_trail_covers_every_account_and_region(management: Evaluation) -> None:
    trail = one(management, "aws:cloudtrail/trail:Trail")
    i = trail.inputs
    assert i["isOrganizationTrail"] is True and i["isMultiRegionTrail"] is True
    assert i["enableLogFileValidation"] is True and i["includeGlobalServiceEvents"] is True
    assert i["name"] == "ir-readiness-organization"
    assert i["s3BucketName"] == f"ir-readiness-org-trail-{ORG}"
    assert i["kmsKeyId"].startswith("arn:aws:kms:eu-west-1:")
    # The trail is created with the management account's provider, not the log archive's.
    assert "assumeRoles" not in provider_of(management, trail)
    assert management.outputs["organizationTrailBucket"] == f"ir-readiness-org-trail-{ORG}"


def test_trail_bucket_and_key_live_in_the_log_archive_account(management: Evaluation) -> None:
    [bucket] = [b for b in management.of_type("aws:s3/bucket:Bucket")
                if b.inputs.get("bucket") == f"ir-readiness-org-trail-{ORG}"]
    [key] = [k for k in management.of_type("aws:kms/key:Key") if k.name.endswith("-trail-key")]
    for resource in (bucket, key):
        roles = provider_of(management, resource)["assumeRoles"]
        roles = json.loads(roles) if isinstance(roles, str) else roles  # providers: JSON text
        assert [r["roleArn"] for r in roles] == [
            f"arn:aws:iam::{LOG_ARCHIVE}:role/OrganizationAccountAccessRole"]
    assert bucket.inputs["objectLockEnabled"] is True


def test_bucket_policy_admits_only_the_org_trail_on_its_two_prefixes(
        management: Evaluation) -> None:
    policy = one(management, "aws:s3/bucketPolicy:BucketPolicy").inputs["policy"]
    sids = by_sid(policy)
    bucket_arn = f"arn:aws:s3:::ir-readiness-org-trail-{ORG}"
    assert sids["DenyInsecureTransport"]["Effect"] == "Deny"
    acl = sids["CloudTrailAclCheck"]
    assert acl["Action"] == "s3:GetBucketAcl" and acl["Resource"] == bucket_arn
    assert acl["Condition"] == {"StringEquals": {"aws:SourceArn": TRAIL_ARN}}
    writes = {sids["CloudTrailWriteManagementAccount"]["Resource"],
              sids["CloudTrailWriteOrganization"]["Resource"]}
    assert writes == {f"{bucket_arn}/AWSLogs/{MANAGEMENT}/*", f"{bucket_arn}/AWSLogs/{ORG}/*"}
    for sid in ("CloudTrailWriteManagementAccount", "CloudTrailWriteOrganization"):
        statement = sids[sid]
        assert statement["Principal"] == {"Service": "cloudtrail.amazonaws.com"}
        assert statement["Action"] == "s3:PutObject"
        assert statement["Condition"]["StringEquals"] == {
            "aws:SourceArn": TRAIL_ARN, "s3:x-amz-acl": "bucket-owner-full-control"}
    readers = sids["LogReaders"]
    assert readers["Principal"] == {"AWS": [f"arn:aws:iam::{SECURITY}:root"]}
    assert not any("Put" in a or "Delete" in a for a in as_list(readers["Action"]))
    allows = [s for s in statements(policy) if s["Effect"] == "Allow"]
    assert all(s["Principal"] != "*" for s in allows)


def test_trail_key_encrypts_only_for_the_org_trail(management: Evaluation) -> None:
    [key] = [k for k in management.of_type("aws:kms/key:Key") if k.name.endswith("-trail-key")]
    sids = by_sid(key.inputs["policy"])
    encrypt = sids["CloudTrailEncryptsForTheOrganizationTrail"]
    assert encrypt["Action"] == "kms:GenerateDataKey*"
    assert encrypt["Condition"]["StringEquals"] == {"aws:SourceArn": TRAIL_ARN}
    assert encrypt["Condition"]["StringLike"] == {
        "kms:EncryptionContext:aws:cloudtrail:arn":
            f"arn:aws:cloudtrail:*:{MANAGEMENT}:trail/*"}
    assert sids["LogArchiveAccountAdministersThroughIam"]["Principal"] == {
        "AWS": f"arn:aws:iam::{LOG_ARCHIVE}:root"}
    assert sids["LogReadersDecrypt"]["Action"] == "kms:Decrypt"
    assert "kms:EncryptionContext:aws:cloudtrail:arn" in (
        sids["LogReadersDecrypt"]["Condition"]["StringLike"])
    # DescribeKey carries no encryption context: granted in its own statement, unconditioned
    assert sids["LogReadersDescribeKey"]["Action"] == "kms:DescribeKey"
    assert "Condition" not in sids["LogReadersDescribeKey"]


def test_org_trail_copies_to_an_encrypted_log_group_in_the_management_account(
        management: Evaluation) -> None:
    trail = one(management, "aws:cloudtrail/trail:Trail")
    group = one(management, "aws:cloudwatch/logGroup:LogGroup")
    assert group.inputs["name"] == "/ir-readiness/organization-trail"
    assert group.inputs["retentionInDays"] == 365
    assert trail.inputs["cloudWatchLogsGroupArn"] == f"{group.outputs['arn']}:*"
    [log_key] = [k for k in management.of_type("aws:kms/key:Key") if k.name.endswith("-log-key")]
    assert group.inputs["kmsKeyId"] == log_key.outputs["arn"]
    assert "assumeRoles" not in provider_of(management, group)
    logs = by_sid(log_key.inputs["policy"])["CloudWatchLogsForTheTrailLogGroup"]
    assert logs["Action"] == ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*",
                              "kms:GenerateDataKey*"]
    assert logs["Condition"] == {"StringEquals": {"kms:EncryptionContext:aws:logs:arn":
        f"arn:aws:logs:eu-west-1:{MANAGEMENT}:log-group:/ir-readiness/organization-trail"}}
    [role] = [r for r in management.of_type("aws:iam/role:Role")
              if r.outputs["arn"] == trail.inputs["cloudWatchLogsRoleArn"]]
    [trust] = statements(role.inputs["assumeRolePolicy"])
    assert trust["Condition"] == {"StringEquals": {"aws:SourceArn": TRAIL_ARN}}
    [write] = statements(one(management, "aws:iam/rolePolicy:RolePolicy").inputs["policy"])
    assert write["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"]
    assert write["Resource"] == f"{group.outputs['arn']}:log-stream:*"


def test_management_delegates_guardduty_and_security_hub_in_every_region(
        management: Evaluation) -> None:
    for token in ("aws:guardduty/organizationAdminAccount:OrganizationAdminAccount",
                  "aws:securityhub/organizationAdminAccount:OrganizationAdminAccount"):
        admins = management.of_type(token)
        assert sorted(a.region for a in admins) == sorted(REGIONS)
        assert {a.inputs["adminAccountId"] for a in admins} == {SECURITY}


# -------------------------------------------------------------------- security


def test_security_auto_enables_guardduty_for_all_accounts_and_plans(security: Evaluation) -> None:
    detectors = {d.region: d.id for d in security.of_type("aws:guardduty/detector:Detector")}
    configs = security.of_type(
        "aws:guardduty/organizationConfiguration:OrganizationConfiguration")
    assert sorted(c.region for c in configs) == sorted(REGIONS)
    for config in configs:
        assert config.inputs["autoEnableOrganizationMembers"] == "ALL"
        assert config.inputs["detectorId"] == detectors[config.region]
    features = security.of_type(
        "aws:guardduty/organizationConfigurationFeature:OrganizationConfigurationFeature")
    by_region: dict[str, set[str]] = {}
    for feature in features:
        assert feature.inputs["autoEnable"] == "ALL"
        assert feature.inputs["detectorId"] == detectors[feature.region]
        by_region.setdefault(feature.region, set()).add(feature.inputs["name"])
    expected = {"S3_DATA_EVENTS", "EKS_AUDIT_LOGS", "EBS_MALWARE_PROTECTION",
                "RDS_LOGIN_EVENTS", "LAMBDA_NETWORK_LOGS", "RUNTIME_MONITORING"}
    assert by_region == {r: expected for r in REGIONS}
    [runtime] = [f for f in features if f.inputs["name"] == "RUNTIME_MONITORING"
                 and f.region == "eu-west-1"]
    assert {(c["name"], c["autoEnable"]) for c in runtime.inputs["additionalConfigurations"]} \
        == {("EKS_ADDON_MANAGEMENT", "ALL"), ("ECS_FARGATE_AGENT_MANAGEMENT", "ALL"),
            ("EC2_AGENT_MANAGEMENT", "ALL")}


def test_security_hub_central_configuration_covers_the_root(security: Evaluation) -> None:
    central = one(security, "aws:securityhub/organizationConfiguration:OrganizationConfiguration")
    assert central.inputs["organizationConfiguration"] == {"configurationType": "CENTRAL"}
    assert central.inputs["autoEnable"] is False
    assert central.inputs["autoEnableStandards"] == "NONE"
    assert central.region == "eu-west-1"
    aggregator = one(security, "aws:securityhub/findingAggregator:FindingAggregator")
    assert aggregator.urn in central.dependencies  # central configuration needs it first
    policy = one(security, "aws:securityhub/configurationPolicy:ConfigurationPolicy")
    body = policy.inputs["configurationPolicy"]
    assert body["serviceEnabled"] is True
    assert sorted(body["enabledStandardArns"]) == sorted([
        "arn:aws:securityhub:eu-west-1::standards/"
        "aws-foundational-security-best-practices/v/1.0.0",
        "arn:aws:securityhub:eu-west-1::standards/cis-aws-foundations-benchmark/v/3.0.0"])
    association = one(
        security, "aws:securityhub/configurationPolicyAssociation:ConfigurationPolicyAssociation")
    assert association.inputs["targetId"] == "r-ab12"
    assert association.inputs["policyId"] == policy.id


def test_security_bus_admits_only_the_organization(security: Evaluation) -> None:
    buses = security.of_type("aws:cloudwatch/eventBus:EventBus")
    assert sorted(b.region for b in buses) == sorted(REGIONS)
    assert {b.inputs["name"] for b in buses} == {"ir-readiness-org"}
    for policy in security.of_type("aws:cloudwatch/eventBusPolicy:EventBusPolicy"):
        [statement] = statements(policy.inputs["policy"])
        assert statement["Action"] == "events:PutEvents"
        assert statement["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": ORG}}
        assert statement["Resource"] == (
            f"arn:aws:events:{policy.region}:{SECURITY}:event-bus/ir-readiness-org")


def test_security_bus_rules_reach_that_regions_topics(security: Evaluation) -> None:
    topics = {(t.region, t.inputs["name"]): t.outputs["arn"]
              for t in security.of_type("aws:sns/topic:Topic")}
    targets = [t for t in security.of_type("aws:cloudwatch/eventTarget:EventTarget")
               if t.inputs.get("eventBusName") == "ir-readiness-org"]
    assert len(targets) == 5 * len(REGIONS)
    for target in targets:
        assert target.inputs["arn"] in {arn for (region, _), arn in topics.items()
                                        if region == target.region}
    rules = [r for r in security.of_type("aws:cloudwatch/eventRule:EventRule")
             if r.inputs.get("eventBusName") == "ir-readiness-org"]
    guardduty = [json.loads(r.inputs["eventPattern"]) for r in rules
                 if r.inputs["name"] == "org-guardduty-crit"]
    assert guardduty and guardduty[0]["detail"]["severity"] == [{"numeric": [">=", 9]}]


def test_security_mode_keeps_the_single_account_urns(security: Evaluation) -> None:
    readiness = one(security, "ir-readiness:index:IncidentResponseReadiness")
    # The same URN as single mode: a child of the stack, not of OrganizationReadiness.
    assert readiness.urn == ("urn:pulumi:mock::ir-readiness::pulumi:pulumi:Stack$"
                             "ir-readiness:index:IncidentResponseReadiness::ir")
    [trail] = [t for t in security.of_type("aws:cloudtrail/trail:Trail")]
    assert trail.inputs.get("isOrganizationTrail") in (None, False)
    single_outputs = {"homeRegion", "regions", "manifests", "evidenceBucket", "trailArn",
                      "trailBucket", "trailLogGroup", "investigatorRoleArn",
                      "responderRoleArn", "kmsKeyArns", "topicArns", "guardDutyDetectorIds",
                      "backupVaultArns", "automationFunctionArns"}
    assert single_outputs <= set(security.outputs)
    assert set(security.outputs["securityEventBusArns"]) == set(REGIONS)


# ---------------------------------------------------------------------- member


def test_member_responder_role_trusts_security_responders_with_external_id(
        member: Evaluation) -> None:
    [role] = [r for r in member.of_type("aws:iam/role:Role")
              if r.inputs.get("name") == "ir-readiness-member-responder"]
    for statement in statements(role.inputs["assumeRolePolicy"]):
        assert statement["Action"] == "sts:AssumeRole"
        assert statement["Principal"] == {"AWS": [f"arn:aws:iam::{SECURITY}:role/SecurityOnCall"]}
        assert statement["Condition"]["StringEquals"] == {"sts:ExternalId": "ir-readiness-2026"}
    # The responder role may not widen itself or its siblings (the prefix deny covers it).
    [actions] = [p for p in member.of_type("aws:iam/rolePolicy:RolePolicy")
                 if p.name.endswith("-responder-actions")]
    deny = by_sid(actions.inputs["policy"])["NeverWidenResponderRoles"]
    assert deny["Resource"] == f"arn:aws:iam::{MEMBER}:role/ir-readiness-member-*"
    assert fnmatch.fnmatch(role.outputs["arn"], deny["Resource"])
    investigators = [r for r in member.of_type("aws:iam/role:Role")
                     if str(r.inputs.get("name", "")).endswith("-investigator")]
    assert len(investigators) == 1
    for statement in statements(investigators[0].inputs["assumeRolePolicy"]):
        assert statement["Condition"]["StringEquals"] == {"sts:ExternalId": "ir-readiness-2026"}


def test_member_forwards_to_the_security_bus_through_a_narrow_role(member: Evaluation) -> None:
    [forwarder] = [r for r in member.of_type("aws:iam/role:Role")
                   if str(r.inputs.get("name", "")).endswith("-event-forwarder")]
    [trust] = statements(forwarder.inputs["assumeRolePolicy"])
    assert trust["Principal"] == {"Service": "events.amazonaws.com"}
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": MEMBER}
    buses = {r: f"arn:aws:events:{r}:{SECURITY}:event-bus/ir-readiness-org" for r in REGIONS}
    [policy] = [p for p in member.of_type("aws:iam/rolePolicy:RolePolicy")
                if p.name.endswith("-forwarder-put-events")]
    [grant] = statements(policy.inputs["policy"])
    assert grant["Action"] == "events:PutEvents"
    assert sorted(grant["Resource"]) == sorted(buses.values())
    targets = [t for t in member.of_type("aws:cloudwatch/eventTarget:EventTarget")
               if t.inputs["arn"].startswith("arn:aws:events:")]
    assert len(targets) == 5 * len(REGIONS)
    for target in targets:
        assert target.inputs["arn"] == buses[target.region]
        assert target.inputs["roleArn"] == forwarder.outputs["arn"]


def test_member_manifest_describes_the_member_account(member: Evaluation) -> None:
    manifests = member.outputs["manifests"]
    assert sorted(manifests) == sorted(REGIONS)
    for region, document in manifests.items():
        doc = json.loads(document) if isinstance(document, str) else document
        assert doc["accountId"] == MEMBER and doc["region"] == region
        assert doc["trail"]["arn"] == TRAIL_ARN
        assert doc["trail"]["bucket"] == f"ir-readiness-org-trail-{ORG}"
        assert doc["responderRoles"]["responder"] == (
            f"arn:aws:iam::{MEMBER}:role/ir-readiness-member-responder")
        assert len(doc["quarantine"]) == 2  # the mocks' two VPCs per region
    assert len(member.of_type("aws:backup/vault:Vault")) == len(REGIONS)
    # GuardDuty and Security Hub belong to the delegated administrator here.
    assert member.of_type("aws:guardduty/detector:Detector") == []
    assert member.of_type("aws:cloudtrail/trail:Trail") == []


def test_member_backup_copies_and_forensic_access_follow_the_settings() -> None:
    config = load_stack_config(ROOT / "Pulumi.org-member.example.yaml")
    config["ir:backup"] = json.dumps({"copyToRegion": "us-east-1"})
    config["ir:forensicAccess"] = json.dumps({"cidrs": ["10.99.0.0/24"], "ports": [22]})
    evaluation = evaluate(config, mocks=OrganizationMocks(account_id=MEMBER,
                                                          default_region="eu-west-1"))
    vaults = {v.region: v.outputs["arn"] for v in evaluation.of_type("aws:backup/vault:Vault")}
    [plan] = [p for p in evaluation.of_type("aws:backup/plan:Plan") if p.region == "eu-west-1"]
    copies = {c["destinationVaultArn"] for r in plan.inputs["rules"]
              for c in r.get("copyActions", [])}
    assert copies == {vaults["us-east-1"]}
    forensic = [g for g in evaluation.of_type("aws:ec2/securityGroup:SecurityGroup")
                if "forensic" in g.name]
    assert forensic
    for group in forensic:
        rules = group.inputs.get("ingress", [])
        assert {(r["fromPort"], r["toPort"]) for r in rules} == {(22, 22)}
        assert {c for r in rules for c in r.get("cidrBlocks", [])} == {"10.99.0.0/24"}
