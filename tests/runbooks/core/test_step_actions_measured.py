"""Every registered step's AWS calls are within its declared `actions`, measured.

Each step runs through validate, prefetch, plan, apply, the live-state read rollback and
release use (`current`), `verify` where the step has one, and rollback where reversible,
against a world seeded so that its plan is not empty (moto in-process + the emulator's
extensions). The recording layer (`tests/runbooks/recording.py`) turns each call into the
IAM actions that authorise it and attributes it to the step running; the test fails on any
call the step did not declare, naming the operation. Both generated roles are built from
the declarations (`responder_actions()`, `automation_actions()`), so a missing one here is
an AccessDenied in an incident.

A registered step without a scenario fails the test: add one below (or, where no emulator
can exercise it, name it in UNEXERCISED with the reason).
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from rehearsal.kube_fake import FakeCluster
from runbooks.core.context import Context, SessionFactory
from runbooks.core.kube import connector
from runbooks.core.manifest_schema import Manifest
from runbooks.core.step import Change, Step, has_verify, load_all_steps
from tests.runbooks.commands.analysis_world import ACCOUNT, REGION, World, build_world
from tests.runbooks.commands.test_eradicate import launch
from tests.runbooks.conftest import s3_clock_behind
from tests.runbooks.recording import Recorder, recorder  # noqa: F401 - fixture

FINDING = Path(__file__).resolve().parents[1] / "fixtures" / "asff_guardduty_backdoor_ec2.json"

# Steps no seeded world exercises, with the reason. Aim for none.
UNEXERCISED: dict[str, str] = {}


@dataclass
class Scenario:
    params: dict[str, Any]
    targets: tuple[str, ...] = ()
    case_id: str = field(default_factory=lambda: f"ir-meta-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
          recorder: Recorder) -> Iterator[World]:  # noqa: F811 - fixture
    from rehearsal.emulator import install
    from rehearsal.emulator.backup import set_job_seconds

    install()
    set_job_seconds(0.2)
    yield from build_world(tmp_path, monkeypatch)


# --- scenarios: seed the world so the step has something to do -----------------------

def _instance(world: World) -> Scenario:
    iid = launch(world, managed=True)
    return Scenario({"instance_id": iid}, (iid,))


def _in_auto_scaling_group(world: World) -> Scenario:
    ec2, autoscaling = world.client("ec2"), world.client("autoscaling")
    name = f"asg-{uuid.uuid4().hex[:8]}"
    template = ec2.create_launch_template(LaunchTemplateName=name, LaunchTemplateData={
        "ImageId": "ami-12c6146b", "InstanceType": "t3.micro"})["LaunchTemplate"]
    subnet = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [world.vpc_id]}])[
        "Subnets"][0]["SubnetId"]
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=name, MinSize=0, MaxSize=4, DesiredCapacity=1,
        LaunchTemplate={"LaunchTemplateId": template["LaunchTemplateId"]},
        VPCZoneIdentifier=subnet)
    scenario = _instance(world)
    autoscaling.attach_instances(InstanceIds=list(scenario.targets), AutoScalingGroupName=name)
    return scenario


def _in_target_group(world: World) -> Scenario:
    elbv2 = world.client("elbv2")
    scenario = _instance(world)
    group = elbv2.create_target_group(Name=f"tg-{uuid.uuid4().hex[:8]}", Protocol="HTTP",
                                      Port=80, VpcId=world.vpc_id, TargetType="instance")
    elbv2.register_targets(TargetGroupArn=group["TargetGroups"][0]["TargetGroupArn"],
                           Targets=[{"Id": scenario.targets[0], "Port": 8080}])
    return scenario


def _with_case_snapshots(world: World) -> Scenario:
    scenario = _instance(world)
    ec2, iid = world.client("ec2"), scenario.targets[0]
    described = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
    recorded = {}
    for mapping in described["BlockDeviceMappings"]:
        volume = mapping["Ebs"]["VolumeId"]
        recorded[volume] = ec2.create_snapshot(VolumeId=volume, TagSpecifications=[{
            "ResourceType": "snapshot",
            "Tags": [{"Key": "ir:case", "Value": scenario.case_id}]}])["SnapshotId"]
    ec2.modify_instance_attribute(InstanceId=iid, DisableApiTermination={"Value": True})
    scenario.params["recorded_snapshots"] = recorded
    return scenario


def _user_with_key(world: World, *, login: bool = False) -> tuple[str, str]:
    iam = world.client("iam")
    user = f"mallory-{uuid.uuid4().hex[:6]}"
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
    if login:
        iam.create_login_profile(UserName=user, Password="Corr3ct-Horse-Battery!")
    return user, key


def _access_key(world: World) -> Scenario:
    _, key = _user_with_key(world, login=True)
    return Scenario({"access_key_id": key}, (key,))


def _key_with_activity(world: World) -> Scenario:
    import boto3

    user, key = _user_with_key(world)
    secret = world.client("iam").create_access_key(UserName=user)["AccessKey"]
    boto3.client("ec2", region_name=REGION, aws_access_key_id=secret["AccessKeyId"],
                 aws_secret_access_key=secret["SecretAccessKey"]).describe_vpcs()
    return Scenario({"access_key_id": secret["AccessKeyId"], "days": 1},
                    (secret["AccessKeyId"],))


def _user(world: World) -> Scenario:
    user, _ = _user_with_key(world)
    return Scenario({"user_name": user, "handle": uuid.uuid4().hex}, (user,))


def _role(world: World) -> Scenario:
    role = f"app-{uuid.uuid4().hex[:8]}"
    world.client("iam").create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"Service": "ec2.amazonaws.com"}}]}))
    return Scenario({"role_name": role}, (role,))


def _cidr(world: World) -> Scenario:
    return Scenario({"cidr": "203.0.113.0/24", "vpc_id": world.vpc_id}, ("203.0.113.0/24",))


def _exposed_bucket(world: World) -> Scenario:
    s3 = world.client("s3")
    bucket = f"exposed-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_acl(Bucket=bucket, ACL="public-read")
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Sid": "Public", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::{bucket}/*"}]}))
    return Scenario({"bucket": bucket}, (bucket,))


def _tampered_bucket(world: World) -> Scenario:
    s3 = world.client("s3")
    bucket = f"victim-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    with s3_clock_behind(10):  # written 10 s ago; T 5 s ago (S3 times are to the second)
        s3.put_object(Bucket=bucket, Key="data/ledger.csv", Body=b"good",
                      Tagging="class=ledger")
        s3.put_object(Bucket=bucket, Key="data/gone.csv", Body=b"kept")
    to = (datetime.now(timezone.utc) - timedelta(seconds=5)).isoformat()
    s3.put_object(Bucket=bucket, Key="data/ledger.csv", Body=b"encrypted by the attacker")
    s3.delete_object(Bucket=bucket, Key="data/gone.csv")
    s3.put_object(Bucket=bucket, Key="data/README-RANSOM.txt", Body=b"pay up")
    return Scenario({"bucket": bucket, "to": to}, (bucket,))


def _finding(world: World) -> Scenario:
    hub = world.client("securityhub")
    finding = json.loads(FINDING.read_text())
    finding["Id"] = f"{finding['Id']}-{uuid.uuid4().hex[:6]}"
    assert hub.batch_import_findings(Findings=[finding])["FailedCount"] == 0
    return Scenario({"finding_id": finding["Id"], "product_arn": finding["ProductArn"],
                     "note": "meta-test"}, (finding["Id"],))


def _notification(world: World) -> Scenario:
    return Scenario({"severity": "high", "subject": "meta-test", "message": "meta-test"},
                    (world.manifest["topics"]["high"],))


def _managed_instance(world: World) -> Scenario:
    scenario = _instance(world)
    scenario.params.update({"operation": "Scan", "reboot": "NoReboot", "poll_seconds": 1})
    return scenario


def _isolated_linux_instance(world: World) -> Scenario:
    """A managed Amazon Linux instance already in its VPC's isolation group, with the
    stack's memory capture provisioned (tests/runbooks/steps/test_memory.py)."""
    from tests.runbooks.steps.test_memory import LINUX, agent_profile, memory_ready

    memory_ready(world, publish=False)
    ec2 = world.client("ec2")
    subnet = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [world.vpc_id]}])[
        "Subnets"][0]["SubnetId"]
    isolation = world.manifest["quarantine"][world.vpc_id]["isolationSecurityGroupId"]
    iid = ec2.run_instances(
        ImageId=LINUX, MinCount=1, MaxCount=1, InstanceType="t3.micro",
        IamInstanceProfile={"Arn": agent_profile(world)},
        NetworkInterfaces=[{"DeviceIndex": 0, "SubnetId": subnet, "Groups": [isolation]}],
    )["Instances"][0]["InstanceId"]
    return Scenario({"instance_id": iid, "poll_seconds": 0.1}, (iid,))


def _case_file(world: World) -> Scenario:
    path = world.case_dir / "timeline.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"events": []}')
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return Scenario({"name": "timeline.json", "path": str(path), "sha256": digest})


def _backup_role_and_vault(world: World) -> None:
    backup = world.manifest["backup"]
    world.client("backup").create_backup_vault(BackupVaultName=backup["vaultName"])
    world.client("iam").create_role(
        RoleName=backup["restoreRoleArn"].rsplit("/", 1)[-1],
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "backup.amazonaws.com"},
            "Action": "sts:AssumeRole"}]}))


def _instance_arn(instance_id: str) -> str:
    return f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{instance_id}"


def _backup_source(world: World) -> Scenario:
    _backup_role_and_vault(world)
    iid = launch(world, managed=False)
    return Scenario({"resource_arn": _instance_arn(iid)}, (iid,))


def _recovery_point(world: World) -> Scenario:
    _backup_role_and_vault(world)
    backup, vault = world.client("backup"), world.manifest["backup"]["vaultName"]
    iid = launch(world, managed=False)
    job = backup.start_backup_job(BackupVaultName=vault, ResourceArn=_instance_arn(iid),
                                  IamRoleArn=world.manifest["backup"]["restoreRoleArn"])
    for _ in range(100):
        if backup.describe_backup_job(BackupJobId=job["BackupJobId"])["State"] == "COMPLETED":
            break
        time.sleep(0.1)
    group = world.manifest["quarantine"][world.vpc_id]["isolationSecurityGroupId"]
    return Scenario({"recovery_point_arn": job["RecoveryPointArn"], "vault": vault,
                     "security_group_ids": [group], "resource_type": "EC2"},
                    (job["RecoveryPointArn"],))


def _restored_instance(world: World) -> Scenario:
    iid = launch(world, managed=False)
    described = world.client("ec2").describe_instances(InstanceIds=[iid])[
        "Reservations"][0]["Instances"][0]
    groups = sorted({g["GroupId"] for eni in described["NetworkInterfaces"]
                     for g in eni["Groups"]})
    return Scenario({"resource_arn": _instance_arn(iid), "security_group_ids": groups,
                     "recovery_point_arn": f"arn:aws:ec2:{REGION}::image/ami-12c6146b",
                     "poll_seconds": 0.1}, (iid,))


def _instance_with_address(world: World) -> Scenario:
    scenario = _instance(world)
    ec2 = world.client("ec2")
    allocation = ec2.allocate_address(Domain="vpc")["AllocationId"]
    ec2.associate_address(InstanceId=scenario.targets[0], AllocationId=allocation)
    return scenario


def _function(world: World) -> Scenario:
    """A function with reserved concurrency, an enabled SQS mapping, a public statement."""
    import io
    import zipfile

    lam, sqs = world.client("lambda"), world.client("sqs")
    role = world.client("iam").create_role(
        RoleName=f"fn-{uuid.uuid4().hex[:8]}", AssumeRolePolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Action": "sts:AssumeRole",
                "Principal": {"Service": "lambda.amazonaws.com"}}]}))["Role"]["Arn"]
    package = io.BytesIO()
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("handler.py", "def handler(e, c):\n    return 1\n")
    name = f"fn-{uuid.uuid4().hex[:8]}"
    lam.create_function(FunctionName=name, Runtime="python3.12", Role=role,
                        Handler="handler.handler", Code={"ZipFile": package.getvalue()})
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=3)
    queue = sqs.get_queue_attributes(
        QueueUrl=sqs.create_queue(QueueName=f"q-{uuid.uuid4().hex[:8]}")["QueueUrl"],
        AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    lam.create_event_source_mapping(EventSourceArn=queue, FunctionName=name)
    lam.add_permission(FunctionName=name, StatementId="Anyone",
                       Action="lambda:InvokeFunction", Principal="*")
    return Scenario({"function_name": name}, (name,))
# The EKS steps' Kubernetes calls go to this fake, installed at irctl's interface for
# every test here (`kubernetes` below); their AWS call (DescribeCluster) is measured.
KUBE = FakeCluster("meta-eks")


@pytest.fixture(autouse=True)
def kubernetes() -> Iterator[FakeCluster]:
    with connector(KUBE.connector):
        yield KUBE


def _eks_cluster(world: World) -> None:
    world.client("eks").create_cluster(
        name=KUBE.name, roleArn=f"arn:aws:iam::{ACCOUNT}:role/eks",
        resourcesVpcConfig={"subnetIds": ["subnet-0123456789abcdef0"]})
    KUBE.pods.clear()
    KUBE.policies.clear()
    KUBE.nodes.clear()


def _pod(world: World) -> Scenario:
    _eks_cluster(world)
    KUBE.add_pod("shop", "checkout-1", {"app": "checkout"})
    return Scenario({"cluster": KUBE.name, "namespace": "shop", "pod": "checkout-1"},
                    (f"{KUBE.name}/shop/checkout-1",))


def _node(world: World) -> Scenario:
    _eks_cluster(world)
    iid = launch(world, managed=False)
    KUBE.add_node("ip-10-0-1-1.ec2.internal", iid)
    return Scenario({"cluster": KUBE.name, "instance_id": iid}, (iid,))
def _read_secret(world: World) -> Scenario:
    arn = world.client("secretsmanager").create_secret(
        Name=f"prod/db-{uuid.uuid4().hex[:8]}", SecretString="leaked")["ARN"]
    return Scenario({"secret_id": arn, "new_value": True,
                     "principal_arn": f"arn:aws:iam::{ACCOUNT}:user/ci-deploy"}, (arn,))


def _kms_key(state: str) -> Callable[[World], Scenario]:
    def seed(world: World) -> Scenario:
        kms = world.client("kms")
        key = kms.create_key(Description="data key")["KeyMetadata"]["KeyId"]
        if state == "Disabled":
            kms.disable_key(KeyId=key)
        elif state == "PendingDeletion":
            kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
        return Scenario({"key_id": key}, (key,))
    return seed
def _case_snapshot(world: World) -> Scenario:
    """A snapshot the case took, and a manifest naming a forensic account."""
    scenario = _instance(world)
    world.manifest["forensicAccount"] = "210987654321"
    ec2 = world.client("ec2")
    described = ec2.describe_instances(InstanceIds=list(scenario.targets))[
        "Reservations"][0]["Instances"][0]
    volume = described["BlockDeviceMappings"][0]["Ebs"]["VolumeId"]
    snapshot = ec2.create_snapshot(VolumeId=volume, TagSpecifications=[{
        "ResourceType": "snapshot",
        "Tags": [{"Key": "ir:case", "Value": scenario.case_id}]}])["SnapshotId"]
    return Scenario({"snapshot_id": snapshot}, (snapshot,), case_id=scenario.case_id)


def _case_snapshot_copy(world: World) -> Scenario:
    scenario = _case_snapshot(world)
    world.client("ec2").copy_snapshot(
        SourceSnapshotId=scenario.params["snapshot_id"], SourceRegion=REGION, Encrypted=True,
        KmsKeyId=world.manifest["kmsKeyArn"], TagSpecifications=[{
            "ResourceType": "snapshot", "Tags": [
                {"Key": "ir:case", "Value": scenario.case_id},
                {"Key": "ir:copy-of", "Value": scenario.params["snapshot_id"]}]}])
    return scenario


def _automated_containment(world: World) -> Scenario:
    return Scenario({"finding_id": f"finding-{uuid.uuid4().hex[:8]}", "changes": 3})


def _public_database(world: World) -> Scenario:
    """A public PostgreSQL instance in the manifest's VPC behind the app's group."""
    ec2, rds = world.client("ec2"), world.client("rds")
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [world.vpc_id]}])[
        "Subnets"]
    group_name = f"db-{uuid.uuid4().hex[:8]}"
    rds.create_db_subnet_group(DBSubnetGroupName=group_name, DBSubnetGroupDescription="db",
                               SubnetIds=[s["SubnetId"] for s in subnets[:2]])
    app = ec2.create_security_group(GroupName=f"app-{group_name}", Description="app",
                                    VpcId=world.vpc_id)["GroupId"]
    name = f"orders-{uuid.uuid4().hex[:8]}"
    rds.create_db_instance(DBInstanceIdentifier=name, Engine="postgres",
                           DBInstanceClass="db.t3.micro", AllocatedStorage=20,
                           MasterUsername="app_admin", MasterUserPassword="Passw0rd-initial",
                           DBSubnetGroupName=group_name, VpcSecurityGroupIds=[app],
                           PubliclyAccessible=True)
    return Scenario({"database": name, "wait_seconds": 5}, (name,))


SCENARIOS: dict[str, Callable[[World], Scenario]] = {
    "rds.disable-public-access": _public_database,
    "rds.isolate": _public_database,
    "rds.protect": _public_database,
    "rds.snapshot": _public_database,
    "rds.manage-master-password": _public_database,
    "ec2.disassociate-address": _instance_with_address,
    "automation.count-containment": _automated_containment,
    "ec2.capture-metadata": _instance,
    "ec2.protect": _instance,
    "ec2.tag-contained": _instance,
    "ec2.isolate": _instance,
    "ec2.detach-instance-profile": _instance,
    "ec2.revoke-instance-role-sessions": _instance,
    "ec2.snapshot-volumes": _instance,
    "ec2.stop": _instance,
    "ec2.terminate-instance": _with_case_snapshots,
    "autoscaling.detach-instance": _in_auto_scaling_group,
    "elbv2.deregister-instance": _in_target_group,
    "iam.deactivate-access-key": _access_key,
    "iam.deny-all-user": _access_key,
    "iam.remove-login-profile": _access_key,
    "iam.revoke-role-sessions": _role,
    "cloudtrail.capture-key-activity": _key_with_activity,
    "network.deny-cidr": _cidr,
    "s3.remove-public-policy-statements": _exposed_bucket,
    "s3.remove-public-acl-grants": _exposed_bucket,
    "s3.block-public-access": _exposed_bucket,
    "s3.enable-versioning": _exposed_bucket,
    "s3.restore-versions": _tampered_bucket,
    "s3.remove-new-keys": _tampered_bucket,
    "securityhub.notify-finding": _finding,
    "sns.notify": _notification,
    "ssm.run-patch-baseline": _managed_instance,
    "ec2.capture-memory": _isolated_linux_instance,
    "evidence.write-case-file": _case_file,
    "ec2.copy-snapshot": _case_snapshot,
    "ec2.record-snapshot-copy": _case_snapshot_copy,
    "ec2.share-snapshot": _case_snapshot_copy,
    "backup.start-backup": _backup_source,
    "backup.start-restore": _recovery_point,
    "backup.tag-restored": _restored_instance,
    "backup.verify-restored": _restored_instance,
    "lambda.zero-concurrency": _function,
    "lambda.disable-event-source-mappings": _function,
    "lambda.remove-public-permissions": _function,
    "lambda.revoke-execution-role-sessions": _function,
    "lambda.capture-function": _function,
    "eks.capture-pod": _pod,
    "eks.isolate-pod": _pod,
    "eks.cordon-node": _node,
    "secrets.deny-principal": _read_secret,
    "secrets.rotate-now": _read_secret,
    "kms.disable-key": _kms_key("Enabled"),
    "kms.enable-key": _kms_key("Disabled"),
    "kms.cancel-deletion": _kms_key("PendingDeletion"),
}


def _verify(step: Step, change: Change, result: Mapping[str, Any]) -> None:
    """Call what `irctl verify case` calls for the change: the step's `verify_all` (its
    `verify` plus the extra checks, e.g. an isolated instance's other ENIs and the
    quarantine groups' rules), for steps that have a `verify`."""
    if not has_verify(type(step)):
        return
    step.verify_all(change, result)


def run_step(name: str, world: World) -> int:
    """Drive `name` through every phase against its scenario; the number of changes."""
    cls = load_all_steps()[name]
    scenario = SCENARIOS[name](world)
    ctx = Context(sessions=SessionFactory(region=REGION, max_attempts=2),
                  manifest=Manifest.from_document(world.manifest), case_id=scenario.case_id,
                  account_id=ACCOUNT, region=REGION, targets=scenario.targets)
    cls.prefetch(ctx)
    # a scenario may serve several steps: each takes the parameters its schema names
    step = cls(ctx, {k: v for k, v in scenario.params.items() if k in cls.Params.model_fields})
    step.validate()
    changes = step.plan()
    done = [(change, step.apply(change)) for change in changes]
    for change, result in done:
        step.current(change)
        _verify(step, change, result)
    if cls.reversible:
        for change, result in reversed(done):
            step.rollback(change, result)
    return len(changes)


def test_every_registered_step_has_a_scenario_or_a_reason() -> None:
    registered = set(load_all_steps())
    assert registered - set(SCENARIOS) - set(UNEXERCISED) == set(), \
        "steps no test measures: add a scenario to SCENARIOS"
    assert set(SCENARIOS) - registered == set(), "scenarios of steps that do not exist"
    assert set(SCENARIOS) & set(UNEXERCISED) == set()


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_step_calls_are_within_its_declared_actions(
        name: str, world: World, recorder: Recorder) -> None:  # noqa: F811 - fixture
    recorder.reset()  # the world's seeding is nobody's
    changes = run_step(name, world)
    assert changes, f"{name}: the scenario left it nothing to do, so apply was not measured"
    declared = load_all_steps()[name].actions
    called = recorder.calls.get(name, set())
    assert called, f"{name}: no call was attributed to it"
    undeclared = sorted(called - declared)
    assert not undeclared, (
        f"{name} calls {undeclared} but declares only {sorted(declared)} "
        f"(operations: {sorted(recorder.operations[name])})")
