"""The responder role's actions are exactly the CLI's reads plus the steps' declared actions."""

from __future__ import annotations

import re

import pytest

from runbooks.core.permissions import CLI_READ_ACTIONS, responder_actions
from runbooks.core.step import declared_actions, load_all_steps

ACTION = re.compile(r"^[a-z0-9-]+:[A-Za-z0-9]+$")


def test_responder_actions_are_cli_reads_plus_declared_step_actions() -> None:
    actions = responder_actions()
    assert actions == sorted(CLI_READ_ACTIONS | declared_actions())
    assert all(ACTION.match(a) for a in actions), [a for a in actions if not ACTION.match(a)]
    for name, cls in load_all_steps().items():
        assert cls.actions, f"{name} declares no IAM actions"
        assert cls.actions <= set(actions)


def test_responder_access_component_grants_exactly_that_list() -> None:
    responder_access = pytest.importorskip("components.responder_access")
    policy = responder_access.responder_policy(
        partition="aws", account_id="123456789012", actions=responder_actions(),
        evidence_bucket_arn="arn:aws:s3:::ev", trail_bucket_arn="arn:aws:s3:::tr",
        kms_key_arns=["arn:aws:kms:us-east-1:123456789012:key/k"], role_name_prefix="ir")
    # the runbook statements (one per resource scope) grant exactly the list
    granted: set[str] = set()
    for statement in policy["Statement"]:
        if statement["Effect"] == "Allow" and statement["Sid"].startswith("Runbook"):
            granted |= set(statement["Action"])
    assert sorted(granted) == responder_actions()
    readiness = pytest.importorskip("components.readiness")
    source = open(readiness.__file__).read()
    assert "responder_actions=responder_actions()" in source


@pytest.mark.parametrize(("service", "operation", "params", "expected"), [
    ("ec2", "DescribeInstances", {}, {"ec2:DescribeInstances"}),
    ("monitoring", "PutMetricData", {}, {"cloudwatch:PutMetricData"}),
    ("s3", "ListObjectsV2", {"Bucket": "b"}, {"s3:ListBucket"}),
    ("s3", "ListObjectVersions", {"Bucket": "b"}, {"s3:ListBucketVersions"}),
    ("s3", "HeadObject", {"Bucket": "b", "Key": "k"}, {"s3:GetObject"}),
    ("s3", "GetObject", {"Bucket": "b", "Key": "k", "VersionId": "v"},
     {"s3:GetObjectVersion"}),
    ("s3", "DeleteObjects", {"Delete": {"Objects": [{"Key": "k", "VersionId": "v"}]}},
     {"s3:DeleteObject", "s3:DeleteObjectVersion"}),
    ("s3", "CopyObject", {"CopySource": {"Bucket": "b", "Key": "k", "VersionId": "v"}},
     {"s3:PutObject", "s3:GetObjectVersion"}),
    ("s3", "PutObject", {"ServerSideEncryption": "aws:kms"},
     {"s3:PutObject", "kms:GenerateDataKey"}),
    ("s3", "GetPublicAccessBlock", {}, {"s3:GetBucketPublicAccessBlock"}),
    ("ec2", "AssociateIamInstanceProfile", {"IamInstanceProfile": {"Arn": "a"}},
     {"ec2:AssociateIamInstanceProfile", "iam:PassRole"}),
    ("ec2", "CreateSnapshots", {"TagSpecifications": [{"ResourceType": "snapshot"}]},
     {"ec2:CreateSnapshots", "ec2:CreateTags"}),
    ("backup", "StartRestoreJob", {"IamRoleArn": "arn"},
     {"backup:StartRestoreJob", "iam:PassRole"}),
])
def test_a_call_maps_to_the_iam_actions_that_authorise_it(
        service: str, operation: str, params: dict[str, object], expected: set[str]) -> None:
    from runbooks.core.permissions import iam_actions

    assert iam_actions(service, operation, params) == expected


def _error(code: str, message: str, operation: str) -> Exception:
    from botocore.exceptions import ClientError

    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


def test_a_denial_names_the_action_and_resource_aws_named_and_the_role() -> None:
    from runbooks.core.permissions import denied_hint

    hint = denied_hint(_error(
        "UnauthorizedOperation", "You are not authorized to perform this operation. User: "
        "arn:aws:sts::123456789012:assumed-role/ir-investigator/alice is not authorized to "
        "perform: ec2:ModifyNetworkInterfaceAttribute on resource: "
        "arn:aws:ec2:us-east-1:123456789012:network-interface/eni-0abc because no "
        "identity-based policy allows it", "ModifyNetworkInterfaceAttribute"))
    assert hint is not None
    assert hint.startswith("needs ec2:ModifyNetworkInterfaceAttribute on "
                           "arn:aws:ec2:us-east-1:123456789012:network-interface/eni-0abc;")
    assert "responder role" in hint


def test_an_s3_denial_names_the_action_from_the_operation() -> None:
    from runbooks.core.permissions import denied_hint

    hint = denied_hint(_error("AccessDenied", "Access Denied", "PutObject"))
    assert hint is not None and hint.startswith("needs s3:PutObject; this command runs as "
                                                "the responder role")
    shared = denied_hint(_error("AccessDeniedException", "denied", "BatchUpdateFindings"))
    assert shared is not None and shared.startswith("needs securityhub:BatchUpdateFindings;")


def test_an_action_no_generated_role_grants_is_reported_as_a_bug() -> None:
    from runbooks.core.permissions import denied_hint

    hint = denied_hint(_error("AccessDenied", "User: x is not authorized to perform: "
                              "lambda:DeleteFunction on resource: f", "DeleteFunction"))
    assert hint is not None and "no role the stack generates grants" in hint


def test_other_errors_get_no_permission_hint() -> None:
    from runbooks.core.permissions import denied_hint

    assert denied_hint(_error("NoSuchEntity", "not found", "GetUser")) is None
    assert denied_hint(ValueError("not an AWS error")) is None
