"""Actions per generated role, and how many of them are granted on `Resource: "*"`.

Evaluates the program under Pulumi's mocks (components.mockrun) for the example stack
(response automation on) and every organisation example config, collects each role's
inline policies, and counts per role: the distinct actions its Allow statements grant,
and those granted by a statement whose Resource is `*` (issue #15 item 1). Writes a
Markdown table to stdout (`bench/results/role_scopes.md` keeps the recorded runs).

    .venv/bin/python -m bench.role_scopes
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from components.mockrun import PROJECT_ROOT, evaluate, load_stack_config

ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"


def _config(stack: str, layer: Path) -> dict[str, str]:
    config = load_stack_config(PROJECT_ROOT / stack)
    if "ir:automation" in config:
        automation = json.loads(config["ir:automation"])
        automation.update({"enabled": True, "layerPath": str(layer)})
        config["ir:automation"] = json.dumps(automation)
    return config


def _as_list(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def role_counts(stack: str, layer: Path) -> dict[str, tuple[int, int]]:
    """Role logical name -> (actions allowed, actions allowed on `*`)."""
    evaluation = evaluate(_config(stack, layer))
    roles = evaluation.of_type(ROLE)
    by_id = {r.id: r.name for r in roles} | {r.outputs.get("name"): r.name for r in roles}
    statements: dict[str, list[dict[str, Any]]] = {r.name: [] for r in roles}
    for role in roles:
        for inline in role.inputs.get("inlinePolicies") or []:
            statements[role.name] += json.loads(inline["policy"])["Statement"]
    for policy in evaluation.of_type(ROLE_POLICY):
        statements[by_id[policy.inputs["role"]]] += json.loads(policy.inputs["policy"])[
            "Statement"]
    counts = {}
    for name, found in statements.items():
        allows = [s for s in found if s.get("Effect") == "Allow" and "Action" in s]
        every = {a for s in allows for a in _as_list(s["Action"])}
        on_any = {a for s in allows if "*" in _as_list(s.get("Resource", []))
                  for a in _as_list(s["Action"])}
        counts[name] = (len(every), len(on_any))
    return counts


def main() -> int:
    stacks = sorted(p.name for p in PROJECT_ROOT.glob("Pulumi.*example.yaml"))
    print("| stack | role | actions | on `*` |")
    print("|---|---|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        layer = Path(tmp)
        (layer / "python").mkdir()
        for stack in stacks:
            for name, (total, on_any) in sorted(role_counts(stack, layer).items()):
                if name.endswith(("responder", "-role")) and ("responder" in name
                                                               or "automation" in name):
                    print(f"| {stack} | {name} | {total} | {on_any} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
