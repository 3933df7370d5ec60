"""components.config_sources stays true to the settings schema, the components and the pack:
a renamed setting, a new component or a renamed policy fails here, not in a reviewer's
pull request annotation."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from components.config_sources import (
    FIXED_BY,
    PRODUCED_BY,
    STACK_FIXED_BY,
    ConfigSource,
    config_source,
)
from components.settings import NAMESPACE, SCHEMA

COMPONENTS = Path(__file__).resolve().parents[2] / "components"


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    """Follow `$ref` and the non-null branch of Optional (`anyOf: [X, null]`)."""
    while True:
        if "$ref" in schema:
            schema = SCHEMA["$defs"][schema["$ref"].rsplit("/", 1)[-1]]
        elif "anyOf" in schema:
            schema = next(s for s in schema["anyOf"] if s.get("type") != "null")
        else:
            return schema


def _is_setting(key: str) -> bool:
    namespace, _, path = key.partition(":")
    if namespace != NAMESPACE:
        return False
    schema: dict[str, Any] = SCHEMA
    for part in path.split("."):
        properties = _resolve(schema).get("properties", {})
        if part not in properties:
            return False
        schema = properties[part]
    return True


ALL_KEYS = sorted({*PRODUCED_BY.values(), *FIXED_BY.values(), *STACK_FIXED_BY.values()})


@pytest.mark.parametrize("key", ALL_KEYS)
def test_every_key_is_a_setting_of_the_schema(key: str) -> None:
    assert _is_setting(key), f"{key} is not a key of the ir settings schema"


def test_schema_walk_rejects_what_is_not_a_setting() -> None:
    # the check above can fail
    assert not _is_setting("ir:trail.logRetention")
    assert not _is_setting("aws:region")
    assert _is_setting("ir:backup.vaultLock.minRetentionDays")


def test_every_component_class_is_mapped_and_every_mapped_one_exists() -> None:
    declared = set()
    for path in COMPONENTS.glob("*.py"):
        declared |= set(re.findall(r"^class (\w+)\(pulumi\.ComponentResource\)",
                                   path.read_text(), flags=re.M))
    assert declared, "no component classes found"
    assert set(PRODUCED_BY) == declared
    assert {component for component, _ in FIXED_BY} <= declared


def test_every_policy_named_is_a_rule_of_the_pack() -> None:
    from policies.rules import REGISTRY

    named = {policy for _, policy in FIXED_BY} | set(STACK_FIXED_BY)
    assert named <= set(REGISTRY), named - set(REGISTRY)


def test_innermost_component_with_a_fix_wins_then_the_producer() -> None:
    assert config_source("logs-retention", ["ResponseAutomation", "IncidentResponseReadiness"]) \
        == ConfigSource("ir:automation.logRetentionDays", True)
    assert config_source("kms-key-rotation", ["EncryptionKey", "IncidentResponseReadiness"]) \
        == ConfigSource("ir:regions", False)
    assert config_source("guardduty-detector-per-region", []) == ConfigSource("ir:regions", True)
    assert config_source("kms-key-rotation", []) is None
