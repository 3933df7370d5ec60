"""Security Hub: findings aggregated, with the standards the team has chosen."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import Severity

from ._util import (
    Findings,
    ResourceContext,
    StackIndex,
    as_list,
    describe,
    resource_rule,
    stack_rule,
)

AREA = "securityhub"
ACCOUNT = "aws:securityhub/account:Account"
SUBSCRIPTION = "aws:securityhub/standardsSubscription:StandardsSubscription"


@resource_rule(
    name="securityhub-explicit-standards", area=AREA, severity=Severity.LOW, mandatory=False,
    types=(ACCOUNT,),
    description="Security Hub accounts should not silently enable the default standards; "
                "subscribe to standards explicitly.",
    remediation="Set enable_default_standards=False and add aws.securityhub.StandardsSubscription "
                "resources for the standards you want.",
)
def explicit_standards(ctx: ResourceContext) -> Iterator[str]:
    if ctx.props.get("enableDefaultStandards") is not False:
        yield f"account {ctx.name!r} enables whatever default standards AWS picks"


@stack_rule(
    name="securityhub-required-standards", area=AREA, severity=Severity.MEDIUM, mandatory=False,
    description="Every Security Hub account must subscribe to the required standards in its "
                "region.",
    remediation="Add aws.securityhub.StandardsSubscription(standards_arn=...) in each region, "
                "depending on the Account.",
    config={"requiredStandards": {
        "type": "array", "items": {"type": "string"}, "uniqueItems": True,
        "default": ["aws-foundational-security-best-practices/v/1.0.0",
                    "cis-aws-foundations-benchmark/v/3.0.0"],
        "description": "Substrings of standards ARNs that must be subscribed in every region "
                       "with a Security Hub account."}},
)
def required_standards(index: StackIndex, config: Mapping[str, Any]) -> Findings:
    subscribed: dict[str | None, list[str]] = {}
    for sub in index.of_type(SUBSCRIPTION):
        subscribed.setdefault(index.region(sub), []).append(str(sub.props.get("standardsArn", "")))
    for account in index.of_type(ACCOUNT):
        region = index.region(account)
        arns = subscribed.get(region, [])
        missing = [s for s in as_list(config["requiredStandards"])
                   if not any(str(s) in arn for arn in arns)]
        if missing:
            yield (f"{describe(account)} in {region} is not subscribed to: "
                   f"{', '.join(map(str, missing))}", account.urn)
