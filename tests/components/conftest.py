"""Shared helpers for the stack-core component tests.

Every test evaluates real component code under Pulumi's official mocks through
`components.mockrun` (its `ReadinessMocks` is the `pulumi.runtime.Mocks` subclass that
returns plausible ids/ARNs and answers getCallerIdentity, getPartition, getRegion and
ec2/getVpcs). Assertions run on the resources the mock monitor recorded, after the
program finished, so none can be skipped by an apply that never ran; `run_component`
fails when nothing was registered.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from components.mockrun import Evaluation, RegisteredResource, evaluate

ACCOUNT = "123456789012"


def run_component(build: Callable[[], Any], config: dict[str, str] | None = None) -> Evaluation:
    evaluation = evaluate(config or {}, program=build)
    assert evaluation.resources, "the program registered no resources"
    return evaluation


def only(evaluation: Evaluation, type_token: str) -> RegisteredResource:
    found = evaluation.of_type(type_token)
    assert len(found) == 1, f"expected one {type_token}, got {[r.name for r in found]}"
    return found[0]


def statements(policy: Any) -> list[dict[str, Any]]:
    doc = json.loads(policy) if isinstance(policy, str) else policy
    assert doc["Version"] == "2012-10-17"
    stmts = doc["Statement"]
    assert isinstance(stmts, list) and stmts
    return stmts


def by_sid(policy: Any) -> dict[str, dict[str, Any]]:
    stmts = statements(policy)
    sids = [s["Sid"] for s in stmts]
    assert len(sids) == len(set(sids)), f"duplicate Sids {sids}"
    return {s["Sid"]: s for s in stmts}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@pytest.fixture
def account() -> str:
    return ACCOUNT
