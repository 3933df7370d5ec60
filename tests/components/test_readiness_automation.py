"""The whole program with `ir:automation` enabled (and, as shipped, disabled) under mocks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from components.mockrun import PROJECT_ROOT, Evaluation, evaluate, load_stack_config
from components.settings import SettingsError

EXAMPLE = load_stack_config(PROJECT_ROOT / "Pulumi.example.yaml")
THREE = ("eu-west-1", "eu-central-1", "us-east-1")
FUNCTION = "aws:lambda/function:Function"


@pytest.fixture(scope="module")
def enabled(tmp_path_factory: pytest.TempPathFactory) -> Evaluation:
    layer = tmp_path_factory.mktemp("layer")
    (layer / "python").mkdir()
    config = dict(EXAMPLE)
    automation = json.loads(config["ir:automation"])
    automation.update({"enabled": True, "mode": "apply", "layerPath": str(layer)})
    config["ir:automation"] = json.dumps(automation)
    return evaluate(config)


def test_disabled_by_default_in_the_example() -> None:
    ev = evaluate(EXAMPLE)
    assert ev.of_type(FUNCTION) == []
    assert ev.of_type("ir-readiness:index:ResponseAutomation") == []
    assert ev.outputs["automationFunctionArns"] == {}


def test_one_function_per_covered_region_alarming_its_high_topic(enabled: Evaluation) -> None:
    functions = enabled.of_type(FUNCTION)
    assert sorted(f.region or "" for f in functions) == sorted(THREE)
    topics = {t.region: t for t in enabled.of_type("aws:sns/topic:Topic")
              if t.inputs["name"].endswith("-high")}
    for fn in functions:
        assert fn.inputs["environment"]["variables"]["IR_AUTOMATION_MODE"] == "apply"
        assert fn.inputs["loggingConfig"]["logGroup"] == "/ir-readiness/mock/automation"
    for alarm in enabled.of_type("aws:cloudwatch/metricAlarm:MetricAlarm"):
        if "-automation-" not in alarm.inputs["name"]:
            continue
        region = alarm.region or ""
        assert alarm.inputs["alarmActions"][0].startswith(f"arn:aws:sns:{region}:")
        assert alarm.inputs["alarmActions"][0].endswith(topics[region].inputs["name"])
    assert sorted(enabled.outputs["automationFunctionArns"]) == sorted(THREE)


def test_missing_layer_is_a_clear_error(tmp_path: Path) -> None:
    config = dict(EXAMPLE)
    config["ir:automation"] = json.dumps({"enabled": True, "layerPath": str(tmp_path / "no")})
    with pytest.raises(Exception, match="make automation-layer"):
        evaluate(config)


def test_bad_automation_config_names_the_key() -> None:
    config = dict(EXAMPLE)
    config["ir:automation"] = json.dumps({"enabled": True, "findingTypes": ["Impact:S3/"]})
    with pytest.raises(SettingsError, match=r"ir:automation.findingTypes\[0\]"):
        evaluate(config)
