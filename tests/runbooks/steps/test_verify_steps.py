"""Each reversible step's own `verify()` against moto: it holds right after apply, and
stops holding when someone undoes the change in AWS by hand. (The checks moved from
`commands/verify.py` are covered end to end in tests/runbooks/commands/test_verify.py;
these are the steps `verify case` never checked before.)"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest

from runbooks.core.context import Context
from runbooks.core.step import Change, Check, Step, load_all_steps
from tests.runbooks.conftest import Readiness, launch_instances
from tests.runbooks.steps.conftest import REGION

STEPS = load_all_steps()


def applied(ctx: Context, name: str, params: dict[str, Any],
            target: str) -> tuple[Step, list[tuple[Change, dict[str, Any]]]]:
    """Validate, plan and apply step `name` as the runner does."""
    step = STEPS[name](ctx, params)
    step.validate()
    ctx.targets = (target,)
    ctx.cache.clear()
    return step, [(change, dict(step.apply(change))) for change in step.plan()]


def verified(step: Step, done: list[tuple[Change, dict[str, Any]]]) -> list[Check]:
    return [step.verify(change, result) for change, result in done]


def test_protect_breaks_when_termination_protection_is_turned_off(
        readiness: Readiness) -> None:
    [iid] = launch_instances(readiness, 1, volumes=2)
    step, done = applied(readiness.context(), "ec2.protect", {"instance_id": iid}, iid)
    checks = verified(step, done)
    assert {c.what for c in checks} >= {"termination protection",
                                        "delete volumes on termination"}
    assert all(c.holds for c in checks)

    readiness.client("ec2").modify_instance_attribute(
        InstanceId=iid, DisableApiTermination={"Value": False})
    broken = [c for c in verified(step, done) if not c.holds]
    assert [(c.what, c.expected, c.actual) for c in broken] == [
        ("termination protection", "true", "false")]


def test_tag_contained_breaks_when_the_case_tag_is_removed(readiness: Readiness) -> None:
    [iid] = launch_instances(readiness, 1, volumes=1)
    ctx = readiness.context()
    step, done = applied(ctx, "ec2.tag-contained", {"instance_id": iid}, iid)
    assert all(c.holds for c in verified(step, done))

    readiness.client("ec2").delete_tags(Resources=[iid], Tags=[{"Key": "ir:case"}])
    [check] = verified(step, done)
    assert not check.holds and '"ir:case": null' in check.actual
    assert ctx.case_id in check.expected


def test_stop_breaks_when_the_instance_is_started_again(readiness: Readiness) -> None:
    [iid] = launch_instances(readiness, 1, volumes=1)
    step, done = applied(readiness.context(), "ec2.stop", {"instance_id": iid}, iid)
    [check] = verified(step, done)
    assert check.holds and check.actual == "stopped"

    readiness.client("ec2").start_instances(InstanceIds=[iid])
    [check] = verified(step, done)
    assert not check.holds and check.actual == "running"


def test_asg_detach_and_target_deregistration_break_when_put_back(
        readiness: Readiness) -> None:
    ec2, autoscaling, elbv2 = (readiness.client(s) for s in ("ec2", "autoscaling", "elbv2"))
    name = f"asg-{uuid.uuid4().hex[:8]}"
    template = ec2.create_launch_template(LaunchTemplateName=name, LaunchTemplateData={
        "ImageId": "ami-12c6146b", "InstanceType": "t3.micro"})["LaunchTemplate"]
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=name, MinSize=0, MaxSize=4, DesiredCapacity=1,
        LaunchTemplate={"LaunchTemplateId": template["LaunchTemplateId"]},
        VPCZoneIdentifier=readiness.subnet_id)
    [iid] = launch_instances(readiness, 1)
    autoscaling.attach_instances(InstanceIds=[iid], AutoScalingGroupName=name)
    tg_arn = elbv2.create_target_group(Name=name, Protocol="HTTP", Port=80,
                                       VpcId=readiness.vpc_id, TargetType="instance"
                                       )["TargetGroups"][0]["TargetGroupArn"]
    elbv2.register_targets(TargetGroupArn=tg_arn, Targets=[{"Id": iid, "Port": 8080}])
    ctx = readiness.context()

    asg, asg_done = applied(ctx, "autoscaling.detach-instance", {"instance_id": iid}, iid)
    elb, elb_done = applied(ctx, "elbv2.deregister-instance", {"instance_id": iid}, iid)
    assert len(asg_done) == 1 and len(elb_done) == 1
    assert all(c.holds for c in verified(asg, asg_done) + verified(elb, elb_done))

    autoscaling.attach_instances(InstanceIds=[iid], AutoScalingGroupName=name)
    elbv2.register_targets(TargetGroupArn=tg_arn, Targets=[{"Id": iid, "Port": 8080}])
    [asg_check] = verified(asg, asg_done)
    [elb_check] = verified(elb, elb_done)
    assert not asg_check.holds and asg_check.actual == name
    assert not elb_check.holds and elb_check.actual == tg_arn


def test_public_acl_grant_removal_breaks_when_the_grant_comes_back(make_ctx) -> None:
    ctx = make_ctx()
    s3 = ctx.client("s3")
    bucket = f"exposed-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read")
    step, done = applied(ctx, "s3.remove-public-acl-grants", {"bucket": bucket},
                         f"bucket/{bucket}")
    [check] = verified(step, done)
    assert check.holds and check.actual == "no public grant"

    s3.put_bucket_acl(Bucket=bucket, ACL="public-read")
    [check] = verified(step, done)
    assert not check.holds and check.actual == "AllUsers:READ"


def test_hidden_new_keys_break_when_one_is_written_again(make_ctx) -> None:
    from datetime import datetime, timedelta, timezone

    ctx = make_ctx()
    s3 = ctx.client("s3")
    bucket = f"ransomed-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    before = (datetime.now(timezone.utc) - timedelta(hours=1)).isoformat()
    for key in ("data/README-DECRYPT.txt", "data/ransom.note"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"pay up")
    step, done = applied(ctx, "s3.remove-new-keys", {"bucket": bucket, "to": before}, bucket)
    [check] = verified(step, done)
    assert check.holds, check

    s3.put_object(Bucket=bucket, Key="data/ransom.note", Body=b"again")
    [check] = verified(step, done)
    assert not check.holds and check.actual == "1 visible again: data/ransom.note"


def test_tag_restored_breaks_when_the_case_tag_is_changed(make_ctx) -> None:
    ctx = make_ctx()
    ec2 = ctx.client("ec2")
    volume = ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=8)["VolumeId"]
    arn = f"arn:aws:ec2:{REGION}:{ctx.account_id}:volume/{volume}"
    step, done = applied(ctx, "backup.tag-restored", {"resource_arn": arn}, volume)
    [check] = verified(step, done)
    assert check.holds

    ec2.create_tags(Resources=[volume], Tags=[{"Key": "ir:case", "Value": "someone-else"}])
    [check] = verified(step, done)
    assert not check.holds and check.actual == "changed: ir:case=someone-else"


def test_security_hub_workflow_breaks_when_set_back_to_new(make_ctx) -> None:
    from rehearsal.emulator import install

    install()
    ctx = make_ctx()
    client = boto3.client("securityhub", region_name=REGION)
    client.enable_security_hub()
    fixture = Path(__file__).resolve().parents[1] / "fixtures" / \
        "asff_guardduty_backdoor_ec2.json"
    finding = json.loads(fixture.read_text())
    assert client.batch_import_findings(Findings=[finding])["FailedCount"] == 0
    step, done = applied(ctx, "securityhub.notify-finding", {
        "finding_id": finding["Id"], "product_arn": finding["ProductArn"],
        "note": "triaged"}, finding["Id"])
    [check] = verified(step, done)
    assert check.holds and check.actual == "NOTIFIED"

    client.batch_update_findings(
        FindingIdentifiers=[{"Id": finding["Id"], "ProductArn": finding["ProductArn"]}],
        Workflow={"Status": "NEW"})
    [check] = verified(step, done)
    assert not check.holds and check.actual == "NEW"


@pytest.mark.parametrize("name", sorted(n for n, c in STEPS.items() if c.reversible))
def test_every_reversible_step_is_covered_by_a_verify_test(name: str) -> None:
    """A new reversible step needs its verify exercised here, in test_verify.py (through
    `irctl verify case`) or in its own step test."""
    here = Path(__file__).read_text()
    elsewhere = {"ec2.isolate", "ec2.detach-instance-profile", "iam.deactivate-access-key",
                 "iam.deny-all-user", "network.deny-cidr", "ec2.disassociate-address",
                 "iam.remove-login-profile", "iam.revoke-role-sessions",
                 "s3.block-public-access", "s3.remove-public-policy-statements",
                 "s3.enable-versioning",
                 "ec2.capture-memory",  # tests/runbooks/steps/test_memory.py
                 # tests/runbooks/steps/test_verify_new_steps.py:
                 "lambda.zero-concurrency", "lambda.disable-event-source-mappings",
                 "lambda.remove-public-permissions", "rds.disable-public-access",
                 "rds.isolate", "rds.protect", "eks.cordon-node", "eks.isolate-pod",
                 "ec2.share-snapshot", "secrets.deny-principal", "kms.disable-key",
                 "kms.enable-key"}
    assert f'"{name}"' in here or name in elsewhere
