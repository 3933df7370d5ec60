"""SecurityEventBus: the security account's organization event bus in one region.

Member accounts forward GuardDuty and Security Hub findings, readiness alarms and
tampering events to this bus (MemberBaseline's forwarding rule). The bus policy admits
``events:PutEvents`` only from principals of this organization (``aws:PrincipalOrgID``);
nothing else may write to it. Rules on the bus send what arrives to the security
account's own alert topics, by severity, the same bands as AlertRouting:

====================  =========  =================================================
rule                  topic      matches (any member account)
====================  =========  =================================================
org-guardduty-crit    critical   GuardDuty finding, severity >= 9
org-guardduty-high    high       GuardDuty finding, 7 <= severity < 9
org-securityhub       high       Security Hub finding imported, HIGH or CRITICAL
org-alarms            high       CloudWatch alarm entering ALARM (readiness alarms)
org-tampering         critical   CloudTrail / GuardDuty / Security Hub / Backup API
                                 calls that weaken detection or backups
org-readiness-changes high       a member's readiness manifest written or one of its
                                 quarantine groups changed (only the members' change
                                 watch forwards these: members have no forwarding rule
                                 for them, see ``BUS_ONLY_RULES``)
====================  =========  =================================================

Each target renders one readable sentence (the same input transformers as the account's
own rules: who/what, account, region, type, severity, resource; raw JSON never reaches
on-call), retries for a day and, when ``kms_key_arn`` is given, dead-letters into the
bus's own KMS-encrypted queue ``<bus>-dlq``, which only these rules may write to; with
``alert_path_topic_arn`` an alarm on that queue (one message is enough) notifies the
alert-path topic, outside the failed path.

The topics' policies (AlertRouting) already admit EventBridge rules of this account
(``aws:SourceArn`` ``arn:...:events:<region>:<account>:rule/*`` also matches rules on a
custom bus, ``rule/<bus>/<name>``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.alert_routing import (
    _API_CALL_PATHS,
    _GUARDDUTY_PATHS,
    _SECURITYHUB_PATHS,
    DLQ_RETENTION_SECONDS,
    PARAMETER_CHANGES,
    SECURITY_GROUP_CHANGES,
    watch_dead_letter_queue,
)

TYPE = "ir-readiness:index:SecurityEventBus"

_ORG_ID = re.compile(r"^o-[a-z0-9]{10,32}$")
_BUS_NAME = re.compile(r"^[A-Za-z0-9._-]{1,256}$")

TAMPERING_CALLS = (
    "StopLogging", "DeleteTrail", "UpdateTrail", "PutEventSelectors",
    "DeleteDetector", "DisassociateFromMasterAccount", "DisassociateFromAdministratorAccount",
    "DisableSecurityHub", "BatchDisableStandards",
    "DeleteBackupVault", "DeleteRecoveryPoint", "DeleteBackupPlan",
)

RULES: dict[str, tuple[str, dict[str, Any]]] = {
    "org-guardduty-crit": ("critical", {
        "source": ["aws.guardduty"], "detail-type": ["GuardDuty Finding"],
        "detail": {"severity": [{"numeric": [">=", 9]}]}}),
    "org-guardduty-high": ("high", {
        "source": ["aws.guardduty"], "detail-type": ["GuardDuty Finding"],
        "detail": {"severity": [{"numeric": [">=", 7, "<", 9]}]}}),
    "org-securityhub": ("high", {
        "source": ["aws.securityhub"], "detail-type": ["Security Hub Findings - Imported"],
        "detail": {"findings": {"Severity": {"Label": ["HIGH", "CRITICAL"]},
                                "Workflow": {"Status": ["NEW"]},
                                "RecordState": ["ACTIVE"]}}}),
    "org-alarms": ("high", {
        "source": ["aws.cloudwatch"], "detail-type": ["CloudWatch Alarm State Change"],
        "detail": {"state": {"value": ["ALARM"]}}}),
    "org-tampering": ("critical", {
        "detail-type": ["AWS API Call via CloudTrail"],
        "detail": {"eventName": list(TAMPERING_CALLS)}}),
}


_ALARM_PATHS = {
    "account": "$.account",
    "region": "$.region",
    "alarm": "$.detail.alarmName",
    "state": "$.detail.state.value",
    "reason": "$.detail.state.reason",
    "description": "$.detail.configuration.description",
    "time": "$.time",
}
_TAMPERING_PATHS = {**_API_CALL_PATHS, "service": "$.detail.eventSource"}

TRANSFORMERS: dict[str, tuple[dict[str, str], str]] = {
    "org-guardduty-crit": (_GUARDDUTY_PATHS, (
        "GuardDuty critical finding in member account <account>, region <region>: <type> "
        "(severity <severity>) on a <resource> resource. <title> Finding id: <finding>.")),
    "org-guardduty-high": (_GUARDDUTY_PATHS, (
        "GuardDuty high finding in member account <account>, region <region>: <type> "
        "(severity <severity>) on a <resource> resource. <title> Finding id: <finding>.")),
    "org-securityhub": (_SECURITYHUB_PATHS, (
        "Security Hub <severity> finding from <product> in member account <account>, region "
        "<region>: <title> (<type>) on <resourcetype> <resource>.")),
    "org-alarms": (_ALARM_PATHS, (
        "Alarm <alarm> is <state> in account <account>, region <region> at <time>: "
        "<description> Reason: <reason>")),
    "org-tampering": (_TAMPERING_PATHS, (
        "Detection or backup weakened in member account <account>: <actor> called <event> "
        "(<service>) in region <region> from <ip> at <time>. Severity: critical. Treat as a "
        "possible attempt to blind incident response; see the ir-readiness playbooks.")),
}
"""Per rule: input paths and the sentence on-call reads (placeholders are the paths)."""


BUS_ONLY_RULES: dict[str, tuple[str, dict[str, Any]]] = {
    "org-readiness-changes": ("high", {
        "detail-type": ["AWS API Call via CloudTrail"],
        "detail": {"eventName": sorted({*SECURITY_GROUP_CHANGES, *PARAMETER_CHANGES,
                                        "ModifySecurityGroupRules", "DeleteParameters"})}}),
}
"""Rules on the bus that no member forwarding rule mirrors: what reaches them is already
filtered by the member (its change watch names its own parameter and groups)."""
TRANSFORMERS["org-readiness-changes"] = (_API_CALL_PATHS, (
    "Readiness changed in member account <account>: <actor> called <event> in region "
    "<region> from <ip> at <time>. Severity: high. A manifest or quarantine group that "
    "differs from the stack misleads responders; compare with the member's stack."))


def dead_letter_policy(queue_arn: str, rule_arns: list[str]) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "BusRulesDeadLetters",
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": sorted(rule_arns)}},
            },
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "sqs:*",
                "Resource": queue_arn,
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
        ],
    }


def bus_policy(bus_arn: str, organization_id: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "OrganizationAccountsPutEvents",
            "Effect": "Allow",
            "Principal": "*",
            "Action": "events:PutEvents",
            "Resource": bus_arn,
            "Condition": {"StringEquals": {"aws:PrincipalOrgID": organization_id}},
        }],
    }


@dataclass(frozen=True)
class SecurityEventBusArgs:
    organization_id: str
    """Only principals of this organization may put events."""
    topic_arns: Mapping[str, pulumi.Input[str]]
    """The security account's topics in this region, by severity (critical, high, info)."""
    bus_name: str = "ir-readiness-org"
    """Name of the custom event bus (members derive its ARN from it)."""
    kms_key_arn: pulumi.Input[str] | None = None
    """Key of the targets' dead-letter queue (this region's readiness key); None: no
    dead-letter queue (events that cannot be delivered are dropped after the retries)."""
    alert_path_topic_arn: pulumi.Input[str] | None = None
    """Topic the dead-letter queue's alarm notifies (AlertRouting's alert-path topic)."""

    def __post_init__(self) -> None:
        if not _ORG_ID.match(self.organization_id or ""):
            raise ValueError(f"SecurityEventBusArgs.organization_id = {self.organization_id!r}"
                             ": must be an organization id (o-...)")
        if not _BUS_NAME.match(self.bus_name) or self.bus_name == "default":
            raise ValueError(f"SecurityEventBusArgs.bus_name = {self.bus_name!r}: a custom bus "
                             "name of letters, digits and ._- (not `default`)")
        missing = sorted({"critical", "high"} - set(self.topic_arns))
        if missing:
            raise ValueError(f"SecurityEventBusArgs.topic_arns lacks {', '.join(missing)}")
        if self.alert_path_topic_arn is not None and self.kms_key_arn is None:
            raise ValueError("SecurityEventBusArgs.alert_path_topic_arn needs kms_key_arn: "
                             "the alarm watches the dead-letter queue that key encrypts")


class SecurityEventBus(pulumi.ComponentResource):
    """Organization event bus + rules to the security account's topics (one region)."""

    bus_arn: pulumi.Output[str]
    bus_name: pulumi.Output[str]

    def __init__(self, name: str, args: SecurityEventBusArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        if not isinstance(args, SecurityEventBusArgs):
            raise TypeError("SecurityEventBus needs SecurityEventBusArgs")
        super().__init__(TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        bus = aws.cloudwatch.EventBus(f"{name}-bus", name=args.bus_name, opts=child)
        aws.cloudwatch.EventBusPolicy(
            f"{name}-policy",
            event_bus_name=bus.name,
            policy=bus.arn.apply(
                lambda arn: json.dumps(bus_policy(arn, args.organization_id), sort_keys=True)),
            opts=child,
        )
        dlq = None
        if args.kms_key_arn is not None:
            dlq = aws.sqs.Queue(
                f"{name}-dlq",
                name=f"{args.bus_name}-dlq",
                kms_master_key_id=args.kms_key_arn,
                kms_data_key_reuse_period_seconds=300,
                message_retention_seconds=DLQ_RETENTION_SECONDS,
                opts=child,
            )
        rules: list[aws.cloudwatch.EventRule] = []
        for rule_name, (severity, pattern) in {**RULES, **BUS_ONLY_RULES}.items():
            paths, template = TRANSFORMERS[rule_name]
            rule = aws.cloudwatch.EventRule(
                f"{name}-{rule_name}",
                name=rule_name,
                event_bus_name=bus.name,
                description=f"ir-readiness: member accounts' events -> {severity} topic",
                event_pattern=json.dumps(pattern, sort_keys=True),
                opts=child,
            )
            aws.cloudwatch.EventTarget(
                f"{name}-{rule_name}-target",
                rule=rule.name,
                event_bus_name=bus.name,
                arn=args.topic_arns[severity],
                input_transformer=aws.cloudwatch.EventTargetInputTransformerArgs(
                    input_paths=paths, input_template=json.dumps(template)),
                retry_policy=aws.cloudwatch.EventTargetRetryPolicyArgs(
                    maximum_event_age_in_seconds=86_400, maximum_retry_attempts=185),
                dead_letter_config=(
                    aws.cloudwatch.EventTargetDeadLetterConfigArgs(arn=dlq.arn) if dlq else None),
                opts=child,
            )
            rules.append(rule)
        self.dead_letter_queue_arn: pulumi.Output[str] | None = None
        if dlq is not None:
            aws.sqs.QueuePolicy(
                f"{name}-dlq-policy",
                queue_url=dlq.url,
                policy=pulumi.Output.all(dlq.arn, *[r.arn for r in rules]).apply(
                    lambda v: json.dumps(dead_letter_policy(v[0], list(v[1:])), sort_keys=True)),
                opts=child,
            )
            self.dead_letter_queue_arn = dlq.arn
            if args.alert_path_topic_arn is not None:
                watch_dead_letter_queue(
                    f"{name}-dlq-not-empty",
                    alarm_name=f"{args.bus_name}-dlq-not-empty",
                    queue_name=dlq.name,
                    topic_arn=args.alert_path_topic_arn,
                    what="a member account's event (organization bus rule target)",
                    opts=child,
                )
        self.bus_arn = bus.arn
        self.bus_name = bus.name
        self.register_outputs({"busArn": self.bus_arn, "busName": self.bus_name})
