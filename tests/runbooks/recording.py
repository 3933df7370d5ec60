"""A recording layer over in-process moto: every AWS call, as the IAM actions that
authorise it (`runbooks.core.permissions.iam_actions`), attributed to the registered step
whose method is running in that thread, or to `OUTSIDE` (the command, the handler, the
runner's own audit and claims, or the test's seeding).

Calls are seen through botocore's `before-parameter-build` event (once per API call, with
the call's own arguments, before retries), registered the way moto hooks in: on
`botocore.handlers.BUILTIN_HANDLERS`, so every session made while recording has it, the
ones `SessionFactory` makes inside the CLI and the runner included. Attribution wraps each
registered step's `prefetch`, `plan`, `apply`, `rollback`, `current`, `verify` and
`verify_all`: a thread-local holds the outermost step running (a step that delegates to
another, e.g. `ec2.revoke-instance-role-sessions` to `iam.revoke-role-sessions`, needs the
delegate's actions itself), so it holds in the runner's worker threads too.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from botocore import handlers

from runbooks.core.permissions import iam_actions
from runbooks.core.step import load_all_steps

OUTSIDE = "(outside any step)"
STEP_METHODS = ("prefetch", "plan", "apply", "rollback", "current", "verify",
                "verify_all")


class Recorder:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._local = threading.local()
        self.calls: dict[str, set[str]] = defaultdict(set)
        """Attribution (step name or OUTSIDE) -> IAM actions its calls needed."""
        self.operations: dict[str, set[str]] = defaultdict(set)
        """Attribution -> `service.Operation` of its calls (for readable failures)."""

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.operations.clear()

    def _on_call(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        service = model.service_model.signing_name
        actions = iam_actions(service, model.name, params)
        who = getattr(self._local, "step", None) or OUTSIDE
        with self._lock:
            self.calls[who] |= actions
            self.operations[who].add(f"{service}.{model.name}")

    @contextmanager
    def in_step(self, name: str) -> Iterator[None]:
        outer = getattr(self._local, "step", None)
        if outer is None:
            self._local.step = name
        try:
            yield
        finally:
            if outer is None:
                self._local.step = None

    def _wrap(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            with self.in_step(name):
                return function(*args, **kwargs)

        return wrapped

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Record every session made from now on, and attribute the registered steps."""
        monkeypatch.setattr(handlers, "BUILTIN_HANDLERS",
                            [*handlers.BUILTIN_HANDLERS,
                             ("before-parameter-build", self._on_call)])
        for name, cls in load_all_steps().items():
            for method in STEP_METHODS:
                if not hasattr(cls, method):
                    continue
                raw = inspect.getattr_static(cls, method)
                if isinstance(raw, classmethod):
                    wrapped: Any = classmethod(self._wrap(name, raw.__func__))
                elif isinstance(raw, staticmethod):
                    wrapped = staticmethod(self._wrap(name, raw.__func__))
                else:
                    wrapped = self._wrap(name, raw)
                monkeypatch.setattr(cls, method, wrapped)


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    found = Recorder()
    found.install(monkeypatch)
    return found
