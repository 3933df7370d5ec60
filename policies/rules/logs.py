"""CloudWatch Logs: log groups that keep evidence long enough, encrypted."""

from __future__ import annotations

from collections.abc import Iterator

from pulumi_policy import Severity

from ._util import ResourceContext, int_or_none, present, resource_rule

AREA = "logs"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"


@resource_rule(
    name="logs-retention", area=AREA, severity=Severity.HIGH, mandatory=True,
    types=(LOG_GROUP,),
    description="CloudWatch log groups must set a retention of at least the configured days.",
    remediation="Set retention_in_days (an allowed value >= minRetentionDays, e.g. 365).",
    config={"minRetentionDays": {"type": "integer", "minimum": 1, "default": 90,
                                 "description": "Shortest acceptable retention_in_days."}},
)
def retention(ctx: ResourceContext) -> Iterator[str]:
    days = int_or_none(ctx.props.get("retentionInDays"))
    minimum = int(ctx.config["minRetentionDays"])
    if not days:
        yield f"log group {ctx.name!r} has no retention_in_days"
    elif days < minimum:
        yield f"log group {ctx.name!r} keeps events {days} days; at least {minimum} required"


@resource_rule(
    name="logs-kms", area=AREA, severity=Severity.HIGH, mandatory=False, types=(LOG_GROUP,),
    description="CloudWatch log groups must be encrypted with a customer-managed KMS key.",
    remediation="Set kms_key_id to a key whose policy admits logs.<region>.amazonaws.com with "
                "a kms:EncryptionContext:aws:logs:arn condition.",
)
def kms(ctx: ResourceContext) -> Iterator[str]:
    if not present(ctx.props, "kmsKeyId"):
        yield f"log group {ctx.name!r} is not encrypted with a customer-managed key"
