"""ResponseAutomation under Pulumi mocks: rule patterns matched against the sample events
the handler tests use, targets with DLQ and bounded retries, the function's guardrails,
alarms, the role policy (equal to the automated steps' declared actions) and the code
archive (the runbooks package itself)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pulumi
import pytest
from moto.events.models import EventPattern

from components.response_automation import (
    HANDLER,
    TYPE,
    ResponseAutomation,
    ResponseAutomationArgs,
)
from runbooks.automation.handler import HANDLER_ACTIONS
from runbooks.automation.policy import automated_steps, automation_actions
from runbooks.core.permissions import responder_actions
from runbooks.core.step import load_all_steps
from tests.components.event_matching import pattern_matches
from tests.components.regional_mocks import ACCOUNT_ID, Run, descends_from, provider, run

REGION = "us-east-1"
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
HOME_KEY = f"arn:aws:kms:eu-west-1:{ACCOUNT_ID}:key/9876abcd-12ab-34cd-56ef-1234567890ab"
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:ir-readiness-high"
REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "runbooks" / "fixtures"
AUTO_FIXTURES = REPO / "tests" / "runbooks" / "automation" / "fixtures"
TYPES = ("CryptoCurrency:EC2/", "Backdoor:EC2/",
         "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration", "control/S3.2")

RULE = "aws:cloudwatch/eventRule:EventRule"
TARGET = "aws:cloudwatch/eventTarget:EventTarget"
FUNCTION = "aws:lambda/function:Function"
PERMISSION = "aws:lambda/permission:Permission"
QUEUE = "aws:sqs/queue:Queue"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"


@pytest.fixture(scope="module")
def layer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("layer")
    (path / "python" / "yaml").mkdir(parents=True)
    return path


def make_args(layer: Path, **overrides: Any) -> ResponseAutomationArgs:
    values: dict[str, Any] = {
        "region": REGION, "account_id": ACCOUNT_ID, "kms_key_arn": KEY,
        "key_arns": [KEY, HOME_KEY], "evidence_bucket_arn": "arn:aws:s3:::ir-evidence",
        "alarm_topic_arn": TOPIC, "log_group_name": "/ir-readiness/test/automation",
        "name_prefix": "ir-readiness-test", "finding_types": TYPES, "mode": "plan",
        "layer_path": str(layer), "tags": {"team": "security"},
        "deny_all_policy_arn": f"arn:aws:iam::{ACCOUNT_ID}:policy/ir-readiness-test-deny-all",
        **overrides}
    return ResponseAutomationArgs(**values)


@pytest.fixture(scope="module")
def stack(layer: Path) -> Run:
    def program() -> Any:
        automation = ResponseAutomation(
            f"automation-{REGION}", make_args(layer),
            opts=pulumi.ResourceOptions(providers={"aws": provider(REGION)}))
        return {"function": automation.function_arn, "dlq": automation.dead_letter_queue_arn,
                "rules": automation.rule_names, "role": automation.role_arn,
                "mode": automation.mode}

    return run(program)


def rules(stack: Run) -> dict[str, dict[str, Any]]:
    return {r.inputs["name"].rsplit("-", 1)[-1]: json.loads(r.inputs["eventPattern"])
            for r in stack.of_type(RULE)}


def load(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text())
    return document


# -- rule patterns ----------------------------------------------------------------------


def test_guardduty_rule_matches_allowed_types_at_severity(stack: Run) -> None:
    pattern = rules(stack)["guardduty"]
    crypto = load(FIXTURES / "guardduty_event_cryptocurrency_ec2.json")
    role = load(AUTO_FIXTURES / "guardduty_event_role_credential_exfiltration.json")
    assert pattern_matches(pattern, crypto) and pattern_matches(pattern, role)
    assert EventPattern.load(json.dumps(pattern)).matches_event(crypto)  # moto agrees
    trojan = json.loads(json.dumps(crypto))
    trojan["detail"]["type"] = "Trojan:EC2/DropPoint"
    low = json.loads(json.dumps(crypto))
    low["detail"]["severity"] = 5
    for event in (trojan, low, load(FIXTURES / "securityhub_event_s3_public.json")):
        assert not pattern_matches(pattern, event)
        assert not EventPattern.load(json.dumps(pattern)).matches_event(event)


def test_security_hub_rule_matches_failed_allowed_controls_of_this_region(stack: Run) -> None:
    pattern = rules(stack)["securityhub"]
    control = load(AUTO_FIXTURES / "securityhub_event_control_s3_public_read.json")
    assert pattern_matches(pattern, control)
    finding = control["detail"]["findings"][0]
    for path, value in [(("Compliance", "Status"), "PASSED"),
                        (("Compliance", "SecurityControlId"), "S3.8"),
                        (("Workflow", "Status"), "NOTIFIED"),
                        (("Severity", "Label"), "MEDIUM"),
                        (("Region",), "eu-west-1")]:
        changed = json.loads(json.dumps(control))
        node = changed["detail"]["findings"][0]
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
        assert not pattern_matches(pattern, changed), path
    assert finding["RecordState"] == "ACTIVE"
    # GuardDuty's own copy in Security Hub is left to the GuardDuty rule
    assert not pattern_matches(pattern, load(FIXTURES / "securityhub_event_s3_public.json"))


def test_targets_have_dead_letter_queue_retries_and_invoke_permission(stack: Run) -> None:
    targets = stack.of_type(TARGET)
    assert len(targets) == 2
    for target in targets:
        assert target.inputs["arn"] == stack.outputs["function"]
        assert target.inputs["deadLetterConfig"]["arn"] == stack.outputs["dlq"]
        assert target.inputs["retryPolicy"] == {"maximumEventAgeInSeconds": 3600,
                                                "maximumRetryAttempts": 8}
    permissions = stack.of_type(PERMISSION)
    assert {p.inputs["principal"] for p in permissions} == {"events.amazonaws.com"}
    assert all(p.inputs["sourceAccount"] == ACCOUNT_ID for p in permissions)
    assert sorted(p.inputs["sourceArn"].rsplit(":", 1)[-1] for p in permissions) == [
        "rule/ir-readiness-test-automation-guardduty",
        "rule/ir-readiness-test-automation-securityhub"]


# -- the function and its guardrails ------------------------------------------------------


def test_function_guardrails(stack: Run) -> None:
    fn = stack.one(FUNCTION)
    inputs = fn.inputs
    assert inputs["handler"] == HANDLER == "runbooks.automation.handler.handler"
    assert inputs["runtime"] == "python3.11"
    assert inputs["reservedConcurrentExecutions"] == 2
    assert inputs["kmsKeyArn"] == KEY
    assert inputs["deadLetterConfig"]["targetArn"] == stack.outputs["dlq"]
    assert inputs["loggingConfig"]["logGroup"] == "/ir-readiness/test/automation"
    env = inputs["environment"]["variables"]
    assert env["IR_AUTOMATION_MODE"] == "plan"
    assert env["IR_AUTOMATION_FINDING_TYPES"].split(",") == list(TYPES)
    assert env["IR_AUTOMATION_MAX_ACTIONS_PER_HOUR"] == "10"
    assert env["IR_CASE_DIR"].startswith("/tmp/")
    assert len(inputs["layers"]) == 1
    invoke = stack.one("aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig")
    assert invoke.inputs["maximumRetryAttempts"] == 2
    assert invoke.inputs["maximumEventAgeInSeconds"] == 3600
    log_group = stack.one("aws:cloudwatch/logGroup:LogGroup")
    assert log_group.inputs["kmsKeyId"] == KEY and log_group.inputs["retentionInDays"] == 365
    assert stack.outputs["mode"] == "plan"
    component = stack.one("ir-readiness:index:ResponseAutomation")
    assert component.type == TYPE
    assert all(descends_from(stack, r, component.urn) for r in stack.aws_resources())


def test_dead_letter_queue_is_encrypted_and_only_the_rules_write_to_it(stack: Run) -> None:
    queue = stack.one(QUEUE)
    assert queue.inputs["kmsMasterKeyId"] == KEY
    assert queue.inputs["messageRetentionSeconds"] == 14 * 24 * 3600
    policy = json.loads(stack.one("aws:sqs/queuePolicy:QueuePolicy").inputs["policy"])
    allow, deny = policy["Statement"]
    assert allow["Principal"] == {"Service": "events.amazonaws.com"}
    assert sorted(a.rsplit(":", 1)[-1] for a in allow["Condition"]["ArnEquals"][
        "aws:SourceArn"]) == ["rule/ir-readiness-test-automation-guardduty",
                              "rule/ir-readiness-test-automation-securityhub"]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {
        "Bool": {"aws:SecureTransport": "false"}}


def test_alarms_on_errors_dlq_depth_and_dropped_events_page_the_topic(stack: Run) -> None:
    alarms = {a.inputs["metricName"]: a.inputs for a in stack.of_type(ALARM)}
    assert set(alarms) == {"Errors", "ApproximateNumberOfMessagesVisible", "EventsDropped"}
    assert alarms["Errors"]["namespace"] == "AWS/Lambda"
    assert alarms["Errors"]["dimensions"]["FunctionName"] == "ir-readiness-test-automation"
    assert alarms["ApproximateNumberOfMessagesVisible"]["dimensions"]["QueueName"] == (
        "ir-readiness-test-automation-dlq")
    assert alarms["EventsDropped"]["namespace"] == "ir-readiness/automation"
    for alarm in alarms.values():
        assert alarm["alarmActions"] == [TOPIC] and alarm["threshold"] == 1
        assert alarm["comparisonOperator"] == "GreaterThanOrEqualToThreshold"


# -- role ---------------------------------------------------------------------------------


def test_role_policy_is_the_automated_steps_actions(stack: Run) -> None:
    policy = json.loads(stack.one("aws:iam/rolePolicy:RolePolicy").inputs["policy"])
    statements = {s["Sid"]: s for s in policy["Statement"]}
    registry = load_all_steps()
    expected = set(HANDLER_ACTIONS).union(
        *(registry[name].actions for name in automated_steps()))
    granted = sorted({a for sid, s in statements.items() if sid.startswith("Automated")
                      for a in s["Action"]})
    assert granted == sorted(expected) == automation_actions()
    assert not any("*" in action for action in granted)
    # scoped per step: users only with the stack's deny-all, S3 in this account only
    attach = statements["AutomatedAttachOnlyTheStackDenyAll"]
    assert attach["Condition"] == {"ArnEquals": {"iam:PolicyARN": [
        f"arn:aws:iam::{ACCOUNT_ID}:policy/ir-readiness-test-deny-all"]}}
    assert "s3:PutBucketPolicy" in statements["AutomatedAccountBuckets"]["Action"]
    assert statements["AutomatedAccountBuckets"]["Condition"] == {
        "StringEquals": {"aws:ResourceAccount": ACCOUNT_ID}}
    assert "s3:PutBucketPolicy" not in statements["AutomatedAnyResource"]["Action"]
    # what only humans do is not granted: terminate, restore, patch, key rotation
    assert {"ec2:TerminateInstances", "ssm:SendCommand"} <= set(responder_actions())
    for human_only in ("ec2:TerminateInstances", "backup:StartRestoreJob",
                       "ssm:SendCommand", "iam:CreateAccessKey"):
        assert human_only not in granted
    assert "ec2:ModifyNetworkInterfaceAttribute" in granted  # isolate
    assert statements["WriteOwnLogs"]["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"]
    assert statements["DeadLetterQueue"]["Resource"] == stack.outputs["dlq"]
    assert statements["UseStackKeys"]["Resource"] == sorted([KEY, HOME_KEY])
    # revoke-role-sessions writes inline role policies: never on the stack's own roles
    # (its own role included), so the function cannot write itself more permissions
    deny = statements["NeverWidenStackRoles"]
    assert deny["Effect"] == "Deny"
    assert {"iam:PutRolePolicy", "iam:AttachRolePolicy", "iam:UpdateAssumeRolePolicy"} <= set(
        deny["Action"])
    assert deny["Resource"] == f"arn:aws:iam::{ACCOUNT_ID}:role/ir-readiness-test-*"
    role = stack.one("aws:iam/role:Role")
    assert role.inputs["name"].startswith("ir-readiness-test-")
    trust = json.loads(role.inputs["assumeRolePolicy"])
    (statement,) = trust["Statement"]
    assert statement["Principal"] == {"Service": "lambda.amazonaws.com"}
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT_ID}}


# -- packaging ----------------------------------------------------------------------------


def test_code_archive_is_the_runbooks_package(stack: Run) -> None:
    code = stack.one(FUNCTION).inputs["code"]
    assert isinstance(code, pulumi.AssetArchive)
    assets = code.assets
    for needed in ("runbooks/__init__.py", "runbooks/automation/__init__.py",
                   "runbooks/automation/handler.py", "runbooks/commands/playbook.py",
                   "runbooks/core/runner.py", "runbooks/core/manifest.v1.schema.json",
                   "runbooks/playbooks/compromised-ec2-instance.yaml",
                   "runbooks/playbooks/playbook.schema.json", "runbooks/steps/ec2.py"):
        assert needed in assets, needed
    for step_module in (REPO / "runbooks" / "steps").glob("*.py"):
        assert f"runbooks/steps/{step_module.name}" in assets
    # only the product: the rehearsal tooling (emulator, bridge, scenarios) is not in it
    assert all(name.startswith("runbooks/") for name in assets)
    assert not any("__pycache__" in name or name.endswith(".pyc") for name in assets)
    for name, asset in assets.items():
        assert isinstance(asset, pulumi.FileAsset)
        path = Path(asset.path)
        assert path == REPO / name  # the repo's own file, not a copy
        assert path.is_file()
    layer = stack.one("aws:lambda/layerVersion:LayerVersion").inputs
    assert isinstance(layer["code"], pulumi.FileArchive)
    assert (Path(layer["code"].path) / "python").is_dir()
    assert layer["compatibleRuntimes"] == ["python3.11"]


# -- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(("overrides", "message"), [
    ({"layer_path": "/nonexistent/layer"}, "make automation-layer"),
    ({"mode": "yes"}, "mode='yes'"),
    ({"finding_types": ("Impact:S3/Ransom",)}, "no automated playbook"),
    ({"finding_types": ()}, "at least one"),
    ({"reserved_concurrency": 0}, "reserved_concurrency"),
    ({"log_retention_days": 12}, "log_retention_days"),
    ({"name_prefix": "x" * 60}, "longer than 64"),
])
def test_bad_args_fail_before_any_resource(layer: Path, overrides: dict[str, Any],
                                           message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_args(layer, **overrides)


def test_the_stack_does_not_load_the_lambda_handler() -> None:
    """components read the automation's policy (its role) without importing the handler
    module and everything it runs (issue 17: components must not import the Lambda)."""
    import subprocess
    import sys

    code = ("import sys, components.response_automation, components.settings; "
            "print(sorted(m for m in sys.modules if m.startswith(('runbooks.automation.handler',"
            " 'runbooks.automation.workflow', 'runbooks.workflows', 'runbooks.commands'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.strip() == "[]"
