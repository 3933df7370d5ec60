"""Detection and alerting that cannot fail silently (issue 19, sections 1-3), under mocks,
for the example stack and every organization example: every alert dead-letter queue has
an alarm to a topic outside the failed path; the manifest parameter and the quarantine
groups are watched; the organization trail's log group carries the CIS alarms; the
organization bus's targets are readable, retried and dead-lettered; Inspector is
administered for the organization; the member's log-query grant names a real group."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from components.alert_routing import placeholders
from components.audit_trail import CIS_CONTROLS
from components.mockrun import Evaluation, RegisteredResource, evaluate, load_stack_config
from runbooks.core.manifest_schema import MANIFEST_PARAMETER
from tests.components.conftest import as_list, by_sid, statements
from tests.components.event_matching import pattern_matches, resolve
from tests.components.test_organization import (
    MANAGEMENT,
    MEMBER,
    SECURITY,
    OrganizationMocks,
    run_example,
)

ROOT = Path(__file__).resolve().parents[2]
QUEUE = "aws:sqs/queue:Queue"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
TOPIC = "aws:sns/topic:Topic"
RULE = "aws:cloudwatch/eventRule:EventRule"
TARGET = "aws:cloudwatch/eventTarget:EventTarget"
SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
FILTER = "aws:cloudwatch/logMetricFilter:LogMetricFilter"
ACCOUNTS = {"management": MANAGEMENT, "security": SECURITY, "member": MEMBER}


def _single() -> Evaluation:
    config = load_stack_config(ROOT / "Pulumi.example.yaml")
    return evaluate(config, mocks=OrganizationMocks(default_region="eu-west-1"))


@pytest.fixture(scope="module")
def stacks() -> dict[str, Evaluation]:
    return {"single": _single(), **{role: run_example(role, account)
                                    for role, account in ACCOUNTS.items()}}


MODES = ("single", "management", "security", "member")


def _dead_letter_queue_arns(ev: Evaluation) -> set[str]:
    arns = {t.inputs["deadLetterConfig"]["arn"] for t in ev.of_type(TARGET)
            if t.inputs.get("deadLetterConfig")}
    arns |= {json.loads(s.inputs["redrivePolicy"])["deadLetterTargetArn"]
             for s in ev.of_type(SUBSCRIPTION) if s.inputs.get("redrivePolicy")}
    return arns


@pytest.mark.parametrize("mode", MODES)
def test_every_alert_dead_letter_queue_alarms_to_a_topic_outside_the_failed_path(
        stacks: dict[str, Evaluation], mode: str) -> None:
    ev = stacks[mode]
    queues = {q.outputs["arn"]: q for q in ev.of_type(QUEUE)}
    dead_letter = _dead_letter_queue_arns(ev)
    assert dead_letter, "no dead-letter queue at all?"
    alarms = [a for a in ev.of_type(ALARM) if a.inputs["namespace"] == "AWS/SQS"]
    topics = {t.outputs["arn"]: t for t in ev.of_type(TOPIC)}
    # topics anything but an alarm publishes to: the path an alert dead-letters from
    delivering = {t.inputs["arn"] for t in ev.of_type(TARGET)} | {
        s.inputs["topic"] for s in ev.of_type(SUBSCRIPTION) if s.inputs.get("redrivePolicy")}
    for arn in dead_letter:
        queue = queues[arn]
        watching = [a for a in alarms if a.region == queue.region
                    and a.inputs["dimensions"] == {"QueueName": queue.inputs["name"]}]
        assert len(watching) == 1, (mode, queue.name)
        alarm = watching[0].inputs
        assert alarm["metricName"] == "ApproximateNumberOfMessagesVisible"
        assert alarm["comparisonOperator"] == "GreaterThanThreshold" and alarm["threshold"] == 0
        assert alarm["evaluationPeriods"] == 1
        (action,) = alarm["alarmActions"]
        assert action in topics and action not in delivering, (mode, action)
        assert topics[action].inputs["kmsMasterKeyId"].startswith("arn:aws:kms:")
        # the alarm and its topic are in the queue's region
        assert topics[action].region == queue.region == watching[0].region
        # someone hears it: every alert-path topic subscribes the critical endpoints
        # where the stack configures any
        if mode == "single":
            assert any(s.inputs["topic"] == action for s in ev.of_type(SUBSCRIPTION))


@pytest.mark.parametrize("mode", MODES)
def test_every_dead_letter_queue_is_encrypted_and_written_only_by_its_rules_and_topics(
        stacks: dict[str, Evaluation], mode: str) -> None:
    ev = stacks[mode]
    policies = {(p.region, p.inputs["queueUrl"]): p
                for p in ev.of_type("aws:sqs/queuePolicy:QueuePolicy")}
    for queue in ev.of_type(QUEUE):
        assert queue.inputs["kmsMasterKeyId"].startswith("arn:aws:kms:")
        policy = policies[queue.region, queue.outputs["url"]].inputs["policy"]
        for statement in statements(policy):
            if statement["Effect"] == "Allow":
                assert set(statement["Principal"]) == {"Service"}
                assert statement["Condition"], (mode, statement)
        assert by_sid(policy)["DenyInsecureTransport"]["Effect"] == "Deny"


def _api_event(source: str, event_source: str, name: str, request: dict[str, Any]) -> dict:
    return {
        "version": "0", "id": "1", "source": source, "account": "123456789012",
        "detail-type": "AWS API Call via CloudTrail", "time": "2026-01-01T00:00:00Z",
        "region": "eu-west-1",
        "detail": {"eventSource": event_source, "eventName": name,
                   "userIdentity": {"arn": "arn:aws:iam::123456789012:user/mallory"},
                   "sourceIPAddress": "198.51.100.7", "requestParameters": request},
    }


@pytest.mark.parametrize("mode", ("single", "security", "member"))
def test_manifest_and_quarantine_group_changes_raise_a_high_alert(
        stacks: dict[str, Evaluation], mode: str) -> None:
    ev = stacks[mode]
    rules = {(r.region, r.inputs["name"]): r for r in ev.of_type(RULE)
             if "-watch-" in r.inputs.get("name", "")}
    targets = {(t.region, t.inputs["rule"]): t for t in ev.of_type(TARGET)
               if t.inputs.get("targetId") == "high-topic"}
    forwarded = {(t.region, t.inputs["rule"]): t for t in ev.of_type(TARGET)
                 if t.inputs.get("targetId") == "security-bus"}
    groups = {g.region: set() for g in ev.of_type("aws:ec2/securityGroup:SecurityGroup")}
    for group in ev.of_type("aws:ec2/securityGroup:SecurityGroup"):
        groups[group.region].add(group.outputs["id"])
    regions = {r.region for r in ev.of_type("aws:ssm/parameter:Parameter")}
    watched = {(r.region, r.inputs["name"].rsplit("-watch-", 1)[1]) for r in rules.values()}
    assert watched == {(region, kind) for region in regions
                       for kind in ("manifest", "quarantine-groups")}
    high = {t.outputs["arn"] for t in ev.of_type(TOPIC) if t.inputs["name"].endswith("-high")}
    for (region, name), rule in rules.items():
        pattern = json.loads(rule.inputs["eventPattern"])
        target = targets[region, name].inputs
        assert target["arn"] in high
        assert target["deadLetterConfig"]["arn"] and target["retryPolicy"]
        if mode == "member":  # the security account hears it too
            assert forwarded[region, name].inputs["arn"] == (
                f"arn:aws:events:{region}:{SECURITY}:event-bus/ir-readiness-org")
            assert forwarded[region, name].inputs["roleArn"]
        else:
            assert (region, name) not in forwarded
        transformer = target["inputTransformer"]
        assert placeholders(json.loads(transformer["inputTemplate"])) <= set(
            transformer["inputPaths"])
        if name.endswith("-manifest"):
            change = _api_event("aws.ssm", "ssm.amazonaws.com", "PutParameter",
                                {"name": MANIFEST_PARAMETER, "overwrite": True})
            assert pattern_matches(pattern, change)
            assert pattern_matches(pattern, _api_event(
                "aws.ssm", "ssm.amazonaws.com", "DeleteParameters",
                {"names": ["/other", MANIFEST_PARAMETER]}))
            assert not pattern_matches(pattern, _api_event(
                "aws.ssm", "ssm.amazonaws.com", "PutParameter", {"name": "/app/config"}))
            for path in transformer["inputPaths"].values():
                resolve(path, change)
        else:
            mine = sorted(groups[rule.region])[0]
            widened = _api_event("aws.ec2", "ec2.amazonaws.com",
                                 "AuthorizeSecurityGroupIngress", {"groupId": mine})
            assert pattern_matches(pattern, widened)
            assert pattern_matches(pattern, _api_event(
                "aws.ec2", "ec2.amazonaws.com", "ModifySecurityGroupRules",
                {"ModifySecurityGroupRulesRequest": {"GroupId": mine}}))
            assert not pattern_matches(pattern, _api_event(
                "aws.ec2", "ec2.amazonaws.com", "AuthorizeSecurityGroupIngress",
                {"groupId": "sg-0000000000000000f"}))
            assert set(pattern["detail"]["$or"][0]["requestParameters"]["groupId"]) == (
                groups[rule.region])


def _cis(ev: Evaluation, log_group: str) -> tuple[list[RegisteredResource], list[Any]]:
    filters = [f for f in ev.of_type(FILTER) if f.inputs["logGroupName"] == log_group]
    names = {f"ir-readiness-{c.key}" for c in CIS_CONTROLS}
    alarms = [a for a in ev.of_type(ALARM) if a.inputs["name"] in names]
    return filters, alarms


def test_the_organization_trail_log_group_carries_the_fifteen_cis_alarms(
        stacks: dict[str, Evaluation]) -> None:
    ev = stacks["management"]
    filters, alarms = _cis(ev, "/ir-readiness/organization-trail")
    assert len(CIS_CONTROLS) == 15
    assert {f.inputs["pattern"] for f in filters} == {c.pattern for c in CIS_CONTROLS}
    assert len(alarms) == 15
    topics = {t.outputs["arn"]: t.inputs["name"] for t in ev.of_type(TOPIC)}
    severity = {f"ir-readiness-{c.key}": c.severity for c in CIS_CONTROLS}
    for alarm in alarms:
        (action,) = alarm.inputs["alarmActions"]
        assert topics[action] == f"ir-readiness-{severity[alarm.inputs['name']]}"
        assert alarm.region == "eu-west-1"
    (group,) = [g for g in ev.of_type("aws:cloudwatch/logGroup:LogGroup")]
    # in the management account (the trail's provider), beside the group, not log archive
    assert {f.provider for f in filters} == {group.provider}
    # the security account hears them, whoever subscribed in the management account
    bus = f"arn:aws:events:eu-west-1:{SECURITY}:event-bus/ir-readiness-org"
    (forward,) = [t for t in ev.of_type(TARGET) if t.inputs["arn"] == bus]
    rule = next(r for r in ev.of_type(RULE) if r.outputs["name"] == forward.inputs["rule"])
    assert json.loads(rule.inputs["eventPattern"])["detail-type"] == [
        "CloudWatch Alarm State Change"]
    role = next(r for r in ev.of_type("aws:iam/role:Role")
                if r.outputs["arn"] == forward.inputs["roleArn"])
    (trust,) = statements(role.inputs["assumeRolePolicy"])
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": MANAGEMENT}


@pytest.mark.parametrize("mode", ("single", "security"))
def test_account_trails_keep_their_cis_alarms(stacks: dict[str, Evaluation], mode: str) -> None:
    ev = stacks[mode]
    (group,) = [g for g in ev.of_type("aws:cloudwatch/logGroup:LogGroup")
                if g.inputs["name"].endswith("/cloudtrail")]
    filters, alarms = _cis(ev, group.inputs["name"])
    assert len(filters) == len(alarms) == 15


def test_organization_bus_targets_are_readable_retried_and_dead_lettered(
        stacks: dict[str, Evaluation]) -> None:
    ev = stacks["security"]
    buses = ev.of_type("aws:cloudwatch/eventBus:EventBus")
    assert buses
    bus_targets = [t for t in ev.of_type(TARGET) if t.inputs.get("eventBusName")]
    assert len(bus_targets) == 6 * len(buses)
    queues = {q.outputs["arn"]: q for q in ev.of_type(QUEUE)}
    policies = {(p.region, p.inputs["queueUrl"]): p
                for p in ev.of_type("aws:sqs/queuePolicy:QueuePolicy")}
    rules = {(r.region, r.outputs["name"]): r for r in ev.of_type(RULE)
             if r.inputs.get("eventBusName")}
    for target in bus_targets:
        inputs = target.inputs
        transformer = inputs["inputTransformer"]
        template = json.loads(transformer["inputTemplate"])
        assert isinstance(template, str) and "<account>" in template
        assert placeholders(template) <= set(transformer["inputPaths"])
        assert inputs["retryPolicy"]["maximumRetryAttempts"] > 0
        queue = queues[inputs["deadLetterConfig"]["arn"]]
        assert queue.region == target.region
        assert queue.inputs["name"] == "ir-readiness-org-dlq"
        writers = by_sid(policies[queue.region, queue.outputs["url"]].inputs["policy"])[
            "BusRulesDeadLetters"]
        assert rules[target.region, inputs["rule"]].outputs["arn"] in as_list(
            writers["Condition"]["ArnEquals"]["aws:SourceArn"])
    for _region, name in rules:
        assert name in {"org-guardduty-crit", "org-guardduty-high", "org-securityhub",
                        "org-alarms", "org-tampering", "org-readiness-changes"}


def test_alarm_events_render_a_sentence() -> None:
    from components.security_event_bus import RULES, TRANSFORMERS

    event = {"version": "0", "id": "1", "source": "aws.cloudwatch", "account": MEMBER,
             "detail-type": "CloudWatch Alarm State Change", "time": "2026-01-01T00:00:00Z",
             "region": "eu-west-1",
             "detail": {"alarmName": "ir-readiness-alerts-dlq-not-empty",
                        "state": {"value": "ALARM", "reason": "Threshold Crossed"},
                        "configuration": {"description": "alerts are not delivered"}}}
    assert pattern_matches(RULES["org-alarms"][1], event)
    paths, template = TRANSFORMERS["org-alarms"]
    for key, path in paths.items():
        assert key in placeholders(template)
        resolve(path, event)


def test_inspector_is_delegated_and_auto_enabled_for_members(
        stacks: dict[str, Evaluation]) -> None:
    management, security = stacks["management"], stacks["security"]
    delegated = management.of_type("aws:inspector2/delegatedAdminAccount:DelegatedAdminAccount")
    assert sorted(d.region for d in delegated) == ["eu-west-1", "us-east-1"]
    assert {d.inputs["accountId"] for d in delegated} == {SECURITY}
    configs = security.of_type(
        "aws:inspector2/organizationConfiguration:OrganizationConfiguration")
    assert sorted(c.region for c in configs) == ["eu-west-1", "us-east-1"]
    for config in configs:
        assert config.inputs["autoEnable"] == {"ec2": True, "ecr": True, "lambda": True}


def test_inspector_off_creates_no_organization_administration() -> None:
    config = load_stack_config(ROOT / "Pulumi.org-management.example.yaml")
    config["ir:guardDuty"] = json.dumps({"inspector": False})
    ev = evaluate(config, mocks=OrganizationMocks(account_id=MANAGEMENT,
                                                  default_region="eu-west-1"))
    assert not ev.of_type("aws:inspector2/delegatedAdminAccount:DelegatedAdminAccount")


def test_member_log_query_grant_names_the_organization_trail_group_that_exists(
        stacks: dict[str, Evaluation]) -> None:
    member, management = stacks["member"], stacks["management"]
    (group,) = management.of_type("aws:cloudwatch/logGroup:LogGroup")
    expected = f"arn:aws:logs:eu-west-1:{MANAGEMENT}:log-group:{group.inputs['name']}"
    (policy,) = [p for p in member.of_type("aws:iam/rolePolicy:RolePolicy")
                 if p.name.endswith("-investigator-read")]
    query = by_sid(policy.inputs["policy"])["QueryTrailLogs"]
    assert query["Resource"] == [expected, f"{expected}:log-stream:*"]


@pytest.mark.parametrize("mode", MODES)
def test_stack_outputs_list_pending_confirmations_and_the_alert_path(
        stacks: dict[str, Evaluation], mode: str) -> None:
    outputs = stacks[mode].outputs
    assert set(outputs["pendingSubscriptions"]) == set(outputs["alertPathTopicArns"])
    for pending in outputs["pendingSubscriptions"].values():
        assert pending == []  # the mocks confirm every subscription


def test_a_forwarded_member_change_reaches_the_high_topic_as_a_sentence() -> None:
    from components.alert_routing import group_change_pattern, manifest_change_pattern
    from components.security_event_bus import BUS_ONLY_RULES, RULES, TRANSFORMERS

    severity, pattern = BUS_ONLY_RULES["org-readiness-changes"]
    assert severity == "high" and "org-readiness-changes" not in RULES  # no member mirror
    widened = _api_event("aws.ec2", "ec2.amazonaws.com", "AuthorizeSecurityGroupIngress",
                         {"groupId": "sg-0123456789abcdef0"})
    manifest = _api_event("aws.ssm", "ssm.amazonaws.com", "PutParameter",
                          {"name": MANIFEST_PARAMETER})
    # whatever a member's watch forwards, the bus rule takes
    assert pattern_matches(group_change_pattern(["sg-0123456789abcdef0"]), widened)
    assert pattern_matches(manifest_change_pattern(MANIFEST_PARAMETER), manifest)
    for event in (widened, manifest):
        assert pattern_matches(pattern, event)
        paths, template = TRANSFORMERS["org-readiness-changes"]
        assert placeholders(template) <= set(paths)
        for path in paths.values():
            resolve(path, event)
