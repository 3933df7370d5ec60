"""The regional component tests' view of the one mock harness (`components.mockrun`).

``run(program)`` evaluates ``program`` with `components.mockrun.evaluate` (the project's
`ReadinessMocks` and recording monitor, the same the whole-program tests, the preview
and the drill bridge use) and returns the recorded resources with the resolved value of
whatever ``program`` returned, so assertions run in the test body, after the program
completed, and never inside an ``apply`` that might not run. A program that registers
nothing, or whose outputs never resolve, fails the test.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pulumi

from components.mockrun import MOCK_ACCOUNT_ID, RegisteredResource, evaluate

ACCOUNT_ID = MOCK_ACCOUNT_ID
DEFAULT_REGION = "us-east-1"


@dataclass
class Run:
    resources: list[RegisteredResource]
    outputs: Any
    by_urn: dict[str, RegisteredResource] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_urn = {r.urn: r for r in self.resources}

    def of_type(self, typ: str) -> list[RegisteredResource]:
        return [r for r in self.resources if r.type == typ]

    def one(self, typ: str) -> RegisteredResource:
        found = self.of_type(typ)
        assert len(found) == 1, f"expected exactly one {typ}, found {[r.name for r in found]}"
        return found[0]

    def named(self, name: str) -> RegisteredResource:
        found = [r for r in self.resources if r.name == name]
        assert len(found) == 1, f"expected one resource named {name}, found {len(found)}"
        return found[0]

    def aws_resources(self) -> list[RegisteredResource]:
        return [r for r in self.resources if r.type.startswith("aws:")]


def run(program: Callable[[], Any]) -> Run:
    """Evaluate ``program`` under mocks; return what it registered and its resolved result."""
    evaluation = evaluate({"aws:region": DEFAULT_REGION}, program=program, stack="test")
    if not evaluation.resources:
        raise AssertionError("the program registered no resources")
    if evaluation.result is None:
        raise AssertionError("the program's outputs never resolved")
    return Run(resources=evaluation.resources, outputs=evaluation.result)


def provider(region: str) -> pulumi.ProviderResource:
    import pulumi_aws as aws

    return aws.Provider(f"aws-{region}", region=region)


def descends_from(run_: Run, resource: RegisteredResource, component_urn: str) -> bool:
    """True when ``component_urn`` is an ancestor of ``resource`` through parent links."""
    parent = resource.parent
    while parent:
        if parent == component_urn:
            return True
        ancestor = run_.by_urn.get(parent)
        parent = ancestor.parent if ancestor else ""
    return False
