from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
from botocore.exceptions import ClientError

ACCOUNT = "123456789012"
PRODUCT = f"arn:aws:securityhub:us-east-1:{ACCOUNT}:product/{ACCOUNT}/default"


def _finding(resource_id: str, severity: str, updated: datetime, **extra) -> dict:
    stamp = updated.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    doc = {
        "SchemaVersion": "2018-10-08",
        "Id": f"finding-{uuid.uuid4()}",
        "ProductArn": PRODUCT,
        "GeneratorId": "test",
        "AwsAccountId": ACCOUNT,
        "Types": ["TTPs/Initial Access"],
        "CreatedAt": stamp,
        "UpdatedAt": stamp,
        "Severity": {"Label": severity},
        "Title": "t",
        "Description": "d",
        "Resources": [{"Type": "AwsEc2Instance", "Id": resource_id}],
    }
    doc.update(extra)
    return doc


@pytest.fixture
def hub(client):
    sh = client("securityhub")
    sh.enable_security_hub()
    return sh


def test_get_findings_honours_filters(hub) -> None:
    now = datetime.now(timezone.utc)
    arn = f"arn:aws:ec2:us-east-1:{ACCOUNT}:instance/i-{uuid.uuid4().hex[:17]}"
    mine_high = _finding(arn, "HIGH", now)
    mine_low = _finding(arn, "LOW", now - timedelta(days=10))
    other = _finding("arn:aws:s3:::other-bucket", "HIGH", now)
    archived = _finding(arn, "HIGH", now, RecordState="ARCHIVED")
    assert (
        hub.batch_import_findings(Findings=[mine_high, mine_low, other, archived])["SuccessCount"]
        == 4
    )

    def ids(**filters) -> set[str]:
        return {f["Id"] for f in hub.get_findings(Filters=filters)["Findings"]}

    eq = lambda v: [{"Value": v, "Comparison": "EQUALS"}]  # noqa: E731
    assert ids(ResourceId=eq(arn)) == {mine_high["Id"], mine_low["Id"], archived["Id"]}
    assert ids(ResourceId=eq(arn), RecordState=eq("ACTIVE")) == {mine_high["Id"], mine_low["Id"]}
    assert ids(SeverityLabel=eq("HIGH") + eq("CRITICAL"), RecordState=eq("ACTIVE")) == {
        mine_high["Id"],
        other["Id"],
    }
    assert ids(Id=eq(other["Id"])) == {other["Id"]}
    assert ids(ProductArn=eq(PRODUCT), AwsAccountId=eq(ACCOUNT)) == {
        mine_high["Id"],
        mine_low["Id"],
        other["Id"],
        archived["Id"],
    }
    assert ids(
        WorkflowStatus=eq("NEW"), ResourceId=[{"Value": arn, "Comparison": "NOT_EQUALS"}]
    ) == {other["Id"]}
    recent = [{"Start": (now - timedelta(days=1)).isoformat(), "End": now.isoformat()}]
    assert mine_low["Id"] not in ids(UpdatedAt=recent, ResourceId=eq(arn))
    assert ids(UpdatedAt=[{"DateRange": {"Value": 30, "Unit": "DAYS"}}], ResourceId=eq(arn)) == {
        mine_high["Id"],
        mine_low["Id"],
        archived["Id"],
    }
    assert ids(ResourceId=[{"Value": "arn:aws:ec2", "Comparison": "PREFIX"}]) == {
        mine_high["Id"],
        mine_low["Id"],
        archived["Id"],
    }


def test_batch_update_findings_sets_workflow_and_note(hub) -> None:
    finding = _finding(
        "arn:aws:iam::123456789012:user/alice", "CRITICAL", datetime.now(timezone.utc)
    )
    hub.batch_import_findings(Findings=[finding])
    result = hub.batch_update_findings(
        FindingIdentifiers=[
            {"Id": finding["Id"], "ProductArn": PRODUCT},
            {"Id": "does-not-exist", "ProductArn": PRODUCT},
        ],
        Workflow={"Status": "NOTIFIED"},
        Note={"Text": "case ir-1: contained", "UpdatedBy": "irctl"},
    )
    assert result["ProcessedFindings"] == [{"Id": finding["Id"], "ProductArn": PRODUCT}]
    assert result["UnprocessedFindings"][0]["FindingIdentifier"]["Id"] == "does-not-exist"
    assert result["UnprocessedFindings"][0]["ErrorCode"] == "FindingNotFound"

    stored = hub.get_findings(Filters={"Id": [{"Value": finding["Id"], "Comparison": "EQUALS"}]})[
        "Findings"
    ][0]
    assert stored["Workflow"]["Status"] == "NOTIFIED"
    assert stored["Note"]["Text"] == "case ir-1: contained"
    assert stored["Note"]["UpdatedBy"] == "irctl"
    notified = hub.get_findings(
        Filters={"WorkflowStatus": [{"Value": "NOTIFIED", "Comparison": "EQUALS"}]}
    )["Findings"]
    assert [f["Id"] for f in notified] == [finding["Id"]]


def test_invalid_workflow_status_is_rejected(hub) -> None:
    with pytest.raises(ClientError) as err:
        hub.batch_update_findings(
            FindingIdentifiers=[{"Id": "x", "ProductArn": PRODUCT}],
            Workflow={"Status": "DONE"},
        )
    assert err.value.response["Error"]["Code"] == "InvalidInputException"


def test_get_findings_pages(hub) -> None:
    now = datetime.now(timezone.utc)
    hub.batch_import_findings(Findings=[_finding(f"r-{i}", "LOW", now) for i in range(5)])
    first = hub.get_findings(MaxResults=3)
    assert len(first["Findings"]) == 3
    rest = hub.get_findings(MaxResults=3, NextToken=first["NextToken"])
    assert len(rest["Findings"]) == 2 and "NextToken" not in rest


def test_hub_not_enabled_is_access_denied(client) -> None:
    sh = client("securityhub")
    with pytest.raises(ClientError) as err:
        sh.get_findings()
    assert err.value.response["Error"]["Code"] == "InvalidAccessException"
