"""Every taggable child of the five regional components carries the Args tags.

Taggability is read from the installed pulumi-aws classes (a ``tags`` constructor
argument), so a new child resource that accepts tags but is created without them fails
here even if nobody remembered to write a test for it.
"""

from __future__ import annotations

import importlib
import inspect

import pulumi

from components.alert_routing import AlertRouting, AlertRoutingArgs, AlertSubscription
from components.backup_protection import BackupProtection, BackupProtectionArgs
from components.quarantine_network import QuarantineNetwork, QuarantineNetworkArgs
from components.security_findings import SecurityFindings, SecurityFindingsArgs
from components.threat_detection import ThreatDetection, ThreatDetectionArgs
from tests.components.regional_mocks import ACCOUNT_ID, descends_from, provider, run

REGION = "eu-west-1"
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
TAGS = {"team": "secops", "cost-center": "1234"}


def _accepts_tags(type_token: str) -> bool:
    _, module_path, class_name = type_token.split(":")
    module = module_path.split("/")[0]
    module = {"lambda": "lambda_"}.get(module, module)
    cls = getattr(importlib.import_module(f"pulumi_aws.{module}"), class_name)
    return "tags" in inspect.signature(cls._internal_init).parameters


def test_all_taggable_children_carry_the_args_tags():
    def program():
        opts = pulumi.ResourceOptions(providers={"aws": provider(REGION)})
        alerts = AlertRouting("alerts", AlertRoutingArgs(
            region=REGION, account_id=ACCOUNT_ID, kms_key_arn=KEY, tags=TAGS,
            subscriptions={"critical": (AlertSubscription("email", "soc@example.com"),)},
        ), opts=opts)
        ThreatDetection("threats", ThreatDetectionArgs(
            account_id=ACCOUNT_ID, findings_destination_arn="arn:aws:s3:::evidence/gd",
            findings_kms_key_arn=KEY, tags=TAGS,
        ), opts=opts)
        SecurityFindings("findings", SecurityFindingsArgs(
            region=REGION, home_region=REGION, covered_regions=(REGION, "us-east-1"),
        ), opts=opts)
        BackupProtection("backup", BackupProtectionArgs(
            region=REGION, account_id=ACCOUNT_ID, kms_key_arn=KEY,
            alert_topic_arn=alerts.high_topic_arn, tags=TAGS,
            continuous_backup_days=14,
        ), opts=opts)
        QuarantineNetwork("quarantine", QuarantineNetworkArgs(
            vpc_id="vpc-0abc12345def67890", tags=TAGS), opts=opts)
        return alerts.rule_names

    result = run(program)
    components = [r for r in result.resources if r.type.startswith("ir-readiness:index:")]
    assert len(components) == 5
    children = result.aws_resources()
    taggable = [r for r in children if _accepts_tags(r.type)]
    untaggable = {r.type for r in children} - {r.type for r in taggable}
    assert "aws:sns/topic:Topic" in {r.type for r in taggable}
    assert "aws:guardduty/detectorFeature:DetectorFeature" in untaggable  # the check discriminates
    for resource in taggable:
        assert {k: resource.inputs.get("tags", {}).get(k) for k in TAGS} == TAGS, resource.name
    # and every aws resource belongs to one of the components, in the component's region
    for resource in children:
        assert any(descends_from(result, resource, c.urn) for c in components), resource.name
        assert resource.region == REGION
    names = [r.name for r in result.resources]
    assert len(names) == len(set(names)), "duplicate logical names"
