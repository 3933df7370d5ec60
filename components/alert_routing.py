"""AlertRouting: per-severity SNS topics, their subscriptions, a dead-letter queue and the
EventBridge rules that turn security signals into readable alerts.

One per covered region, created with that region's provider in ``opts``.

Topics: ``<prefix>-critical``, ``<prefix>-high``, ``<prefix>-info``, KMS-encrypted with the
key from Args, signature version 2 (SHA256-signed deliveries). Each topic policy admits:

* the account (``arn:<partition>:iam::<account>:root``) for management and publishing,
  so IAM policies inside the account decide which roles may use the topic;
* each publishing service principal, only for ``SNS:Publish`` and only with
  ``aws:SourceAccount`` = this account, plus ``aws:SourceArn`` where the service sends it:
  EventBridge rules (``arn:...:events:<region>:<account>:rule/*``), CloudWatch alarms
  (``arn:...:cloudwatch:<region>:<account>:alarm:*``). AWS Backup vault notifications are
  matched on the account only (AWS Backup documents no source ARN for them);
* nobody over plain HTTP (``aws:SecureTransport`` false is denied).

Subscriptions come from Args (email, https, sqs, lambda per severity). Every subscription
has a ``redrive_policy`` to one KMS-encrypted SQS dead-letter queue, whose policy accepts
``sqs:SendMessage`` only from ``sns.amazonaws.com`` for these topics and from
``events.amazonaws.com`` for these rules (the rule targets use the same queue as their
dead-letter queue). Messages that could not be delivered wait there 14 days.

Rules (default event bus; each target is the topic of its severity, with an input
transformer that renders one human sentence: who/what, account, region, type,
severity and resource):

=============================  =========  ===============================================
rule                           topic      matches
=============================  =========  ===============================================
guardduty-critical             critical   GuardDuty finding, severity >= 9.0 (Critical)
guardduty-high                 high       GuardDuty finding, 7.0 <= severity < 9.0 (High)
guardduty-medium               info       GuardDuty finding, 4.0 <= severity < 7.0 (Medium)
securityhub-critical           critical   Security Hub finding imported, label CRITICAL,
                                          workflow NEW, record ACTIVE, not from GuardDuty
securityhub-high               high       the same with label HIGH
root-console-signin            critical   console sign-in by the root user
cloudtrail-tampering           critical   StopLogging, DeleteTrail, UpdateTrail,
                                          PutEventSelectors
guardduty-tampering            critical   DeleteDetector, UpdateDetector(enable=false),
                                          disassociation, member removal, publishing
                                          destination deletion, trusted-IP lists, archive
                                          (suppression) filters
securityhub-tampering          critical   DisableSecurityHub, BatchDisableStandards,
                                          aggregator deletion, disassociation, product
                                          integration disabling
backup-tampering               critical   vault / recovery point / plan / selection /
                                          lock / access policy / notification deletion,
                                          lock or access policy changes, lifecycle changes
backup-job-failed              high       backup or copy job FAILED / ABORTED / EXPIRED
=============================  =========  ===============================================

GuardDuty bands follow GuardDuty's own severity levels (Low 1.0-3.9, Medium 4.0-6.9,
High 7.0-8.9, Critical 9.0-10.0). Low findings are not routed: they stay in GuardDuty and
the Security Hub console for triage. Security Hub's copies of GuardDuty findings are
excluded from the Security Hub rules so a GuardDuty finding pages once. The API-call
rules rely on the multi-region CloudTrail trail (AuditTrail); console sign-in events for
the root user are recorded in us-east-1 in most cases, so that region must be covered
for the root sign-in rule to fire.

What it needs from the other components (stack-core's EncryptionKey key policy), because
the topics and the queue are encrypted with ``kms_key_arn``:

* ``events.amazonaws.com``, ``cloudwatch.amazonaws.com`` and ``backup.amazonaws.com``:
  ``kms:GenerateDataKey*`` and ``kms:Decrypt`` (to publish to the encrypted topics; the
  EventBridge grant also covers its dead-letter writes to the queue);
* ``sns.amazonaws.com``: ``kms:GenerateDataKey*`` and ``kms:Decrypt`` (to move failed
  deliveries into the encrypted dead-letter queue, and for SQS subscribers' queues).

Physical names (topics, queue, rules) are fixed per region from ``topic_name_prefix``,
so responders and runbooks find them by name; two stacks in one account must use
different prefixes. Cost: SNS, SQS and EventBridge charges at alert volumes are cents.

Subscribed SQS queues and Lambda functions are owned by their teams: their queue policy
or function resource policy must allow ``sns.amazonaws.com`` from the topic ARN.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import pulumi
import pulumi_aws as aws

from components.regional_validation import (
    ARN_RE,
    check_account,
    check_arn,
    check_region,
    check_tags,
    invalid,
    is_unresolved,
)

COMPONENT_TYPE = "ir-readiness:index:AlertRouting"

SEVERITIES = ("critical", "high", "info")
PROTOCOLS = ("email", "https", "sqs", "lambda")
PUBLISHER_SERVICES = ("events.amazonaws.com", "cloudwatch.amazonaws.com", "backup.amazonaws.com")
DLQ_RETENTION_SECONDS = 1_209_600  # 14 days, the SQS maximum
_PREFIX_RE = re.compile(r"^[a-zA-Z0-9_-]{1,32}$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
_PLACEHOLDER_RE = re.compile(r"<([A-Za-z0-9_.-]+)>")


def redacted(endpoint: pulumi.Input[str]) -> pulumi.Input[str]:
    """An endpoint safe to print: https URLs often carry a token in the path or query
    (webhook integrations), so only their scheme and host are shown."""
    if isinstance(endpoint, str) and "://" in endpoint:
        parsed = urlparse(endpoint)
        return f"{parsed.scheme}://{parsed.hostname or '?'}/..."
    return endpoint


@dataclass(frozen=True)
class AlertSubscription:
    """One endpoint subscribed to one severity's topic."""

    protocol: str
    """email, https, sqs or lambda (plain http is refused: alerts travel over TLS)."""

    endpoint: pulumi.Input[str]
    """Address, ``https://`` URL (no user:password in it; stored as a Pulumi secret because
    webhook URLs carry tokens), SQS queue ARN or Lambda function ARN."""

    raw_message_delivery: bool = False
    """Deliver the bare message without the SNS envelope (sqs and https only)."""

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise invalid(
                "subscriptions.protocol", self.protocol,
                f"allowed values are {', '.join(PROTOCOLS)} (http is refused: use https)",
            )
        endpoint = self.endpoint
        if is_unresolved(endpoint):
            pass  # e.g. queue.arn of a queue in the same program: AWS checks it on create
        elif not isinstance(endpoint, str):
            raise invalid("subscriptions.endpoint", endpoint, "a string")
        elif self.protocol == "email":
            if not isinstance(endpoint, str) or not _EMAIL_RE.match(endpoint):
                raise invalid("subscriptions.endpoint", endpoint, "an email address")
        elif self.protocol == "https":
            parsed = urlparse(endpoint)
            if parsed.scheme != "https" or not parsed.hostname:
                raise invalid("subscriptions.endpoint", redacted(endpoint), "an https:// URL")
            if parsed.username or parsed.password:
                # the URL would sit in stack state and outputs: never put a secret there
                raise invalid(
                    "subscriptions.endpoint", f"https://***@{parsed.hostname}",
                    "credentials in the URL would be stored in stack state; "
                    "authenticate the receiver another way",
                )
        elif self.protocol == "sqs":
            check_arn("subscriptions.endpoint", endpoint, "sqs")
        else:
            check_arn("subscriptions.endpoint", endpoint, "lambda", "function:")
        if self.raw_message_delivery and self.protocol not in ("sqs", "https"):
            raise invalid(
                "subscriptions.raw_message_delivery", True,
                f"only sqs and https subscriptions support it, not {self.protocol}",
            )


@dataclass(frozen=True)
class AlertRule:
    """One EventBridge rule: what it matches, where it goes, how it reads."""

    key: str
    description: str
    severity: str
    pattern: dict[str, Any]
    input_paths: dict[str, str]
    template: str

    @property
    def input_template(self) -> str:
        """The sentence as an EventBridge string template (a quoted JSON string)."""
        return json.dumps(self.template)


def _api_call(source: str, event_source: str, detail: dict[str, Any]) -> dict[str, Any]:
    return {
        "source": [source],
        "detail-type": ["AWS API Call via CloudTrail"],
        "detail": {"eventSource": [event_source], **detail},
    }


_API_CALL_PATHS = {
    "account": "$.account",
    "region": "$.region",
    "event": "$.detail.eventName",
    "actor": "$.detail.userIdentity.arn",
    "ip": "$.detail.sourceIPAddress",
    "time": "$.time",
}
_API_CALL_TEMPLATE = (
    "{what}: <actor> called <event> in account <account>, region <region>, "
    "from <ip> at <time>. Severity: critical. Treat as a possible attempt to blind "
    "incident response; see the ir-readiness playbooks."
)
_GUARDDUTY_PATHS = {
    "account": "$.account",
    "region": "$.region",
    "type": "$.detail.type",
    "severity": "$.detail.severity",
    "resource": "$.detail.resource.resourceType",
    "title": "$.detail.title",
    "finding": "$.detail.id",
}
_SECURITYHUB_PATHS = {
    "account": "$.detail.findings[0].AwsAccountId",
    "region": "$.detail.findings[0].Region",
    "type": "$.detail.findings[0].Types[0]",
    "severity": "$.detail.findings[0].Severity.Label",
    "resource": "$.detail.findings[0].Resources[0].Id",
    "resourcetype": "$.detail.findings[0].Resources[0].Type",
    "title": "$.detail.findings[0].Title",
    "product": "$.detail.findings[0].ProductName",
}


def _guardduty(band: str, severity: str, numeric: list[Any]) -> AlertRule:
    return AlertRule(
        key=f"guardduty-{band}",
        description=f"GuardDuty findings of {band} severity ({numeric}) to the {severity} topic",
        severity=severity,
        pattern={
            "source": ["aws.guardduty"],
            "detail-type": ["GuardDuty Finding"],
            "detail": {"severity": [{"numeric": numeric}]},
        },
        input_paths=_GUARDDUTY_PATHS,
        template=(
            f"GuardDuty {band} finding in account <account>, region <region>: <type> "
            "(severity <severity>) on a <resource> resource. <title> Finding id: <finding>."
        ),
    )


def _securityhub(label: str, severity: str) -> AlertRule:
    return AlertRule(
        key=f"securityhub-{label.lower()}",
        description=f"New active Security Hub {label} findings (not GuardDuty's copies)",
        severity=severity,
        pattern={
            "source": ["aws.securityhub"],
            "detail-type": ["Security Hub Findings - Imported"],
            "detail": {
                "findings": {
                    "Severity": {"Label": [label]},
                    "Workflow": {"Status": ["NEW"]},
                    "RecordState": ["ACTIVE"],
                    "ProductName": [{"anything-but": "GuardDuty"}],
                }
            },
        },
        input_paths=_SECURITYHUB_PATHS,
        template=(
            "Security Hub <severity> finding from <product> in account <account>, region "
            "<region>: <title> (<type>) on <resourcetype> <resource>."
        ),
    )


ALERT_RULES: tuple[AlertRule, ...] = (
    _guardduty("critical", "critical", [">=", 9]),
    _guardduty("high", "high", [">=", 7, "<", 9]),
    _guardduty("medium", "info", [">=", 4, "<", 7]),
    _securityhub("CRITICAL", "critical"),
    _securityhub("HIGH", "high"),
    AlertRule(
        key="root-console-signin",
        description="Console sign-in by the root user",
        severity="critical",
        pattern={
            "source": ["aws.signin"],
            "detail-type": ["AWS Console Sign In via CloudTrail"],
            "detail": {"userIdentity": {"type": ["Root"]}},
        },
        input_paths={
            "account": "$.account",
            "region": "$.region",
            "ip": "$.detail.sourceIPAddress",
            "result": "$.detail.responseElements.ConsoleLogin",
            "time": "$.time",
        },
        template=(
            "Root user console sign-in (<result>) to account <account>, region <region>, "
            "from <ip> at <time>. Severity: critical. Confirm with the account owner now."
        ),
    ),
    AlertRule(
        key="cloudtrail-tampering",
        description="CloudTrail trails stopped, deleted or reconfigured",
        severity="critical",
        pattern=_api_call(
            "aws.cloudtrail", "cloudtrail.amazonaws.com",
            {"eventName": ["StopLogging", "DeleteTrail", "UpdateTrail", "PutEventSelectors"]},
        ),
        input_paths={**_API_CALL_PATHS, "trail": "$.detail.requestParameters.name"},
        template=_API_CALL_TEMPLATE.format(what="CloudTrail change on trail <trail>"),
    ),
    AlertRule(
        key="guardduty-tampering",
        description="GuardDuty detector deleted, disabled, detached or its findings suppressed",
        severity="critical",
        pattern=_api_call(
            "aws.guardduty", "guardduty.amazonaws.com",
            {
                "$or": [
                    {"eventName": [
                        "DeleteDetector",
                        "DisassociateFromMasterAccount",
                        "DisassociateFromAdministratorAccount",
                        "DisassociateMembers",
                        "DeleteMembers",
                        "StopMonitoringMembers",
                        "DeletePublishingDestination",
                        "CreateIPSet",
                        "UpdateIPSet",
                    ]},
                    {"eventName": ["UpdateDetector"], "requestParameters": {"enable": [False]}},
                    {
                        "eventName": ["CreateFilter", "UpdateFilter"],
                        "requestParameters": {"action": ["ARCHIVE"]},
                    },
                ]
            },
        ),
        input_paths=_API_CALL_PATHS,
        template=_API_CALL_TEMPLATE.format(what="GuardDuty weakened"),
    ),
    AlertRule(
        key="securityhub-tampering",
        description="Security Hub disabled, standards disabled or aggregation removed",
        severity="critical",
        pattern=_api_call(
            "aws.securityhub", "securityhub.amazonaws.com",
            {"eventName": [
                "DisableSecurityHub",
                "BatchDisableStandards",
                "DeleteFindingAggregator",
                "DisassociateFromAdministratorAccount",
                "DisassociateFromMasterAccount",
                "DisableImportFindingsForProduct",
            ]},
        ),
        input_paths=_API_CALL_PATHS,
        template=_API_CALL_TEMPLATE.format(what="Security Hub weakened"),
    ),
    AlertRule(
        key="backup-tampering",
        description="Attempts to delete or weaken backup vaults, recovery points or plans",
        severity="critical",
        pattern=_api_call(
            "aws.backup", "backup.amazonaws.com",
            {"eventName": [
                "DeleteBackupVault",
                "DeleteRecoveryPoint",
                "DisassociateRecoveryPoint",
                "UpdateRecoveryPointLifecycle",
                "DeleteBackupVaultLockConfiguration",
                "PutBackupVaultLockConfiguration",
                "DeleteBackupVaultAccessPolicy",
                "PutBackupVaultAccessPolicy",
                "DeleteBackupVaultNotifications",
                "DeleteBackupPlan",
                "DeleteBackupSelection",
            ]},
        ),
        input_paths=_API_CALL_PATHS,
        template=_API_CALL_TEMPLATE.format(what="Backup protection change (ransomware signal)"),
    ),
    AlertRule(
        key="backup-job-failed",
        description="Backup or copy jobs that failed, were aborted or expired",
        severity="high",
        pattern={
            "source": ["aws.backup"],
            "detail-type": ["Backup Job State Change", "Copy Job State Change"],
            "detail": {"state": ["FAILED", "ABORTED", "EXPIRED"]},
        },
        input_paths={
            "account": "$.account",
            "region": "$.region",
            "kind": "$.detail-type",
            "state": "$.detail.state",
            "resource": "$.detail.resourceArn",
            "resourcetype": "$.detail.resourceType",
        },
        template=(
            "AWS Backup: <kind> is <state> for <resourcetype> <resource> in account <account>, "
            "region <region>. Severity: high. Recovery depends on this backup."
        ),
    ),
)


@dataclass(frozen=True)
class AlertRoutingArgs:
    """Inputs of one region's alert routing."""

    region: str
    """The region this component is created in (the provider's region in ``opts``)."""

    account_id: pulumi.Input[str]
    """12-digit account id used in every ``aws:SourceAccount`` condition."""

    kms_key_arn: pulumi.Input[str]
    """Customer-managed key for the topics and the dead-letter queue (see module doc)."""

    subscriptions: Mapping[str, tuple[AlertSubscription, ...]] = field(default_factory=dict)
    """Endpoints per severity: ``{"critical": (AlertSubscription("email", "soc@x"),)}``."""

    topic_name_prefix: str = "ir-readiness"
    """Topics are ``<prefix>-<severity>``; rules ``<prefix>-<rule>``; the queue
    ``<prefix>-alerts-dlq``."""

    publisher_services: tuple[str, ...] = PUBLISHER_SERVICES
    """Service principals allowed to publish (each with source conditions)."""

    partition: str = "aws"
    """ARN partition: aws, aws-cn or aws-us-gov."""

    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags on the topics, the queue and the rules."""

    def __post_init__(self) -> None:
        check_region("region", self.region)
        check_account("account_id", self.account_id)
        check_arn("kms_key_arn", self.kms_key_arn, "kms", "key/")
        for severity, subs in self.subscriptions.items():
            if severity not in SEVERITIES:
                raise invalid("subscriptions", severity, f"severities are {', '.join(SEVERITIES)}")
            if not isinstance(subs, (tuple, list)) or not all(
                isinstance(s, AlertSubscription) for s in subs
            ):
                raise invalid(
                    f"subscriptions[{severity!r}]", subs, "a tuple of AlertSubscription"
                )
            endpoints = [(s.protocol, s.endpoint) for s in subs]
            for position, endpoint in enumerate(endpoints):
                if endpoint in endpoints[:position]:
                    raise invalid(
                        f"subscriptions[{severity!r}]", redacted(endpoint[1]),
                        "this endpoint is listed twice",
                    )
            for sub in subs:
                match = ARN_RE.match(sub.endpoint) if isinstance(sub.endpoint, str) else None
                if sub.protocol == "lambda" and match and match.group("region") != self.region:
                    raise invalid(
                        "subscriptions.endpoint", sub.endpoint,
                        f"SNS invokes Lambda functions in the topic's region ({self.region}) only",
                    )
        if not _PREFIX_RE.match(self.topic_name_prefix):
            raise invalid(
                "topic_name_prefix", self.topic_name_prefix, "1-32 letters, digits, '-' or '_'"
            )
        for service in self.publisher_services:
            if service not in PUBLISHER_SERVICES:
                raise invalid(
                    "publisher_services", service,
                    f"allowed values are {', '.join(PUBLISHER_SERVICES)}",
                )
        if "events.amazonaws.com" not in self.publisher_services:
            raise invalid(
                "publisher_services", self.publisher_services,
                "events.amazonaws.com is required: the alert rules publish through it",
            )
        if self.partition not in ("aws", "aws-cn", "aws-us-gov"):
            raise invalid("partition", self.partition, "allowed values are aws, aws-cn, aws-us-gov")
        check_tags("tags", self.tags)


def _source_arn_pattern(
    service: str, partition: str, region: str, account_id: pulumi.Input[str]
) -> pulumi.Output[str] | None:
    if service == "events.amazonaws.com":
        return pulumi.Output.concat(f"arn:{partition}:events:{region}:", account_id, ":rule/*")
    if service == "cloudwatch.amazonaws.com":
        return pulumi.Output.concat(
            f"arn:{partition}:cloudwatch:{region}:", account_id, ":alarm:*"
        )
    return None


def topic_policy_document(
    topic_arn: pulumi.Input[str], args: AlertRoutingArgs
) -> pulumi.Output[str]:
    """The topic policy: account management, service publishers with source conditions."""
    statements: list[dict[str, Any]] = [
        {
            "Sid": "AccountManagesAndPublishes",
            "Effect": "Allow",
            "Principal": {
                "AWS": pulumi.Output.concat(f"arn:{args.partition}:iam::", args.account_id, ":root")
            },
            "Action": [
                "SNS:GetTopicAttributes",
                "SNS:SetTopicAttributes",
                "SNS:AddPermission",
                "SNS:RemovePermission",
                "SNS:DeleteTopic",
                "SNS:Subscribe",
                "SNS:ListSubscriptionsByTopic",
                "SNS:Publish",
            ],
            "Resource": topic_arn,
        }
    ]
    for service in args.publisher_services:
        condition: dict[str, Any] = {"StringEquals": {"aws:SourceAccount": args.account_id}}
        source_arn = _source_arn_pattern(service, args.partition, args.region, args.account_id)
        if source_arn is not None:
            condition["ArnLike"] = {"aws:SourceArn": source_arn}
        statements.append({
            "Sid": "Publish" + service.split(".")[0].capitalize(),
            "Effect": "Allow",
            "Principal": {"Service": service},
            "Action": "SNS:Publish",
            "Resource": topic_arn,
            "Condition": condition,
        })
    statements.append({
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "SNS:Publish",
        "Resource": topic_arn,
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    })
    return pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": statements})


def _queue_policy_document(
    queue_arn: pulumi.Input[str],
    topic_arns: list[pulumi.Output[str]],
    rule_arns: list[pulumi.Output[str]],
) -> pulumi.Output[str]:
    return pulumi.Output.json_dumps({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "SnsDeadLetters",
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": topic_arns}},
            },
            {
                "Sid": "EventBridgeDeadLetters",
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": rule_arns}},
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
    })


class AlertRouting(pulumi.ComponentResource):
    """Severity topics, subscriptions with a dead-letter queue, and security alert rules."""

    critical_topic_arn: pulumi.Output[str]
    high_topic_arn: pulumi.Output[str]
    info_topic_arn: pulumi.Output[str]
    topic_arns: pulumi.Output[dict[str, str]]
    dead_letter_queue_arn: pulumi.Output[str]
    dead_letter_queue_url: pulumi.Output[str]
    rule_names: pulumi.Output[list[str]]

    def __init__(
        self,
        name: str,
        args: AlertRoutingArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        if not isinstance(args, AlertRoutingArgs):
            raise TypeError("args must be an AlertRoutingArgs")
        super().__init__(COMPONENT_TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(args.tags)
        prefix = args.topic_name_prefix

        topics: dict[str, aws.sns.Topic] = {}
        for severity in SEVERITIES:
            topic = aws.sns.Topic(
                f"{name}-{severity}",
                name=f"{prefix}-{severity}",
                display_name=f"ir-readiness {severity} alerts",
                kms_master_key_id=args.kms_key_arn,
                signature_version=2,
                tags={**tags, "ir-readiness:severity": severity},
                opts=child,
            )
            aws.sns.TopicPolicy(
                f"{name}-{severity}-policy",
                arn=topic.arn,
                policy=topic_policy_document(topic.arn, args),
                opts=child,
            )
            topics[severity] = topic

        dlq = aws.sqs.Queue(
            f"{name}-dlq",
            name=f"{prefix}-alerts-dlq",
            kms_master_key_id=args.kms_key_arn,
            kms_data_key_reuse_period_seconds=300,
            message_retention_seconds=DLQ_RETENTION_SECONDS,
            tags=tags,
            opts=child,
        )
        redrive = pulumi.Output.json_dumps({"deadLetterTargetArn": dlq.arn})

        for severity, subs in args.subscriptions.items():
            for index, sub in enumerate(subs):
                aws.sns.TopicSubscription(
                    f"{name}-{severity}-{sub.protocol}-{index}",
                    topic=topics[severity].arn,
                    protocol=sub.protocol,
                    # webhook URLs embed their token: keep them encrypted in stack state
                    endpoint=(
                        pulumi.Output.secret(sub.endpoint)
                        if sub.protocol == "https"
                        else sub.endpoint
                    ),
                    raw_message_delivery=sub.raw_message_delivery or None,
                    redrive_policy=redrive,
                    opts=child,
                )

        rules: list[aws.cloudwatch.EventRule] = []
        for spec in ALERT_RULES:
            rule = aws.cloudwatch.EventRule(
                f"{name}-{spec.key}",
                name=f"{prefix}-{spec.key}",
                description=spec.description,
                event_pattern=json.dumps(spec.pattern),
                state="ENABLED",
                tags={**tags, "ir-readiness:severity": spec.severity},
                opts=child,
            )
            aws.cloudwatch.EventTarget(
                f"{name}-{spec.key}-target",
                rule=rule.name,
                target_id=f"{spec.severity}-topic",
                arn=topics[spec.severity].arn,
                input_transformer=aws.cloudwatch.EventTargetInputTransformerArgs(
                    input_paths=spec.input_paths,
                    input_template=spec.input_template,
                ),
                dead_letter_config=aws.cloudwatch.EventTargetDeadLetterConfigArgs(arn=dlq.arn),
                retry_policy=aws.cloudwatch.EventTargetRetryPolicyArgs(
                    maximum_event_age_in_seconds=86_400, maximum_retry_attempts=185
                ),
                opts=child,
            )
            rules.append(rule)

        aws.sqs.QueuePolicy(
            f"{name}-dlq-policy",
            queue_url=dlq.url,
            policy=_queue_policy_document(
                dlq.arn, [t.arn for t in topics.values()], [r.arn for r in rules]
            ),
            opts=child,
        )

        self.critical_topic_arn = topics["critical"].arn
        self.high_topic_arn = topics["high"].arn
        self.info_topic_arn = topics["info"].arn
        self.topic_arns = pulumi.Output.all(
            critical=self.critical_topic_arn, high=self.high_topic_arn, info=self.info_topic_arn
        ).apply(lambda arns: dict(arns))
        self.dead_letter_queue_arn = dlq.arn
        self.dead_letter_queue_url = dlq.url
        self.rule_names = pulumi.Output.all(*[r.name for r in rules]).apply(list)
        self.register_outputs({
            "critical_topic_arn": self.critical_topic_arn,
            "high_topic_arn": self.high_topic_arn,
            "info_topic_arn": self.info_topic_arn,
            "topic_arns": self.topic_arns,
            "dead_letter_queue_arn": self.dead_letter_queue_arn,
            "dead_letter_queue_url": self.dead_letter_queue_url,
            "rule_names": self.rule_names,
        })


def placeholders(template: str) -> set[str]:
    """The ``<name>`` placeholders an input template uses."""
    return set(_PLACEHOLDER_RE.findall(template))
