"""Meta-tests over the step registry and the playbooks: a registered step is a complete
action (schema that refuses unknown keys, verify when reversible, release kind), and
every playbook's step parameters validate against their step's schema."""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from typing import Any

import pytest

from runbooks.core.errors import InvalidInput
from runbooks.core.ids import INSTANCE_ID_PATTERN
from runbooks.core.step import Step, load_all_steps, parse_params, register
from runbooks.playbooks import load_all, load_playbook, playbook_errors, substitute

STEPS = load_all_steps()

# A well-formed value per playbook parameter, to resolve every action's params with.
EXAMPLES: dict[str, Any] = {
    "instance_id": "i-0123456789abcdef0",
    "access_key_id": "AKIAIOSFODNN7EXAMPLE",
    "role_name": "app-role",
    "bucket": "exposed-bucket-1",
    "cidr": "203.0.113.7/32",
    "vpc_id": "vpc-0123456789abcdef0",
    "restore_to": "2026-11-28T03:00:00Z",
    "function_name": "orders-webhook",
    "cluster": "prod-eks",
    "namespace": "payments",
    "pod": "payments-api-7d9c8b7f6-x2x9q",
    "database": "orders-db",
    "secret_id": "prod/payments/db",
    "principal_arn": "arn:aws:iam::111122223333:user/ci-deploy",
    "key_id": "1234abcd-12ab-34cd-56ef-1234567890ab",
}


def _values(spec: Mapping[str, Any], key: str) -> list[Any]:
    if spec["type"] == "boolean":
        return [True, False]
    if "choices" in spec:
        return list(spec["choices"])
    assert key in EXAMPLES, f"add an example value for playbook parameter {key}"
    assert re.fullmatch(spec.get("pattern", ".*"), EXAMPLES[key]), key
    return [EXAMPLES[key]]


@pytest.mark.parametrize("name", sorted(STEPS))
def test_every_step_schema_refuses_an_unknown_key(name: str) -> None:
    cls = STEPS[name]
    assert cls.Params is not None and cls.Params.model_config.get("extra") == "forbid"
    with pytest.raises(InvalidInput, match=rf"{re.escape(name)}: unknown parameter "
                                           r"'no_such_parameter'"):
        parse_params(name, cls.Params, {"no_such_parameter": 1})


@pytest.mark.parametrize("name", sorted(STEPS))
def test_a_misspelt_key_names_the_closest_known_one(name: str) -> None:
    cls = STEPS[name]
    assert cls.Params is not None
    key = sorted(cls.Params.model_fields)[0]
    typo = key + "x"
    with pytest.raises(InvalidInput, match=f"did you mean '{key}'"):
        parse_params(name, cls.Params, {typo: "x"})


def test_the_issue_example_a_misspelt_isolation_key_is_refused_by_the_runner_step() -> None:
    step = STEPS["ec2.isolate"](None, {"instance_id": "i-0123456789abcdef0",  # type: ignore[arg-type]
                                       "isolaton_group": "sg-0123456789abcdef0"})
    with pytest.raises(InvalidInput, match="unknown parameter 'isolaton_group'"):
        step.validate()


@pytest.mark.parametrize("name", sorted(n for n, c in STEPS.items() if c.reversible))
def test_every_reversible_step_has_verify_and_a_release_kind(name: str) -> None:
    cls = STEPS[name]
    assert cls.verify is not Step.verify, f"{name} is reversible but has no verify()"
    assert cls.release_kind, f"{name} is reversible but declares no release_kind"


def test_register_refuses_a_reversible_step_without_verify() -> None:
    base = STEPS["ec2.disassociate-address"]
    forgetful = type("Forgetful", (base,), {"name": "test.forgetful", "verify": Step.verify})
    with pytest.raises(TypeError, match="reversible but has no verify"):
        register(forgetful)
    assert "test.forgetful" not in STEPS


def test_register_refuses_a_step_without_schema_or_release_kind() -> None:
    base = STEPS["ec2.disassociate-address"]
    with pytest.raises(TypeError, match="no parameter schema"):
        register(type("NoSchema", (base,), {"name": "test.no-schema", "Params": None}))
    with pytest.raises(TypeError, match="no release_kind"):
        register(type("NoKind", (base,), {"name": "test.no-kind", "release_kind": None}))


def _step_actions() -> list[tuple[str, str, Mapping[str, Any]]]:
    found = []
    for pb in load_all():
        for phase, actions in pb.doc["phases"].items():
            for action in actions:
                if action.get("step"):
                    found.append((pb.name, f"{phase}/{action['id']}", action))
    return found


@pytest.mark.parametrize(("playbook", "where", "action"), _step_actions(),
                         ids=lambda v: v if isinstance(v, str) else "")
def test_every_playbook_step_parameters_validate_against_its_schema(
        playbook: str, where: str, action: Mapping[str, Any]) -> None:
    pb = load_playbook(playbook)
    cls = STEPS[action["step"]]
    assert cls.Params is not None and cls.release_kind, f"{where}: {cls.name}"
    options = [[(k, v) for v in _values(spec, k)] for k, spec in pb.parameters.items()]
    for combination in itertools.product(*options):
        values = {**dict(combination), "case": "ir-20261128-031500-1a2b3c"}
        parse_params(cls.name, cls.Params, substitute(action.get("params", {}), values))


def test_the_loader_refuses_a_playbook_step_with_an_unknown_or_missing_parameter() -> None:
    doc = load_playbook("compromised-ec2-instance").doc
    isolate = next(a for a in doc["phases"]["containment"] if a["step"] == "ec2.isolate")
    broken = {**doc, "phases": {**doc["phases"], "containment": [
        {**isolate, "params": {"isolaton_group": "sg-1"}}]}}
    errors = playbook_errors(broken, "compromised-ec2-instance", STEPS)
    assert any("has no parameter 'isolaton_group'" in e for e in errors), errors
    assert any("needs parameter 'instance_id'" in e for e in errors), errors


def test_resolved_playbook_values_are_validated_before_any_call() -> None:
    pb = load_playbook("malicious-ip")
    params = pb.resolve_params({"cidr": "203.0.113.7/24", "vpc_id": "vpc-0123456789abcdef0"})
    with pytest.raises(InvalidInput, match="deny-cidr.*did you mean 203.0.113.0/24"):
        pb.actions(params, ["containment"])


def test_the_playbook_instance_id_pattern_is_the_one_definition() -> None:
    spec = load_playbook("compromised-ec2-instance").parameters["instance_id"]
    assert spec["pattern"] == INSTANCE_ID_PATTERN


def test_a_wrong_type_or_missing_value_names_the_parameter_value_and_what_is_allowed() -> None:
    patch = STEPS["ssm.run-patch-baseline"]
    assert patch.Params is not None
    with pytest.raises(InvalidInput, match=r"ssm.run-patch-baseline: parameter "
                                           r"poll_seconds='soon': input should be a valid "
                                           r"number.*\(seconds between polls\)"):
        parse_params(patch.name, patch.Params, {"instance_id": "i-0123456789abcdef0",
                                                "poll_seconds": "soon"})
    with pytest.raises(InvalidInput, match=r"ec2.isolate: parameter instance_id is required "
                                           r"\(i- and 8 or 17 hex digits\)"):
        STEPS["ec2.isolate"](None, {}).validate()  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="'i-0123456789' is not an EC2 instance id"):
        STEPS["ec2.isolate"](None, {"instance_id": "i-0123456789"}).validate()  # type: ignore[arg-type]
