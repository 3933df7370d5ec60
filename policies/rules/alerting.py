"""Alerting that cannot fail silently: the CIS monitoring alarms on every trail's
CloudWatch Logs copy (single, security and management stacks alike: the organization
trail's copy holds every account's events), and an alarm on every alert dead-letter
queue to a topic outside the path that failed.

Both are stack rules: a trail, its log group, the metric filters and the alarms are
separate resources, tied together by property dependencies (a real preview, where ARNs
are still unknown) or by their literal names and ARNs."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import PolicyResource, Severity

from ._util import StackIndex, as_list, describe, known, stack_rule

AREA = "alerting"
TRAIL = "aws:cloudtrail/trail:Trail"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
METRIC_FILTER = "aws:cloudwatch/logMetricFilter:LogMetricFilter"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
QUEUE = "aws:sqs/queue:Queue"
TOPIC = "aws:sns/topic:Topic"
TARGET = "aws:cloudwatch/eventTarget:EventTarget"
SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"

# CIS AWS Foundations (v1.4 4.1-4.15, v3.0 4.x) monitoring controls, each recognised by
# what its filter pattern must mention (as scanners recognise them).
CIS_SIGNATURES: Mapping[str, tuple[str, ...]] = {
    "unauthorized API calls": ("UnauthorizedOperation", "AccessDenied"),
    "console sign-in without MFA": ("ConsoleLogin", "MFAUsed"),
    "root account usage": ("Root", "AwsServiceEvent"),
    "IAM policy changes": ("DeleteGroupPolicy", "PutRolePolicy", "AttachUserPolicy"),
    "CloudTrail configuration changes": ("CreateTrail", "StopLogging", "DeleteTrail"),
    "console authentication failures": ("ConsoleLogin", "Failed authentication"),
    "CMK disabling or deletion": ("DisableKey", "ScheduleKeyDeletion"),
    "S3 bucket policy changes": ("PutBucketPolicy", "DeleteBucketPolicy"),
    "AWS Config changes": ("StopConfigurationRecorder", "DeleteDeliveryChannel"),
    "security group changes": ("AuthorizeSecurityGroupIngress", "RevokeSecurityGroupEgress"),
    "network ACL changes": ("CreateNetworkAclEntry", "ReplaceNetworkAclAssociation"),
    "network gateway changes": ("CreateCustomerGateway", "AttachInternetGateway"),
    "route table changes": ("CreateRoute", "ReplaceRouteTableAssociation"),
    "VPC changes": ("CreateVpc", "CreateVpcPeeringConnection"),
    "AWS Organizations changes": ("organizations.amazonaws.com", "LeaveOrganization"),
}
DLQ_METRICS = ("ApproximateNumberOfMessagesVisible",)


def _value(resource: PolicyResource, *path: str) -> Any:
    node: Any = resource.props
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = known(node, key)
    return node


def _depends(resource: PolicyResource, prop: str) -> set[str]:
    return {d.urn for d in resource.property_dependencies.get(prop, [])}


def _log_group_of(index: StackIndex, trail: PolicyResource) -> PolicyResource | None:
    groups = index.of_type(LOG_GROUP)
    linked = [g for g in groups if g.urn in _depends(trail, "cloudWatchLogsGroupArn")]
    if linked:
        return linked[0]
    arn = _value(trail, "cloudWatchLogsGroupArn")
    if not isinstance(arn, str) or ":log-group:" not in arn:
        return None
    name = arn.split(":log-group:", 1)[1].removesuffix(":*")
    for group in groups:
        if _value(group, "name") == name or str(_value(group, "arn") or "").endswith(
                f":log-group:{name}"):
            return group
    return None


def _alarm_on(index: StackIndex, namespace: Any, metric: Any) -> list[PolicyResource]:
    return [a for a in index.of_type(ALARM)
            if _value(a, "namespace") == namespace and _value(a, "metricName") == metric
            and as_list(_value(a, "alarmActions"))]


@stack_rule(
    name="alerting-cis-alarms", area=AREA, severity=Severity.HIGH, mandatory=True,
    description="Every trail's CloudWatch Logs group carries the 15 CIS monitoring metric "
                "filters, each with an alarm that notifies someone (in every organization "
                "mode: the organization trail's copy watches every account).",
    remediation="Create the metric filters and alarms on the trail's log group (AuditTrail "
                "does for the account trail; OrganizationTrail with alarm_topic_arns for the "
                "organization trail), each alarm with alarm_actions to an alert topic.",
)
def cis_alarms(index: StackIndex, config: Mapping[str, Any]) -> Iterator[tuple[str, str | None]]:
    # The groups trails deliver to, and any group already carrying a CIS filter (a trail's
    # copy, whichever resource points at it): each must carry the whole set.
    checked: dict[str, tuple[PolicyResource, PolicyResource | None]] = {}
    for trail in index.of_type(TRAIL):
        if not _value(trail, "cloudWatchLogsGroupArn"):
            continue  # cloudtrail-cloudwatch-logs reports that
        group = _log_group_of(index, trail)
        if group is None:
            yield (f"{describe(trail)} delivers to a log group this stack does not declare; "
                   "the CIS alarms cannot be checked or are missing"), trail.urn
            continue
        checked[group.urn] = (group, trail)
    for group in index.of_type(LOG_GROUP):
        if group.urn not in checked and any(
                _signature_of(f) for f in _filters_on(index, group)):
            checked[group.urn] = (group, None)
    for group, delivering in checked.values():
        subject = delivering if delivering is not None else group
        filters = _filters_on(index, group)
        missing: list[str] = []
        silent: list[str] = []
        for control, tokens in CIS_SIGNATURES.items():
            matching = [f for f in filters
                        if all(t in str(_value(f, "pattern") or "") for t in tokens)]
            if not matching:
                missing.append(control)
                continue
            if not any(_alarm_on(index, _value(f, "metricTransformation", "namespace"),
                                 _value(f, "metricTransformation", "name"))
                       for f in matching):
                silent.append(control)
        name = _value(group, "name")
        if missing:
            yield (f"{describe(subject)}: log group {name!r} has no metric filter for "
                   f"{', '.join(missing)}"), subject.urn
        if silent:
            yield (f"{describe(subject)}: log group {name!r} has no alarm with alarm_actions "
                   f"on the metric of {', '.join(silent)}"), subject.urn


def _filters_on(index: StackIndex, group: PolicyResource) -> list[PolicyResource]:
    name = _value(group, "name")
    return [f for f in index.of_type(METRIC_FILTER)
            if group.urn in _depends(f, "logGroupName")
            or (name and _value(f, "logGroupName") == name)]


def _signature_of(metric_filter: PolicyResource) -> str | None:
    pattern = str(_value(metric_filter, "pattern") or "")
    return next((control for control, tokens in CIS_SIGNATURES.items()
                 if all(t in pattern for t in tokens)), None)


def _dead_letter_arn(resource: PolicyResource) -> Any:
    if resource.resource_type == TARGET:
        return _value(resource, "deadLetterConfig", "arn")
    redrive = _value(resource, "redrivePolicy")
    if isinstance(redrive, str) and redrive:
        try:
            return json.loads(redrive).get("deadLetterTargetArn")
        except (ValueError, AttributeError):
            return None
    return None


def _points_at(resource: PolicyResource, prop: str, value: Any,
               target: PolicyResource, target_prop: str) -> bool:
    if target.urn in _depends(resource, prop):
        return True
    mine = _value(target, target_prop)
    return isinstance(value, str) and bool(value) and value == mine


@stack_rule(
    name="alerting-dead-letter-alarm", area=AREA, severity=Severity.HIGH, mandatory=True,
    description="Every queue that alert deliveries dead-letter into has an alarm (messages "
                "visible > 0) that notifies a topic outside the failed path (not a topic "
                "whose deliveries or rule targets dead-letter into that queue).",
    remediation="Add a CloudWatch alarm on AWS/SQS ApproximateNumberOfMessagesVisible for "
                "the queue (threshold 0, GreaterThanThreshold) whose alarm_actions name a "
                "dedicated topic (AlertRouting's alert-path topic).",
)
def dead_letter_alarm(index: StackIndex,
                      config: Mapping[str, Any]) -> Iterator[tuple[str, str | None]]:
    senders = index.of_type(TARGET, SUBSCRIPTION)
    topics = index.of_type(TOPIC)
    for queue in index.of_type(QUEUE):
        feeding = [s for s in senders
                   if _points_at(s, "deadLetterConfig" if s.resource_type == TARGET
                                 else "redrivePolicy", _dead_letter_arn(s), queue, "arn")]
        if not feeding:
            continue
        failed_path = {t.urn for t in topics for s in feeding
                       if _points_at(s, "arn" if s.resource_type == TARGET else "topic",
                                     _value(s, "arn" if s.resource_type == TARGET
                                            else "topic"), t, "arn")}
        region = index.region(queue)
        alarms = [a for a in index.of_type(ALARM)
                  if _value(a, "namespace") == "AWS/SQS"
                  and _value(a, "metricName") in DLQ_METRICS
                  and index.region(a) == region
                  and (queue.urn in _depends(a, "dimensions")
                       or _value(a, "dimensions", "QueueName") == _value(queue, "name"))]
        if not alarms:
            yield (f"{describe(queue)} receives undelivered alerts but no alarm watches it: "
                   "alerts can stop reaching on-call without anyone hearing"), queue.urn
            continue
        good = False
        for alarm in alarms:
            operator = _value(alarm, "comparisonOperator")
            threshold = _value(alarm, "threshold")
            fires_on_one = (
                (operator == "GreaterThanThreshold" and threshold is not None and threshold < 1)
                or (operator == "GreaterThanOrEqualToThreshold" and threshold is not None
                    and threshold <= 1))
            actions = as_list(_value(alarm, "alarmActions"))
            on_failed_path = any(
                _points_at(alarm, "alarmActions", action, t, "arn")
                for action in actions for t in topics if t.urn in failed_path)
            if fires_on_one and actions and not on_failed_path:
                good = True
        if not good:
            yield (f"{describe(queue)}: its alarm must fire on one message and notify a topic "
                   "outside the failed path (not one whose deliveries dead-letter here)"), \
                queue.urn
