"""Executable playbooks: one YAML document per incident type, validated in two layers.

A playbook (`runbooks/playbooks/<name>.yaml`, schema `playbook.schema.json`) names the
findings that trigger it, its actions per phase (analysis, containment, eradication,
recovery, post-incident), its decision points, who is told what through which alert
topic, and how success is verified. Each action is exactly one of:

* `step`: a registered step (`runbooks.core.step.REGISTRY`) with a `target` and
  `params`; `irctl playbook run` executes these through the runner (plan by default,
  `--apply` to act, audit log, rollback);
* `command`: an irctl command the responder runs (judgement needed: eradication,
  restores);
* `manual`: a human action (call AWS Support, brief legal, ...).

Values may reference the playbook's parameters as `${name}` (and `${case}`); a value
that is exactly one reference keeps the parameter's type. An action with `when` runs
only when the decision's parameter has that answer.

The same YAML renders the human playbook in `docs/playbooks/` (`python -m
runbooks.playbooks.render`).

Example::

    >>> pb = load_playbook("compromised-ec2-instance")
    >>> params = pb.resolve_params({"instance_id": "i-0123456789abcdef0"})
    >>> [a.step for a in pb.actions(params, ["containment"]) if a.step][:2]
    ['ec2.tag-contained', 'ec2.capture-metadata']
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from runbooks.core.errors import InvalidInput

PHASES: tuple[str, ...] = ("analysis", "containment", "eradication", "recovery", "post-incident")
PLAYBOOK_DIR = Path(__file__).resolve().parent
BUILTIN_REFERENCES = frozenset({"case"})
_REFERENCE = re.compile(r"\$\{([a-z][a-z0-9_]*)\}")


class PlaybookError(InvalidInput):
    """A playbook document (or the parameters given to it) is invalid."""


@cache
def playbook_schema() -> dict[str, Any]:
    text = resources.files("runbooks.playbooks").joinpath("playbook.schema.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


def playbook_names() -> list[str]:
    """Names of the shipped playbooks (file stems), sorted."""
    return sorted(p.stem for p in PLAYBOOK_DIR.glob("*.yaml"))


@dataclass(frozen=True)
class Action:
    """One action of a phase, with its references resolved against the parameters."""

    phase: str
    id: str
    title: str
    step: str | None
    target: str | None
    params: Mapping[str, Any]
    command: str | None
    manual: str | None


@dataclass(frozen=True)
class Playbook:
    doc: Mapping[str, Any]
    path: Path

    @property
    def name(self) -> str:
        return str(self.doc["name"])

    @property
    def title(self) -> str:
        return str(self.doc["title"])

    @property
    def parameters(self) -> Mapping[str, Mapping[str, Any]]:
        params: Mapping[str, Mapping[str, Any]] = self.doc["parameters"]
        return params

    def resolve_params(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """Given `k=v` parameters -> typed values, defaults filled; errors name the key."""
        unknown = sorted(set(given) - set(self.parameters))
        if unknown:
            raise PlaybookError(
                f"playbook {self.name} has no parameter {', '.join(unknown)}; its parameters: "
                f"{', '.join(sorted(self.parameters))}"
            )
        resolved: dict[str, Any] = {}
        for key, spec in self.parameters.items():
            if key not in given:
                if "default" in spec:
                    resolved[key] = spec["default"]
                elif spec.get("required"):
                    raise PlaybookError(
                        f"playbook {self.name} needs --param {key}=VALUE ({spec['description']})"
                    )
                continue
            resolved[key] = _typed(self.name, key, spec, given[key])
        return resolved

    def actions(
        self, params: Mapping[str, Any], phases: Iterable[str] = PHASES, case: str = "CASE"
    ) -> list[Action]:
        """The actions of `phases` (in phase order) whose `when` holds for `params`."""
        wanted = set(phases)
        decisions = {d["id"]: d for d in self.doc["decisions"]}
        values = {**params, "case": case}
        out: list[Action] = []
        for phase in PHASES:
            if phase not in wanted:
                continue
            for action in self.doc["phases"][phase]:
                if not all(
                    _answer(params.get(decisions[w["decision"]]["param"])) == w["answer"]
                    for w in _whens(action)
                ):
                    continue
                if action.get("step"):
                    refs = _references({k: action.get(k) for k in ("target", "params")})
                    missing = sorted(r for r in refs if values.get(r) is None)
                    if missing:
                        raise PlaybookError(
                            f"playbook {self.name}: action {action['id']} ({phase}) needs "
                            f"--param {'=..., --param '.join(missing)}=... for these answers"
                        )
                resolved = substitute(action.get("params", {}), values)
                if action.get("step"):
                    _check_step_params(self.name, phase, action, resolved)
                out.append(
                    Action(
                        phase=phase,
                        id=action["id"],
                        title=action["title"],
                        step=action.get("step"),
                        target=substitute(action["target"], values) if "target" in action
                        else None,
                        params=resolved,
                        command=action.get("command"),
                        manual=action.get("manual"),
                    )
                )
        return out


def _check_step_params(playbook: str, phase: str, action: Mapping[str, Any],
                       params: Mapping[str, Any]) -> None:
    """The resolved parameters against the step's schema, before any AWS call."""
    from runbooks.core.step import load_all_steps, parse_params

    step = load_all_steps().get(str(action["step"]))
    if step is None or step.Params is None:
        return  # the loader already refused an unknown step
    try:
        parse_params(step.name, step.Params, params)
    except InvalidInput as err:
        raise PlaybookError(f"playbook {playbook}: action {action['id']} ({phase}): "
                            f"{err}") from None


def _whens(action: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    when = action.get("when")
    if when is None:
        return []
    return list(when) if isinstance(when, list) else [when]


def _answer(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _typed(playbook: str, key: str, spec: Mapping[str, Any], value: Any) -> Any:
    kind = spec["type"]
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        text = str(value).lower()
        if text not in ("true", "false", "yes", "no", "1", "0"):
            raise PlaybookError(f"{playbook}: parameter {key}={value!r} must be true or false")
        return text in ("true", "yes", "1")
    if kind == "integer":
        try:
            return int(value)
        except (TypeError, ValueError):
            raise PlaybookError(
                f"{playbook}: parameter {key}={value!r} must be an integer"
            ) from None
    text = str(value)
    if "choices" in spec and text not in spec["choices"]:
        raise PlaybookError(
            f"{playbook}: parameter {key}={text!r} is not one of {', '.join(spec['choices'])}"
        )
    if "pattern" in spec and not re.fullmatch(spec["pattern"], text):
        raise PlaybookError(
            f"{playbook}: parameter {key}={text!r} does not look right ({spec['description']}; "
            f"expected to match {spec['pattern']})"
        )
    return text


def substitute(value: Any, values: Mapping[str, Any]) -> Any:
    """Resolve `${name}` references; a value that is exactly one reference keeps its type."""
    if isinstance(value, str):
        whole = _REFERENCE.fullmatch(value)
        if whole:
            return values.get(whole.group(1))
        return _REFERENCE.sub(lambda m: str(values.get(m.group(1), "")), value)
    if isinstance(value, list):
        return [substitute(v, values) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, values) for k, v in value.items()}
    return value


def _references(value: Any) -> set[str]:
    if isinstance(value, str):
        return set(_REFERENCE.findall(value))
    if isinstance(value, list):
        return set().union(*(_references(v) for v in value)) if value else set()
    if isinstance(value, dict):
        return set().union(*(_references(v) for v in value.values())) if value else set()
    return set()


def playbook_errors(
    doc: Any, name: str | None = None, known_steps: Iterable[str] | None = None
) -> list[str]:
    """Every problem of a playbook document: schema first, then cross-field rules."""
    validator = jsonschema.Draft202012Validator(playbook_schema())
    schema_errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    if schema_errors:
        return [
            f"{'/'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}"
            for e in schema_errors
        ]
    errors: list[str] = []
    if name is not None and doc["name"] != name:
        errors.append(f"name: {doc['name']!r} must equal the file name {name!r}")
    params = doc["parameters"]
    declared = set(params) | BUILTIN_REFERENCES
    decisions = {}
    for decision in doc["decisions"]:
        if decision["id"] in decisions:
            errors.append(f"decisions: id {decision['id']!r} is used twice")
        decisions[decision["id"]] = decision
        param = decision.get("param")
        if param is None:
            continue
        if param not in params:
            errors.append(f"decisions/{decision['id']}: param {param!r} is not a parameter")
            continue
        answers = set(decision["answers"])
        allowed = (
            {"true", "false"} if params[param]["type"] == "boolean"
            else set(params[param].get("choices", []))
        )
        if answers != allowed:
            errors.append(
                f"decisions/{decision['id']}: answers {sorted(answers)} must be exactly the "
                f"values of parameter {param} {sorted(allowed)}"
            )
    seen: set[str] = set()
    steps = set(known_steps) if known_steps is not None else None
    for phase in PHASES:
        for action in doc["phases"][phase]:
            where = f"phases/{phase}/{action['id']}"
            if action["id"] in seen:
                errors.append(f"{where}: action id is used twice")
            seen.add(action["id"])
            if steps is not None and "step" in action and action["step"] not in steps:
                errors.append(f"{where}: step {action['step']!r} is not a registered step")
            elif isinstance(known_steps, Mapping) and "step" in action:
                errors += _step_param_errors(where, known_steps[action["step"]],
                                             action.get("params", {}))
            missing = _references({k: action.get(k) for k in ("target", "params", "command")})
            for ref in sorted(missing - declared):
                errors.append(f"{where}: ${{{ref}}} is not a parameter of the playbook")
            for when in _whens(action):
                decision = decisions.get(when["decision"])
                if decision is None:
                    errors.append(f"{where}: when refers to unknown decision {when['decision']!r}")
                elif "param" not in decision:
                    errors.append(
                        f"{where}: decision {when['decision']!r} has no param, so irctl cannot "
                        "branch on it"
                    )
                elif when["answer"] not in decision["answers"]:
                    errors.append(
                        f"{where}: answer {when['answer']!r} is not one of decision "
                        f"{when['decision']!r}'s answers {sorted(decision['answers'])}"
                    )
    for key, spec in params.items():
        if "default" in spec and spec.get("required"):
            errors.append(f"parameters/{key}: a required parameter cannot have a default")
    ids = [n["id"] for n in doc["notifications"]]
    if len(ids) != len(set(ids)):
        errors.append("notifications: ids must be unique")
    return errors


def _step_param_errors(where: str, step: Any, params: Mapping[str, Any]) -> list[str]:
    """The action's parameter names against its step's schema (values are checked once
    the playbook's parameters are known: `Playbook.actions`), and its release kind."""
    import difflib

    errors: list[str] = []
    schema = step.Params
    known = sorted(schema.model_fields) if schema is not None else []
    for key in params:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
            errors.append(f"{where}: step {step.name} has no parameter {key!r}"
                          + (f"; did you mean {close[0]!r}?" if close else "")
                          + f" (its parameters: {', '.join(known) or 'none'})")
    if schema is not None:
        for key, spec in schema.model_fields.items():
            if spec.is_required() and key not in params:
                errors.append(f"{where}: step {step.name} needs parameter {key!r}")
    if not step.release_kind:
        errors.append(f"{where}: step {step.name} declares no release_kind, so its "
                      "changes could not be released")
    return errors


def load_playbook(name_or_path: str | Path, known_steps: Iterable[str] | None = None) -> Playbook:
    """Load and validate a shipped playbook by name, or any playbook file by path."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = PLAYBOOK_DIR / f"{name_or_path}.yaml"
        if not path.exists():
            raise PlaybookError(
                f"no playbook named {name_or_path!r}; available: {', '.join(playbook_names())}"
            )
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise PlaybookError(f"cannot read playbook {path}: {err}") from err
    if known_steps is None:
        from runbooks.core.step import load_all_steps

        known_steps = load_all_steps()
    errors = playbook_errors(doc, path.stem, known_steps)
    if errors:
        raise PlaybookError(f"playbook {path} is invalid:\n  " + "\n  ".join(errors))
    return Playbook(doc=doc, path=path)


def load_all(names: Sequence[str] | None = None) -> list[Playbook]:
    return [load_playbook(n) for n in (names or playbook_names())]
