"""EncryptionKey: rotation on, and a key policy that grants exactly the services that use
it, each scoped by source account/ARN or encryption context."""

from __future__ import annotations

import pytest

from components.encryption_key import EncryptionKey, EncryptionKeyArgs
from tests.components.conftest import ACCOUNT, as_list, by_sid, only, run_component

TRAIL = f"arn:aws:cloudtrail:eu-west-1:{ACCOUNT}:trail/ir-readiness-mock"


def _key(trail_arn: str | None, all_regions: bool = False):  # noqa: ANN202
    def build() -> None:
        EncryptionKey(
            "kms-eu-west-1",
            EncryptionKeyArgs(
                region="eu-west-1",
                account_id=ACCOUNT,
                partition="aws",
                log_group_prefix="/ir-readiness/mock",
                trail_arn=trail_arn,
                findings_from_all_regions=all_regions,
            ),
        )

    return run_component(build)


def test_key_rotates_and_is_symmetric() -> None:
    key = only(_key(TRAIL), "aws:kms/key:Key")
    assert key.inputs["enableKeyRotation"] is True
    assert key.inputs["customerMasterKeySpec"] == "SYMMETRIC_DEFAULT"
    assert key.inputs["deletionWindowInDays"] == 30


def test_policy_grants_each_service_with_a_scoping_condition() -> None:
    sids = by_sid(only(_key(TRAIL, all_regions=True), "aws:kms/key:Key").inputs["policy"])
    root = sids.pop("AccountAdministersKeyThroughIam")
    assert root["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    services: set[str] = set()
    for sid, stmt in sids.items():
        assert stmt["Effect"] == "Allow"
        assert set(stmt["Principal"]) == {"Service"}, sid
        services.update(as_list(stmt["Principal"]["Service"]))
        assert "kms:*" not in as_list(stmt["Action"]), sid
        cond = stmt["Condition"]
        flat = {k for block in cond.values() for k in block}
        assert flat & {
            "aws:SourceAccount",
            "aws:SourceArn",
            "kms:EncryptionContext:aws:logs:arn",
            "kms:EncryptionContext:aws:cloudtrail:arn",
        }, f"{sid} has no scoping condition: {cond}"
    assert services == {
        "cloudtrail.amazonaws.com",
        "logs.eu-west-1.amazonaws.com",
        "events.amazonaws.com",
        "cloudwatch.amazonaws.com",
        "backup.amazonaws.com",
        "sns.amazonaws.com",
        "guardduty.amazonaws.com",
    }
    trail = sids["CloudTrailEncryptsLogs"]
    assert trail["Condition"]["StringEquals"] == {"aws:SourceArn": TRAIL}
    assert trail["Condition"]["StringLike"] == {
        "kms:EncryptionContext:aws:cloudtrail:arn": f"arn:aws:cloudtrail:*:{ACCOUNT}:trail/*"
    }
    logs = sids["CloudWatchLogsEncryptOurLogGroups"]
    assert logs["Condition"]["StringLike"] == {
        "kms:EncryptionContext:aws:logs:arn":
            f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:/ir-readiness/mock/*"
    }
    gd = sids["GuardDutyPublishesFindings"]
    assert gd["Condition"]["ArnLike"]["aws:SourceArn"] == (
        f"arn:aws:guardduty:*:{ACCOUNT}:detector/*"
    )
    grant = sids["BackupCreatesGrantsForAwsResourcesOnly"]
    assert grant["Condition"]["Bool"] == {"kms:GrantIsForAWSResource": "true"}


def test_no_wildcard_principal_anywhere() -> None:
    for stmt in by_sid(only(_key(TRAIL), "aws:kms/key:Key").inputs["policy"]).values():
        assert stmt["Principal"] != "*"
        assert "*" not in as_list(stmt["Principal"].get("AWS", []))


def test_regional_key_has_no_cloudtrail_grant_and_regional_guardduty_scope() -> None:
    sids = by_sid(only(_key(None), "aws:kms/key:Key").inputs["policy"])
    assert not any(s.startswith("CloudTrail") for s in sids)
    assert sids["GuardDutyPublishesFindings"]["Condition"]["ArnLike"]["aws:SourceArn"] == (
        f"arn:aws:guardduty:eu-west-1:{ACCOUNT}:detector/*"
    )


def test_alias_points_at_key_and_children_are_parented() -> None:
    ev = _key(TRAIL)
    component = only(ev, "ir-readiness:index:EncryptionKey")
    key = only(ev, "aws:kms/key:Key")
    alias = only(ev, "aws:kms/alias:Alias")
    assert alias.inputs["targetKeyId"] == key.id
    assert alias.inputs["name"] == "alias/ir-readiness/mock"
    assert key.parent == alias.parent == component.urn


@pytest.mark.parametrize("days", [6, 31])
def test_bad_deletion_window_fails_before_any_resource(days: int) -> None:
    with pytest.raises(ValueError, match=f"deletion_window_days = {days}"):
        EncryptionKeyArgs(
            region="eu-west-1", account_id=ACCOUNT, partition="aws",
            log_group_prefix="/ir", deletion_window_days=days,
        )
