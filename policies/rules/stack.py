"""Stack-level readiness: every covered region has what a responder reaches for first."""

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

REGIONS = {"regions": {"type": "array", "items": {"type": "string"}, "default": [],
                       "description": "Covered regions. Empty: every region the stack "
                                      "declares an AWS resource in."}}


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
    description="Each covered region must have an enabled GuardDuty detector.",
    remediation="Add a ThreatDetection (aws.guardduty.Detector, enable=True) per covered region, "
                "through a provider for that region.",
    config=REGIONS,
)
def detector_per_region(index: StackIndex, config: Mapping[str, Any]) -> Findings:
    found = {index.region(d) for d in index.of_type(DETECTOR)
             if d.props.get("enable") is not False}
    for region in index.covered_regions(as_list(config["regions"])):
        if region not in found:
            yield f"region {region} has no enabled GuardDuty detector", None


@stack_rule(
    name="securityhub-per-region", area=AREA, severity=Severity.HIGH, mandatory=True,
    description="Each covered region must have Security Hub enabled.",
    remediation="Add a SecurityFindings (aws.securityhub.Account) per covered region.",
    config=REGIONS,
)
def hub_per_region(index: StackIndex, config: Mapping[str, Any]) -> Findings:
    found = {index.region(h) for h in index.of_type(HUB)}
    for region in index.covered_regions(as_list(config["regions"])):
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
                "topic through EventBridge rules.",
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
    rules = index.of_type(RULE)
    topics = index.of_type(TOPIC)
    services = {str(s) for s in as_list(config["targetServices"])}
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
