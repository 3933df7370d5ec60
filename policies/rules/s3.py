"""S3: every bucket private, encrypted, versioned and TLS-only; evidence and log buckets
immutable. Bucket settings live on separate resources in pulumi-aws v7, so these are
stack rules that tie each setting back to its bucket."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pulumi_policy import PolicyResource, Severity

from ._util import (
    Findings,
    StackIndex,
    allows,
    as_list,
    condition_keys,
    describe,
    int_or_none,
    is_wildcard_principal,
    parse_document,
    principals,
    purpose_of,
    stack_rule,
    statements,
)

AREA = "s3"
BUCKETS = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
PUBLIC_ACCESS_BLOCK = ("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",)
ENCRYPTION = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
)
VERSIONING = ("aws:s3/bucketVersioning:BucketVersioning",
              "aws:s3/bucketVersioningV2:BucketVersioningV2")
POLICY = ("aws:s3/bucketPolicy:BucketPolicy",)
OBJECT_LOCK = (
    "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration",
    "aws:s3/bucketObjectLockConfigurationV2:BucketObjectLockConfigurationV2",
)
TRAIL = "aws:cloudtrail/trail:Trail"
GUARDDUTY_DESTINATION = "aws:guardduty/publishingDestination:PublishingDestination"
KMS_ALGORITHMS = ("aws:kms", "aws:kms:dsse")
PAB_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")


@dataclass
class BucketView:
    """One bucket with the v7 resources that configure it."""

    bucket: PolicyResource
    public_access_blocks: list[PolicyResource] = field(default_factory=list)
    encryption: list[PolicyResource] = field(default_factory=list)
    versioning: list[PolicyResource] = field(default_factory=list)
    policies: list[PolicyResource] = field(default_factory=list)
    object_lock: list[PolicyResource] = field(default_factory=list)


def bucket_views(index: StackIndex) -> list[BucketView]:
    buckets = index.of_type(*BUCKETS)
    views = {b.urn: BucketView(b) for b in buckets}
    groups = ((PUBLIC_ACCESS_BLOCK, "public_access_blocks"), (ENCRYPTION, "encryption"),
              (VERSIONING, "versioning"), (POLICY, "policies"), (OBJECT_LOCK, "object_lock"))
    for types, attr in groups:
        for setting in index.of_type(*types):
            for target in index.references(setting, "bucket", buckets, ("bucket",)):
                getattr(views[target.urn], attr).append(setting)
    return list(views.values())


def _sse_rules(view: BucketView) -> list[Mapping[str, Any]]:
    rules: list[Mapping[str, Any]] = []
    inline = view.bucket.props.get("serverSideEncryptionConfiguration")
    if isinstance(inline, Mapping) and isinstance(inline.get("rule"), Mapping):
        rules.append(inline["rule"])
    for res in view.encryption:
        rules.extend(r for r in as_list(res.props.get("rules")) if isinstance(r, Mapping))
    return rules


def _policy_documents(view: BucketView) -> list[dict[str, Any]]:
    docs = [parse_document(view.bucket.props.get("policy"))]
    docs.extend(parse_document(p.props.get("policy")) for p in view.policies)
    return [d for d in docs if d]


def denies_insecure_transport(doc: Mapping[str, Any]) -> bool:
    for stmt in statements(doc):
        if str(stmt.get("Effect", "")).lower() != "deny":
            continue
        value = condition_keys(stmt).get("aws:securetransport")
        if any(str(v).lower() == "false" for v in as_list(value)):
            acts = {a.lower() for a in as_list(stmt.get("Action"))}
            if acts & {"s3:*", "*"}:
                return True
    return False


BUCKET_LOGGING = ("aws:s3/bucketLogging:BucketLogging", "aws:s3/bucketLoggingV2:BucketLoggingV2")


def server_access_log_targets(index: StackIndex) -> set[str]:
    """URNs of the buckets some BucketLogging delivers S3 server access logs into."""
    buckets = index.of_type(*BUCKETS)
    return {t.urn for logging in index.of_type(*BUCKET_LOGGING)
            for t in index.references(logging, "targetBucket", buckets, ("bucket",))}


@stack_rule(
    name="s3-block-public-access", area=AREA, severity=Severity.CRITICAL, mandatory=True,
    description="Every S3 bucket must have a BucketPublicAccessBlock with all four settings on.",
    remediation="Add aws.s3.BucketPublicAccessBlock(bucket=...) with block_public_acls, "
                "block_public_policy, ignore_public_acls and restrict_public_buckets = True.",
)
def block_public_access(index: StackIndex, config: Mapping[str, Any]) -> Findings:
    for view in bucket_views(index):
        if not view.public_access_blocks:
            yield f"{describe(view.bucket)} has no BucketPublicAccessBlock", view.bucket.urn
            continue
        for pab in view.public_access_blocks:
            off = [flag for flag in PAB_FLAGS if pab.props.get(flag) is not True]
            if off:
                yield (f"{describe(pab)} for bucket {view.bucket.name!r} leaves "
                       f"{', '.join(off)} off"), pab.urn


@stack_rule(
    name="s3-sse-kms", area=AREA, severity=Severity.HIGH, mandatory=True,
    description="Every S3 bucket must default to SSE-KMS with a customer-managed key; a "
                "server-access-log destination (target of a BucketLogging) must default to "
                "SSE-S3 instead, the only default encryption S3 log delivery writes into.",
    remediation="Add aws.s3.BucketServerSideEncryptionConfiguration with sse_algorithm='aws:kms', "
                "kms_master_key_id=<your CMK> and bucket_key_enabled=True (sse_algorithm="
                "'AES256' for a server-access-log destination).",
)
def sse_kms(index: StackIndex, config: Mapping[str, Any]) -> Findings:
    access_log_targets = server_access_log_targets(index)
    for view in bucket_views(index):
        rules = _sse_rules(view)
        defaults = [r.get("applyServerSideEncryptionByDefault") for r in rules]
        if view.bucket.urn in access_log_targets:
            if not any(isinstance(d, Mapping) and d.get("sseAlgorithm") == "AES256"
                       for d in defaults):
                yield (f"{describe(view.bucket)} receives S3 server access logs but does not "
                       "default to SSE-S3 (AES256): S3 does not deliver logs to an SSE-KMS "
                       "bucket"), view.bucket.urn
            continue
        kms = [d for d in defaults
               if isinstance(d, Mapping) and d.get("sseAlgorithm") in KMS_ALGORITHMS]
        if not kms:
            yield f"{describe(view.bucket)} has no SSE-KMS default encryption", view.bucket.urn
        elif not any(d.get("kmsMasterKeyId") for d in kms):
            yield (f"{describe(view.bucket)} uses SSE-KMS with the AWS-managed aws/s3 key, "
                   "not a customer-managed key"), view.bucket.urn


@stack_rule(
    name="s3-versioning", area=AREA, severity=Severity.HIGH, mandatory=True,
    description="Every S3 bucket must have versioning enabled.",
    remediation="Add aws.s3.BucketVersioning(bucket=..., versioning_configuration="
                "{'status': 'Enabled'}).",
)
def versioning(index: StackIndex, config: Mapping[str, Any]) -> Findings:
    for view in bucket_views(index):
        inline = view.bucket.props.get("versioning")
        enabled = isinstance(inline, Mapping) and inline.get("enabled") is True
        for res in view.versioning:
            conf = res.props.get("versioningConfiguration")
            if isinstance(conf, Mapping) and conf.get("status") == "Enabled":
                enabled = True
        if not enabled:
            yield f"{describe(view.bucket)} is not versioned", view.bucket.urn


@stack_rule(
    name="s3-tls-only", area=AREA, severity=Severity.MEDIUM, mandatory=False,
    description="Every S3 bucket policy must deny requests without TLS "
                "(aws:SecureTransport = false).",
    remediation="Add a BucketPolicy statement: Effect Deny, Principal '*', Action 's3:*', "
                "Resource [bucket ARN, bucket ARN/*], Condition Bool aws:SecureTransport false.",
)
def tls_only(index: StackIndex, config: Mapping[str, Any]) -> Findings:
    for view in bucket_views(index):
        if not any(denies_insecure_transport(d) for d in _policy_documents(view)):
            yield f"{describe(view.bucket)} has no TLS-only bucket policy", view.bucket.urn
        for doc in _policy_documents(view):
            for stmt in statements(doc):
                if allows(stmt) and not condition_keys(stmt) and any(
                        is_wildcard_principal(k, v) for k, v in principals(stmt)):
                    yield (f"{describe(view.bucket)} policy allows Principal '*' "
                           "without conditions"), view.bucket.urn


def bucket_name_of(arn: str) -> str:
    """`arn:aws:s3:::name/optional/prefix` -> `name`."""
    return arn.split(":::", 1)[-1].split("/", 1)[0]


def locked_buckets(index: StackIndex, config: Mapping[str, Any]) -> list[BucketView]:
    """Log and evidence buckets: trail or GuardDuty destinations, tagged or named so."""
    views = bucket_views(index)
    buckets = [v.bucket for v in views]
    targeted: set[str] = set()
    for trail in index.of_type(TRAIL):
        targeted.update(b.urn for b in index.references(trail, "s3BucketName", buckets,
                                                        ("bucket",)))
    for dest in index.of_type(GUARDDUTY_DESTINATION):
        targeted.update(b.urn for b in index.references(
            dest, "destinationArn", buckets, ("bucket",), normalise=bucket_name_of))
    purposes = {str(p).lower() for p in config["lockedPurposes"]}
    hints = [str(h).lower() for h in config["lockedNameHints"]]
    out = []
    for view in views:
        name = f"{view.bucket.name} {view.bucket.props.get('bucket') or ''}".lower()
        if (view.bucket.urn in targeted or purpose_of(view.bucket.props) in purposes
                or any(h in name for h in hints)):
            out.append(view)
    return out


def _retention_days(retention: Mapping[str, Any]) -> int:
    days = int_or_none(retention.get("days")) or 0
    years = int_or_none(retention.get("years")) or 0
    return days + 365 * years


@stack_rule(
    name="s3-object-lock-retention", area=AREA, severity=Severity.CRITICAL, mandatory=True,
    description="Log and evidence buckets must have Object Lock with a default retention of at "
                "least the configured days.",
    remediation="Create the bucket with object_lock_enabled=True and add "
                "aws.s3.BucketObjectLockConfiguration with rule.default_retention "
                "(mode COMPLIANCE or GOVERNANCE, days >= minRetentionDays).",
    config={
        "minRetentionDays": {"type": "integer", "minimum": 1, "default": 365,
                             "description": "Minimum default retention, in days."},
        "requiredMode": {"type": "string", "enum": ["ANY", "GOVERNANCE", "COMPLIANCE"],
                         "default": "ANY", "description": "Object Lock mode required."},
        "lockedPurposes": {"type": "array", "items": {"type": "string"},
                           "default": ["evidence", "audit-logs", "trail-logs", "logs"],
                           "description": "Values of the ir-readiness:purpose (or Purpose) "
                                          "tag that mark a bucket as log/evidence."},
        "lockedNameHints": {"type": "array", "items": {"type": "string"},
                            "default": ["evidence"],
                            "description": "Substrings of a bucket's name that mark it as "
                                           "log/evidence."},
    },
)
def object_lock(index: StackIndex, config: Mapping[str, Any]) -> Findings:
    minimum = int(config["minRetentionDays"])
    mode_required = str(config["requiredMode"])
    for view in locked_buckets(index, config):
        bucket = view.bucket
        inline = bucket.props.get("objectLockConfiguration")
        enabled = bucket.props.get("objectLockEnabled") is True or (
            isinstance(inline, Mapping) and inline.get("objectLockEnabled") == "Enabled")
        if not enabled:
            yield (f"{describe(bucket)} is a log/evidence bucket without Object Lock "
                   "(object_lock_enabled must be set at creation)"), bucket.urn
            continue
        rules = [r.props.get("rule") for r in view.object_lock]
        if isinstance(inline, Mapping):
            rules.append(inline.get("rule"))
        retentions: list[Mapping[str, Any]] = [
            r["defaultRetention"] for r in rules
            if isinstance(r, Mapping) and isinstance(r.get("defaultRetention"), Mapping)]
        if not retentions:
            yield f"{describe(bucket)} has Object Lock but no default retention", bucket.urn
            continue
        best = max(_retention_days(r) for r in retentions)
        if best < minimum:
            yield (f"{describe(bucket)} default retention is {best} days; at least {minimum} "
                   "required"), bucket.urn
        if mode_required != "ANY" and not any(r.get("mode") == mode_required for r in retentions):
            yield f"{describe(bucket)} Object Lock mode is not {mode_required}", bucket.urn
