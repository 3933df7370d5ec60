"""The emulated SSM Agent running the stack's memory document (rehearsal/emulator/ssm.py),
in-process and over HTTP: it uploads with the credentials passed, under IAM's rules for
them (the role's policy AND the session policy), checks the tool's pinned SHA-256,
reports the image's SHA-256, hangs when told to, and CancelCommand cancels it."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from components.memory_capture import Tool, document_content, upload_role_policy
from rehearsal.emulator.ssm import HANG_TAG
from runbooks.steps.memory import session_policy

Client = Callable[..., Any]
TOOL = b"stand-in AVML"
LINUX = "ami-760aaa0f"


def setup(client: Client, *, tool_sha: str | None = None) -> dict[str, Any]:
    s3, iam, ec2, ssm = (client(s) for s in ("s3", "iam", "ec2", "ssm"))
    bucket = f"evidence-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="tools/avml", Body=TOOL)
    tool = Tool("tools/avml", tool_sha or hashlib.sha256(TOOL).hexdigest())
    document = f"memory-{uuid.uuid4().hex[:6]}"
    ssm.create_document(Name=document, DocumentType="Command", DocumentFormat="JSON",
                        Content=json.dumps(document_content(bucket, tool, None, 900)))
    role = f"upload-{uuid.uuid4().hex[:6]}"
    arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"AWS": "*"}}]}))["Role"]["Arn"]
    iam.put_role_policy(RoleName=role, PolicyName="upload", PolicyDocument=json.dumps(
        upload_role_policy("aws", bucket, ["arn:aws:kms:us-east-1:123456789012:key/x"],
                           [tool])))
    agent = f"agent-{uuid.uuid4().hex[:6]}"
    iam.create_role(RoleName=agent, AssumeRolePolicyDocument="{}")
    iam.put_role_policy(RoleName=agent, PolicyName="agent", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*",
                                                "Action": "ssm:UpdateInstanceInformation"}]}))
    iam.create_instance_profile(InstanceProfileName=agent)
    iam.add_role_to_instance_profile(InstanceProfileName=agent, RoleName=agent)
    iid = ec2.run_instances(ImageId=LINUX, MinCount=1, MaxCount=1,
                            IamInstanceProfile={"Name": agent})["Instances"][0]["InstanceId"]
    return {"bucket": bucket, "document": document, "role": arn, "instance": iid}


def send(client: Client, world: dict[str, Any], prefix: str,
         key: str | None = None) -> dict[str, Any]:
    credentials = client("sts").assume_role(
        RoleArn=world["role"], RoleSessionName="test",
        Policy=json.dumps(session_policy("aws", world["bucket"], prefix)))["Credentials"]
    image_key = key or f"{prefix}image.lime"
    ssm = client("ssm")
    command = ssm.send_command(InstanceIds=[world["instance"]], DocumentName=world["document"],
                               Parameters={"Bucket": [world["bucket"]], "ImageKey": [image_key],
                                           "KmsKeyId": [""],
                                           "AccessKeyId": [credentials["AccessKeyId"]],
                                           "SecretAccessKey": [credentials["SecretAccessKey"]],
                                           "SessionToken": [credentials["SessionToken"]]})
    invocation: dict[str, Any] = ssm.get_command_invocation(
        CommandId=command["Command"]["CommandId"], InstanceId=world["instance"])
    return invocation


PREFIX = "cases/c-1/memory/i-1/"


def test_the_agent_uploads_the_image_and_reports_its_sha256(client: Client) -> None:
    world = setup(client)
    invocation = send(client, world, PREFIX)
    assert invocation["Status"] == "Success", invocation
    body = client("s3").get_object(Bucket=world["bucket"],
                                   Key=f"{PREFIX}image.lime")["Body"].read()
    digest = hashlib.sha256(body).hexdigest()
    assert f"key={PREFIX}image.lime sha256={digest} bytes={len(body)}" in \
        invocation["StandardOutputContent"]
    sidecar = client("s3").get_object(Bucket=world["bucket"],
                                      Key=f"{PREFIX}image.lime.sha256")["Body"].read()
    assert sidecar.decode().split()[0] == digest


def test_the_session_policy_is_enforced_for_a_key_outside_its_prefix(client: Client) -> None:
    world = setup(client)
    # the role may put under cases/*/memory/*, but this session only under PREFIX
    invocation = send(client, world, PREFIX, key="cases/c-2/memory/i-1/image.lime")
    assert invocation["Status"] == "Failed"
    assert "session policy" in invocation["StandardErrorContent"]
    listed = client("s3").list_objects_v2(Bucket=world["bucket"], Prefix="cases/")
    assert listed.get("KeyCount", 0) == 0


def test_a_tool_whose_sha256_differs_from_the_pinned_one_is_not_run(client: Client) -> None:
    world = setup(client, tool_sha="0" * 64)
    invocation = send(client, world, PREFIX)
    assert invocation["Status"] == "Failed"
    assert "SHA-256 does not match" in invocation["StandardErrorContent"]
    assert client("s3").list_objects_v2(Bucket=world["bucket"],
                                        Prefix="cases/").get("KeyCount", 0) == 0


def test_a_hanging_capture_stays_in_progress_until_cancelled(client: Client) -> None:
    world = setup(client)
    client("ec2").create_tags(Resources=[world["instance"]],
                              Tags=[{"Key": HANG_TAG, "Value": "hang"}])
    invocation = send(client, world, PREFIX)
    assert invocation["Status"] == "InProgress"
    client("ssm").cancel_command(CommandId=invocation["CommandId"],
                                 InstanceIds=[world["instance"]])
    after = client("ssm").get_command_invocation(CommandId=invocation["CommandId"],
                                                 InstanceId=world["instance"])
    assert after["Status"] == "Cancelled"


def test_describe_instance_information_reports_windows_for_a_windows_ami(
        client: Client) -> None:
    world = setup(client)
    agent = client("ec2").describe_iam_instance_profile_associations(Filters=[
        {"Name": "instance-id", "Values": [world["instance"]]}])[
        "IamInstanceProfileAssociations"][0]["IamInstanceProfile"]["Arn"]
    windows = client("ec2").run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1,
                                          IamInstanceProfile={"Arn": agent})[
        "Instances"][0]["InstanceId"]
    listed = client("ssm").describe_instance_information(
        Filters=[{"Key": "InstanceIds", "Values": [world["instance"], windows]}])
    found = {i["InstanceId"]: i["PlatformType"] for i in listed["InstanceInformationList"]}
    assert found == {world["instance"]: "Linux", windows: "Windows"}


@pytest.mark.parametrize("document_kind", ["not-memory"])
def test_other_documents_are_left_to_moto(client: Client, document_kind: str) -> None:
    world = setup(client)
    invocation = client("ssm").send_command(
        InstanceIds=[world["instance"]], DocumentName="AWS-RunShellScript",
        Parameters={"commands": ["true"]})
    assert invocation["Command"]["DocumentName"] == "AWS-RunShellScript"
    assert client("s3").list_objects_v2(Bucket=world["bucket"],
                                        Prefix="cases/").get("KeyCount", 0) == 0
