"""The rules are a library (issue #18 point 6): another team's pack imports `policies.rules`,
picks rules, sets their enforcement and defaults, adds its own, and the Pulumi CLI runs it.

The composed pack lives outside this repository (a temporary directory) and imports the
installed `policies` package, as a platform team's pack would after
`pip install 'ir-readiness[policy]'`; it is started and spoken to exactly as the CLI does.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from policy_helpers import HOME_REGION, res

from policies.analyzer import PolicyPackProcess
from policies.rules import AREAS, POLICIES, REGISTRY, select

COMPOSED = '''
from pulumi_policy import EnforcementLevel, PolicyPack, ResourceValidationPolicy

from policies.rules import select


def queues_encrypted(args, report):
    if args.resource_type == "aws:sqs/queue:Queue" and not args.props.get("kmsMasterKeyId"):
        report("queue without a KMS key")


PolicyPack(
    name="acme-baseline",
    policies=[
        *select(areas=["cloudtrail"], names=["logs-retention"],
                exclude=["cloudtrail-logging-enabled"],
                levels={"all": "advisory", "cloudtrail-multi-region": "mandatory"},
                settings={"logs-retention": {"minRetentionDays": 400}}),
        ResourceValidationPolicy(name="acme-sqs-kms", description="SQS queues use KMS.",
                                 validate=queues_encrypted,
                                 enforcement_level=EnforcementLevel.MANDATORY),
    ],
)
'''


@pytest.fixture(scope="module")
def composed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PolicyPackProcess]:
    pack_dir = tmp_path_factory.mktemp("acme-pack")
    (pack_dir / "PulumiPolicy.yaml").write_text("runtime: python\n")
    (pack_dir / "__main__.py").write_text(COMPOSED)
    with PolicyPackProcess.start(pack_dir, stack_config={"aws:region": HOME_REGION}) as pack:
        yield pack


def test_composed_pack_serves_the_chosen_rules_and_its_own(composed: PolicyPackProcess) -> None:
    served = {p.name: p for p in composed.policies()}
    cloudtrail = {n for n, info in REGISTRY.items() if info.area == "cloudtrail"}
    assert set(served) == (cloudtrail - {"cloudtrail-logging-enabled"}) | {
        "logs-retention", "acme-sqs-kms"}
    # mandatory in the ir-readiness pack; `all` made them advisory, but for the one named
    assert {n for n, p in served.items() if p.enforcement == "mandatory"} == {
        "cloudtrail-multi-region", "acme-sqs-kms"}
    assert served["logs-retention"].config_schema["properties"]["minRetentionDays"][
        "default"] == 400


def test_composed_rules_judge_resources_with_the_composed_settings(
        composed: PolicyPackProcess) -> None:
    composed.configure({})
    trail = res("aws:cloudtrail/trail:Trail", "t", {
        "isMultiRegionTrail": False, "enableLogFileValidation": True, "kmsKeyId": "k",
        "cloudWatchLogsGroupArn": "arn:x:*", "cloudWatchLogsRoleArn": "arn:r",
        "enableLogging": False, "includeGlobalServiceEvents": False}, HOME_REGION)
    log_group = res("aws:cloudwatch/logGroup:LogGroup", "lg",
                    {"retentionInDays": 365, "kmsKeyId": "k"}, HOME_REGION)
    queue = res("aws:sqs/queue:Queue", "q", {}, HOME_REGION)
    found = {(d.policy, d.enforcement)
             for r in (trail, log_group, queue) for d in composed.analyze(r)}
    assert found == {
        ("cloudtrail-multi-region", "mandatory"),
        ("cloudtrail-global-service-events", "advisory"),
        # 365 days passes the pack's default (90) but not the composed one (400)
        ("logs-retention", "advisory"),
        ("acme-sqs-kms", "mandatory"),
    }  # cloudtrail-logging-enabled was excluded: the stopped trail is not reported
    # a stack's --policy-pack-config still overrides the composed default
    composed.configure({"logs-retention": {"minRetentionDays": 365}})
    assert not [d for d in composed.analyze(log_group) if d.policy == "logs-retention"]


def test_select_builds_fresh_policies_with_the_levels_asked_for() -> None:
    everything = select()
    assert [p.name for p in everything] == [p.name for p in POLICIES]
    assert not {id(p) for p in everything} & {id(p) for p in POLICIES}
    assert {p.enforcement_level.value for p in select(levels={"all": "disabled"})} == \
        {"disabled"}
    assert {p.name for p in select(areas=["backup"])} == {
        n for n, info in REGISTRY.items() if info.area == "backup"}
    assert "backup" in AREAS


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"areas": ["cloudtrial"]}, "unknown area cloudtrial; known: .*cloudtrail"),
    ({"names": ["s3-versionning"]}, "unknown policy s3-versionning"),
    ({"levels": {"s3-versioning": "strict"}}, "'strict' for s3-versioning is not one of"),
    ({"settings": {"logs-retention": {"minDays": 1}}}, "has no setting minDays"),
    ({"settings": {"logs-retention": {"minRetentionDays": 0}}}, "must be at least 1"),
    ({"settings": {"logs-retention": {"minRetentionDays": "90"}}}, "must be of type integer"),
])
def test_select_names_what_is_wrong(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        select(**kwargs)
