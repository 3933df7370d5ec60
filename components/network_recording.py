"""NetworkRecording: VPC Flow Logs (and, opt-in, Route 53 Resolver query logs) of the
quarantine VPCs of one region.

The playbooks tell responders to read the flow logs of a contained instance's VPC
(who it talked to, what left it); nothing records them unless this component does.

* **Flow logs**: one flow log per VPC (all traffic by default) into one encrypted log
  group of the region (`<log prefix>/flow-logs`, the region's KMS key, retention from
  config). A CloudWatch Logs destination needs a delivery role: it trusts
  `vpc-flow-logs.amazonaws.com` only for this account (`aws:SourceAccount`) and this
  region's flow logs (`aws:SourceArn`), and may write only to that log group.
* **Resolver query logs** (opt-in, billed per GB ingested): one query log
  configuration into `<log prefix>/resolver-queries` associated with every VPC. Route 53
  Resolver delivers through CloudWatch Logs' vended-log path, which adds its own
  resource policy to the group (`delivery.logs.amazonaws.com`).

A log group rather than the trail's bucket: the region's key already admits CloudWatch
Logs for the stack's log prefix, every region keeps its logs in-region, and responders
query them with Logs Insights during the incident (S3 would need Athena first).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.regional_validation import check_id, invalid
from components.settings import LOG_RETENTION_DAYS

TYPE = "ir-readiness:index:NetworkRecording"
FLOW_LOG_SERVICE = "vpc-flow-logs.amazonaws.com"
TRAFFIC_TYPES = ("ALL", "ACCEPT", "REJECT")

_VPC_RE = re.compile(r"^vpc-[0-9a-f]{8,17}$")


@dataclass(frozen=True)
class NetworkRecordingArgs:
    region: str
    """Region of the VPCs (the provider's region)."""
    account_id: pulumi.Input[str]
    """Account of the VPCs: the delivery role trusts the service only for it."""
    partition: str
    """ARN partition."""
    vpc_ids: Sequence[str]
    """Quarantine VPCs of the region (may be empty: then only the log group exists)."""
    kms_key_arn: pulumi.Input[str]
    """The region's key (its policy admits CloudWatch Logs for `log_group_prefix`)."""
    log_group_prefix: str
    """The stack's log group prefix; the groups are `<prefix>/flow-logs` and
    `<prefix>/resolver-queries`."""
    name_prefix: str
    """Prefix of the Resolver query log configuration's name (`<prefix>-<region>`)."""
    flow_logs: bool = True
    """Create the flow logs."""
    traffic_type: str = "ALL"
    """ALL, ACCEPT or REJECT."""
    log_retention_days: int = 365
    """Retention of both log groups."""
    resolver_query_logs: bool = False
    """Create the Resolver query log configuration and its VPC associations."""

    def __post_init__(self) -> None:
        for vpc in self.vpc_ids:
            check_id("vpc_ids", vpc, _VPC_RE, "a VPC id such as vpc-0abc12345def67890")
        if self.traffic_type not in TRAFFIC_TYPES:
            raise invalid("traffic_type", self.traffic_type, f"one of {', '.join(TRAFFIC_TYPES)}")
        if self.log_retention_days not in LOG_RETENTION_DAYS:
            raise invalid("log_retention_days", self.log_retention_days,
                          "a CloudWatch Logs retention (1, 3, 5, 7, 14, 30, ... 3653)")
        if not self.log_group_prefix.startswith("/"):
            raise invalid("log_group_prefix", self.log_group_prefix, "a path starting with /")


def flow_log_trust_policy(account_id: str, partition: str, region: str) -> dict[str, Any]:
    """The delivery role trusts VPC Flow Logs for this account's flow logs in `region`."""
    return {
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "VpcFlowLogsOfThisAccount",
            "Effect": "Allow",
            "Principal": {"Service": FLOW_LOG_SERVICE},
            "Action": "sts:AssumeRole",
            "Condition": {
                "StringEquals": {"aws:SourceAccount": account_id},
                "ArnLike": {
                    "aws:SourceArn": f"arn:{partition}:ec2:{region}:{account_id}:vpc-flow-log/*"
                },
            },
        }],
    }


def flow_log_delivery_policy(log_group_arn: str) -> dict[str, Any]:
    """Write (and describe) the flow-log group's streams only."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DeliverToFlowLogGroup",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents",
                           "logs:DescribeLogStreams"],
                "Resource": [log_group_arn, f"{log_group_arn}:log-stream:*"],
            },
            {
                # The service checks the group exists before delivering; DescribeLogGroups
                # has no resource-level scoping beyond the account's groups.
                "Sid": "FindFlowLogGroup",
                "Effect": "Allow",
                "Action": "logs:DescribeLogGroups",
                "Resource": "*",
            },
        ],
    }


class NetworkRecording(pulumi.ComponentResource):
    """Flow logs (and optional Resolver query logs) of one region's quarantine VPCs."""

    flow_log_group_name: pulumi.Output[str]
    flow_log_ids: dict[str, pulumi.Output[str]]
    query_log_config_id: pulumi.Output[str] | None

    def __init__(self, name: str, args: NetworkRecordingArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        if not isinstance(args, NetworkRecordingArgs):
            raise TypeError("args must be a NetworkRecordingArgs")
        super().__init__(TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.flow_log_ids = {}
        self.query_log_config_id = None
        group = aws.cloudwatch.LogGroup(
            f"{name}-flow-logs",
            name=f"{args.log_group_prefix}/flow-logs",
            kms_key_id=args.kms_key_arn,
            retention_in_days=args.log_retention_days,
            opts=child,
        )
        self.flow_log_group_name = group.name
        if args.flow_logs:
            role = aws.iam.Role(
                f"{name}-flow-log-role",
                description="VPC Flow Logs deliver the quarantine VPCs' traffic to its log group",
                assume_role_policy=pulumi.Output.from_input(args.account_id).apply(
                    lambda acct: json.dumps(
                        flow_log_trust_policy(acct, args.partition, args.region), sort_keys=True)
                ),
                opts=child,
            )
            policy = aws.iam.RolePolicy(
                f"{name}-flow-log-policy",
                role=role.id,
                policy=group.arn.apply(
                    lambda arn: json.dumps(flow_log_delivery_policy(arn), sort_keys=True)),
                opts=child,
            )
            for vpc in args.vpc_ids:
                flow_log = aws.ec2.FlowLog(
                    f"{name}-{vpc}",
                    vpc_id=vpc,
                    traffic_type=args.traffic_type,
                    log_destination_type="cloud-watch-logs",
                    log_destination=group.arn,
                    iam_role_arn=role.arn,
                    # One-minute records: a responder reads them minutes after containment.
                    max_aggregation_interval=60,
                    tags={"Name": f"ir-readiness-{vpc}"},
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
                )
                self.flow_log_ids[vpc] = flow_log.id
        if args.resolver_query_logs:
            queries = aws.cloudwatch.LogGroup(
                f"{name}-resolver-queries",
                name=f"{args.log_group_prefix}/resolver-queries",
                kms_key_id=args.kms_key_arn,
                retention_in_days=args.log_retention_days,
                opts=child,
            )
            config = aws.route53.ResolverQueryLogConfig(
                f"{name}-resolver-queries",
                name=f"{args.name_prefix}-{args.region}",
                destination_arn=queries.arn,
                opts=child,
            )
            for vpc in args.vpc_ids:
                aws.route53.ResolverQueryLogConfigAssociation(
                    f"{name}-resolver-queries-{vpc}",
                    resolver_query_log_config_id=config.id,
                    resource_id=vpc,
                    opts=child,
                )
            self.query_log_config_id = config.id
        self.register_outputs({
            "flowLogGroupName": self.flow_log_group_name,
            "flowLogIds": self.flow_log_ids,
        })
