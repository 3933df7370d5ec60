"""`ir:automation` settings: defaults, the example, and one clear error per bad value."""

from __future__ import annotations

from typing import Any

import pytest

from components.settings import Settings, SettingsError
from runbooks.automation.policy import DEFAULT_FINDING_TYPES

BASE: dict[str, Any] = {"regions": ["eu-west-1"],
                        "responderPrincipals": ["arn:aws:iam::123456789012:role/OnCall"]}


def test_automation_is_off_and_plans_by_default() -> None:
    a = Settings.from_mapping(BASE).automation
    assert a.enabled is False and a.mode == "plan"
    assert a.finding_types == DEFAULT_FINDING_TYPES
    assert a.max_actions_per_hour == 10 and a.reserved_concurrency == 2


def test_automation_values_are_read() -> None:
    a = Settings.from_mapping({**BASE, "automation": {
        "enabled": True, "mode": "apply", "findingTypes": ["control/S3.2", "Backdoor:EC2/"],
        "minSeverity": 8, "maxActionsPerHour": 3, "reservedConcurrency": 1,
        "logRetentionDays": 90, "optOutTag": "team:no-auto"}}).automation
    assert (a.enabled, a.mode, a.finding_types, a.min_severity, a.max_actions_per_hour,
            a.reserved_concurrency, a.log_retention_days, a.opt_out_tag) == (
        True, "apply", ("control/S3.2", "Backdoor:EC2/"), 8.0, 3, 1, 90, "team:no-auto")


@pytest.mark.parametrize(("automation", "message"), [
    ({"mode": "yes"}, "ir:automation.mode"),
    ({"findingTypes": []}, "ir:automation.findingTypes"),
    ({"findingTypes": ["Impact:S3/MaliciousIPCaller"]},
     'ir:automation.findingTypes[0] = "Impact:S3/MaliciousIPCaller": leads to no automated'),
    ({"findingTypes": ["control/EC2.99"]}, "ir:automation.findingTypes[0]"),
    ({"enabled": True, "mode": "apply", "maxActionsPerHour": 0},
     "ir:automation.maxActionsPerHour = 0: with mode apply must be at least 1"),
    ({"reservedConcurrency": 0}, "ir:automation.reservedConcurrency"),
    ({"logRetentionDays": 12}, "ir:automation.logRetentionDays"),
    ({"optOutTag": "aws:automation"}, "ir:automation.optOutTag"),
    ({"typo": True}, "typo"),
])
def test_bad_automation_values_name_the_key(automation: dict[str, Any], message: str) -> None:
    with pytest.raises(SettingsError, match=message.replace("[", r"\[").replace("]", r"\]")):
        Settings.from_mapping({**BASE, "automation": automation})
