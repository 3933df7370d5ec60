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
====================  =========  =================================================

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
        for rule_name, (severity, pattern) in RULES.items():
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
                opts=child,
            )
        self.bus_arn = bus.arn
        self.bus_name = bus.name
        self.register_outputs({"busArn": self.bus_arn, "busName": self.bus_name})
