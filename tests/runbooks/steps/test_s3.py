"""S3 bucket containment against moto: assert the bucket's settings themselves."""

from __future__ import annotations

import json
import uuid

import boto3
import pytest
from botocore.exceptions import ClientError

from runbooks.core.errors import ActionFailed, InvalidInput, PreconditionFailed
from runbooks.steps.s3 import (
    BlockPublicAccess,
    EnableVersioning,
    RemovePublicAclGrants,
    RemovePublicPolicyStatements,
    is_public_statement,
)
from tests.runbooks.steps.conftest import ACCOUNT, REGION, apply_all, roll_back

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTH_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
ORDER = (RemovePublicPolicyStatements, RemovePublicAclGrants, BlockPublicAccess,
         EnableVersioning)


def _s3():
    return boto3.client("s3", region_name=REGION)


def _statements(bucket: str) -> list[dict]:
    return [
        {"Sid": "PublicRead", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
         "Resource": f"arn:aws:s3:::{bucket}/*"},
        {"Sid": "PublicListWildcardVpce", "Effect": "Allow", "Principal": {"AWS": "*"},
         "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{bucket}",
         "Condition": {"StringLike": {"aws:SourceVpce": "vpce-*"}}},
        {"Sid": "FromOurEndpoint", "Effect": "Allow", "Principal": "*",
         "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*",
         "Condition": {"StringEquals": {"aws:SourceVpce": "vpce-0123456789abcdef0"}}},
        {"Sid": "Partner", "Effect": "Allow",
         "Principal": {"AWS": "arn:aws:iam::210987654321:root"},
         "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"},
    ]


def _exposed_bucket() -> tuple[str, str]:
    """A bucket with a partly public policy, a public ACL, no BPA, no versioning."""
    s3 = _s3()
    bucket = f"exposed-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    policy = json.dumps({"Version": "2012-10-17", "Statement": _statements(bucket)})
    s3.put_bucket_policy(Bucket=bucket, Policy=policy)
    acl = s3.get_bucket_acl(Bucket=bucket)
    s3.put_bucket_acl(Bucket=bucket, AccessControlPolicy={"Owner": acl["Owner"], "Grants": [
        *acl["Grants"],
        {"Grantee": {"Type": "Group", "URI": ALL_USERS}, "Permission": "READ"},
        {"Grantee": {"Type": "Group", "URI": AUTH_USERS}, "Permission": "WRITE"},
    ]})
    return bucket, policy


def _bpa(bucket: str) -> dict | None:
    try:
        return _s3().get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    except ClientError as err:
        assert err.response["Error"]["Code"] == "NoSuchPublicAccessBlockConfiguration"
        return None


def _policy(bucket: str) -> str | None:
    try:
        return _s3().get_bucket_policy(Bucket=bucket)["Policy"]
    except ClientError as err:
        assert err.response["Error"]["Code"] == "NoSuchBucketPolicy"
        return None


def _grantees(bucket: str) -> set[str]:
    return {g["Grantee"].get("URI", g["Grantee"].get("ID", "")) for g in
            _s3().get_bucket_acl(Bucket=bucket)["Grants"]}


def test_contain_bucket_blocks_public_access_and_keeps_private_grants(make_ctx):
    ctx = make_ctx()
    bucket, _ = _exposed_bucket()
    owner_grants = _s3().get_bucket_acl(Bucket=bucket)["Grants"]
    for cls in ORDER:
        assert apply_all(cls(ctx, {"bucket": bucket})), f"{cls.name} planned nothing"

    assert _bpa(bucket) == {"BlockPublicAcls": True, "IgnorePublicAcls": True,
                            "BlockPublicPolicy": True, "RestrictPublicBuckets": True}
    kept = json.loads(_policy(bucket))["Statement"]
    assert [s["Sid"] for s in kept] == ["FromOurEndpoint", "Partner"]
    grantees = _grantees(bucket)
    assert ALL_USERS not in grantees and AUTH_USERS not in grantees
    assert [g for g in owner_grants if g["Grantee"].get("Type") == "CanonicalUser"] == [
        g for g in _s3().get_bucket_acl(Bucket=bucket)["Grants"]]
    assert _s3().get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    for cls in ORDER:
        assert cls(ctx, {"bucket": bucket}).plan() == [], f"{cls.name} re-plans a change"


def test_release_order_restores_policy_acl_and_bpa_and_suspends_versioning(make_ctx):
    ctx = make_ctx()
    bucket, policy = _exposed_bucket()
    acl_before = _s3().get_bucket_acl(Bucket=bucket)["Grants"]
    done = [(step, apply_all(step)) for step in (cls(ctx, {"bucket": bucket}) for cls in ORDER)]
    for step, changes in reversed(done):  # the runner and `irctl release` go newest first
        roll_back(step, changes)

    assert json.loads(_policy(bucket)) == json.loads(policy)
    assert sorted(map(json.dumps, _s3().get_bucket_acl(Bucket=bucket)["Grants"])) == sorted(
        map(json.dumps, acl_before))
    assert _bpa(bucket) is None
    # versioning cannot be switched off once on: suspended is the closest state
    assert _s3().get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"


def test_fully_public_policy_is_deleted_and_restored(make_ctx):
    ctx = make_ctx()
    bucket = f"site-{uuid.uuid4().hex[:12]}"
    _s3().create_bucket(Bucket=bucket)
    policy = json.dumps({"Version": "2012-10-17", "Statement": [_statements(bucket)[0]]})
    _s3().put_bucket_policy(Bucket=bucket, Policy=policy)
    step = RemovePublicPolicyStatements(ctx, {"bucket": bucket})
    done = apply_all(step)
    assert _policy(bucket) is None
    roll_back(step, done)
    assert _policy(bucket) == policy


def test_existing_bpa_configuration_is_restored_not_deleted(make_ctx):
    ctx = make_ctx()
    bucket = f"partial-{uuid.uuid4().hex[:12]}"
    _s3().create_bucket(Bucket=bucket)
    original = {"BlockPublicAcls": True, "IgnorePublicAcls": False,
                "BlockPublicPolicy": True, "RestrictPublicBuckets": False}
    _s3().put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=original)
    step = BlockPublicAccess(ctx, {"bucket": bucket})
    done = apply_all(step)
    assert all(_bpa(bucket).values())
    roll_back(step, done)
    assert _bpa(bucket) == original


def test_private_bucket_plans_nothing(make_ctx):
    ctx = make_ctx()
    bucket = f"private-{uuid.uuid4().hex[:12]}"
    _s3().create_bucket(Bucket=bucket)
    assert RemovePublicPolicyStatements(ctx, {"bucket": bucket}).plan() == []
    assert RemovePublicAclGrants(ctx, {"bucket": bucket}).plan() == []


def test_unknown_bucket_is_refused(make_ctx):
    ctx = make_ctx()
    for cls in ORDER:
        step = cls(ctx, {"bucket": f"missing-{uuid.uuid4().hex[:12]}"})
        step.validate()
        with pytest.raises(PreconditionFailed, match="does not exist"):
            step.plan()


@pytest.mark.parametrize("bad", ["", "A_Bucket", "x", "-leading-dash", None,
                                 "s3://my-bucket"])
def test_malformed_bucket_name_is_rejected(make_ctx, bad):
    with pytest.raises(InvalidInput, match="bucket name"):
        BlockPublicAccess(make_ctx(), {"bucket": bad}).validate()


@pytest.mark.parametrize(("statement", "public"), [
    ({"Effect": "Allow", "Principal": "*", "Action": "s3:*"}, True),
    ({"Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::1:root", "*"]}}, True),
    ({"Effect": "Allow", "NotPrincipal": {"AWS": "arn:aws:iam::1:root"}}, True),
    ({"Effect": "Deny", "Principal": "*"}, False),
    ({"Effect": "Allow", "Principal": {"Service": "logging.s3.amazonaws.com"}}, False),
    ({"Effect": "Allow", "Principal": "*",
      "Condition": {"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}}}, True),
    ({"Effect": "Allow", "Principal": "*",
      "Condition": {"IpAddress": {"aws:SourceIp": ["192.0.2.0/24"]}}}, False),
    ({"Effect": "Allow", "Principal": "*",
      "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-abc123"}}}, False),
    ({"Effect": "Allow", "Principal": "*",
      "Condition": {"StringNotEquals": {"aws:SourceAccount": ACCOUNT}}}, True),
    ({"Effect": "Allow", "Principal": "*",
      "Condition": {"StringEquals": {"aws:SourceAccount": "${aws:PrincipalAccount}"}}}, True),
    ({"Effect": "Allow", "Principal": "*",
      "Condition": {"Bool": {"aws:SecureTransport": "true"}}}, True),
])
def test_public_statement_definition_follows_s3(statement, public):
    assert is_public_statement(statement) is public


def test_restoring_public_policy_or_acl_while_blocked_is_refused_clearly(make_ctx):
    """Release in the wrong order (block still on) would get a bare AccessDenied from S3;
    moto does not enforce BPA on puts, so the step checks it itself."""
    ctx = make_ctx()
    bucket, _ = _exposed_bucket()
    policy_step = RemovePublicPolicyStatements(ctx, {"bucket": bucket})
    acl_step = RemovePublicAclGrants(ctx, {"bucket": bucket})
    policy_done, acl_done = apply_all(policy_step), apply_all(acl_step)
    apply_all(BlockPublicAccess(ctx, {"bucket": bucket}))
    contained_policy = _policy(bucket)
    with pytest.raises(ActionFailed, match="BlockPublicPolicy is on"):
        roll_back(policy_step, policy_done)
    with pytest.raises(ActionFailed, match="BlockPublicAcls is on"):
        roll_back(acl_step, acl_done)
    assert _policy(bucket) == contained_policy
    assert ALL_USERS not in _grantees(bucket)


def test_bucket_of_another_account_is_refused(make_ctx):
    """Every call carries ExpectedBucketOwner=<manifest account>; S3 answers 403 for a
    bucket owned by another account. moto ignores ExpectedBucketOwner, so the 403 is
    stubbed on the step's own client (the answer real S3 gives to HeadBucket)."""
    from botocore.stub import Stubber

    ctx = make_ctx()
    bucket = f"theirs-{uuid.uuid4().hex[:12]}"
    with Stubber(ctx.client("s3")) as stub:
        stub.add_client_error("head_bucket", "403", "Forbidden", http_status_code=403,
                              expected_params={"Bucket": bucket,
                                               "ExpectedBucketOwner": ACCOUNT})
        with pytest.raises(PreconditionFailed, match="belongs to another account"):
            BlockPublicAccess(ctx, {"bucket": bucket}).plan()
        stub.assert_no_pending_responses()
