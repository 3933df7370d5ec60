from __future__ import annotations

import uuid

import pytest
from botocore.exceptions import ClientError

from rehearsal.emulator import inject_finding

ACCOUNT = "123456789012"


def test_sample_findings_are_listed_fetched_and_archived(client) -> None:
    gd = client("guardduty")
    detector = gd.create_detector(Enable=True)["DetectorId"]
    gd.create_sample_findings(
        DetectorId=detector,
        FindingTypes=["UnauthorizedAccess:EC2/SSHBruteForce", "Recon:IAMUser/MaliciousIPCaller"],
    )
    ids = gd.list_findings(DetectorId=detector)["FindingIds"]
    assert len(ids) == 2
    findings = gd.get_findings(DetectorId=detector, FindingIds=ids)["Findings"]
    assert {f["Type"] for f in findings} == {
        "UnauthorizedAccess:EC2/SSHBruteForce",
        "Recon:IAMUser/MaliciousIPCaller",
    }
    for finding in findings:
        assert finding["AccountId"] == ACCOUNT
        assert finding["Service"]["DetectorId"] == detector
        assert finding["Service"]["Archived"] is False
        assert finding["Arn"].endswith(f"/finding/{finding['Id']}")

    gd.archive_findings(DetectorId=detector, FindingIds=ids[:1])
    active = gd.list_findings(
        DetectorId=detector,
        FindingCriteria={"Criterion": {"service.archived": {"Eq": ["false"]}}},
    )["FindingIds"]
    assert active == ids[1:]
    archived = gd.get_findings(DetectorId=detector, FindingIds=ids[:1])["Findings"][0]
    assert archived["Service"]["Archived"] is True

    gd.unarchive_findings(DetectorId=detector, FindingIds=ids[:1])
    assert (
        gd.get_findings(DetectorId=detector, FindingIds=ids[:1])["Findings"][0]["Service"][
            "Archived"
        ]
        is False
    )


def test_injected_finding_is_returned_whole_and_filterable(client) -> None:
    gd = client("guardduty")
    detector = gd.create_detector(Enable=True)["DetectorId"]
    instance_id = f"i-{uuid.uuid4().hex[:17]}"
    injected = inject_finding(
        {
            "Type": "CryptoCurrency:EC2/BitcoinTool.B!DNS",
            "Severity": 8.0,
            "Title": "EC2 instance querying a bitcoin domain",
            "Resource": {
                "ResourceType": "Instance",
                "InstanceDetails": {"InstanceId": instance_id, "InstanceType": "t3.micro"},
            },
        },
        detector_id=detector,
    )
    gd.create_sample_findings(DetectorId=detector, FindingTypes=["Recon:IAMUser/MaliciousIPCaller"])

    by_instance = gd.list_findings(
        DetectorId=detector,
        FindingCriteria={
            "Criterion": {"resource.instanceDetails.instanceId": {"Eq": [instance_id]}}
        },
    )["FindingIds"]
    assert by_instance == [injected["Id"]]
    high = gd.list_findings(
        DetectorId=detector, FindingCriteria={"Criterion": {"severity": {"Gte": 7}}}
    )["FindingIds"]
    assert high == [injected["Id"]]

    finding = gd.get_findings(DetectorId=detector, FindingIds=[injected["Id"]])["Findings"][0]
    assert finding["Resource"]["InstanceDetails"]["InstanceId"] == instance_id
    assert finding["Type"] == "CryptoCurrency:EC2/BitcoinTool.B!DNS"
    assert finding["Severity"] == 8.0


def test_list_findings_pages(client) -> None:
    gd = client("guardduty")
    detector = gd.create_detector(Enable=True)["DetectorId"]
    for _ in range(3):
        inject_finding({"Type": "Recon:EC2/PortProbeUnprotectedPort"}, detector_id=detector)
    first = gd.list_findings(DetectorId=detector, MaxResults=2)
    assert len(first["FindingIds"]) == 2
    second = gd.list_findings(DetectorId=detector, MaxResults=2, NextToken=first["NextToken"])
    assert len(second["FindingIds"]) == 1
    assert not set(first["FindingIds"]) & set(second["FindingIds"])
    pages = gd.get_paginator("list_findings").paginate(
        DetectorId=detector, PaginationConfig={"PageSize": 1}
    )
    assert sum(len(p["FindingIds"]) for p in pages) == 3


@pytest.mark.parametrize("operation", ["list_findings", "get_findings", "archive_findings"])
def test_unknown_detector_is_a_bad_request(client, operation: str) -> None:
    gd = client("guardduty")
    kwargs = {"DetectorId": "0" * 32}
    if operation != "list_findings":
        kwargs["FindingIds"] = ["abc"]
    with pytest.raises(ClientError) as err:
        getattr(gd, operation)(**kwargs)
    assert err.value.response["Error"]["Code"] == "BadRequestException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_more_than_50_finding_ids_is_rejected(client) -> None:
    gd = client("guardduty")
    detector = gd.create_detector(Enable=True)["DetectorId"]
    with pytest.raises(ClientError) as err:
        gd.get_findings(DetectorId=detector, FindingIds=[str(i) for i in range(51)])
    assert err.value.response["Error"]["Code"] == "BadRequestException"


def test_list_findings_sorts_severity_as_a_number(client) -> None:
    gd = client("guardduty")
    detector = gd.create_detector(Enable=True)["DetectorId"]
    ids = {
        severity: inject_finding({"Severity": severity}, detector_id=detector)["Id"]
        for severity in (2.0, 10.0, 5.0)
    }
    ranked = gd.list_findings(
        DetectorId=detector, SortCriteria={"AttributeName": "severity", "OrderBy": "DESC"}
    )["FindingIds"]
    assert ranked == [ids[10.0], ids[5.0], ids[2.0]]


def test_eventbridge_detail_and_api_shape_inject_the_same_finding(client) -> None:
    gd = client("guardduty")
    detector = gd.create_detector(Enable=True)["DetectorId"]
    instance_id = f"i-{uuid.uuid4().hex[:17]}"
    api_shape = {
        "Id": "api-" + uuid.uuid4().hex,
        "Type": "UnauthorizedAccess:EC2/SSHBruteForce",
        "Severity": 5.0,
        "CreatedAt": "2026-11-27T22:00:00.000Z",
        "UpdatedAt": "2026-11-27T22:05:00.000Z",
        "Resource": {
            "ResourceType": "Instance",
            "InstanceDetails": {
                "InstanceId": instance_id,
                "NetworkInterfaces": [{"PrivateIpAddress": "10.0.0.5",
                                       "SecurityGroups": [{"GroupId": "sg-0123456789abcdef0"}]}],
                "Tags": [{"Key": "env", "Value": "prod"}],
            },
        },
        "Service": {
            "Action": {"ActionType": "NETWORK_CONNECTION",
                       "NetworkConnectionAction": {"ConnectionDirection": "INBOUND"}},
            "Count": 7,
        },
    }
    detail = {
        "id": "eb-" + uuid.uuid4().hex,
        "type": "UnauthorizedAccess:EC2/SSHBruteForce",
        "severity": 5,
        "createdAt": "2026-11-27T22:00:00.000Z",
        "updatedAt": "2026-11-27T22:05:00.000Z",
        "resource": {
            "resourceType": "Instance",
            "instanceDetails": {
                "instanceId": instance_id,
                "networkInterfaces": [{"privateIpAddress": "10.0.0.5",
                                       "securityGroups": [{"groupId": "sg-0123456789abcdef0"}]}],
                "tags": [{"key": "env", "value": "prod"}],
            },
        },
        "service": {
            "action": {"actionType": "NETWORK_CONNECTION",
                       "networkConnectionAction": {"connectionDirection": "INBOUND"}},
            "count": 7,
        },
    }
    event = {"version": "0", "detail-type": "GuardDuty Finding", "source": "aws.guardduty",
             "detail": detail}
    inject_finding(api_shape, detector_id=detector)
    inject_finding(event, detector_id=detector)

    found = gd.list_findings(
        DetectorId=detector,
        FindingCriteria={
            "Criterion": {"resource.instanceDetails.instanceId": {"Eq": [instance_id]}}
        },
    )["FindingIds"]
    assert sorted(found) == sorted([api_shape["Id"], detail["id"]])
    got = {f["Id"]: f for f in gd.get_findings(DetectorId=detector, FindingIds=found)["Findings"]}
    from_api, from_eb = got[api_shape["Id"]], got[detail["id"]]
    for finding in (from_api, from_eb):
        del finding["Id"], finding["Arn"]
    assert from_eb == from_api
    assert from_eb["Resource"]["InstanceDetails"]["NetworkInterfaces"][0]["SecurityGroups"] == [
        {"GroupId": "sg-0123456789abcdef0"}]
    assert from_eb["Service"]["Count"] == 7
