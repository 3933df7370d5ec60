"""Behaviour unchanged: the resource graph of every example stack, against a recorded dump.

The whole program (`__main__.py`) is evaluated under mocks for `Pulumi.example.yaml`,
every `Pulumi.org-*.example.yaml`, and the example with `ir:automation` enabled; every
registered resource is dumped as type, name, parent, provider, dependencies, secret input
keys and inputs, and compared with `tests/components/golden/<case>.json`, recorded from the
code before the stack redesign of issue #17. A refactoring that changes any input, any
parent, any provider or any ordering dependency of any resource fails here.

The mocked evaluation registers resources from several threads, so the dump is made
canonical: resources sorted by URN, dependency lists sorted, JSON keys sorted. Values that
name files on this machine are canonical too: a `FileAsset`/`FileArchive` is recorded by
its path relative to the project root (the automation layer, in a temporary directory, as
`<layer>`), and the function code archive by the asset kinds, not the file list (which
follows every edit under `runbooks/`, not a change of the stack).

Re-record (only when a change of the graph is intended, and say so in the commit):

    .venv/bin/python -m tests.components.test_golden_graph --write
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import pulumi
import pytest

from components.mockrun import PROJECT_ROOT, evaluate, load_stack_config

GOLDEN = Path(__file__).resolve().parent / "golden"
LAYER_MARK = "<layer>"


def cases() -> dict[str, Path]:
    orgs = sorted(PROJECT_ROOT.glob("Pulumi.org-*.example.yaml"))
    return {
        "example": PROJECT_ROOT / "Pulumi.example.yaml",
        **{p.name.removeprefix("Pulumi.").removesuffix(".example.yaml"): p for p in orgs},
    }


CASES = [*cases(), "example-automation"]


def config_for(case: str, layer: Path) -> dict[str, str]:
    if case != "example-automation":
        return load_stack_config(cases()[case])
    config = load_stack_config(cases()["example"])
    automation = json.loads(config["ir:automation"])
    automation.update({"enabled": True, "mode": "apply", "layerPath": str(layer)})
    config["ir:automation"] = json.dumps(automation)
    return config


def canonical(value: Any, layer: Path) -> Any:
    """A JSON-ready, machine-independent form of one input value."""
    if isinstance(value, pulumi.FileAsset | pulumi.FileArchive):
        path = Path(str(value.path))
        if path.is_relative_to(layer):
            shown = LAYER_MARK + "/" + path.relative_to(layer).as_posix()
        elif path.is_relative_to(PROJECT_ROOT):
            shown = path.relative_to(PROJECT_ROOT).as_posix()
        else:
            shown = str(path)
        return {type(value).__name__: shown.rstrip("/.") or "."}
    if isinstance(value, pulumi.AssetArchive):
        kinds = sorted({type(a).__name__ for a in value.assets.values()})
        return {"AssetArchive": kinds}
    if isinstance(value, pulumi.Asset | pulumi.Archive):
        return {type(value).__name__: repr(value)}
    if isinstance(value, dict):
        return {str(k): canonical(v, layer) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [canonical(v, layer) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def graph(case: str) -> list[dict[str, Any]]:
    """The canonical resource graph of one case (see the module docstring)."""
    with tempfile.TemporaryDirectory() as tmp:
        layer = Path(tmp).resolve()
        (layer / "python").mkdir()
        resources = evaluate(config_for(case, layer)).resources
        return [
            {
                "urn": r.urn,
                "type": r.type,
                "name": r.name,
                "parent": r.parent,
                "provider": r.provider,
                "dependencies": sorted(set(r.dependencies)),
                "secretInputs": sorted(r.secret_inputs),
                "inputs": canonical(dict(r.inputs), layer),
            }
            for r in sorted(resources, key=lambda r: r.urn)
        ]


def dump(entries: list[dict[str, Any]]) -> str:
    return json.dumps(entries, indent=1, sort_keys=True) + "\n"


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES)
def test_resource_graph_is_unchanged(case: str) -> None:
    expected = json.loads((GOLDEN / f"{case}.json").read_text())
    actual = json.loads(dump(graph(case)))
    expected_urns = [e["urn"] for e in expected]
    actual_urns = [a["urn"] for a in actual]
    assert actual_urns == expected_urns, (
        f"resources added: {sorted(set(actual_urns) - set(expected_urns))}; "
        f"removed: {sorted(set(expected_urns) - set(actual_urns))}"
    )
    for want, got in zip(expected, actual, strict=True):
        assert got == want, f"{want['urn']} changed"


def test_the_dump_sees_a_changed_input() -> None:
    """The comparison is not vacuous: the dump carries inputs, so a change shows."""
    with tempfile.TemporaryDirectory() as tmp:
        layer = Path(tmp)
        entry = {"inputs": canonical({"n": 1.0, "a": pulumi.FileAsset(str(layer / "x"))}, layer)}
    assert entry == {"inputs": {"n": 1, "a": {"FileAsset": "<layer>/x"}}}


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python -m tests.components.test_golden_graph --write")
    GOLDEN.mkdir(exist_ok=True)
    for name in CASES:
        (GOLDEN / f"{name}.json").write_text(dump(graph(name)))
        print(f"wrote {GOLDEN / name}.json")
