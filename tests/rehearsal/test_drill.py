"""The full drill, every scenario, on the embedded emulator: outcomes asserted in AWS state.

One emulator and one provisioned stack serve every scenario (provisioning the real
program is the expensive part), inside a single test so that no other test's moto reset
can interleave. The test reads the AWS state itself rather than trusting the drill's
own checks.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from rehearsal.run import DrillReport, ScenarioReport
from rehearsal.scenarios import SCENARIOS, Check
from rehearsal.world import World
from runbooks.cli import main
from runbooks.commands.drill import run_emulated_drill

pytestmark = [pytest.mark.server, pytest.mark.slow]


def _by_name(report: DrillReport) -> dict[str, ScenarioReport]:
    return {s.name: s for s in report.scenarios}


def _assert_ec2_contained(world: World, s: ScenarioReport) -> None:
    ec2 = world.client("ec2")
    instance_id = s.params["instance_id"]
    instance = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0][
        "Instances"][0]
    isolation = world.manifest.quarantine[instance["VpcId"]].isolation_security_group_id
    assert [[g["GroupId"] for g in e["Groups"]] for e in instance["NetworkInterfaces"]] == [
        [isolation]]
    group = ec2.describe_security_groups(GroupIds=[isolation])["SecurityGroups"][0]
    assert group["IpPermissions"] == [] and group["IpPermissionsEgress"] == []
    associations = ec2.describe_iam_instance_profile_associations(Filters=[
        {"Name": "instance-id", "Values": [instance_id]}])["IamInstanceProfileAssociations"]
    assert [a for a in associations if a["State"] == "associated"] == []
    volumes = {m["Ebs"]["VolumeId"] for m in instance["BlockDeviceMappings"]}
    snapshots = ec2.describe_snapshots(OwnerIds=["self"], Filters=[
        {"Name": "tag:ir:case", "Values": [s.case]}])["Snapshots"]
    assert volumes and volumes <= {snap["VolumeId"] for snap in snapshots}
    assert instance["State"]["Name"] == "running"


def _assert_asg_detached(world: World, s: ScenarioReport) -> None:
    _assert_ec2_contained(world, s)
    instance_id = s.params["instance_id"]
    groups = world.client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]
    (group,) = [g for g in groups if g["AutoScalingGroupName"].startswith("drill-web-")]
    members = [i["InstanceId"] for i in group["Instances"]]
    assert instance_id not in members
    assert group["DesiredCapacity"] == 1 and len(members) == 1  # replacement, not shrink


def _assert_key_contained(world: World, s: ScenarioReport) -> None:
    iam = world.client("iam")
    key_id = s.params["access_key_id"]
    user = iam.get_access_key_last_used(AccessKeyId=key_id)["UserName"]
    statuses = {k["AccessKeyId"]: k["Status"]
                for k in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]}
    assert statuses[key_id] == "Inactive"
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_login_profile(UserName=user)


def _assert_workload_key_contained(world: World, s: ScenarioReport) -> None:
    iam = world.client("iam")
    key_id = s.params["access_key_id"]
    user = iam.get_access_key_last_used(AccessKeyId=key_id)["UserName"]
    statuses = {k["AccessKeyId"]: k["Status"]
                for k in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]}
    assert statuses[key_id] == "Inactive"
    assert iam.get_login_profile(UserName=user)["LoginProfile"]["UserName"] == user


def _assert_role_revoked(world: World, s: ScenarioReport) -> None:
    iam = world.client("iam")
    role = s.params["role_name"]
    documents = [iam.get_role_policy(RoleName=role, PolicyName=p)["PolicyDocument"]
                 for p in iam.list_role_policies(RoleName=role)["PolicyNames"]]
    assert any("aws:TokenIssueTime" in json.dumps(d) and '"Deny"' in json.dumps(d)
               for d in documents)


def _assert_bucket_closed(world: World, s: ScenarioReport) -> None:
    s3 = world.client("s3")
    bucket = s.params["bucket"]
    config = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert config == {"BlockPublicAcls": True, "IgnorePublicAcls": True,
                      "BlockPublicPolicy": True, "RestrictPublicBuckets": True}
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    grants = s3.get_bucket_acl(Bucket=bucket)["Grants"]
    assert not [g for g in grants if "AllUsers" in g["Grantee"].get("URI", "")]


def _assert_data_restored(world: World, s: ScenarioReport) -> None:
    s3 = world.client("s3")
    bucket = s.params["bucket"]
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="records/")[
        "Contents"])
    assert len(keys) == 12
    for key in keys:
        number = int(key.split("/")[1].split(".")[0])
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        assert json.loads(body) == {"record": number}, key


def _assert_ip_denied(world: World, s: ScenarioReport) -> None:
    acls = world.client("ec2").describe_network_acls(Filters=[
        {"Name": "vpc-id", "Values": [s.params["vpc_id"]]}])["NetworkAcls"]
    assert len(acls) >= 2
    for acl in acls:
        denies = {e["Egress"] for e in acl["Entries"]
                  if e.get("CidrBlock") == s.params["cidr"] and e["RuleAction"] == "deny"}
        assert denies == {True, False}, acl["NetworkAclId"]


def _assert_function_contained(world: World, s: ScenarioReport) -> None:
    lam = world.client("lambda")
    name = s.params["function_name"]
    assert lam.get_function_concurrency(FunctionName=name)[
        "ReservedConcurrentExecutions"] == 0
    mappings = lam.list_event_source_mappings(FunctionName=name)["EventSourceMappings"]
    assert mappings and all(m["State"] == "Disabled" for m in mappings)
    statements = json.loads(lam.get_policy(FunctionName=name)["Policy"])["Statement"]
    assert [st["Sid"] for st in statements] == ["UploadsBucket"]


def _assert_pod_isolated(world: World, s: ScenarioReport) -> None:
    # The drill's Kubernetes is the in-memory fake behind irctl's interface (the scenario
    # keeps it); the cluster and the evidence are the emulator's.
    fake = SCENARIOS["compromised-eks-pod"].fake  # type: ignore[attr-defined]
    namespace, pod = s.params["namespace"], s.params["pod"]
    assert fake.pods[(namespace, pod)]["metadata"]["labels"]["ir-quarantine"] == s.case
    (policy,) = [p for (ns, _), p in fake.policies.items()
                 if ns == namespace and p["spec"]["podSelector"] == {
                     "matchLabels": {"ir-quarantine": s.case}}]
    assert sorted(policy["spec"]["policyTypes"]) == ["Egress", "Ingress"]
    assert "ingress" not in policy["spec"] and "egress" not in policy["spec"]
    key = f"cases/{s.case}/eks/{s.params['cluster']}/{namespace}/{pod}/pod.json"
    body = world.client("s3").get_object(Bucket=world.manifest.evidence_bucket,
                                         Key=key)["Body"].read()
    assert json.loads(body)["pod"]["metadata"]["name"] == pod
    cluster = world.client("eks").describe_cluster(name=s.params["cluster"])["cluster"]
    assert cluster["status"] == "ACTIVE"


def _assert_node_contained(world: World, s: ScenarioReport) -> None:
    fake = SCENARIOS["compromised-eks-node"].fake  # type: ignore[attr-defined]
    (node,) = [n for n in fake.nodes.values() if n["spec"]["providerID"].endswith(
        "/" + s.params["instance_id"])]
    assert node["spec"]["unschedulable"] is True
    _assert_isolated(world, s.params["instance_id"])


def _assert_isolated(world: World, instance_id: str) -> None:
    instance = world.client("ec2").describe_instances(InstanceIds=[instance_id])[
        "Reservations"][0]["Instances"][0]
    isolation = world.manifest.quarantine[instance["VpcId"]].isolation_security_group_id
    assert [[g["GroupId"] for g in e["Groups"]] for e in instance["NetworkInterfaces"]] == [
        [isolation]]


def _assert_database_contained(world: World, s: ScenarioReport) -> None:
    rds = world.client("rds")
    name = s.params["database"]
    db = rds.describe_db_instances(DBInstanceIdentifier=name)["DBInstances"][0]
    isolation = world.manifest.quarantine[db["DBSubnetGroup"]["VpcId"]] \
        .isolation_security_group_id
    assert db["PubliclyAccessible"] is False
    assert [g["VpcSecurityGroupId"] for g in db["VpcSecurityGroups"]] == [isolation]
    assert db["DeletionProtection"] is True
    assert ":secret:rds!db-" in db["MasterUserSecret"]["SecretArn"]
    snapshots = rds.describe_db_snapshots(DBInstanceIdentifier=name)["DBSnapshots"]
    assert [snap["DBSnapshotIdentifier"] for snap in snapshots
            if {"Key": "ir:case", "Value": s.case} in rds.list_tags_for_resource(
                ResourceName=snap["DBSnapshotArn"])["TagList"]] == [f"{s.case}-{name}"]


def _assert_secret_denied_and_rotated(world: World, s: ScenarioReport) -> None:
    sm = world.client("secretsmanager")
    arn, principal = s.params["secret_id"], s.params["principal_arn"]
    policy = json.loads(sm.get_resource_policy(SecretId=arn)["ResourcePolicy"])
    (deny,) = [st for st in policy["Statement"] if st["Effect"] == "Deny"]
    assert deny["Condition"]["ArnLike"]["aws:PrincipalArn"] == [principal]
    assert "secretsmanager:GetSecretValue" in deny["Action"]
    stages = sm.describe_secret(SecretId=arn)["VersionIdsToStages"]
    assert sorted(stages.values()) == [["AWSCURRENT"], ["AWSPREVIOUS"]]
    assert sm.get_secret_value(SecretId=arn)["SecretString"] != "drill-leaked-db-password"


def _assert_key_kept(world: World, s: ScenarioReport) -> None:
    meta = world.client("kms").describe_key(KeyId=s.params["key_id"])["KeyMetadata"]
    assert meta["KeyState"] == "Enabled" and not meta.get("DeletionDate")


def _assert_memory_captured(world: World, s: ScenarioReport) -> None:
    import hashlib

    _assert_ec2_contained(world, s)  # the ENI ends in exactly the isolation group
    s3, bucket = world.client("s3"), world.manifest.evidence_bucket
    prefix = f"cases/{s.case}/memory/{s.params['instance_id']}/"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]]
    [image] = [k for k in keys if not k.endswith(".sha256")]
    digest = hashlib.sha256(s3.get_object(Bucket=bucket, Key=image)["Body"].read()).hexdigest()
    audit = s3.get_object(Bucket=bucket, Key=f"cases/{s.case}/audit.jsonl")["Body"].read()
    recorded = [r["result"] for r in map(json.loads, audit.splitlines())
                if r.get("event") == "applied" and r.get("step") == "ec2.capture-memory"]
    assert [(r["key"], r["sha256"]) for r in recorded] == [(image, digest)]


STATE_ASSERTIONS = {
    "compromised-rds-database": _assert_database_contained,
    "compromised-ec2-instance": _assert_ec2_contained,
    "compromised-ec2-memory": _assert_memory_captured,
    "compromised-asg-instance": _assert_asg_detached,
    "compromised-iam-credentials": _assert_key_contained,
    "compromised-workload-key": _assert_workload_key_contained,
    "compromised-role-credentials": _assert_role_revoked,
    "exposed-s3-bucket": _assert_bucket_closed,
    "ransomware-data-destruction": _assert_data_restored,
    "malicious-ip": _assert_ip_denied,
    "compromised-lambda-function": _assert_function_contained,
    "compromised-eks-pod": _assert_pod_isolated,
    "compromised-eks-node": _assert_node_contained,
    "compromised-secret": _assert_secret_denied_and_rotated,
    "sabotaged-kms-key": _assert_key_kept,
}


def test_every_scenario_has_state_assertions_here() -> None:
    assert set(STATE_ASSERTIONS) == set(SCENARIOS)


def test_full_drill_contains_every_scenario(tmp_path: Path) -> None:
    seen: dict[str, Any] = {}

    def inspect(world: World, report: DrillReport) -> None:
        scenarios = _by_name(report)
        for name, assertion in STATE_ASSERTIONS.items():
            assertion(world, scenarios[name])
            seen[name] = True
        # Who was told what: each playbook's notification reached the on-call inbox
        # (the drill's checks drained it; the SNS topics themselves are real).
        topics = {t["TopicArn"] for t in world.client("sns").list_topics()["Topics"]}
        assert set(world.manifest.topics.by_severity().values()) <= topics

    report, md_path, json_path = run_emulated_drill("all", tmp_path, inspect=inspect,
                                                    cli=main)
    failures = [f"{s.name}: {s.error or ''} " + "; ".join(
        f"{c.name}: {c.detail}" for c in s.checks if not c.passed)
        for s in report.scenarios if not s.passed]
    assert failures == []
    assert set(seen) == set(SCENARIOS)
    assert report.passed
    for s in report.scenarios:
        assert s.exit_code == 0
        assert s.seconds_to_contain is not None and s.seconds_to_contain > 0
        assert any(a["status"] == "applied" for a in s.actions), s.name
    document = json.loads(json_path.read_text())
    assert [s["scenario"] for s in document["scenarios"]] == list(SCENARIOS)
    assert document["provisioning"]["resources"] > 100
    # Every declared type was created in the emulator; none only recorded.
    assert document["provisioning"]["recordedOnly"] == []
    text = md_path.read_text()
    assert "PASSED" in text and all(name in text for name in SCENARIOS)


def test_a_failed_check_fails_the_drill() -> None:
    good = ScenarioReport("x", "p", "c", "t", {}, checks=[Check("a", True, "ok")])
    bad = ScenarioReport("y", "p", "c", "t", {}, checks=[Check("a", True, "ok"),
                                                        Check("b", False, "not isolated")])
    assert good.passed and not bad.passed
    assert not DrillReport("r", "emulator", "1", "eu-west-1", [], 0.0, [], [good, bad]).passed
    assert not ScenarioReport("z", "p", "c", "t", {}).passed  # no checks is no pass


def test_unknown_scenario_is_bad_input() -> None:
    result = CliRunner().invoke(main, ["drill", "--scenario", "lost-laptop"])
    assert result.exit_code == 2
    assert "lost-laptop" in result.output
