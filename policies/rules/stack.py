"""Stack-level readiness: every covered region has what a responder reaches for first.

Organization mode. In an AWS Organization readiness is spread over accounts, so what a
stack must declare depends on the account it is for (`ir:organization.mode`):

- ``single`` / ``security``: the stack itself enables GuardDuty and Security Hub, holds
  the manifest and routes findings to SNS in every covered region.
- ``member``: GuardDuty and Security Hub are enabled by the delegated administrator's
  auto-enable, so the stack declares neither (a declared detector must still not be
  disabled); findings forwarded to an event bus (the security account's) count as
  routed; the manifest is still required (irctl --account reads it).
- ``management``: the stack holds the organization trail and the delegated-admin
  registrations: a GuardDuty and a Security Hub OrganizationAdminAccount in every
  covered region, all naming the same account, and an organization trail
  (`organization-trail`); no manifest or routing (no responder acts there).

The pack tells the mode from the resource graph, so `pulumi preview --policy-pack`
needs no per-account policy config: a `ir-readiness:index:MemberBaseline` component
means member; an `ir-readiness:index:OrganizationTrail` component, a GuardDuty or
Security Hub OrganizationAdminAccount (only the management account can register one), or
an organization trail in a stack that enables no detector/hub itself means management;
anything else is checked as single/security. Detection reads what the program declares,
so it cannot drift from the program the way a separate config file can. Stacks written
without our components (or a graph that would be mis-detected) set the documented
policy config key `organizationMode` on these rules, which overrides detection.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import Severity

from ._util import Findings, StackIndex, as_list, describe, known, parse_document, stack_rule

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
                       "or an organization trail: management; else single)."},
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


@stack_rule(
    name="findings-routed-per-region", area=AREA, severity=Severity.HIGH, mandatory=True,
    description="Each covered region must route GuardDuty and Security Hub findings to an SNS "
                "topic through EventBridge rules (member stacks: forwarding them to an event "
                "bus, the security account's, counts; management stacks route nothing).",
    remediation="Add AlertRouting (aws.cloudwatch.EventRule with source aws.guardduty / "
                "aws.securityhub and an EventTarget whose arn is an SNS topic) per region.",
    config={**REGIONS, "targetServices": {
        "type": "array", "items": {"type": "string", "enum": ["sns", "events", "sqs", "lambda"]},
        "minItems": 1, "uniqueItems": True, "default": ["sns"],
        "description": "Services a findings rule's target may be: an SNS topic by default; add "
                       "'events' where member accounts forward findings to a central security "
                       "event bus."}},
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
    routed: set[tuple[str | None, str]] = set()
    for target in index.of_type(TARGET):
        arn = known(target.props, "arn")
        delivers = ("sns" in services and bool(index.references(target, "arn", topics, ("arn",)))
                    or _arn_service(str(arn or "")) in services)
        if not delivers:
            continue
        for rule in index.references(target, "rule", rules, ("name",)):
            for source in _sources(rule.props.get("eventPattern")) & set(FINDING_SOURCES):
                routed.add((index.region(rule), source))
    wanted = " or ".join(TARGET_NAMES[s] for s in sorted(services))
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
