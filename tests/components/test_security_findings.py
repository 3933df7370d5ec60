"""SecurityFindings under Pulumi mocks: no default standards, explicit subscriptions, aggregator."""

from __future__ import annotations

import re

import pulumi
import pytest

from components.security_findings import (
    COMPONENT_TYPE,
    SecurityFindings,
    SecurityFindingsArgs,
    standards_arn,
)
from tests.components.regional_mocks import descends_from, provider, run

ACCOUNT = "aws:securityhub/account:Account"
SUBSCRIPTION = "aws:securityhub/standardsSubscription:StandardsSubscription"
AGGREGATOR = "aws:securityhub/findingAggregator:FindingAggregator"
REGIONS = ("eu-west-1", "us-east-1", "ap-southeast-2")


def _one_region(region: str, covered=REGIONS, **overrides):
    def program():
        sf = SecurityFindings(
            f"security-findings-{region}",
            SecurityFindingsArgs(
                region=region, home_region=covered[0], covered_regions=covered, **overrides
            ),
            opts=pulumi.ResourceOptions(providers={"aws": provider(region)}),
        )
        return {
            "hub": sf.hub_arn,
            "enabled": sf.enabled,
            "subscriptions": sf.standards_subscription_arns,
            "aggregator": sf.finding_aggregator_arn,
        }

    return run(program)


def test_account_enables_no_default_standards_and_consolidates_control_findings():
    result = _one_region("eu-west-1")
    account = result.one(ACCOUNT)
    assert account.inputs["enableDefaultStandards"] is False
    assert account.inputs["controlFindingGenerator"] == "SECURITY_CONTROL"
    assert account.inputs["autoEnableControls"] is True
    assert result.outputs["enabled"] is True


def test_default_standards_are_fsbp_and_cis_3_with_region_specific_arns():
    result = _one_region("us-east-1")
    arns = sorted(s.inputs["standardsArn"] for s in result.of_type(SUBSCRIPTION))
    assert arns == [
        "arn:aws:securityhub:us-east-1::standards/aws-foundational-security-best-practices/v/1.0.0",
        "arn:aws:securityhub:us-east-1::standards/cis-aws-foundations-benchmark/v/3.0.0",
    ]
    assert len(result.outputs["subscriptions"]) == 2


def test_every_subscription_depends_on_the_account():
    result = _one_region("eu-west-1", standards=("nist-800-53/v/5.0.0", "pci-dss/v/4.0.1"))
    account = result.one(ACCOUNT)
    subscriptions = result.of_type(SUBSCRIPTION)
    assert len(subscriptions) == 2
    for subscription in subscriptions:
        assert account.urn in subscription.dependencies


def test_legacy_cis_1_2_uses_the_global_ruleset_arn():
    assert standards_arn("cis-aws-foundations-benchmark/v/1.2.0", "eu-west-1") == (
        "arn:aws:securityhub:::ruleset/cis-aws-foundations-benchmark/v/1.2.0"
    )
    assert standards_arn("pci-dss/v/3.2.1", "us-gov-west-1", "aws-us-gov") == (
        "arn:aws-us-gov:securityhub:us-gov-west-1::standards/pci-dss/v/3.2.1"
    )


def test_home_region_aggregates_the_other_covered_regions():
    result = _one_region("eu-west-1")
    aggregator = result.one(AGGREGATOR)
    assert aggregator.inputs["linkingMode"] == "SPECIFIED_REGIONS"
    assert sorted(aggregator.inputs["specifiedRegions"]) == ["ap-southeast-2", "us-east-1"]
    assert result.one(ACCOUNT).urn in aggregator.dependencies
    assert aggregator.region == "eu-west-1"
    assert result.outputs["aggregator"]


def test_other_regions_and_single_region_accounts_have_no_aggregator():
    assert _one_region("us-east-1").of_type(AGGREGATOR) == []
    single = _one_region("eu-west-1", covered=("eu-west-1",))
    assert single.of_type(AGGREGATOR) == []
    assert single.outputs["aggregator"] is None


def test_three_regions_one_account_each_and_aggregator_waits_for_linked_hubs():
    def program():
        others = [
            SecurityFindings(
                f"sf-{region}",
                SecurityFindingsArgs(
                    region=region, home_region=REGIONS[0], covered_regions=REGIONS
                ),
                opts=pulumi.ResourceOptions(providers={"aws": provider(region)}),
            )
            for region in REGIONS[1:]
        ]
        home = SecurityFindings(
            f"sf-{REGIONS[0]}",
            SecurityFindingsArgs(
                region=REGIONS[0], home_region=REGIONS[0], covered_regions=REGIONS,
                aggregator_depends_on=[o.account for o in others],
            ),
            opts=pulumi.ResourceOptions(providers={"aws": provider(REGIONS[0])}),
        )
        return home.finding_aggregator_arn

    result = run(program)
    accounts = result.of_type(ACCOUNT)
    assert sorted(a.region for a in accounts) == sorted(REGIONS)
    aggregator = result.one(AGGREGATOR)
    assert {a.urn for a in accounts} <= set(aggregator.dependencies)
    for subscription in result.of_type(SUBSCRIPTION):
        assert subscription.inputs["standardsArn"].split(":")[3] == subscription.region
    for component in result.of_type(COMPONENT_TYPE):
        children = [r for r in result.aws_resources() if r.parent == component.urn]
        assert children and all(descends_from(result, c, component.urn) for c in children)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"region": "europe"}, "region='europe' is invalid"),
        ({"home_region": "eu-west-1", "covered_regions": ()}, "list at least the home region"),
        ({"covered_regions": ("us-east-1", "eu-west-1")}, "home region eu-west-1 must come first"),
        ({"covered_regions": ("eu-west-1", "eu-west-1")}, "listed twice"),
        ({"covered_regions": ("eu-west-1", "mars-1")}, "covered_regions='mars-1' is invalid"),
        ({"region": "us-west-2"}, "must be one of covered_regions"),
        ({"standards": ("cis/v/9",)}, "standards='cis/v/9' is invalid"),
        ({"control_finding_generator": "BOTH"}, "SECURITY_CONTROL, STANDARD_CONTROL"),
        ({"partition": "aws-eu"}, "partition='aws-eu' is invalid"),
    ],
)
def test_invalid_args_name_the_field_and_value(fields, message):
    values = {"region": "eu-west-1", "home_region": "eu-west-1",
              "covered_regions": ("eu-west-1", "us-east-1"), **fields}
    with pytest.raises(ValueError, match=re.escape(message)):
        SecurityFindingsArgs(**values)
