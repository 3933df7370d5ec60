"""Organization components refuse bad Args before creating anything."""

from __future__ import annotations

from typing import Any

import pytest

from components.delegated_security_admin import DelegatedSecurityAdminArgs
from components.member_baseline import MemberBaselineArgs
from components.organization_trail import OrganizationTrailArgs
from components.security_event_bus import SecurityEventBusArgs

PROVIDER: Any = object()  # never used: validation runs before any resource


def trail(**overrides: Any) -> OrganizationTrailArgs:
    values: dict[str, Any] = {
        "organization_id": "o-abcdef1234", "management_account_id": "111111111111",
        "log_archive_account_id": "333333333333", "home_region": "eu-west-1",
        "trail_provider": PROVIDER, **overrides}
    return OrganizationTrailArgs(**values)


def test_trail_args_name_the_bad_field() -> None:
    assert trail().trail_arn == (
        "arn:aws:cloudtrail:eu-west-1:111111111111:trail/ir-readiness-organization")
    with pytest.raises(ValueError, match="organization_id = 'org-1'"):
        trail(organization_id="org-1")
    with pytest.raises(ValueError, match="log_archive_account_id must differ"):
        trail(log_archive_account_id="111111111111")
    with pytest.raises(ValueError, match="reader_account_ids: '42'"):
        trail(reader_account_ids=("42",))


def admin(**overrides: Any) -> DelegatedSecurityAdminArgs:
    values: dict[str, Any] = {
        "side": "security", "security_account_id": "222222222222",
        "regions": ("eu-west-1",), "providers": {"eu-west-1": PROVIDER},
        "detector_ids": {"eu-west-1": "d" * 32}, "root_id": "r-ab12",
        "standards": ("aws-foundational-security-best-practices/v/1.0.0",),
        "guardduty_features": ("S3_DATA_EVENTS",), **overrides}
    return DelegatedSecurityAdminArgs(**values)


def test_delegated_admin_args_name_the_bad_field() -> None:
    admin()
    with pytest.raises(ValueError, match="no provider for us-east-1"):
        admin(regions=("eu-west-1", "us-east-1"))
    with pytest.raises(ValueError, match="no detector for eu-west-1"):
        admin(detector_ids={})
    with pytest.raises(ValueError, match="root_id = None"):
        admin(root_id=None)
    with pytest.raises(ValueError, match="unknown \\['S3_LOGS'\\]"):
        admin(guardduty_features=("S3_LOGS",))
    with pytest.raises(ValueError, match="must enable a standard"):
        admin(standards=())
    # The management side needs neither detectors nor a root.
    admin(side="management", detector_ids={}, root_id=None, standards=())


def test_event_bus_args_name_the_bad_field() -> None:
    topics = {"critical": "arn:aws:sns:eu-west-1:222222222222:c",
              "high": "arn:aws:sns:eu-west-1:222222222222:h"}
    SecurityEventBusArgs(organization_id="o-abcdef1234", topic_arns=topics)
    with pytest.raises(ValueError, match="not `default`"):
        SecurityEventBusArgs(organization_id="o-abcdef1234", topic_arns=topics,
                             bus_name="default")
    with pytest.raises(ValueError, match="lacks high"):
        SecurityEventBusArgs(organization_id="o-abcdef1234",
                             topic_arns={"critical": topics["critical"]})


def test_member_args_refuse_responders_outside_the_security_account() -> None:
    values: dict[str, Any] = {
        "regions": ("eu-west-1",), "providers": {"eu-west-1": PROVIDER},
        "account_id": "444455556666", "security_account_id": "222222222222",
        "responder_principals": ("arn:aws:iam::222222222222:role/SecurityOnCall",),
        "external_id": "ir-2026", "responder_actions": ("ec2:DescribeInstances",),
        "vpc_ids": {}, "trail_arn": "arn:aws:cloudtrail:eu-west-1:111111111111:trail/t",
        "trail_bucket": "ir-readiness-org-trail-o-abcdef1234"}
    MemberBaselineArgs(**values)
    with pytest.raises(ValueError, match="not in the security account 222222222222"):
        MemberBaselineArgs(**{**values, "responder_principals": (
            "arn:aws:iam::999999999999:role/Other",)})
    with pytest.raises(ValueError, match="external_id.*value not shown") as err:
        MemberBaselineArgs(**{**values, "external_id": "x"})
    assert "'x'" not in str(err.value)
    with pytest.raises(ValueError, match="name_prefix .* at most 48"):
        MemberBaselineArgs(**{**values, "name_prefix": "p" * 49})


def test_member_baseline_composes_with_the_trail_bucket_of_the_same_program() -> None:
    """trail_bucket / trail_arn may be Outputs of resources in the platform team's own
    program; the roles' policies and the manifest get the resolved values."""
    import json

    import pulumi
    import pulumi_aws as aws

    from components.member_baseline import MemberBaseline
    from runbooks.core.permissions import responder_actions
    from tests.components.conftest import run_component

    def program() -> None:
        regional = aws.Provider("aws-eu-west-1", region="eu-west-1")
        bucket = aws.s3.Bucket("org-trail", bucket="org-trail-logs",
                               opts=pulumi.ResourceOptions(provider=regional))
        trail = pulumi.Output.concat(
            "arn:aws:cloudtrail:eu-west-1:111111111111:trail/", bucket.bucket)
        MemberBaseline("member", MemberBaselineArgs(
            regions=("eu-west-1",), providers={"eu-west-1": regional},
            account_id="444455556666", security_account_id="222222222222",
            responder_principals=("arn:aws:iam::222222222222:role/SecurityOnCall",),
            external_id="ir-2026", responder_actions=tuple(responder_actions()),
            vpc_ids={}, trail_arn=trail, trail_bucket=bucket.bucket,
        ))

    ev = run_component(program, {"aws:region": "eu-west-1"})
    policies = [r.inputs.get("policy") for r in ev.resources if "policy" in r.inputs]
    texts = [p if isinstance(p, str) else json.dumps(p) for p in policies]
    assert any("arn:aws:s3:::org-trail-logs/*" in t for t in texts)
    (manifest,) = [r for r in ev.of_type("aws:ssm/parameter:Parameter")
                   if r.inputs["name"] == "/ir-readiness/manifest"]
    assert json.loads(manifest.inputs["value"])["trail"]["arn"] == (
        "arn:aws:cloudtrail:eu-west-1:111111111111:trail/org-trail-logs")
