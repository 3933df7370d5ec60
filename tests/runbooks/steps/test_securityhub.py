"""securityhub.notify-finding against moto + the emulator's BatchUpdateFindings."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

from runbooks.core.errors import InvalidInput, PreconditionFailed
from runbooks.steps.securityhub import NotifyFinding
from tests.runbooks.steps.conftest import REGION, apply_all, roll_back

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "asff_guardduty_backdoor_ec2.json"


@pytest.fixture
def hub(make_ctx):
    from rehearsal.emulator import install

    install()
    ctx = make_ctx()
    client = boto3.client("securityhub", region_name=REGION)
    client.enable_security_hub()
    finding = json.loads(FIXTURE.read_text())
    assert client.batch_import_findings(Findings=[finding])["FailedCount"] == 0
    return ctx, client, finding


def status(client, finding_id: str) -> tuple[str, str | None]:
    [found] = [f for f in client.get_findings(Filters={"Id": [
        {"Value": finding_id, "Comparison": "EQUALS"}]})["Findings"] if f["Id"] == finding_id]
    return found["Workflow"]["Status"], (found.get("Note") or {}).get("Text")


def params(finding: dict) -> dict:
    return {"finding_id": finding["Id"], "product_arn": finding["ProductArn"],
            "note": "Triaged by irctl: case ir-1; playbook compromised-ec2-instance"}


def test_notify_sets_notified_with_note_and_rollback_restores_new(hub) -> None:
    ctx, client, finding = hub
    step = NotifyFinding(ctx, params(finding))
    done = apply_all(step)
    assert status(client, finding["Id"]) == (
        "NOTIFIED", "Triaged by irctl: case ir-1; playbook compromised-ec2-instance")
    assert NotifyFinding(ctx, params(finding)).plan() == []  # idempotent
    roll_back(step, done)
    assert status(client, finding["Id"])[0] == "NEW"


def test_resolved_finding_is_left_alone(hub) -> None:
    ctx, client, finding = hub
    client.batch_update_findings(
        FindingIdentifiers=[{"Id": finding["Id"], "ProductArn": finding["ProductArn"]}],
        Workflow={"Status": "RESOLVED"})
    assert NotifyFinding(ctx, params(finding)).plan() == []
    assert status(client, finding["Id"])[0] == "RESOLVED"


def test_unknown_finding_and_bad_params(hub) -> None:
    ctx, _, finding = hub
    with pytest.raises(PreconditionFailed, match="no finding"):
        NotifyFinding(ctx, params(finding) | {"finding_id": "nope"}).plan()
    with pytest.raises(InvalidInput, match="product_arn"):
        NotifyFinding(ctx, params(finding) | {"product_arn": "guardduty"}).validate()
