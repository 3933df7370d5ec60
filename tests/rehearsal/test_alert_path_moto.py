"""The alert path, provisioned into moto (the drill's bridge): the dead-letter queue's
alarm watches the queue that holds undelivered alerts and notifies a topic outside the
failed path; the watch rules name the real quarantine groups."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from components.mockrun import evaluate, load_stack_config
from rehearsal.bridge import MotoBridge
from rehearsal.emulator import s3_policy
from rehearsal.emulator.server import start_server
from runbooks.core.manifest_schema import MANIFEST_PARAMETER

ROOT = Path(__file__).resolve().parents[2]
REGION = "eu-west-1"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    # the emulator's server: moto plus the extensions the provisioned stack needs (S3
    # bucket-policy evaluation for the access-logging delivery, ...)
    s3_policy.install()
    server = start_server()
    try:
        yield server.endpoint_url
    finally:
        server.stop()
        s3_policy.uninstall()
    from moto.moto_api._internal.models import moto_api_backend

    moto_api_backend.reset()  # leave no state for the next module


@pytest.fixture(scope="module")
def provisioned(endpoint: str) -> str:
    config = load_stack_config(ROOT / "Pulumi.example.yaml")
    config["ir:regions"] = json.dumps([REGION])
    config["ir:quarantineVpcs"] = json.dumps({REGION: "discover"})
    config.pop("ir:backup", None)  # the example copies backups to a region not covered here
    mocks = MotoBridge(endpoint, REGION)
    evaluate(config, mocks=mocks)
    assert mocks.errors == []
    return endpoint


def _client(endpoint: str, service: str) -> Any:
    return boto3.client(service, endpoint_url=endpoint, region_name=REGION,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def test_an_undelivered_alert_breaches_the_dead_letter_alarm_to_the_alert_path(
        provisioned: str) -> None:
    cloudwatch, sqs, sns = (_client(provisioned, s) for s in ("cloudwatch", "sqs", "sns"))
    (alarm,) = cloudwatch.describe_alarms(
        AlarmNames=["ir-readiness-alerts-dlq-not-empty"])["MetricAlarms"]
    assert alarm["Namespace"] == "AWS/SQS"
    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
    (dimension,) = alarm["Dimensions"]
    assert dimension["Name"] == "QueueName"
    # the queue it watches is the one the rules and subscriptions dead-letter into
    queue_url = sqs.get_queue_url(QueueName=dimension["Value"])["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    events = _client(provisioned, "events")
    targets = events.list_targets_by_rule(Rule="ir-readiness-guardduty-critical")["Targets"]
    assert targets[0]["DeadLetterConfig"]["Arn"] == queue_arn

    # one undelivered alert
    sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps({"detail-type": "x"}))
    visible = int(sqs.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"][
        "ApproximateNumberOfMessages"])
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert visible > alarm["Threshold"]  # one message breaches it

    (action,) = alarm["AlarmActions"]
    assert action.endswith(":ir-readiness-alert-path")
    attributes = sns.get_topic_attributes(TopicArn=action)["Attributes"]
    assert attributes["KmsMasterKeyId"].startswith("arn:aws:kms:")
    publishers = [s for s in json.loads(attributes["Policy"])["Statement"]
                  if s["Effect"] == "Allow" and s["Action"] == "SNS:Publish"]
    assert [s["Principal"] for s in publishers] == [{"Service": "cloudwatch.amazonaws.com"}]
    # outside the failed path: no rule targets it, and its subscribers hear it directly
    for rule in events.list_rules(NamePrefix="ir-readiness-")["Rules"]:
        for target in events.list_targets_by_rule(Rule=rule["Name"])["Targets"]:
            assert target["Arn"] != action
    subscriptions = sns.list_subscriptions_by_topic(TopicArn=action)["Subscriptions"]
    assert {s["Endpoint"] for s in subscriptions} >= {"security-oncall@example.com"}
    for sub in subscriptions:
        redrive = sns.get_subscription_attributes(SubscriptionArn=sub["SubscriptionArn"])[
            "Attributes"].get("RedrivePolicy")
        assert not redrive


def test_watch_rules_name_the_provisioned_quarantine_groups(provisioned: str) -> None:
    events, ec2 = _client(provisioned, "events"), _client(provisioned, "ec2")
    rules = {r["Name"]: json.loads(r["EventPattern"])
             for r in events.list_rules(NamePrefix="ir-readiness-watch-")["Rules"]}
    assert set(rules) == {"ir-readiness-watch-manifest", "ir-readiness-watch-quarantine-groups"}
    groups = {g["GroupId"] for g in ec2.describe_security_groups()["SecurityGroups"]
              if g["GroupName"] != "default"}
    named = set(rules["ir-readiness-watch-quarantine-groups"]["detail"]["$or"][0][
        "requestParameters"]["groupId"])
    assert named and named <= groups
    assert MANIFEST_PARAMETER in json.dumps(rules["ir-readiness-watch-manifest"])
    for name in rules:
        (target,) = events.list_targets_by_rule(Rule=name)["Targets"]
        assert target["Arn"].endswith(":ir-readiness-high")
        assert target["DeadLetterConfig"]["Arn"].endswith(":ir-readiness-alerts-dlq")
