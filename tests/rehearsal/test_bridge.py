"""The Pulumi-mocks -> moto bridge: real resources in a moto server, loud on gaps."""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pulumi
import pytest
from moto.server import ThreadedMotoServer

from components.mockrun import evaluate
from rehearsal import bridge
from rehearsal.bridge import HANDLERS, INVOKES, MotoBridge, UnhandledResourceType
from tests.ast_parse import parse_file

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    from rehearsal.emulator import install, s3_policy

    # As the drill does: moto with the emulator's extensions (the APIs moto lacks), and
    # bucket policies (and the access-logging grant) evaluated as S3 does; plain moto
    # fails PutBucketLogging into a bucket with a TLS-only policy.
    install()
    s3_policy.install()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    _, port = server.get_host_and_port()
    yield f"http://127.0.0.1:{port}"
    server.stop()
    # moto's state lives in this process: leave none behind for the next module (the
    # full drill provisions the same stack and would find its resources already there).
    from moto.moto_api._internal.models import moto_api_backend

    moto_api_backend.reset()
    s3_policy.uninstall()


def client(endpoint: str, service: str, region: str):  # type: ignore[no-untyped-def]
    return boto3.client(service, endpoint_url=endpoint, region_name=region,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def test_resources_are_created_in_the_providers_region_with_real_ids(endpoint: str) -> None:
    region = "eu-west-3"
    vpc_id = client(endpoint, "ec2", region).create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    tag = uuid.uuid4().hex[:8]

    def program() -> None:
        import pulumi_aws as aws

        provider = aws.Provider("regional", region=region)
        opts = pulumi.ResourceOptions(provider=provider)
        vpcs = aws.ec2.get_vpcs_output(
            tags={"drill": tag}, opts=pulumi.InvokeOutputOptions(provider=provider))
        isolation = aws.ec2.SecurityGroup("isolation", vpc_id=vpc_id, description="isolate",
                                          ingress=[], egress=[], opts=opts)
        topic = aws.sns.Topic("high", opts=opts)
        detector = aws.guardduty.Detector("detector", enable=True,
                                          finding_publishing_frequency="FIFTEEN_MINUTES",
                                          opts=opts)
        aws.guardduty.DetectorFeature("s3-events", detector_id=detector.id,
                                      name="S3_DATA_EVENTS", status="ENABLED", opts=opts)
        aws.ssm.Parameter("manifest", name=f"/drill-{tag}/manifest", type="String",
                          value=pulumi.Output.json_dumps({"topic": topic.arn}), opts=opts)
        pulumi.export("sg", isolation.id)
        pulumi.export("topic", topic.arn)
        pulumi.export("detector", detector.id)
        pulumi.export("vpcs", vpcs.ids)

    client(endpoint, "ec2", region).create_tags(Resources=[vpc_id],
                                                Tags=[{"Key": "drill", "Value": tag}])
    mocks = MotoBridge(endpoint, "us-east-1")
    outputs = evaluate({"aws:region": "us-east-1"}, mocks=mocks, program=program).outputs

    ec2 = client(endpoint, "ec2", region)
    group = ec2.describe_security_groups(GroupIds=[outputs["sg"]])["SecurityGroups"][0]
    assert group["VpcId"] == vpc_id
    assert group["IpPermissions"] == [] and group["IpPermissionsEgress"] == []
    assert outputs["topic"].startswith(f"arn:aws:sns:{region}:")
    assert outputs["topic"] in [t["TopicArn"] for t in
                                client(endpoint, "sns", region).list_topics()["Topics"]]
    gd = client(endpoint, "guardduty", region)
    assert outputs["detector"] in gd.list_detectors()["DetectorIds"]
    features = gd.get_detector(DetectorId=outputs["detector"])["Features"]
    assert {"Name": "S3_DATA_EVENTS", "Status": "ENABLED"} in [
        {"Name": f["Name"], "Status": f["Status"]} for f in features]
    value = client(endpoint, "ssm", region).get_parameter(Name=f"/drill-{tag}/manifest")
    assert json.loads(value["Parameter"]["Value"]) == {"topic": outputs["topic"]}
    assert outputs["vpcs"] == [vpc_id]
    # nothing leaked into the default region
    assert outputs["detector"] not in client(endpoint, "guardduty", "us-east-1").list_detectors()[
        "DetectorIds"]


def test_an_unhandled_type_fails_loudly_naming_it(endpoint: str) -> None:
    def program() -> None:
        import pulumi_aws as aws

        aws.apigateway.RestApi("api", description="not part of the readiness stack")

    with pytest.raises(UnhandledResourceType, match="aws:apigateway/restApi:RestApi"):
        evaluate({"aws:region": "us-east-1"}, mocks=MotoBridge(endpoint, "us-east-1"),
                 program=program)


def test_an_unknown_invoke_fails_loudly_naming_it(endpoint: str) -> None:
    def program() -> None:
        import pulumi_aws as aws

        aws.ec2.get_ami_output(owners=["amazon"], most_recent=True)

    with pytest.raises(bridge.UnhandledInvoke, match="getAmi"):
        evaluate({"aws:region": "us-east-1"}, mocks=MotoBridge(endpoint, "us-east-1"),
                 program=program)


def test_api_errors_name_the_resource_and_region(endpoint: str) -> None:
    def program() -> None:
        import pulumi_aws as aws

        aws.s3.BucketVersioning("orphan", bucket=f"missing-{uuid.uuid4().hex[:8]}",
                                versioning_configuration={"status": "Enabled"})

    with pytest.raises(bridge.BridgeError, match=r"BucketVersioning 'orphan' in us-east-1"):
        evaluate({"aws:region": "us-east-1"}, mocks=MotoBridge(endpoint, "us-east-1"),
                 program=program)


def test_every_handler_is_documented_in_its_service_modules_docstring() -> None:
    for type_token, handler in HANDLERS.items():
        doc = sys.modules[handler.fn.__module__].__doc__ or ""
        # long tokens are abbreviated with '...' after the resource module/name part
        prefix = type_token if len(type_token) <= 52 else type_token[:40]
        assert prefix.split(":")[1].split("/")[1][:20] in doc, type_token
        if handler.recorded_only:
            assert handler.note.startswith("moto has no"), type_token
    for token, answer in INVOKES.items():
        doc = sys.modules[answer.__module__].__doc__ or ""
        assert token.rsplit(":", 1)[-1] in doc, token


def test_each_service_module_handles_its_own_services_types() -> None:
    """One module per AWS service: a type is registered in the module of its service."""
    modules = {handler.fn.__module__.rsplit(".", 1)[-1] for handler in HANDLERS.values()}
    assert len(modules) >= 15, modules  # split, not one module holding everything
    for type_token, handler in HANDLERS.items():
        service = type_token.split(":")[1].split("/")[0]  # aws:<service>/...
        module = handler.fn.__module__.rsplit(".", 1)[-1]
        allowed = {"cloudwatch": {"cloudwatch", "logs", "events"}, "vpc": {"ec2"},
                   "cfg": {"config"}, "route53": {"route53resolver"},
                   "lambda": {"lambda_"}}.get(service, {service})
        assert module in allowed, f"{type_token} is handled in {handler.fn.__module__}"


def _example_config(regions: list[str] | None = None) -> dict[str, str]:
    from components.mockrun import load_stack_config

    config = load_stack_config(ROOT / "Pulumi.example.yaml")
    if regions is not None:
        config["ir:regions"] = json.dumps(regions)
    return config


@pytest.mark.parametrize("stack_config", sorted(p.name for p in ROOT.glob("Pulumi.*example.yaml")))
def test_every_aws_type_of_every_example_stack_is_provisioned_not_recorded(
    stack_config: str,
) -> None:
    from components.mockrun import load_stack_config

    resources = evaluate(load_stack_config(ROOT / stack_config)).resources
    aws_types = {r.type for r in resources if r.custom and r.type.startswith("aws:")}
    assert aws_types, "the example stack declares no aws:* resources?"
    assert aws_types - set(HANDLERS) == set()
    assert {t for t in aws_types if HANDLERS[t].recorded_only} == set()


def test_types_moto_cannot_create_are_recorded_visibly_not_silently(
    endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No type of the stack is recorded only any more; the mechanism stays for the next
    # type the emulator cannot create, so exercise it with one registered for this test.
    monkeypatch.setattr(bridge._core, "HANDLERS", dict(HANDLERS))

    @bridge.handles("aws:apigateway/restApi:RestApi", recorded_only="moto has no CreateRestApi")
    def _rest_api(r: bridge.Request) -> tuple[str, dict[str, object]]:
        return r.arn("apigateway", "restapis/x"), {}

    def program() -> None:
        import pulumi_aws as aws

        aws.apigateway.RestApi("api", description="recorded only, for this test")

    mocks = MotoBridge(endpoint, "eu-west-1")
    evaluate({"aws:region": "eu-west-1"}, mocks=mocks, program=program)
    (record,) = [r for r in mocks.records if r.type.startswith("aws:")]
    assert record.recorded_only
    assert record.how == "recorded only: moto has no CreateRestApi"
    assert record.id.startswith("arn:aws:apigateway:eu-west-1:")


def test_lambda_function_layer_and_permission_are_created_from_their_archives(
    endpoint: str, tmp_path: Path
) -> None:
    layer_dir = tmp_path / "layer" / "python"
    layer_dir.mkdir(parents=True)
    (layer_dir / "dep.py").write_text("VALUE = 1\n")
    handler = tmp_path / "handler.py"
    handler.write_text("def handle(event, context):\n    return event\n")
    name = f"drill-fn-{uuid.uuid4().hex[:8]}"

    def program() -> None:
        import pulumi_aws as aws

        role = aws.iam.Role("fn-role", assume_role_policy=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}))
        layer = aws.lambda_.LayerVersion("deps", layer_name=f"{name}-deps",
                                         code=pulumi.FileArchive(str(tmp_path / "layer")),
                                         compatible_runtimes=["python3.12"])
        function = aws.lambda_.Function(
            "fn", name=name, role=role.arn, runtime="python3.12", handler="handler.handle",
            layers=[layer.arn], timeout=60,
            code=pulumi.AssetArchive({"handler.py": pulumi.FileAsset(str(handler)),
                                      "VERSION": pulumi.StringAsset("1")}),
            environment={"variables": {"IR_AUTOMATION_MODE": "plan"}})
        aws.lambda_.Permission("events", function=function.name, action="lambda:InvokeFunction",
                               principal="events.amazonaws.com")
        aws.lambda_.FunctionEventInvokeConfig("async", function_name=function.name,
                                              maximum_retry_attempts=0)

    evaluate({"aws:region": "eu-west-1"}, mocks=MotoBridge(endpoint, "eu-west-1"),
             program=program)
    lam = client(endpoint, "lambda", "eu-west-1")
    config = lam.get_function(FunctionName=name)["Configuration"]
    assert config["Environment"]["Variables"] == {"IR_AUTOMATION_MODE": "plan"}
    assert config["Timeout"] == 60 and config["Handler"] == "handler.handle"
    assert [layer["Arn"].split(":")[-2] for layer in config["Layers"]] == [f"{name}-deps"]
    policy = json.loads(lam.get_policy(FunctionName=name)["Policy"])
    assert [s["Principal"] for s in policy["Statement"]] == [{"Service": "events.amazonaws.com"}]
    assert lam.get_function_event_invoke_config(FunctionName=name)["MaximumRetryAttempts"] == 0


@pytest.mark.skipif(not (ROOT / "runbooks" / "automation" / "handler.py").exists(),
                    reason="the response automation has not landed")
def test_example_stack_with_automation_enabled_provisions_into_moto(
    endpoint: str, tmp_path: Path
) -> None:
    """The opt-in ResponseAutomation (Lambda) provisions too, should the example turn it on."""
    (tmp_path / "layer" / "python").mkdir(parents=True)
    (tmp_path / "layer" / "python" / "placeholder.py").write_text("")
    config = _example_config(["eu-west-1"])
    config["ir:quarantineVpcs"] = json.dumps({"eu-west-1": "discover"})
    config["ir:alertSubscriptions"] = json.dumps({})
    automation = json.loads(config.get("ir:automation", "{}"))
    automation.update(enabled=True, layerPath=str(tmp_path / "layer"))
    config["ir:automation"] = json.dumps(automation)
    config.pop("ir:backup", None)  # the example copies backups to a region not covered here
    mocks = MotoBridge(endpoint, "eu-west-1")
    evaluate(config, mocks=mocks)
    assert mocks.errors == []
    functions = client(endpoint, "lambda", "eu-west-1").list_functions()["Functions"]
    assert any("automation" in f["FunctionName"] for f in functions)
    assert {r.type for r in mocks.records} >= {"aws:lambda/function:Function",
                                               "aws:lambda/layerVersion:LayerVersion"}


def test_every_documented_option_on_provisions_into_moto(endpoint: str) -> None:
    """Every documented opt-in on: data events, Insights, continuous backups and their
    copy, evidence replication, Resolver query logs, S3 malware protection of the evidence
    and a named bucket, Shield Advanced with a protection, SRT access and proactive
    engagement. Everything provisions, none of it only recorded: the trail's selectors
    reach CloudTrail in its API's shape (`NotStartsWith`, not Pulumi's plural), and each
    option's resources are read back from the emulator."""
    region, second = "ap-southeast-2", "ap-northeast-3"  # regions no other test uses here
    ec2 = client(endpoint, "ec2", region)
    vpc_id = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    eip = ec2.allocate_address(Domain="vpc")["AllocationId"]
    scanned = f"uploads-{uuid.uuid4().hex[:8]}"
    client(endpoint, "s3", region).create_bucket(
        Bucket=scanned, CreateBucketConfiguration={"LocationConstraint": region})
    account = client(endpoint, "sts", region).get_caller_identity()["Account"]
    eip_arn = f"arn:aws:ec2:{region}:{account}:eip-allocation/{eip}"
    config = _example_config([region, second])
    config["aws:region"] = region
    config["ir:quarantineVpcs"] = json.dumps({region: [vpc_id], second: "discover"})
    config["ir:alertSubscriptions"] = json.dumps({})
    backup = json.loads(config["ir:backup"])
    backup.update(continuousBackupDays=14, copyToRegion=second)
    config["ir:backup"] = json.dumps(backup)
    config["ir:trail"] = json.dumps({"s3DataEvents": True, "lambdaDataEvents": True,
                                     "insights": True})
    evidence = json.loads(config["ir:evidence"])
    evidence["replicationRegion"] = second
    config["ir:evidence"] = json.dumps(evidence)
    config["ir:recording"] = json.dumps({"resolverQueryLogs": True})
    config["ir:accountProtection"] = json.dumps(
        {"malwareProtection": {"enabled": True, "buckets": [scanned]}})
    contact = {"emailAddress": "oncall@example.com", "phoneNumber": "+15555550100",
               "contactNotes": "security on-call"}
    config["ir:shield"] = json.dumps({
        "advanced": True, "acceptSubscriptionCost": True, "protectedResourceArns": [eip_arn],
        "srtAccess": True, "emergencyContacts": [contact]})
    mocks = MotoBridge(endpoint, region)
    # Its own stack name: IAM role names are account-wide and another test provisions
    # the example stack into the same emulator.
    outputs = evaluate(config, mocks=mocks, stack="alloptions").outputs
    assert mocks.errors == []
    # None only recorded: every type went through an API of the (extended) emulator.
    assert [r.type for r in mocks.records if HANDLERS.get(r.type) is not None
            and HANDLERS[r.type].recorded_only] == []

    trail_bucket = outputs["trailBucket"]
    selectors = client(endpoint, "cloudtrail", region).get_event_selectors(
        TrailName=outputs["trailArn"])["AdvancedEventSelectors"]
    assert selectors[0]["Name"] == "Management events selector"
    s3_fields = {f["Field"]: f for f in selectors[1]["FieldSelectors"]}
    assert s3_fields["resources.ARN"]["NotStartsWith"] == [f"arn:aws:s3:::{trail_bucket}/"]

    flow_logs = ec2.describe_flow_logs(
        Filters=[{"Name": "resource-id", "Values": [vpc_id]}])["FlowLogs"]
    assert [(f["TrafficType"], f["LogDestinationType"]) for f in flow_logs] == [
        ("ALL", "cloud-watch-logs")]
    assert flow_logs[0]["LogDestination"].endswith("/flow-logs")
    config_svc = client(endpoint, "config", region)
    (recorder,) = config_svc.describe_configuration_recorders()["ConfigurationRecorders"]
    assert recorder["recordingGroup"]["includeGlobalResourceTypes"] is True
    (status,) = config_svc.describe_configuration_recorder_status()[
        "ConfigurationRecordersStatus"]
    assert status["recording"] is True
    (channel,) = config_svc.describe_delivery_channels()["DeliveryChannels"]
    assert channel["s3BucketName"] == trail_bucket
    s3 = client(endpoint, "s3", region)
    for bucket in (trail_bucket, outputs["evidenceBucket"]):
        logging = s3.get_bucket_logging(Bucket=bucket)["LoggingEnabled"]
        assert logging["TargetBucket"] == outputs["accessLogBucket"]
    account_block = mocks.client("s3control", region).get_public_access_block(
        AccountId=mocks.account_id)["PublicAccessBlockConfiguration"]
    assert all(account_block.values())
    resolver = client(endpoint, "route53resolver", region)
    associations = resolver.list_resolver_query_log_config_associations()[
        "ResolverQueryLogConfigAssociations"]
    assert vpc_id in [a["ResourceId"] for a in associations]
    gd = client(endpoint, "guardduty", region)
    plan_ids = [state["id"] for state in mocks.outputs_of(
        "aws:guardduty/malwareProtectionPlan:MalwareProtectionPlan").values()]
    protected = {gd.get_malware_protection_plan(MalwareProtectionPlanId=plan_id)[
        "ProtectedResource"]["S3Bucket"]["BucketName"] for plan_id in plan_ids}
    assert protected == {outputs["evidenceBucket"], scanned}

    replication = s3.get_bucket_replication(Bucket=outputs["evidenceBucket"])[
        "ReplicationConfiguration"]
    (rule,) = replication["Rules"]
    assert rule["Destination"]["Bucket"] == f"arn:aws:s3:::{outputs['evidenceReplicaBucket']}"
    assert rule["DeleteMarkerReplication"] == {"Status": "Disabled"}
    assert client(endpoint, "s3", second).head_bucket(Bucket=outputs["evidenceReplicaBucket"])

    shield = client(endpoint, "shield", "us-east-1")
    subscription = shield.describe_subscription()["Subscription"]
    assert subscription["ProactiveEngagementStatus"] == "ENABLED"
    assert [p["ResourceArn"] for p in shield.list_protections()["Protections"]] == [eip_arn]
    assert shield.describe_drt_access()["RoleArn"] == outputs["shieldSrtRoleArn"]
    assert shield.describe_emergency_contact_settings()["EmergencyContactList"] == [
        {"EmailAddress": contact["emailAddress"], "PhoneNumber": contact["phoneNumber"],
         "ContactNotes": contact["contactNotes"]}]
    analyzers = client(endpoint, "accessanalyzer", region).list_analyzers()["analyzers"]
    assert [a["type"] for a in analyzers] == ["ACCOUNT"]

    # What moto could not create before the emulator's extensions, read back.
    backup_api = client(endpoint, "backup", region)
    vault_name = outputs["backupVaultArns"][region].rsplit(":", 1)[-1]
    plan_ids = [state["id"] for state in mocks.outputs_of("aws:backup/plan:Plan").values()
                if f":backup:{region}:" in state["arn"]]
    selections = [s for plan_id in plan_ids for s in backup_api.list_backup_selections(
        BackupPlanId=plan_id)["BackupSelectionsList"]]
    assert len(selections) == 1
    notifications = backup_api.get_backup_vault_notifications(BackupVaultName=vault_name)
    assert notifications["SNSTopicArn"] == outputs["topicArns"][region]["info"]
    assert "RESTORE_JOB_COMPLETED" in notifications["BackupVaultEvents"]
    vault_policy = json.loads(backup_api.get_backup_vault_access_policy(
        BackupVaultName=vault_name)["Policy"])
    assert {s["Effect"] for s in vault_policy["Statement"]} == {"Deny"}
    (testing,) = backup_api.list_restore_testing_plans()["RestoreTestingPlans"]
    tested = backup_api.list_restore_testing_selections(
        RestoreTestingPlanName=testing["RestoreTestingPlanName"])["RestoreTestingSelections"]
    assert {t["ProtectedResourceType"] for t in tested} == {
        "EBS", "EC2", "RDS", "DynamoDB", "EFS", "S3"}
    reports = backup_api.list_report_plans()["ReportPlans"]
    assert {r["ReportDeliveryChannel"]["S3BucketName"] for r in reports} == {trail_bucket}
    sh = client(endpoint, "securityhub", region)
    assert len(sh.get_enabled_standards()["StandardsSubscriptions"]) == 2
    (aggregator,) = sh.list_finding_aggregators()["FindingAggregators"]
    assert sh.get_finding_aggregator(FindingAggregatorArn=aggregator["FindingAggregatorArn"])[
        "FindingAggregationRegion"] == region
    detector = outputs["guardDutyDetectorIds"][region]
    (destination,) = gd.list_publishing_destinations(DetectorId=detector)["Destinations"]
    assert gd.describe_publishing_destination(
        DetectorId=detector, DestinationId=destination["DestinationId"])[
        "DestinationProperties"]["DestinationArn"].startswith(
        f"arn:aws:s3:::{outputs['evidenceBucket']}")


def test_the_bridge_uses_the_one_mock_harness_not_pulumi_internals() -> None:
    """The bridge is only a `Mocks` (what to create, what to answer): running the program
    (monitor, `set_mocks`, the event loop) and unwrapping secrets are `components.mockrun`'s,
    so no module of the rehearsal package reaches into Pulumi's runtime internals."""
    import ast

    internals = {"pulumi.runtime.rpc", "pulumi.runtime.mocks", "pulumi.runtime.settings",
                 "pulumi.runtime.stack", "pulumi.runtime.sync_await"}
    names = {"set_mocks", "MockMonitor", "is_rpc_secret", "unwrap_rpc_secret",
             "_sync_await", "run_pulumi_func"}
    modules = sorted((ROOT / "rehearsal").rglob("*.py"))
    assert ROOT / "rehearsal" / "bridge" / "_core.py" in modules
    # The earlier tests' Pulumi runs leave event loops whose finalizer fails; collected in
    # the middle of ast.parse, CPython 3.11 reports "AST constructor recursion depth
    # mismatch". Collect them first.
    import gc

    gc.collect()
    trees = {path: parse_file(path) for path in modules}
    for path, tree in trees.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert node.module not in internals, f"{path}: from {node.module}"
                if node.module.startswith("pulumi"):
                    assert not {a.name for a in node.names} & names, path
            elif isinstance(node, ast.Import):
                assert not {a.name for a in node.names} & internals, path
            elif isinstance(node, ast.Attribute):
                assert node.attr not in names, f"{path}:{node.lineno}: {node.attr}"
    # and the bridge does unwrap through the harness's one place
    from components.mockrun import plain
    from rehearsal.bridge import _core

    assert _core.plain is plain
