"""ConfigRecording: the AWS Config recorder and delivery channel of one region.

Security Hub evaluates most of its controls (the CIS and Foundational Security Best
Practices standards the stack subscribes to) from AWS Config's configuration items: with
no recorder, those controls report "no data" and nobody notices. Responders also read
the configuration timeline of a resource ("what did this security group look like at
03:00?").

* The recorder records every supported resource type; **global** resource types (IAM)
  only in the home region, so each IAM change is recorded (and billed) once.
* The delivery channel writes snapshots and history to the trail's log bucket under
  `config/` (KMS-encrypted with the home key, the bucket's Object Lock retention).
* One IAM role, created with the home region's recorder and given to the others, trusts
  `config.amazonaws.com` for this account only (`aws:SourceAccount`); it carries the
  AWS managed `AWS_ConfigRole` policy (read the configuration) and may write only under
  `config/AWSLogs/<account>/` of the bucket and encrypt with the home key through S3.
  Same-account role: the bucket policy needs no grant (IAM decides).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.regional_validation import check_region, invalid

TYPE = "ir-readiness:index:ConfigRecording"
CONFIG_SERVICE = "config.amazonaws.com"
RECORDER_NAME = "ir-readiness"
KEY_PREFIX = "config"


@dataclass(frozen=True)
class ConfigRecordingArgs:
    region: str
    """Region of this recorder (the provider's region)."""
    home_region: str
    """Home region: global resource types are recorded only there."""
    account_id: pulumi.Input[str]
    """This account."""
    partition: str
    """ARN partition."""
    bucket_name: pulumi.Input[str]
    """The trail's log bucket (home region) receiving snapshots and history."""
    kms_key_arn: pulumi.Input[str]
    """The home key encrypting that bucket."""
    role_arn: pulumi.Input[str] | None = None
    """The recorder role made with the home region's recorder; None in the home region
    (which creates it)."""
    bucket_depends_on: tuple[pulumi.Resource, ...] = ()
    """The bucket's configuration resources: the channel is created after them."""
    role_depends_on: tuple[pulumi.Resource, ...] = ()
    """Outside the home region: the home recording's `role_ready` (the role's policies),
    which the recorder waits for (a component's depends_on does not hold its children)."""

    def __post_init__(self) -> None:
        check_region("region", self.region)
        check_region("home_region", self.home_region)
        home = self.region == self.home_region
        if home and self.role_arn is not None:
            raise invalid("role_arn", "given", "the home region creates the recorder role")
        if not home and self.role_arn is None:
            raise invalid("role_arn", None,
                          "give the home region's ConfigRecording.role_arn outside it")


def recorder_trust_policy(account_id: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "ConfigOfThisAccount",
            "Effect": "Allow",
            "Principal": {"Service": CONFIG_SERVICE},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
        }],
    }


def recorder_delivery_policy(
    bucket: str, account_id: str, partition: str, key_arn: str, home_region: str
) -> dict[str, Any]:
    bucket_arn = f"arn:{partition}:s3:::{bucket}"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "CheckBucketAcl",
                "Effect": "Allow",
                "Action": "s3:GetBucketAcl",
                "Resource": bucket_arn,
            },
            {
                "Sid": "DeliverConfigurationItems",
                "Effect": "Allow",
                "Action": "s3:PutObject",
                "Resource": f"{bucket_arn}/{KEY_PREFIX}/AWSLogs/{account_id}/*",
            },
            {
                "Sid": "EncryptThroughS3",
                "Effect": "Allow",
                "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
                "Resource": key_arn,
                "Condition": {
                    "StringEquals": {"kms:ViaService": f"s3.{home_region}.amazonaws.com"}
                },
            },
        ],
    }


class ConfigRecording(pulumi.ComponentResource):
    """One region's Config recorder (on), delivery channel and, at home, their role."""

    role_arn: pulumi.Output[str]
    recorder_name: pulumi.Output[str]

    def __init__(self, name: str, args: ConfigRecordingArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        if not isinstance(args, ConfigRecordingArgs):
            raise TypeError("args must be a ConfigRecordingArgs")
        super().__init__(TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        home = args.region == args.home_region
        role_ready: list[pulumi.Resource] = []
        if args.role_arn is None:
            role = aws.iam.Role(
                f"{name}-role",
                description="AWS Config records configuration and delivers it to the log bucket",
                assume_role_policy=pulumi.Output.from_input(args.account_id).apply(
                    lambda acct: json.dumps(recorder_trust_policy(acct), sort_keys=True)),
                opts=child,
            )
            managed = aws.iam.RolePolicyAttachment(
                f"{name}-role-managed",
                role=role.name,
                policy_arn=f"arn:{args.partition}:iam::aws:policy/service-role/AWS_ConfigRole",
                opts=child,
            )
            delivery = aws.iam.RolePolicy(
                f"{name}-role-delivery",
                role=role.id,
                policy=pulumi.Output.all(args.bucket_name, args.account_id, args.kms_key_arn)
                .apply(lambda v: json.dumps(recorder_delivery_policy(
                    v[0], v[1], args.partition, v[2], args.home_region), sort_keys=True)),
                opts=child,
            )
            role_arn: pulumi.Output[str] = role.arn
            role_ready = [managed, delivery]
        else:
            role_arn = pulumi.Output.from_input(args.role_arn)
        # Recorder, channel and status only once the role may deliver (PutDeliveryChannel
        # checks the bucket with it).
        self.role_ready: list[pulumi.Resource] = [*role_ready, *args.role_depends_on]
        """The role's policies (another region's recording waits for them)."""
        recorder = aws.cfg.Recorder(
            f"{name}-recorder",
            name=RECORDER_NAME,
            role_arn=role_arn,
            recording_group=aws.cfg.RecorderRecordingGroupArgs(
                all_supported=True,
                # IAM and other global types once, in the home region.
                include_global_resource_types=home,
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=self.role_ready),
        )
        channel = aws.cfg.DeliveryChannel(
            f"{name}-channel",
            name=RECORDER_NAME,
            s3_bucket_name=args.bucket_name,
            s3_key_prefix=KEY_PREFIX,
            s3_kms_key_arn=args.kms_key_arn,
            snapshot_delivery_properties=aws.cfg.DeliveryChannelSnapshotDeliveryPropertiesArgs(
                delivery_frequency="TwentyFour_Hours"),
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[recorder, *args.bucket_depends_on]),
        )
        aws.cfg.RecorderStatus(
            f"{name}-status",
            name=recorder.name,
            is_enabled=True,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[channel]),
        )
        self.role_arn = role_arn
        self.recorder_name = recorder.name
        self.register_outputs({"roleArn": self.role_arn, "recorderName": self.recorder_name})
