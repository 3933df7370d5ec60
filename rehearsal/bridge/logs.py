"""Bridge handlers for CloudWatch Logs: log groups, metric filters, resource policies.

=====================================================  ========================================
Type                                                   How
=====================================================  ========================================
aws:cloudwatch/logGroup:LogGroup                       API logs CreateLogGroup, PutRetentionPolicy
aws:cloudwatch/logMetricFilter:LogMetricFilter         API logs PutMetricFilter
aws:cloudwatch/logResourcePolicy:LogResourcePolicy     API logs PutResourcePolicy
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


@handles("aws:cloudwatch/logGroup:LogGroup", api="logs:CreateLogGroup")
def _log_group(r: Request) -> tuple[str, dict[str, Any]]:
    logs = r.client("logs")
    name = r.autoname(max_len=512)
    kwargs: dict[str, Any] = {"logGroupName": name}
    if r.get("kmsKeyId"):
        kwargs["kmsKeyId"] = r.get("kmsKeyId")
    if r.get("tags"):
        kwargs["tags"] = dict(r.get("tags"))
    logs.create_log_group(**kwargs)
    if r.get("retentionInDays"):
        logs.put_retention_policy(logGroupName=name, retentionInDays=int(r.get("retentionInDays")))
    return name, {"name": name, "arn": r.arn("logs", f"log-group:{name}")}


@handles("aws:cloudwatch/logMetricFilter:LogMetricFilter", api="logs:PutMetricFilter")
def _metric_filter(r: Request) -> tuple[str, dict[str, Any]]:
    mt = r.get("metricTransformation", {})
    transformation = clean(
        {
            "metricName": mt.get("name"),
            "metricNamespace": mt.get("namespace"),
            "metricValue": mt.get("value"),
            "defaultValue": float(mt["defaultValue"]) if mt.get("defaultValue") else None,
            "unit": mt.get("unit"),
        }
    )
    name = str(r.get("name"))
    r.client("logs").put_metric_filter(
        logGroupName=r.get("logGroupName"),
        filterName=name,
        filterPattern=r.get("pattern", ""),
        metricTransformations=[transformation],
    )
    return name, {}


@handles("aws:cloudwatch/logResourcePolicy:LogResourcePolicy", api="logs:PutResourcePolicy")
def _log_resource_policy(r: Request) -> tuple[str, dict[str, Any]]:
    name = str(r.get("policyName"))
    r.client("logs").put_resource_policy(
        policyName=name, policyDocument=policy_text(r.get("policyDocument"))
    )
    return name, {}
