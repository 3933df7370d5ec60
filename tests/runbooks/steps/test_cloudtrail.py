"""cloudtrail.capture-key-activity: the evidence object in S3 is what is asserted.

moto lacks LookupEvents; the project's emulator (rehearsal/emulator) adds it,
recording every call moto serves as a management event. The error paths use botocore's
Stubber on the step's own CloudTrail client, because no emulator can be made to answer
OperationNotPermittedException on demand."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from rehearsal.emulator import inject_events, install
from runbooks.core.errors import InvalidInput
from runbooks.steps.cloudtrail import CaptureKeyActivity, evidence_key
from tests.runbooks.steps.conftest import ACCOUNT, REGION, apply_all


def _evidence(ctx, key_id: str) -> dict:
    body = boto3.client("s3", region_name=REGION).get_object(
        Bucket=ctx.manifest.evidence_bucket, Key=evidence_key(ctx.case_id, key_id))["Body"]
    return json.loads(body.read())


def test_key_activity_is_saved_to_the_evidence_bucket(make_ctx):
    install()
    ctx = make_ctx(evidence=True)
    iam = boto3.client("iam", region_name=REGION)
    user = f"mallory-{uuid.uuid4().hex[:6]}"
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    attacker = boto3.client("ec2", region_name=REGION, aws_access_key_id=key["AccessKeyId"],
                            aws_secret_access_key=key["SecretAccessKey"])
    attacker.describe_vpcs()  # reconnaissance with the stolen key
    # Earlier, the key pivoted into a role (a CloudTrail record as AWS writes it):
    # that role session is not cut by the user's deny-all.
    role = f"arn:aws:iam::{ACCOUNT}:role/admin"
    inject_events([{
        "eventTime": (datetime.now(timezone.utc) - timedelta(hours=2)).isoformat(),
        "eventSource": "sts.amazonaws.com", "eventName": "AssumeRole", "awsRegion": REGION,
        "userIdentity": {"type": "IAMUser", "accountId": ACCOUNT, "userName": user,
                         "accessKeyId": key["AccessKeyId"]},
        "requestParameters": {"roleArn": role, "roleSessionName": "pivot"},
    }])

    [(change, result)] = apply_all(CaptureKeyActivity(ctx, {"access_key_id": key["AccessKeyId"]}))
    saved = _evidence(ctx, key["AccessKeyId"])
    assert saved["available"] is True and saved["accessKeyId"] == key["AccessKeyId"]
    names = [e["EventName"] for e in saved["events"]]
    assert sorted(names) == ["AssumeRole", "DescribeVpcs"]  # this key's calls, not ours
    listed = next(e for e in saved["events"] if e["EventName"] == "DescribeVpcs")
    assert listed["CloudTrailEvent"]["userIdentity"]["accessKeyId"] == key["AccessKeyId"]
    assert result["available"] is True and result["events"] == len(saved["events"])
    assert result["assumedRoles"] == [role]
    head = boto3.client("s3", region_name=REGION).head_object(
        Bucket=ctx.manifest.evidence_bucket, Key=evidence_key(ctx.case_id, key["AccessKeyId"]))
    assert head["ServerSideEncryption"] == "aws:kms"
    # captured once per case: a re-run plans nothing and never rewrites evidence
    assert CaptureKeyActivity(ctx, {"access_key_id": key["AccessKeyId"]}).plan() == []


def test_unavailable_lookup_is_recorded_as_not_available(make_ctx):
    ctx = make_ctx(evidence=True)
    key_id = "AKIA" + "Q" * 16
    with Stubber(ctx.client("cloudtrail")) as stub:
        stub.add_client_error("lookup_events", "OperationNotPermittedException",
                              "event history is not available")
        [(_, result)] = apply_all(CaptureKeyActivity(ctx, {"access_key_id": key_id}))
    saved = _evidence(ctx, key_id)
    assert saved["available"] is False and saved["events"] == []
    assert saved["regions"] == {REGION: {
        "available": False,
        "reason": "CloudTrail LookupEvents not available: OperationNotPermittedException"}}
    assert result["available"] is False and REGION in result["notAvailable"]


def test_unexpected_lookup_error_fails_and_writes_nothing(make_ctx):
    ctx = make_ctx(evidence=True)
    key_id = "AKIA" + "R" * 16
    with Stubber(ctx.client("cloudtrail")) as stub:
        stub.add_client_error("lookup_events", "InvalidLookupAttributesException", "bad")
        step = CaptureKeyActivity(ctx, {"access_key_id": key_id})
        [change] = step.plan()
        with pytest.raises(ClientError, match="InvalidLookupAttributesException"):
            step.apply(change)
    objects = boto3.client("s3", region_name=REGION).list_objects_v2(
        Bucket=ctx.manifest.evidence_bucket)
    assert objects.get("KeyCount", 0) == 0


@pytest.mark.parametrize("params", [{"access_key_id": "AKIA" + "A" * 16, "days": 91},
                                    {"access_key_id": "AKIA" + "A" * 16, "max_events": 0},
                                    {"access_key_id": "nope"}])
def test_bad_parameters_are_rejected(make_ctx, params):
    with pytest.raises(InvalidInput):
        CaptureKeyActivity(make_ctx(), params).validate()
