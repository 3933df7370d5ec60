"""ResponseAutomation: the Lambda that contains findings seconds after they are raised.

One per covered region (EventBridge delivers a region's findings only in that region):

- the function runs the SAME runbook code as `irctl`: its code archive is built from the
  `runbooks/` package directory at deployment (no copy in the repo; bytecode left out;
  the rehearsal tooling is a package of its own, `rehearsal/`, never in the archive);
  handler `runbooks.automation.handler.handler`;
- third-party dependencies (jsonschema, pyyaml, click, rich) come from a layer built by
  `make automation-layer` (`pip install --target build/automation-layer/python` for the
  function's runtime and architecture); boto3 is the runtime's own;
- EventBridge rules for the allow-listed GuardDuty finding-type prefixes at or above the
  minimum severity, and for allow-listed Security Hub controls (`control/<id>`, failed,
  active, workflow NEW, this region) -- GuardDuty's own copies in Security Hub are left
  to the GuardDuty rule;
- guardrails: `IR_AUTOMATION_MODE` (plan by default), the opt-out tag, the allow-list,
  the hourly cap (enforced by the handler), reserved concurrency, an encrypted SQS
  dead-letter queue for both the rule targets and the function's asynchronous
  invocations, bounded retries (retry attempts and maximum event age), alarms on the
  function's Errors, on the DLQ's depth and on dropped events, to the alert topic;
- a KMS-encrypted log group with retention, under the stack's log-group prefix (the
  only one the regional key lets CloudWatch Logs use);
- a role whose policy grants exactly `runbooks.automation.policy.automation_actions()`
  (the automated playbooks' containment steps' declared actions plus the handler's
  own), logs to its log group, SendMessage to its DLQ and use of the stack's keys.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws

from components.regional_validation import check_account, check_region, check_tags, invalid
from components.responder_access import never_widen_statements
from components.settings import LOG_RETENTION_DAYS
from runbooks.automation.policy import (
    automated_playbook_for,
    automated_steps,
    automation_actions,
)
from runbooks.core.automation_contract import CONTROL_PREFIX, DEFAULT_OPT_OUT_TAG, MODES
from runbooks.core.scopes import HANDLER_SCOPES, policy_statements
from runbooks.core.step import step_scopes

TYPE = "ir-readiness:index:ResponseAutomation"
HANDLER = "runbooks.automation.handler.handler"
RUNTIME = "python3.11"
ARCHITECTURE = "arm64"
PACKAGE = "runbooks"
# Left out of the function's code: build leftovers.
EXCLUDED_PARTS = frozenset({"__pycache__"})
INCLUDED_SUFFIXES = frozenset({".py", ".json", ".yaml", ".yml", ".typed"})
CODE_ROOT = str(Path(__file__).resolve().parents[1])
"""The project root: the directory holding the ``runbooks`` package."""
DLQ_RETENTION_SECONDS = 14 * 24 * 3600
EVENT_MAX_AGE_SECONDS = 3600
TARGET_RETRY_ATTEMPTS = 8
FUNCTION_RETRY_ATTEMPTS = 2
FUNCTION_TIMEOUT_SECONDS = 300
METRIC_NAMESPACE = "ir-readiness/automation"
# Security Hub severity labels and the top of their range on GuardDuty's 0-10 scale.
_LABEL_TOP = {"LOW": 3.9, "MEDIUM": 6.9, "HIGH": 8.9, "CRITICAL": 10.0}


@dataclass(frozen=True)
class ResponseAutomationArgs:
    """Inputs of one region's response automation."""

    region: str
    """The region this component is created in (the provider's region in ``opts``)."""
    account_id: pulumi.Input[str]
    """12-digit account id (``aws:SourceAccount`` conditions)."""
    kms_key_arn: pulumi.Input[str]
    """The region's key: log group, dead-letter queue, environment variables."""
    key_arns: Sequence[pulumi.Input[str]]
    """Every key the function uses (its region's, the evidence bucket's, the topics')."""
    evidence_bucket_arn: pulumi.Input[str]
    """The evidence bucket (audit logs, claims, the hourly-cap markers)."""
    alarm_topic_arn: pulumi.Input[str]
    """Where the Errors, DLQ-depth and dropped-event alarms go (the high topic)."""
    log_group_name: str
    """The function's log group, under the prefix the key admits (``/ir-readiness/<stack>/...``)."""
    name_prefix: str = "ir-readiness"
    """Function ``<prefix>-automation``, role ``<prefix>-automation-<region>``, ..."""
    mode: str = "plan"
    """``plan`` (post the plan, change nothing) or ``apply`` (contain)."""
    finding_types: tuple[str, ...] = ()
    """Allow-list: GuardDuty finding-type prefixes and ``control/<id>`` Security Hub controls."""
    min_severity: float = 7.0
    """Lowest severity acted on (GuardDuty's 1-10 scale)."""
    opt_out_tag: str = DEFAULT_OPT_OUT_TAG
    """Resources tagged ``<tag>=off`` are never contained (the handler only plans)."""
    max_actions_per_hour: int = 10
    """Automated containments per hour in this region; beyond it the handler plans."""
    reserved_concurrency: int = 2
    """Reserved concurrent executions (also the maximum)."""
    log_retention_days: int = 365
    """Retention of the log group."""
    code_root: str = CODE_ROOT
    """Directory holding the ``runbooks`` package (the project root)."""
    layer_path: str = "build/automation-layer"
    """Dependency layer directory (holds ``python/``), relative to ``code_root`` or absolute."""
    partition: str = "aws"
    """ARN partition."""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags on every taggable child."""
    deny_all_policy_arn: pulumi.Input[str] = ""
    """The stack's managed deny-all policy (``ResponderAccess.deny_all_policy_arn``): the
    only policy the function may attach to a user (iam.deny-all-user)."""

    def __post_init__(self) -> None:
        check_region("region", self.region)
        check_account("account_id", self.account_id)
        check_tags("tags", self.tags)
        if not self.deny_all_policy_arn and "iam:AttachUserPolicy" in automation_actions():
            raise invalid("deny_all_policy_arn", self.deny_all_policy_arn,
                          "give ResponderAccess.deny_all_policy_arn: automation attaches it "
                          "to compromised users (iam.deny-all-user)")
        if self.mode not in MODES:
            raise invalid("mode", self.mode, "must be plan or apply")
        if not self.finding_types:
            raise invalid("finding_types", self.finding_types, "list at least one type")
        for entry in self.finding_types:
            if automated_playbook_for(entry) is None:
                raise invalid("finding_types", entry, "leads to no automated playbook")
        if not 1 <= self.min_severity <= 10:
            raise invalid("min_severity", self.min_severity, "must be between 1 and 10")
        if self.max_actions_per_hour < 0:
            raise invalid("max_actions_per_hour", self.max_actions_per_hour, "must be >= 0")
        if not 1 <= self.reserved_concurrency <= 50:
            raise invalid("reserved_concurrency", self.reserved_concurrency, "must be 1-50")
        if self.log_retention_days not in LOG_RETENTION_DAYS:
            raise invalid("log_retention_days", self.log_retention_days,
                          "must be a CloudWatch Logs retention value")
        check_deployable(
            region=self.region, name_prefix=self.name_prefix,
            log_group_name=self.log_group_name, layer_path=self.layer_path,
            code_root=self.code_root,
        )

    @property
    def role_name(self) -> str:
        return role_name(self.name_prefix, self.region)

    @property
    def layer_dir(self) -> Path:
        return layer_dir(self.layer_path, self.code_root)

    @property
    def guardduty_prefixes(self) -> list[str]:
        return [t for t in self.finding_types if not t.startswith(CONTROL_PREFIX)]

    @property
    def control_ids(self) -> list[str]:
        return [t[len(CONTROL_PREFIX):] for t in self.finding_types
                if t.startswith(CONTROL_PREFIX)]


def role_name(name_prefix: str, region: str) -> str:
    return f"{name_prefix}-automation-{region}"


def layer_dir(layer_path: str, code_root: str) -> Path:
    path = Path(layer_path)
    return path if path.is_absolute() else Path(code_root) / path


def check_deployable(
    *, region: str, name_prefix: str, log_group_name: str, layer_path: str,
    code_root: str = CODE_ROOT,
) -> None:
    """Names fit AWS and the code and its layer are on this machine. Also called by the
    composition before it registers anything: the names come from the stack name and the
    layer from the build, which the settings do not hold."""
    if not log_group_name.startswith("/"):
        raise invalid("log_group_name", log_group_name, "must start with /")
    role = role_name(name_prefix, region)
    if len(role) > 64:
        raise invalid("name_prefix", name_prefix,
                      f"makes the role name {role!r} longer than 64 characters")
    if not (Path(code_root) / PACKAGE / "automation" / "handler.py").is_file():
        raise invalid("code_root", code_root, f"holds no {PACKAGE}/automation/handler.py")
    layer = layer_dir(layer_path, code_root)
    if not (layer / "python").is_dir():
        raise invalid("layer_path", str(layer),
                      "holds no python/ directory: build the dependency layer with "
                      "`make automation-layer` before deploying with automation enabled")


def code_assets(code_root: str | Path) -> dict[str, pulumi.Asset | pulumi.Archive]:
    """The function's code: every source/data file of the package, by archive path."""
    root = Path(code_root)
    assets: dict[str, pulumi.Asset | pulumi.Archive] = {}
    for path in sorted((root / PACKAGE).rglob("*")):
        relative = path.relative_to(root)
        if (path.is_file() and path.suffix in INCLUDED_SUFFIXES
                and not EXCLUDED_PARTS.intersection(relative.parts)):
            assets[relative.as_posix()] = pulumi.FileAsset(str(path))
    return assets


def guardduty_pattern(prefixes: Sequence[str], min_severity: float) -> dict[str, Any]:
    return {
        "source": ["aws.guardduty"],
        "detail-type": ["GuardDuty Finding"],
        "detail": {
            "type": [{"prefix": p} for p in prefixes],
            "severity": [{"numeric": [">=", min_severity]}],
        },
    }


def security_hub_pattern(control_ids: Sequence[str], min_severity: float,
                         region: str) -> dict[str, Any]:
    labels = [label for label, top in _LABEL_TOP.items() if top >= min_severity]
    return {
        "source": ["aws.securityhub"],
        "detail-type": ["Security Hub Findings - Imported"],
        "detail": {
            "findings": {
                "Compliance": {"SecurityControlId": list(control_ids), "Status": ["FAILED"]},
                "Severity": {"Label": labels},
                "RecordState": ["ACTIVE"],
                "Workflow": {"Status": ["NEW"]},
                "Region": [region],
                "ProductName": [{"anything-but": ["GuardDuty"]}],
            }
        },
    }


def role_policy_document(actions: Sequence[str], log_group_arn: str, dlq_arn: str,
                         key_arns: Sequence[str], *, partition: str = "aws",
                         account_id: str = "*", name_prefix: str = "ir-readiness",
                         evidence_bucket_arn: str = "", deny_all_policy_arn: str = "") -> str:
    values = {"partition": partition, "account": account_id, "key_arns": list(key_arns),
              "evidence_bucket_arn": evidence_bucket_arn,
              "deny_all_policy": deny_all_policy_arn}
    wanted = set(actions)
    declared = {a: s for a, s in step_scopes(automated_steps()).items() if a in wanted}
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            # Steps act on whatever the finding names, each action on the resource scope
            # its step declares (runbooks.core.scopes); the handler's own calls are
            # scoped by NON_STEP_SCOPES.
            *policy_statements(declared, sorted(wanted - set(declared)), values,
                               sid_prefix="Automated", non_step_scopes=HANDLER_SCOPES),
            {
                "Sid": "WriteOwnLogs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": f"{log_group_arn}:log-stream:*",
            },
            {
                "Sid": "DeadLetterQueue",
                "Effect": "Allow",
                "Action": ["sqs:SendMessage"],
                "Resource": dlq_arn,
            },
            {
                "Sid": "UseStackKeys",
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                "Resource": sorted(set(key_arns)),
            },
            # iam.revoke-role-sessions writes an inline policy (its session cutoff
            # carries a time, so no managed policy can stand in for it) on any role a
            # finding names; never on the stack's own roles, this one included, nor on
            # ir:protected principals, or the function could write itself (or an
            # administrator) any permission.
            *never_widen_statements(partition, account_id, name_prefix,
                                    sid="NeverWidenStackRoles"),
        ],
    })


def queue_policy_document(queue_arn: str, rule_arns: Sequence[str], account_id: str) -> str:
    statements: list[dict[str, Any]] = [{
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "sqs:*",
        "Resource": queue_arn,
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }]
    if rule_arns:
        statements.insert(0, {
            "Sid": "AutomationRulesDeadLetters",
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": queue_arn,
            "Condition": {"ArnEquals": {"aws:SourceArn": list(rule_arns)},
                          "StringEquals": {"aws:SourceAccount": account_id}},
        })
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


class ResponseAutomation(pulumi.ComponentResource):
    """The automation function, its triggers, guardrails and alarms in one region."""

    function_arn: pulumi.Output[str]
    function_name: pulumi.Output[str]
    role_arn: pulumi.Output[str]
    dead_letter_queue_arn: pulumi.Output[str]
    log_group_name: pulumi.Output[str]
    rule_names: pulumi.Output[list[str]]
    mode: pulumi.Output[str]

    def __init__(self, name: str, args: ResponseAutomationArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        if not isinstance(args, ResponseAutomationArgs):
            raise TypeError("args must be a ResponseAutomationArgs")
        super().__init__(TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = dict(args.tags)
        prefix = args.name_prefix
        function_name = f"{prefix}-automation"

        log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs", name=args.log_group_name, kms_key_id=args.kms_key_arn,
            retention_in_days=args.log_retention_days, tags=tags, opts=child)
        dlq = aws.sqs.Queue(
            f"{name}-dlq", name=f"{prefix}-automation-dlq", kms_master_key_id=args.kms_key_arn,
            kms_data_key_reuse_period_seconds=300,
            message_retention_seconds=DLQ_RETENTION_SECONDS, tags=tags, opts=child)

        role = aws.iam.Role(
            f"{name}-role", name=args.role_name,
            description="ir-readiness response automation (containment steps only)",
            assume_role_policy=pulumi.Output.from_input(args.account_id).apply(
                lambda account: json.dumps({
                    "Version": "2012-10-17",
                    "Statement": [{
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                        "Condition": {"StringEquals": {"aws:SourceAccount": account}},
                    }],
                })),
            tags=tags, opts=child)
        policy = aws.iam.RolePolicy(
            f"{name}-policy", role=role.id,
            policy=pulumi.Output.all(log_group.arn, dlq.arn, args.account_id,
                                     args.evidence_bucket_arn, args.deny_all_policy_arn,
                                     *args.key_arns).apply(
                lambda values: role_policy_document(
                    automation_actions(), values[0], values[1], values[5:],
                    partition=args.partition, account_id=values[2], name_prefix=prefix,
                    evidence_bucket_arn=values[3], deny_all_policy_arn=values[4])),
            opts=child)

        layer = aws.lambda_.LayerVersion(
            f"{name}-deps", layer_name=f"{prefix}-automation-deps",
            description="jsonschema, pyyaml, click, rich for the runbooks (make automation-layer)",
            code=pulumi.FileArchive(str(args.layer_dir)),
            compatible_runtimes=[RUNTIME], compatible_architectures=[ARCHITECTURE],
            opts=child)

        function = aws.lambda_.Function(
            f"{name}-function", name=function_name,
            description="ir-readiness: contain GuardDuty / Security Hub findings (runbooks)",
            code=pulumi.AssetArchive(code_assets(args.code_root)),
            handler=HANDLER, runtime=RUNTIME, architectures=[ARCHITECTURE],
            role=role.arn, layers=[layer.arn], memory_size=512,
            timeout=FUNCTION_TIMEOUT_SECONDS,
            reserved_concurrent_executions=args.reserved_concurrency,
            kms_key_arn=args.kms_key_arn,
            dead_letter_config=aws.lambda_.FunctionDeadLetterConfigArgs(target_arn=dlq.arn),
            logging_config=aws.lambda_.FunctionLoggingConfigArgs(
                log_format="Text", log_group=log_group.name),
            environment=aws.lambda_.FunctionEnvironmentArgs(variables={
                "IR_AUTOMATION_MODE": args.mode,
                "IR_AUTOMATION_FINDING_TYPES": ",".join(args.finding_types),
                "IR_AUTOMATION_MIN_SEVERITY": str(args.min_severity),
                "IR_AUTOMATION_OPT_OUT_TAG": args.opt_out_tag,
                "IR_AUTOMATION_MAX_ACTIONS_PER_HOUR": str(args.max_actions_per_hour),
                # Lambda's only writable path; one invocation per sandbox at a time
                "IR_CASE_DIR": "/tmp/ir-cases",  # noqa: S108
            }),
            tags={**tags, "ir-readiness:automation-mode": args.mode},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[log_group, policy]))
        aws.lambda_.FunctionEventInvokeConfig(
            f"{name}-async", function_name=function.name,
            maximum_retry_attempts=FUNCTION_RETRY_ATTEMPTS,
            maximum_event_age_in_seconds=EVENT_MAX_AGE_SECONDS, opts=child)

        patterns: dict[str, dict[str, Any]] = {}
        if args.guardduty_prefixes:
            patterns["guardduty"] = guardduty_pattern(args.guardduty_prefixes,
                                                      args.min_severity)
        if args.control_ids:
            patterns["securityhub"] = security_hub_pattern(args.control_ids,
                                                           args.min_severity, args.region)
        rules: list[aws.cloudwatch.EventRule] = []
        for key, pattern in patterns.items():
            rule = aws.cloudwatch.EventRule(
                f"{name}-{key}", name=f"{prefix}-automation-{key}",
                description=f"ir-readiness automation: {key} findings to the response function",
                event_pattern=json.dumps(pattern), state="ENABLED", tags=tags, opts=child)
            aws.cloudwatch.EventTarget(
                f"{name}-{key}-target", rule=rule.name, target_id="response-automation",
                arn=function.arn,
                dead_letter_config=aws.cloudwatch.EventTargetDeadLetterConfigArgs(arn=dlq.arn),
                retry_policy=aws.cloudwatch.EventTargetRetryPolicyArgs(
                    maximum_event_age_in_seconds=EVENT_MAX_AGE_SECONDS,
                    maximum_retry_attempts=TARGET_RETRY_ATTEMPTS),
                opts=child)
            aws.lambda_.Permission(
                f"{name}-{key}-invoke", action="lambda:InvokeFunction",
                function=function.name, principal="events.amazonaws.com",
                source_arn=rule.arn, source_account=args.account_id, opts=child)
            rules.append(rule)

        aws.sqs.QueuePolicy(
            f"{name}-dlq-policy", queue_url=dlq.url,
            policy=pulumi.Output.all(dlq.arn, pulumi.Output.from_input(args.account_id),
                                     *[r.arn for r in rules]).apply(
                lambda v: queue_policy_document(v[0], v[2:], v[1])),
            opts=child)

        alarms: list[tuple[str, str, str, str, Mapping[str, pulumi.Input[str]], str]] = [
            ("errors", "The response automation function failed (containment failed, or a "
             "deployment problem); see its log group and dead-letter queue.",
             "AWS/Lambda", "Errors", {"FunctionName": function.name}, "Sum"),
            ("dlq", "Findings the response automation could not handle wait in its "
             "dead-letter queue; handle them by hand.",
             "AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": dlq.name},
             "Maximum"),
            ("dropped", "The response automation received events it could not read "
             "(dropped, not retried); check the rule patterns.",
             METRIC_NAMESPACE, "EventsDropped", {"Reason": "Malformed"}, "Sum"),
        ]
        for key, description, namespace, metric, dimensions, statistic in alarms:
            aws.cloudwatch.MetricAlarm(
                f"{name}-{key}-alarm", name=f"{prefix}-automation-{key}-{args.region}",
                alarm_description=description, namespace=namespace, metric_name=metric,
                dimensions=dimensions, statistic=statistic, period=300, evaluation_periods=1,
                threshold=1, comparison_operator="GreaterThanOrEqualToThreshold",
                treat_missing_data="notBreaching", alarm_actions=[args.alarm_topic_arn],
                ok_actions=[args.alarm_topic_arn], tags=tags, opts=child)

        self.function_arn = function.arn
        self.function_name = function.name
        self.role_arn = role.arn
        self.dead_letter_queue_arn = dlq.arn
        self.log_group_name = log_group.name
        self.rule_names = pulumi.Output.all(*[r.name for r in rules]).apply(list)
        self.mode = pulumi.Output.from_input(args.mode)
        self.register_outputs({
            "function_arn": self.function_arn,
            "function_name": self.function_name,
            "role_arn": self.role_arn,
            "dead_letter_queue_arn": self.dead_letter_queue_arn,
            "log_group_name": self.log_group_name,
            "rule_names": self.rule_names,
            "mode": self.mode,
        })
