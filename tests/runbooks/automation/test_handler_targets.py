"""The automation handler acts only on this account's live findings (issue 16, part 1).

Real-shaped EventBridge events (GuardDuty Finding, Security Hub Findings - Imported) are
delivered to `runbooks.automation.handler` while every AWS call goes to a moto server
over HTTP, as the Lambda would reach AWS. Each test asserts the AWS state afterwards
(ENI groups, network ACL entries, role policies, bucket settings, snapshots, claims in
the evidence bucket) and what an SQS queue subscribed to the high topic received.
"""

from __future__ import annotations

import copy
import json
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runbooks.automation.handler import handler, reset_sessions
from tests.runbooks.conftest import REGION, Readiness, launch_instances

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
OWN_FIXTURES = Path(__file__).resolve().parent / "fixtures"
OTHER_ACCOUNT = "210987654321"
ALLOWED = ",".join([
    "CryptoCurrency:", "Backdoor:EC2/", "Execution:", "UnauthorizedAccess:",
    "CredentialAccess:", "Recon:EC2/", "control/S3.2",
])


def load(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text())
    return document


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
            batch = self.client("sqs").receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not batch:
                return out
            for message in batch:
                out.append(json.loads(message["Body"]))
                self.client("sqs").delete_message(QueueUrl=self.queue_url,
                                                  ReceiptHandle=message["ReceiptHandle"])

    def instance(self) -> str:
        (instance_id,) = launch_instances(self.readiness, 1, volumes=1)
        return instance_id

    def eni_groups(self, instance_id: str) -> list[list[str]]:
        instance = self.client("ec2").describe_instances(InstanceIds=[instance_id])[
            "Reservations"][0]["Instances"][0]
        return [sorted(g["GroupId"] for g in eni["Groups"])
                for eni in instance["NetworkInterfaces"]]

    def private_ip(self, instance_id: str) -> str:
        instance = self.client("ec2").describe_instances(InstanceIds=[instance_id])[
            "Reservations"][0]["Instances"][0]
        return str(instance["PrivateIpAddress"])

    def acl_denies(self) -> list[str]:
        acls = self.client("ec2").describe_network_acls(Filters=[
            {"Name": "vpc-id", "Values": [self.readiness.vpc_id]}])["NetworkAcls"]
        return sorted(e["CidrBlock"] for acl in acls for e in acl["Entries"]
                      if e["RuleAction"] == "deny" and e["RuleNumber"] < 32767)

    def claims(self) -> list[str]:
        listed = self.client("s3").list_objects_v2(
            Bucket=self.readiness.manifest["evidenceBucket"], Prefix="automation/")
        return [o["Key"] for o in listed.get("Contents", [])]

    def snapshots(self, instance_id: str) -> list[dict[str, Any]]:
        """Evidence snapshots of `instance_id` (moto's backend outlives one test's server:
        filter by instance, not by account)."""
        found: list[dict[str, Any]] = self.client("ec2").describe_snapshots(
            OwnerIds=["self"], Filters=[{"Name": "tag:ir:source-instance",
                                         "Values": [instance_id]}])["Snapshots"]
        return found

    def gd_event(self, name: str, instance_id: str | None = None) -> dict[str, Any]:
        """A GuardDuty Finding event from a fixture, with a fresh finding id, naming
        `instance_id` (in this world's VPC) when given."""
        event = load(FIXTURES / name)
        detail = event["detail"]
        detail["id"] = uuid.uuid4().hex
        detail["arn"] = detail["arn"].rsplit("/", 1)[0] + "/" + detail["id"]
        details = detail["resource"].get("instanceDetails")
        if details is not None and instance_id:
            details["instanceId"] = instance_id
            details.pop("iamInstanceProfile", None)
            for eni in details.get("networkInterfaces") or []:
                eni["vpcId"] = self.readiness.vpc_id
                eni["privateIpAddress"] = self.private_ip(instance_id)
                eni["privateIpAddresses"] = [{"privateIpAddress": eni["privateIpAddress"]}]
        return event

    def role_event(self, role: str, account: str | None = None) -> dict[str, Any]:
        event = load(OWN_FIXTURES / "guardduty_event_role_credential_exfiltration.json")
        detail = event["detail"]
        detail["id"] = uuid.uuid4().hex
        detail["resource"]["accessKeyDetails"]["userName"] = role
        if account:
            event["account"] = detail["accountId"] = account
            detail["arn"] = detail["arn"].replace(":123456789012:", f":{account}:")
        return event

    def s3_event(self, bucket: str, **changes: Any) -> dict[str, Any]:
        event = load(OWN_FIXTURES / "securityhub_event_control_s3_public_read.json")
        finding = event["detail"]["findings"][0]
        finding["Id"] = finding["Id"].rsplit("/", 1)[0] + "/" + str(uuid.uuid4())
        finding["Resources"][0]["Id"] = f"arn:aws:s3:::{bucket}"
        finding.update(changes)
        return event

    def public_bucket(self) -> str:
        bucket = f"customer-exports-{uuid.uuid4().hex[:8]}"
        self.client("s3").create_bucket(Bucket=bucket)
        return bucket

    def public_access_block(self, bucket: str) -> dict[str, Any] | None:
        from botocore.exceptions import ClientError

        try:
            block: dict[str, Any] = self.client("s3").get_public_access_block(
                Bucket=bucket)["PublicAccessBlockConfiguration"]
        except ClientError as err:
            assert err.response["Error"]["Code"] == "NoSuchPublicAccessBlockConfiguration"
            return None
        return block


@pytest.fixture
def auto(server_readiness: Readiness, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    reset_sessions()
    monkeypatch.setenv("AWS_ENDPOINT_URL", str(server_readiness.endpoint_url))
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("IR_AUTOMATION_MODE", "apply")
    monkeypatch.setenv("IR_AUTOMATION_FINDING_TYPES", ALLOWED)
    monkeypatch.setenv("IR_AUTOMATION_MIN_SEVERITY", "4")
    monkeypatch.setenv("IR_AUTOMATION_MAX_ACTIONS_PER_HOUR", "50")
    for name in ("IR_AUTOMATION_OPT_OUT_TAG", "IR_AUTOMATION_MEMBER_ROLE_NAME",
                 "IR_AUTOMATION_EXTERNAL_ID"):
        monkeypatch.delenv(name, raising=False)
    sqs = server_readiness.client("sqs")
    queue_url = sqs.create_queue(QueueName=f"high-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    server_readiness.client("sns").subscribe(
        TopicArn=server_readiness.manifest["topics"]["high"], Protocol="sqs",
        Endpoint=queue_arn)
    yield World(server_readiness, queue_url, monkeypatch)
    reset_sessions()


def deliver(event: dict[str, Any]) -> dict[str, Any]:
    (result,) = handler(event, None)["findings"]
    return result


# -- state: sample, archived, closed ---------------------------------------------------


def test_sample_and_archived_guardduty_findings_touch_nothing(auto: World) -> None:
    instance_id = auto.instance()
    before = auto.eni_groups(instance_id)
    # EventBridge carries additionalInfo as a JSON string under `value`; get-findings
    # output (also accepted) as an object.
    sample = auto.gd_event("guardduty_event_cryptocurrency_ec2.json", instance_id)
    sample["detail"]["service"]["additionalInfo"] = {"value": '{"sample":true}',
                                                     "type": "default"}
    exported = auto.gd_event("guardduty_event_cryptocurrency_ec2.json", instance_id)
    exported["detail"]["service"]["additionalInfo"] = {"sample": True}
    archived = auto.gd_event("guardduty_event_cryptocurrency_ec2.json", instance_id)
    archived["detail"]["service"]["archived"] = True

    results = [deliver(sample), deliver(exported), deliver(archived)]

    assert [r["status"] for r in results] == ["skipped"] * 3
    assert [r["reason"] for r in results] == ["Inactive"] * 3
    assert "sample finding" in results[0]["detail"]
    assert "sample finding" in results[1]["detail"]
    assert "archived" in results[2]["detail"]
    assert auto.eni_groups(instance_id) == before  # not isolated
    assert auto.snapshots(instance_id) == [] and auto.claims() == []
    assert auto.messages() == []


@pytest.mark.parametrize("changes,expected", [
    ({"RecordState": "ARCHIVED"}, "archived"),
    ({"Workflow": {"Status": "RESOLVED"}, "WorkflowState": "RESOLVED"}, "RESOLVED"),
    ({"Workflow": {"Status": "SUPPRESSED"}, "WorkflowState": "SUPPRESSED"}, "SUPPRESSED"),
    ({"Workflow": {"Status": "NOTIFIED"}, "WorkflowState": "NEW"}, "NOTIFIED"),
    ({"Sample": True}, "sample"),
])
def test_archived_closed_or_sample_security_hub_findings_touch_nothing(
        auto: World, changes: dict[str, Any], expected: str) -> None:
    bucket = auto.public_bucket()

    result = deliver(auto.s3_event(bucket, **changes))

    assert result["status"] == "skipped" and result["reason"] == "Inactive"
    assert expected in result["detail"]
    assert auto.public_access_block(bucket) is None  # the bucket playbook never ran
    assert auto.claims() == [] and auto.messages() == []


def test_a_live_security_hub_finding_still_closes_the_bucket(auto: World) -> None:
    # The control for the tests above: the same event, ACTIVE and NEW, does act.
    bucket = auto.public_bucket()

    result = deliver(auto.s3_event(bucket))

    assert result["status"] == "contained", result
    block = auto.public_access_block(bucket)
    assert block is not None and all(block.values())


# -- account and region ---------------------------------------------------------------


def test_role_finding_of_another_account_is_refused_without_member_role(
        auto: World, caplog: pytest.LogCaptureFixture) -> None:
    iam = auto.client("iam")
    role = f"ci-deploy-{uuid.uuid4().hex[:6]}"  # same name as the other account's role
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "sts:AssumeRole",
            "Principal": {"Service": "ec2.amazonaws.com"}}]}))

    with caplog.at_level(logging.WARNING, logger="runbooks.automation"):
        result = deliver(auto.role_event(role, account=OTHER_ACCOUNT))

    assert result["status"] == "refused" and result["reason"] == "OtherAccount"
    assert OTHER_ACCOUNT in result["error"]
    assert "IR_AUTOMATION_MEMBER_ROLE_NAME" in result["error"]
    assert OTHER_ACCOUNT in caplog.text  # the log line carries the reason
    assert iam.list_role_policies(RoleName=role)["PolicyNames"] == []  # sessions not revoked
    assert auto.claims() == []
    (message,) = auto.messages()
    assert message["Subject"] == f"[ir-automation] REFUSED compromised-iam-credentials {role}"
    assert f"reason: finding is for account {OTHER_ACCOUNT}" in message["Message"]


def test_bucket_finding_of_another_account_is_refused(auto: World) -> None:
    bucket = auto.public_bucket()  # a bucket of that name exists here too

    result = deliver(auto.s3_event(bucket, AwsAccountId=OTHER_ACCOUNT))

    assert result["status"] == "refused" and result["reason"] == "OtherAccount"
    assert auto.public_access_block(bucket) is None
    (message,) = auto.messages()
    assert bucket in message["Subject"] and OTHER_ACCOUNT in message["Message"]


def test_other_account_with_a_member_role_acts_only_through_that_role(
        auto: World) -> None:
    # The role is configured but the other account has no readiness manifest: the
    # handler assumes the role, reads that account's manifest, and refuses. It never
    # falls back to acting in this account.
    auto.monkeypatch.setenv("IR_AUTOMATION_MEMBER_ROLE_NAME", "ir-readiness-member-responder")
    iam = auto.client("iam")
    role = f"ci-deploy-{uuid.uuid4().hex[:6]}"
    iam.create_role(RoleName=role, AssumeRolePolicyDocument="{}")

    result = deliver(auto.role_event(role, account=OTHER_ACCOUNT))

    assert result["status"] == "refused" and result["reason"] == "OtherAccount"
    assert "manifest" in result["error"]
    assert iam.list_role_policies(RoleName=role)["PolicyNames"] == []


def test_finding_of_another_region_is_skipped(auto: World) -> None:
    instance_id = auto.instance()
    before = auto.eni_groups(instance_id)
    event = auto.gd_event("guardduty_event_cryptocurrency_ec2.json", instance_id)
    event["region"] = event["detail"]["region"] = "eu-west-1"

    result = deliver(event)

    assert result["reason"] == "OtherRegion" and "eu-west-1" in result["detail"]
    assert auto.eni_groups(instance_id) == before


# -- reasons ------------------------------------------------------------------------------


def test_unknown_instance_refusal_carries_its_reason_everywhere(
        auto: World, caplog: pytest.LogCaptureFixture) -> None:
    # The fixture's instance i-0a1b2c3d4e5f60718 does not exist in this account.
    with caplog.at_level(logging.INFO, logger="runbooks.automation"):
        result = deliver(auto.gd_event("guardduty_event_cryptocurrency_ec2.json", None))

    assert result["status"] == "refused"
    assert result["error"] and "i-0a1b2c3d4e5f60718" in result["error"]
    assert "refused" in caplog.text and "i-0a1b2c3d4e5f60718" in caplog.text
    (message,) = auto.messages()
    assert message["Subject"].startswith("[ir-automation] REFUSED compromised-ec2-instance")
    assert "i-0a1b2c3d4e5f60718" in message["Subject"]
    assert "reason: i-0a1b2c3d4e5f60718" in message["Message"]


def test_subject_names_the_role_not_its_kind(auto: World) -> None:
    auto.mode("plan")
    role = f"web-app-role-{uuid.uuid4().hex[:6]}"
    auto.client("iam").create_role(RoleName=role, AssumeRolePolicyDocument="{}")

    result = deliver(auto.role_event(role))

    assert result["status"] == "planned", result
    (message,) = auto.messages()
    assert message["Subject"] == f"[ir-automation] PLAN compromised-iam-credentials {role}"


@pytest.mark.parametrize("event", [
    {"detail-type": "GuardDuty Finding", "source": "aws.guardduty", "detail": {"id": "x"}},
    {"detail-type": "Security Hub Findings - Imported", "source": "aws.securityhub",
     "detail": {"findings": [{"Id": "x", "ProductArn": "p", "AwsAccountId": "12",
                              "Resources": []}]}},
    ["not", "a", "finding"],
])
def test_malformed_events_are_dropped_with_the_reason(auto: World, event: Any) -> None:
    result = handler(event, None)

    assert result["status"] == "dropped" and result["reason"] == "Malformed"
    assert result["detail"]
    assert auto.claims() == [] and auto.messages() == []


# -- target versus actor, direction -------------------------------------------------------


def test_brute_force_target_blocks_the_attacker_and_never_isolates_the_victim(
        auto: World) -> None:
    instance_id = auto.instance()
    before = auto.eni_groups(instance_id)

    result = deliver(auto.gd_event("guardduty_event_ssh_bruteforce_target.json", instance_id))

    assert result["playbook"] == "malicious-ip" and result["status"] == "contained", result
    assert result["params"]["cidr"] == "203.0.113.45/32"
    assert auto.acl_denies() == ["203.0.113.45/32", "203.0.113.45/32"]  # in and out
    assert auto.eni_groups(instance_id) == before  # the victim keeps its network


def test_any_ec2_finding_on_a_target_instance_does_not_isolate_it(auto: World) -> None:
    instance_id = auto.instance()
    before = auto.eni_groups(instance_id)
    event = auto.gd_event("guardduty_event_ssh_bruteforce_target.json", instance_id)
    event["detail"]["type"] = "UnauthorizedAccess:EC2/TorIPCaller"

    result = deliver(event)

    assert result["playbook"] == "malicious-ip"
    assert auto.eni_groups(instance_id) == before


def port_probe_asff(auto: World, instance_id: str, network: dict[str, Any]
                    ) -> dict[str, Any]:
    finding = load(FIXTURES / "asff_guardduty_backdoor_ec2.json")
    finding["Id"] = finding["Id"].rsplit("/", 1)[0] + "/" + uuid.uuid4().hex
    finding["Types"] = ["TTPs/Discovery/Recon:EC2-PortProbeUnprotectedPort"]
    finding["ProductFields"] = {"aws/guardduty/service/resourceRole": "TARGET"}
    resource = finding["Resources"][0]
    resource["Id"] = f"arn:aws:ec2:{REGION}:123456789012:instance/{instance_id}"
    resource["Details"]["AwsEc2Instance"].update(
        VpcId=auto.readiness.vpc_id, IpV4Addresses=[auto.private_ip(instance_id)])
    finding["Severity"] = {"Label": "MEDIUM", "Product": 5, "Normalized": 50}
    finding["Network"] = network
    return {"version": "0", "id": str(uuid.uuid4()),
            "detail-type": "Security Hub Findings - Imported", "source": "aws.securityhub",
            "account": "123456789012", "region": REGION, "resources": [finding["Id"]],
            "detail": {"findings": [finding]}}


def test_asff_inbound_source_is_the_remote_address(auto: World) -> None:
    instance_id = auto.instance()
    own = auto.private_ip(instance_id)

    result = deliver(port_probe_asff(auto, instance_id, {
        "Direction": "IN", "SourceIpV4": "198.51.100.9", "DestinationIpV4": own}))

    assert result["status"] == "contained", result
    assert auto.acl_denies() == ["198.51.100.9/32", "198.51.100.9/32"]


def test_asff_source_without_inbound_direction_is_never_blocked(auto: World) -> None:
    instance_id = auto.instance()
    own = auto.private_ip(instance_id)

    outbound = deliver(port_probe_asff(auto, instance_id, {
        "Direction": "OUT", "SourceIpV4": own}))
    undirected = deliver(port_probe_asff(auto, instance_id, {"SourceIpV4": own}))

    for result in (outbound, undirected):
        assert result["status"] == "skipped" and result["reason"] == "NoTarget", result
    assert auto.acl_denies() == []  # the instance's own address was never denied


def test_a_remote_address_inside_the_vpc_is_refused_with_the_reason(auto: World) -> None:
    instance_id = auto.instance()
    event = auto.gd_event("guardduty_event_ssh_bruteforce_target.json", instance_id)
    action = event["detail"]["service"]["action"]["networkConnectionAction"]
    action["remoteIpDetails"]["ipAddressV4"] = "10.0.0.77"  # inside the VPC's 10.0.0.0/16

    result = deliver(event)

    assert result["status"] == "refused"
    assert "overlaps" in result["error"] and "10.0.0.0/16" in result["error"]
    assert auto.acl_denies() == []
    (message,) = auto.messages()
    assert "REFUSED malicious-ip 10.0.0.77/32" in message["Subject"]


# -- resources no playbook handles yet ----------------------------------------------------


@pytest.mark.parametrize("fixture,names", [
    ("guardduty_event_ecs_runtime_new_binary.json",
     ["ecs-cluster payments", "ecs-task 9f8e7d6c5b4a39281706", "ECS task"]),
])
def test_ecs_container_findings_are_skipped_with_the_reason(
        auto: World, fixture: str, names: list[str]) -> None:
    node = auto.instance()  # the EKS finding names its node: it must not be isolated
    before = auto.eni_groups(node)
    event = auto.gd_event(fixture, node)

    result = deliver(event)

    assert result["status"] == "skipped" and result["reason"] == "UnsupportedResource"
    for name in names:
        assert name in result["detail"]
    assert "no playbook yet" in result["detail"]
    assert auto.eni_groups(node) == before
    assert auto.claims() == [] and auto.snapshots(node) == []


def test_a_lambda_finding_is_left_to_a_responder_with_the_reason(auto: World) -> None:
    """The Lambda playbook exists but is not automated: throttling a function stops a
    production service for every caller (routing.NOT_AUTOMATED)."""
    node = auto.instance()
    before = auto.eni_groups(node)

    result = deliver(auto.gd_event("guardduty_event_lambda_cryptocurrency.json", node))

    assert result["status"] == "skipped" and result["reason"] == "NoPlaybook", result
    assert "compromised-lambda-function" in result["detail"]
    assert "irctl contain function" in result["detail"]
    assert auto.eni_groups(node) == before
    assert auto.claims() == []


def test_eks_pod_finding_is_routed_to_the_pod_playbook_which_is_never_automated(
        auto: World) -> None:
    # A Runtime finding in a pod names its node: automation must isolate neither.
    node = auto.instance()
    before = auto.eni_groups(node)
    event = auto.gd_event("guardduty_event_eks_runtime_cryptocurrency.json", node)

    result = deliver(event)

    assert result["status"] == "skipped"
    assert result["reason"] in ("NotAllowed", "NoPlaybook"), result
    assert auto.eni_groups(node) == before
    assert auto.claims() == [] and auto.snapshots(node) == []


def test_rds_finding_is_routed_but_left_to_a_human_with_the_reason(auto: World) -> None:
    """The RDS playbook is not automated: containing a database cuts the application and
    rotates its password one-way. The skip says so and names the command; nothing is
    claimed, nothing changes."""
    node = auto.instance()
    before = auto.eni_groups(node)
    event = auto.gd_event("guardduty_event_rds_anomalous_login.json", node)

    result = deliver(event)

    assert result["status"] == "skipped" and result["reason"] == "NoPlaybook", result
    assert "compromised-rds-database" in result["detail"]
    assert "irctl contain database" in result["detail"]
    assert auto.eni_groups(node) == before
    assert auto.claims() == []


def test_live_finding_on_an_instance_still_isolates_it(auto: World) -> None:
    # The control for the skips above: the live, in-account, in-region ACTOR finding.
    instance_id = auto.instance()
    isolation = auto.readiness.manifest["quarantine"][auto.readiness.vpc_id][
        "isolationSecurityGroupId"]
    event = copy.deepcopy(auto.gd_event("guardduty_event_cryptocurrency_ec2.json",
                                        instance_id))

    result = deliver(event)

    assert result["status"] == "contained", result
    assert auto.eni_groups(instance_id) == [[isolation]]


def test_other_account_is_contained_there_through_the_member_role(auto: World) -> None:
    # Account B has its own readiness manifest; the handler assumes B's member responder
    # role and revokes the sessions of B's role. A's role of the same name is untouched.
    import boto3

    member_role = "ir-readiness-member-responder"
    auto.monkeypatch.setenv("IR_AUTOMATION_MEMBER_ROLE_NAME", member_role)
    endpoint = auto.readiness.endpoint_url
    credentials = boto3.client("sts", region_name=REGION, endpoint_url=endpoint).assume_role(
        RoleArn=f"arn:aws:iam::{OTHER_ACCOUNT}:role/{member_role}",
        RoleSessionName="seed")["Credentials"]

    def member(service: str) -> Any:
        return boto3.client(service, region_name=REGION, endpoint_url=endpoint,
                            aws_access_key_id=credentials["AccessKeyId"],
                            aws_secret_access_key=credentials["SecretAccessKey"],
                            aws_session_token=credentials["SessionToken"])

    assert member("sts").get_caller_identity()["Account"] == OTHER_ACCOUNT
    from tests.runbooks.conftest import seed_readiness

    seed_readiness(member, account=OTHER_ACCOUNT)
    role = f"ci-deploy-{uuid.uuid4().hex[:6]}"
    for iam in (member("iam"), auto.client("iam")):
        iam.create_role(RoleName=role, AssumeRolePolicyDocument="{}")

    result = deliver(auto.role_event(role, account=OTHER_ACCOUNT))

    assert result["status"] == "contained", result
    assert member("iam").list_role_policies(RoleName=role)["PolicyNames"] == [
        "AWSRevokeOlderSessions"]
    assert auto.client("iam").list_role_policies(RoleName=role)["PolicyNames"] == []


def test_a_role_name_with_a_look_alike_letter_is_never_acted_on(auto: World) -> None:
    iam = auto.client("iam")
    role = f"ci-deploy-{uuid.uuid4().hex[:6]}"
    iam.create_role(RoleName=role, AssumeRolePolicyDocument="{}")

    result = deliver(auto.role_event(role.replace("e", "\u0435", 1)))  # Cyrillic e

    assert result["status"] == "skipped" and result["reason"] == "NoTarget"
    assert "U+0435" in result["detail"]
    assert iam.list_role_policies(RoleName=role)["PolicyNames"] == []
    assert auto.claims() == [] and auto.messages() == []
