"""What responders will need recorded (issue 19, section 4), asserted under mocks for the
example stack and every organisation example config: flow logs of every quarantine VPC,
the Config recorder per region, S3 server access logging of the log buckets, account
Block Public Access, Access Analyzer, and the opt-in Resolver query logs and S3 malware
protection."""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from typing import Any

import pytest

from components.audit_trail import CIS_CONTROLS, MANAGEMENT_SELECTOR_NAME
from components.mockrun import (
    PROJECT_ROOT,
    Evaluation,
    RegisteredResource,
    evaluate,
    load_stack_config,
)
from components.settings import Settings, SettingsError, parse_config_value
from tests.components.conftest import as_list, by_sid

EXAMPLES = sorted(p.name for p in PROJECT_ROOT.glob("Pulumi.*example.yaml"))
ACCOUNT = "123456789012"
SG = "aws:ec2/securityGroup:SecurityGroup"
FLOW_LOG = "aws:ec2/flowLog:FlowLog"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
ROLE = "aws:iam/role:Role"
RECORDER = "aws:cfg/recorder:Recorder"


def _config(example: str, **overrides: Any) -> dict[str, str]:
    config = load_stack_config(PROJECT_ROOT / example)
    config.update({k: json.dumps(v) for k, v in overrides.items()})
    return config


@cache
def _evaluated(example: str, overrides: str = "{}") -> Evaluation:
    return evaluate(_config(example, **json.loads(overrides)))


def stack(example: str, **overrides: Any) -> Evaluation:
    return _evaluated(example, json.dumps(overrides, sort_keys=True))


def _values(example: str) -> dict[str, Any]:
    """The example's `ir:` settings as plain values."""
    return {k: parse_config_value(k, v) for k, v in _config(example).items()
            if k.startswith("ir:")}


def _mode(example: str) -> str:
    values = load_stack_config(PROJECT_ROOT / example)
    return str(json.loads(values.get("ir:organization", '{"mode": "single"}'))["mode"])


def referenced(ev: Evaluation, res: RegisteredResource, key: str) -> RegisteredResource:
    urns = res.property_dependencies.get(key, ())
    found = [r for r in ev.resources if r.urn in urns and r.custom]
    assert len(found) == 1, f"{res.name}.{key} references {urns}"
    return found[0]


# ------------------------------------------------------------------ flow logs


@pytest.mark.parametrize("example", EXAMPLES)
def test_every_quarantine_vpc_has_a_flow_log_of_all_traffic(example: str) -> None:
    ev = stack(example)
    quarantined = {(g.region, g.inputs["vpcId"]) for g in ev.of_type(SG)
                   if g.inputs.get("tags", {}).get("ir-readiness:purpose") == "isolation"}
    logs = ev.of_type(FLOW_LOG)
    if _mode(example) == "management":
        # The management stack quarantines nothing (no workload): nothing to record.
        assert quarantined == set() and logs == []
        return
    assert quarantined, "the example quarantines no VPC?"
    assert {(f.region, f.inputs["vpcId"]) for f in logs} == quarantined
    for flow_log in logs:
        assert flow_log.inputs["trafficType"] == "ALL"
        assert flow_log.inputs["logDestinationType"] == "cloud-watch-logs"
        group = referenced(ev, flow_log, "logDestination")
        assert group.type == LOG_GROUP and group.region == flow_log.region
        assert group.inputs["name"].endswith("/flow-logs")
        assert group.inputs["retentionInDays"] == 365
        key = referenced(ev, group, "kmsKeyId")
        assert key.type == "aws:kms/key:Key" and key.region == flow_log.region
        role = referenced(ev, flow_log, "iamRoleArn")
        (trust,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
        assert trust["Principal"] == {"Service": "vpc-flow-logs.amazonaws.com"}
        assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT}
        assert trust["Condition"]["ArnLike"]["aws:SourceArn"] == (
            f"arn:aws:ec2:{flow_log.region}:{ACCOUNT}:vpc-flow-log/*")


def test_flow_log_role_writes_only_its_log_group() -> None:
    ev = stack("Pulumi.example.yaml")
    for flow_log in ev.of_type(FLOW_LOG):
        role = referenced(ev, flow_log, "iamRoleArn")
        group = referenced(ev, flow_log, "logDestination")
        (policy,) = [p for p in ev.of_type("aws:iam/rolePolicy:RolePolicy")
                     if role.urn in p.property_dependencies.get("role", ())]
        deliver = by_sid(policy.inputs["policy"])["DeliverToFlowLogGroup"]
        arn = group.outputs["arn"]
        assert deliver["Resource"] == [arn, f"{arn}:log-stream:*"]


def test_flow_logs_and_their_cost_can_be_switched_off() -> None:
    ev = stack("Pulumi.example.yaml", **{"ir:recording": {"flowLogs": {"enabled": False}}})
    assert ev.of_type(FLOW_LOG) == []
    member = stack("Pulumi.org-member.example.yaml",
                   **{"ir:recording": {"flowLogs": {"enabled": False}}})
    assert member.of_type(FLOW_LOG) == []


def test_resolver_query_logging_is_opt_in_and_covers_every_quarantine_vpc() -> None:
    assert stack("Pulumi.example.yaml").of_type(
        "aws:route53/resolverQueryLogConfig:ResolverQueryLogConfig") == []
    ev = stack("Pulumi.example.yaml", **{"ir:recording": {"resolverQueryLogs": True}})
    configs = ev.of_type("aws:route53/resolverQueryLogConfig:ResolverQueryLogConfig")
    assert sorted(c.region for c in configs) == sorted(
        Settings.from_mapping(_values("Pulumi.example.yaml")).regions)
    for config in configs:
        group = referenced(ev, config, "destinationArn")
        assert group.inputs["name"].endswith("/resolver-queries") and group.inputs["kmsKeyId"]
    associations = ev.of_type(
        "aws:route53/resolverQueryLogConfigAssociation:ResolverQueryLogConfigAssociation")
    assert {(a.region, a.inputs["resourceId"]) for a in associations} == {
        (f.region, f.inputs["vpcId"]) for f in ev.of_type(FLOW_LOG)}


# ------------------------------------------------------------------ AWS Config


def _recording_stacks() -> list[str]:
    return [e for e in EXAMPLES if _mode(e) in ("single", "security")]


@pytest.mark.parametrize("example", _recording_stacks())
def test_config_records_every_region_and_global_types_only_at_home(example: str) -> None:
    ev = stack(example)
    settings = Settings.from_mapping(_values(example))
    recorders = {r.region: r for r in ev.of_type(RECORDER)}
    assert sorted(recorders) == sorted(settings.regions)
    for region, recorder in recorders.items():
        group = recorder.inputs["recordingGroup"]
        assert group["allSupported"] is True
        assert group["includeGlobalResourceTypes"] is (region == settings.home_region)
    statuses = ev.of_type("aws:cfg/recorderStatus:RecorderStatus")
    assert sorted(s.region for s in statuses) == sorted(settings.regions)
    assert all(s.inputs["isEnabled"] is True for s in statuses)
    trail_bucket = referenced(ev, ev.of_type("aws:cloudtrail/trail:Trail")[0], "s3BucketName")
    home_key = referenced(ev, ev.of_type("aws:cloudtrail/trail:Trail")[0], "kmsKeyId")
    for channel in ev.of_type("aws:cfg/deliveryChannel:DeliveryChannel"):
        assert referenced(ev, channel, "s3BucketName").urn == trail_bucket.urn
        assert referenced(ev, channel, "s3KmsKeyArn").urn == home_key.urn
        assert channel.inputs["s3KeyPrefix"] == "config"
    # One role for every region, trusted by Config for this account only.
    roles = {referenced(ev, r, "roleArn").urn for r in recorders.values()}
    assert len(roles) == 1
    role = ev.by_urn()[roles.pop()]
    (trust,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert trust["Principal"] == {"Service": "config.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}
    (policy,) = [p for p in ev.of_type("aws:iam/rolePolicy:RolePolicy")
                 if role.urn in p.property_dependencies.get("role", ())]
    # Every region's recorder (and so its channel) waits until the role may deliver.
    assert all(policy.urn in r.dependencies for r in recorders.values())
    sids = by_sid(policy.inputs["policy"])
    assert sids["DeliverConfigurationItems"]["Resource"] == (
        f"arn:aws:s3:::{trail_bucket.outputs['bucket']}/config/AWSLogs/{ACCOUNT}/*")
    assert sids["EncryptThroughS3"]["Condition"] == {
        "StringEquals": {"kms:ViaService": f"s3.{settings.home_region}.amazonaws.com"}}


def test_config_recorder_can_be_left_to_an_existing_one() -> None:
    ev = stack("Pulumi.example.yaml", **{"ir:recording": {"configRecorder": False}})
    assert ev.of_type(RECORDER) == []


# ------------------------------------------------------------------ S3 access logging


@pytest.mark.parametrize("example", _recording_stacks())
def test_log_and_evidence_buckets_log_access_into_a_locked_sse_s3_bucket(example: str) -> None:
    ev = stack(example)
    loggings = ev.of_type("aws:s3/bucketLogging:BucketLogging")
    trail_bucket = referenced(ev, ev.of_type("aws:cloudtrail/trail:Trail")[0], "s3BucketName")
    sources = {referenced(ev, lg, "bucket").urn: lg for lg in loggings}
    evidence = [b for b in ev.of_type("aws:s3/bucket:Bucket") if "evidence" in b.name]
    assert set(sources) == {trail_bucket.urn, evidence[0].urn}
    (target_urn,) = {referenced(ev, lg, "targetBucket").urn for lg in loggings}
    assert target_urn not in sources

    def setting(type_token: str) -> Mapping[str, Any]:
        (found,) = [r for r in ev.of_type(type_token)
                    if target_urn in r.property_dependencies.get("bucket", ())]
        return found.inputs

    sse = setting("aws:s3/bucketServerSideEncryptionConfiguration:"
                  "BucketServerSideEncryptionConfiguration")
    assert sse["rules"][0]["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "AES256"}
    pab = setting("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    assert all(pab[f] is True for f in ("blockPublicAcls", "blockPublicPolicy",
                                        "ignorePublicAcls", "restrictPublicBuckets"))
    assert setting("aws:s3/bucketVersioning:BucketVersioning")[
        "versioningConfiguration"]["status"] == "Enabled"
    assert setting("aws:s3/bucketOwnershipControls:BucketOwnershipControls")[
        "rule"]["objectOwnership"] == "BucketOwnerEnforced"
    sids = by_sid(setting("aws:s3/bucketPolicy:BucketPolicy")["policy"])
    assert sids["DenyInsecureTransport"]["Effect"] == "Deny"
    delivery = sids["S3ServerAccessLogDelivery"]
    assert delivery["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert delivery["Action"] == "s3:PutObject"
    assert delivery["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT}
    assert sorted(as_list(delivery["Condition"]["ArnEquals"]["aws:SourceArn"])) == sorted(
        f"arn:aws:s3:::{ev.by_urn()[u].outputs['bucket']}" for u in sources)
    lock = sids["NobodyDeletesAccessLogs"]
    assert lock["Effect"] == "Deny" and lock["Principal"] == "*"
    assert set(lock["Action"]) == {"s3:DeleteObject", "s3:DeleteObjectVersion"}


# ------------------------------------------------------------------ account guard rails


@pytest.mark.parametrize("example", _recording_stacks())
def test_account_block_public_access_and_an_analyzer_per_region(example: str) -> None:
    ev = stack(example)
    (block,) = ev.of_type("aws:s3/accountPublicAccessBlock:AccountPublicAccessBlock")
    assert all(block.inputs[f] is True for f in ("blockPublicAcls", "blockPublicPolicy",
                                                 "ignorePublicAcls", "restrictPublicBuckets"))
    analyzers = ev.of_type("aws:accessanalyzer/analyzer:Analyzer")
    regions = json.loads(_config(example)["ir:regions"])
    assert sorted(a.region for a in analyzers) == sorted(regions)
    assert {a.inputs["type"] for a in analyzers} == {"ACCOUNT"}


def test_organization_analyzer_in_the_security_stack_only() -> None:
    ev = stack("Pulumi.org-security.example.yaml",
               **{"ir:accountProtection": {"accessAnalyzer": "organization"}})
    assert {a.inputs["type"] for a in ev.of_type("aws:accessanalyzer/analyzer:Analyzer")} == {
        "ORGANIZATION"}
    values = _values("Pulumi.example.yaml")
    values["ir:accountProtection"] = {"accessAnalyzer": "organization"}
    with pytest.raises(SettingsError, match=r"ir:accountProtection.accessAnalyzer"):
        Settings.from_mapping(values)


def test_block_public_access_and_analyzer_can_be_opted_out() -> None:
    ev = stack("Pulumi.example.yaml", **{"ir:accountProtection": {
        "blockPublicAccess": False, "accessAnalyzer": "off"}})
    assert ev.of_type("aws:s3/accountPublicAccessBlock:AccountPublicAccessBlock") == []
    assert ev.of_type("aws:accessanalyzer/analyzer:Analyzer") == []


def test_malware_protection_is_opt_in_for_the_evidence_and_named_buckets() -> None:
    plan_type = "aws:guardduty/malwareProtectionPlan:MalwareProtectionPlan"
    assert stack("Pulumi.example.yaml").of_type(plan_type) == []
    ev = stack("Pulumi.example.yaml", **{"ir:accountProtection": {"malwareProtection": {
        "enabled": True, "buckets": ["uploads-bucket-1"]}}})
    plans = ev.of_type(plan_type)
    evidence = [b for b in ev.of_type("aws:s3/bucket:Bucket") if "evidence" in b.name][0]
    scanned = {p.inputs["protectedResource"]["s3Bucket"]["bucketName"] for p in plans}
    assert scanned == {evidence.outputs["bucket"], "uploads-bucket-1"}
    assert {p.region for p in plans} == {"eu-west-1"}
    for plan in plans:
        assert plan.inputs["actions"] == [{"taggings": [{"status": "ENABLED"}]}]
    role = referenced(ev, plans[0], "role")
    (trust,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert trust["Principal"] == {"Service": "malware-protection-plan.guardduty.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}
    (policy,) = [p for p in ev.of_type("aws:iam/rolePolicy:RolePolicy")
                 if role.urn in p.property_dependencies.get("role", ())]
    sids = by_sid(policy.inputs["policy"])
    assert sorted(sids["ScanAndTagObjects"]["Resource"]) == sorted(
        f"arn:aws:s3:::{b}/*" for b in scanned)
    assert sids["ManageTheManagedRule"]["Condition"] == {
        "StringLike": {"events:ManagedBy": "malware-protection-plan.guardduty.amazonaws.com"}}


def test_named_buckets_without_malware_protection_on_are_refused() -> None:
    values = _values("Pulumi.example.yaml")
    values["ir:accountProtection"] = {"malwareProtection": {"buckets": ["uploads-bucket-1"]}}
    with pytest.raises(SettingsError, match=r"malwareProtection.buckets"):
        Settings.from_mapping(values)


# ------------------------------------------------------------------ CloudTrail


def test_management_selector_is_named_as_aws_names_its_own() -> None:
    ev = stack("Pulumi.example.yaml", **{"ir:trail": {"s3DataEvents": True}})
    (trail,) = ev.of_type("aws:cloudtrail/trail:Trail")
    names = [s["name"] for s in trail.inputs["advancedEventSelectors"]]
    assert names[0] == MANAGEMENT_SELECTOR_NAME == "Management events selector"


def test_organizations_filter_matches_the_cis_v3_events() -> None:
    (control,) = [c for c in CIS_CONTROLS if c.key == "organizations-changes"]
    for event in ("CancelHandshake", "CreateOrganization", "EnableAllFeatures"):
        assert f"($.eventName = {event})" in control.pattern


@pytest.mark.parametrize(("example", "logged"), [
    ("Pulumi.org-member.example.yaml", "evidence-bucket"),
    ("Pulumi.org-management.example.yaml", "org-trail-logs"),
])
def test_organization_log_buckets_log_access_too(example: str, logged: str) -> None:
    """Member: the evidence bucket; management: the organization trail's bucket, with its
    access-log bucket in the log-archive account (the trail bucket's provider)."""
    ev = stack(example)
    (logging,) = ev.of_type("aws:s3/bucketLogging:BucketLogging")
    source = referenced(ev, logging, "bucket")
    target = referenced(ev, logging, "targetBucket")
    assert source.name.endswith(logged)
    assert target.provider == source.provider
    (policy,) = [p for p in ev.of_type("aws:s3/bucketPolicy:BucketPolicy")
                 if target.urn in p.property_dependencies.get("bucket", ())]
    delivery = by_sid(policy.inputs["policy"])["S3ServerAccessLogDelivery"]
    account = ("333333333333" if "management" in example else ACCOUNT)
    assert delivery["Condition"]["StringEquals"] == {"aws:SourceAccount": account}
    assert as_list(delivery["Condition"]["ArnEquals"]["aws:SourceArn"]) == [
        f"arn:aws:s3:::{source.outputs['bucket']}"]
    (sse,) = [r for r in ev.of_type("aws:s3/bucketServerSideEncryptionConfiguration:"
                                    "BucketServerSideEncryptionConfiguration")
              if target.urn in r.property_dependencies.get("bucket", ())]
    assert sse.inputs["rules"][0]["applyServerSideEncryptionByDefault"] == {
        "sseAlgorithm": "AES256"}
