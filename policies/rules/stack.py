"""Stack-level readiness: every covered region has what a responder reaches for first.

Organization mode. In an AWS Organization readiness is spread over accounts, so what a
stack must declare depends on the account it is for (`ir:organization.mode`):

- ``single`` / ``security``: the stack itself enables GuardDuty and Security Hub, holds
  the manifest and routes findings to SNS in every covered region. ``security`` (the
  delegated administrator) must also auto-enable GuardDuty (ALL accounts), the required
  protection plans and Security Hub for the members, in every covered region: that is
  what excuses member stacks from declaring them.
- ``member``: GuardDuty and Security Hub are enabled by the delegated administrator's
  auto-enable, so the stack declares neither (a declared detector must still not be
  disabled); findings forwarded to an event bus count as routed only when the bus is
  outside the member's own account (not a bus the stack declares, not in the account of
  the target's role or of the manifest) and, when `securityAccountId` is configured, in
  that account; the manifest is still required (irctl --account reads it).
- ``management``: the stack holds the organization trail and the delegated-admin
  registrations: a GuardDuty and a Security Hub OrganizationAdminAccount in every
  covered region, all naming the same account, and an organization trail
  (`organization-trail`); no manifest or routing (no responder acts there).

The pack tells the mode from the resource graph, so `pulumi preview --policy-pack`
needs no per-account policy config: a `ir-readiness:index:MemberBaseline` component
means member; an `ir-readiness:index:OrganizationTrail` component, a GuardDuty or
Security Hub OrganizationAdminAccount (only the management account can register one), or
an organization trail in a stack that enables no detector/hub itself means management;
an `ir-readiness:index:DelegatedSecurityAdmin` component or a GuardDuty / Security Hub
organization configuration means security; anything else is checked as single.
Detection reads what the program declares, so it cannot drift from the program the way
a separate config file can. Stacks written without our components (or a graph that
would be mis-detected) set the documented policy config key `organizationMode` on these
rules, which overrides detection.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import Severity

from ._util import Findings, StackIndex, as_list, describe, known, parse_document, stack_rule
from .guardduty import EQUIVALENT, REQUIRED_FEATURES

AREA = "stack"
PARAMETER = "aws:ssm/parameter:Parameter"
DETECTOR = "aws:guardduty/detector:Detector"
HUB = "aws:securityhub/account:Account"
RULE = "aws:cloudwatch/eventRule:EventRule"
TARGET = "aws:cloudwatch/eventTarget:EventTarget"
TOPIC = "aws:sns/topic:Topic"
FINDING_SOURCES = ("aws.guardduty", "aws.securityhub")
TARGET_NAMES = {"sns": "SNS", "events": "an event bus", "sqs": "SQS", "lambda": "Lambda"}

GD_ADMIN = "aws:guardduty/organizationAdminAccount:OrganizationAdminAccount"
HUB_ADMIN = "aws:securityhub/organizationAdminAccount:OrganizationAdminAccount"
TRAIL = "aws:cloudtrail/trail:Trail"
MEMBER_COMPONENT = "ir-readiness:index:MemberBaseline"
ORG_TRAIL_COMPONENT = "ir-readiness:index:OrganizationTrail"
ADMIN_COMPONENT = "ir-readiness:index:DelegatedSecurityAdmin"
EVENT_BUS = "aws:cloudwatch/eventBus:EventBus"
GD_ORG_CONFIG = "aws:guardduty/organizationConfiguration:OrganizationConfiguration"
GD_ORG_FEATURE = ("aws:guardduty/organizationConfigurationFeature:"
                  "OrganizationConfigurationFeature")
HUB_ORG_CONFIG = "aws:securityhub/organizationConfiguration:OrganizationConfiguration"
HUB_POLICY = "aws:securityhub/configurationPolicy:ConfigurationPolicy"
HUB_ASSOCIATION = "aws:securityhub/configurationPolicyAssociation:ConfigurationPolicyAssociation"
HUB_AGGREGATOR = "aws:securityhub/findingAggregator:FindingAggregator"
#: what only the delegated administrator (security account) can declare
SECURITY_TYPES = (GD_ORG_CONFIG, GD_ORG_FEATURE, HUB_ORG_CONFIG)
MODES = ("single", "security", "management", "member")

REGIONS: dict[str, dict[str, Any]] = {
    "regions": {"type": "array", "items": {"type": "string"}, "default": [],
                "description": "Covered regions. Empty: every region the stack "
                               "declares an AWS resource in."},
    "organizationMode": {
        "type": "string", "enum": ["auto", *MODES], "default": "auto",
        "description": "The account's role in an AWS Organization (ir:organization.mode). "
                       "auto: detected from the resource graph (MemberBaseline component: "
                       "member; OrganizationTrail component, organization admin accounts "
                       "or an organization trail: management; DelegatedSecurityAdmin "
                       "component or GuardDuty/Security Hub organization configuration: "
                       "security; else single)."},
}


def organization_mode(index: StackIndex, config: Mapping[str, Any]) -> str:
    """The stack's organization mode: the `organizationMode` config, else detected."""
    given = str(config.get("organizationMode") or "auto")
    if given != "auto":
        return given
    if index.of_type(MEMBER_COMPONENT):
        return "member"
    if index.of_type(ORG_TRAIL_COMPONENT, GD_ADMIN, HUB_ADMIN):
        return "management"
    # the delegated administrator: organization configuration resources, or our component
    # (then a missing organization configuration is reported, not a reason for single)
    if index.of_type(ADMIN_COMPONENT, *SECURITY_TYPES):
        return "security"
    # An organization trail alone: management, unless the stack enables the services
    # itself (a delegated CloudTrail administrator's security stack is checked as such).
    if (any(t.props.get("isOrganizationTrail") is True for t in index.of_type(TRAIL))
            and not index.of_type(DETECTOR, HUB)):
        return "management"
    return "single"


def _admin_accounts(index: StackIndex, admin_type: str, service: str,
                    regions: list[str]) -> Findings:
    """Management stacks: a delegated administrator for `service` in every covered region,
    the same account everywhere (findings of one region must not go to another admin)."""
    admins = index.of_type(admin_type)
    found = {index.region(a) for a in admins}
    for region in regions:
        if region not in found:
            yield (f"region {region} has no {service} delegated administrator "
                   f"({admin_type.rsplit(':', 1)[-1]}); member accounts there are not "
                   "auto-enabled"), None
    accounts = {str(known(a.props, "adminAccountId")) for a in admins
                if known(a.props, "adminAccountId")}
    if len(accounts) > 1:
        for admin in admins:
            yield (f"{describe(admin)} in {index.region(admin)} delegates {service} to "
                   f"{known(admin.props, 'adminAccountId')}; the stack names several "
                   f"administrators ({', '.join(sorted(accounts))})"), admin.urn


@stack_rule(
    name="readiness-manifest-per-region", area=AREA, severity=Severity.HIGH, mandatory=True,
    description="Each covered region must have the readiness manifest SSM parameter the "
                "runbooks discover resources from.",
    remediation="Add a ReadinessManifest (aws.ssm.Parameter named /ir-readiness/manifest) in "
                "every covered region.",
    config={**REGIONS, "parameterName": {"type": "string", "default": "/ir-readiness/manifest",
                                         "description": "Name of the manifest parameter."}},
)
def manifest_per_region(index: StackIndex, config: Mapping[str, Any]) -> Findings:
    """Every mode but management (whose stack holds no responder resources)."""
    if organization_mode(index, config) == "management":
        return
    manifests = [p for p in index.of_type(PARAMETER)
                 if known(p.props, "name") == config["parameterName"]]
    found = {index.region(p) for p in manifests}
    for region in index.covered_regions(as_list(config["regions"])):
        if region not in found:
            yield f"region {region} has no {config['parameterName']} parameter", None
    for parameter in manifests:
        # the document is unknown in a real preview; under mocks (and after deployment
        # of its inputs) it can be read: a manifest for another region misleads irctl
        doc = parse_document(known(parameter.props, "value"))
        if doc is None:
            continue
        own = index.region(parameter)
        if doc.get("version") != 1:
            yield (f"{describe(parameter)} holds manifest version {doc.get('version')!r}, "
                   "not 1"), parameter.urn
        if doc.get("region") != own:
            yield (f"{describe(parameter)} in {own} describes region "
                   f"{doc.get('region')!r}"), parameter.urn


@stack_rule(
    name="guardduty-detector-per-region", area=AREA, severity=Severity.CRITICAL, mandatory=True,
    description="Each covered region must have an enabled GuardDuty detector: declared by "
                "the stack (single/security), auto-enabled by the delegated administrator "
                "(member: a declared detector must not be disabled), or, for a management "
                "stack, a GuardDuty delegated administrator in every covered region.",
    remediation="Add a ThreatDetection (aws.guardduty.Detector, enable=True) per covered region, "
                "through a provider for that region; in a management stack, a "
                "DelegatedSecurityAdmin (aws.guardduty.OrganizationAdminAccount) per region.",
    config=REGIONS,
)
def detector_per_region(index: StackIndex, config: Mapping[str, Any]) -> Findings:
    """Mode-aware (see the module docstring)."""
    mode = organization_mode(index, config)
    regions = index.covered_regions(as_list(config["regions"]))
    if mode == "management":
        yield from _admin_accounts(index, GD_ADMIN, "GuardDuty", regions)
        return
    if mode == "member":
        for detector in index.of_type(DETECTOR):
            if detector.props.get("enable") is False:
                yield (f"{describe(detector)} in {index.region(detector)} disables the "
                       "detector the delegated administrator enabled"), detector.urn
        return
    found = {index.region(d) for d in index.of_type(DETECTOR)
             if d.props.get("enable") is not False}
    for region in regions:
        if region not in found:
            yield f"region {region} has no enabled GuardDuty detector", None


@stack_rule(
    name="securityhub-per-region", area=AREA, severity=Severity.HIGH, mandatory=True,
    description="Each covered region must have Security Hub enabled: by the stack "
                "(single/security), by the delegated administrator (member), or, for a "
                "management stack, through a Security Hub delegated administrator in every "
                "covered region.",
    remediation="Add a SecurityFindings (aws.securityhub.Account) per covered region; in a "
                "management stack, a DelegatedSecurityAdmin "
                "(aws.securityhub.OrganizationAdminAccount) per region.",
    config=REGIONS,
)
def hub_per_region(index: StackIndex, config: Mapping[str, Any]) -> Findings:
    """Mode-aware (see the module docstring)."""
    mode = organization_mode(index, config)
    regions = index.covered_regions(as_list(config["regions"]))
    if mode == "management":
        yield from _admin_accounts(index, HUB_ADMIN, "Security Hub", regions)
        return
    if mode == "member":
        return
    found = {index.region(h) for h in index.of_type(HUB)}
    for region in regions:
        if region not in found:
            yield f"region {region} has no Security Hub account", None


def _sources(pattern: Any) -> set[str]:
    doc = parse_document(pattern)
    return {str(s) for s in as_list(doc.get("source"))} if doc else set()


def _arn_service(arn: str) -> str:
    parts = arn.split(":")
    return parts[2] if len(parts) > 2 and parts[0] == "arn" else ""


def _arn_account(arn: str) -> str:
    parts = arn.split(":")
    return parts[4] if len(parts) > 5 and parts[0] == "arn" else ""


def _own_accounts(index: StackIndex) -> set[str]:
    """Accounts the graph shows the stack itself deploys into: the account of each event
    target's role (EventBridge needs the role in the rule's own account) and the
    `accountId` of each readiness manifest. Either may be unknown in a real preview."""
    own: set[str] = set()
    for target in index.of_type(TARGET):
        account = _arn_account(str(known(target.props, "roleArn") or ""))
        if account:
            own.add(account)
    for parameter in index.of_type(PARAMETER):
        doc = parse_document(known(parameter.props, "value"))
        if doc and isinstance(doc.get("accountId"), str) and doc["accountId"]:
            own.add(doc["accountId"])
    return own


def _foreign_bus(index: StackIndex, target: Any, arn: str, own: set[str],
                 security: str) -> str | None:
    """Member mode: why an event-bus target does not forward to the security account's bus
    (None when it does, as far as the graph can tell)."""
    if index.references(target, "arn", index.of_type(EVENT_BUS), ("arn",)):
        return "an event bus this stack declares (in the member account itself)"
    account = _arn_account(arn)
    if not account:
        return f"{arn!r}, an event bus ARN without an account"
    if account in own:
        return f"{arn!r}, a bus in the member account itself ({account})"
    if security and account != security:
        return f"{arn!r}, a bus in account {account}, not the security account {security}"
    return None


@stack_rule(
    name="findings-routed-per-region", area=AREA, severity=Severity.HIGH, mandatory=True,
    description="Each covered region must route GuardDuty and Security Hub findings to an SNS "
                "topic through EventBridge rules (member stacks: forwarding them to the "
                "security account's event bus counts, never a bus in the member's own "
                "account; management stacks route nothing).",
    remediation="Add AlertRouting (aws.cloudwatch.EventRule with source aws.guardduty / "
                "aws.securityhub and an EventTarget whose arn is an SNS topic) per region; in "
                "a member stack, target the security account's bus (MemberBaseline).",
    config={**REGIONS, "targetServices": {
        "type": "array", "items": {"type": "string", "enum": ["sns", "events", "sqs", "lambda"]},
        "minItems": 1, "uniqueItems": True, "default": ["sns"],
        "description": "Services a findings rule's target may be: an SNS topic by default; add "
                       "'events' where member accounts forward findings to a central security "
                       "event bus."},
        "securityAccountId": {
            "type": "string", "pattern": "^([0-9]{12})?$", "default": "",
            "description": "Member stacks: the security account (ir:organization."
                           "securityAccountId) whose event bus forwarding must reach. Empty: "
                           "any bus outside the member's own account counts."}},
)
def findings_routed(index: StackIndex, config: Mapping[str, Any]) -> Findings:
    """Mode-aware (see the module docstring)."""
    mode = organization_mode(index, config)
    if mode == "management":
        return
    rules = index.of_type(RULE)
    topics = index.of_type(TOPIC)
    services = {str(s) for s in as_list(config["targetServices"])}
    if mode == "member":
        services.add("events")
    own = _own_accounts(index) if mode == "member" else set()
    security = str(config.get("securityAccountId") or "")
    routed: set[tuple[str | None, str]] = set()
    for target in index.of_type(TARGET):
        arn = str(known(target.props, "arn") or "")
        delivers = ("sns" in services and bool(index.references(target, "arn", topics, ("arn",)))
                    or _arn_service(arn) in services)
        if not delivers:
            continue
        sources = {source for rule in index.references(target, "rule", rules, ("name",))
                   for source in _sources(rule.props.get("eventPattern")) & set(FINDING_SOURCES)}
        if mode == "member" and _arn_service(arn) == "events":
            why = _foreign_bus(index, target, arn, own, security)
            if why is not None:
                if sources:
                    yield (f"{describe(target)} forwards {', '.join(sorted(sources))} "
                           f"findings to {why}; it does not count as routed"), target.urn
                continue
        for rule in index.references(target, "rule", rules, ("name",)):
            for source in _sources(rule.props.get("eventPattern")) & set(FINDING_SOURCES):
                routed.add((index.region(rule), source))
    wanted = " or ".join(TARGET_NAMES[s] for s in sorted(services))
    if mode == "member":
        wanted = wanted.replace("an event bus", "the security account's event bus")
    for region in index.covered_regions(as_list(config["regions"])):
        for source in FINDING_SOURCES:
            if (region, source) not in routed:
                yield (f"region {region} has no EventBridge rule routing {source} findings "
                       f"to {wanted}"), None


@stack_rule(
    name="organization-trail", area=AREA, severity=Severity.CRITICAL, mandatory=True,
    description="A management stack (organization mode) must declare an organization trail: "
                "isOrganizationTrail, multi-region, logging. Its other invariants (log file "
                "validation, KMS, CloudWatch Logs, global service events) are the "
                "cloudtrail-* rules, which check it like every trail. Other modes: no check.",
    remediation="Add an OrganizationTrail (aws.cloudtrail.Trail with is_organization_trail=True, "
                "is_multi_region_trail=True) to the management account's stack.",
    config={"organizationMode": REGIONS["organizationMode"]},
)
def organization_trail(index: StackIndex, config: Mapping[str, Any]) -> Findings:
    """Only in management mode (detected or configured, see the module docstring)."""
    if organization_mode(index, config) != "management":
        return
    trails = [t for t in index.of_type(TRAIL) if t.props.get("isOrganizationTrail") is True]
    if not trails:
        yield ("the management stack declares no organization trail "
               "(is_organization_trail=True): member accounts' activity is not recorded"), None
        return
    if not any(t.props.get("isMultiRegionTrail") is True
               and t.props.get("enableLogging") is not False for t in trails):
        for trail in trails:
            yield (f"{describe(trail)} is an organization trail but not a logging, "
                   "multi-region one"), trail.urn


# --------------------------------------------------------------------------- security mode
#
# Member stacks are excused from declaring a detector and a hub because the delegated
# administrator auto-enables them; these rules make that excuse sound. All mandatory: a
# member account without GuardDuty, without the protection plans the single-account rules
# require (guardduty-required-features is mandatory), or without Security Hub is exactly
# the account an incident starts in and nobody sees.


def _security_regions(index: StackIndex, config: Mapping[str, Any]) -> list[str] | None:
    """Covered regions when the stack is a delegated administrator's, else None."""
    if organization_mode(index, config) != "security":
        return None
    return index.covered_regions(as_list(config["regions"]))


@stack_rule(
    name="guardduty-organization-auto-enable", area="guardduty", severity=Severity.CRITICAL,
    mandatory=True,
    description="A security (delegated administrator) stack must auto-enable GuardDuty for "
                "ALL member accounts, current and future, in every covered region "
                "(OrganizationConfiguration auto_enable_organization_members='ALL'; NEW "
                "leaves existing accounts out, NONE everyone). Other modes: no check.",
    remediation="Add a DelegatedSecurityAdmin (side='security'): an "
                "aws.guardduty.OrganizationConfiguration(detector_id=<that region's detector>, "
                "auto_enable_organization_members='ALL') per covered region.",
    config=REGIONS,
)
def guardduty_org_auto_enable(index: StackIndex, config: Mapping[str, Any]) -> Findings:
    regions = _security_regions(index, config)
    if regions is None:
        return
    configs = index.of_type(GD_ORG_CONFIG)
    good = {index.region(c) for c in configs
            if known(c.props, "autoEnableOrganizationMembers") == "ALL"}
    for cfg in configs:
        value = known(cfg.props, "autoEnableOrganizationMembers")
        if value is not None and value != "ALL":
            yield (f"{describe(cfg)} in {index.region(cfg)} auto-enables {value!r} member "
                   "accounts, not 'ALL'"), cfg.urn
    for region in regions:
        if region not in good:
            yield (f"region {region} has no GuardDuty organization configuration "
                   "auto-enabling ALL member accounts: new and existing accounts there get "
                   "no detector"), None


@stack_rule(
    name="guardduty-organization-features", area="guardduty", severity=Severity.HIGH,
    mandatory=True,
    description="A security (delegated administrator) stack must auto-enable the required "
                "GuardDuty protection plans for ALL member accounts in every covered region "
                "(one OrganizationConfigurationFeature with auto_enable='ALL' per plan; the "
                "same plans guardduty-required-features demands of a detector). Other "
                "modes: no check.",
    remediation="Add aws.guardduty.OrganizationConfigurationFeature(detector_id=..., "
                "name=<feature>, auto_enable='ALL') for each missing plan in each region "
                "(DelegatedSecurityAdmin guardduty_features).",
    config={**REGIONS, "requiredFeatures": {
        "type": "array", "items": {"type": "string"}, "uniqueItems": True,
        "default": list(REQUIRED_FEATURES),
        "description": "Feature names that must be auto-enabled (ALL) for members in every "
                       "covered region; keep equal to guardduty-required-features."}},
)
def guardduty_org_features(index: StackIndex, config: Mapping[str, Any]) -> Findings:
    regions = _security_regions(index, config)
    if regions is None:
        return
    enabled: dict[str | None, set[str]] = {}
    for feature in index.of_type(GD_ORG_FEATURE):
        if known(feature.props, "autoEnable") == "ALL":
            enabled.setdefault(index.region(feature), set()).add(
                str(known(feature.props, "name")))
    required = [str(f) for f in as_list(config["requiredFeatures"])]
    for region in regions:
        have = enabled.get(region, set())
        missing = [f for f in required if not (EQUIVALENT.get(f, {f}) & have)]
        if missing:
            yield (f"region {region} does not auto-enable these GuardDuty protection plans "
                   f"for ALL member accounts: {', '.join(missing)}"), None


def _aggregated(index: StackIndex, home: str | None, regions: list[str]) -> set[str]:
    """Regions a finding aggregator in `home` links (central configuration covers them)."""
    out: set[str] = set()
    for agg in index.of_type(HUB_AGGREGATOR):
        if index.region(agg) != home:
            continue
        mode = known(agg.props, "linkingMode")
        listed = {str(r) for r in as_list(known(agg.props, "specifiedRegions"))}
        if mode == "ALL_REGIONS":
            out |= set(regions)
        elif mode == "ALL_REGIONS_EXCEPT_SPECIFIED":
            out |= set(regions) - listed
        elif mode == "SPECIFIED_REGIONS":
            out |= listed
    return out


@stack_rule(
    name="securityhub-organization-configuration", area="securityhub",
    severity=Severity.HIGH, mandatory=True,
    description="A security (delegated administrator) stack must enable Security Hub for "
                "member accounts in every covered region: central configuration "
                "(configuration_type CENTRAL, a ConfigurationPolicy with service_enabled "
                "associated with a target, covering the home region and the regions its "
                "finding aggregator links) or, in LOCAL mode, auto_enable=True per region. "
                "Other modes: no check.",
    remediation="Add a DelegatedSecurityAdmin (side='security'): "
                "aws.securityhub.OrganizationConfiguration(configuration_type='CENTRAL') in "
                "the home region, a ConfigurationPolicy(service_enabled=True) associated with "
                "the organization root, and a FindingAggregator linking every covered region.",
    config=REGIONS,
)
def hub_org_configuration(index: StackIndex, config: Mapping[str, Any]) -> Findings:
    regions = _security_regions(index, config)
    if regions is None:
        return
    covered: set[str | None] = set()
    policies = [p for p in index.of_type(HUB_POLICY)
                if isinstance(known(p.props, "configurationPolicy"), Mapping)
                and known(p.props, "configurationPolicy").get("serviceEnabled") is True]
    associated = [p for p in policies
                  if any(index.references(a, "policyId", [p], ("id",))
                         for a in index.of_type(HUB_ASSOCIATION))]
    for cfg in index.of_type(HUB_ORG_CONFIG):
        region = index.region(cfg)
        org = known(cfg.props, "organizationConfiguration")
        kind = org.get("configurationType") if isinstance(org, Mapping) else None
        if kind == "CENTRAL":
            if not associated:
                yield (f"{describe(cfg)} turns on central configuration but no "
                       "ConfigurationPolicy with service_enabled=True is associated with a "
                       "target: member accounts get no Security Hub"), cfg.urn
                continue
            covered.add(region)
            covered |= _aggregated(index, region, regions)
        elif known(cfg.props, "autoEnable") is True:
            covered.add(region)
    for region in regions:
        if region not in covered:
            yield (f"region {region}: Security Hub is not enabled for member accounts (no "
                   "organization configuration with auto-enable, nor central configuration "
                   "covering the region)"), None
