"""AccessLogStore: S3 server access logging of the stack's log buckets (CIS AWS
Foundations v3.0 3.4 asks for it on the trail's bucket) into one access-log bucket.

Who read or deleted a log file or a piece of evidence is a question responders ask of
the buckets themselves; CloudTrail data events answer it only when they are on (billed),
server access logs always, for the price of their storage.

The access-log bucket has the shape of the other buckets where S3 lets it (all four
Block Public Access settings, bucket-owner-enforced ownership, versioning, TLS-only
policy), with two differences S3 imposes on a server-access-log destination:

* **SSE-S3, not SSE-KMS**: S3 delivers server access logs only to a destination whose
  default encryption is SSE-S3 (AES256); with SSE-KMS default encryption delivery fails.
* **No Object Lock default retention**: S3 does not deliver to a destination with an
  Object Lock default retention period. The bucket is "locked" by its policy instead:
  nobody may delete an object or an object version (`Deny` to every principal), so a
  log only leaves through the lifecycle expiry after the configured days; lifting the
  deny takes a bucket-policy change, which the CIS "S3 bucket policy changes" alarm
  reports.

The delivery grant admits the S3 logging service only for this account
(`aws:SourceAccount`) and the logged buckets (`aws:SourceArn`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.locked_bucket import private_versioned, tls_only_statement
from components.regional_validation import invalid

TYPE = "ir-readiness:index:AccessLogStore"
LOGGING_SERVICE = "logging.s3.amazonaws.com"


@dataclass(frozen=True)
class AccessLogStoreArgs:
    account_id: pulumi.Input[str]
    """Account of the logged buckets (`aws:SourceAccount` of the delivery grant)."""
    partition: str
    """ARN partition."""
    sources: Mapping[str, pulumi.Input[str]]
    """Per log prefix (e.g. `trail-logs`), the name of a bucket to log (same region)."""
    retention_days: int = 365
    """Days an access-log object (and a noncurrent version) is kept."""
    source_depends_on: tuple[pulumi.Resource, ...] = ()
    """Resources that configure the logged buckets (their policies): logging is enabled
    after them."""

    def __post_init__(self) -> None:
        if not self.sources:
            raise invalid("sources", dict(self.sources), "name at least one bucket to log")
        for prefix in self.sources:
            if not prefix or "/" in prefix:
                raise invalid("sources", prefix, "a log prefix is a non-empty name without /")
        if not 1 <= self.retention_days <= 3650:
            raise invalid("retention_days", self.retention_days, "between 1 and 3650 days")


def access_log_bucket_policy(
    bucket_arn: str, account_id: str, partition: str, source_buckets: list[str]
) -> dict[str, Any]:
    """TLS only; S3 logging may write for our buckets; nobody deletes a log."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            tls_only_statement(bucket_arn),
            {
                "Sid": "S3ServerAccessLogDelivery",
                "Effect": "Allow",
                "Principal": {"Service": LOGGING_SERVICE},
                "Action": "s3:PutObject",
                "Resource": f"{bucket_arn}/*",
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": account_id},
                    "ArnEquals": {
                        "aws:SourceArn": [f"arn:{partition}:s3:::{b}" for b in source_buckets]
                    },
                },
            },
            {
                "Sid": "NobodyDeletesAccessLogs",
                "Effect": "Deny",
                "Principal": "*",
                "Action": ["s3:DeleteObject", "s3:DeleteObjectVersion"],
                "Resource": f"{bucket_arn}/*",
            },
        ],
    }


class AccessLogStore(pulumi.ComponentResource):
    """The access-log bucket and the logging configuration of each logged bucket."""

    bucket_name: pulumi.Output[str]
    bucket_arn: pulumi.Output[str]

    def __init__(self, name: str, args: AccessLogStoreArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        if not isinstance(args, AccessLogStoreArgs):
            raise TypeError("args must be an AccessLogStoreArgs")
        super().__init__(TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        bucket = aws.s3.Bucket(f"{name}-bucket", force_destroy=False, opts=child)
        public_access, ownership, versioning = private_versioned(f"{name}-bucket", bucket,
                                                                 child)
        encryption = aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-bucket-encryption",
            bucket=bucket.id,
            rules=[aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                # S3 server access logging cannot deliver to an SSE-KMS bucket.
                apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(  # noqa: E501
                    sse_algorithm="AES256",
                ),
            )],
            opts=child,
        )
        lifecycle = aws.s3.BucketLifecycleConfiguration(
            f"{name}-bucket-lifecycle",
            bucket=bucket.id,
            rules=[aws.s3.BucketLifecycleConfigurationRuleArgs(
                id="expire-access-logs",
                status="Enabled",
                filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(
                    days=args.retention_days),
                noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(  # noqa: E501
                    noncurrent_days=args.retention_days),
                abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(  # noqa: E501
                    days_after_initiation=7),
            )],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[versioning]),
        )
        sources = dict(args.sources)
        policy = aws.s3.BucketPolicy(
            f"{name}-bucket-policy",
            bucket=bucket.id,
            policy=pulumi.Output.all(
                bucket.arn, args.account_id, *sources.values()
            ).apply(lambda v: json.dumps(
                access_log_bucket_policy(v[0], v[1], args.partition, list(v[2:])),
                sort_keys=True,
            )),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[public_access, ownership]),
        )
        ready = [public_access, ownership, versioning, encryption, lifecycle, policy]
        for prefix, source in sources.items():
            aws.s3.BucketLogging(
                f"{name}-{prefix}",
                bucket=source,
                target_bucket=bucket.id,
                target_prefix=f"{prefix}/",
                opts=pulumi.ResourceOptions(
                    parent=self, depends_on=[*ready, *args.source_depends_on]),
            )
        self.bucket_name = bucket.bucket
        self.bucket_arn = bucket.arn
        self.register_outputs({"bucketName": self.bucket_name, "bucketArn": self.bucket_arn})
