"""EventBridge rules deliver to SNS targets (the drill's extension), transformer applied."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from rehearsal.emulator import events_sns


@pytest.fixture
def sns_delivery() -> Iterator[None]:
    events_sns.install()
    yield
    events_sns.uninstall()


def test_a_matched_event_reaches_the_topics_subscribers_transformed(
    client: Callable[..., Any], sns_delivery: None,
) -> None:
    sqs, sns, events = client("sqs"), client("sns"), client("events")
    suffix = uuid.uuid4().hex[:8]
    url = sqs.create_queue(QueueName=f"inbox-{suffix}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    topic = sns.create_topic(Name=f"high-{suffix}")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    rule = f"guardduty-high-{suffix}"
    events.put_rule(Name=rule, EventPattern=json.dumps({
        "source": ["aws.guardduty"], "detail": {"severity": [{"numeric": [">=", 7]}]}}))
    events.put_targets(Rule=rule, Targets=[{"Id": "topic", "Arn": topic, "InputTransformer": {
        "InputPathsMap": {"type": "$.detail.type", "finding": "$.detail.id"},
        "InputTemplate": '"GuardDuty <type> finding <finding>"'}}])

    for severity, finding in ((8.0, "f-high"), (2.0, "f-low")):
        entries = events.put_events(Entries=[{
            "Source": "aws.guardduty", "DetailType": "GuardDuty Finding",
            "Detail": json.dumps({"type": "Backdoor:EC2/C&CActivity.B", "id": finding,
                                  "severity": severity})}])["Entries"]
        assert "EventId" in entries[0]

    bodies = [json.loads(m["Body"]) for m in sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10)["Messages"]]
    assert [b["Message"] for b in bodies] == [
        "GuardDuty Backdoor:EC2/C&CActivity.B finding f-high"]
    assert bodies[0]["TopicArn"] == topic
