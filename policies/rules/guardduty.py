"""GuardDuty: threat detection on, fast, with the protection plans responders rely on."""

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

AREA = "guardduty"
DETECTOR = "aws:guardduty/detector:Detector"
FEATURE = "aws:guardduty/detectorFeature:DetectorFeature"
#: Slowest last: AWS defaults to SIX_HOURS when the argument is omitted.
FREQUENCIES = ("FIFTEEN_MINUTES", "ONE_HOUR", "SIX_HOURS")
#: Either runtime-monitoring feature satisfies a requirement for the other.
REQUIRED_FEATURES = ("S3_DATA_EVENTS", "EBS_MALWARE_PROTECTION", "RDS_LOGIN_EVENTS",
                     "LAMBDA_NETWORK_LOGS", "RUNTIME_MONITORING")
EQUIVALENT = {"RUNTIME_MONITORING": {"RUNTIME_MONITORING", "EKS_RUNTIME_MONITORING"},
              "EKS_RUNTIME_MONITORING": {"RUNTIME_MONITORING", "EKS_RUNTIME_MONITORING"}}


@resource_rule(
    name="guardduty-detector-enabled", area=AREA, severity=Severity.CRITICAL, mandatory=True,
    types=(DETECTOR,),
    description="GuardDuty detectors must be enabled.",
    remediation="Remove enable=False from the aws.guardduty.Detector.",
)
def detector_enabled(ctx: ResourceContext) -> Iterator[str]:
    if ctx.props.get("enable") is False:
        yield f"detector {ctx.name!r} is created disabled"


@resource_rule(
    name="guardduty-finding-frequency", area=AREA, severity=Severity.MEDIUM, mandatory=False,
    types=(DETECTOR,),
    description="GuardDuty must publish updated findings no slower than the configured "
                "frequency.",
    remediation="Set finding_publishing_frequency (FIFTEEN_MINUTES recommended; AWS defaults to "
                "SIX_HOURS when omitted).",
    config={"maxFrequency": {"type": "string", "enum": list(FREQUENCIES),
                             "default": "FIFTEEN_MINUTES",
                             "description": "Slowest acceptable finding publishing frequency."}},
)
def finding_frequency(ctx: ResourceContext) -> Iterator[str]:
    actual = ctx.props.get("findingPublishingFrequency") or "SIX_HOURS"
    allowed = str(ctx.config["maxFrequency"])
    if actual not in FREQUENCIES:
        yield f"detector {ctx.name!r} has unknown finding_publishing_frequency {actual!r}"
    elif FREQUENCIES.index(actual) > FREQUENCIES.index(allowed):
        yield (f"detector {ctx.name!r} publishes findings every {actual}; "
               f"{allowed} or faster required")


@stack_rule(
    name="guardduty-required-features", area=AREA, severity=Severity.HIGH, mandatory=True,
    description="Every GuardDuty detector must have the required protection plans enabled as "
                "DetectorFeature resources.",
    remediation="Add aws.guardduty.DetectorFeature(detector_id=detector.id, name=<feature>, "
                "status='ENABLED') for each missing feature (they bill per usage; see README).",
    config={"requiredFeatures": {
        "type": "array", "items": {"type": "string"}, "uniqueItems": True,
        "default": list(REQUIRED_FEATURES),
        "description": "DetectorFeature names that must be ENABLED on every detector."}},
)
def required_features(index: StackIndex, config: Mapping[str, Any]) -> Findings:
    detectors = index.of_type(DETECTOR)
    enabled: dict[str, set[str]] = {d.urn: set() for d in detectors}
    for feature in index.of_type(FEATURE):
        if feature.props.get("status") != "ENABLED":
            continue
        for detector in index.references(feature, "detectorId", detectors, ("id",)):
            enabled[detector.urn].add(str(feature.props.get("name")))
    required = [str(f) for f in as_list(config["requiredFeatures"])]
    for detector in detectors:
        missing = [f for f in required if not (EQUIVALENT.get(f, {f}) & enabled[detector.urn])]
        if missing:
            yield (f"{describe(detector)} lacks enabled features: {', '.join(missing)}",
                   detector.urn)
