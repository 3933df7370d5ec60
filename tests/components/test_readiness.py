"""The whole program (`__main__.py` -> IncidentResponseReadiness) under mocks.

Evaluates the shipped example stack config for 3 regions and a 1-region variant, and
asserts properties of the full resource graph: one manifest per region that satisfies
the schema, everything inside a component, no duplicate names, explicit regional
providers with the configured tags, encryption and privacy where it matters.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from components.mockrun import (
    PROJECT_ROOT,
    Evaluation,
    ReadinessMocks,
    RegisteredResource,
    evaluate,
    load_stack_config,
)
from components.settings import SettingsError
from runbooks.core.manifest_schema import MANIFEST_PARAMETER, manifest_errors
from tests.components.conftest import as_list, statements

EXAMPLE = load_stack_config(PROJECT_ROOT / "Pulumi.example.yaml")
THREE = ("eu-west-1", "eu-central-1", "us-east-1")


def one_region_config() -> dict[str, str]:
    config = dict(EXAMPLE)
    config["ir:regions"] = json.dumps(["eu-west-1"])
    vpcs = json.loads(config["ir:quarantineVpcs"])
    config["ir:quarantineVpcs"] = json.dumps({"eu-west-1": vpcs["eu-west-1"]})
    backup = json.loads(config["ir:backup"])
    backup["copyToRegion"] = None
    config["ir:backup"] = json.dumps(backup)
    return config


class CountingMocks(ReadinessMocks):
    def __init__(self) -> None:
        super().__init__(default_region="eu-west-1")
        self.registrations = 0
        self.types: list[str] = []
        self.vpc_lookups: list[str] = []

    def new_resource(self, args: Any) -> Any:
        self.registrations += 1
        self.types.append(args.typ)
        return super().new_resource(args)

    def call(self, args: Any) -> Any:
        if args.token == "aws:ec2/getVpcs:getVpcs":
            self.vpc_lookups.append(self.region_of(args.provider))
        return super().call(args)


@pytest.fixture(scope="module")
def three() -> tuple[Evaluation, CountingMocks]:
    mocks = CountingMocks()
    return evaluate(EXAMPLE, mocks=mocks), mocks


@pytest.fixture(scope="module")
def single() -> Evaluation:
    return evaluate(one_region_config())


def _ancestors(ev: Evaluation, res: RegisteredResource) -> list[RegisteredResource]:
    urns = ev.by_urn()
    chain = []
    parent = res.parent
    while parent in urns:
        chain.append(urns[parent])
        parent = urns[parent].parent
    return chain


@pytest.mark.parametrize("which", ["three", "single"])
def test_one_valid_manifest_per_covered_region(
    which: str, request: pytest.FixtureRequest
) -> None:
    value = request.getfixturevalue(which)
    ev = value[0] if isinstance(value, tuple) else value
    regions = THREE if which == "three" else ("eu-west-1",)
    params = ev.of_type("aws:ssm/parameter:Parameter")
    assert sorted(p.region for p in params) == sorted(regions)
    for param in params:
        assert param.inputs["name"] == MANIFEST_PARAMETER
        doc = json.loads(param.inputs["value"])
        assert manifest_errors(doc) == [], param.region
        assert doc["region"] == param.region
        assert doc["homeRegion"] == "eu-west-1"
        assert doc["kmsKeyArn"].startswith(f"arn:aws:kms:{param.region}:")
        assert all(t.startswith(f"arn:aws:sns:{param.region}:") for t in doc["topics"].values())
        assert doc["backup"]["vaultArn"].startswith(f"arn:aws:backup:{param.region}:")
        assert len(doc["quarantine"]) == 2
        # The stack output irctl reads (`--manifest`) is the same document.
        assert ev.outputs["manifests"][param.region] == doc


def test_explicit_vpcs_are_used_and_other_regions_discover(
    three: tuple[Evaluation, CountingMocks],
) -> None:
    ev, mocks = three
    assert sorted(mocks.vpc_lookups) == ["eu-central-1", "us-east-1"]
    home = ev.outputs["manifests"]["eu-west-1"]["quarantine"]
    assert sorted(home) == ["vpc-0a1b2c3d4e5f60718", "vpc-0f1e2d3c4b5a69788"]
    assert sorted(ev.outputs["manifests"]["us-east-1"]["quarantine"]) == sorted(
        mocks.vpc_ids("us-east-1")
    )


def test_regional_services_once_per_region_global_ones_once(
    three: tuple[Evaluation, CountingMocks],
) -> None:
    ev, _ = three
    per_region = Counter(
        (r.type, r.region) for r in ev.resources if r.custom and r.type.startswith("aws:")
    )
    for type_token in (
        "aws:guardduty/detector:Detector",
        "aws:securityhub/account:Account",
        "aws:kms/key:Key",
        "aws:backup/vault:Vault",
        "aws:ssm/parameter:Parameter",
    ):
        assert {r: per_region[(type_token, r)] for r in THREE} == dict.fromkeys(THREE, 1)
    for type_token in (
        "aws:cloudtrail/trail:Trail",
        "aws:securityhub/findingAggregator:FindingAggregator",
    ):
        (only,) = ev.of_type(type_token)
        assert only.region == "eu-west-1"
    (aggregator,) = ev.of_type("aws:securityhub/findingAggregator:FindingAggregator")
    assert sorted(aggregator.inputs["specifiedRegions"]) == ["eu-central-1", "us-east-1"]
    roles = {r.inputs.get("name") for r in ev.of_type("aws:iam/role:Role")}
    assert {"ir-readiness-mock-investigator", "ir-readiness-mock-responder"} <= roles


def test_every_aws_resource_descends_from_a_component(
    three: tuple[Evaluation, CountingMocks],
) -> None:
    ev, _ = three
    aws_resources = [r for r in ev.resources if r.type.startswith("aws:")]
    assert len(aws_resources) > 200
    for res in aws_resources:
        chain = _ancestors(ev, res)
        assert chain and chain[0].type.startswith("ir-readiness:index:"), res.urn
        assert chain[-1].type == "ir-readiness:index:IncidentResponseReadiness", res.urn


def test_no_duplicate_logical_names(three: tuple[Evaluation, CountingMocks]) -> None:
    ev, _ = three
    names = Counter((r.type, r.name) for r in ev.resources)
    assert [k for k, n in names.items() if n > 1] == []
    assert len({r.urn for r in ev.resources}) == len(ev.resources)


def test_every_resource_uses_an_explicit_tagged_regional_provider(
    three: tuple[Evaluation, CountingMocks],
) -> None:
    ev, _ = three
    providers = {
        f"{p.urn}::{p.id}": p for p in ev.of_type("pulumi:providers:aws")
    }
    assert sorted(p.inputs["region"] for p in providers.values()) == sorted(THREE)
    for p in providers.values():
        # Provider configuration reaches the engine JSON-encoded.
        default_tags = p.inputs["defaultTags"]
        if isinstance(default_tags, str):
            default_tags = json.loads(default_tags)
        tags = default_tags["tags"]
        assert tags["owner"] == "security-engineering"  # from ir:tags
        assert tags["ir-readiness:managed-by"] == "pulumi"
    for res in ev.resources:
        if res.custom and res.type.startswith("aws:"):
            assert res.provider in providers, f"{res.urn} uses {res.provider!r}"


def test_topics_and_queues_are_encrypted_with_their_region_key(
    three: tuple[Evaluation, CountingMocks],
) -> None:
    ev, _ = three
    keys = {k.region: k.outputs["arn"] for k in ev.of_type("aws:kms/key:Key")}
    topics = ev.of_type("aws:sns/topic:Topic")
    assert len(topics) == 12  # three severities and the alert path, per region
    for topic in topics:
        assert topic.inputs["kmsMasterKeyId"] == keys[topic.region]
    for queue in ev.of_type("aws:sqs/queue:Queue"):
        assert queue.inputs["kmsMasterKeyId"] == keys[queue.region]
    (trail,) = ev.of_type("aws:cloudtrail/trail:Trail")
    assert trail.inputs["kmsKeyId"] == keys["eu-west-1"]
    assert trail.inputs["isMultiRegionTrail"] is True
    assert trail.inputs["enableLogFileValidation"] is True
    assert trail.inputs["cloudWatchLogsGroupArn"].endswith(":*")


def test_every_bucket_is_private_versioned_encrypted_and_locked(
    three: tuple[Evaluation, CountingMocks],
) -> None:
    ev, _ = three
    # The evidence and trail log buckets; the access-log bucket cannot carry Object Lock
    # retention or SSE-KMS (S3 would not deliver), test_recording asserts its shape.
    buckets = [b for b in ev.of_type("aws:s3/bucket:Bucket")
               if not b.name.startswith("access-logs")]
    assert len(buckets) == 2
    for bucket in buckets:
        assert bucket.inputs["objectLockEnabled"] is True
        for type_token in (
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
            "aws:s3/bucketVersioning:BucketVersioning",
            "aws:s3/bucketServerSideEncryptionConfiguration:"
            "BucketServerSideEncryptionConfiguration",
            "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration",
            "aws:s3/bucketPolicy:BucketPolicy",
            "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
        ):
            configs = [r for r in ev.of_type(type_token) if r.inputs["bucket"] == bucket.id]
            assert len(configs) == 1, (bucket.name, type_token)
    evidence_policy = next(
        r for r in ev.of_type("aws:s3/bucketPolicy:BucketPolicy")
        if r.inputs["bucket"].startswith("evidence")
    )
    sids = {s["Sid"] for s in statements(evidence_policy.inputs["policy"])}
    assert {"DenyInsecureTransport", "GuardDutyPutFindings"} <= sids


def test_isolation_groups_have_no_rules(three: tuple[Evaluation, CountingMocks]) -> None:
    ev, _ = three
    isolation = [
        r for r in ev.of_type("aws:ec2/securityGroup:SecurityGroup")
        if r.inputs["tags"].get("ir-readiness:purpose") == "isolation"
    ]
    assert len(isolation) == 6
    for sg in isolation:
        assert sg.inputs["ingress"] == [] and sg.inputs["egress"] == []
    forensic = [
        r for r in ev.of_type("aws:ec2/securityGroup:SecurityGroup")
        if r.inputs["tags"].get("ir-readiness:purpose") == "forensic"
    ]
    assert len(forensic) == 6
    for sg in forensic:
        sources = {c for rule in sg.inputs.get("ingress", []) for c in rule.get("cidrBlocks", [])}
        assert sources <= {"10.99.0.0/24"}


def test_no_inline_policy_allows_a_wildcard_action(
    three: tuple[Evaluation, CountingMocks],
) -> None:
    ev, _ = three
    policies = ev.of_type("aws:iam/rolePolicy:RolePolicy")
    assert policies
    for policy in policies:
        for stmt in statements(policy.inputs["policy"]):
            if stmt["Effect"] != "Allow":
                continue
            for action in as_list(stmt["Action"]):
                assert action != "*" and not action.endswith(":*"), (policy.name, action)


def test_stack_outputs_expose_the_main_arns(three: tuple[Evaluation, CountingMocks]) -> None:
    ev, _ = three
    out = ev.outputs
    # Exactly the outputs README "The readiness stack" documents.
    assert set(out) == {
        "homeRegion", "regions", "manifests", "evidenceBucket", "trailArn", "trailBucket",
        "trailLogGroup", "investigatorRoleArn", "responderRoleArn", "kmsKeyArns",
        "topicArns", "guardDutyDetectorIds", "backupVaultArns", "automationFunctionArns",
        "flowLogGroups", "accessLogBucket",
        "alertPathTopicArns", "pendingSubscriptions", "supportRoleArn",
    }
    assert out["regions"] == list(THREE)
    assert out["automationFunctionArns"] == {}  # automation is off in the example
    assert out["homeRegion"] == "eu-west-1"
    assert out["trailArn"] == "arn:aws:cloudtrail:eu-west-1:123456789012:trail/ir-readiness-mock"
    assert out["responderRoleArn"].endswith(":role/ir-readiness-mock-responder")
    assert set(out["kmsKeyArns"]) == set(out["topicArns"]) == set(THREE)
    assert set(out["topicArns"]["us-east-1"]) == {"critical", "high", "info"}
    assert out["evidenceBucket"] == out["manifests"]["us-east-1"]["evidenceBucket"]


def test_backups_copy_to_the_configured_region(three: tuple[Evaluation, CountingMocks]) -> None:
    ev, _ = three
    plans = {p.region: p for p in ev.of_type("aws:backup/plan:Plan")}
    vaults = {v.region: v.outputs["arn"] for v in ev.of_type("aws:backup/vault:Vault")}
    for region in ("eu-west-1", "us-east-1"):
        copies = [a for rule in plans[region].inputs["rules"] for a in rule.get("copyActions", [])]
        assert copies and all(
            c["destinationVaultArn"] == vaults["eu-central-1"] for c in copies
        )
    assert not any(rule.get("copyActions") for rule in plans["eu-central-1"].inputs["rules"])


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("ir:regions", '["eu-central-1", "eu-west-1"]', "must equal aws:region (eu-west-1)"),
        ("ir:trail", '{"logRetentionDays": 2}', "ir:trail.logRetentionDays = 2"),
        ("ir:responderPrincipals", '["arn:aws:iam::123:user/x"]', "ir:responderPrincipals[0]"),
        ("ir:quarantine", '{}', "unknown config key(s) ir:quarantine"),
    ],
)
def test_invalid_config_fails_before_any_resource_is_registered(
    key: str, value: str, fragment: str
) -> None:
    mocks = CountingMocks()
    with pytest.raises(SettingsError) as info:
        evaluate({**EXAMPLE, key: value}, mocks=mocks)
    assert fragment in str(info.value)
    assert mocks.registrations == 0


def test_region_without_vpcs_still_gets_a_valid_manifest() -> None:
    config = one_region_config()
    config["ir:quarantineVpcs"] = json.dumps({"eu-west-1": "discover"})
    ev = evaluate(config, mocks=ReadinessMocks(vpcs_per_region=0, default_region="eu-west-1"))
    assert ev.of_type("ir-readiness:index:QuarantineNetwork") == []
    (param,) = ev.of_type("aws:ssm/parameter:Parameter")
    doc = json.loads(param.inputs["value"])
    assert doc["quarantine"] == {} and manifest_errors(doc) == []


def test_a_value_the_settings_refuse_cannot_be_put_into_settings_by_hand() -> None:
    """Settings are validated whenever they are built (field checks and cross-field
    rules), so no invalid value reaches a component, not even from a Settings edited in
    code; the components' own Args checks remain for programs that use them directly."""
    import dataclasses

    from components.backup_protection import BackupProtectionArgs
    from components.backup_protection import BackupRule as VaultRule
    from components.settings import BackupRule, Settings

    valid = Settings.from_mapping(
        {"regions": ["eu-west-1"],
         "responderPrincipals": ["arn:aws:iam::123456789012:role/SecurityOnCall"]}
    )
    with pytest.raises(ValueError, match=r"schedule[\s\S]*rate\(1 day\)"):
        dataclasses.replace(valid.backup, daily=BackupRule("rate(1 day)", 35))
    too_long = dataclasses.replace(valid.backup, daily=BackupRule("cron(0 5 * * ? *)", 1000))
    with pytest.raises(ValueError, match=r"ir:backup.daily.deleteAfterDays = 1000: must lie "
                                         r"within the vault lock retention \[7, 400\]"):
        dataclasses.replace(valid, backup=too_long)
    with pytest.raises(ValueError, match=r"daily.schedule='rate\(1 day\)' is invalid"):
        BackupProtectionArgs(
            region="eu-west-1", account_id="123456789012",
            kms_key_arn="arn:aws:kms:eu-west-1:123456789012:key/k",
            alert_topic_arn="arn:aws:sns:eu-west-1:123456789012:t",
            daily=VaultRule("rate(1 day)", 35),
        )


@pytest.mark.parametrize(
    ("stack", "automation", "message"),
    [
        ("s" * 40, {}, "use a shorter stack name"),
        ("prod", {"enabled": True, "layerPath": "/nonexistent/layer"},
         "make automation-layer"),
        ("p" * 35, {"enabled": True, "layerPath": "/nonexistent/layer"},
         "longer than 64 characters"),
    ],
)
def test_what_the_settings_cannot_know_fails_before_any_registration(
    stack: str, automation: dict[str, Any], message: str
) -> None:
    """Names from the stack name and the automation layer on disk are not in the config;
    the components' checks for them run before anything is registered, so a bad one never
    leaves a half-created stack."""
    from components.readiness import IncidentResponseReadiness, IncidentResponseReadinessArgs
    from components.settings import Settings

    settings = Settings.from_mapping(
        {"regions": ["eu-west-1"],
         "responderPrincipals": ["arn:aws:iam::123456789012:role/SecurityOnCall"],
         "automation": automation}
    )
    mocks = CountingMocks()
    with pytest.raises(ValueError, match=message):
        evaluate(
            {},
            mocks=mocks,
            program=lambda: IncidentResponseReadiness(
                "ir", IncidentResponseReadinessArgs(settings=settings)
            ),
            stack=stack,
        )
    assert mocks.registrations == 0
