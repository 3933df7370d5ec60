"""SecurityFindings: Security Hub with explicit standards and cross-region aggregation.

One per covered region, created with that region's provider in ``opts``.

* ``aws.securityhub.Account`` with ``enable_default_standards=False``: nothing is turned on
  behind the reviewer's back; consolidated control findings (``SECURITY_CONTROL``) so a
  control failing under two standards raises one finding, not two.
* one ``aws.securityhub.StandardsSubscription`` per standard in Args (AWS Foundational
  Security Best Practices v1.0.0 and CIS AWS Foundations Benchmark v3.0.0 by default),
  each ``depends_on`` the account. Standards ARNs are region-specific and built here.
  Security Hub bills per security check and per ingested finding; each standard adds
  checks (and AWS Config recording, which Security Hub's controls rely on, bills per
  configuration item; Config is not managed by this component).
* in the home region only, an ``aws.securityhub.FindingAggregator`` in
  ``SPECIFIED_REGIONS`` mode linking every other covered region, so responders triage
  all regions from one console. Pass the other regions' ``SecurityFindings.account``
  resources as ``aggregator_depends_on`` so linking waits for them.

Security Hub can be enabled only once per account and region: an account that already
has it must be imported (``pulumi import aws:securityhub/account:Account <name>
<account id>``). Accounts governed by an organization's central configuration cannot
subscribe to standards themselves; run this component only where the account manages
its own Security Hub configuration (standalone, or the delegated administrator).

It needs nothing from the other components (no KMS, no bucket policy).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.regional_validation import check_choices, check_region, invalid

COMPONENT_TYPE = "ir-readiness:index:SecurityFindings"

# Standard id -> ARN template. All current standards are per-region
# ("arn:<partition>:securityhub:<region>::standards/<id>"); the legacy CIS v1.2.0 is a
# global "ruleset" ARN.
STANDARDS = {
    "aws-foundational-security-best-practices/v/1.0.0": "standards",
    "cis-aws-foundations-benchmark/v/1.2.0": "ruleset",
    "cis-aws-foundations-benchmark/v/1.4.0": "standards",
    "cis-aws-foundations-benchmark/v/3.0.0": "standards",
    "nist-800-53/v/5.0.0": "standards",
    "pci-dss/v/3.2.1": "standards",
    "pci-dss/v/4.0.1": "standards",
    "aws-resource-tagging-standard/v/1.0.0": "standards",
}
DEFAULT_STANDARDS = (
    "aws-foundational-security-best-practices/v/1.0.0",
    "cis-aws-foundations-benchmark/v/3.0.0",
)
PARTITIONS = ("aws", "aws-cn", "aws-us-gov")
CONTROL_FINDING_GENERATORS = ("SECURITY_CONTROL", "STANDARD_CONTROL")


def standards_arn(standard: str, region: str, partition: str = "aws") -> str:
    """The subscription ARN of ``standard`` in ``region``."""
    if STANDARDS[standard] == "ruleset":
        return f"arn:{partition}:securityhub:::ruleset/{standard}"
    return f"arn:{partition}:securityhub:{region}::standards/{standard}"


@dataclass(frozen=True)
class SecurityFindingsArgs:
    """Inputs of one region's Security Hub."""

    region: str
    """The region this component is created in (the region of the provider in ``opts``)."""

    home_region: str
    """The aggregation region; the finding aggregator is created only there."""

    covered_regions: tuple[str, ...]
    """Every covered region, home region first; the aggregator links all the others."""

    standards: tuple[str, ...] = DEFAULT_STANDARDS
    """Standards to subscribe to, as ``<name>/v/<version>`` ids (see ``STANDARDS``)."""

    control_finding_generator: str = "SECURITY_CONTROL"
    """SECURITY_CONTROL: one finding per control across standards (consolidated);
    STANDARD_CONTROL: one finding per standard."""

    auto_enable_controls: bool = True
    """Enable controls AWS adds later to the subscribed standards."""

    partition: str = "aws"
    """ARN partition: aws, aws-cn or aws-us-gov."""

    aggregator_depends_on: Sequence[pulumi.Resource] = ()
    """Resources the aggregator waits for: the other regions' Security Hub accounts."""

    def __post_init__(self) -> None:
        check_region("region", self.region)
        check_region("home_region", self.home_region)
        if not self.covered_regions:
            raise invalid("covered_regions", self.covered_regions, "list at least the home region")
        for covered in self.covered_regions:
            check_region("covered_regions", covered)
        if len(set(self.covered_regions)) != len(self.covered_regions):
            raise invalid("covered_regions", self.covered_regions, "a region is listed twice")
        if self.covered_regions[0] != self.home_region:
            raise invalid(
                "covered_regions", self.covered_regions,
                f"the home region {self.home_region} must come first",
            )
        if self.region not in self.covered_regions:
            raise invalid(
                "region", self.region, f"must be one of covered_regions {self.covered_regions}"
            )
        check_choices("standards", self.standards, STANDARDS)
        if self.control_finding_generator not in CONTROL_FINDING_GENERATORS:
            raise invalid(
                "control_finding_generator", self.control_finding_generator,
                f"allowed values are {', '.join(CONTROL_FINDING_GENERATORS)}",
            )
        if self.partition not in PARTITIONS:
            raise invalid(
                "partition", self.partition, f"allowed values are {', '.join(PARTITIONS)}"
            )

    @property
    def is_home_region(self) -> bool:
        return self.region == self.home_region

    @property
    def linked_regions(self) -> list[str]:
        return [r for r in self.covered_regions if r != self.home_region]


class SecurityFindings(pulumi.ComponentResource):
    """Security Hub account, standards subscriptions and (home region) finding aggregator."""

    account: aws.securityhub.Account
    hub_arn: pulumi.Output[str]
    enabled: pulumi.Output[bool]
    standards_subscription_arns: pulumi.Output[list[str]]
    finding_aggregator_arn: pulumi.Output[str | None]

    def __init__(
        self,
        name: str,
        args: SecurityFindingsArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        if not isinstance(args, SecurityFindingsArgs):
            raise TypeError("args must be a SecurityFindingsArgs")
        super().__init__(COMPONENT_TYPE, name, None, opts)

        account = aws.securityhub.Account(
            f"{name}-hub",
            enable_default_standards=False,
            control_finding_generator=args.control_finding_generator,
            auto_enable_controls=args.auto_enable_controls,
            opts=pulumi.ResourceOptions(parent=self),
        )
        after_account = pulumi.ResourceOptions(parent=self, depends_on=[account])
        subscriptions = [
            aws.securityhub.StandardsSubscription(
                f"{name}-{standard.replace('/v/', '-v').replace('.', '-')}",
                standards_arn=standards_arn(standard, args.region, args.partition),
                opts=after_account,
            )
            for standard in args.standards
        ]
        aggregator_arn: pulumi.Output[str | None] = pulumi.Output.from_input(None)
        if args.is_home_region and args.linked_regions:
            aggregator = aws.securityhub.FindingAggregator(
                f"{name}-aggregator",
                linking_mode="SPECIFIED_REGIONS",
                specified_regions=args.linked_regions,
                opts=pulumi.ResourceOptions(
                    parent=self, depends_on=[account, *args.aggregator_depends_on]
                ),
            )
            aggregator_arn = aggregator.id

        self.account = account
        self.hub_arn = account.arn
        self.enabled = account.id.apply(lambda _: True)
        self.standards_subscription_arns = pulumi.Output.all(*[s.id for s in subscriptions])
        self.finding_aggregator_arn = aggregator_arn
        self.register_outputs({
            "hub_arn": self.hub_arn,
            "enabled": self.enabled,
            "standards_subscription_arns": self.standards_subscription_arns,
            "finding_aggregator_arn": self.finding_aggregator_arn,
        })
