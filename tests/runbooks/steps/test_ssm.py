"""ssm.run-patch-baseline against moto + the emulator's SSM extension."""

from __future__ import annotations

import json
import uuid

import boto3
import pytest

from runbooks.core.errors import InvalidInput, PreconditionFailed
from runbooks.steps.ssm import RunPatchBaseline
from tests.runbooks.steps.conftest import REGION, apply_all


@pytest.fixture
def ssm_ctx(make_ctx):
    from rehearsal.emulator import install

    install()
    return make_ctx()


def _instance(managed: bool) -> str:
    ec2, iam = boto3.client("ec2", region_name=REGION), boto3.client("iam", region_name=REGION)
    kwargs = {}
    if managed:
        name = f"agent-{uuid.uuid4().hex[:6]}"
        iam.create_role(RoleName=name, AssumeRolePolicyDocument="{}")
        iam.put_role_policy(RoleName=name, PolicyName="agent", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ssm:*",
                                                    "Resource": "*"}]}))
        iam.create_instance_profile(InstanceProfileName=name)
        iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)
        kwargs["IamInstanceProfile"] = {"Name": name}
    return str(ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1,
                                 **kwargs)["Instances"][0]["InstanceId"])


def test_patch_sends_the_baseline_and_waits(ssm_ctx) -> None:
    iid = _instance(managed=True)
    ssm_ctx.targets = (iid,)
    step = RunPatchBaseline(ssm_ctx, {"instance_id": iid, "operation": "Scan",
                                      "reboot": "NoReboot", "poll_seconds": 1})
    [(_, result)] = apply_all(step)
    [command] = boto3.client("ssm", region_name=REGION).list_commands(
        CommandId=result["commandId"])["Commands"]
    assert command["DocumentName"] == "AWS-RunPatchBaseline"
    assert command["InstanceIds"] == [iid]
    assert command["Parameters"] == {"Operation": ["Scan"], "RebootOption": ["NoReboot"]}
    assert result["status"] == "Success"


def test_unmanaged_instance_is_refused_before_sending(ssm_ctx) -> None:
    iid = _instance(managed=False)
    with pytest.raises(PreconditionFailed, match="not managed by SSM"):
        RunPatchBaseline(ssm_ctx, {"instance_id": iid}).plan()
    assert boto3.client("ssm", region_name=REGION).list_commands()["Commands"] == []


@pytest.mark.parametrize("params", [{"instance_id": "i-xyz"},
                                    {"instance_id": "i-0123456789abcdef0", "operation": "Nuke"},
                                    {"instance_id": "i-0123456789abcdef0", "reboot": "Now"}])
def test_bad_parameters(ssm_ctx, params) -> None:
    with pytest.raises(InvalidInput):
        RunPatchBaseline(ssm_ctx, params).validate()


def _case_tags(iid: str) -> list[str]:
    tags = boto3.client("ec2", region_name=REGION).describe_tags(Filters=[
        {"Name": "resource-id", "Values": [iid]}, {"Name": "key", "Values": ["ir:case"]}])
    return [t["Value"] for t in tags["Tags"]]


def test_patch_tags_an_untagged_instance_with_its_case_before_sending(ssm_ctx) -> None:
    """The roles may send the baseline only to instances carrying ir:case
    (ssm:resourceTag/ir:case), so the step tags the instance first."""
    iid = _instance(managed=True)
    sent_to_tagged: list[list[str]] = []
    ssm_ctx.sessions.session().events.register(
        "before-call.ssm.SendCommand", lambda **_: sent_to_tagged.append(_case_tags(iid)))
    step = RunPatchBaseline(ssm_ctx, {"instance_id": iid, "poll_seconds": 1})
    [change] = step.plan()
    assert f"tags it ir:case={ssm_ctx.case_id} first" in change.summary
    step.apply(change)
    assert sent_to_tagged == [[ssm_ctx.case_id]]  # tagged when the command was sent
    assert _case_tags(iid) == [ssm_ctx.case_id]


def test_patch_keeps_the_case_tag_another_case_set(ssm_ctx) -> None:
    iid = _instance(managed=True)
    boto3.client("ec2", region_name=REGION).create_tags(
        Resources=[iid], Tags=[{"Key": "ir:case", "Value": "ir-earlier-case"}])
    step = RunPatchBaseline(ssm_ctx, {"instance_id": iid, "poll_seconds": 1})
    [change] = step.plan()
    assert "tags it" not in change.summary and change.after["tagCase"] is False
    step.apply(change)
    assert _case_tags(iid) == ["ir-earlier-case"]
