"""`irctl status` against moto: a severity topic nobody has confirmed fails the check."""

from __future__ import annotations

import json
from typing import Any

from moto.core import DEFAULT_ACCOUNT_ID
from moto.sns import sns_backends

from runbooks.commands.status import live_checks
from runbooks.core.manifest_schema import Manifest
from tests.runbooks.conftest import REGION, Readiness


class _Sessions:
    """The one method `live_checks` uses of a SessionFactory."""

    def __init__(self, world: Readiness) -> None:
        self.world = world

    def client(self, service: str, region: str | None = None) -> Any:
        return self.world.client(service)


def _topics_check(world: Readiness) -> dict[str, Any]:
    checks = live_checks(_Sessions(world), Manifest.from_document(world.manifest), REGION)
    return next(c.to_dict() for c in checks if c.name == "Alert topics")


def _subscribe_all(world: Readiness) -> dict[str, str]:
    sns = world.client("sns")
    return {sev: sns.subscribe(TopicArn=arn, Protocol="email",
                               Endpoint=f"{sev}-oncall@example.com")["SubscriptionArn"]
            for sev, arn in world.manifest["topics"].items()}


def test_topics_each_with_a_confirmed_subscription_pass(readiness: Readiness) -> None:
    _subscribe_all(readiness)
    check = _topics_check(readiness)
    assert check["ok"], check["detail"]


def test_a_topic_without_any_subscription_fails_and_is_named(readiness: Readiness) -> None:
    subscriptions = _subscribe_all(readiness)
    readiness.client("sns").unsubscribe(SubscriptionArn=subscriptions["high"])

    check = _topics_check(readiness)

    assert not check["ok"]
    assert readiness.manifest["topics"]["high"] in check["detail"]
    assert readiness.manifest["topics"]["critical"] not in check["detail"]
    assert "reach nobody" in check["detail"]


def test_a_subscription_pending_confirmation_does_not_count(readiness: Readiness) -> None:
    subscriptions = _subscribe_all(readiness)
    # moto confirms email subscriptions at once; AWS leaves them pending until the
    # recipient clicks the link. Put the critical one in AWS's pending state.
    backend = sns_backends[DEFAULT_ACCOUNT_ID][REGION]
    backend.subscriptions[subscriptions["critical"]].attributes["PendingConfirmation"] = "true"
    assert readiness.client("sns").get_subscription_attributes(
        SubscriptionArn=subscriptions["critical"])["Attributes"]["PendingConfirmation"] == "true"

    check = _topics_check(readiness)

    assert not check["ok"]
    assert readiness.manifest["topics"]["critical"] in check["detail"]
    assert "pending confirmation: critical: email critical-oncall@example.com" in check["detail"]


def test_status_exits_non_zero_naming_the_unheard_topic(server_readiness: Readiness) -> None:
    world = server_readiness  # topics exist, nobody subscribed

    result = world.irctl("--output", "json", "status")

    report = json.loads(result.stdout)
    checks = {c["check"]: c for c in report["checks"]}
    assert result.returncode == 1 and report["ready"] is False
    assert not checks["Alert topics"]["ok"]
    for arn in world.manifest["topics"].values():
        assert arn in checks["Alert topics"]["detail"]


def _quarantine_check(world: Readiness) -> dict[str, Any]:
    checks = live_checks(_Sessions(world), Manifest.from_document(world.manifest), REGION)
    return next(c.to_dict() for c in checks if c.name == "Quarantine groups")


def test_a_quarantine_group_that_drifted_fails_naming_the_rule(readiness: Readiness) -> None:
    from tests.runbooks.conftest import launch_instances

    launch_instances(readiness, 1, volumes=1)
    assert _quarantine_check(readiness)["ok"]
    isolation = readiness.manifest["quarantine"][readiness.vpc_id]["isolationSecurityGroupId"]
    readiness.client("ec2").authorize_security_group_ingress(GroupId=isolation, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
         "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])

    check = _quarantine_check(readiness)

    assert not check["ok"]
    assert f"isolation group {isolation} of {readiness.vpc_id}: inbound tcp:22-22 0.0.0.0/0 " \
           "present" in check["detail"]
