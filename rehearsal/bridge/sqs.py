"""Bridge handlers for SQS queues and queue policies.

=====================================================  ========================================
Type                                                   How
=====================================================  ========================================
aws:sqs/queue:Queue                                    API sqs CreateQueue
aws:sqs/queuePolicy:QueuePolicy                        API sqs SetQueueAttributes(Policy)
=====================================================  ========================================
"""

from __future__ import annotations

from typing import Any

from rehearsal.bridge._core import (
    Request,
    clean,
    handles,
    policy_text,
)


@handles("aws:sqs/queue:Queue", api="sqs:CreateQueue")
def _sqs_queue(r: Request) -> tuple[str, dict[str, Any]]:
    name = r.autoname(max_len=80)
    if r.get("fifoQueue") and not name.endswith(".fifo"):
        name += ".fifo"
    attributes = {
        k: str(v).lower() if isinstance(v, bool) else str(v)
        for k, v in clean(
            {
                "KmsMasterKeyId": r.get("kmsMasterKeyId"),
                "SqsManagedSseEnabled": r.get("sqsManagedSseEnabled"),
                "MessageRetentionPeriod": r.get("messageRetentionSeconds"),
                "VisibilityTimeout": r.get("visibilityTimeoutSeconds"),
                "Policy": policy_text(r.get("policy")) if r.get("policy") else None,
                "FifoQueue": r.get("fifoQueue") or None,
            }
        ).items()
    }
    sqs = r.client("sqs")
    kwargs: dict[str, Any] = {"QueueName": name, "Attributes": attributes}
    if r.get("tags"):
        kwargs["tags"] = dict(r.get("tags"))
    url = sqs.create_queue(**kwargs)["QueueUrl"]
    arn = r.arn("sqs", name)
    return url, {"arn": arn, "url": url, "name": name}


@handles("aws:sqs/queuePolicy:QueuePolicy", api="sqs:SetQueueAttributes")
def _sqs_queue_policy(r: Request) -> tuple[str, dict[str, Any]]:
    r.client("sqs").set_queue_attributes(
        QueueUrl=r.get("queueUrl"), Attributes={"Policy": policy_text(r.get("policy"))}
    )
    return str(r.get("queueUrl")), {}
