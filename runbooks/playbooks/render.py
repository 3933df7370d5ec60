"""Render the human playbooks in docs/playbooks/ from the executable YAML.

    python -m runbooks.playbooks.render            # (re)write docs/playbooks/*.md
    python -m runbooks.playbooks.render --check    # exit 1 when a rendered file is stale

The rendered Markdown is what a responder reads at 3 a.m.; it is generated from the
same document `irctl playbook run` executes, so the two cannot drift (a test runs
`--check`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from runbooks.playbooks import PHASES, Playbook, load_all

DOCS_DIR = Path(__file__).resolve().parents[2] / "docs" / "playbooks"

_PHASE_TITLES = {
    "analysis": "Analysis",
    "containment": "Containment",
    "eradication": "Eradication",
    "recovery": "Recovery",
    "post-incident": "Post-incident",
}


def _cell(text: Any) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _example_command(pb: Playbook) -> str:
    parts = [f"irctl playbook run {pb.name}"]
    for key, spec in pb.parameters.items():
        if spec.get("required"):
            example = spec.get("example", (spec.get("choices") or [key.upper()])[0])
            parts.append(f"--param {key}={example}")
    return " \\\n    ".join(parts)


def _when_text(action: Mapping[str, Any], decisions: Mapping[str, Mapping[str, Any]]) -> str:
    whens = action.get("when")
    if whens is None:
        return ""
    items = whens if isinstance(whens, list) else [whens]
    conditions = [
        f"{decisions[w['decision']]['param']} = {w['answer']}" for w in items
    ]
    return f" *(only when {' and '.join(conditions)})*"


def render(pb: Playbook) -> str:
    """The Markdown of one playbook (deterministic: same YAML, same text)."""
    from runbooks.core.step import load_all_steps

    registry = load_all_steps()
    doc = pb.doc
    decisions = {d["id"]: d for d in doc["decisions"]}
    out: list[str] = [
        f"<!-- Generated from runbooks/playbooks/{pb.name}.yaml by "
        "`python -m runbooks.playbooks.render`. Do not edit: edit the YAML. -->",
        "",
        f"# Playbook: {doc['title']}",
        "",
        f"**Severity:** {doc['severity']} · **Name:** `{pb.name}`",
        "",
        _cell(doc["summary"]),
        "",
        "## Run it",
        "",
        "Plan first (nothing changes), then act with `--apply`; every action is recorded "
        "in the case's audit log. Steps marked **irctl runs** are executed by "
        "`irctl playbook run`; commands and manual actions are yours.",
        "",
        "```bash",
        _example_command(pb),
        "# review the plan, then the same command with --apply --case CASE",
        "```",
        "",
        "## Triggers",
        "",
        "GuardDuty finding types:",
        "",
    ]
    out += [f"- `{t}`" for t in doc["triggers"]["guardduty"]]
    if doc["triggers"].get("securityhub"):
        out += ["", "Security Hub finding types (ASFF `Types`):", ""]
        out += [f"- `{t}`" for t in doc["triggers"]["securityhub"]]
    if doc["triggers"].get("events"):
        out += ["", "Other signals:", ""]
        out += [f"- {_cell(t)}" for t in doc["triggers"]["events"]]
    out += ["", "## Parameters", "", "| Parameter | Type | Required | Default | Meaning |",
            "|---|---|---|---|---|"]
    for key, spec in doc["parameters"].items():
        kind = spec["type"] + (f" ({', '.join(spec['choices'])})" if "choices" in spec else "")
        default = f"`{spec['default']}`" if "default" in spec else ""
        out.append(f"| `{key}` | {kind} | {'yes' if spec.get('required') else 'no'} | "
                   f"{default} | {_cell(spec['description'])} |")
    if doc["decisions"]:
        out += ["", "## Decision points", ""]
        for decision in doc["decisions"]:
            out += [f"### {decision['question']}", "", f"How to tell: {_cell(decision['how'])}",
                    ""]
            if decision.get("param"):
                out += [f"irctl branches on `--param {decision['param']}=...`.", ""]
            for answer, text in decision["answers"].items():
                out.append(f"- **{answer}**: {_cell(text)}")
            out.append("")
    else:
        out.append("")
    out += ["## Who is told what", "", "| Phase | Topic | Audience | Message |",
            "|---|---|---|---|"]
    for note in doc["notifications"]:
        out.append(f"| {note['phase']} | `{note['topic']}` | {', '.join(note['audience'])} | "
                   f"{_cell(note['message'])} |")
    out += ["", "Topics are the readiness stack's alert topics (`topics` in the manifest); "
            "subscriptions per severity come from the stack config. irctl publishes each "
            "message after the phase's steps are applied.", ""]
    for phase in PHASES:
        actions: Sequence[Mapping[str, Any]] = doc["phases"][phase]
        out += [f"## {_PHASE_TITLES[phase]}", ""]
        if not actions:
            out += ["Nothing specific to this incident type.", ""]
            continue
        for number, action in enumerate(actions, 1):
            when = _when_text(action, decisions)
            out.append(f"{number}. **{_cell(action['title'])}**{when}")
            if action.get("step"):
                step = registry.get(action["step"])
                description = step.description if step is not None else "(unregistered step)"
                params = ", ".join(f"{k}={v}" for k, v in action.get("params", {}).items())
                out.append(f"   - irctl runs step `{action['step']}` ({description}) "
                           f"with {params}")
            elif action.get("command"):
                out.append(f"   - Run: `{action['command']}`")
            else:
                out.append(f"   - {_cell(action['manual'])}")
            if action.get("why"):
                out.append(f"   - Why: {_cell(action['why'])}")
        out.append("")
    out += ["## How success is verified", "", "| Check | How |", "|---|---|"]
    for check in doc["verification"]:
        out.append(f"| {_cell(check['check'])} | {_cell(check['how'])} |")
    out.append("")
    return "\n".join(out)


def stale(docs_dir: Path = DOCS_DIR) -> list[str]:
    """Playbooks whose rendered file is missing or differs from the YAML; [] when fresh."""
    problems = []
    for pb in load_all():
        path = docs_dir / f"{pb.name}.md"
        if not path.exists():
            problems.append(f"{path} is missing")
        elif path.read_text() != render(pb):
            problems.append(f"{path} is stale")
    return problems


def write_all(docs_dir: Path = DOCS_DIR) -> list[Path]:
    docs_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for pb in load_all():
        path = docs_dir / f"{pb.name}.md"
        path.write_text(render(pb))
        written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runbooks.playbooks.render",
                                     description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true",
                        help="exit 1 when a rendered playbook is stale instead of writing")
    args = parser.parse_args(argv)
    if args.check:
        problems = stale()
        for problem in problems:
            print(f"{problem}: run `python -m runbooks.playbooks.render`", file=sys.stderr)
        return 1 if problems else 0
    for path in write_all():
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
