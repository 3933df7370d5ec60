"""Settings: defaults, the example config, and a clear error for each invalid value."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pulumi
import pytest

from components.mockrun import PROJECT_ROOT, evaluate, load_stack_config
from components.settings import (
    DEFAULT_SECURITY_HUB_STANDARDS,
    GUARDDUTY_FEATURES,
    Settings,
    SettingsError,
)

PRINCIPAL = "arn:aws:iam::123456789012:role/SecurityOnCall"
BASE: dict[str, Any] = {"regions": ["eu-west-1", "us-east-1"], "responderPrincipals": [PRINCIPAL]}


def example_values() -> dict[str, Any]:
    from components.settings import parse_config_value

    config = load_stack_config(PROJECT_ROOT / "Pulumi.example.yaml")
    # as the program reads them (`Settings.from_config`): an account id stays text
    return {
        k.split(":", 1)[1]: parse_config_value(k, v)
        for k, v in config.items()
        if k.startswith("ir:")
    }


def test_defaults_are_the_documented_ones() -> None:
    s = Settings.from_mapping(BASE)
    assert s.home_region == "eu-west-1"
    assert s.guardduty.finding_frequency == "FIFTEEN_MINUTES"
    assert dict(s.guardduty.features) == {f: True for f in GUARDDUTY_FEATURES}
    assert s.security_hub_standards == DEFAULT_SECURITY_HUB_STANDARDS
    assert s.trail.s3_data_events is False and s.trail.insights is False
    assert s.evidence.object_lock.mode == "COMPLIANCE"
    assert s.max_session_duration == 3600
    assert s.vpcs_for("us-east-1") == "discover"
    assert list(s.backup.rules()) == ["daily", "weekly", "monthly"]
    assert s.backup.monthly is not None and s.backup.monthly.cold_storage_after_days == 90
    assert s.backup.continuous_backup_days is None


def test_settings_are_frozen() -> None:
    s = Settings.from_mapping(BASE)
    with pytest.raises(AttributeError):
        s.regions = ("us-west-2",)  # type: ignore[misc]
    with pytest.raises(TypeError):
        s.tags["x"] = "y"  # type: ignore[index]


def test_example_config_is_valid_and_complete() -> None:
    values = example_values()
    s = Settings.from_mapping(values, aws_region="eu-west-1")
    assert s.regions == ("eu-west-1", "eu-central-1", "us-east-1")
    assert s.quarantine_vpcs["eu-west-1"] == ("vpc-0a1b2c3d4e5f60718", "vpc-0f1e2d3c4b5a69788")
    assert s.backup.copy_to_region == "eu-central-1"
    assert s.alert_subscriptions["critical"][0].protocol == "email"
    # Every top-level key is shown in the example, so it documents them all.
    from components.settings import SCHEMA

    assert set(values) == set(SCHEMA["properties"])


def test_from_config_reads_the_ir_namespace_and_rejects_typos() -> None:
    captured: list[Settings] = []
    config = {
        "aws:region": "eu-west-1",
        "ir:regions": json.dumps(["eu-west-1"]),
        "ir:responderPrincipals": json.dumps([PRINCIPAL]),
        "ir:maxSessionDuration": "7200",
        "ir:trail": json.dumps({"insights": True}),
    }

    def program() -> None:
        captured.append(Settings.from_config(pulumi.Config("ir")))

    evaluate(config, program=program)
    assert captured and captured[0].max_session_duration == 7200
    assert captured[0].trail.insights is True

    with pytest.raises(SettingsError, match=r"unknown config key\(s\) ir:regoins"):
        evaluate({**config, "ir:regoins": '["eu-west-1"]'}, program=program)
    with pytest.raises(SettingsError, match=r"must equal aws:region \(us-east-1\)"):
        evaluate({**config, "aws:region": "us-east-1"}, program=program)


def test_from_config_reads_what_the_pulumi_cli_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    # The CLI hands the stack config to the program in PULUMI_CONFIG (JSON).
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps({
        "aws:region": "us-east-1",
        "ir:regions": json.dumps(["us-east-1", "eu-west-1"]),
        "ir:responderPrincipals": json.dumps([PRINCIPAL]),
        "ir:guardDuty": json.dumps({"findingFrequency": "ONE_HOUR"}),
    }))
    s = Settings.from_config(pulumi.Config("ir"))
    assert s.regions == ("us-east-1", "eu-west-1")
    assert s.guardduty.finding_frequency == "ONE_HOUR"
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps({
        "ir:regions": '["us-east-1"]', "ir:responderPrincipals": json.dumps([PRINCIPAL]),
        "ir:guardduty": "{}",
    }))
    with pytest.raises(SettingsError, match=r"unknown config key\(s\) ir:guardduty"):
        Settings.from_config(pulumi.Config("ir"))


def _with(path: str, value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(BASE)
    node = doc
    parts = path.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return doc


INVALID = [
    # (path, value, fragments the message must contain)
    ("regions", [], ["ir:regions = []", "should be non-empty"]),
    ("regions", ["eu-west-1", "eu-west-1"], ["ir:regions", "more than once"]),
    ("regions", ["Ireland"], ["ir:regions[0] = \"Ireland\"", "must match"]),
    ("responderPrincipals", ["bob"], ["ir:responderPrincipals[0] = \"bob\"", "IAM ARN"]),
    ("maxSessionDuration", 86400, ["ir:maxSessionDuration = 86400", "maximum of 14400"]),
    ("maxSessionDuration", 900, ["ir:maxSessionDuration = 900", "minimum of 3600"]),
    ("trail.logRetentionDays", 12, ["ir:trail.logRetentionDays = 12", "must be one of 1, 3"]),
    ("trail.objectLock", {"mode": "LEGAL"}, ["ir:trail.objectLock.mode = \"LEGAL\"",
                                             "GOVERNANCE, COMPLIANCE"]),
    ("trail.dataEvents", True, ["ir:trail", "dataEvents", "allowed keys"]),
    ("evidence.objectLock", {"retentionDays": 0}, ["ir:evidence.objectLock.retentionDays = 0",
                                                   "minimum of 1"]),
    ("guardDuty.findingFrequency", "HOURLY", ["ir:guardDuty.findingFrequency = \"HOURLY\"",
                                              "FIFTEEN_MINUTES, ONE_HOUR, SIX_HOURS"]),
    ("guardDuty.features", {"MALWARE": True}, ["ir:guardDuty.features", "MALWARE"]),
    ("securityHub.standards", ["cis"], ["ir:securityHub.standards[0] = \"cis\"",
                                        "aws-foundational-security-best-practices/v/1.0.0"]),
    ("alertSubscriptions.critical", [{"protocol": "sms", "endpoint": "+15550100"}],
     ["ir:alertSubscriptions.critical[0].protocol = \"sms\"", "email, https, sqs, lambda"]),
    ("alertSubscriptions.urgent", [], ["ir:alertSubscriptions", "urgent"]),
    ("alertSubscriptions.high", [{"protocol": "email", "endpoint": "soc-at-example"}],
     ["ir:alertSubscriptions.high[0].endpoint = \"soc-at-example\"", "email address"]),
    ("alertSubscriptions.high", [{"protocol": "https", "endpoint": "http://hooks.example"}],
     ["ir:alertSubscriptions.high[0].endpoint", "https:// URL"]),
    ("alertSubscriptions.info", [{"protocol": "sqs", "endpoint": "my-queue"}],
     ["ir:alertSubscriptions.info[0].endpoint = \"my-queue\"", "SQS queue ARN"]),
    ("alertSubscriptions.info", [{"protocol": "lambda",
                                  "endpoint": "arn:aws:sqs:eu-west-1:123456789012:q"}],
     ["ir:alertSubscriptions.info[0].endpoint", "Lambda function ARN"]),
    ("quarantineVpcs", {"eu-west-1": "all"}, ["ir:quarantineVpcs.eu-west-1 = \"all\"",
                                               "\"discover\" or a list"]),
    ("quarantineVpcs", {"eu-west-1": ["vpc-1"]}, ["ir:quarantineVpcs.eu-west-1"]),
    ("quarantineVpcs", {"ap-south-1": "discover"}, ["ir:quarantineVpcs.ap-south-1",
                                                     "not a covered region"]),
    ("forensicAccess.cidrs", ["0.0.0.0/0"], ["ir:forensicAccess.cidrs[0] = \"0.0.0.0/0\"",
                                             "broader than /8"]),
    ("forensicAccess.cidrs", ["10.0.0.1/24"], ["ir:forensicAccess.cidrs[0]", "host bits"]),
    ("backup.vaultLock", {"minRetentionDays": 30, "maxRetentionDays": 10},
     ["ir:backup.vaultLock.minRetentionDays = 30", "must not exceed maxRetentionDays (10)"]),
    ("backup.vaultLock", {"changeableForDays": 1},
     ["ir:backup.vaultLock.changeableForDays = 1", "minimum of 3"]),
    ("backup.daily", {"schedule": "rate(1 day)", "deleteAfterDays": 35},
     ["ir:backup.daily.schedule = \"rate(1 day)\"", "must match"]),
    ("backup.daily", {"schedule": "cron(0 5 * * ? *)", "deleteAfterDays": 1000},
     ["ir:backup.daily.deleteAfterDays = 1000", "vault lock retention [7, 400]"]),
    ("backup.monthly", {"schedule": "cron(0 5 1 * ? *)", "deleteAfterDays": 100,
                        "coldStorageAfterDays": 30},
     ["ir:backup.monthly.deleteAfterDays = 100", "coldStorageAfterDays + 90 (120)"]),
    ("backup.continuousBackupDays", 36, ["ir:backup.continuousBackupDays = 36",
                                         "maximum of 35"]),
    ("backup.continuousBackupDays", 5, ["ir:backup.continuousBackupDays = 5",
                                        "vault lock retention [7, 400]"]),
    ("backup.selectionTag", {"key": "backup", "value": ""},
     ["ir:backup.selectionTag.value = \"\"", "must match"]),
    ("backup.hourly", {"schedule": "cron(0 * ? * * *)", "deleteAfterDays": 7},
     ["ir:backup", "hourly", "allowed keys"]),
    ("backup.copyToRegion", "ap-south-1", ["ir:backup.copyToRegion = \"ap-south-1\"",
                                           "must be a covered region"]),
    ("tags", {"aws:owner": "x"}, ["ir:tags", "aws:owner"]),
]


@pytest.mark.parametrize(("path", "value", "fragments"), INVALID, ids=[i[0] for i in INVALID])
def test_each_invalid_setting_names_key_value_and_what_is_allowed(
    path: str, value: Any, fragments: list[str]
) -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_mapping(_with(path, value))
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


def test_credentials_in_a_webhook_url_are_refused_and_never_printed() -> None:
    url = "https://bot:hunter2@hooks.example.com/alerts"
    with pytest.raises(SettingsError) as info:
        Settings.from_mapping(
            _with("alertSubscriptions.critical", [{"protocol": "https", "endpoint": url}])
        )
    message = str(info.value)
    assert "hunter2" not in message and "bot:" not in message
    assert "https://***@hooks.example.com/alerts" in message
    assert "must not carry credentials" in message
    # Also when the schema layer rejects the whole subscription object.
    with pytest.raises(SettingsError) as info:
        Settings.from_mapping(
            _with("alertSubscriptions.critical",
                  [{"protocol": "https", "endpoint": url, "raw": True}])
        )
    assert "hunter2" not in str(info.value) and "raw" in str(info.value)


def test_missing_required_keys_are_named() -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_mapping({})
    assert "ir:regions is required but not set" in str(info.value)
    assert "ir:responderPrincipals is required but not set" in str(info.value)


def test_rules_can_be_dropped_but_not_all() -> None:
    s = Settings.from_mapping(_with("backup", {"weekly": None, "monthly": None}))
    assert list(s.backup.rules()) == ["daily"]
    with pytest.raises(SettingsError, match="needs at least one of daily"):
        Settings.from_mapping(_with("backup", {"daily": None, "weekly": None, "monthly": None}))


def test_forensic_group_must_name_a_quarantined_vpc() -> None:
    doc = _with("quarantineVpcs", {"eu-west-1": ["vpc-0aaaaaaaa"], "us-east-1": ["vpc-0bbbbbbbb"]})
    doc["forensicAccess"] = {"securityGroupIds": {"vpc-0cccccccc": "sg-0123456789"}}
    with pytest.raises(SettingsError) as info:
        Settings.from_mapping(doc)
    assert 'ir:forensicAccess.securityGroupIds.vpc-0cccccccc = "sg-0123456789"' in str(info.value)
    assert "list it in ir:quarantineVpcs" in str(info.value)
    doc["forensicAccess"] = {"securityGroupIds": {"vpc-0aaaaaaaa": "sg-0123456789"}}
    assert Settings.from_mapping(doc).forensic_access.security_group_ids == {
        "vpc-0aaaaaaaa": "sg-0123456789"
    }


def test_copy_region_needs_a_second_region() -> None:
    with pytest.raises(SettingsError, match="needs a second covered region"):
        Settings.from_mapping(
            {"regions": ["eu-west-1"], "responderPrincipals": [PRINCIPAL],
             "backup": {"copyToRegion": "eu-west-1"}}
        )


def test_stack_config_loader_reads_yaml_values_as_pulumi_strings(tmp_path: Path) -> None:
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text(
        "config:\n  aws:region: eu-west-1\n  ir:regions: [eu-west-1]\n"
        "  ir:maxSessionDuration: 900\n  ir:trail:\n    insights: true\n"
    )
    assert load_stack_config(path) == {
        "aws:region": "eu-west-1",
        "ir:regions": '["eu-west-1"]',
        "ir:maxSessionDuration": "900",
        "ir:trail": '{"insights": true}',
    }
    path.write_text("config:\n  ir:token:\n    secure: AAABAJ==\n")
    with pytest.raises(ValueError, match="ir:token is .or holds. an encrypted secret"):
        load_stack_config(path)
    path.write_text(
        "config:\n  ir:alertSubscriptions:\n    critical:\n      - protocol: https\n"
        "        endpoint:\n          secure: AAABAJ==\n"
    )
    with pytest.raises(ValueError, match="ir:alertSubscriptions is .or holds. an encrypted"):
        load_stack_config(path)


@pytest.mark.parametrize(("path", "value", "line"), [
    ("regions", "eu-west-1", 'ir:regions = "eu-west-1": must be a list'),
    ("trail.insights", "yes", 'ir:trail.insights = "yes": must be true or false'),
    ("backup.daily", {"schedule": "cron(0 5 ? * * *)", "deleteAfterDays": 35, "x": 1},
     "ir:backup.daily.x = 1: is not an allowed key; allowed keys: coldStorageAfterDays, "
     "deleteAfterDays, schedule"),
    ("securityHub.standards", ["pci-dss/v/4.0.1", "pci-dss/v/4.0.1"],
     "lists pci-dss/v/4.0.1 more than once"),
])
def test_the_line_says_what_the_value_should_be(path: str, value: Any, line: str) -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_mapping(_with(path, value))
    assert line in str(info.value)


def test_integral_numbers_are_integers_as_before() -> None:
    """JSON Schema counted 7200.0 as an integer; the model does too."""
    s = Settings.from_mapping({**BASE, "maxSessionDuration": 7200.0})
    assert s.max_session_duration == 7200 and isinstance(s.max_session_duration, int)


def test_a_model_built_in_code_is_validated_too() -> None:
    import dataclasses

    from components.settings import ObjectLock

    with pytest.raises(SettingsError, match=r'ObjectLock.mode = "LEGAL": must be one of '
                                            r"GOVERNANCE, COMPLIANCE"):
        ObjectLock("LEGAL", 30)  # type: ignore[arg-type]
    s = Settings.from_mapping(BASE)
    with pytest.raises(SettingsError, match=r"ir:regions = .*more than once"):
        dataclasses.replace(s, regions=("eu-west-1", "eu-west-1"))
