"""`irctl triage` end to end (click) against moto + the emulator: the timeline written to
the evidence bucket for a seeded CloudTrail history, the Security Hub workflow status,
and bad input that changes nothing."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.runbooks.analysis.trail_logs import as_lookup_event, put_log, record
from tests.runbooks.commands.analysis_world import ACCOUNT, REGION, World, build_world

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    yield from build_world(tmp_path, monkeypatch)


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def recent(doc: dict, first_seen: datetime) -> dict:
    """Move an ASFF finding's times near `first_seen` (lookup_events keeps 90 days)."""
    doc = copy.deepcopy(doc)
    stamp = first_seen.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    later = (first_seen + timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    doc.update(FirstObservedAt=stamp, CreatedAt=stamp, LastObservedAt=later, UpdatedAt=later)
    return doc


def import_to_security_hub(world: World, finding: dict) -> None:
    response = world.client("securityhub").batch_import_findings(Findings=[finding])
    assert response["FailedCount"] == 0


def workflow_status(world: World, finding_id: str) -> str:
    found = world.client("securityhub").get_findings(
        Filters={"Id": [{"Value": finding_id, "Comparison": "EQUALS"}]})["Findings"]
    [finding] = [f for f in found if f["Id"] == finding_id]
    return finding["Workflow"]["Status"]


def test_triage_asff_writes_timeline_from_lookup_events_and_notifies(world: World) -> None:
    from rehearsal.emulator import inject_events

    seen = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=2)
    finding = recent(fixture("asff_guardduty_backdoor_ec2.json"), seen)
    import_to_security_hub(world, finding)
    instance = "i-0b1c2d3e4f5a60719"
    history = [
        record("RunInstances", seen - timedelta(hours=3), user="deployer", key="AKIADEPLOY",
               response={"instancesSet": {"items": [{"instanceId": instance}]}},
               resources=[f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{instance}"]),
        record("ModifyInstanceAttribute", seen - timedelta(minutes=20), user="mallory",
               key="AKIAMALLORY", request={"instanceId": instance, "userData": "<hidden>"},
               resources=[f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{instance}"]),
        record("StopInstances", seen - timedelta(minutes=5), user="ops", key="AKIAOPS",
               request={"instanceId": "i-0other"},
               resources=[f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/i-0other"]),
        record("DescribeInstances", seen - timedelta(days=3), user="mallory",
               resources=[f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{instance}"]),
    ]
    # Event history names an instance by its id.
    named = [instance, instance, "i-0other", instance]
    inject_events([as_lookup_event(r, ('AWS::EC2::Instance', n))
                   for r, n in zip(history, named, strict=True)],
                  account_id=ACCOUNT, region=REGION)
    path = world.manifest_path.parent / "finding.json"
    path.write_text(json.dumps(finding))

    code, out = world.irctl_json("triage", "--finding", str(path), "--case", "ir-t1",
                                 "--apply")

    assert code == 0, out
    assert out["playbooks"] == ["compromised-ec2-instance"]
    timeline = json.loads(world.evidence("cases/ir-t1/timeline.json"))
    names = [e["eventName"] for e in timeline["events"]]
    assert names == ["RunInstances", "ModifyInstanceAttribute"]
    assert {e["eventId"] for e in timeline["events"]} == {
        history[0]["eventID"], history[1]["eventID"]}
    assert timeline["findings"][0]["resources"][0]["id"] == instance
    markdown = world.evidence("cases/ir-t1/timeline.md").decode()
    assert "ec2:ModifyInstanceAttribute" in markdown and "mallory" in markdown
    assert "Playbook: compromised-ec2-instance" in markdown
    assert workflow_status(world, finding["Id"]) == "NOTIFIED"
    head = world.client("s3").head_object(Bucket=world.manifest["evidenceBucket"],
                                          Key="cases/ir-t1/timeline.json")
    assert head["ServerSideEncryption"] == "aws:kms"
    # Re-running changes nothing more: same timeline content, workflow already NOTIFIED.
    code, again = world.irctl_json("triage", "--finding", str(path), "--case", "ir-t1",
                                   "--apply")
    assert code == 0
    planned = [c for t in again["runs"][0]["targets"] for c in t["changes"]]
    assert all(c["step"] != "securityhub.notify-finding" for c in planned)


def test_triage_plan_only_changes_nothing(world: World) -> None:
    seen = datetime.now(timezone.utc) - timedelta(hours=1)
    finding = recent(fixture("asff_guardduty_backdoor_ec2.json"), seen)
    import_to_security_hub(world, finding)
    code, out = world.irctl_json("triage", "--finding", "-", "--case", "ir-plan",
                                 input=json.dumps(finding))
    assert code == 0
    steps = sorted(c["step"] for t in out["runs"][0]["targets"] for c in t["changes"])
    assert steps == ["evidence.write-case-file", "evidence.write-case-file",
                     "securityhub.notify-finding"]
    assert world.evidence_keys() == []
    assert workflow_status(world, finding["Id"]) == "NEW"
    assert (world.case_dir / "ir-plan" / "timeline.md").exists()


def test_triage_guardduty_finding_id_with_s3_logs_and_data_events(world: World) -> None:
    from rehearsal.emulator import inject_finding

    seen = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=1)
    gd = fixture("guardduty_get_findings_iam_user.json")["Findings"][0]
    gd["Service"]["EventFirstSeen"] = seen.strftime("%Y-%m-%dT%H:%M:%SZ")
    gd["Service"]["EventLastSeen"] = (seen + timedelta(minutes=5)).strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    gd["Arn"] = gd["Arn"].replace("12abc34d567e8fa901bc2d34e56789f0",
                                  world.manifest["guardDutyDetectorId"])
    inject_finding(gd, world.manifest["guardDutyDetectorId"], ACCOUNT, REGION)
    data_event = record("GetObject", seen + timedelta(minutes=1), source="s3.amazonaws.com",
                        request={"bucketName": "payroll", "key": "2026/salaries.csv"},
                        event_type="AwsApiCall")
    new_key = record("CreateAccessKey", seen + timedelta(minutes=2), source="iam.amazonaws.com",
                     request={"userName": "build-bot"},
                     response={"accessKey": {"accessKeyId": "AKIANEW", "userName": "build-bot"}})
    unrelated = record("GetObject", seen + timedelta(minutes=3), source="s3.amazonaws.com",
                       user="alice", key="AKIAALICE")
    put_log(world.client("s3"), world.manifest["trail"]["bucket"], seen + timedelta(minutes=8),
            [data_event, new_key, unrelated], prefix="ct")

    code, out = world.irctl_json("triage", "--finding-id", gd["Id"], "--case", "ir-gd",
                                 "--data-events", "--apply")

    assert code == 0, out
    assert out["playbooks"] == ["compromised-iam-credentials"]
    timeline = json.loads(world.evidence("cases/ir-gd/timeline.json"))
    from_logs = [e for e in timeline["events"] if e["origin"].startswith("s3://")]
    assert [e["eventName"] for e in from_logs] == ["GetObject", "CreateAccessKey"]
    assert from_logs[0]["eventId"] == data_event["eventID"]
    assert {"attribute": "AccessKeyId", "value": "AKIAIOSFODNN7EXAMPLE"} in timeline["subjects"]
    # GuardDuty finding not in Security Hub: reported, not an error.
    assert any("Security Hub has no finding" in w for w in out["runs"][0]["warnings"])


def test_finding_of_another_account_is_refused_and_nothing_changes(world: World) -> None:
    finding = fixture("asff_guardduty_backdoor_ec2.json")
    finding["AwsAccountId"] = "210987654321"
    path = world.manifest_path.parent / "other.json"
    path.write_text(json.dumps(finding))
    code, out = world.irctl_json("triage", "--finding", str(path), "--case", "ir-x",
                                 "--apply")
    assert code == 2
    assert "210987654321" in out["error"] and "nothing was changed" in out["error"]
    assert world.evidence_keys() == []
    assert not (world.case_dir / "ir-x").exists()


def test_unknown_format_and_bad_json_are_refused(world: World) -> None:
    path = world.manifest_path.parent / "event.json"
    path.write_text((FIXTURES / "eventbridge_ec2_state_change.json").read_text())
    code, out = world.irctl_json("triage", "--finding", str(path), "--apply")
    assert code == 2 and "not a finding" in out["error"]
    code, out = world.irctl_json("triage", "--finding", "-", "--apply", input="{not json")
    assert code == 2 and "not valid JSON" in out["error"]
    code, out = world.irctl_json("triage", "--apply")
    assert code == 2 and "exactly one of" in out["error"]
    assert world.evidence_keys() == []


def test_finding_from_another_region_is_refused(world: World) -> None:
    finding = fixture("asff_guardduty_backdoor_ec2.json") | {"Region": "eu-west-1"}
    code, out = world.irctl_json("triage", "--finding", "-", "--apply",
                                 input=json.dumps(finding))
    assert code == 2 and "--region eu-west-1" in out["error"]
    assert world.evidence_keys() == []


def test_text_output_names_playbook_and_next_step(world: World) -> None:
    finding = recent(fixture("asff_guardduty_backdoor_ec2.json"),
                     datetime.now(timezone.utc) - timedelta(hours=1))
    import_to_security_hub(world, finding)
    result = world.irctl("triage", "--finding", "-", "--case", "ir-text", input=json.dumps(finding))
    assert result.exit_code == 0, result.output
    assert "compromised-ec2-instance" in result.stdout
    assert "irctl playbook run compromised-ec2-instance" in result.stdout
    assert "Plan only, nothing changed" in result.stdout


def test_text_output_names_the_function_and_its_contain_command(world: World) -> None:
    event = fixture("guardduty_event_lambda_cryptocurrency.json")
    seen = datetime.now(timezone.utc) - timedelta(hours=1)
    stamp = seen.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    event["detail"].update(createdAt=stamp, updatedAt=stamp)
    event["detail"]["service"].update(eventFirstSeen=stamp, eventLastSeen=stamp)
    result = world.irctl("triage", "--finding", "-", "--case", "ir-fn", input=json.dumps(event))
    assert result.exit_code == 0, result.output
    assert "lambda-function thumbnailer" in result.stdout
    assert "execution-role thumbnailer-role" in result.stdout
    assert "irctl playbook run compromised-lambda-function" in result.stdout
    assert "irctl contain function thumbnailer" in result.stdout


def test_security_hub_finding_id_is_fetched_with_filters(world: World) -> None:
    finding = recent(fixture("asff_guardduty_backdoor_ec2.json"),
                     datetime.now(timezone.utc) - timedelta(hours=1))
    other = copy.deepcopy(finding) | {"Id": finding["Id"].replace("b2a4", "ffff"),
                                      "Title": "another finding"}
    import_to_security_hub(world, other)
    import_to_security_hub(world, finding)
    code, out = world.irctl_json("triage", "--finding-id", finding["Id"], "--case", "ir-sh",
                                 "--apply")
    assert code == 0, out
    assert [f["id"] for f in out["findings"]] == [finding["Id"]]
    assert workflow_status(world, finding["Id"]) == "NOTIFIED"
    assert workflow_status(world, other["Id"]) == "NEW"


def test_finding_from_the_future_is_refused(world: World) -> None:
    finding = recent(fixture("asff_guardduty_backdoor_ec2.json"),
                     datetime.now(timezone.utc) + timedelta(days=2))
    code, out = world.irctl_json("triage", "--finding", "-", "--apply",
                                 input=json.dumps(finding))
    assert code == 2 and "in the future" in out["error"]
    assert world.evidence_keys() == []
