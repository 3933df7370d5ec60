"""The automation Lambda handler against moto (+ the drill emulator's Security Hub).

Each test delivers a realistic EventBridge event to `runbooks.automation.handler` and
asserts the AWS state afterwards (ENI groups, role policies, bucket settings, Security
Hub workflow) and what an SQS queue subscribed to the high topic received.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from runbooks.analysis.findings import parse_findings
from runbooks.automation.config import AutomationConfig
from runbooks.automation.handler import handler, reset_sessions
from runbooks.automation.routing import case_id_for
from runbooks.automation.workflow import AutomationFailed
from runbooks.core.claims import claim_case
from runbooks.core.errors import InvalidInput
from tests.runbooks.conftest import REGION, Readiness, launch_instances

HERE = Path(__file__).parent
SHARED = HERE.parent / "fixtures"


def load(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text())
    return document


@pytest.fixture
def auto(readiness: Readiness, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    from rehearsal.emulator import install

    install()  # Security Hub GetFindings filters + BatchUpdateFindings in moto
    reset_sessions()  # a warm sandbox's clients belong to its own (emulated) account
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("IR_AUTOMATION_MODE", "plan")
    monkeypatch.setenv("IR_AUTOMATION_FINDING_TYPES",
                       "CryptoCurrency:EC2/,Backdoor:EC2/,UnauthorizedAccess:IAMUser/"
                       "InstanceCredentialExfiltration,control/S3.2")
    monkeypatch.setenv("IR_AUTOMATION_MIN_SEVERITY", "7")
    monkeypatch.setenv("IR_AUTOMATION_MAX_ACTIONS_PER_HOUR", "10")
    monkeypatch.delenv("IR_AUTOMATION_OPT_OUT_TAG", raising=False)
    sqs = readiness.client("sqs")
    queue_url = sqs.create_queue(QueueName=f"high-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    readiness.client("sns").subscribe(TopicArn=readiness.manifest["topics"]["high"],
                                      Protocol="sqs", Endpoint=queue_arn)
    yield World(readiness, queue_url, monkeypatch)


class World:
    def __init__(self, readiness: Readiness, queue_url: str,
                 monkeypatch: pytest.MonkeyPatch) -> None:
        self.readiness = readiness
        self.queue_url = queue_url
        self.monkeypatch = monkeypatch

    def client(self, service: str) -> Any:
        return self.readiness.client(service)

    def mode(self, mode: str) -> None:
        self.monkeypatch.setenv("IR_AUTOMATION_MODE", mode)

    def messages(self) -> list[dict[str, Any]]:
        out = []
        while True:
            got = self.client("sqs").receive_message(QueueUrl=self.queue_url,
                                                     MaxNumberOfMessages=10)
            batch = got.get("Messages", [])
            if not batch:
                return out
            for message in batch:
                out.append(json.loads(message["Body"]))
                self.client("sqs").delete_message(QueueUrl=self.queue_url,
                                                  ReceiptHandle=message["ReceiptHandle"])

    def instance(self, tags: dict[str, str] | None = None) -> str:
        (instance_id,) = launch_instances(self.readiness, 1, volumes=1)
        if tags:
            self.client("ec2").create_tags(Resources=[instance_id], Tags=[
                {"Key": k, "Value": v} for k, v in tags.items()])
        return instance_id

    def eni_groups(self, instance_id: str) -> list[list[str]]:
        reservations = self.client("ec2").describe_instances(InstanceIds=[instance_id])
        instance = reservations["Reservations"][0]["Instances"][0]
        return [sorted(g["GroupId"] for g in eni["Groups"])
                for eni in instance["NetworkInterfaces"]]

    def ec2_event(self, instance_id: str) -> dict[str, Any]:
        event = load(SHARED / "guardduty_event_cryptocurrency_ec2.json")
        detail = event["detail"]
        finding_id = uuid.uuid4().hex
        detail["id"] = finding_id
        detail["arn"] = detail["arn"].rsplit("/", 1)[0] + "/" + finding_id
        details = detail["resource"]["instanceDetails"]
        details["instanceId"] = instance_id
        details.pop("iamInstanceProfile")
        details["networkInterfaces"][0]["vpcId"] = self.readiness.vpc_id
        return event

    def isolation_group(self) -> str:
        group: str = self.readiness.manifest["quarantine"][self.readiness.vpc_id][
            "isolationSecurityGroupId"]
        return group


def case_snapshots(ec2: Any) -> list[dict[str, Any]]:
    snapshots: list[dict[str, Any]] = ec2.describe_snapshots(
        OwnerIds=["self"], Filters=[{"Name": "tag-key", "Values": ["ir:case"]}])["Snapshots"]
    return snapshots


def emf_documents(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()
            if line.startswith("{") and '"_aws"' in line]


def metric_names(text: str) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for document in emf_documents(text):
        for directive in document["_aws"]["CloudWatchMetrics"]:
            assert directive["Namespace"] == "ir-readiness/automation"
            for dims in directive["Dimensions"]:
                assert all(d in document for d in dims), "dimension without a value"
            for metric in directive["Metrics"]:
                found[metric["Name"]] = document[metric["Name"]]
    return found


# -- plan mode --------------------------------------------------------------------------


def test_plan_mode_changes_nothing_and_posts_the_plan(auto: World,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    instance_id = auto.instance()
    before_groups = auto.eni_groups(instance_id)
    event = auto.ec2_event(instance_id)

    result = handler(event, None)

    (finding,) = result["findings"]
    assert finding["status"] == "planned" and finding["mode"] == "plan"
    assert auto.eni_groups(instance_id) == before_groups
    ec2 = auto.client("ec2")
    assert case_snapshots(ec2) == []
    attribute = ec2.describe_instance_attribute(InstanceId=instance_id,
                                                Attribute="disableApiTermination")
    assert attribute["DisableApiTermination"]["Value"] is False
    tags = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0][
        "Instances"][0].get("Tags", [])
    assert not any(t["Key"].startswith("ir:") for t in tags)
    (message,) = auto.messages()
    assert message["Subject"].startswith("[ir-automation] PLAN compromised-ec2-instance")
    assert "nothing was changed" in message["Message"]
    assert "ec2.isolate" in message["Message"] and instance_id in message["Message"]
    assert f"--case {finding['case']} --apply" in message["Message"]
    metrics = metric_names(capsys.readouterr().out)
    # createdAt 22:11:29.551 - eventFirstSeen 22:05:31
    assert metrics["TimeToDetect"] == pytest.approx(358.551)
    assert "TimeToContain" not in metrics


# -- apply mode -------------------------------------------------------------------------


def test_apply_mode_contains_the_instance(auto: World,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    auto.mode("apply")
    instance_id = auto.instance()
    event = auto.ec2_event(instance_id)

    result = handler(event, None)

    (finding,) = result["findings"]
    assert finding["status"] == "contained", finding
    assert auto.eni_groups(instance_id) == [[auto.isolation_group()]]
    ec2 = auto.client("ec2")
    snapshots = case_snapshots(ec2)
    assert len(snapshots) == 1
    assert {"Key": "ir:case", "Value": finding["case"]} in snapshots[0]["Tags"]
    attribute = ec2.describe_instance_attribute(InstanceId=instance_id,
                                                Attribute="disableApiTermination")
    assert attribute["DisableApiTermination"]["Value"] is True
    # the case's audit log is in the evidence bucket and names the apply run
    body = auto.client("s3").get_object(
        Bucket=auto.readiness.manifest["evidenceBucket"],
        Key=f"cases/{finding['case']}/audit.jsonl")["Body"].read().decode()
    events = [json.loads(line)["event"] for line in body.splitlines()]
    assert "applied" in events
    subjects = [m["Subject"] for m in auto.messages()]
    assert any(s.startswith("[ir-automation] CONTAINED compromised-ec2-instance")
               for s in subjects)
    # Security Hub is not enabled here: said, not failed
    assert finding["warnings"] == [
        "Security Hub workflow not updated (InvalidAccessException)"], finding["warnings"]
    metrics = metric_names(capsys.readouterr().out)
    assert metrics["TimeToContain"] > metrics["TimeToDetect"] > 0
    assert metrics["HandlerTimeToContain"] >= 0


def test_a_finding_security_hub_has_not_imported_yet_is_contained_and_said(
        auto: World) -> None:
    auto.mode("apply")
    auto.client("securityhub").enable_security_hub()
    instance_id = auto.instance()

    (finding,) = handler(auto.ec2_event(instance_id), None)["findings"]

    assert finding["status"] == "contained", finding
    assert auto.eni_groups(instance_id) == [[auto.isolation_group()]]
    warning = ("Security Hub has not imported the finding yet; its workflow was not moved "
               "to NOTIFIED")
    assert finding["warnings"] == [warning]
    (message,) = [m for m in auto.messages() if m["Subject"].startswith("[ir-automation]")]
    assert f"warning: {warning}" in message["Message"]


def test_duplicate_delivery_contains_once(auto: World) -> None:
    auto.mode("apply")
    instance_id = auto.instance()
    original = auto.eni_groups(instance_id)
    event = auto.ec2_event(instance_id)
    first = handler(event, None)["findings"][0]
    assert first["status"] == "contained"
    # a responder releases the instance; the late duplicate must not contain it again
    ec2 = auto.client("ec2")
    eni = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0][
        "Instances"][0]["NetworkInterfaces"][0]["NetworkInterfaceId"]
    ec2.modify_network_interface_attribute(NetworkInterfaceId=eni, Groups=original[0])
    auto.messages()

    again = handler(copy.deepcopy(event), None)["findings"][0]

    assert again["status"] == "skipped" and again["reason"] == "Duplicate"
    assert auto.eni_groups(instance_id) == original
    assert len(case_snapshots(ec2)) == 1
    assert auto.messages() == []


def test_security_hub_copy_of_a_guardduty_finding_is_the_same_case(auto: World) -> None:
    instance_id = auto.instance()
    event = auto.ec2_event(instance_id)
    gd = parse_findings(event)[0]
    asff = load(SHARED / "asff_guardduty_backdoor_ec2.json")
    asff["Id"] = gd.guardduty_arn
    (sh,) = parse_findings(asff)
    assert case_id_for(sh) == case_id_for(gd)


def test_opt_out_tag_is_honoured(auto: World) -> None:
    auto.mode("apply")
    instance_id = auto.instance(tags={"ir-readiness:automation": "off"})
    before = auto.eni_groups(instance_id)

    (finding,) = handler(auto.ec2_event(instance_id), None)["findings"]

    assert finding["mode"] == "plan" and finding["status"] == "planned"
    assert auto.eni_groups(instance_id) == before
    assert case_snapshots(auto.client("ec2")) == []
    (message,) = auto.messages()
    assert "opted out" in message["Message"] and "NOT ACTING" in message["Message"]


def test_hourly_cap_is_honoured(auto: World) -> None:
    auto.mode("apply")
    auto.monkeypatch.setenv("IR_AUTOMATION_MAX_ACTIONS_PER_HOUR", "1")
    first, second = auto.instance(), auto.instance()
    before_second = auto.eni_groups(second)

    assert handler(auto.ec2_event(first), None)["findings"][0]["status"] == "contained"
    auto.messages()
    (capped,) = handler(auto.ec2_event(second), None)["findings"]

    assert capped["mode"] == "plan"
    assert auto.eni_groups(first) == [[auto.isolation_group()]]
    assert auto.eni_groups(second) == before_second
    (message,) = auto.messages()
    assert "hourly cap reached: 1 automated containment(s)" in message["Message"]


def test_assumed_role_credentials_revoked(auto: World) -> None:
    auto.mode("apply")
    iam = auto.client("iam")
    role = f"web-app-role-{uuid.uuid4().hex[:6]}"
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                 "Principal": {"Service": "ec2.amazonaws.com"}}]}))
    event = load(HERE / "fixtures" / "guardduty_event_role_credential_exfiltration.json")
    event["detail"]["resource"]["accessKeyDetails"]["userName"] = role
    event["detail"]["id"] = uuid.uuid4().hex

    (finding,) = handler(event, None)["findings"]

    assert finding["playbook"] == "compromised-iam-credentials"
    assert finding["status"] == "contained", finding
    assert iam.list_role_policies(RoleName=role)["PolicyNames"] == ["AWSRevokeOlderSessions"]
    policy = iam.get_role_policy(RoleName=role, PolicyName="AWSRevokeOlderSessions")
    statement = policy["PolicyDocument"]["Statement"][0]
    assert statement["Effect"] == "Deny" and "aws:TokenIssueTime" in json.dumps(statement)


def test_security_hub_control_finding_closes_the_bucket(auto: World) -> None:
    auto.mode("apply")
    s3 = auto.client("s3")
    bucket = f"customer-exports-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Sid": "PublicRead", "Effect": "Allow", "Principal": "*",
            "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"}]}))
    event = load(HERE / "fixtures" / "securityhub_event_control_s3_public_read.json")
    asff = event["detail"]["findings"][0]
    asff["Id"] = asff["Id"].rsplit("/", 1)[0] + f"/{uuid.uuid4()}"
    asff["Resources"][0]["Id"] = f"arn:aws:s3:::{bucket}"
    securityhub = auto.client("securityhub")
    securityhub.enable_security_hub()
    securityhub.batch_import_findings(Findings=[asff])

    (finding,) = handler(event, None)["findings"]

    assert finding["playbook"] == "exposed-s3-bucket" and finding["status"] == "contained"
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values())
    with pytest.raises(s3.exceptions.ClientError):
        s3.get_bucket_policy(Bucket=bucket)  # its only statement was public
    found = securityhub.get_findings(Filters={"Id": [{"Value": asff["Id"],
                                                      "Comparison": "EQUALS"}]})["Findings"]
    assert found[0]["Workflow"]["Status"] == "NOTIFIED"
    assert finding["case"] in found[0]["Note"]["Text"]
    # the automation's own writes are changes of the case, in its audit log's bucket copy
    body = s3.get_object(Bucket=auto.readiness.manifest["evidenceBucket"],
                         Key=f"cases/{finding['case']}/audit.jsonl")["Body"].read().decode()
    applied = {json.loads(line)["step"] for line in body.splitlines()
               if json.loads(line)["event"] == "applied"}
    assert {"securityhub.notify-finding", "automation.count-containment",
            "sns.notify"} <= applied, applied
    (message,) = [m for m in auto.messages() if m["Subject"].startswith("[ir-automation]")]
    assert "CONTAINED" in message["Subject"] and "warning: Security Hub" not in message[
        "Message"]


def test_a_finding_held_by_another_run_keeps_its_workflow_and_the_containment_stands(
        auto: World) -> None:
    import time

    from runbooks.core.claims import claim_key

    auto.mode("apply")
    s3 = auto.client("s3")
    bucket = f"customer-exports-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    event = load(HERE / "fixtures" / "securityhub_event_control_s3_public_read.json")
    asff = event["detail"]["findings"][0]
    asff["Id"] = asff["Id"].rsplit("/", 1)[0] + f"/{uuid.uuid4()}"
    asff["Resources"][0]["Id"] = f"arn:aws:s3:::{bucket}"
    securityhub = auto.client("securityhub")
    securityhub.enable_security_hub()
    securityhub.batch_import_findings(Findings=[asff])
    manifest = auto.readiness.manifest
    # a responder's triage holds the finding (its workflow) right now
    s3.put_object(Bucket=manifest["evidenceBucket"],
                  Key=claim_key(manifest["accountId"], REGION, asff["Id"]),
                  Body=json.dumps({"token": "t", "owner": "irctl", "case": "ir-triage",
                                   "host": "another-host", "pid": 1,
                                   "expiresAt": time.time() + 600}).encode())

    started = time.monotonic()
    (finding,) = handler(event, None)["findings"]

    assert time.monotonic() - started < 60  # refused at once, not after the claim wait
    assert finding["status"] == "contained", finding
    assert all(s3.get_public_access_block(Bucket=bucket)[
        "PublicAccessBlockConfiguration"].values())
    found = securityhub.get_findings(Filters={"Id": [{"Value": asff["Id"],
                                                      "Comparison": "EQUALS"}]})["Findings"]
    assert found[0]["Workflow"]["Status"] == "NEW"
    [warning] = [w for w in finding["warnings"] if "Security Hub" in w]
    assert "being changed by another run" in warning and "ir-triage" in warning


# -- what is not acted on ----------------------------------------------------------------


@pytest.mark.parametrize("event", [
    {},
    {"detail-type": "EC2 Instance State-change Notification", "source": "aws.ec2",
     "detail": {"instance-id": "i-0123456789abcdef0", "state": "running"}},
    "not json at all",
    {"detail-type": "GuardDuty Finding", "source": "aws.guardduty", "detail": {"id": "x"}},
    {"detail-type": "GuardDuty Finding", "source": "aws.guardduty",
     "detail": {"type": "CryptoCurrency:EC2/BitcoinTool.B", "accountId": "123456789012",
                "region": "us-east-1", "resource": {}, "service": {}, "severity": "high"}},
    [None],
], ids=["empty", "other-event", "string", "no-finding", "bad-severity", "list-of-null"])
def test_malformed_events_are_dropped_with_a_metric(
        auto: World, event: Any, capsys: pytest.CaptureFixture[str]) -> None:
    auto.mode("apply")
    instance_id = auto.instance()
    before = auto.eni_groups(instance_id)

    result = handler(event, None)

    assert result["status"] == "dropped" and result["reason"] == "Malformed"
    documents = emf_documents(capsys.readouterr().out)
    assert [d["EventsDropped"] for d in documents] == [1]
    assert documents[0]["Reason"] == "Malformed"
    assert auto.eni_groups(instance_id) == before
    assert auto.messages() == []


def test_types_outside_the_allow_list_and_low_severity_are_skipped(
        auto: World, capsys: pytest.CaptureFixture[str]) -> None:
    auto.mode("apply")
    instance_id = auto.instance()
    before = auto.eni_groups(instance_id)
    other = auto.ec2_event(instance_id)
    other["detail"]["type"] = "Trojan:EC2/DropPoint"
    low = auto.ec2_event(instance_id)
    low["detail"]["severity"] = 5

    assert handler(other, None)["findings"][0]["reason"] == "NotAllowed"
    assert handler(low, None)["findings"][0]["reason"] == "BelowSeverity"

    assert auto.eni_groups(instance_id) == before
    assert auto.messages() == []
    reasons = [d["Reason"] for d in emf_documents(capsys.readouterr().out)]
    assert reasons == ["NotAllowed", "BelowSeverity"]


def test_unknown_instance_is_refused_and_reported_not_retried(auto: World) -> None:
    auto.mode("apply")
    (finding,) = handler(auto.ec2_event("i-0123456789abcdef0"), None)["findings"]
    assert finding["status"] == "refused"
    (message,) = auto.messages()
    assert "i-0123456789abcdef0" in message["Message"]


def test_failed_containment_raises_for_retry_and_the_retry_runs(auto: World) -> None:
    auto.mode("apply")
    instance_id = auto.instance()
    event = auto.ec2_event(instance_id)
    from botocore.exceptions import ClientError

    from runbooks.steps import ec2 as ec2_steps

    real_apply = ec2_steps.IsolateInstance.apply
    calls: list[int] = []

    def failing_once(self: Any, change: Any) -> Any:
        if not calls:
            calls.append(1)
            raise ClientError({"Error": {"Code": "RequestLimitExceeded", "Message": "slow"}},
                              "ModifyNetworkInterfaceAttribute")
        return real_apply(self, change)

    auto.monkeypatch.setattr(ec2_steps.IsolateInstance, "apply", failing_once)
    original = auto.eni_groups(instance_id)
    with pytest.raises(AutomationFailed):
        handler(event, None)
    assert auto.eni_groups(instance_id) == original  # rolled back by the runner

    (finding,) = handler(copy.deepcopy(event), None)["findings"]  # Lambda's retry
    assert finding["status"] == "contained"
    assert auto.eni_groups(instance_id) == [[auto.isolation_group()]]


def test_bad_mode_is_a_deployment_error() -> None:
    with pytest.raises(InvalidInput, match="IR_AUTOMATION_MODE = 'yes'"):
        AutomationConfig.from_env({"IR_AUTOMATION_MODE": "yes"})
    assert AutomationConfig.from_env({}).mode == "plan"
    with pytest.raises(InvalidInput, match="IR_AUTOMATION_MIN_SEVERITY = 11"):
        AutomationConfig.from_env({"IR_AUTOMATION_MIN_SEVERITY": "11"})
    with pytest.raises(InvalidInput, match="IR_AUTOMATION_MAX_ACTIONS_PER_HOUR = '-1'"):
        AutomationConfig.from_env({"IR_AUTOMATION_MAX_ACTIONS_PER_HOUR": "-1"})
    config = AutomationConfig.from_env({"IR_AUTOMATION_FINDING_TYPES": " Backdoor:EC2/ ,,"})
    assert config.finding_types == ("Backdoor:EC2/",) and config.allows("Backdoor:EC2/X")
    assert not config.allows(None) and not AutomationConfig().allows("Backdoor:EC2/X")




def test_port_probe_blocks_the_address_in_the_vpc_acls(auto: World) -> None:
    auto.mode("apply")
    auto.monkeypatch.setenv("IR_AUTOMATION_FINDING_TYPES", "Recon:EC2/PortProbeUnprotectedPort")
    auto.monkeypatch.setenv("IR_AUTOMATION_MIN_SEVERITY", "2")
    instance_id = auto.instance()
    event = load(HERE / "fixtures" / "guardduty_event_port_probe.json")
    event["detail"]["id"] = uuid.uuid4().hex
    details = event["detail"]["resource"]["instanceDetails"]
    details["instanceId"] = instance_id
    details["networkInterfaces"][0]["vpcId"] = auto.readiness.vpc_id
    before = auto.eni_groups(instance_id)

    (finding,) = handler(event, None)["findings"]

    assert finding["playbook"] == "malicious-ip" and finding["status"] == "contained", finding
    assert finding["params"] == {"cidr": "203.0.113.45/32", "vpc_id": auto.readiness.vpc_id}
    acls = auto.client("ec2").describe_network_acls(Filters=[
        {"Name": "vpc-id", "Values": [auto.readiness.vpc_id]}])["NetworkAcls"]
    assert acls
    for acl in acls:
        denies = [e for e in acl["Entries"] if e.get("CidrBlock") == "203.0.113.45/32"
                  and e["RuleAction"] == "deny"]
        assert sorted(e["Egress"] for e in denies) == [False, True]
    assert auto.eni_groups(instance_id) == before  # the victim is not isolated


def test_a_failure_after_containment_lets_the_retry_finish(auto: World) -> None:
    from botocore.exceptions import ClientError

    from runbooks.steps.sns import Notify

    auto.mode("apply")
    instance_id = auto.instance()
    event = auto.ec2_event(instance_id)
    real_apply = Notify.apply
    failures: list[int] = []

    def summary_fails_once(self: Notify, change: Any) -> Any:
        # the playbook's own note goes out; the automation's summary fails, once
        if str(self.params.get("subject")).startswith("[ir-automation]") and not failures:
            failures.append(1)
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow"}},
                              "Publish")
        return real_apply(self, change)

    auto.monkeypatch.setattr(Notify, "apply", summary_fails_once)
    with pytest.raises(AutomationFailed, match="notification to the high topic failed"):
        handler(event, None)
    assert failures == [1]
    assert auto.eni_groups(instance_id) == [[auto.isolation_group()]]
    case = case_id_for(parse_findings(event)[0])
    claim = json.loads(auto.client("s3").get_object(
        Bucket=auto.readiness.manifest["evidenceBucket"],
        Key=f"automation/claims/apply/{case}.json")["Body"].read())
    assert claim["status"] == "failed" and "ThrottlingException" in claim["error"]
    auto.messages()  # the playbook's own note went out before the summary failed

    (retry,) = handler(copy.deepcopy(event), None)["findings"]

    assert retry["status"] in ("contained", "already-contained")
    assert retry.get("reason") != "Duplicate"
    subjects = [m["Subject"] for m in auto.messages()]
    assert any(s.startswith("[ir-automation]") for s in subjects)
    assert auto.eni_groups(instance_id) == [[auto.isolation_group()]]
    assert len(case_snapshots(auto.client("ec2"))) == 1  # the retry did not snapshot again


def test_claims_are_exclusive_and_a_failed_claim_is_taken_over(auto: World) -> None:
    s3 = auto.client("s3")
    bucket = auto.readiness.manifest["evidenceBucket"]
    case = f"ir-auto-{uuid.uuid4().hex[:20]}"
    first = claim_case(s3, bucket, case, "apply", {"case": case})
    assert first is not None
    assert claim_case(s3, bucket, case, "apply", {"case": case}) is None
    assert claim_case(s3, bucket, case, "plan", {"case": case}) is not None  # other mode
    first.write({"case": case, "status": "failed"})
    retry = claim_case(s3, bucket, case, "apply", {"case": case})
    assert retry is not None
    body = json.loads(s3.get_object(Bucket=bucket, Key=retry.key)["Body"].read())
    assert body["status"] == "in-progress"
    assert claim_case(s3, bucket, case, "apply", {"case": case}) is None


def test_security_hub_copy_delivered_after_the_guardduty_event_does_nothing(
        auto: World) -> None:
    auto.mode("apply")
    instance_id = auto.instance()
    event = auto.ec2_event(instance_id)
    assert handler(event, None)["findings"][0]["status"] == "contained"
    auto.messages()
    asff = load(SHARED / "asff_guardduty_backdoor_ec2.json")
    asff["Id"] = event["detail"]["arn"]
    asff["Types"] = ["TTPs/Command and Control/CryptoCurrency:EC2-BitcoinTool.B!DNS"]
    for resource in asff["Resources"]:
        if resource["Type"] == "AwsEc2Instance":
            resource["Id"] = f"arn:aws:ec2:us-east-1:123456789012:instance/{instance_id}"
    copy_event = {"version": "0", "id": str(uuid.uuid4()),
                  "detail-type": "Security Hub Findings - Imported",
                  "source": "aws.securityhub", "account": "123456789012",
                  "region": "us-east-1", "detail": {"findings": [asff]}}

    (again,) = handler(copy_event, None)["findings"]

    assert again["reason"] == "Duplicate"
    assert auto.messages() == []


# -- the Lambda's time budget ------------------------------------------------------------


class LambdaContext:
    """What Lambda passes the handler, as far as the handler reads it."""

    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def audit_records(case: str) -> list[dict[str, Any]]:
    from runbooks.core.audit import AuditLog

    return AuditLog(case).records()


def unfinished_changes(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`applying` records with no outcome after them (what a killed function leaves)."""
    outcomes = ("applied", "apply-failed", "apply-crashed")
    open_: list[dict[str, Any]] = []
    for record in records:
        if record["event"] == "applying":
            open_.append(record)
        elif record["event"] in outcomes:
            open_ = [r for r in open_ if (r["target"], r["change"]) !=
                     (record["target"], record["change"])]
    return open_


def test_too_little_time_left_starts_no_change_and_records_why(auto: World) -> None:
    auto.mode("apply")
    instance_id = auto.instance()
    original = auto.eni_groups(instance_id)
    event = auto.ec2_event(instance_id)

    with pytest.raises(AutomationFailed):
        handler(event, LambdaContext(remaining_ms=20_000))

    # nothing changed in AWS
    assert auto.eni_groups(instance_id) == original
    ec2 = auto.client("ec2")
    assert ec2.describe_instance_attribute(InstanceId=instance_id,
                                           Attribute="disableApiTermination"
                                           )["DisableApiTermination"]["Value"] is False
    assert case_snapshots(ec2) == []
    # every planned change is recorded as not attempted, with the reason; none was begun
    case = case_id_for(parse_findings(event)[0])
    records = audit_records(case)
    # (the automation's summary is a planned-and-applied change of its own, kind notify)
    planned = [r for r in records if r["event"] == "planned" and r["kind"] != "notify"]
    skipped = [r for r in records if r["event"] == "not-attempted"]
    assert planned and len(skipped) == len(planned)
    assert all("time budget" in r["reason"] for r in skipped)
    assert not any(r["event"] == "applying" for r in records if r["kind"] != "notify")
    # the claim and the notification say what was left
    claim = json.loads(auto.client("s3").get_object(
        Bucket=auto.readiness.manifest["evidenceBucket"],
        Key=f"automation/claims/apply/{case}.json")["Body"].read())
    assert claim["status"] == "failed" and claim["notAttempted"] == len(planned)
    [message] = [m for m in auto.messages() if "FAILED" in m["Subject"]]
    assert f"{len(planned)} change(s) NOT attempted" in message["Message"]
    assert "[not-attempted] ec2.isolate" in message["Message"]

    # Lambda's retry, with its full budget, contains it
    (finding,) = handler(copy.deepcopy(event), LambdaContext(300_000))["findings"]
    assert finding["status"] == "contained"
    assert auto.eni_groups(instance_id) == [[auto.isolation_group()]]


def test_a_budget_running_out_mid_run_leaves_no_change_without_an_outcome(
        auto: World) -> None:
    # 1 s connect + 1 s read timeouts: one hung call costs up to 4.5 s, a change of the
    # isolation step (two calls) 10 s with its record; the finish keeps 2 x 4.5 s
    auto.monkeypatch.setenv("IR_AWS_CONNECT_TIMEOUT", "1")
    auto.monkeypatch.setenv("IR_AWS_READ_TIMEOUT", "1")
    reset_sessions()
    auto.mode("apply")
    instance_id = auto.instance()
    original = auto.eni_groups(instance_id)
    event = auto.ec2_event(instance_id)

    with pytest.raises(AutomationFailed):  # partially applied: exit code 3, retried
        handler(event, LambdaContext(remaining_ms=18_000))

    ec2 = auto.client("ec2")
    case = case_id_for(parse_findings(event)[0])
    # the single-call changes before the cut fitted in the budget and were made...
    described = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0][
        "Instances"][0]
    assert {t["Key"]: t["Value"] for t in described.get("Tags", [])}.get("ir:case") == case
    auto.client("s3").head_object(Bucket=auto.readiness.manifest["evidenceBucket"],
                                  Key=f"cases/{case}/instances/{instance_id}/metadata.json")
    # ... the isolation did not start, and stays recorded as not attempted
    assert auto.eni_groups(instance_id) == original
    records = audit_records(case)
    assert unfinished_changes(records) == []
    skipped = {r["step"] for r in records if r["event"] == "not-attempted"}
    assert "ec2.isolate" in skipped
    assert not any(r["event"] == "rolled-back" for r in records)  # no time to roll back
    [message] = [m for m in auto.messages() if "FAILED" in m["Subject"]]
    assert "[applied] ec2.tag-contained" in message["Message"]
    assert "[not-attempted] ec2.isolate" in message["Message"]
    # network first: nothing after the cut was planned or made, termination protection
    # included (the retry does it)
    assert "ec2.protect" not in {r.get("step") for r in records}
    assert ec2.describe_instance_attribute(InstanceId=instance_id,
                                           Attribute="disableApiTermination"
                                           )["DisableApiTermination"]["Value"] is False


def test_an_archived_claim_is_reported_not_retried_into_the_dead_letter_queue(
        auto: World, caplog: pytest.LogCaptureFixture) -> None:
    """A claim moved to Glacier (a bucket deployed before claims were kept out of the
    archive rule) answers InvalidObjectState: the second delivery must say so and stop,
    not raise (Lambda would retry it into the dead-letter queue and page)."""
    auto.mode("apply")
    instance_id = auto.instance()
    event = auto.ec2_event(instance_id)
    assert handler(event, None)["findings"][0]["status"] == "contained"
    auto.messages()
    s3 = auto.client("s3")
    bucket = auto.readiness.manifest["evidenceBucket"]
    claims = s3.list_objects_v2(Bucket=bucket, Prefix="automation/claims/")["Contents"]
    assert len(claims) == 1
    key = claims[0]["Key"]
    # what the lifecycle transition does: the claim's current version is now in GLACIER
    s3.copy_object(Bucket=bucket, Key=key, CopySource={"Bucket": bucket, "Key": key},
                   StorageClass="GLACIER")
    with pytest.raises(ClientError) as archived:
        s3.get_object(Bucket=bucket, Key=key)
    assert archived.value.response["Error"]["Code"] == "InvalidObjectState"

    with caplog.at_level("WARNING", logger="runbooks.automation"):
        again = handler(copy.deepcopy(event), None)["findings"][0]

    assert again["status"] == "skipped" and again["reason"] == "Duplicate"
    assert f"claim s3://{bucket}/{key} is archived" in caplog.text
    assert "restore-object" in caplog.text
    assert len(case_snapshots(auto.client("ec2"))) == 1
    assert auto.messages() == []
