"""ir:organization: schema and cross-field rules, single-account staying the default."""

from __future__ import annotations

from typing import Any

import pytest

from components.settings import Settings, SettingsError

SECURITY = "222222222222"
MANAGEMENT = "111111111111"
LOG_ARCHIVE = "333333333333"
ORG = "o-abcdef1234"


def settings(organization: dict[str, Any] | None = None, **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "regions": ["eu-west-1"],
        "responderPrincipals": [f"arn:aws:iam::{SECURITY}:role/SecurityOnCall"],
        **extra,
    }
    if organization is not None:
        values["organization"] = organization
    return Settings.from_mapping(values)


def test_single_account_is_the_default() -> None:
    s = settings()
    assert s.organization.mode == "single"
    assert s.organization.is_single


def test_member_mode_reads_every_key() -> None:
    s = settings({"mode": "member", "organizationId": ORG, "securityAccountId": SECURITY,
                  "managementAccountId": MANAGEMENT,
                  "externalId": "ir-2026-abc", "memberRoleName": "ir-member-responder"})
    o = s.organization
    assert (o.mode, o.organization_id, o.security_account_id, o.external_id,
            o.member_role_name) == ("member", ORG, SECURITY, "ir-2026-abc", "ir-member-responder")


def test_member_mode_names_every_missing_key() -> None:
    with pytest.raises(SettingsError) as err:
        settings({"mode": "member"})
    message = str(err.value)
    for key in ("organizationId", "managementAccountId", "securityAccountId", "externalId"):
        assert f"ir:organization.{key} = null: is required when ir:organization.mode is member" \
            in message


def test_unknown_mode_and_key_are_rejected_by_the_schema() -> None:
    with pytest.raises(SettingsError, match=r"ir:organization.mode = \"hub\": must be one of "
                                            r"single, management, security, member"):
        settings({"mode": "hub"})
    with pytest.raises(SettingsError, match="organizationID"):
        settings({"mode": "member", "organizationID": ORG})


def test_malformed_ids_name_the_key() -> None:
    with pytest.raises(SettingsError, match=r"ir:organization.securityAccountId = \"2222\""):
        settings({"mode": "member", "organizationId": ORG, "securityAccountId": "2222",
                  "managementAccountId": MANAGEMENT, "externalId": "abc"})
    with pytest.raises(SettingsError, match=r"ir:organization.organizationId"):
        settings({"mode": "security", "organizationId": "org-1", "rootId": "r-ab12",
                  "securityAccountId": SECURITY})


def test_member_responders_must_live_in_the_security_account() -> None:
    with pytest.raises(SettingsError, match=r"responderPrincipals\[0\].*security account "
                                            r"\(999999999999\)"):
        settings({"mode": "member", "organizationId": ORG, "securityAccountId": "999999999999",
                  "managementAccountId": MANAGEMENT, "externalId": "abc-123"})


def test_security_account_must_not_be_the_management_account() -> None:
    with pytest.raises(SettingsError, match="securityAccountId.*must differ from "
                                            "managementAccountId"):
        settings({"mode": "management", "organizationId": ORG,
                  "managementAccountId": MANAGEMENT, "securityAccountId": MANAGEMENT,
                  "logArchiveAccountId": LOG_ARCHIVE})


def test_management_mode_needs_the_log_archive_account() -> None:
    with pytest.raises(SettingsError, match="logArchiveAccountId = null: is required"):
        settings({"mode": "management", "organizationId": ORG,
                  "managementAccountId": MANAGEMENT, "securityAccountId": SECURITY})


def test_organization_keys_in_single_mode_are_refused() -> None:
    with pytest.raises(SettingsError, match="organizationId set, but these keys only apply"):
        settings({"organizationId": ORG})


def test_external_id_outside_member_mode_is_refused_without_echoing_it() -> None:
    with pytest.raises(SettingsError) as err:
        settings({"mode": "security", "organizationId": ORG, "rootId": "r-ab12",
                  "securityAccountId": SECURITY, "externalId": "very-secret-id"})
    assert "only applies in member mode" in str(err.value)
    assert "very-secret-id" not in str(err.value)


@pytest.mark.parametrize("mode", ["management", "security", "member"])
def test_organization_example_configs_are_valid(mode: str) -> None:
    from pathlib import Path

    import yaml

    path = Path(__file__).resolve().parents[2] / f"Pulumi.org-{mode}.example.yaml"
    config = yaml.safe_load(path.read_text())["config"]
    values = {k: v for k, v in config.items() if k.startswith("ir:")}
    s = Settings.from_mapping(values, aws_region=config["aws:region"])
    assert s.organization.mode == mode


def test_automation_is_refused_where_the_mode_does_not_create_it() -> None:
    with pytest.raises(SettingsError, match=r"ir:automation.enabled = true: is not available "
                                            r"in ir:organization.mode member"):
        settings({"mode": "member", "organizationId": ORG, "securityAccountId": SECURITY,
                  "managementAccountId": MANAGEMENT, "externalId": "abc-123"},
                 automation={"enabled": True})


def test_member_role_name_must_end_in_responder() -> None:
    with pytest.raises(SettingsError, match=r"ir:organization.memberRoleName = \"IrMember\": "
                                            r"must be <prefix>-responder"):
        settings({"mode": "member", "organizationId": ORG, "securityAccountId": SECURITY,
                  "managementAccountId": MANAGEMENT, "externalId": "abc-123",
                  "memberRoleName": "IrMember"})
