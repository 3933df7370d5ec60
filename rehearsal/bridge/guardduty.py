"""Bridge handlers for GuardDuty: detector, features, publishing destination, malware protection.

=====================================================  ========================================
Type                                                   How
=====================================================  ========================================
aws:guardduty/malwareProtectionPlan:...                API guardduty CreateMalwareProtectionPlan
                                                       (emulator extension)
aws:guardduty/detector:Detector                        API guardduty CreateDetector
aws:guardduty/organizationAdminAccount:...             API guardduty
                                                       EnableOrganizationAdminAccount
aws:guardduty/organizationConfiguration:...            API guardduty
                                                       UpdateOrganizationConfiguration
                                                       (emulator extension)
aws:guardduty/organizationConfigurationFeature:...     API guardduty
                                                       UpdateOrganizationConfiguration(Features)
                                                       (emulator extension)
aws:guardduty/detectorFeature:DetectorFeature          API guardduty UpdateDetector (features
                                                       merged with the detector's current ones)
aws:guardduty/publishingDestination:...                API guardduty CreatePublishingDestination
                                                       (emulator extension)
=====================================================  ========================================

Invokes: getDetector (GetDetector; without an id, the region's one detector, as the
provider answers).
"""

from __future__ import annotations

from typing import Any

from rehearsal.bridge._core import (
    BridgeError,
    MotoBridge,
    Request,
    answers,
    clean,
    handles,
)


@handles("aws:guardduty/malwareProtectionPlan:MalwareProtectionPlan",
         api="guardduty:CreateMalwareProtectionPlan (emulator)")
def _malware_protection_plan(r: Request) -> tuple[str, dict[str, Any]]:
    bucket = (r.get("protectedResource", {}).get("s3Bucket") or {})
    tagging = [t for action in r.get("actions", []) for t in action.get("taggings") or []]
    kwargs = clean({
        "Role": r.get("role"),
        "ProtectedResource": {"S3Bucket": clean({
            "BucketName": bucket.get("bucketName"),
            "ObjectPrefixes": bucket.get("objectPrefixes") or None})},
        "Actions": {"Tagging": {"Status": tagging[0].get("status")}} if tagging else None,
        "Tags": dict(r.get("tags", {})) or None,
    })
    gd = r.client("guardduty")
    plan_id = gd.create_malware_protection_plan(**kwargs)["MalwareProtectionPlanId"]
    plan = gd.get_malware_protection_plan(MalwareProtectionPlanId=plan_id)
    return plan_id, {"arn": plan["Arn"], "status": plan["Status"],
                     "createdAt": plan["CreatedAt"].isoformat()}


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
    api="guardduty:CreatePublishingDestination (emulator)",
)
def _publishing_destination(r: Request) -> tuple[str, dict[str, Any]]:
    detector_id = str(r.get("detectorId"))
    created = r.client("guardduty").create_publishing_destination(
        DetectorId=detector_id, DestinationType=r.get("destinationType", "S3"),
        DestinationProperties={"DestinationArn": r.get("destinationArn"),
                               "KmsKeyArn": r.get("kmsKeyArn")})
    return f"{detector_id}:{created['DestinationId']}", {}


@handles("aws:guardduty/organizationAdminAccount:OrganizationAdminAccount",
         api="guardduty:EnableOrganizationAdminAccount")
def _gd_admin(r: Request) -> tuple[str, dict[str, Any]]:
    account = str(r.get("adminAccountId"))
    r.client("guardduty").enable_organization_admin_account(AdminAccountId=account)
    return account, {}


@handles("aws:guardduty/organizationConfiguration:OrganizationConfiguration",
         api="guardduty:UpdateOrganizationConfiguration (emulator)")
def _gd_org(r: Request) -> tuple[str, dict[str, Any]]:
    detector_id = str(r.get("detectorId"))
    with r.bridge.keyed_lock(f"guardduty-org:{detector_id}"):
        r.client("guardduty").update_organization_configuration(
            DetectorId=detector_id,
            AutoEnableOrganizationMembers=r.get("autoEnableOrganizationMembers"))
    return detector_id, {}


@handles("aws:guardduty/organizationConfigurationFeature:OrganizationConfigurationFeature",
         api="guardduty:UpdateOrganizationConfiguration(Features) (emulator)")
def _gd_org_feature(r: Request) -> tuple[str, dict[str, Any]]:
    detector_id = str(r.get("detectorId"))
    feature = clean({
        "Name": r.get("name"), "AutoEnable": r.get("autoEnable"),
        "AdditionalConfiguration": [
            {"Name": c.get("name"), "AutoEnable": c.get("autoEnable")}
            for c in r.get("additionalConfigurations", [])] or None,
    })
    # The API merges the features it is given into the organisation's configuration.
    with r.bridge.keyed_lock(f"guardduty-org:{detector_id}"):
        r.client("guardduty").update_organization_configuration(
            DetectorId=detector_id, Features=[feature])
    return f"{detector_id}/{r.get('name')}", {}


@answers("aws:guardduty/getDetector:getDetector")
def _inv_detector(b: MotoBridge, region: str, args: dict[str, Any]) -> dict[str, Any]:
    gd = b.client("guardduty", region)
    detector_id = args.get("id")
    if not detector_id:
        ids = gd.list_detectors()["DetectorIds"]
        if len(ids) != 1:
            raise BridgeError(f"getDetector in {region} of account {b.account_id} found "
                              f"{len(ids)} detectors, expected exactly 1")
        detector_id = ids[0]
    detector = gd.get_detector(DetectorId=detector_id)
    return {
        "id": detector_id,
        "arn": f"arn:aws:guardduty:{region}:{b.account_id}:detector/{detector_id}",
        "findingPublishingFrequency": detector.get("FindingPublishingFrequency", ""),
        "serviceRoleArn": detector.get("ServiceRole", ""),
        "status": detector.get("Status", ""),
        "features": [{"name": f["Name"], "status": f["Status"],
                      "additionalConfigurations": []}
                     for f in detector.get("Features", [])],
        "tags": dict(detector.get("Tags") or {}),
    }
