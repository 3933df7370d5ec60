"""components.mockrun.canonical_order: the same graph gives the same list, whatever order
the program's threads registered it in, with every parent before its children."""

from __future__ import annotations

import random

from components.mockrun import (
    PROJECT_ROOT,
    RegisteredResource,
    canonical_order,
    evaluate,
    load_stack_config,
)


def _res(name: str, type_: str, parent: str = "urn:stack") -> RegisteredResource:
    return RegisteredResource(type=type_, name=name, urn=f"urn:{name}", parent=parent,
                              custom=True, inputs={}, outputs={})


GRAPH = [
    _res("ir", "ir-readiness:index:Readiness"),
    _res("trail", "ir-readiness:index:AuditTrail", "urn:ir"),
    _res("trail-bucket", "aws:s3/bucket:Bucket", "urn:trail"),
    _res("trail-key", "aws:kms/key:Key", "urn:trail"),
    _res("aws-eu", "pulumi:providers:aws", "urn:ir"),
    _res("alerts", "ir-readiness:index:AlertRouting", "urn:ir"),
    _res("alerts-topic", "aws:sns/topic:Topic", "urn:alerts"),
    _res("loose", "aws:kms/key:Key", "urn:gone"),
]


def test_any_registration_order_gives_one_order() -> None:
    expected = canonical_order(GRAPH)
    rng = random.Random(18)
    for _ in range(20):
        shuffled = GRAPH[:]
        rng.shuffle(shuffled)
        assert canonical_order(shuffled) == expected
    # depth first; siblings by type token, then name; an orphan is a root
    assert [r.name for r in expected] == [
        "loose", "ir", "alerts", "alerts-topic", "trail", "trail-key", "trail-bucket",
        "aws-eu"]


def test_parents_come_before_their_children_in_the_real_program() -> None:
    resources = evaluate(load_stack_config(PROJECT_ROOT / "Pulumi.example.yaml")).resources
    seen: set[str] = set()
    urns = {r.urn for r in resources}
    for r in resources:
        assert r.parent not in urns or r.parent in seen, f"{r.urn} before its parent"
        seen.add(r.urn)
