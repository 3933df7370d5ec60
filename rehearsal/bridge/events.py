"""Bridge handlers for EventBridge rules and targets (Pulumi's `aws:cloudwatch` module).

=====================================================  ========================================
Type                                                   How
=====================================================  ========================================
aws:cloudwatch/eventRule:EventRule                     API events PutRule
aws:cloudwatch/eventTarget:EventTarget                 API events PutTargets
aws:cloudwatch/eventBus:EventBus                       API events CreateEventBus
aws:cloudwatch/eventBusPolicy:EventBusPolicy           API events PutPermission (Policy)
=====================================================  ========================================
"""

from __future__ import annotations

from typing import Any

from rehearsal.bridge._core import (
    BridgeError,
    Request,
    clean,
    handles,
    pascal,
    policy_text,
    tag_list,
)


@handles("aws:cloudwatch/eventRule:EventRule", api="events:PutRule")
def _event_rule(r: Request) -> tuple[str, dict[str, Any]]:
    name = r.autoname(max_len=64)
    state = r.get("state") or ("DISABLED" if r.get("isEnabled") is False else "ENABLED")
    kwargs = clean(
        {
            "Name": name,
            "EventPattern": r.get("eventPattern"),
            "ScheduleExpression": r.get("scheduleExpression"),
            "Description": r.get("description"),
            "State": state,
            "RoleArn": r.get("roleArn"),
            "EventBusName": r.get("eventBusName"),
            "Tags": tag_list(r.get("tags")) or None,
        }
    )
    arn = r.client("events").put_rule(**kwargs)["RuleArn"]
    bus = r.get("eventBusName", "default")
    rule_id = name if bus == "default" else f"{bus}/{name}"
    return rule_id, {"arn": arn, "name": name}


@handles("aws:cloudwatch/eventTarget:EventTarget", api="events:PutTargets")
def _event_target(r: Request) -> tuple[str, dict[str, Any]]:
    target_id = r.get("targetId") or r.autoname()
    transformer = r.get("inputTransformer")
    target = clean(
        {
            "Id": target_id,
            "Arn": r.get("arn"),
            "RoleArn": r.get("roleArn"),
            "Input": r.get("input"),
            "InputPath": r.get("inputPath"),
            "InputTransformer": (
                clean(
                    {
                        "InputPathsMap": transformer.get("inputPaths"),
                        "InputTemplate": transformer.get("inputTemplate"),
                    }
                )
                if transformer
                else None
            ),
            "DeadLetterConfig": (
                {"Arn": r.get("deadLetterConfig")["arn"]} if r.get("deadLetterConfig") else None
            ),
            "RetryPolicy": pascal(r.get("retryPolicy")) if r.get("retryPolicy") else None,
        }
    )
    kwargs = clean(
        {"Rule": r.get("rule"), "EventBusName": r.get("eventBusName"), "Targets": [target]}
    )
    result = r.client("events").put_targets(**kwargs)
    if result.get("FailedEntryCount"):
        raise BridgeError(f"events PutTargets failed for {r.name}: {result['FailedEntries']}")
    return f"{r.get('rule')}-{target_id}", {"targetId": target_id}


@handles("aws:cloudwatch/eventBus:EventBus", api="events:CreateEventBus")
def _event_bus(r: Request) -> tuple[str, dict[str, Any]]:
    name = r.autoname(max_len=256)
    kwargs = clean({"Name": name, "KmsKeyIdentifier": r.get("kmsKeyIdentifier"),
                    "Description": r.get("description"),
                    "Tags": tag_list(r.get("tags")) or None})
    arn = r.client("events").create_event_bus(**kwargs)["EventBusArn"]
    return name, {"arn": arn, "name": name}


@handles("aws:cloudwatch/eventBusPolicy:EventBusPolicy", api="events:PutPermission(Policy)")
def _event_bus_policy(r: Request) -> tuple[str, dict[str, Any]]:
    bus = str(r.get("eventBusName") or "default")
    r.client("events").put_permission(EventBusName=bus, Policy=policy_text(r.get("policy")))
    return bus, {}
