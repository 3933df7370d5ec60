"""The runbooks run under exactly the roles the stack generates, with IAM enforced (#15.4).

The program is evaluated under mocks (`components/mockrun.py`, the example stack with
response automation on); the responder role's and the automation role's policies (inline,
RolePolicy and the program's own attached managed policies) are created in moto as they
are, the role assumed, and with moto's IAM enforcement on (`enable_iam_authentication`)
irctl contains, releases, backs up, recovers and eradicates, and the Lambda handler
contains: no call may be denied. Removing one action the runbooks use from the role makes
the same run fail with AccessDenied (the last test), so the enforcement is real.

Where moto evaluates policies differently from IAM, the documents are adapted here, and
only here, each way said:
- moto authorises every non-S3 call against resource `*` (it knows no ARN of an EC2
  instance or IAM role), so a non-S3 action granted on named resources is granted on `*`
  here, and a non-S3 Deny on named resources (which never matches `*`) is inert in moto;
- moto cannot evaluate conditions (it has no request context) and treats an unmet one as
  an explicit deny of the statement's actions: conditions are dropped from Allow
  statements (a wider grant) and conditioned Deny statements are left out;
- moto authorises S3 calls under the operation's name where IAM has another action
  (s3:ListObjectVersions for s3:ListBucketVersions, s3:GetPublicAccessBlock for
  s3:GetBucketPublicAccessBlock...): MOTO_S3_ACTIONS, the inverse of
  `runbooks.core.permissions`' S3 table, grants moto's name wherever a document grants
  IAM's;
- the emulator's extensions (CloudTrail LookupEvents, Security Hub workflow, Backup jobs,
  SSM commands) answer without moto's authorisation: those calls are not enforced;
- moto recomputes SigV4 signatures and gets AWS Backup's wrong (its paths carry vault
  names and recovery point ARNs): the signature check is skipped, the authorisation of
  the caller's identity (from its access key) is not;
- KMS is not called by the client (S3 and SNS call it as the caller in AWS): not enforced.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from components.mockrun import PROJECT_ROOT, Evaluation, evaluate, load_stack_config
from rehearsal.kube_fake import FakeCluster
from runbooks.core.kube import connector
from tests.runbooks.automation.test_handler import auto  # noqa: F401 - fixture
from tests.runbooks.commands.analysis_world import ACCOUNT, World, build_world
from tests.runbooks.commands.test_eradicate import launch

ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
MANAGED = "aws:iam/policy:Policy"
PARAMETER = "aws:ssm/parameter:Parameter"



def _moto_s3_names() -> dict[str, tuple[str, ...]]:
    """IAM action -> the names moto checks for the same S3 calls: moto 5.2 authorises most
    S3 calls under the API operation's own name (s3:ListObjectVersions, s3:HeadBucket,
    s3:GetPublicAccessBlock, s3:DeleteObjects...), IAM under the action
    `runbooks.core.permissions` maps the operation to; so the map is that one, inverted."""
    from runbooks.core.permissions import _RENAMED, _S3_VERSIONED

    inverted: dict[str, set[str]] = {}
    for (service, operation), action in _RENAMED.items():
        if service == "s3":
            inverted.setdefault(action, set()).add(f"s3:{operation}")
    for operation, action in _S3_VERSIONED.items():
        inverted.setdefault(action, set()).add(f"s3:{operation}")
    return {action: tuple(sorted(names)) for action, names in inverted.items()}


MOTO_S3_ACTIONS = _moto_s3_names()


def _documents(evaluation: Evaluation) -> dict[str, list[dict[str, Any]]]:
    """Per generated role (logical name): every statement the program grants it."""
    roles = evaluation.of_type(ROLE)
    by_ref = {r.id: r.name for r in roles} | {r.outputs.get("name"): r.name for r in roles}
    statements: dict[str, list[dict[str, Any]]] = {r.name: [] for r in roles}
    for role in roles:
        for inline in role.inputs.get("inlinePolicies") or []:
            statements[role.name] += json.loads(inline["policy"])["Statement"]
    for policy in evaluation.of_type(ROLE_POLICY):
        statements[by_ref[policy.inputs["role"]]] += json.loads(
            policy.inputs["policy"])["Statement"]
    managed = {p.outputs.get("arn"): p for p in evaluation.of_type(MANAGED)}
    for attachment in evaluation.of_type(ATTACHMENT):
        policy = managed.get(attachment.inputs["policyArn"])
        if policy is not None and attachment.inputs["role"] in by_ref:
            statements[by_ref[attachment.inputs["role"]]] += json.loads(
                policy.inputs["policy"])["Statement"]
    return statements


def _as_moto_evaluates(statements: list[dict[str, Any]]) -> dict[str, Any]:
    """The statements adapted to moto's evaluation (see the module docstring)."""
    adapted = []
    for statement in statements:
        # Sids go: one role's policies are merged into one document here
        statement = {k: v for k, v in statement.items() if k != "Sid"}
        if "Condition" in statement:
            if statement["Effect"] == "Deny":
                continue
            del statement["Condition"]
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else list(actions)
        actions += [m for a in actions for m in MOTO_S3_ACTIONS.get(a, ())]
        s3 = [a for a in actions if a.startswith("s3:")]
        other = [a for a in actions if not a.startswith("s3:")]
        if s3:
            adapted.append({**statement, "Action": sorted(set(s3))})
        if other and statement["Effect"] == "Allow":
            adapted.append({**statement, "Action": sorted(set(other)), "Resource": "*"})
    return {"Version": "2012-10-17", "Statement": adapted}


@pytest.fixture(scope="module")
def program(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], dict[str, Any]]:
    """(manifest, {kind: statements}) of the example stack with automation on."""
    layer = tmp_path_factory.mktemp("layer")
    (layer / "python").mkdir()
    config = load_stack_config(PROJECT_ROOT / "Pulumi.example.yaml")
    automation = json.loads(config.get("ir:automation", "{}"))
    automation.update({"enabled": True, "layerPath": str(layer)})
    config["ir:automation"] = json.dumps(automation)
    evaluation = evaluate(config)
    documents = _documents(evaluation)
    responder = [n for n in documents if n.endswith("responders-responder")]
    automation_roles = sorted(n for n in documents if "automation-" in n and n.endswith("-role"))
    assert len(responder) == 1 and automation_roles, sorted(documents)
    [manifest_text] = [p.inputs["value"] for p in evaluation.of_type(PARAMETER)
                       if p.inputs.get("name") == "/ir-readiness/manifest"][:1]
    investigator = [n for n in documents if n.endswith("responders-investigator")]
    assert len(investigator) == 1, sorted(documents)
    return json.loads(manifest_text), {
        "responder": documents[responder[0]], "automation": documents[automation_roles[0]],
        "investigator": documents[investigator[0]] + _aws_managed(evaluation, investigator[0])}


def _aws_managed(evaluation: Evaluation, role: str) -> list[dict[str, Any]]:
    """Statements of the AWS managed policies the program attaches to `role`, from moto's
    copy of their documents (SecurityAudit, ViewOnlyAccess for the investigator)."""
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    published = json.loads(aws_managed_policies_data)
    [found] = [r for r in evaluation.of_type(ROLE) if r.name == role]
    statements: list[dict[str, Any]] = []
    for attachment in evaluation.of_type(ATTACHMENT):
        arn = str(attachment.inputs["policyArn"])
        if ":aws:policy/" in arn and attachment.inputs["role"] in (found.id,
                                                                    found.outputs.get("name")):
            statements += published[arn.rsplit("/", 1)[-1]]["Document"]["Statement"]
    assert statements, f"{role}: no AWS managed policy found"
    return statements


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    from rehearsal.emulator import install
    from rehearsal.emulator.backup import set_job_seconds

    install()
    set_job_seconds(0.2)
    yield from build_world(tmp_path, monkeypatch)


def _names(stack_manifest: dict[str, Any], world: World) -> dict[str, str]:
    """The program's bucket names -> the world's (the documents name the mock's)."""
    return {stack_manifest["evidenceBucket"]: world.manifest["evidenceBucket"],
            stack_manifest["trail"]["bucket"]: world.manifest["trail"]["bucket"]}


def assume(world: Any, monkeypatch: pytest.MonkeyPatch, kind: str,
           statements: list[dict[str, Any]], names: dict[str, str]) -> str:
    """Create the role with `statements` in moto and use its session from now on."""
    text = json.dumps(_as_moto_evaluates(statements))
    for mock_name, real in names.items():
        text = text.replace(mock_name, real)
    iam = world.client("iam")
    role = f"generated-{kind}-{uuid.uuid4().hex[:6]}"
    root = f"arn:aws:iam::{ACCOUNT}:root"
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"AWS": root}}]}))
    iam.put_role_policy(RoleName=role, PolicyName="generated", PolicyDocument=text)
    credentials = world.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{ACCOUNT}:role/{role}", RoleSessionName="oncall")["Credentials"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", credentials["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", credentials["SecretAccessKey"])
    monkeypatch.setenv("AWS_SESSION_TOKEN", credentials["SessionToken"])
    return role


def _seed_backup(world: World) -> None:
    backup = world.manifest["backup"]
    world.client("backup").create_backup_vault(BackupVaultName=backup["vaultName"])
    world.client("iam").create_role(
        RoleName=backup["restoreRoleArn"].rsplit("/", 1)[-1],
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "backup.amazonaws.com"},
            "Action": "sts:AssumeRole"}]}))


def _seed_function(world: World) -> str:
    """A Lambda function with reserved concurrency, an SQS mapping and a public statement."""
    from tests.runbooks.core.test_step_actions_measured import _function

    return str(_function(world).params["function_name"])
# The EKS commands' Kubernetes side: a fake at irctl's interface (no API server here);
# their AWS side (DescribeCluster, evidence, the node's EC2 containment) is enforced.
KUBE = FakeCluster("enforced-eks")


@pytest.fixture(autouse=True)
def kubernetes() -> Iterator[FakeCluster]:
    with connector(KUBE.connector):
        yield KUBE


def _seed_eks(world: World) -> tuple[str, str]:
    world.client("eks").create_cluster(
        name=KUBE.name, roleArn=f"arn:aws:iam::{ACCOUNT}:role/eks",
        resourcesVpcConfig={"subnetIds": ["subnet-0123456789abcdef0"]})
    node = launch(world, managed=False)
    KUBE.pods.clear()
    KUBE.policies.clear()
    KUBE.nodes.clear()
    KUBE.add_pod("shop", "checkout-1", {"app": "checkout"})
    KUBE.add_node("ip-10-0-1-1.ec2.internal", node)
    return KUBE.name, node


def responder_commands(world: World) -> list[list[str]]:
    """Seed (as the account's administrator) what the commands act on."""
    _seed_backup(world)
    iid, victim = launch(world, managed=True), launch(world, managed=False)
    iam = world.client("iam")
    user = f"mallory-{uuid.uuid4().hex[:6]}"
    iam.create_user(UserName=user)
    iam.create_login_profile(UserName=user, Password="Corr3ct-Horse-Battery!")
    key = iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
    role = f"app-{uuid.uuid4().hex[:8]}"
    iam.create_role(RoleName=role, AssumeRolePolicyDocument="{}")
    s3 = world.client("s3")
    bucket = f"exposed-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Sid": "Public", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::{bucket}/*"}]}))
    function = _seed_function(world)
    group = world.manifest["quarantine"][world.vpc_id]["isolationSecurityGroupId"]
    database = _public_database(world)
    fast = ["--poll-seconds", "0.2"]
    secret = world.client("secretsmanager").create_secret(
        Name=f"prod/db-{uuid.uuid4().hex[:6]}", SecretString="leaked")["ARN"]
    kms = world.client("kms")
    data_key = kms.create_key()["KeyMetadata"]["KeyId"]
    doomed_key = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.schedule_key_deletion(KeyId=doomed_key, PendingWindowInDays=7)
    secret_commands = [
        ["contain", "secret", secret, "--principal", f"arn:aws:iam::{ACCOUNT}:user/{user}",
         "--new-value", "--case", "c-s", "--apply"],
        ["release", "secret", secret, "--case", "c-s", "--apply"],
        ["contain", "key", data_key, "--case", "c-kms", "--apply"],
        ["release", "key", data_key, "--case", "c-kms", "--apply"],
        ["contain", "key", doomed_key, "--keep", "--case", "c-kms", "--apply"],
    ]
    cluster, node = _seed_eks(world)
    # the stack names a forensic account (ir:forensicAccount): case share-snapshots
    world.manifest["forensicAccount"] = "210987654321"
    # memory capture provisioned: `contain instance` also captures the managed instance's
    # memory (ec2.capture-memory: AssumeRole with a session policy, SendCommand, ...)
    from tests.runbooks.steps.test_memory import memory_ready

    memory_ready(world, publish=False)
    world.manifest_path.write_text(json.dumps(world.manifest))
    return [
        *secret_commands,
        ["contain", "pod", cluster, "shop", "checkout-1", "--case", "c-pod", "--apply"],
        ["release", "pod", f"{cluster}/shop/checkout-1", "--case", "c-pod", "--apply"],
        ["contain", "node", node, "--cluster", cluster, "--case", "c-node", "--apply"],
        ["release", "instance", node, "--case", "c-node", "--apply"],
        ["triage", "--finding", str(finding_file(world)), "--case", "c-t", "--apply"],
        ["contain", "instance", iid, "--case", "c-i", "--apply"],
        ["release", "instance", iid, "--case", "c-i", "--apply"],
        ["case", "share-snapshots", "c-i", "--apply", "--wait-minutes", "1"],
        ["case", "verify-evidence", "c-i"],
        ["contain", "access-key", key, "--case", "c-k", "--apply"],
        ["release", "access-key", key, "--case", "c-k", "--apply"],
        ["contain", "role", role, "--case", "c-r", "--apply"],
        ["contain", "bucket", bucket, "--case", "c-b", "--apply"],
        ["contain", "function", function, "--case", "c-f", "--apply"],
        ["release", "function", function, "--case", "c-f", "--apply"],
        ["contain", "database", database, "--case", "c-db", "--apply"],
        ["release", "database", database, "--case", "c-db", "--apply"],
        ["contain", "ip", "203.0.113.9", "--vpc", world.vpc_id, "--case", "c-ip", "--apply"],
        ["backup", "now", victim, "--apply", *fast],
        ["recover", "instance", victim, "--security-group", group, "--case", "c-rec",
         "--apply", *fast],
        ["eradicate", "rotate-key", user, "--case", "c-k", "--apply"],
        ["eradicate", "patch", "--instance", iid, "--operation", "Scan", "--no-reboot",
         "--case", "c-i", "--apply"],
        ["eradicate", "terminate", "instance", iid, "--case", "c-i", "--apply"],
    ]


def _public_database(world: World) -> str:
    """A public PostgreSQL instance in the manifest's VPC (for `contain database`)."""
    ec2, rds = world.client("ec2"), world.client("rds")
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [world.vpc_id]}])[
        "Subnets"]
    name = f"orders-{uuid.uuid4().hex[:8]}"
    rds.create_db_subnet_group(DBSubnetGroupName=name, DBSubnetGroupDescription="db",
                               SubnetIds=[s["SubnetId"] for s in subnets[:2]])
    app = ec2.create_security_group(GroupName=f"app-{name}", Description="app",
                                    VpcId=world.vpc_id)["GroupId"]
    rds.create_db_instance(DBInstanceIdentifier=name, Engine="postgres",
                           DBInstanceClass="db.t3.micro", AllocatedStorage=20,
                           MasterUsername="app_admin", MasterUserPassword="Passw0rd-initial",
                           DBSubnetGroupName=name, VpcSecurityGroupIds=[app],
                           PubliclyAccessible=True)
    return name


def finding_file(world: World) -> Path:
    """A Security Hub finding (imported, workflow NEW) in a file, for triage."""
    finding = json.loads((Path(__file__).parent / "fixtures"
                          / "asff_guardduty_backdoor_ec2.json").read_text())
    finding["Id"] = f"{finding['Id']}-{uuid.uuid4().hex[:6]}"
    assert world.client("securityhub").batch_import_findings(
        Findings=[finding])["FailedCount"] == 0
    path = world.manifest_path.parent / f"finding-{uuid.uuid4().hex[:6]}.json"
    path.write_text(json.dumps(finding))
    return path


def run_all(world: World, commands: list[list[str]]) -> dict[str, str]:
    """Each command's output where it failed (empty: every command succeeded)."""
    from moto.core.authorization import enable_iam_authentication
    from moto.iam.access_control import IAMRequestBase

    failed: dict[str, str] = {}
    with enable_iam_authentication(), pytest.MonkeyPatch.context() as patch:
        patch.setattr(IAMRequestBase, "check_signature", lambda self: None)
        for argv in commands:
            result = world.irctl("--output", "json", *argv)
            if result.exit_code != 0:
                failed[" ".join(argv[:2])] = (result.stdout + result.stderr)[-1500:]
    return failed


def test_the_responder_role_runs_every_runbook_with_iam_enforced(
        program: tuple[dict[str, Any], dict[str, Any]], world: World,
        monkeypatch: pytest.MonkeyPatch) -> None:
    stack_manifest, documents = program
    commands = responder_commands(world)
    assume(world, monkeypatch, "responder", documents["responder"],
           _names(stack_manifest, world))
    failed = run_all(world, commands)
    assert not failed, "\n\n".join(f"{name}:\n{out}" for name, out in failed.items())
    # the EKS commands did act (and release undid it) under the role
    assert {"create_network_policy", "label_pod", "delete_network_policy",
            "set_unschedulable"} <= set(KUBE.calls)
    assert KUBE.policies == {} and "ir-quarantine" not in KUBE.pods[
        ("shop", "checkout-1")]["metadata"]["labels"]


def test_the_investigator_is_told_triage_apply_needs_the_responder_role(
        program: tuple[dict[str, Any], dict[str, Any]], world: World,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue #15 item 3: triage --apply writes case files to the evidence bucket and moves
    the Security Hub workflow, which the read-only investigator role cannot; the CLI says
    which permission was missing and which role has it."""
    stack_manifest, documents = program
    path = finding_file(world)
    iid = launch(world, managed=True)
    for severity, topic in world.manifest["topics"].items():  # status checks them
        world.client("sns").subscribe(TopicArn=topic, Protocol="email",
                                      Endpoint=f"{severity}@example.com")
    contained = world.irctl("contain", "instance", iid, "--case", "c-v", "--apply")
    assert contained.exit_code == 0, contained.stdout  # as the administrator, unenforced
    assume(world, monkeypatch, "investigator", documents["investigator"],
           _names(stack_manifest, world))
    # what the README says the investigator runs: the reads
    reads = run_all(world, [
        ["status"],
        ["triage", "--finding", str(path), "--case", "c-inv"],
        ["investigate", "principal", f"arn:aws:iam::{ACCOUNT}:user/mallory", "--since", "1d"],
        ["case", "show", "c-v", "--from-evidence"],
        ["verify", "case", "c-v"],
        ["release", "instance", iid, "--case", "c-v"],  # a release plan
    ])
    assert reads == {}, reads
    failed = run_all(world, [["triage", "--finding", str(path), "--case", "c-inv",
                              "--apply"]])
    assert list(failed) == ["triage --finding"]
    text = " ".join(failed["triage --finding"].split())
    assert "this command runs as the responder role" in text, text
    assert "needs s3:PutObject" in text or "needs securityhub:BatchUpdateFindings" in text, text


def test_removing_an_action_the_runbooks_use_is_denied(
        program: tuple[dict[str, Any], dict[str, Any]], world: World,
        monkeypatch: pytest.MonkeyPatch) -> None:
    stack_manifest, documents = program
    missing = "ec2:ModifyNetworkInterfaceAttribute"
    narrowed = []
    for statement in documents["responder"]:
        actions = statement.get("Action")
        if isinstance(actions, list) and missing in actions:
            statement = {**statement, "Action": [a for a in actions if a != missing]}
        narrowed.append(statement)
    iid = launch(world, managed=False)
    assume(world, monkeypatch, "narrowed", narrowed, _names(stack_manifest, world))
    failed = run_all(world, [["contain", "instance", iid, "--case", "c-n", "--apply"]])
    assert list(failed) == ["contain instance"]
    assert "ModifyNetworkInterfaceAttribute" in failed["contain instance"], failed


def test_the_automation_role_runs_the_handler_with_iam_enforced(
        program: tuple[dict[str, Any], dict[str, Any]], auto: Any,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.core.authorization import enable_iam_authentication
    from moto.iam.access_control import IAMRequestBase

    from runbooks.automation.handler import handler, reset_sessions
    from tests.runbooks.automation.test_handler_actions_measured import _events

    stack_manifest, documents = program
    auto.mode("apply")
    auto.monkeypatch.setenv("IR_AUTOMATION_FINDING_TYPES", ",".join([
        "CryptoCurrency:EC2/", "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration",
        "control/S3.2", "Recon:EC2/PortProbeUnprotectedPort"]))
    auto.monkeypatch.setenv("IR_AUTOMATION_MIN_SEVERITY", "2")
    events = _events(auto)
    world = auto.readiness
    names = {stack_manifest["evidenceBucket"]: world.manifest["evidenceBucket"]}
    assume(_ReadinessAsWorld(world), monkeypatch, "automation", documents["automation"],
           names)
    reset_sessions()  # the handler's next session is the role's
    results = {}
    try:
        with enable_iam_authentication(), pytest.MonkeyPatch.context() as patch:
            patch.setattr(IAMRequestBase, "check_signature", lambda self: None)
            for name, event in events.items():
                (results[name],) = handler(event, None)["findings"]
    finally:
        reset_sessions()
    failed = {name: found for name, found in results.items()
              if found["status"] not in ("contained", "planned", "skipped")
              or found.get("error")}
    assert not failed, json.dumps(failed, indent=1, default=str)
    assert results["compromised instance"]["status"] == "contained"


class _ReadinessAsWorld:
    """`assume()` needs only `client()`; the handler's world is a `Readiness`."""

    def __init__(self, readiness: Any) -> None:
        self.readiness = readiness

    def client(self, service: str) -> Any:
        return self.readiness.client(service)
