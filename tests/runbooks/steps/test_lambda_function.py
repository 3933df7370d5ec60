"""Lambda steps in-process (moto + the emulator's code location): what counts as public,
how a removed statement is written again, and a code package whose digest does not match
the function's CodeSha256 is never stored as its evidence. End to end against a moto
server: tests/runbooks/commands/test_contain_function.py."""

from __future__ import annotations

import io
import json
import uuid
import zipfile

import boto3
import pytest
from botocore.exceptions import ClientError

from runbooks.core.errors import ActionFailed, InvalidInput
from runbooks.steps.lambda_function import (
    CaptureFunction,
    RemovePublicPermissions,
    permission_args,
    validate_function_name,
)
from runbooks.steps.s3 import is_public_statement
from tests.runbooks.steps.conftest import REGION, apply_all, roll_back

ARN = "arn:aws:lambda:us-east-1:123456789012:function:f"


@pytest.mark.parametrize("statement,public", [
    ({"Sid": "a", "Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction"},
     True),
    ({"Sid": "b", "Effect": "Allow", "Principal": {"AWS": "*"},
      "Action": "lambda:InvokeFunction"}, True),
    ({"Sid": "url", "Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunctionUrl",
      "Condition": {"StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}}}, True),
    ({"Sid": "wild", "Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction",
      "Condition": {"ArnLike": {"AWS:SourceArn": "arn:aws:s3:::*"}}}, True),
    ({"Sid": "pinned", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
      "Action": "lambda:InvokeFunction",
      "Condition": {"StringEquals": {"AWS:SourceAccount": "123456789012"}}}, False),
    ({"Sid": "org", "Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunction",
      "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-abc123"}}}, False),
])
def test_public_means_everyone_without_a_pinning_condition(statement, public):
    assert is_public_statement(statement) is public


def test_a_statement_is_written_again_with_its_sid_and_conditions():
    statement = {"Sid": "url", "Effect": "Allow", "Principal": "*",
                 "Action": "lambda:InvokeFunctionUrl", "Resource": ARN,
                 "Condition": {"StringEquals": {"lambda:FunctionUrlAuthType": "NONE"},
                               "ArnLike": {"AWS:SourceArn": "arn:aws:s3:::*"}}}
    assert permission_args("f", statement) == {
        "FunctionName": "f", "StatementId": "url", "Action": "lambda:InvokeFunctionUrl",
        "Principal": "*", "FunctionUrlAuthType": "NONE", "SourceArn": "arn:aws:s3:::*"}
    odd = {**statement, "Condition": {"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}}}
    with pytest.raises(ActionFailed, match="cannot write again"):
        permission_args("f", odd)


@pytest.mark.parametrize("bad", ["", "arn:aws:lambda:us-east-1:1:function:f", "a" * 65,
                                 "with space", 7])
def test_a_malformed_name_is_refused(bad):
    with pytest.raises(InvalidInput, match="malformed"):
        validate_function_name(bad)


def _function(public: bool = True) -> tuple[str, bytes]:
    from rehearsal.emulator import install

    install()
    role = boto3.client("iam", region_name=REGION).create_role(
        RoleName=f"r-{uuid.uuid4().hex[:8]}", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", f"# {uuid.uuid4()}\n")
    name = f"fn-{uuid.uuid4().hex[:8]}"
    lam = boto3.client("lambda", region_name=REGION)
    lam.create_function(FunctionName=name, Runtime="python3.12", Role=role,
                        Handler="handler.handler", Code={"ZipFile": buffer.getvalue()})
    if public:
        lam.add_permission(FunctionName=name, StatementId="Anyone",
                           Action="lambda:InvokeFunction", Principal="*")
    return name, buffer.getvalue()


def test_removed_statements_come_back_verbatim(make_ctx):
    ctx = make_ctx()
    name, _ = _function()
    lam = boto3.client("lambda", region_name=REGION)
    before = json.loads(lam.get_policy(FunctionName=name)["Policy"])["Statement"]
    step = RemovePublicPermissions(ctx, {"function_name": name})
    done = apply_all(step)
    assert len(done) == 1
    with pytest.raises(ClientError) as gone:
        lam.get_policy(FunctionName=name)
    assert gone.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert step.verify(*done[0]).holds
    roll_back(step, done)
    assert json.loads(lam.get_policy(FunctionName=name)["Policy"])["Statement"] == before
    assert not step.verify(*done[0]).holds


def test_a_package_that_is_not_what_lambda_runs_is_not_stored(make_ctx):
    ctx = make_ctx(evidence=True)
    name, package = _function(public=False)
    step = CaptureFunction(ctx, {"function_name": name})
    step.validate()
    code = next(c for c in step.plan() if c.after["what"] == "code")
    forged = type(code)(code.step, code.target, code.summary, code.before,
                        {**code.after, "sha256": "0" * 64})
    with pytest.raises(ActionFailed, match="not the function's CodeSha256"):
        step.apply(forged)
    s3 = boto3.client("s3", region_name=REGION)
    listed = s3.list_objects_v2(Bucket=ctx.manifest.evidence_bucket)
    assert listed.get("KeyCount", 0) == 0
    result = step.apply(code)  # the real digest: stored, digest recorded
    body = s3.get_object(Bucket=ctx.manifest.evidence_bucket, Key=code.after["key"])[
        "Body"].read()
    assert body == package and result["sha256"] == code.after["sha256"]
