"""A private, encrypted, versioned, Object-Locked S3 bucket: the shape both the evidence
store and the trail's log bucket share.

This is a helper that creates the bucket's resources as children of the calling
component (never a component of its own, so the resource graph reads as "EvidenceStore
-> bucket" and "AuditTrail -> log bucket").
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.settings import ObjectLock

StatementBuilder = Callable[[pulumi.Output[str]], pulumi.Input[Sequence[Mapping[str, Any]]]]
"""bucket ARN -> extra bucket-policy statements (values may be Outputs)."""


def tls_only_statement(bucket_arn: str) -> dict[str, Any]:
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [bucket_arn, f"{bucket_arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


@dataclass(frozen=True)
class LockedBucket:
    bucket: aws.s3.Bucket
    policy: aws.s3.BucketPolicy
    ready: list[pulumi.Resource]
    """Every configuration resource; depend on these before writing to the bucket."""


def private_versioned(
    name: str, bucket: aws.s3.Bucket, opts: pulumi.ResourceOptions
) -> tuple[aws.s3.BucketPublicAccessBlock, aws.s3.BucketOwnershipControls,
           aws.s3.BucketVersioning]:
    """What every bucket of the stack has: all four Block Public Access settings, ACLs
    disabled (bucket owner enforced) and versioning on, named `<name>-public-access`,
    `<name>-ownership` and `<name>-versioning`."""
    public_access = aws.s3.BucketPublicAccessBlock(
        f"{name}-public-access",
        bucket=bucket.id,
        block_public_acls=True,
        block_public_policy=True,
        ignore_public_acls=True,
        restrict_public_buckets=True,
        opts=opts,
    )
    ownership = aws.s3.BucketOwnershipControls(
        f"{name}-ownership",
        bucket=bucket.id,
        rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
        opts=opts,
    )
    versioning = aws.s3.BucketVersioning(
        f"{name}-versioning",
        bucket=bucket.id,
        versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(
            status="Enabled"
        ),
        opts=opts,
    )
    return public_access, ownership, versioning


def locked_bucket(
    name: str,
    *,
    parent: pulumi.Resource,
    kms_key_arn: pulumi.Input[str],
    object_lock: ObjectLock,
    archive_after_days: int,
    extra_statements: StatementBuilder | None = None,
    bucket_name: str | None = None,
    archive_prefixes: Sequence[str] | None = None,
) -> LockedBucket:
    """Create the bucket and its configuration as children of `parent`.

    `bucket_name`: a fixed physical name (others derive it, e.g. the organization trail
    bucket); None lets Pulumi auto-name it.

    `archive_prefixes`: None archives every object to Glacier (log buckets: nothing reads
    them during response). Otherwise only objects under these key prefixes are archived,
    one rule each; everything else stays in S3 Standard (an allowlist, so a prefix added
    later, e.g. for locks, is never archived by accident).
    """
    child = pulumi.ResourceOptions(parent=parent)
    bucket = aws.s3.Bucket(
        name,
        bucket=bucket_name,
        object_lock_enabled=True,  # only settable at creation
        force_destroy=False,
        opts=child,
    )
    public_access, ownership, versioning = private_versioned(name, bucket, child)
    encryption = aws.s3.BucketServerSideEncryptionConfiguration(
        f"{name}-encryption",
        bucket=bucket.id,
        rules=[
            aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(  # noqa: E501
                    sse_algorithm="aws:kms",
                    kms_master_key_id=kms_key_arn,
                ),
                bucket_key_enabled=True,
            )
        ],
        opts=child,
    )
    lock = aws.s3.BucketObjectLockConfiguration(
        f"{name}-object-lock",
        bucket=bucket.id,
        object_lock_enabled="Enabled",
        rule=aws.s3.BucketObjectLockConfigurationRuleArgs(
            default_retention=aws.s3.BucketObjectLockConfigurationRuleDefaultRetentionArgs(
                mode=object_lock.mode,
                days=object_lock.retention_days,
            )
        ),
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[versioning]),
    )
    lifecycle = aws.s3.BucketLifecycleConfiguration(
        f"{name}-lifecycle",
        bucket=bucket.id,
        rules=_lifecycle_rules(archive_after_days, archive_prefixes),
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[versioning]),
    )

    def build_policy(values: list[Any]) -> str:
        bucket_arn, extras = values
        statements = [tls_only_statement(bucket_arn), *(dict(e) for e in extras)]
        return json.dumps({"Version": "2012-10-17", "Statement": statements}, sort_keys=True)

    extras = pulumi.Output.from_input(
        extra_statements(bucket.arn) if extra_statements is not None else []
    )
    policy = aws.s3.BucketPolicy(
        f"{name}-policy",
        bucket=bucket.id,
        policy=pulumi.Output.all(bucket.arn, extras).apply(build_policy),
        # Block Public Access first, so a mistaken public statement is refused, not applied.
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[public_access, ownership]),
    )
    return LockedBucket(
        bucket=bucket,
        policy=policy,
        ready=[public_access, ownership, versioning, encryption, lock, lifecycle, policy],
    )


def _abort_uploads() -> aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs:
    return aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
        days_after_initiation=7
    )


def _archive_rule(
    rule_id: str, prefix: str, days: int, *, abort_uploads: bool
) -> aws.s3.BucketLifecycleConfigurationRuleArgs:
    return aws.s3.BucketLifecycleConfigurationRuleArgs(
        id=rule_id,
        status="Enabled",
        filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=prefix),
        transitions=[
            aws.s3.BucketLifecycleConfigurationRuleTransitionArgs(
                days=days, storage_class="GLACIER"
            )
        ],
        noncurrent_version_transitions=[
            aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionTransitionArgs(
                noncurrent_days=days, storage_class="GLACIER"
            )
        ],
        abort_incomplete_multipart_upload=_abort_uploads() if abort_uploads else None,
    )


def _lifecycle_rules(
    days: int, archive_prefixes: Sequence[str] | None
) -> list[aws.s3.BucketLifecycleConfigurationRuleArgs]:
    if archive_prefixes is None:
        return [_archive_rule("archive", "", days, abort_uploads=True)]
    for prefix in archive_prefixes:
        if not prefix.endswith("/") or prefix == "/":
            raise ValueError(
                f"archive prefix {prefix!r}: must be a non-empty key prefix ending in '/' "
                "(an empty prefix would archive the whole bucket)"
            )
    return [
        *(
            _archive_rule(f"archive-{prefix.strip('/').replace('/', '-')}", prefix, days,
                          abort_uploads=False)
            for prefix in archive_prefixes
        ),
        aws.s3.BucketLifecycleConfigurationRuleArgs(
            id="abort-incomplete-uploads",
            status="Enabled",
            filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
            abort_incomplete_multipart_upload=_abort_uploads(),
        ),
    ]
