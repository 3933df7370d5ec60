"""Organization mode end to end: the real program for each organization example stack
under mocks, the real pack over its analyzer protocol, with the shipped policy config and
no per-mode workaround.

- Each org example (member, management, security) passes with zero mandatory violations.
- Each org-specific check catches a seeded misconfiguration (a Pulumi stack
  transformation changing one resource's arguments before the unchanged `__main__.py`
  runs), asserted on the message naming what was seeded.
- The mode is detected from the graph; the `organizationMode` policy config overrides it.
"""

from __future__ import annotations

import runpy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pulumi
import pytest
from policy_helpers import ROOT, res, violations

from policies.analyzer import PolicyPackProcess, load_policy_config
from policies.preview import PreviewResult, run_preview

POLICY_CONFIG = ROOT / "policy-config.json"
PROGRAM = ROOT / "__main__.py"
MEMBER = ROOT / "Pulumi.org-member.example.yaml"
MANAGEMENT = ROOT / "Pulumi.org-management.example.yaml"
SECURITY = ROOT / "Pulumi.org-security.example.yaml"
Props = dict[str, Any]


@pytest.fixture(scope="module")
def shipped_config() -> dict[str, Any]:
    return load_policy_config(POLICY_CONFIG)


@pytest.fixture(scope="module")
def org_baselines(pack_process: PolicyPackProcess,
                  shipped_config: dict[str, Any]) -> dict[str, PreviewResult]:
    return {stack.name: run_preview(stack, pack=pack_process, policy_config=shipped_config)
            for stack in (MEMBER, MANAGEMENT, SECURITY)}


@pytest.mark.parametrize("stack", [MEMBER, MANAGEMENT, SECURITY], ids=lambda p: p.name)
def test_org_example_has_no_mandatory_violation(
        stack: Any, org_baselines: dict[str, PreviewResult]) -> None:
    result = org_baselines[stack.name]
    assert result.mandatory == [], "\n".join(
        f"{v.policy} on {v.type} {v.name}: {v.message}" for v in result.mandatory)
    assert result.exit_code == 0


def test_org_examples_are_what_the_mode_rules_expect(
        org_baselines: dict[str, PreviewResult]) -> None:
    """The graphs really differ per mode: the member declares no detector/hub (the
    delegated administrator enables them), the management stack only admins and trail."""
    member = {n.type for n in org_baselines[MEMBER.name].resources}
    management = {n.type for n in org_baselines[MANAGEMENT.name].resources}
    assert "ir-readiness:index:MemberBaseline" in member
    assert "aws:guardduty/detector:Detector" not in member
    assert "aws:securityhub/account:Account" not in member
    assert "aws:guardduty/organizationAdminAccount:OrganizationAdminAccount" in management
    assert "aws:ssm/parameter:Parameter" not in management
    trails = [n for n in org_baselines[MANAGEMENT.name].resources
              if n.type == "aws:cloudtrail/trail:Trail"]
    assert trails and trails[0].inputs["isOrganizationTrail"] is True
    # the trail's CloudWatch Logs delivery is there (cloudtrail-cloudwatch-logs passes)
    assert trails[0].inputs["cloudWatchLogsGroupArn"].endswith(":*")


# --------------------------------------------------------------------------- seeds


@dataclass(frozen=True)
class OrgSeed:
    rule: str
    type: str
    pick: Callable[[str], bool]
    mutate: Callable[[Props], None]
    mentions: str


def _to(key: str, value: Any) -> Callable[[Props], None]:
    def mutate(props: Props) -> None:
        props[key] = value
    return mutate


MANAGEMENT_SEEDS = [
    # a careless edit: the us-east-1 registration is made in eu-west-1 (v7 `region` input)
    OrgSeed("guardduty-detector-per-region",
            "aws:guardduty/organizationAdminAccount:OrganizationAdminAccount",
            lambda name: name.endswith("us-east-1"), _to("region", "eu-west-1"),
            "region us-east-1 has no GuardDuty delegated administrator"),
    OrgSeed("securityhub-per-region",
            "aws:securityhub/organizationAdminAccount:OrganizationAdminAccount",
            lambda name: name.endswith("us-east-1"), _to("adminAccountId", "333333333333"),
            "several administrators"),
    OrgSeed("organization-trail", "aws:cloudtrail/trail:Trail",
            lambda name: True, _to("isOrganizationTrail", False),
            "declares no organization trail"),
    # CIS 1.17 in the management account too: its support role loses AWSSupportAccess
    OrgSeed("support-role-present", "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
            lambda name: name.endswith("support-support-access"),
            _to("policyArn", "arn:aws:iam::aws:policy/ReadOnlyAccess"),
            "no role with AWSSupportAccess"),
]
MEMBER_SEEDS = [
    # findings in eu-west-1 go nowhere: every target there delivers to a Lambda instead
    OrgSeed("findings-routed-per-region", "aws:cloudwatch/eventTarget:EventTarget",
            lambda name: "eu-west-1" in name,
            _to("arn", "arn:aws:lambda:eu-west-1:111111111111:function:nowhere"),
            "region eu-west-1 has no EventBridge rule routing aws.guardduty"),
    OrgSeed("readiness-manifest-per-region", "aws:ssm/parameter:Parameter",
            lambda name: "eu-west-1" in name, _to("name", "/somewhere/else"),
            "region eu-west-1 has no /ir-readiness/manifest"),
    # us-east-1 forwards to the member's own default bus (the mocks' account), which
    # reaches nobody in the security account
    OrgSeed("findings-routed-per-region", "aws:cloudwatch/eventTarget:EventTarget",
            lambda name: "forward-us-east-1" in name,
            _to("arn", "arn:aws:events:us-east-1:123456789012:event-bus/default"),
            "a bus in the member account itself (123456789012)"),
    # the member's support role is trusted by a service instead of the responders
    OrgSeed("support-role-present", "aws:iam/role:Role",
            lambda name: name.endswith("support-role"),
            _to("assumeRolePolicy", '{"Version": "2012-10-17", "Statement": [{"Effect": '
                '"Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": '
                '"sts:AssumeRole"}]}'),
            "no IAM principal may assume it"),
]
SECURITY_SEEDS = [
    # us-east-1 auto-enables GuardDuty only for accounts that join from now on
    OrgSeed("guardduty-organization-auto-enable",
            "aws:guardduty/organizationConfiguration:OrganizationConfiguration",
            lambda name: name.endswith("us-east-1"), _to("autoEnableOrganizationMembers", "NEW"),
            "region us-east-1 has no GuardDuty organization configuration auto-enabling ALL"),
    # S3 protection in us-east-1 only for new accounts
    OrgSeed("guardduty-organization-features",
            "aws:guardduty/organizationConfigurationFeature:OrganizationConfigurationFeature",
            lambda name: name.endswith("us-east-1-s3-data-events"), _to("autoEnable", "NEW"),
            "region us-east-1 does not auto-enable these GuardDuty protection plans for ALL "
            "member accounts: S3_DATA_EVENTS"),
    # central configuration swapped for LOCAL without auto-enable
    OrgSeed("securityhub-organization-configuration",
            "aws:securityhub/organizationConfiguration:OrganizationConfiguration",
            lambda name: True, _to("organizationConfiguration", {"configurationType": "LOCAL"}),
            "region us-east-1: Security Hub is not enabled for member accounts"),
]
#: rules whose org-mode behaviour is seeded here (test_policy_preview checks coverage)
ORG_SEEDED_RULES = frozenset(s.rule for s in MANAGEMENT_SEEDS + MEMBER_SEEDS + SECURITY_SEEDS)


def _seeded_program(seeds: list[OrgSeed], touched: dict[str, list[str]]) -> Callable[[], None]:
    def transformation(args: pulumi.ResourceTransformationArgs) -> Any:
        if not isinstance(args.props, dict):
            return None
        for seed in seeds:
            if args.type_ == seed.type and seed.pick(args.name):
                seed.mutate(args.props)
                touched.setdefault(seed.rule, []).append(args.name)
        return pulumi.ResourceTransformationResult(args.props, args.opts)

    def program() -> None:
        pulumi.runtime.register_stack_transformation(transformation)
        runpy.run_path(str(PROGRAM), run_name="__pulumi_program__")

    return program


@pytest.fixture(scope="module")
def seeded(pack_process: PolicyPackProcess, shipped_config: dict[str, Any],
           ) -> dict[str, tuple[PreviewResult, dict[str, list[str]]]]:
    out = {}
    for stack, seeds in ((MANAGEMENT, MANAGEMENT_SEEDS), (MEMBER, MEMBER_SEEDS),
                         (SECURITY, SECURITY_SEEDS)):
        touched: dict[str, list[str]] = {}
        result = run_preview(stack, pack=pack_process, policy_config=shipped_config,
                             program=_seeded_program(seeds, touched))
        out[stack.name] = (result, touched)
    return out


@pytest.mark.parametrize(
    ("stack", "seed"),
    [(MANAGEMENT, s) for s in MANAGEMENT_SEEDS] + [(MEMBER, s) for s in MEMBER_SEEDS]
    + [(SECURITY, s) for s in SECURITY_SEEDS],
    ids=lambda v: getattr(v, "rule", getattr(v, "name", "")))
def test_seeded_org_misconfiguration_is_caught(
        stack: Any, seed: OrgSeed, seeded: dict[str, tuple[PreviewResult, dict]],
        org_baselines: dict[str, PreviewResult]) -> None:
    result, touched = seeded[stack.name]
    assert touched.get(seed.rule), f"the program declares no {seed.type} for this seed"
    assert not [v for v in org_baselines[stack.name].violations if v.policy == seed.rule]
    caught = [v for v in result.mandatory
              if v.policy == seed.rule and seed.mentions in v.message]
    assert caught, (f"{seed.rule} missed the seed; got "
                    f"{[v.message for v in result.violations if v.policy == seed.rule]}")
    assert result.exit_code == 1


# --------------------------------------------------------------------------- detection


def test_config_overrides_detection(pack_process: PolicyPackProcess,
                                    shipped_config: dict[str, Any]) -> None:
    """`organizationMode: single` on a member stack: the detector and hub are required of
    the stack again (so a mis-detected graph can be corrected by config)."""
    config = {**shipped_config,
              "guardduty-detector-per-region": {"organizationMode": "single"},
              "securityhub-per-region": {"organizationMode": "single"}}
    result = run_preview(MEMBER, pack=pack_process, policy_config=config)
    failing = {v.policy for v in result.mandatory}
    assert failing == {"guardduty-detector-per-region", "securityhub-per-region"}


MEMBER_COMPONENT = res("ir-readiness:index:MemberBaseline", "member", {})


def test_member_mode_reports_a_disabled_detector(pack: PolicyPackProcess) -> None:
    detector = res("aws:guardduty/detector:Detector", "d", {"enable": False}, "eu-west-1")
    found = violations(pack, [MEMBER_COMPONENT, detector], "guardduty-detector-per-region")
    assert [d.urn for d in found] == [detector.urn]
    assert "disables the detector the delegated administrator enabled" in found[0].message
    # without the component the same graph is single mode: the region lacks a detector
    single = violations(pack, [detector], "guardduty-detector-per-region")
    assert single and all(not d.urn for d in single)
    assert "has no enabled GuardDuty detector" in single[0].message


def test_member_forwarding_to_a_bus_counts_as_routed(pack: PolicyPackProcess) -> None:
    bus = "arn:aws:events:eu-west-1:222222222222:event-bus/ir-readiness-org"
    rule = res("aws:cloudwatch/eventRule:EventRule", "r",
               {"name": "r", "eventPattern": '{"source": ["aws.guardduty", "aws.securityhub"]}'},
               "eu-west-1")
    target = res("aws:cloudwatch/eventTarget:EventTarget", "t", {"rule": "r", "arn": bus},
                 "eu-west-1")
    policy = "findings-routed-per-region"
    assert violations(pack, [MEMBER_COMPONENT, rule, target], policy) == []
    assert violations(pack, [rule, target], policy), "single mode needs SNS by default"


def test_organization_trail_is_only_required_of_management_stacks(
        pack: PolicyPackProcess) -> None:
    admin = res("aws:guardduty/organizationAdminAccount:OrganizationAdminAccount", "a",
                {"adminAccountId": "222222222222"}, "eu-west-1")
    found = violations(pack, [admin], "organization-trail")
    assert found and "declares no organization trail" in found[0].message
    assert violations(pack, [MEMBER_COMPONENT], "organization-trail") == []
    single_trail = res("aws:cloudtrail/trail:Trail", "t", {"isMultiRegionTrail": True},
                       "eu-west-1")
    assert violations(pack, [single_trail], "organization-trail") == []
    org_trail = res("aws:cloudtrail/trail:Trail", "o",
                    {"isOrganizationTrail": True, "isMultiRegionTrail": False}, "eu-west-1")
    found = violations(pack, [admin, org_trail], "organization-trail")
    assert [d.urn for d in found] == [org_trail.urn]


def test_an_organization_trail_next_to_detectors_is_not_a_management_stack(
        pack: PolicyPackProcess) -> None:
    """A delegated CloudTrail administrator (security account) may own the organization
    trail; with its own detector and hub it is checked as single/security, not excused
    from the per-region rules."""
    org_trail = res("aws:cloudtrail/trail:Trail", "o",
                    {"isOrganizationTrail": True, "isMultiRegionTrail": True}, "eu-west-1")
    detector = res("aws:guardduty/detector:Detector", "d", {"enable": True}, "eu-west-1")
    hub = res("aws:securityhub/account:Account", "h", {}, "eu-west-1")
    # alone: management, so the manifest is not required and the admins are
    assert violations(pack, [org_trail], "readiness-manifest-per-region") == []
    assert violations(pack, [org_trail], "guardduty-detector-per-region")
    # with its own detector and hub: single/security, the manifest is required
    assert violations(pack, [org_trail, detector, hub], "readiness-manifest-per-region")
    assert violations(pack, [org_trail, detector, hub], "guardduty-detector-per-region") == []


def test_preview_graph_keeps_given_arns_and_property_dependencies(
        org_baselines: dict[str, PreviewResult]) -> None:
    """What AnalyzeStack receives for the member stack: forwarding targets keep the security
    bus ARN the program gave (the mocks used to replace it with an invented one), and
    targets fed by a topic carry the property dependency on it."""
    nodes = org_baselines[MEMBER.name].resources
    by_urn = {n.urn: n for n in nodes}
    targets = [n for n in nodes if n.type == "aws:cloudwatch/eventTarget:EventTarget"]
    forwards = [t for t in targets if ":event-bus/" in str(t.inputs.get("arn"))]
    assert forwards
    assert all(t.outputs["arn"] == t.inputs["arn"] for t in forwards)
    fed = [t for t in targets if t.property_dependencies.get("arn")]
    assert fed
    for target in fed:
        topics = [by_urn[u] for u in target.property_dependencies["arn"]]
        assert {t.type for t in topics} == {"aws:sns/topic:Topic"}
        assert set(target.property_dependencies["arn"]) <= set(target.dependencies)


def test_member_routing_checks_the_configured_security_account(
        pack_process: PolicyPackProcess, shipped_config: dict[str, Any]) -> None:
    """`securityAccountId` on findings-routed-per-region: the member example forwards to
    222222222222's bus, so naming that account passes and naming another fails for every
    forwarding target, through the real preview."""
    rule = "findings-routed-per-region"
    right = {**shipped_config, rule: {"securityAccountId": "222222222222"}}
    assert run_preview(MEMBER, pack=pack_process, policy_config=right).mandatory == []
    wrong = {**shipped_config, rule: {"securityAccountId": "444444444444"}}
    result = run_preview(MEMBER, pack=pack_process, policy_config=wrong)
    caught = [v for v in result.mandatory if v.policy == rule
              and "not the security account 444444444444" in v.message]
    assert caught and result.exit_code == 1
