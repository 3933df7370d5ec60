"""Bridge handlers for CloudWatch metric alarms.

=====================================================  ========================================
Type                                                   How
=====================================================  ========================================
aws:cloudwatch/metricAlarm:MetricAlarm                 API cloudwatch PutMetricAlarm
=====================================================  ========================================
"""

from __future__ import annotations

from typing import Any

from rehearsal.bridge._core import (
    Request,
    clean,
    handles,
    tag_list,
)


@handles("aws:cloudwatch/metricAlarm:MetricAlarm", api="cloudwatch:PutMetricAlarm")
def _metric_alarm(r: Request) -> tuple[str, dict[str, Any]]:
    name = r.autoname(max_len=255)
    kwargs = clean(
        {
            "AlarmName": name,
            "AlarmDescription": r.get("alarmDescription"),
            "ActionsEnabled": r.get("actionsEnabled", True),
            "AlarmActions": r.get("alarmActions"),
            "OKActions": r.get("okActions"),
            "InsufficientDataActions": r.get("insufficientDataActions"),
            "MetricName": r.get("metricName"),
            "Namespace": r.get("namespace"),
            "Statistic": r.get("statistic"),
            "Period": int(r.get("period")) if r.get("period") else None,
            "EvaluationPeriods": int(r.get("evaluationPeriods", 1)),
            "DatapointsToAlarm": r.get("datapointsToAlarm"),
            "Threshold": float(r.get("threshold", 0)),
            "ComparisonOperator": r.get("comparisonOperator"),
            "TreatMissingData": r.get("treatMissingData"),
            "Dimensions": [{"Name": k, "Value": v} for k, v in r.get("dimensions", {}).items()]
            or None,
            "Tags": tag_list(r.get("tags")) or None,
        }
    )
    r.client("cloudwatch").put_metric_alarm(**kwargs)
    return name, {"arn": r.arn("cloudwatch", f"alarm:{name}"), "alarmName": name}
