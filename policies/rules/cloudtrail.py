"""CloudTrail: the audit trail every investigation starts from."""

from __future__ import annotations

from collections.abc import Iterator

from pulumi_policy import Severity

from ._util import ResourceContext, present, resource_rule

TRAIL = ("aws:cloudtrail/trail:Trail",)
AREA = "cloudtrail"


@resource_rule(
    name="cloudtrail-multi-region", area=AREA, severity=Severity.CRITICAL, mandatory=True,
    types=TRAIL,
    description="CloudTrail trails must record every region (isMultiRegionTrail).",
    remediation="Set is_multi_region_trail=True so activity in unused regions is recorded too.",
)
def multi_region(ctx: ResourceContext) -> Iterator[str]:
    if ctx.props.get("isMultiRegionTrail") is not True:
        yield f"trail {ctx.name!r} records only its home region"


@resource_rule(
    name="cloudtrail-log-file-validation", area=AREA, severity=Severity.HIGH, mandatory=True,
    types=TRAIL,
    description="CloudTrail trails must enable log file integrity validation.",
    remediation="Set enable_log_file_validation=True so tampering with delivered logs is "
                "detectable (digest files).",
)
def log_file_validation(ctx: ResourceContext) -> Iterator[str]:
    if ctx.props.get("enableLogFileValidation") is not True:
        yield f"trail {ctx.name!r} has log file validation off"


@resource_rule(
    name="cloudtrail-kms-encryption", area=AREA, severity=Severity.HIGH, mandatory=True,
    types=TRAIL,
    description="CloudTrail trails must encrypt log files with a customer-managed KMS key.",
    remediation="Set kms_key_id to a customer-managed key whose policy admits "
                "cloudtrail.amazonaws.com with an aws:SourceArn condition.",
)
def kms(ctx: ResourceContext) -> Iterator[str]:
    if not present(ctx.props, "kmsKeyId"):
        yield f"trail {ctx.name!r} has no kms_key_id (SSE-S3 only)"


@resource_rule(
    name="cloudtrail-cloudwatch-logs", area=AREA, severity=Severity.HIGH, mandatory=True,
    types=TRAIL,
    description="CloudTrail trails must deliver to CloudWatch Logs (real-time metric "
                "filters and alarms depend on it).",
    remediation="Set cloud_watch_logs_group_arn (ending in ':*') and cloud_watch_logs_role_arn.",
)
def cloudwatch_logs(ctx: ResourceContext) -> Iterator[str]:
    if not present(ctx.props, "cloudWatchLogsGroupArn"):
        yield f"trail {ctx.name!r} has no cloud_watch_logs_group_arn"
    if not present(ctx.props, "cloudWatchLogsRoleArn"):
        yield f"trail {ctx.name!r} has no cloud_watch_logs_role_arn"


@resource_rule(
    name="cloudtrail-logging-enabled", area=AREA, severity=Severity.CRITICAL, mandatory=True,
    types=TRAIL,
    description="CloudTrail trails must be logging.",
    remediation="Remove enable_logging=False (the default is on).",
)
def logging_enabled(ctx: ResourceContext) -> Iterator[str]:
    if ctx.props.get("enableLogging") is False:
        yield f"trail {ctx.name!r} is created with logging stopped"


@resource_rule(
    name="cloudtrail-global-service-events", area=AREA, severity=Severity.HIGH, mandatory=True,
    types=TRAIL,
    description="CloudTrail trails must include global service events (IAM, STS, "
                "CloudFront sign-ins).",
    remediation="Remove include_global_service_events=False (the default is on).",
)
def global_service_events(ctx: ResourceContext) -> Iterator[str]:
    if ctx.props.get("includeGlobalServiceEvents") is False:
        yield f"trail {ctx.name!r} excludes global service events (IAM/STS activity)"
