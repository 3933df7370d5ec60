"""triage and rotate-key as a user runs them: `python -m runbooks` in a subprocess against
the emulator's moto server on loopback, manifest discovered from SSM."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.runbooks.analysis.trail_logs import as_lookup_event, record

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
pytestmark = pytest.mark.server


def test_triage_over_http_writes_timeline_and_notifies(server_readiness, tmp_path) -> None:
    from rehearsal.emulator import inject_events

    world = server_readiness
    seen = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=1)
    finding = json.loads((FIXTURES / "asff_guardduty_backdoor_ec2.json").read_text())
    stamp = seen.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    finding.update(FirstObservedAt=stamp, LastObservedAt=stamp, CreatedAt=stamp,
                   UpdatedAt=stamp)
    hub = world.client("securityhub")
    hub.enable_security_hub()
    assert hub.batch_import_findings(Findings=[finding])["FailedCount"] == 0
    instance = "i-0b1c2d3e4f5a60719"
    event = record("ModifyInstanceAttribute", seen - timedelta(minutes=30), user="mallory",
                   key="AKIAMALLORY", request={"instanceId": instance, "userData": "x"})
    inject_events([as_lookup_event(event, ("AWS::EC2::Instance", instance))],
                  account_id=world.manifest["accountId"], region="us-east-1")
    path = tmp_path / "finding.json"
    path.write_text(json.dumps(finding))

    done = world.irctl("--output", "json", "triage", "--finding", str(path), "--cloudtrail",
                       "api", "--case", "ir-http", "--apply")

    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["playbooks"] == ["compromised-ec2-instance"]
    body = world.client("s3").get_object(Bucket=world.manifest["evidenceBucket"],
                                         Key="cases/ir-http/timeline.json")["Body"].read()
    timeline = json.loads(body)
    assert [e["eventId"] for e in timeline["events"]] == [event["eventID"]]
    [stored] = [f for f in hub.get_findings(Filters={"Id": [
        {"Value": finding["Id"], "Comparison": "EQUALS"}]})["Findings"]]
    assert stored["Workflow"]["Status"] == "NOTIFIED"
    assert "ir-http" in stored["Note"]["Text"]


def test_rotate_key_over_http_hands_the_new_key_to_the_owner(server_readiness) -> None:
    """Over the emulator's HTTP server as a real client: the old key is deactivated, no
    key is created, and stdout names the owner's command (issue #15 point 0)."""
    world = server_readiness
    iam = world.client("iam")
    user = f"ci-{uuid.uuid4().hex[:6]}"
    iam.create_user(UserName=user)
    old = iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]

    done = world.irctl("eradicate", "rotate-key", user, "--create-new-key", "--case",
                       "ir-rot-http", "--apply")

    assert done.returncode == 0, done.stderr
    keys = {k["AccessKeyId"]: k["Status"]
            for k in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]}
    assert keys == {old: "Inactive"}
    assert f"aws iam create-access-key --user-name {user}" in done.stdout
    assert "SecretAccessKey" not in done.stdout
    audit = world.client("s3").get_object(Bucket=world.manifest["evidenceBucket"],
                                          Key="cases/ir-rot-http/audit.jsonl")["Body"].read()
    assert old.encode() in audit
