"""Bridge handlers for GuardDuty: detector, features, publishing destination, malware protection.

=====================================================  ========================================
Type                                                   How
=====================================================  ========================================
aws:guardduty/malwareProtectionPlan:...                recorded only: moto has no
                                                       CreateMalwareProtectionPlan
aws:guardduty/detector:Detector                        API guardduty CreateDetector
aws:guardduty/detectorFeature:DetectorFeature          API guardduty UpdateDetector (features
                                                       merged with the detector's current ones)
aws:guardduty/publishingDestination:...                recorded only: moto has no
                                                       CreatePublishingDestination
=====================================================  ========================================
"""

from __future__ import annotations

import uuid
from typing import Any

from rehearsal.bridge._core import (
    Request,
    clean,
    handles,
)


@handles("aws:guardduty/malwareProtectionPlan:MalwareProtectionPlan",
         recorded_only="moto has no CreateMalwareProtectionPlan")
def _malware_protection_plan(r: Request) -> tuple[str, dict[str, Any]]:
    plan_id = uuid.uuid4().hex[:20]
    return plan_id, {"arn": r.arn("guardduty", f"malware-protection-plan/{plan_id}")}


@handles("aws:guardduty/detector:Detector", api="guardduty:CreateDetector")
def _detector(r: Request) -> tuple[str, dict[str, Any]]:
    kwargs = clean(
        {
            "Enable": bool(r.get("enable", True)),
            "FindingPublishingFrequency": r.get("findingPublishingFrequency"),
            "Tags": dict(r.get("tags", {})) or None,
        }
    )
    detector_id = r.client("guardduty").create_detector(**kwargs)["DetectorId"]
    return detector_id, {
        "accountId": r.account,
        "arn": r.arn("guardduty", f"detector/{detector_id}"),
    }


@handles(
    "aws:guardduty/detectorFeature:DetectorFeature",
    api="guardduty:UpdateDetector(Features)",
)
def _detector_feature(r: Request) -> tuple[str, dict[str, Any]]:
    gd = r.client("guardduty")
    detector_id = r.get("detectorId")
    with r.bridge.keyed_lock(f"guardduty-detector:{detector_id}"):
        _merge_feature(r, gd, detector_id)
    return f"{detector_id}/{r.get('name')}", {}


def _merge_feature(r: Request, gd: Any, detector_id: str) -> None:
    current = gd.get_detector(DetectorId=detector_id).get("Features", [])
    feature = clean(
        {
            "Name": r.get("name"),
            "Status": r.get("status"),
            "AdditionalConfiguration": [
                {"Name": c.get("name"), "Status": c.get("status")}
                for c in r.get("additionalConfigurations", [])
            ]
            or None,
        }
    )
    merged = [
        {"Name": f["Name"], "Status": f["Status"]}
        for f in current
        if f.get("Name") != feature["Name"]
    ]
    merged.append(feature)
    gd.update_detector(DetectorId=detector_id, Features=merged)


@handles(
    "aws:guardduty/publishingDestination:PublishingDestination",
    recorded_only="moto has no CreatePublishingDestination",
)
def _publishing_destination(r: Request) -> tuple[str, dict[str, Any]]:
    return f"{r.get('detectorId')}:{uuid.uuid4().hex}", {}
