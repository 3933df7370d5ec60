"""Steps: small registered units of AWS logic that the runner drives.

A registered step is the whole action: a parameter schema (`Params`, a pydantic model
that refuses unknown keys) from which `validate()` is derived, the IAM actions it needs,
`plan()` read-only (the changes it would make; empty when already in the desired
state), `apply()` one change, `rollback()` where reversible, `verify()` that an applied
change still holds, and the `irctl release` kind of its target. Dry-run, audit,
idempotency, retries and rollback on failure live in the runner, never in a step.
`register()` refuses a step that lacks any of these, so forgetting one fails at import.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError

from runbooks.core.errors import InvalidInput
from runbooks.core.scopes import ANY as ANY_SCOPE
from runbooks.core.scopes import Scope

if TYPE_CHECKING:
    from runbooks.core.context import Context


class StepParams(BaseModel):
    """Base of every step's parameter schema: unknown keys are refused, types are strict
    (no "5" for 5, no "yes" for true). Field validators raise `InvalidInput` with the
    step's own wording; it propagates through pydantic unchanged."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def checked_by(check: Callable[[Any], object]) -> BeforeValidator:
    """A schema field validator that runs one of the steps' own checks (which raise
    `InvalidInput` in their own words) and keeps the value as given:
    `cidr: Annotated[str, checked_by(parse_cidr)]`."""

    def run(value: Any) -> Any:
        check(value)
        return value

    return BeforeValidator(run)


def parse_params(step: str, schema: type[StepParams], params: Mapping[str, Any]) -> StepParams:
    """`params` checked against `schema`, or one `InvalidInput` naming the parameter, the
    value, what is allowed, and for an unknown key the closest known one."""
    import difflib

    known = sorted(schema.model_fields)
    for key in params:
        if key not in schema.model_fields:
            close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise InvalidInput(
                f"{step}: unknown parameter {key!r}{hint} (its parameters: "
                f"{', '.join(known) or 'none'}); nothing was called")
    try:
        return schema.model_validate(dict(params))
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        field_info = schema.model_fields.get(str(first["loc"][0])) if first["loc"] else None
        allowed = f" ({field_info.description})" if field_info and field_info.description \
            else ""
        if first["type"] == "missing":
            raise InvalidInput(f"{step}: parameter {where} is required{allowed}") from None
        raise InvalidInput(f"{step}: parameter {where}={first.get('input')!r}: "
                           f"{first['msg'].lower()}{allowed}") from None


class CheckFailure(Protocol):
    """Why a check could not be made (`runbooks.analysis.sources.SourceFailure`)."""

    def text(self) -> str: ...

    def to_dict(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Check:
    """One thing `irctl verify case` checked against AWS, and whether it still holds."""

    area: str  # containment | findings | trail
    target: str
    what: str
    expected: str
    actual: str
    holds: bool
    account: str = ""  # the account the check was made in
    error: CheckFailure | None = None  # its source failed: unknown, neither held nor broken

    @property
    def status(self) -> str:
        return "unknown" if self.error else "holds" if self.holds else "broken"

    def to_dict(self) -> dict[str, Any]:
        return {"area": self.area, "account": self.account, "target": self.target,
                "what": self.what, "expected": self.expected, "actual": self.actual,
                "holds": self.holds, "status": self.status,
                "error": self.error.to_dict() if self.error else None}


@dataclass(frozen=True)
class Change:
    """One change a step would make (plan) or made (apply), JSON-serialisable.

    `before` is the recorded pre-action state that rollback and `irctl release` restore
    from; `after` is the desired state. `summary` is what a responder reads.
    """

    step: str
    target: str
    summary: str
    before: Mapping[str, Any] = field(default_factory=dict)
    after: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "target": self.target,
            "summary": self.summary,
            "before": dict(self.before),
            "after": dict(self.after),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Change:
        return cls(
            step=data["step"],
            target=data["target"],
            summary=data["summary"],
            before=dict(data.get("before", {})),
            after=dict(data.get("after", {})),
        )


class Step(ABC):
    """Base class of every step. Subclasses set the class variables and register."""

    name: ClassVar[str]
    """Stable dotted name, e.g. `ec2.isolate`."""
    Params: ClassVar[type[StepParams] | None] = None
    """The parameter schema; every registered step declares its own."""
    release_kind: ClassVar[str | None] = None
    """The kind `irctl release KIND TARGET` knows this step's target by (`instance`,
    `access-key`, `role`, `ip`, `bucket`, ...), which a playbook records its changes
    under; every reversible step, and every step a playbook runs, declares one."""
    description: ClassVar[str]
    """One line a responder reads in plans and playbooks."""
    actions: ClassVar[frozenset[str]]
    """Every IAM action `plan`, `apply` and `rollback` call."""
    scopes: ClassVar[Mapping[str, Scope | tuple[Scope, ...]]] = {}
    """Per action, the resources (and condition) it may act on (`runbooks.core.scopes`);
    an action not listed is granted on `*`, which `UNSCOPED_WHY` must justify."""
    reversible: ClassVar[bool] = True
    """False for evidence (captures, snapshots) and one-way safety measures (revoking
    sessions): never rolled back or released, and not counted as "still applied"."""
    multi_call: ClassVar[bool] = False
    """True when one `apply` makes several calls, so a failed apply may have made some:
    the runner then rolls the failed change back too (its `rollback` must tolerate it)."""
    applied_together: ClassVar[int] = 0
    """When > 0, with `--apply` and a network cut in the pipeline, every target's change
    of this step is applied in one pass before the targets' other steps, this many at
    once, so one call serves many targets (`ec2.tag-contained`: one CreateTags for up to
    100 instances). Applied one target at a time, the callers would arrive as the cuts'
    bucket lets targets through, one by one."""
    cuts_network: ClassVar[bool] = False
    """True for the step that cuts a target off the network (`ec2.isolate`). With
    `--apply` the runner applies a target's later steps only after its own cut, in a pool
    apart from the cuts, and holds back until every target's cut any later step that
    makes a call the cuts make (it would spend their request bucket); it reports when
    the last cut landed (`RunResult.isolated_at`)."""

    def __init__(self, ctx: Context, params: Mapping[str, Any]) -> None:
        self.ctx = ctx
        self.params = dict(params)

    @classmethod
    def prefetch(cls, ctx: Context) -> None:
        """Optional: warm `ctx.cache` with batched reads over all `ctx.targets`.

        The runner calls every pipeline step class's `prefetch` concurrently before
        planning, so batched reads overlap instead of queueing behind each other. Errors
        are left to `plan()` to raise (the cache never stores a failure).
        """
        return None

    def validate(self) -> None:
        """Check parameters without I/O against `Params`, then `check()`; raise
        `InvalidInput` naming the bad one."""
        if self.Params is not None:
            parse_params(self.name, self.Params, self.params)
        self.check()

    def check(self) -> None:  # noqa: B027 - optional hook
        """Cross-field or context rules the schema cannot say (no I/O)."""

    @abstractmethod
    def plan(self) -> list[Change]:
        """Read-only: the changes apply would make; [] when already in the desired state."""

    @abstractmethod
    def apply(self, change: Change) -> Mapping[str, Any]:
        """Make exactly `change`; return details worth recording (ids created, ...)."""

    def rollback(self, change: Change, result: Mapping[str, Any]) -> None:
        """Undo an applied `change` from its recorded `before` state."""
        raise NotImplementedError(f"{self.name} is not reversible")

    def verify(self, change: Change, result: Mapping[str, Any]) -> Check:
        """Read-only, against live AWS state: does applied `change` (whose apply returned
        `result`) still hold? Every reversible step implements it (`register()` refuses
        one that does not), so `irctl verify case` checks every change it can release."""
        raise NotImplementedError(f"{self.name} has no verify()")

    def verify_all(self, change: Change, result: Mapping[str, Any]) -> list[Check]:
        """What `irctl verify case` checks for `change`: its `verify`, plus whatever else
        the change needs to hold (an isolated ENI: every ENI the instance has now and the
        quarantine groups' rules). `verify case` shows a check once when several changes
        of the case make it (same area, target and what)."""
        return [self.verify(change, result)]

    def verify_current(self, change: Change, what: str) -> Check:
        """A `verify` from `current()`: holds while the live state is `change.after` on
        the keys `current()` reads."""
        live = self.current(change)
        if live is None:
            raise NotImplementedError(f"{self.name}.current() cannot tell; write verify()")
        expected = {key: change.after.get(key) for key in live}
        return Check("containment", change.target, what, show_state(expected),
                     show_state(live), same_state(live, change.after))

    @classmethod
    def subject(cls, change: Change) -> str:
        """What `change` changes, stable across runs (e.g. one ENI's security groups):
        a later change of the same subject supersedes an earlier one in the case's state,
        keeping the earliest `before`. Default: the change itself (nothing merges)."""
        import json

        return json.dumps([change.target, change.summary, change.before, change.after],
                          sort_keys=True, default=str)

    def current(self, change: Change) -> Mapping[str, Any] | None:
        """Live state of what `change` changes, in the shape of its `before`/`after` (only
        the keys compared), read fresh; None when the step cannot tell (then rollback and
        release act without comparing)."""
        return None

    def with_before(self, change: Change, before: Mapping[str, Any]) -> Change:
        """`change` with the pre-action state recorded earlier for its subject (a re-run
        after a crash); override when `apply` needs a value of the live `before`."""
        return Change(change.step, change.target, change.summary, dict(before),
                      change.after)

    def ours(self, change: Change) -> list[Mapping[str, Any]]:
        """The states this change (or part of it, for a multi-call step) leaves behind:
        rollback and release act only when the live state is one of them."""
        return [change.after]


def same_state(live: Mapping[str, Any], recorded: Mapping[str, Any]) -> bool:
    """`live` equals `recorded` on `live`'s keys (lists compared as sets of values)."""
    import json

    def norm(value: Any) -> Any:
        if isinstance(value, list):
            return sorted((norm(v) for v in value),
                          key=lambda v: json.dumps(v, sort_keys=True, default=str))
        if isinstance(value, Mapping):
            return {k: norm(v) for k, v in value.items()}
        return value

    return all(norm(value) == norm(recorded.get(key)) for key, value in live.items())


def show_state(state: Mapping[str, Any]) -> str:
    """A state as a responder reads it in `verify case`: one key's value alone."""
    import json

    if len(state) == 1:
        value = next(iter(state.values()))
        if value is None:
            return "none"
        if isinstance(value, str):
            return value
        return json.dumps(value, sort_keys=True, default=str)
    return json.dumps(dict(state), sort_keys=True, default=str)


REGISTRY: dict[str, type[Step]] = {}

S = TypeVar("S", bound=type[Step])


def has_verify(cls: type[Step]) -> bool:
    """Whether step class `cls` implements `verify` (a wrapper, e.g. a test's call
    recorder made with functools.wraps, is looked through)."""
    import inspect

    return inspect.unwrap(cls.verify) is not inspect.unwrap(Step.verify)


def register(cls: S) -> S:
    """Class decorator: register a step under its `name` (which must be unique)."""
    for attr in ("name", "description", "actions"):
        if not hasattr(cls, attr):
            raise TypeError(f"step {cls.__qualname__} does not set {attr}")
    if not cls.actions:
        raise TypeError(f"step {cls.name} declares no IAM actions")
    stray = sorted(set(cls.scopes) - cls.actions)
    if stray:
        raise TypeError(f"step {cls.name} scopes actions it does not declare: {stray}")
    if cls.Params is None:
        raise TypeError(f"step {cls.name} declares no parameter schema (Params)")
    if cls.reversible and not has_verify(cls):
        raise TypeError(f"step {cls.name} is reversible but has no verify(): `irctl verify "
                        "case` could never check that its change still holds")
    if cls.reversible and not cls.release_kind:
        raise TypeError(f"step {cls.name} is reversible but declares no release_kind")
    if cls.name in REGISTRY and REGISTRY[cls.name] is not cls:
        raise TypeError(f"step name {cls.name} is registered twice")
    REGISTRY[cls.name] = cls
    return cls


STEP_PACKAGES: tuple[str, ...] = ("runbooks.steps",)
"""Packages whose modules register steps, loaded by name as plug-ins (as `irctl` loads
`runbooks.commands`): steps import the engine, the engine never imports a step, so the
dependency points one way (`tests/test_layers.py`)."""


def load_all_steps() -> dict[str, type[Step]]:
    """Import every module of the step packages so that all steps are registered."""
    import importlib
    import pkgutil

    for name in STEP_PACKAGES:
        package = importlib.import_module(name)
        for info in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"{name}.{info.name}")
    return REGISTRY


def declared_actions() -> frozenset[str]:
    """Union of every registered step's declared IAM actions."""
    return frozenset(a for cls in load_all_steps().values() for a in cls.actions)


StepFactory = Callable[["Context", Mapping[str, Any]], Step]


def step_scopes(step_names: Iterable[str] | None = None) -> dict[str, set[Scope]]:
    """Action -> the scopes the registered steps (all, or those named) declare for it.
    An action one step scopes and another leaves open is granted on `*` as well."""
    registry = load_all_steps()
    found: dict[str, set[Scope]] = {}
    for name in (registry if step_names is None else step_names):
        cls = registry[name]
        for action in cls.actions:
            declared = cls.scopes.get(action, ANY_SCOPE)
            found.setdefault(action, set()).update(
                declared if isinstance(declared, tuple) else (declared,))
    return found
