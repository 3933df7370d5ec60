"""AlertRouting under Pulumi mocks: encrypted topics, narrow topic and queue policies,
subscriptions with a dead-letter queue, and rules whose patterns and input transformers
are evaluated against sample events."""

from __future__ import annotations

import copy
import fnmatch
import json
import re

import pulumi
import pytest
from moto.events.models import EventPattern

from components.alert_routing import (
    ALERT_RULES,
    COMPONENT_TYPE,
    SEVERITIES,
    AlertRouting,
    AlertRoutingArgs,
    AlertSubscription,
    placeholders,
)
from tests.components.event_matching import pattern_matches, resolve
from tests.components.regional_mocks import ACCOUNT_ID, descends_from, provider, run

TOPIC = "aws:sns/topic:Topic"
TOPIC_POLICY = "aws:sns/topicPolicy:TopicPolicy"
SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
QUEUE = "aws:sqs/queue:Queue"
QUEUE_POLICY = "aws:sqs/queuePolicy:QueuePolicy"
RULE = "aws:cloudwatch/eventRule:EventRule"
TARGET = "aws:cloudwatch/eventTarget:EventTarget"
REGION = "eu-west-1"
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
WEBHOOK = "https://events.example.com/integration/0123456789abcdef/enqueue"
SUBSCRIPTIONS = {
    "critical": (
        AlertSubscription("email", "soc@example.com"),
        AlertSubscription("https", WEBHOOK, raw_message_delivery=True),
    ),
    "high": (AlertSubscription("sqs", f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:soc-intake"),),
    "info": (AlertSubscription("lambda", f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:triage"),),
}


def _args(**overrides) -> AlertRoutingArgs:
    values = {
        "region": REGION,
        "account_id": ACCOUNT_ID,
        "kms_key_arn": KEY_ARN,
        "subscriptions": SUBSCRIPTIONS,
        "tags": {"project": "ir-readiness"},
        **overrides,
    }
    return AlertRoutingArgs(**values)


@pytest.fixture(scope="module")
def routed():
    def program():
        routing = AlertRouting(
            f"alerts-{REGION}", _args(),
            opts=pulumi.ResourceOptions(providers={"aws": provider(REGION)}),
        )
        return {
            "topics": routing.topic_arns,
            "critical": routing.critical_topic_arn,
            "dlq": routing.dead_letter_queue_arn,
            "rules": routing.rule_names,
        }

    return run(program)


# ---------------------------------------------------------------- sample events

def _guardduty_finding(severity: float) -> dict:
    return {
        "version": "0", "id": "7bf73129-1428-4cd3-a780-95db273d1602",
        "detail-type": "GuardDuty Finding", "source": "aws.guardduty",
        "account": ACCOUNT_ID, "time": "2026-11-28T03:00:00Z", "region": REGION,
        "resources": [],
        "detail": {
            "schemaVersion": "2.0", "accountId": ACCOUNT_ID, "region": REGION,
            "partition": "aws", "id": "16afba5c5c43e07c9e3e5e2e544e95df",
            "arn": f"arn:aws:guardduty:{REGION}:{ACCOUNT_ID}:detector/x/finding/y",
            "type": "CryptoCurrency:EC2/BitcoinTool.B!DNS",
            "resource": {"resourceType": "Instance",
                         "instanceDetails": {"instanceId": "i-0123456789abcdef0"}},
            "service": {"serviceName": "guardduty", "count": 3},
            "severity": severity,
            "createdAt": "2026-11-28T02:55:00Z", "updatedAt": "2026-11-28T02:59:00Z",
            "title": "EC2 instance i-0123456789abcdef0 is querying a bitcoin domain.",
            "description": "...",
        },
    }


def _securityhub_finding(label: str, workflow: str = "NEW", product: str = "Inspector") -> dict:
    return {
        "version": "0", "id": "8e5622f9-d81c-4d81-612a-9319e7ee2506",
        "detail-type": "Security Hub Findings - Imported", "source": "aws.securityhub",
        "account": ACCOUNT_ID, "time": "2026-11-28T03:00:00Z", "region": REGION,
        "resources": [f"arn:aws:securityhub:{REGION}:{ACCOUNT_ID}:finding/abc"],
        "detail": {"findings": [{
            "SchemaVersion": "2018-10-08", "Id": "abc", "ProductName": product,
            "CompanyName": "Amazon", "Region": REGION, "AwsAccountId": ACCOUNT_ID,
            "GeneratorId": "AWSInspector", "Types": ["Software and Configuration Checks/CVE"],
            "Severity": {"Label": label, "Normalized": 90},
            "Title": "CVE-2026-0001 - openssl",
            "Resources": [{"Type": "AwsEc2Instance", "Region": REGION,
                           "Id": f"arn:aws:ec2:{REGION}:{ACCOUNT_ID}:instance/i-0abc"}],
            "Workflow": {"Status": workflow}, "RecordState": "ACTIVE",
        }]},
    }


def _signin(identity_type: str) -> dict:
    return {
        "version": "0", "id": "1", "detail-type": "AWS Console Sign In via CloudTrail",
        "source": "aws.signin", "account": ACCOUNT_ID, "time": "2026-11-28T03:00:00Z",
        "region": "us-east-1", "resources": [],
        "detail": {
            "eventVersion": "1.08",
            "userIdentity": {"type": identity_type, "principalId": ACCOUNT_ID,
                             "arn": f"arn:aws:iam::{ACCOUNT_ID}:root", "accountId": ACCOUNT_ID},
            "eventSource": "signin.amazonaws.com", "eventName": "ConsoleLogin",
            "awsRegion": "us-east-1", "sourceIPAddress": "203.0.113.7",
            "requestParameters": None, "responseElements": {"ConsoleLogin": "Success"},
            "additionalEventData": {"MFAUsed": "No"}, "eventType": "AwsConsoleSignIn",
        },
    }


def _api_call(service: str, event_name: str, request: dict | None = None) -> dict:
    return {
        "version": "0", "id": "2", "detail-type": "AWS API Call via CloudTrail",
        "source": f"aws.{service}", "account": ACCOUNT_ID, "time": "2026-11-28T03:00:00Z",
        "region": REGION, "resources": [],
        "detail": {
            "eventVersion": "1.08",
            "userIdentity": {"type": "AssumedRole",
                             "arn": f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/admin/mallory"},
            "eventTime": "2026-11-28T03:00:00Z", "eventSource": f"{service}.amazonaws.com",
            "eventName": event_name, "awsRegion": REGION, "sourceIPAddress": "198.51.100.9",
            "requestParameters": request or {}, "responseElements": None,
        },
    }


def _backup_job(kind: str, state: str) -> dict:
    return {
        "version": "0", "id": "3", "detail-type": kind, "source": "aws.backup",
        "account": ACCOUNT_ID, "time": "2026-11-28T03:00:00Z", "region": REGION,
        "resources": [f"arn:aws:backup:{REGION}:{ACCOUNT_ID}:backup-job:1"],
        "detail": {"backupJobId": "1", "backupVaultName": "ir-readiness", "state": state,
                   "resourceArn": f"arn:aws:rds:{REGION}:{ACCOUNT_ID}:db:orders",
                   "resourceType": "RDS", "statusMessage": "Access denied"},
    }


# every sample event and exactly the rules that must fire on it
SAMPLES = [
    ("guardduty 9.5", _guardduty_finding(9.5), {"guardduty-critical"}),
    ("guardduty 9.0", _guardduty_finding(9.0), {"guardduty-critical"}),
    ("guardduty 8.9", _guardduty_finding(8.9), {"guardduty-high"}),
    ("guardduty 7", _guardduty_finding(7), {"guardduty-high"}),
    ("guardduty 5.5", _guardduty_finding(5.5), {"guardduty-medium"}),
    ("guardduty 2", _guardduty_finding(2), set()),
    ("securityhub critical", _securityhub_finding("CRITICAL"), {"securityhub-critical"}),
    ("securityhub high", _securityhub_finding("HIGH"), {"securityhub-high"}),
    ("securityhub medium", _securityhub_finding("MEDIUM"), set()),
    ("securityhub notified", _securityhub_finding("CRITICAL", workflow="NOTIFIED"), set()),
    ("securityhub guardduty copy", _securityhub_finding("HIGH", product="GuardDuty"), set()),
    ("root sign-in", _signin("Root"), {"root-console-signin"}),
    ("iam user sign-in", _signin("IAMUser"), set()),
    ("StopLogging", _api_call("cloudtrail", "StopLogging", {"name": "org-trail"}),
     {"cloudtrail-tampering"}),
    ("DeleteTrail", _api_call("cloudtrail", "DeleteTrail", {"name": "org-trail"}),
     {"cloudtrail-tampering"}),
    ("UpdateTrail", _api_call("cloudtrail", "UpdateTrail", {"name": "org-trail"}),
     {"cloudtrail-tampering"}),
    ("StartLogging", _api_call("cloudtrail", "StartLogging", {"name": "org-trail"}), set()),
    ("DeleteDetector", _api_call("guardduty", "DeleteDetector", {"detectorId": "d"}),
     {"guardduty-tampering"}),
    ("UpdateDetector off", _api_call("guardduty", "UpdateDetector", {"enable": False}),
     {"guardduty-tampering"}),
    ("UpdateDetector on", _api_call("guardduty", "UpdateDetector", {"enable": True}), set()),
    ("Disassociate", _api_call("guardduty", "DisassociateFromAdministratorAccount"),
     {"guardduty-tampering"}),
    ("archive filter", _api_call("guardduty", "CreateFilter", {"action": "ARCHIVE"}),
     {"guardduty-tampering"}),
    ("noop filter", _api_call("guardduty", "CreateFilter", {"action": "NOOP"}), set()),
    ("DisableSecurityHub", _api_call("securityhub", "DisableSecurityHub"),
     {"securityhub-tampering"}),
    ("BatchDisableStandards", _api_call("securityhub", "BatchDisableStandards"),
     {"securityhub-tampering"}),
    ("BatchEnableStandards", _api_call("securityhub", "BatchEnableStandards"), set()),
    ("DeleteBackupVault", _api_call("backup", "DeleteBackupVault"), {"backup-tampering"}),
    ("DeleteRecoveryPoint", _api_call("backup", "DeleteRecoveryPoint"), {"backup-tampering"}),
    ("DeleteBackupVaultLockConfiguration",
     _api_call("backup", "DeleteBackupVaultLockConfiguration"), {"backup-tampering"}),
    ("StartBackupJob", _api_call("backup", "StartBackupJob"), set()),
    ("backup job failed", _backup_job("Backup Job State Change", "FAILED"),
     {"backup-job-failed"}),
    ("copy job aborted", _backup_job("Copy Job State Change", "ABORTED"),
     {"backup-job-failed"}),
    ("backup job completed", _backup_job("Backup Job State Change", "COMPLETED"), set()),
]


# ---------------------------------------------------------------- topics and policies

def test_one_kms_encrypted_topic_per_severity(routed):
    topics = routed.of_type(TOPIC)
    assert sorted(t.inputs["name"] for t in topics) == [f"ir-readiness-{s}" for s in
                                                        sorted(SEVERITIES)]
    for topic in topics:
        assert topic.inputs["kmsMasterKeyId"] == KEY_ARN
        assert topic.inputs["signatureVersion"] == 2
        assert topic.inputs["tags"]["project"] == "ir-readiness"
        assert topic.region == REGION
    assert set(routed.outputs["topics"]) == set(SEVERITIES)
    assert routed.outputs["critical"] == routed.outputs["topics"]["critical"]


def _policies(routed) -> dict[str, dict]:
    return {p.inputs["arn"]: json.loads(p.inputs["policy"]) for p in routed.of_type(TOPIC_POLICY)}


def test_topic_policies_admit_only_the_account_and_service_publishers_with_source_conditions(
    routed,
):
    policies = _policies(routed)
    assert set(policies) == set(routed.outputs["topics"].values())
    for topic_arn, policy in policies.items():
        allows = [s for s in policy["Statement"] if s["Effect"] == "Allow"]
        services = {}
        for statement in allows:
            assert statement["Resource"] == topic_arn
            principal = statement["Principal"]
            assert principal != "*" and principal.get("AWS") != "*"
            if "AWS" in principal:
                assert principal == {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"}
                continue
            service = principal["Service"]
            services[service] = statement
            assert statement["Action"] == "SNS:Publish"
            assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT_ID}
        assert set(services) == {
            "events.amazonaws.com", "cloudwatch.amazonaws.com", "backup.amazonaws.com",
        }
        rule_pattern = services["events.amazonaws.com"]["Condition"]["ArnLike"]["aws:SourceArn"]
        alarm_pattern = services["cloudwatch.amazonaws.com"]["Condition"]["ArnLike"][
            "aws:SourceArn"]
        own_rule = f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/ir-readiness-root-console-signin"
        assert fnmatch.fnmatchcase(own_rule, rule_pattern)
        assert not fnmatch.fnmatchcase(own_rule.replace(ACCOUNT_ID, "210987654321"), rule_pattern)
        assert not fnmatch.fnmatchcase(own_rule.replace(REGION, "us-west-2"), rule_pattern)
        assert fnmatch.fnmatchcase(
            f"arn:aws:cloudwatch:{REGION}:{ACCOUNT_ID}:alarm:cis-root-usage", alarm_pattern
        )
        (deny,) = [s for s in policy["Statement"] if s["Effect"] == "Deny"]
        assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


# ---------------------------------------------------------------- subscriptions and DLQ

def test_subscriptions_go_to_their_severity_topic_with_the_dead_letter_queue(routed):
    topics = routed.outputs["topics"]
    dlq_arn = routed.outputs["dlq"]
    subscriptions = routed.of_type(SUBSCRIPTION)
    expected = {(topics[sev], s.protocol, s.endpoint)
                for sev, subs in SUBSCRIPTIONS.items() for s in subs}
    assert {(s.inputs["topic"], s.inputs["protocol"], s.inputs["endpoint"])
            for s in subscriptions} == expected
    for subscription in subscriptions:
        assert json.loads(subscription.inputs["redrivePolicy"]) == {
            "deadLetterTargetArn": dlq_arn
        }
    https = next(s for s in subscriptions if s.inputs["protocol"] == "https")
    assert https.inputs["rawMessageDelivery"] is True


def test_webhook_endpoint_is_stored_as_a_secret_and_addresses_are_not(routed):
    by_protocol = {s.inputs["protocol"]: s for s in routed.of_type(SUBSCRIPTION)}
    assert by_protocol["https"].secret_inputs == {"endpoint"}
    for protocol in ("email", "sqs", "lambda"):
        assert by_protocol[protocol].secret_inputs == set()


def test_dead_letter_queue_is_encrypted_and_accepts_only_these_topics_and_rules(routed):
    queue = routed.one(QUEUE)
    assert queue.inputs["kmsMasterKeyId"] == KEY_ARN
    assert queue.inputs["messageRetentionSeconds"] == 1_209_600
    policy = json.loads(routed.one(QUEUE_POLICY).inputs["policy"])
    allows = {s["Principal"]["Service"]: s for s in policy["Statement"] if s["Effect"] == "Allow"}
    assert set(allows) == {"sns.amazonaws.com", "events.amazonaws.com"}
    for statement in allows.values():
        assert statement["Action"] == "sqs:SendMessage"
        assert statement["Resource"] == routed.outputs["dlq"]
    assert sorted(allows["sns.amazonaws.com"]["Condition"]["ArnEquals"]["aws:SourceArn"]) == (
        sorted(routed.outputs["topics"].values())
    )
    rule_arns = allows["events.amazonaws.com"]["Condition"]["ArnEquals"]["aws:SourceArn"]
    assert sorted(rule_arns) == sorted(
        f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/{n}" for n in routed.outputs["rules"]
    )


# ---------------------------------------------------------------- rules

def test_every_rule_is_registered_enabled_with_a_target_on_its_severity_topic(routed):
    topics = routed.outputs["topics"]
    rules = {r.inputs["name"]: r for r in routed.of_type(RULE)}
    assert set(rules) == {f"ir-readiness-{spec.key}" for spec in ALERT_RULES}
    assert sorted(routed.outputs["rules"]) == sorted(rules)
    targets = {t.inputs["rule"]: t for t in routed.of_type(TARGET)}
    assert set(targets) == set(rules)
    for spec in ALERT_RULES:
        name = f"ir-readiness-{spec.key}"
        rule = rules[name]
        assert rule.inputs["state"] == "ENABLED"
        assert json.loads(rule.inputs["eventPattern"]) == spec.pattern
        target = targets[name]
        assert target.inputs["arn"] == topics[spec.severity]
        assert target.inputs["deadLetterConfig"] == {"arn": routed.outputs["dlq"]}
        transformer = target.inputs["inputTransformer"]
        assert transformer["inputPaths"] == spec.input_paths
        assert json.loads(transformer["inputTemplate"]) == spec.template


@pytest.mark.parametrize(("label", "event", "expected"), SAMPLES, ids=[s[0] for s in SAMPLES])
def test_patterns_fire_exactly_the_expected_rules(routed, label, event, expected):
    patterns = {
        r.inputs["name"].removeprefix("ir-readiness-"): json.loads(r.inputs["eventPattern"])
        for r in routed.of_type(RULE)
    }
    fired = {key for key, pattern in patterns.items() if pattern_matches(pattern, event)}
    assert fired == expected
    # moto's matcher cannot walk arrays of objects; everywhere else the two must agree
    for key, pattern in patterns.items():
        if key.startswith("securityhub-") and "findings" in json.dumps(pattern):
            continue
        moto_says = EventPattern.load(json.dumps(pattern)).matches_event(copy.deepcopy(event))
        assert moto_says == (key in expected), f"moto disagrees on {key} for {label}"


def test_every_rule_has_a_sample_that_fires_it():
    fired = set().union(*(expected for _, _, expected in SAMPLES))
    assert fired == {spec.key for spec in ALERT_RULES}


@pytest.mark.parametrize("spec", ALERT_RULES, ids=[s.key for s in ALERT_RULES])
def test_input_transformers_reference_paths_present_in_matching_events(spec):
    events = [event for _, event, expected in SAMPLES if spec.key in expected]
    assert events, f"no sample event for {spec.key}"
    assert placeholders(spec.template) == set(spec.input_paths)
    assert len(spec.input_paths) <= 100  # EventBridge limit
    for event in events:
        rendered = spec.template
        for name, path in spec.input_paths.items():
            value = resolve(path, event)
            assert value is not None and not isinstance(value, (dict, list)), (name, path)
            rendered = rendered.replace(f"<{name}>", str(value))
        assert not re.search(r"<[A-Za-z0-9_.-]+>", rendered)
        assert event["account"] in rendered or ACCOUNT_ID in rendered
    # the template is a JSON string, so SNS delivers one readable sentence
    assert json.loads(spec.input_template) == spec.template


def test_guardduty_bands_do_not_overlap_or_leave_gaps_above_four():
    guardduty = [spec for spec in ALERT_RULES if spec.key.startswith("guardduty-")
                 and "severity" in spec.pattern.get("detail", {})]
    for tenth in range(10, 101):
        severity = tenth / 10
        event = _guardduty_finding(severity)
        matched = [spec.severity for spec in guardduty if pattern_matches(spec.pattern, event)]
        assert len(matched) == (1 if severity >= 4 else 0), severity
        if matched:
            want = "critical" if severity >= 9 else "high" if severity >= 7 else "info"
            assert matched == [want], severity


def test_children_are_parented_and_tagged(routed):
    component = routed.one(COMPONENT_TYPE)
    for child in routed.aws_resources():
        assert descends_from(routed, child, component.urn)
        assert child.region == REGION
    for typ in (TOPIC, QUEUE, RULE):
        for resource in routed.of_type(typ):
            assert resource.inputs["tags"]["project"] == "ir-readiness"


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: AlertSubscription("http", "http://example.com"), "http is refused"),
        (lambda: AlertSubscription("sms", "+15555550100"), "subscriptions.protocol='sms'"),
        (lambda: AlertSubscription("email", "soc-at-example"), "an email address"),
        (lambda: AlertSubscription("https", "ftp://example.com"), "an https:// URL"),
        (lambda: AlertSubscription("https", "https://user:hunter2@example.com/hook"),
         "credentials in the URL"),
        (lambda: AlertSubscription("sqs", "soc-intake"), "subscriptions.endpoint='soc-intake'"),
        (lambda: AlertSubscription("lambda", f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:layer:x"),
         "function:"),
        (lambda: AlertSubscription("email", "soc@example.com", raw_message_delivery=True),
         "only sqs and https"),
        (lambda: _args(region="Ireland"), "region='Ireland' is invalid"),
        (lambda: _args(account_id="12"), "account_id='12' is invalid"),
        (lambda: _args(kms_key_arn="alias/aws/sns"), "kms_key_arn='alias/aws/sns'"),
        (lambda: _args(subscriptions={"urgent": ()}), "subscriptions='urgent' is invalid"),
        (lambda: _args(subscriptions={"high": ("soc@example.com",)}),
         "a tuple of AlertSubscription"),
        (lambda: _args(subscriptions={"high": (AlertSubscription("email", "a@b.io"),
                                               AlertSubscription("email", "a@b.io"))}),
         "listed twice"),
        (lambda: _args(subscriptions={"info": (AlertSubscription(
            "lambda", f"arn:aws:lambda:us-east-1:{ACCOUNT_ID}:function:f"),)}),
         "topic's region (eu-west-1) only"),
        (lambda: _args(topic_name_prefix="ir readiness"), "topic_name_prefix='ir readiness'"),
        (lambda: _args(publisher_services=("s3.amazonaws.com",)), "publisher_services="),
        (lambda: _args(publisher_services=("backup.amazonaws.com",)),
         "events.amazonaws.com is required"),
        (lambda: _args(partition="azure"), "partition='azure'"),
        (lambda: _args(tags={"aws:cloudformation:x": "1"}), "reserved by AWS"),
    ],
)
def test_invalid_args_name_the_field_and_value(make, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        make()


def test_errors_never_echo_a_webhook_token():
    with pytest.raises(ValueError) as caught:
        _args(subscriptions={"high": (AlertSubscription("https", WEBHOOK),
                                      AlertSubscription("https", WEBHOOK))})
    assert "0123456789abcdef" not in str(caught.value)
    assert "events.example.com" in str(caught.value)


def test_subscribes_a_queue_of_the_same_program_by_its_output_arn():
    """A platform team's program: the intake queue is a resource of the same program,
    subscribed by `queue.arn` (an Output), not a plain ARN."""
    import pulumi_aws as aws

    def program():
        regional = provider(REGION)
        queue = aws.sqs.Queue("soc-intake", name="soc-intake",
                              opts=pulumi.ResourceOptions(provider=regional))
        routing = AlertRouting(
            f"alerts-{REGION}",
            _args(subscriptions={"high": (AlertSubscription("sqs", queue.arn),)}),
            opts=pulumi.ResourceOptions(providers={"aws": regional}),
        )
        return {"queue": queue.arn, "high": routing.high_topic_arn}

    result = run(program)
    intake = next(q for q in result.of_type(QUEUE) if q.name == "soc-intake")
    (sub,) = result.of_type(SUBSCRIPTION)
    assert sub.inputs["endpoint"] == result.outputs["queue"] == intake.outputs["arn"]
    assert sub.inputs["endpoint"] == f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:soc-intake"
    assert intake.urn in sub.property_dependencies["endpoint"]
    assert sub.inputs["topic"] == result.outputs["high"]


def test_a_plain_endpoint_is_still_checked_when_outputs_are_allowed():
    with pytest.raises(ValueError, match="expected an sqs ARN"):
        AlertSubscription("sqs", "soc-intake")
