"""EvidenceStore: the S3 bucket that holds case evidence and irctl's audit logs.

Private (all four Block Public Access settings, bucket-owner-enforced ownership,
TLS-only policy), encrypted with the home region's KMS key (bucket key on), versioned,
Object-Locked with the retention from settings.

Only GuardDuty's findings exports (``guardduty/``, the bulk of the bucket, read by hunting
and never by response) move to Glacier after ``archive_after_days``. Everything response
reads and rewrites stays in S3 Standard: automation claims (``automation/claims/``),
case evidence and audit logs (``cases/<case>/...``, ``audit.jsonl`` beside the evidence),
per-target locks (``locks/``) and queued uploads. An archived claim answered
``InvalidObjectState`` to the second delivery of a finding, which the Lambda retried into
the dead-letter queue. The lifecycle filter is an allowlist of archived prefixes, not a
list of exceptions: S3 lifecycle filters cannot exclude a prefix, and a prefix added later
is then safe by default.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi

from components.locked_bucket import StatementBuilder, locked_bucket
from components.settings import ObjectLock

TYPE = "ir-readiness:index:EvidenceStore"

ARCHIVED_PREFIXES: tuple[str, ...] = ("guardduty/",)
"""Key prefixes whose objects move to Glacier (only what no responder or automation
reads back during an incident)."""
RESPONSE_PREFIXES: tuple[str, ...] = ("automation/", "cases/", "locks/", "queued/")
"""Key prefixes response reads and rewrites: never archived."""


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
    archive_prefixes: Sequence[str] = ARCHIVED_PREFIXES
    """Key prefixes moved to Glacier after ``archive_after_days``; none may contain or lie
    under a response prefix (claims, cases, locks, queued uploads)."""

    def __post_init__(self) -> None:
        # Validated once, at construction, the same way as every other Args.
        # object_lock is an ObjectLock, which validated its mode and retention when built.
        if self.archive_after_days < 1:
            raise ValueError(
                f"EvidenceStoreArgs.archive_after_days = {self.archive_after_days}: "
                "must be at least 1"
            )
        for prefix in self.archive_prefixes:
            clash = [p for p in RESPONSE_PREFIXES if p.startswith(prefix) or prefix.startswith(p)]
            if clash or not prefix.endswith("/"):
                raise ValueError(
                    f"EvidenceStoreArgs.archive_prefixes: {prefix!r} "
                    + (f"overlaps {clash}, which response reads back (an archived object "
                       "answers InvalidObjectState)" if clash else "must end in '/'")
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
            archive_prefixes=tuple(args.archive_prefixes),
        )
        self.bucket_policy = store.policy
        """The bucket policy resource (depend on it before delivering to the bucket)."""
        self.bucket_ready = store.ready
        """Every configuration resource of the bucket (versioning included)."""
        self.bucket_name = store.bucket.bucket
        self.bucket_arn = store.bucket.arn
        self.register_outputs({"bucketName": self.bucket_name, "bucketArn": self.bucket_arn})
