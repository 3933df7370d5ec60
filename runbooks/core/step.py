"""Steps: small registered units of AWS logic that the runner drives.

A step declares the IAM actions it needs, `validate()`s its parameters without I/O,
`plan()`s read-only (the changes it would make; empty when already in the desired
state), `apply()`s one change and `rollback()`s it where reversible. Dry-run, audit,
idempotency, retries and rollback on failure live in the runner, never in a step.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from runbooks.core.scopes import ANY as ANY_SCOPE
from runbooks.core.scopes import Scope

if TYPE_CHECKING:
    from runbooks.core.context import Context


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

    def validate(self) -> None:  # noqa: B027 - optional hook
        """Check parameters without I/O; raise `InvalidInput` naming the bad one."""

    @abstractmethod
    def plan(self) -> list[Change]:
        """Read-only: the changes apply would make; [] when already in the desired state."""

    @abstractmethod
    def apply(self, change: Change) -> Mapping[str, Any]:
        """Make exactly `change`; return details worth recording (ids created, ...)."""

    def rollback(self, change: Change, result: Mapping[str, Any]) -> None:
        """Undo an applied `change` from its recorded `before` state."""
        raise NotImplementedError(f"{self.name} is not reversible")

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


REGISTRY: dict[str, type[Step]] = {}

S = TypeVar("S", bound=type[Step])


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
