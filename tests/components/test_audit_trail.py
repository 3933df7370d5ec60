"""AuditTrail: multi-region validated KMS trail, locked log bucket with the exact
CloudTrail grants, encrypted CloudWatch Logs copy, CIS metric filters and alarms."""

from __future__ import annotations

import pytest

from components.audit_trail import CIS_CONTROLS, AuditTrail, AuditTrailArgs
from components.mockrun import Evaluation
from components.settings import ObjectLock
from tests.components.conftest import ACCOUNT, by_sid, only, run_component
from tests.components.test_evidence_store import assert_locked_private_bucket

KEY = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
TOPICS = {s: f"arn:aws:sns:eu-west-1:{ACCOUNT}:ir-{s}" for s in ("critical", "high", "info")}
TRAIL_ARN = f"arn:aws:cloudtrail:eu-west-1:{ACCOUNT}:trail/ir-readiness-mock"


def _args(**overrides: object) -> AuditTrailArgs:
    values: dict = dict(
        trail_name="ir-readiness-mock",
        home_region="eu-west-1",
        account_id=ACCOUNT,
        partition="aws",
        kms_key_arn=KEY,
        log_group_name="/ir-readiness/mock/cloudtrail",
        alarm_topic_arns=TOPICS,
        log_retention_days=400,
        object_lock=ObjectLock("GOVERNANCE", 180),
    )
    values.update(overrides)
    return AuditTrailArgs(**values)


def _trail(**overrides: object) -> Evaluation:
    # No explicit provider here: the mocks' default region is aws:region.
    return run_component(
        lambda: AuditTrail("trail", _args(**overrides)), {"aws:region": "eu-west-1"}
    )


def test_trail_is_multi_region_validated_encrypted_and_logs_to_cloudwatch() -> None:
    ev = _trail()
    trail = only(ev, "aws:cloudtrail/trail:Trail")
    group = only(ev, "aws:cloudwatch/logGroup:LogGroup")
    role = only(ev, "aws:iam/role:Role")
    bucket = only(ev, "aws:s3/bucket:Bucket")
    i = trail.inputs
    assert i["name"] == "ir-readiness-mock"
    assert i["isMultiRegionTrail"] is True
    assert i["includeGlobalServiceEvents"] is True
    assert i["enableLogFileValidation"] is True
    assert i["enableLogging"] is True
    assert i["kmsKeyId"] == KEY
    assert i["s3BucketName"] == bucket.id
    assert i["cloudWatchLogsGroupArn"] == f"{group.outputs['arn']}:*"
    assert i["cloudWatchLogsRoleArn"] == role.outputs["arn"]
    assert "advancedEventSelectors" not in i and "insightSelectors" not in i
    assert trail.outputs["arn"] == TRAIL_ARN, "key/bucket policies name the real trail ARN"


def test_log_group_is_encrypted_with_retention() -> None:
    group = only(_trail(), "aws:cloudwatch/logGroup:LogGroup")
    assert group.inputs["kmsKeyId"] == KEY
    assert group.inputs["retentionInDays"] == 400
    assert group.inputs["name"] == "/ir-readiness/mock/cloudtrail"


def test_log_bucket_is_locked_private_and_admits_only_this_trail() -> None:
    ev = _trail()
    assert_locked_private_bucket(ev, "trail-logs", "GOVERNANCE", 180)
    bucket = only(ev, "aws:s3/bucket:Bucket")
    sids = by_sid(only(ev, "aws:s3/bucketPolicy:BucketPolicy").inputs["policy"])
    arn = f"arn:aws:s3:::{bucket.id}"
    assert sids["CloudTrailAclCheck"] == {
        "Sid": "CloudTrailAclCheck",
        "Effect": "Allow",
        "Principal": {"Service": "cloudtrail.amazonaws.com"},
        "Action": "s3:GetBucketAcl",
        "Resource": arn,
        "Condition": {"StringEquals": {"aws:SourceArn": TRAIL_ARN}},
    }
    assert sids["CloudTrailWrite"] == {
        "Sid": "CloudTrailWrite",
        "Effect": "Allow",
        "Principal": {"Service": "cloudtrail.amazonaws.com"},
        "Action": "s3:PutObject",
        "Resource": f"{arn}/AWSLogs/{ACCOUNT}/*",
        "Condition": {
            "StringEquals": {
                "s3:x-amz-acl": "bucket-owner-full-control",
                "aws:SourceArn": TRAIL_ARN,
            }
        },
    }
    assert set(sids) == {"DenyInsecureTransport", "CloudTrailAclCheck", "CloudTrailWrite"}


def test_delivery_role_is_scoped_to_this_trail_and_log_group() -> None:
    ev = _trail()
    role = only(ev, "aws:iam/role:Role")
    (trust,) = by_sid_less(role.inputs["assumeRolePolicy"])
    assert trust["Principal"] == {"Service": "cloudtrail.amazonaws.com"}
    assert trust["Condition"]["StringEquals"] == {
        "aws:SourceAccount": ACCOUNT, "aws:SourceArn": TRAIL_ARN,
    }
    policy = only(ev, "aws:iam/rolePolicy:RolePolicy")
    group = only(ev, "aws:cloudwatch/logGroup:LogGroup")
    stmt = by_sid(policy.inputs["policy"])["DeliverToTrailLogGroup"]
    assert stmt["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"]
    assert stmt["Resource"] == f"{group.outputs['arn']}:log-stream:*"


def by_sid_less(policy: str) -> list[dict]:
    import json

    return json.loads(policy)["Statement"]


def test_cis_monitoring_set_has_a_filter_and_alarm_per_control() -> None:
    ev = _trail()
    keys = {c.key for c in CIS_CONTROLS}
    assert len(keys) == 15
    filters = {r.name.removeprefix("trail-cis-"): r
               for r in ev.of_type("aws:cloudwatch/logMetricFilter:LogMetricFilter")}
    alarms = {r.name.removeprefix("trail-cis-"): r
              for r in ev.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")}
    assert set(filters) == set(alarms) == keys
    group = only(ev, "aws:cloudwatch/logGroup:LogGroup")
    for control in CIS_CONTROLS:
        f, a = filters[control.key].inputs, alarms[control.key].inputs
        assert f["logGroupName"] == group.outputs["name"]
        assert f["pattern"] == control.pattern and f["pattern"].startswith("{")
        assert f["pattern"].count("(") == f["pattern"].count(")")
        metric = f["metricTransformation"]
        assert (a["metricName"], a["namespace"]) == (metric["name"], metric["namespace"])
        assert a["alarmActions"] == [TOPICS[control.severity]]
        assert a["threshold"] == 1 and a["comparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert a["treatMissingData"] == "notBreaching"
    assert "StopLogging" in filters["cloudtrail-config-changes"].inputs["pattern"]
    assert '"Root"' in filters["root-account-usage"].inputs["pattern"]
    assert "ScheduleKeyDeletion" in filters["cmk-disable-or-deletion"].inputs["pattern"]


def test_data_events_and_insights_are_opt_in() -> None:
    ev = _trail(s3_data_events=True, lambda_data_events=True, insights=True)
    trail = only(ev, "aws:cloudtrail/trail:Trail")
    selectors = trail.inputs["advancedEventSelectors"]
    fields = [
        {f["field"]: f.get("equals") or {"notStartsWiths": f["notStartsWiths"]}
         for f in s["fieldSelectors"]}
        for s in selectors
    ]
    bucket_arn = f"arn:aws:s3:::{only(ev, 'aws:s3/bucket:Bucket').id}"
    assert {"eventCategory": ["Management"]} in fields
    assert {
        "eventCategory": ["Data"],
        "resources.type": ["AWS::S3::Object"],
        "resources.ARN": {"notStartsWiths": [f"{bucket_arn}/"]},
    } in fields
    assert {"eventCategory": ["Data"], "resources.type": ["AWS::Lambda::Function"]} in fields
    assert [s["insightType"] for s in trail.inputs["insightSelectors"]] == [
        "ApiCallRateInsight", "ApiErrorRateInsight",
    ]


def test_every_child_descends_from_the_component() -> None:
    ev = _trail()
    component = only(ev, "ir-readiness:index:AuditTrail")
    assert all(r.parent == component.urn for r in ev.resources if r.type.startswith("aws:"))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"alarm_topic_arns": {"critical": "arn:aws:sns:eu-west-1:1:x"}}, "lacks severities"),
        ({"log_group_name": "cloudtrail"}, "must start with '/'"),
        ({"trail_name": "x"}, "3-128 characters"),
    ],
)
def test_invalid_args_fail_before_any_resource(overrides: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _args(**overrides)
