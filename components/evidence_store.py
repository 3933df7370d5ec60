"""EvidenceStore: the S3 bucket that holds case evidence and irctl's audit logs.

Private (all four Block Public Access settings, bucket-owner-enforced ownership,
TLS-only policy), encrypted with the home region's KMS key (bucket key on), versioned,
Object-Locked with the retention from settings, and archived to Glacier over time.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.locked_bucket import StatementBuilder, locked_bucket
from components.settings import ObjectLock

TYPE = "ir-readiness:index:EvidenceStore"


@dataclass(frozen=True)
class EvidenceStoreArgs:
    kms_key_arn: pulumi.Input[str]
    """KMS key (home region) used for SSE-KMS."""
    object_lock: ObjectLock
    """Default Object Lock retention of every evidence object version."""
    archive_after_days: int = 90
    """Days after which objects (and noncurrent versions) move to Glacier."""
    additional_policy_statements: StatementBuilder | None = None
    """Given the bucket ARN, statements appended to the bucket policy (values may be
    Outputs), e.g. the GuardDuty findings-export grant; the TLS-only deny stays first."""

    def __post_init__(self) -> None:
        # Validated once, at construction, the same way as every other Args.
        # object_lock is an ObjectLock, which validated its mode and retention when built.
        if self.archive_after_days < 1:
            raise ValueError(
                f"EvidenceStoreArgs.archive_after_days = {self.archive_after_days}: "
                "must be at least 1"
            )


class EvidenceStore(pulumi.ComponentResource):
    """The evidence bucket."""

    bucket_name: pulumi.Output[str]
    bucket_arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: EvidenceStoreArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        store = locked_bucket(
            f"{name}-bucket",
            parent=self,
            kms_key_arn=args.kms_key_arn,
            object_lock=args.object_lock,
            archive_after_days=args.archive_after_days,
            extra_statements=args.additional_policy_statements,
        )
        self.bucket_policy = store.policy
        """The bucket policy resource (depend on it before delivering to the bucket)."""
        self.bucket_name = store.bucket.bucket
        self.bucket_arn = store.bucket.arn
        self.register_outputs({"bucketName": self.bucket_name, "bucketArn": self.bucket_arn})
