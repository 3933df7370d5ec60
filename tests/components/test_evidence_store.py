"""EvidenceStore: private, encrypted, versioned, Object-Locked, TLS-only, archived."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from components.evidence_store import EvidenceStore, EvidenceStoreArgs
from components.mockrun import Evaluation
from components.settings import ObjectLock
from tests.components.conftest import ACCOUNT, by_sid, only, run_component

KEY = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def _store(**kwargs: object) -> Evaluation:
    def build() -> None:
        EvidenceStore(
            "evidence",
            EvidenceStoreArgs(
                kms_key_arn=KEY,
                object_lock=ObjectLock("COMPLIANCE", 400),
                archive_after_days=30,
                **kwargs,  # type: ignore[arg-type]
            ),
        )

    return run_component(build)


def assert_locked_private_bucket(ev: Evaluation, bucket_name: str, mode: str, days: int) -> None:
    """Shared by the evidence and trail-log bucket tests."""
    bucket = next(r for r in ev.of_type("aws:s3/bucket:Bucket") if r.name == bucket_name)
    assert bucket.inputs["objectLockEnabled"] is True
    assert bucket.inputs["forceDestroy"] is False

    def config(type_token: str) -> dict:
        found = [r for r in ev.of_type(type_token) if r.inputs["bucket"] == bucket.id]
        assert len(found) == 1, f"{type_token} for {bucket_name}: {len(found)}"
        return dict(found[0].inputs)

    pab = config("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    for flag in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls",
                 "restrictPublicBuckets"):
        assert pab[flag] is True, flag
    owner = config("aws:s3/bucketOwnershipControls:BucketOwnershipControls")
    assert owner["rule"] == {"objectOwnership": "BucketOwnerEnforced"}
    versioning = config("aws:s3/bucketVersioning:BucketVersioning")
    assert versioning["versioningConfiguration"]["status"] == "Enabled"
    sse = config(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    )
    (rule,) = sse["rules"]
    assert rule["bucketKeyEnabled"] is True
    default = rule["applyServerSideEncryptionByDefault"]
    assert default["sseAlgorithm"] == "aws:kms"
    assert default["kmsMasterKeyId"].startswith("arn:aws:kms:")
    lock = config("aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration")
    assert lock["objectLockEnabled"] == "Enabled"
    assert lock["rule"]["defaultRetention"] == {"mode": mode, "days": days}
    lifecycle = config("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
    (lc,) = lifecycle["rules"]
    assert lc["status"] == "Enabled"
    assert lc["transitions"][0]["storageClass"] == "GLACIER"
    assert lc["noncurrentVersionTransitions"][0]["storageClass"] == "GLACIER"
    assert "expiration" not in lc, "evidence and logs must never expire by lifecycle"
    policy = config("aws:s3/bucketPolicy:BucketPolicy")
    tls = by_sid(policy["policy"])["DenyInsecureTransport"]
    assert tls["Effect"] == "Deny" and tls["Principal"] == "*"
    assert tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    arn = f"arn:aws:s3:::{bucket.id}"
    assert sorted(tls["Resource"]) == [arn, f"{arn}/*"]
    for stmt in by_sid(policy["policy"]).values():
        if stmt["Effect"] == "Allow":
            assert stmt["Principal"] != "*", "no public grant"


def test_evidence_bucket_is_private_encrypted_versioned_and_locked() -> None:
    ev = _store()
    assert_locked_private_bucket(ev, "evidence-bucket", "COMPLIANCE", 400)
    lifecycle = only(ev, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
    assert lifecycle.inputs["rules"][0]["transitions"][0]["days"] == 30
    sse = only(ev, "aws:s3/bucketServerSideEncryptionConfiguration:"
                   "BucketServerSideEncryptionConfiguration")
    assert sse.inputs["rules"][0]["applyServerSideEncryptionByDefault"]["kmsMasterKeyId"] == KEY


def test_every_child_is_parented_to_the_component() -> None:
    ev = _store()
    component = only(ev, "ir-readiness:index:EvidenceStore")
    children = [r for r in ev.resources if r.type.startswith("aws:")]
    assert len(children) == 8
    assert all(r.parent == component.urn for r in children)


def test_additional_statements_get_the_bucket_arn_and_follow_the_tls_deny() -> None:
    def extra(bucket_arn):  # noqa: ANN001, ANN202
        return [{
            "Sid": "GuardDutyPutFindings",
            "Effect": "Allow",
            "Principal": {"Service": "guardduty.amazonaws.com"},
            "Action": "s3:PutObject",
            "Resource": bucket_arn.apply(lambda a: f"{a}/guardduty/*"),
            "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}},
        }]

    ev = _store(additional_policy_statements=extra)
    bucket = only(ev, "aws:s3/bucket:Bucket")
    sids = by_sid(only(ev, "aws:s3/bucketPolicy:BucketPolicy").inputs["policy"])
    assert list(sids) == ["DenyInsecureTransport", "GuardDutyPutFindings"]
    assert sids["GuardDutyPutFindings"]["Resource"] == f"arn:aws:s3:::{bucket.id}/guardduty/*"
    assert sids["GuardDutyPutFindings"]["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ACCOUNT}
    }


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: ObjectLock("LEGAL", 1), 'ObjectLock.mode = "LEGAL": must be one of'),  # type: ignore[arg-type]
        (lambda: ObjectLock("COMPLIANCE", 0),
         "ObjectLock.retention_days = 0: is less than the minimum of 1"),
        (lambda: EvidenceStoreArgs(kms_key_arn=KEY, object_lock=ObjectLock("COMPLIANCE", 1),
                                   archive_after_days=0), "archive_after_days = 0"),
    ],
)
def test_invalid_args_are_rejected(build: Callable[[], object], message: str) -> None:
    """An Object Lock is checked when it is built; the Args check what is their own."""
    with pytest.raises(ValueError, match=message):
        build()
