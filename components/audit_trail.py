"""AuditTrail: one multi-region CloudTrail trail, its locked log bucket, its CloudWatch
Logs copy and the CIS AWS Foundations monitoring alarms on that copy.

The trail covers every region (global service events included, log file validation on,
KMS-encrypted) and delivers to a private, Object-Locked bucket whose policy admits only
this trail (`aws:SourceArn`). The CloudWatch Logs copy (encrypted log group with
retention, delivery role scoped to this trail) feeds one metric filter + alarm per CIS
monitoring control, each alarm notifying the alert topic of its severity.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.backup_protection import report_bucket_statements
from components.locked_bucket import locked_bucket
from components.settings import SEVERITIES, ObjectLock

TYPE = "ir-readiness:index:AuditTrail"
METRIC_NAMESPACE = "ir-readiness/CIS"
MANAGEMENT_SELECTOR_NAME = "Management events selector"


@dataclass(frozen=True)
class MonitoringControl:
    key: str
    """Short name, used in resource names and the metric name."""
    title: str
    """What the alarm means, in the words of the CIS benchmark."""
    severity: str
    """Alert topic that receives the alarm (critical, high or info)."""
    pattern: str
    """CloudWatch Logs metric filter pattern over CloudTrail events."""


def _any_event(*names: str) -> str:
    return " || ".join(f"($.eventName = {n})" for n in names)


# CIS AWS Foundations Benchmark, "Monitoring" section (v1.4 4.1-4.15 / v3.0 4.x).
CIS_CONTROLS: tuple[MonitoringControl, ...] = (
    MonitoringControl(
        "unauthorized-api-calls",
        "Unauthorized API calls",
        "info",
        '{(($.errorCode = "*UnauthorizedOperation") || ($.errorCode = "AccessDenied*")) && '
        '(($.sourceIPAddress != "delivery.logs.amazonaws.com") && ($.eventName != "HeadBucket"))}',
    ),
    MonitoringControl(
        "console-signin-without-mfa",
        "Management console sign-in without MFA",
        "high",
        '{($.eventName = "ConsoleLogin") && ($.additionalEventData.MFAUsed != "Yes") && '
        '($.userIdentity.type = "IAMUser") && ($.responseElements.ConsoleLogin = "Success")}',
    ),
    MonitoringControl(
        "root-account-usage",
        "Usage of the root account",
        "critical",
        '{$.userIdentity.type = "Root" && $.userIdentity.invokedBy NOT EXISTS && '
        '$.eventType != "AwsServiceEvent"}',
    ),
    MonitoringControl(
        "iam-policy-changes",
        "IAM policy changes",
        "high",
        "{($.eventSource = iam.amazonaws.com) && ("
        + _any_event(
            "DeleteGroupPolicy", "DeleteRolePolicy", "DeleteUserPolicy", "PutGroupPolicy",
            "PutRolePolicy", "PutUserPolicy", "CreatePolicy", "DeletePolicy",
            "CreatePolicyVersion", "DeletePolicyVersion", "AttachRolePolicy",
            "DetachRolePolicy", "AttachUserPolicy", "DetachUserPolicy", "AttachGroupPolicy",
            "DetachGroupPolicy",
        )
        + ")}",
    ),
    MonitoringControl(
        "cloudtrail-config-changes",
        "CloudTrail configuration changes",
        "critical",
        "{"
        + _any_event("CreateTrail", "UpdateTrail", "DeleteTrail", "StartLogging", "StopLogging")
        + "}",
    ),
    MonitoringControl(
        "console-authentication-failures",
        "Management console authentication failures",
        "high",
        '{($.eventName = ConsoleLogin) && ($.errorMessage = "Failed authentication")}',
    ),
    MonitoringControl(
        "cmk-disable-or-deletion",
        "Disabling or scheduled deletion of customer-managed KMS keys",
        "critical",
        "{($.eventSource = kms.amazonaws.com) && ("
        + _any_event("DisableKey", "ScheduleKeyDeletion")
        + ")}",
    ),
    MonitoringControl(
        "s3-bucket-policy-changes",
        "S3 bucket policy changes",
        "high",
        "{($.eventSource = s3.amazonaws.com) && ("
        + _any_event(
            "PutBucketAcl", "PutBucketPolicy", "PutBucketCors", "PutBucketLifecycle",
            "PutBucketReplication", "DeleteBucketPolicy", "DeleteBucketCors",
            "DeleteBucketLifecycle", "DeleteBucketReplication",
        )
        + ")}",
    ),
    MonitoringControl(
        "config-changes",
        "AWS Config configuration changes",
        "high",
        "{($.eventSource = config.amazonaws.com) && ("
        + _any_event(
            "StopConfigurationRecorder", "DeleteDeliveryChannel", "PutDeliveryChannel",
            "PutConfigurationRecorder",
        )
        + ")}",
    ),
    MonitoringControl(
        "security-group-changes",
        "Security group changes",
        "high",
        "{"
        + _any_event(
            "AuthorizeSecurityGroupIngress", "AuthorizeSecurityGroupEgress",
            "RevokeSecurityGroupIngress", "RevokeSecurityGroupEgress", "CreateSecurityGroup",
            "DeleteSecurityGroup",
        )
        + "}",
    ),
    MonitoringControl(
        "nacl-changes",
        "Network ACL changes",
        "high",
        "{"
        + _any_event(
            "CreateNetworkAcl", "CreateNetworkAclEntry", "DeleteNetworkAcl",
            "DeleteNetworkAclEntry", "ReplaceNetworkAclEntry", "ReplaceNetworkAclAssociation",
        )
        + "}",
    ),
    MonitoringControl(
        "network-gateway-changes",
        "Network gateway changes",
        "high",
        "{"
        + _any_event(
            "CreateCustomerGateway", "DeleteCustomerGateway", "AttachInternetGateway",
            "CreateInternetGateway", "DeleteInternetGateway", "DetachInternetGateway",
        )
        + "}",
    ),
    MonitoringControl(
        "route-table-changes",
        "Route table changes",
        "high",
        "{($.eventSource = ec2.amazonaws.com) && ("
        + _any_event(
            "CreateRoute", "CreateRouteTable", "ReplaceRoute", "ReplaceRouteTableAssociation",
            "DeleteRouteTable", "DeleteRoute", "DisassociateRouteTable",
        )
        + ")}",
    ),
    MonitoringControl(
        "vpc-changes",
        "VPC changes",
        "high",
        "{"
        + _any_event(
            "CreateVpc", "DeleteVpc", "ModifyVpcAttribute", "AcceptVpcPeeringConnection",
            "CreateVpcPeeringConnection", "DeleteVpcPeeringConnection",
            "RejectVpcPeeringConnection", "AttachClassicLinkVpc", "DetachClassicLinkVpc",
            "DisableVpcClassicLink", "EnableVpcClassicLink",
        )
        + "}",
    ),
    MonitoringControl(
        "organizations-changes",
        "AWS Organizations changes",
        "high",
        "{($.eventSource = organizations.amazonaws.com) && ("
        + _any_event(
            "AcceptHandshake", "AttachPolicy", "CreateAccount", "CreateOrganizationalUnit",
            "CreatePolicy", "DeclineHandshake", "DeleteOrganization",
            "DeleteOrganizationalUnit", "DeletePolicy", "DetachPolicy", "DisablePolicyType",
            "EnablePolicyType", "InviteAccountToOrganization", "LeaveOrganization",
            "MoveAccount", "RemoveAccountFromOrganization", "UpdatePolicy",
            "UpdateOrganizationalUnit",
            # CIS v3.0 4.15 lists these too: an invitation withdrawn, a new organization,
            # and the switch to all features (which lets SCPs be attached).
            "CancelHandshake", "CreateOrganization", "EnableAllFeatures",
        )
        + ")}",
    ),
)


@dataclass(frozen=True)
class AuditTrailArgs:
    trail_name: str
    """Physical trail name; the KMS key policy and bucket policy name this trail's ARN."""
    home_region: str
    """Region of the trail, its bucket and log group (the provider's region)."""
    account_id: pulumi.Input[str]
    """Account id (for ARNs and `aws:SourceAccount`)."""
    partition: pulumi.Input[str]
    """ARN partition."""
    kms_key_arn: pulumi.Input[str]
    """Home-region KMS key encrypting log files, the log bucket and the log group."""
    log_group_name: str
    """CloudWatch Logs group receiving the trail (must lie under the key's log prefix)."""
    alarm_topic_arns: Mapping[str, pulumi.Input[str]]
    """Home-region alert topic ARN per severity (critical, high, info)."""
    log_retention_days: int = 365
    """Retention of the CloudWatch Logs copy."""
    object_lock: ObjectLock = ObjectLock("GOVERNANCE", 365)
    """Object Lock default retention on the log bucket."""
    archive_after_days: int = 90
    """Days after which log files move to Glacier."""
    s3_data_events: bool = False
    """Record S3 object-level events for all buckets (billed)."""
    lambda_data_events: bool = False
    """Record Lambda Invoke events for all functions (billed)."""
    insights: bool = False
    """Enable CloudTrail Insights (API call rate and error rate; billed)."""
    backup_reports: bool = False
    """Let Backup Audit Manager deliver its reports under `backup-reports/` of the log
    bucket (`backup_protection.report_bucket_statements`)."""

    def __post_init__(self) -> None:
        # Validated once, at construction, the same way as every other Args.
        missing = [s for s in SEVERITIES if s not in self.alarm_topic_arns]
        if missing:
            raise ValueError(
                f"AuditTrailArgs.alarm_topic_arns lacks severities {missing}; "
                f"give one topic ARN for each of {list(SEVERITIES)}"
            )
        if not self.log_group_name.startswith("/"):
            raise ValueError(
                f"AuditTrailArgs.log_group_name = {self.log_group_name!r}: must start with '/'"
            )
        if not 3 <= len(self.trail_name) <= 128:
            raise ValueError(
                f"AuditTrailArgs.trail_name = {self.trail_name!r}: must be 3-128 characters"
            )


def trail_arn(partition: str, region: str, account_id: str, trail_name: str) -> str:
    return f"arn:{partition}:cloudtrail:{region}:{account_id}:trail/{trail_name}"


class AuditTrail(pulumi.ComponentResource):
    """The account's multi-region trail with its bucket, log group and CIS alarms."""

    trail_arn: pulumi.Output[str]
    bucket_name: pulumi.Output[str]
    log_group_name: pulumi.Output[str]
    log_group_arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: AuditTrailArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        expected_arn = pulumi.Output.all(args.partition, args.account_id).apply(
            lambda v: trail_arn(v[0], args.home_region, v[1], args.trail_name)
        )

        def cloudtrail_statements(values: list[Any]) -> list[dict[str, Any]]:
            bucket_arn, account_id, arn = values
            return [
                {
                    "Sid": "CloudTrailAclCheck",
                    "Effect": "Allow",
                    "Principal": {"Service": "cloudtrail.amazonaws.com"},
                    "Action": "s3:GetBucketAcl",
                    "Resource": bucket_arn,
                    "Condition": {"StringEquals": {"aws:SourceArn": arn}},
                },
                {
                    "Sid": "CloudTrailWrite",
                    "Effect": "Allow",
                    "Principal": {"Service": "cloudtrail.amazonaws.com"},
                    "Action": "s3:PutObject",
                    "Resource": f"{bucket_arn}/AWSLogs/{account_id}/*",
                    "Condition": {
                        "StringEquals": {
                            "s3:x-amz-acl": "bucket-owner-full-control",
                            "aws:SourceArn": arn,
                        }
                    },
                },
            ]

        def statements_for(bucket_arn: pulumi.Output[str]) -> pulumi.Output[Any]:
            grants = pulumi.Output.all(bucket_arn, args.account_id, expected_arn).apply(
                cloudtrail_statements
            )
            if not args.backup_reports:
                return grants
            return pulumi.Output.all(grants, bucket_arn, args.account_id,
                                     args.partition).apply(
                lambda v: [*v[0], *report_bucket_statements(v[1], v[2], v[3])])

        store = locked_bucket(
            f"{name}-logs",
            parent=self,
            kms_key_arn=args.kms_key_arn,
            object_lock=args.object_lock,
            archive_after_days=args.archive_after_days,
            extra_statements=statements_for,
        )

        log_group = aws.cloudwatch.LogGroup(
            f"{name}-log-group",
            name=args.log_group_name,
            kms_key_id=args.kms_key_arn,
            retention_in_days=args.log_retention_days,
            opts=child,
        )
        delivery_role = aws.iam.Role(
            f"{name}-delivery-role",
            description="CloudTrail delivers the trail to its CloudWatch Logs group",
            assume_role_policy=pulumi.Output.all(args.account_id, expected_arn).apply(
                lambda v: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                                "Action": "sts:AssumeRole",
                                "Condition": {
                                    "StringEquals": {
                                        "aws:SourceAccount": v[0],
                                        "aws:SourceArn": v[1],
                                    }
                                },
                            }
                        ],
                    },
                    sort_keys=True,
                )
            ),
            opts=child,
        )
        delivery_policy = aws.iam.RolePolicy(
            f"{name}-delivery-policy",
            role=delivery_role.id,
            policy=log_group.arn.apply(
                lambda arn: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Sid": "DeliverToTrailLogGroup",
                                "Effect": "Allow",
                                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                                "Resource": f"{arn}:log-stream:*",
                            }
                        ],
                    },
                    sort_keys=True,
                )
            ),
            opts=child,
        )

        data_selectors: list[aws.cloudtrail.TrailAdvancedEventSelectorArgs] = []
        if args.s3_data_events:
            # Not the trail's own bucket: logging its deliveries would feed a loop.
            data_selectors.append(
                _data_selector(
                    "S3 object-level events",
                    "AWS::S3::Object",
                    exclude_arn_prefix=store.bucket.arn.apply(lambda arn: f"{arn}/"),
                )
            )
        if args.lambda_data_events:
            data_selectors.append(_data_selector("Lambda invocations", "AWS::Lambda::Function"))
        advanced = (
            [
                aws.cloudtrail.TrailAdvancedEventSelectorArgs(
                    # AWS's own name for its default selector: scanners look for it.
                    name=MANAGEMENT_SELECTOR_NAME,
                    field_selectors=[
                        aws.cloudtrail.TrailAdvancedEventSelectorFieldSelectorArgs(
                            field="eventCategory", equals=["Management"]
                        )
                    ],
                ),
                *data_selectors,
            ]
            if data_selectors
            else None
        )
        trail = aws.cloudtrail.Trail(
            f"{name}-trail",
            name=args.trail_name,
            s3_bucket_name=store.bucket.id,
            kms_key_id=args.kms_key_arn,
            is_multi_region_trail=True,
            include_global_service_events=True,
            enable_log_file_validation=True,
            enable_logging=True,
            cloud_watch_logs_group_arn=log_group.arn.apply(lambda arn: f"{arn}:*"),
            cloud_watch_logs_role_arn=delivery_role.arn,
            advanced_event_selectors=advanced,
            insight_selectors=(
                [
                    aws.cloudtrail.TrailInsightSelectorArgs(insight_type="ApiCallRateInsight"),
                    aws.cloudtrail.TrailInsightSelectorArgs(insight_type="ApiErrorRateInsight"),
                ]
                if args.insights
                else None
            ),
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[*store.ready, delivery_policy]
            ),
        )

        self.alarm_names: list[pulumi.Output[str]] = cis_alarms(
            name, parent=self, log_group_name=log_group.name, topic_arns=args.alarm_topic_arns
        )

        self.trail_arn = trail.arn
        self.bucket_name = store.bucket.bucket
        self.bucket_id = store.bucket.id
        """The log bucket's id (its name), for resources that configure the bucket."""
        self.bucket_ready = store.ready
        """The log bucket's configuration resources (its policy among them)."""
        self.log_group_name = log_group.name
        self.log_group_arn = log_group.arn
        self.register_outputs(
            {
                "trailArn": self.trail_arn,
                "bucketName": self.bucket_name,
                "logGroupName": self.log_group_name,
                "logGroupArn": self.log_group_arn,
            }
        )


def cis_alarms(
    name: str,
    *,
    parent: pulumi.Resource,
    log_group_name: pulumi.Input[str],
    topic_arns: Mapping[str, pulumi.Input[str]],
    provider: pulumi.ProviderResource | None = None,
) -> list[pulumi.Output[str]]:
    """One metric filter + alarm per CIS monitoring control on a trail's log group, each
    alarm to the topic of its severity; the names of the alarms. Shared by the account
    trail (AuditTrail) and the organization trail's copy in the management account."""
    child = pulumi.ResourceOptions(parent=parent, provider=provider)
    alarm_names: list[pulumi.Output[str]] = []
    for control in CIS_CONTROLS:
        metric_name = "".join(part.title() for part in control.key.split("-"))
        metric_filter = aws.cloudwatch.LogMetricFilter(
            f"{name}-cis-{control.key}",
            name=f"ir-readiness-{control.key}",
            log_group_name=log_group_name,
            pattern=control.pattern,
            metric_transformation=aws.cloudwatch.LogMetricFilterMetricTransformationArgs(
                name=metric_name,
                namespace=METRIC_NAMESPACE,
                value="1",
            ),
            opts=child,
        )
        alarm = aws.cloudwatch.MetricAlarm(
            f"{name}-cis-{control.key}",
            name=f"ir-readiness-{control.key}",
            alarm_description=f"CIS monitoring: {control.title} (severity {control.severity})",
            namespace=METRIC_NAMESPACE,
            metric_name=metric_name,
            statistic="Sum",
            period=300,
            evaluation_periods=1,
            threshold=1,
            comparison_operator="GreaterThanOrEqualToThreshold",
            treat_missing_data="notBreaching",
            alarm_actions=[topic_arns[control.severity]],
            opts=pulumi.ResourceOptions.merge(
                child, pulumi.ResourceOptions(depends_on=[metric_filter])),
        )
        alarm_names.append(alarm.name)
    return alarm_names


def _data_selector(
    name: str, resource_type: str, exclude_arn_prefix: pulumi.Input[str] | None = None
) -> aws.cloudtrail.TrailAdvancedEventSelectorArgs:
    fields = [
        aws.cloudtrail.TrailAdvancedEventSelectorFieldSelectorArgs(
            field="eventCategory", equals=["Data"]
        ),
        aws.cloudtrail.TrailAdvancedEventSelectorFieldSelectorArgs(
            field="resources.type", equals=[resource_type]
        ),
    ]
    if exclude_arn_prefix is not None:
        fields.append(
            aws.cloudtrail.TrailAdvancedEventSelectorFieldSelectorArgs(
                field="resources.ARN", not_starts_withs=[exclude_arn_prefix]
            )
        )
    return aws.cloudtrail.TrailAdvancedEventSelectorArgs(name=name, field_selectors=fields)
