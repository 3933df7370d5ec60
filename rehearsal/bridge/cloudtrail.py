"""Bridge handlers for CloudTrail trails with their event and insight selectors.

=====================================================  ========================================
Type                                                   How
=====================================================  ========================================
aws:cloudtrail/trail:Trail                             API cloudtrail CreateTrail, StartLogging,
                                                       PutEventSelectors, PutInsightSelectors
=====================================================  ========================================
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rehearsal.bridge._core import (
    BridgeError,
    Request,
    clean,
    handles,
    pascal,
    tag_list,
)


@handles("aws:cloudtrail/trail:Trail", api="cloudtrail:CreateTrail")
def _trail(r: Request) -> tuple[str, dict[str, Any]]:
    ct = r.client("cloudtrail")
    name = r.autoname(max_len=128)
    kwargs: dict[str, Any] = clean(
        {
            "Name": name,
            "S3BucketName": r.get("s3BucketName"),
            "S3KeyPrefix": r.get("s3KeyPrefix"),
            "SnsTopicName": r.get("snsTopicName"),
            "IncludeGlobalServiceEvents": r.get("includeGlobalServiceEvents", True),
            "IsMultiRegionTrail": r.get("isMultiRegionTrail", False),
            "EnableLogFileValidation": r.get("enableLogFileValidation", False),
            "CloudWatchLogsLogGroupArn": r.get("cloudWatchLogsGroupArn"),
            "CloudWatchLogsRoleArn": r.get("cloudWatchLogsRoleArn"),
            "KmsKeyId": r.get("kmsKeyId"),
            "IsOrganizationTrail": r.get("isOrganizationTrail"),
            "TagsList": tag_list(r.get("tags")) or None,
        }
    )
    trail = ct.create_trail(**kwargs)
    arn = trail["TrailARN"]
    if r.get("enableLogging", True):
        ct.start_logging(Name=arn)
    if r.get("advancedEventSelectors"):
        ct.put_event_selectors(
            TrailName=arn,
            AdvancedEventSelectors=_advanced_selectors(r.get("advancedEventSelectors")),
        )
    elif r.get("eventSelectors"):
        ct.put_event_selectors(TrailName=arn, EventSelectors=pascal(r.get("eventSelectors")))
    if r.get("insightSelectors"):
        ct.put_insight_selectors(
            TrailName=arn, InsightSelectors=pascal(r.get("insightSelectors"))
        )
    return arn, {"arn": arn, "name": name, "homeRegion": r.region}


# Pulumi names the operator lists of a field selector in the plural (`startsWiths`,
# `notStartsWiths`, ...); the CloudTrail API names them in the singular (`StartsWith`,
# `NotStartsWith`, ...), and rejects the plural as an unknown parameter.
_FIELD_SELECTOR_KEYS = {
    "field": "Field", "equals": "Equals", "notEquals": "NotEquals",
    "startsWiths": "StartsWith", "notStartsWiths": "NotStartsWith",
    "endsWiths": "EndsWith", "notEndsWiths": "NotEndsWith",
}


def _advanced_selectors(selectors: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Pulumi advanced event selectors -> the PutEventSelectors shape."""
    converted: list[dict[str, Any]] = []
    for selector in selectors:
        fields = []
        for field_selector in selector.get("fieldSelectors") or []:
            unknown = set(field_selector) - set(_FIELD_SELECTOR_KEYS)
            if unknown:
                raise BridgeError(
                    f"advanced event selector field keys {sorted(unknown)} are not mapped "
                    "to the CloudTrail API; add them to _FIELD_SELECTOR_KEYS"
                )
            fields.append({
                _FIELD_SELECTOR_KEYS[k]: v for k, v in field_selector.items()
                if v is not None and v != []
            })
        converted.append(clean({"Name": selector.get("name"), "FieldSelectors": fields}))
    return converted
