"""Builders for analyzer resources and a helper collecting one policy's diagnostics."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from policies.analyzer import AnalyzerProvider, AnalyzerResource, Diagnostic, PolicyPackProcess

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_STACK = ROOT / "Pulumi.example.yaml"
HOME_REGION = "eu-west-1"


def provider(region: str) -> AnalyzerProvider:
    return AnalyzerProvider(type="pulumi:providers:aws", name=f"aws-{region}",
                            urn=f"urn:pulumi:test::proj::pulumi:providers:aws::aws-{region}",
                            properties={"region": region})


def res(type_: str, name: str, props: Mapping[str, Any], region: str | None = None,
        parent: str = "") -> AnalyzerResource:
    return AnalyzerResource(
        urn=f"urn:pulumi:test::proj::{type_}::{name}", type=type_, name=name,
        properties=dict(props), parent=parent,
        provider=provider(region) if region else None)


def violations(pack: PolicyPackProcess, resources: Sequence[AnalyzerResource],
               policy: str) -> list[Diagnostic]:
    """Diagnostics of `policy` from Analyze (each resource) and AnalyzeStack (all)."""
    found: list[Diagnostic] = []
    for r in resources:
        found.extend(pack.analyze(r))
    found.extend(pack.analyze_stack(resources))
    return [d for d in found if d.policy == policy]
