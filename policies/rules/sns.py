"""SNS: alert topics that are encrypted and that only AWS services may publish to."""

from __future__ import annotations

from collections.abc import Iterator

from pulumi_policy import Severity

from ._util import (
    ResourceContext,
    allows,
    condition_keys,
    parse_document,
    principals,
    resource_rule,
    statements,
)

AREA = "sns"
TOPIC = "aws:sns/topic:Topic"
TOPIC_POLICY = "aws:sns/topicPolicy:TopicPolicy"
AWS_MANAGED_KEYS = ("alias/aws/sns",)
SOURCE_CONDITIONS = ("aws:sourceaccount", "aws:sourcearn", "aws:sourceowner")


@resource_rule(
    name="sns-topic-cmk", area=AREA, severity=Severity.HIGH, mandatory=False, types=(TOPIC,),
    description="SNS topics must be encrypted with a customer-managed KMS key.",
    remediation="Set kms_master_key_id to a customer-managed key whose policy lets the "
                "publishing services (events, cloudwatch, backup) use it.",
)
def topic_cmk(ctx: ResourceContext) -> Iterator[str]:
    key = ctx.props.get("kmsMasterKeyId")
    if not key:
        yield f"topic {ctx.name!r} is not encrypted"
    elif str(key) in AWS_MANAGED_KEYS:
        yield (f"topic {ctx.name!r} uses the AWS-managed alias/aws/sns key, which EventBridge "
               "and CloudWatch cannot use")


@resource_rule(
    name="sns-topic-policy-service-principals", area=AREA, severity=Severity.CRITICAL,
    mandatory=True, types=(TOPIC, TOPIC_POLICY),
    description="SNS topic policies must grant only AWS service principals, each with an "
                "aws:SourceAccount or aws:SourceArn condition.",
    remediation="Grant Principal {'Service': 'events.amazonaws.com'} (etc.) with Condition "
                "StringEquals aws:SourceAccount <account> or ArnLike aws:SourceArn <rule ARN>.",
)
def topic_policy(ctx: ResourceContext) -> Iterator[str]:
    doc = parse_document(ctx.props.get("policy"))
    if ctx.props.get("policy") and doc is None:
        yield f"{ctx.name!r} policy is not valid JSON"
    for i, stmt in enumerate(statements(doc)):
        if not allows(stmt):
            continue
        label = stmt.get("Sid") or f"#{i}"
        granted = principals(stmt)
        others = [f"{k}:{v}" for k, v in granted if k != "Service"]
        if others or not granted:
            yield f"{ctx.name!r} statement {label} grants non-service principals {others}"
        elif not any(k in condition_keys(stmt) for k in SOURCE_CONDITIONS):
            yield (f"{ctx.name!r} statement {label} grants a service without an "
                   "aws:SourceAccount/aws:SourceArn condition (confused deputy)")
