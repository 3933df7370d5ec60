"""triage, investigate and verify case degrade instead of dying (issue #16 section 2).

Each test runs `irctl` as a responder would (a subprocess) against a moto server behind
the fault layer (`tests/fault_server.py`), fails one source (CloudTrail LookupEvents with
a 500, AccessDenied or throttling; GuardDuty answering with an HTML 404 page; Security Hub
throttled; the trail status failing) and checks that what the other sources returned is
shown, that each failed source is named with its error code and request id, that no raw
HTML reaches the responder, and the exit code: 3 (partial), or 1 when a check broke.
"""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from runbooks.core.manifest_schema import MANIFEST_PARAMETER
from tests.runbooks.analysis.trail_logs import as_lookup_event, put_log, record
from tests.runbooks.conftest import ACCOUNT, REGION, Readiness, launch_instances

pytestmark = pytest.mark.server

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
REQUEST_ID = re.compile(r"request id [0-9A-Za-z-]{16,}")
FAULTS = {  # how LookupEvents fails -> the error code the responder must see
    "500": ("fail", "InternalError"),
    "denied": ("deny", "AccessDeniedException"),
    "throttled": ("throttle", "ThrottlingException"),
}


def with_sources(world: Readiness) -> Readiness:
    """The trail (logging, with its bucket), a GuardDuty detector and Security Hub that
    the manifest names, as the stack provisions them."""
    trail_bucket = world.manifest["trail"]["bucket"]
    world.client("s3").create_bucket(Bucket=trail_bucket)
    cloudtrail = world.client("cloudtrail")
    trail = cloudtrail.create_trail(Name=f"ir-{uuid.uuid4().hex[:8]}", S3BucketName=trail_bucket,
                                    IsMultiRegionTrail=True)
    cloudtrail.start_logging(Name=trail["TrailARN"])
    world.manifest["trail"]["arn"] = trail["TrailARN"]
    world.manifest["guardDutyDetectorId"] = world.client("guardduty").create_detector(
        Enable=True)["DetectorId"]
    world.client("securityhub").enable_security_hub()
    world.client("ssm").put_parameter(Name=MANIFEST_PARAMETER, Value=json.dumps(world.manifest),
                                      Type="String", Overwrite=True)
    return world


def inject(faults: Any, how: str, operation: str) -> None:
    kind, _ = FAULTS[how]
    if kind == "fail":
        faults.fail(operation, status=500, code="InternalError")
    elif kind == "deny":
        faults.deny(operation)
    else:
        faults.throttle(operation)


# A failing source is asked 3 times here, not 10 (IR_AWS_MAX_ATTEMPTS): the responder
# sees the same once the retries are spent, without up to ~111 s of botocore's backoff
# per throttled or 5xx call (README); the default of 10 is tests/runbooks/core/test_context.
RETRIES_SPENT = {"IR_AWS_MAX_ATTEMPTS": "3"}


def run(world: Readiness, *args: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    done = world.irctl("--output", "json", *args, env=RETRIES_SPENT)
    return done, json.loads(done.stdout)


def no_markup(*texts: str) -> None:
    for text in texts:
        assert "<html" not in text.lower() and "<!doctype" not in text.lower(), text
        assert "<title>" not in text and "<h1>" not in text, text


def failed(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["source"]: s for s in document["sourceStatus"] if s["status"] == "failed"}


# -- triage ---------------------------------------------------------------------------


def iam_user_finding(seen: datetime) -> dict[str, Any]:
    finding: dict[str, Any] = json.loads(
        (FIXTURES / "guardduty_get_findings_iam_user.json").read_text())["Findings"][0]
    finding["Service"]["EventFirstSeen"] = seen.strftime("%Y-%m-%dT%H:%M:%SZ")
    finding["Service"]["EventLastSeen"] = (seen + timedelta(minutes=5)).strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    return finding


@pytest.mark.parametrize("how", list(FAULTS))
def test_triage_shows_the_trail_logs_when_lookup_events_fails(
        fault_readiness: Readiness, tmp_path: Path, how: str) -> None:
    world = with_sources(fault_readiness)
    assert world.faults is not None
    seen = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=1)
    new_key = record("CreateAccessKey", seen + timedelta(minutes=2), source="iam.amazonaws.com",
                     request={"userName": "build-bot"})
    put_log(world.client("s3"), world.manifest["trail"]["bucket"], seen + timedelta(minutes=8),
            [new_key])
    path = tmp_path / "finding.json"
    path.write_text(json.dumps({"Findings": [iam_user_finding(seen)]}))
    inject(world.faults, how, "LookupEvents")

    done, out = run(world, "triage", "--finding", str(path), "--cloudtrail", "both",
                    "--no-notify")

    assert done.returncode == 3, (done.stdout, done.stderr)
    assert out["exitCode"] == 3 and out["partial"] is True
    # the other source answered: its event is in the timeline
    assert out["timeline"]["events"] == 1
    [source] = failed(out).values()
    code = FAULTS[how][1]
    assert source["source"] == f"lookup_events ({REGION})"
    assert source["errorCode"] == code and source["requestId"]
    assert {s["status"] for s in out["sourceStatus"]
            if s["source"].startswith("s3://")} == {"ok"}
    [line] = [x for x in done.stderr.splitlines() if x.startswith("error: source")]
    assert f"lookup_events ({REGION}): LookupEvents failed: {code}" in line
    assert REQUEST_ID.search(line), line
    assert world.faults.faulted["LookupEvents"] >= 1


def test_triage_by_id_uses_security_hub_when_guardduty_answers_with_a_page(
        fault_readiness: Readiness) -> None:
    world = with_sources(fault_readiness)
    assert world.faults is not None
    seen = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=1)
    finding = json.loads((FIXTURES / "asff_guardduty_backdoor_ec2.json").read_text())
    stamp = seen.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    gd_id = uuid.uuid4().hex
    finding.update(FirstObservedAt=stamp, LastObservedAt=stamp, CreatedAt=stamp,
                   UpdatedAt=stamp, Id=f"arn:aws:guardduty:{REGION}:{ACCOUNT}:detector/"
                   f"{world.manifest['guardDutyDetectorId']}/finding/{gd_id}")
    assert world.client("securityhub").batch_import_findings(
        Findings=[finding])["FailedCount"] == 0
    instance = "i-0b1c2d3e4f5a60719"
    event = record("ModifyInstanceAttribute", seen - timedelta(minutes=30), user="mallory",
                   request={"instanceId": instance, "userData": "x"})
    from rehearsal.emulator import inject_events

    inject_events([as_lookup_event(event, ("AWS::EC2::Instance", instance))],
                  account_id=ACCOUNT, region=REGION)
    world.faults.page("GetFindings", service="guardduty")

    done, out = run(world, "triage", "--finding-id", gd_id, "--cloudtrail", "api",
                    "--no-notify")

    assert done.returncode == 3, (done.stdout, done.stderr)
    assert out["playbooks"] == ["compromised-ec2-instance"]
    assert out["timeline"]["events"] == 1  # CloudTrail still read
    [source] = failed(out).values()
    assert source["source"] == f"GuardDuty detector {world.manifest['guardDutyDetectorId']}"
    assert source["errorCode"] == "404" and "HTML" in source["message"]
    no_markup(done.stdout, done.stderr)


def test_triage_by_id_names_every_source_when_none_can_answer(
        fault_readiness: Readiness) -> None:
    world = with_sources(fault_readiness)
    assert world.faults is not None
    world.faults.page("GetFindings", service="guardduty")
    world.faults.fail("GetFindings", service="securityhub", status=500, code="InternalError")

    done = world.irctl("triage", "--finding-id", uuid.uuid4().hex, env=RETRIES_SPENT)

    assert done.returncode == 1, (done.stdout, done.stderr)
    [line] = [x for x in done.stderr.splitlines() if x.startswith("error:")]
    assert "GetFindings failed: 404" in line and "GetFindings failed: InternalError" in line
    assert REQUEST_ID.search(line), line
    no_markup(done.stdout, done.stderr)


def test_triage_apply_keeps_the_timeline_when_security_hub_fails(
        fault_readiness: Readiness, tmp_path: Path) -> None:
    world = with_sources(fault_readiness)
    assert world.faults is not None
    seen = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=1)
    finding = json.loads((FIXTURES / "asff_guardduty_backdoor_ec2.json").read_text())
    stamp = seen.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    finding.update(FirstObservedAt=stamp, LastObservedAt=stamp, CreatedAt=stamp,
                   UpdatedAt=stamp)
    path = tmp_path / "finding.json"
    path.write_text(json.dumps(finding))
    world.faults.fail("GetFindings", service="securityhub", status=500, code="InternalError")

    done = world.irctl("triage", "--finding", str(path), "--cloudtrail", "api",
                       "--case", "ir-deg-sh", "--apply", env=RETRIES_SPENT)

    assert done.returncode == 3, (done.stdout, done.stderr)
    assert "partial: 1 source(s) failed" in done.stdout
    [line] = [x for x in done.stderr.splitlines() if x.startswith("error: source")]
    assert f"Security Hub workflow of {finding['Id']}: GetFindings failed: InternalError" in line
    assert REQUEST_ID.search(line), line
    # the timeline still reached the evidence bucket; Security Hub was not changed
    timeline = json.loads(world.client("s3").get_object(
        Bucket=world.manifest["evidenceBucket"],
        Key="cases/ir-deg-sh/timeline.json")["Body"].read())
    assert timeline["case"] == "ir-deg-sh" and timeline["failedSources"] == []
    assert world.faults.seen.get("BatchUpdateFindings", 0) == 0


# -- investigate ----------------------------------------------------------------------


@pytest.mark.parametrize("how", ["500", "denied"])  # throttled: see the triage test
def test_investigate_shows_the_trail_logs_when_lookup_events_fails(
        fault_readiness: Readiness, how: str) -> None:
    world = with_sources(fault_readiness)
    assert world.faults is not None
    when = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=30)
    backdoor = record("CreateUser", when, source="iam.amazonaws.com", user="build-bot",
                      request={"userName": "backdoor"})
    put_log(world.client("s3"), world.manifest["trail"]["bucket"], when + timedelta(minutes=5),
            [backdoor])
    inject(world.faults, how, "LookupEvents")

    done, out = run(world, "investigate", "principal",
                    f"arn:aws:iam::{ACCOUNT}:user/build-bot", "--since", "2h",
                    "--cloudtrail", "both")

    assert done.returncode == 3, (done.stdout, done.stderr)
    assert out["partial"] is True and out["exitCode"] == 3
    assert [p["summary"] for p in out["persistence"] if "backdoor" in p["summary"]]
    [source] = failed(out).values()
    assert source["errorCode"] == FAULTS[how][1] and source["requestId"]
    assert any(line.startswith(f"error: source lookup_events ({REGION})")
               and REQUEST_ID.search(line) for line in done.stderr.splitlines())


# -- verify case ----------------------------------------------------------------------


def contained(world: Readiness, case: str) -> tuple[str, str]:
    [iid] = launch_instances(world, 1, volumes=1)
    done = world.irctl("contain", "instance", iid, "--case", case, "--apply")
    assert done.returncode == 0, (done.stdout, done.stderr)
    eni = world.client("ec2").describe_instances(InstanceIds=[iid])["Reservations"][0][
        "Instances"][0]["NetworkInterfaces"][0]["NetworkInterfaceId"]
    return iid, eni


def test_verify_shows_containment_when_guardduty_answers_with_an_html_404(
        fault_readiness: Readiness) -> None:
    world = with_sources(fault_readiness)
    assert world.faults is not None
    _, eni = contained(world, "ir-deg-v1")
    world.faults.page("ListFindings")

    done, out = run(world, "verify", "case", "ir-deg-v1")

    assert done.returncode == 3, (done.stdout, done.stderr)
    assert out["exitCode"] == 3 and out["partial"] is True and out["ok"] is False
    by_what = {c["what"]: c for c in out["checks"]}
    assert by_what[f"{eni} security groups"]["status"] == "holds"
    assert by_what["trail logging"]["status"] == "holds"
    [unknown] = [c for c in out["checks"] if c["status"] == "unknown"]
    assert unknown["area"] == "findings" and unknown["error"]["errorCode"] == "404"
    assert not [c for c in out["checks"] if c["status"] == "broken"]
    source = f"GuardDuty detector {world.manifest['guardDutyDetectorId']} ({ACCOUNT})"
    assert failed(out).keys() == {source}
    assert {s["source"] for s in out["sourceStatus"] if s["status"] == "ok"} == {
        f"Security Hub ({ACCOUNT})", f"CloudTrail trail status ({ACCOUNT})"}
    no_markup(done.stdout, done.stderr)

    text = world.irctl("verify", "case", "ir-deg-v1")
    assert text.returncode == 3
    assert "UNKNOWN" in text.stdout and "holds" in text.stdout
    assert "1 source(s) failed" in text.stdout
    assert any(line.startswith(f"error: source {source}: ListFindings") and "404" in line
               for line in text.stderr.splitlines()), text.stderr
    no_markup(text.stdout, text.stderr)


def test_verify_reports_a_broken_check_before_failed_sources(
        fault_readiness: Readiness) -> None:
    world = with_sources(fault_readiness)
    assert world.faults is not None
    iid, eni = contained(world, "ir-deg-v2")
    app = world.client("ec2").create_security_group(
        GroupName=f"app-{uuid.uuid4().hex[:6]}", Description="app", VpcId=world.vpc_id)["GroupId"]
    world.client("ec2").modify_network_interface_attribute(NetworkInterfaceId=eni, Groups=[app])
    world.faults.deny("GetFindings", service="securityhub")
    world.faults.fail("GetTrailStatus", status=500, code="InternalError")

    done, out = run(world, "verify", "case", "ir-deg-v2")

    assert done.returncode == 1, (done.stdout, done.stderr)  # broken beats partial
    assert out["partial"] is True
    status = {c["what"]: c["status"] for c in out["checks"]}
    assert status[f"{eni} security groups"] == "broken"
    assert status["trail logging"] == "unknown"
    assert {s["errorCode"] for s in failed(out).values()} == {"AccessDeniedException",
                                                              "InternalError"}
    assert all(s["requestId"] for s in failed(out).values())


# -- never a raw page -------------------------------------------------------------------


@pytest.mark.parametrize("operation,args,says", [
    # JSON service: botocore makes the page the message of a ClientError
    ("GetDetector", ("status",), "GetDetector failed: 404"),
    # XML service: botocore cannot parse the page (and names no operation)
    ("DescribeInstances", ("contain", "instance", "i-0123456789abcdef0", "--case", "ir-page"),
     "failed: UnparsableResponse"),
], ids=["status", "contain"])
def test_a_page_instead_of_an_aws_answer_is_never_printed(
        fault_readiness: Readiness, operation: str, args: tuple[str, ...], says: str) -> None:
    world = fault_readiness
    assert world.faults is not None
    world.faults.page(operation)

    done = world.irctl(*args)

    assert done.returncode == 1, (done.stdout, done.stderr)
    shown = done.stdout + done.stderr
    assert says in shown and "HTML/XML page (404 Not Found)" in shown, shown
    no_markup(done.stdout, done.stderr)
