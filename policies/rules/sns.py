"""SNS: alert topics that are encrypted and that only AWS services may publish to."""

from __future__ import annotations

from collections.abc import Iterator

from pulumi_policy import Severity

from ._util import (
    ResourceContext,
    allows,
    as_list,
    condition_keys,
    known,
    parse_document,
    present,
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
    if not present(ctx.props, "kmsMasterKeyId"):
        yield f"topic {ctx.name!r} is not encrypted"
    elif str(known(ctx.props, "kmsMasterKeyId")) in AWS_MANAGED_KEYS:
        yield (f"topic {ctx.name!r} uses the AWS-managed alias/aws/sns key, which EventBridge "
               "and CloudWatch cannot use")


def _account_of(arn: object) -> str | None:
    parts = str(arn).split(":")
    return parts[4] if len(parts) > 5 and parts[0] == "arn" and parts[4] else None


def _is_own_account(kind: str, value: str, own: set[str]) -> bool:
    if kind != "AWS":
        return False
    return value in own or any(value.endswith(f":iam::{a}:root") for a in own)


@resource_rule(
    name="sns-topic-policy-service-principals", area=AREA, severity=Severity.CRITICAL,
    mandatory=True, types=(TOPIC, TOPIC_POLICY),
    description="SNS topic policies must grant only AWS service principals, each with an "
                "aws:SourceAccount or aws:SourceArn condition (and, unless disabled, the "
                "topic's own account).",
    remediation="Grant Principal {'Service': 'events.amazonaws.com'} (etc.) with Condition "
                "StringEquals aws:SourceAccount <account> or ArnLike aws:SourceArn <rule ARN>; "
                "never other accounts or '*'.",
    config={"allowOwnAccount": {
        "type": "boolean", "default": True,
        "description": "Allow statements whose principal is the topic's own account root "
                       "(the AWS default management statement)."}},
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
        own: set[str] = set()
        if ctx.config["allowOwnAccount"]:
            arns = [*as_list(stmt.get("Resource")), ctx.props.get("arn")]
            own = {a for a in map(_account_of, arns) if a}
        others = [f"{k}:{v}" for k, v in granted
                  if k != "Service" and not _is_own_account(k, v, own)]
        if others or not granted:
            yield f"{ctx.name!r} statement {label} grants non-service principals {others}"
        elif any(k == "Service" for k, _ in granted) and not any(
                k in condition_keys(stmt) for k in SOURCE_CONDITIONS):
            yield (f"{ctx.name!r} statement {label} grants a service without an "
                   "aws:SourceAccount/aws:SourceArn condition (confused deputy)")
