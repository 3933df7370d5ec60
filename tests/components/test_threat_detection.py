"""ThreatDetection under Pulumi mocks: detector, protection plans, findings export, Inspector."""

from __future__ import annotations

import fnmatch
import json
import re

import pulumi
import pulumi_aws as aws
import pytest

from components.threat_detection import (
    COMPONENT_TYPE,
    MANAGED_FEATURES,
    ThreatDetection,
    ThreatDetectionArgs,
    guardduty_bucket_policy_statements,
    guardduty_key_policy_statements,
)
from tests.components.regional_mocks import ACCOUNT_ID, descends_from, provider, run

DETECTOR = "aws:guardduty/detector:Detector"
FEATURE = "aws:guardduty/detectorFeature:DetectorFeature"
DESTINATION = "aws:guardduty/publishingDestination:PublishingDestination"
ENABLER = "aws:inspector2/enabler:Enabler"
BUCKET_ARN = "arn:aws:s3:::acme-ir-evidence-123456789012"
DEST_ARN = f"{BUCKET_ARN}/guardduty"
KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def _args(**overrides) -> ThreatDetectionArgs:
    values = {
        "account_id": ACCOUNT_ID,
        "findings_destination_arn": DEST_ARN,
        "findings_kms_key_arn": KEY_ARN,
        "tags": {"project": "ir-readiness"},
        **overrides,
    }
    return ThreatDetectionArgs(**values)


def _run(args_factory, region: str = "eu-west-1"):
    def program():
        td = ThreatDetection(
            f"threat-detection-{region}",
            args_factory(),
            opts=pulumi.ResourceOptions(providers={"aws": provider(region)}),
        )
        return {
            "detector_id": td.detector_id,
            "detector_arn": td.detector_arn,
            "features": td.enabled_features,
            "inspector": td.inspector_resource_types,
            "destination": td.publishing_destination_id,
        }

    return run(program)


def test_detector_is_enabled_with_frequency_and_no_deprecated_datasources():
    result = _run(_args)
    detector = result.one(DETECTOR)
    assert detector.inputs["enable"] is True
    assert detector.inputs["findingPublishingFrequency"] == "FIFTEEN_MINUTES"
    assert "datasources" not in detector.inputs
    assert detector.inputs["tags"] == {"project": "ir-readiness"}
    assert detector.region == "eu-west-1"


def test_default_protection_plans_are_all_enabled_on_this_detector():
    result = _run(_args)
    features = {f.inputs["name"]: f for f in result.of_type(FEATURE)}
    assert set(features) == set(MANAGED_FEATURES)
    detector_id = result.outputs["detector_id"]
    for feature in features.values():
        assert feature.inputs["status"] == "ENABLED"
        assert feature.inputs["detectorId"] == detector_id
    runtime = features["RUNTIME_MONITORING"].inputs["additionalConfigurations"]
    assert {c["name"]: c["status"] for c in runtime} == {
        "EKS_ADDON_MANAGEMENT": "ENABLED",
        "ECS_FARGATE_AGENT_MANAGEMENT": "ENABLED",
        "EC2_AGENT_MANAGEMENT": "ENABLED",
    }
    assert sorted(result.outputs["features"]) == sorted(MANAGED_FEATURES)


def test_unlisted_plans_are_written_disabled_not_left_at_defaults():
    result = _run(lambda: _args(features=("S3_DATA_EVENTS",)))
    statuses = {f.inputs["name"]: f.inputs["status"] for f in result.of_type(FEATURE)}
    assert statuses.pop("S3_DATA_EVENTS") == "ENABLED"
    assert set(statuses) == set(MANAGED_FEATURES) - {"S3_DATA_EVENTS"}
    assert set(statuses.values()) == {"DISABLED"}
    runtime = next(f for f in result.of_type(FEATURE) if f.inputs["name"] == "RUNTIME_MONITORING")
    assert {c["status"] for c in runtime.inputs["additionalConfigurations"]} == {"DISABLED"}


def test_eks_runtime_monitoring_replaces_runtime_monitoring():
    result = _run(
        lambda: _args(
            features=("EKS_RUNTIME_MONITORING", "EKS_AUDIT_LOGS"),
            runtime_agent_management=("EKS_ADDON_MANAGEMENT",),
        )
    )
    names = {f.inputs["name"] for f in result.of_type(FEATURE)}
    assert "EKS_RUNTIME_MONITORING" in names and "RUNTIME_MONITORING" not in names


def test_findings_export_is_kms_encrypted_to_the_bucket_and_waits_for_its_policy():
    def factory():
        policy = aws.s3.BucketPolicy(
            "evidence-policy", bucket="acme-ir-evidence-123456789012", policy="{}"
        )
        factory.policy = policy
        return _args(destination_depends_on=(policy,))

    result = _run(factory)
    destination = result.one(DESTINATION)
    assert destination.inputs["destinationType"] == "S3"
    assert destination.inputs["destinationArn"] == DEST_ARN
    assert destination.inputs["kmsKeyArn"] == KEY_ARN
    assert destination.inputs["detectorId"] == result.outputs["detector_id"]
    policy_urn = result.named("evidence-policy").urn
    assert policy_urn in destination.dependencies


def test_inspector_scans_ec2_ecr_lambda_for_this_account():
    result = _run(_args)
    enabler = result.one(ENABLER)
    assert enabler.inputs["accountIds"] == [ACCOUNT_ID]
    assert sorted(enabler.inputs["resourceTypes"]) == ["EC2", "ECR", "LAMBDA"]
    assert sorted(result.outputs["inspector"]) == ["EC2", "ECR", "LAMBDA"]


def test_inspector_can_be_turned_off():
    result = _run(lambda: _args(enable_inspector=False))
    assert result.of_type(ENABLER) == []
    assert result.outputs["inspector"] == []


def test_every_child_is_parented_and_regional():
    result = _run(_args, region="sa-east-1")
    component = result.one(COMPONENT_TYPE)
    children = [r for r in result.aws_resources()]
    assert len(children) == 1 + len(MANAGED_FEATURES) + 1 + 1
    for child in children:
        assert descends_from(result, child, component.urn)
        assert child.region == "sa-east-1"


def test_policy_helpers_grant_guardduty_only_for_this_accounts_detectors():
    def program():
        td = ThreatDetection("td", _args(), opts=pulumi.ResourceOptions(
            providers={"aws": provider("eu-west-1")}))
        return {
            "bucket": pulumi.Output.json_dumps(
                guardduty_bucket_policy_statements(DEST_ARN, KEY_ARN, ACCOUNT_ID)
            ),
            "key": pulumi.Output.json_dumps(guardduty_key_policy_statements(ACCOUNT_ID)),
            "detector_arn": td.detector_arn,
        }

    result = run(program)
    bucket = json.loads(result.outputs["bucket"])
    key = json.loads(result.outputs["key"])
    detector_arn = result.outputs["detector_arn"]
    for statement in bucket + key:
        assert statement["Principal"] == {"Service": "guardduty.amazonaws.com"}
    allows = [s for s in bucket + key if s["Effect"] == "Allow"]
    assert {a["Action"] for a in allows} == {
        "s3:GetBucketLocation", "s3:PutObject", "kms:GenerateDataKey",
    }
    for allow in allows:
        assert allow["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT_ID}
        pattern = allow["Condition"]["ArnLike"]["aws:SourceArn"]
        assert fnmatch.fnmatchcase(detector_arn, pattern)
        assert not fnmatch.fnmatchcase(
            detector_arn.replace(ACCOUNT_ID, "999999999999"), pattern
        )
    location = next(s for s in bucket if s["Action"] == "s3:GetBucketLocation")
    assert location["Resource"] == BUCKET_ARN
    put = next(s for s in allows if s["Action"] == "s3:PutObject")
    assert put["Resource"] == f"{DEST_ARN}/*"
    denies = [s for s in bucket if s["Effect"] == "Deny"]
    assert {json.dumps(d["Condition"], sort_keys=True) for d in denies} == {
        json.dumps({"StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"}}),
        json.dumps(
            {"StringNotEquals": {"s3:x-amz-server-side-encryption-aws-kms-key-id": KEY_ARN}}
        ),
    }


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"account_id": "12345"}, "account_id='12345' is invalid"),
        ({"findings_destination_arn": "acme-bucket"}, "findings_destination_arn='acme-bucket'"),
        ({"findings_destination_arn": "arn:aws:s3:eu-west-1:123456789012:b"}, "no region"),
        ({"findings_kms_key_arn": "arn:aws:kms:eu-west-1:123456789012:alias/x"}, "key/"),
        ({"finding_publishing_frequency": "HOURLY"}, "FIFTEEN_MINUTES, ONE_HOUR, SIX_HOURS"),
        ({"features": ("S3_LOGS",)}, "features='S3_LOGS' is invalid"),
        ({"features": ("S3_DATA_EVENTS", "S3_DATA_EVENTS")}, "listed twice"),
        ({"features": ("RUNTIME_MONITORING", "EKS_RUNTIME_MONITORING")}, "not both"),
        ({"features": ("EKS_RUNTIME_MONITORING",)}, "supports only EKS_ADDON_MANAGEMENT"),
        ({"runtime_agent_management": ("AGENT",)}, "runtime_agent_management='AGENT'"),
        ({"inspector_resource_types": ("EC3",)}, "inspector_resource_types='EC3'"),
        ({"inspector_resource_types": ()}, "at least one"),
        ({"inspector_resource_types": ("LAMBDA_CODE",)}, "requires LAMBDA"),
        ({"tags": {"aws:x": "y"}}, "reserved by AWS"),
    ],
)
def test_invalid_args_name_the_field_and_value(overrides, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        _args(**overrides)


def test_outputs_from_other_components_are_accepted_unvalidated():
    # ARNs that are still Outputs cannot be checked before deployment; they must not raise.
    args = _args(
        findings_destination_arn=pulumi.Output.from_input(DEST_ARN),
        findings_kms_key_arn=pulumi.Output.from_input(KEY_ARN),
        account_id=pulumi.Output.from_input(ACCOUNT_ID),
    )
    assert isinstance(args.findings_kms_key_arn, pulumi.Output)
