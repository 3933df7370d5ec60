"""Bridge handlers for SNS topics, topic policies, subscriptions.

=====================================================  ========================================
Type                                                   How
=====================================================  ========================================
aws:sns/topic:Topic                                    API sns CreateTopic (KMS, policy, tags)
aws:sns/topicPolicy:TopicPolicy                        API sns SetTopicAttributes(Policy)
aws:sns/topicSubscription:TopicSubscription            API sns Subscribe
=====================================================  ========================================
"""

from __future__ import annotations

from typing import Any

from rehearsal.bridge._core import (
    Request,
    clean,
    handles,
    policy_text,
    tag_list,
)


@handles("aws:sns/topic:Topic", api="sns:CreateTopic")
def _sns_topic(r: Request) -> tuple[str, dict[str, Any]]:
    name = r.autoname(max_len=256)
    if r.get("fifoTopic") and not name.endswith(".fifo"):
        name += ".fifo"
    attributes = clean(
        {
            "KmsMasterKeyId": r.get("kmsMasterKeyId"),
            "Policy": policy_text(r.get("policy")) if r.get("policy") else None,
            "DisplayName": r.get("displayName"),
            "FifoTopic": "true" if r.get("fifoTopic") else None,
        }
    )
    kwargs = clean(
        {"Name": name, "Attributes": attributes, "Tags": tag_list(r.get("tags")) or None}
    )
    arn = r.client("sns").create_topic(**kwargs)["TopicArn"]
    return arn, {"arn": arn, "name": name}


@handles("aws:sns/topicPolicy:TopicPolicy", api="sns:SetTopicAttributes")
def _sns_topic_policy(r: Request) -> tuple[str, dict[str, Any]]:
    r.client("sns").set_topic_attributes(
        TopicArn=r.get("arn"), AttributeName="Policy", AttributeValue=policy_text(r.get("policy"))
    )
    return str(r.get("arn")), {"owner": r.account}


@handles("aws:sns/topicSubscription:TopicSubscription", api="sns:Subscribe")
def _sns_subscription(r: Request) -> tuple[str, dict[str, Any]]:
    attributes = clean(
        {
            "RawMessageDelivery": "true" if r.get("rawMessageDelivery") else None,
            "RedrivePolicy": r.get("redrivePolicy"),
            "FilterPolicy": r.get("filterPolicy"),
        }
    )
    kwargs = clean(
        {
            "TopicArn": r.get("topic"),
            "Protocol": r.get("protocol"),
            "Endpoint": r.get("endpoint"),
            "Attributes": attributes or None,
            "ReturnSubscriptionArn": True,
        }
    )
    arn = r.client("sns").subscribe(**kwargs)["SubscriptionArn"]
    return arn, {"arn": arn}
