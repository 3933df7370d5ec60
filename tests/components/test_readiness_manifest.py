"""ReadinessManifest: one SSM parameter whose value satisfies the manifest v1 schema;
an invalid manifest fails the evaluation instead of being written."""

from __future__ import annotations

import json

import pytest

from components.mockrun import Evaluation
from components.readiness_manifest import (
    QuarantineGroups,
    ReadinessManifest,
    ReadinessManifestArgs,
)
from runbooks.core.manifest_schema import MANIFEST_PARAMETER, manifest_errors
from tests.components.conftest import ACCOUNT, only, run_component

VPC = "vpc-0a1b2c3d4e5f60718"


def _args(**overrides: object) -> ReadinessManifestArgs:
    values: dict = dict(
        region="eu-west-1",
        home_region="eu-west-1",
        account_id=ACCOUNT,
        kms_key_arn=f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/k",
        evidence_bucket="evidence-bucket-1234567",
        trail_arn=f"arn:aws:cloudtrail:eu-west-1:{ACCOUNT}:trail/ir",
        trail_bucket="trail-logs-1234567",
        trail_log_group="/ir-readiness/mock/cloudtrail",
        topic_arns={
            s: f"arn:aws:sns:eu-west-1:{ACCOUNT}:{s}" for s in ("critical", "high", "info")
        },
        quarantine={VPC: QuarantineGroups("sg-0123456789abcdef0", "sg-0123456789abcdef1",
                                          "sg-0123456789abcdef2")},
        backup_vault_name="ir-vault",
        backup_vault_arn=f"arn:aws:backup:eu-west-1:{ACCOUNT}:backup-vault:ir-vault",
        backup_plan_id="plan-1",
        backup_restore_role_arn=f"arn:aws:iam::{ACCOUNT}:role/ir-backup",
        guardduty_detector_id="0" * 32,
        security_hub_enabled=True,
        investigator_role_arn=f"arn:aws:iam::{ACCOUNT}:role/ir-investigator",
        responder_role_arn=f"arn:aws:iam::{ACCOUNT}:role/ir-responder",
    )
    values.update(overrides)
    return ReadinessManifestArgs(**values)


def _manifest(**overrides: object) -> Evaluation:
    return run_component(lambda: ReadinessManifest("manifest", _args(**overrides)))


def test_parameter_holds_a_valid_v1_manifest() -> None:
    param = only(_manifest(), "aws:ssm/parameter:Parameter")
    assert param.inputs["name"] == MANIFEST_PARAMETER
    assert param.inputs["type"] == "String"
    assert param.inputs["tier"] == "Standard"
    doc = json.loads(param.inputs["value"])
    assert manifest_errors(doc) == []
    assert doc["version"] == 1
    assert doc["quarantine"][VPC]["isolationSecurityGroupId"] == "sg-0123456789abcdef0"
    assert doc["responderRoles"]["responder"].endswith(":role/ir-responder")


def test_manifest_carries_the_containment_policies_the_roles_may_attach() -> None:
    deny_all = f"arn:aws:iam::{ACCOUNT}:policy/ir-readiness-mock-deny-all"
    doc = json.loads(only(_manifest(deny_all_policy_arn=deny_all),
                          "aws:ssm/parameter:Parameter").inputs["value"])
    assert doc["containmentPolicies"] == {"denyAll": deny_all}
    assert manifest_errors(doc) == []
    # the schema holds it to an ARN
    assert manifest_errors({**doc, "containmentPolicies": {"denyAll": "deny-all"}})


def test_the_stack_manifest_names_the_deny_all_policy_it_provisions() -> None:
    from components.mockrun import PROJECT_ROOT, evaluate, load_stack_config

    evaluation = evaluate(load_stack_config(PROJECT_ROOT / "Pulumi.example.yaml"))
    [policy] = [p for p in evaluation.of_type("aws:iam/policy:Policy")
                if p.name.endswith("deny-all")]
    manifests = [json.loads(p.inputs["value"])
                 for p in evaluation.of_type("aws:ssm/parameter:Parameter")
                 if p.inputs["name"] == MANIFEST_PARAMETER]
    assert manifests and all(m["containmentPolicies"]["denyAll"] == policy.outputs["arn"]
                             for m in manifests)


def test_large_manifest_moves_to_the_advanced_tier() -> None:
    many = {
        f"vpc-{i:017x}": QuarantineGroups(f"sg-{i:017x}", f"sg-{i + 1:017x}", f"sg-{i + 2:017x}")
        for i in range(40)
    }
    param = only(_manifest(quarantine=many), "aws:ssm/parameter:Parameter")
    assert len(param.inputs["value"]) > 4096
    assert param.inputs["tier"] == "Advanced"


def test_invalid_manifest_fails_the_evaluation_and_names_the_field() -> None:
    # Pulumi wraps the ManifestError raised in the apply in a ValueError naming the
    # resource; the schema message survives.
    with pytest.raises(ValueError, match="does not satisfy the v1 schema: guardDutyDetectorId"):
        _manifest(guardduty_detector_id="not-a-detector")


def test_missing_topic_fails_before_any_resource() -> None:
    with pytest.raises(ValueError, match="topic_arns lacks"):
        _args(topic_arns={"critical": "arn:aws:sns:eu-west-1:1:x"})
