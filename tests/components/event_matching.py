"""A small EventBridge event-pattern matcher and input-path resolver for the rule tests.

Follows EventBridge's documented semantics: every pattern field must match; a leaf list
matches when any event value at that path equals one of its values or satisfies one of
its filters (numeric, anything-but, exists, prefix); arrays in the event are flattened,
so a path matches if any element's value does; ``$or`` takes alternatives. It exists
because moto's matcher does not descend into arrays of objects (Security Hub's
``detail.findings``); where both apply, the tests check that they agree.
"""

from __future__ import annotations

import operator
import re
from typing import Any

_MISSING = object()
_OPS = {"<": operator.lt, "<=": operator.le, "=": operator.eq, ">=": operator.ge, ">": operator.gt}


def _flatten(node: Any, path: tuple[str, ...], out: dict[tuple[str, ...], list[Any]]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            _flatten(value, (*path, key), out)
    elif isinstance(node, list):
        for item in node:
            _flatten(item, path, out)
    else:
        out.setdefault(path, []).append(node)


def _same(a: Any, b: Any) -> bool:
    # JSON true is not 1: compare types as EventBridge does
    return type(a) is type(b) and a == b if isinstance(a, bool) or isinstance(b, bool) else a == b


def _filter_matches(op: str, arg: Any, value: Any) -> bool:
    if op == "numeric":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        pairs = zip(arg[::2], arg[1::2], strict=True)
        return all(_OPS[symbol](value, bound) for symbol, bound in pairs)
    if op == "anything-but":
        excluded = arg if isinstance(arg, list) else [arg]
        return not any(_same(value, e) for e in excluded)
    if op == "prefix":
        return isinstance(value, str) and value.startswith(arg)
    raise AssertionError(f"filter {op!r} is not supported by this matcher")


def _leaf_matches(values: list[Any] | None, filters: list[Any]) -> bool:
    assert isinstance(filters, list) and filters, "pattern leaves must be non-empty lists"
    for f in filters:
        if isinstance(f, dict):
            ((op, arg),) = f.items()
            if op == "exists":
                if (values is not None) == arg:
                    return True
                continue
            if values is not None and any(_filter_matches(op, arg, v) for v in values):
                return True
        elif values is not None and any(_same(v, f) for v in values):
            return True
    return False


def _matches(pattern: dict[str, Any], flat: dict[tuple[str, ...], list[Any]],
             prefix: tuple[str, ...]) -> bool:
    for key, value in pattern.items():
        if key == "$or":
            if not any(_matches(alt, flat, prefix) for alt in value):
                return False
        elif isinstance(value, dict):
            if not _matches(value, flat, (*prefix, key)):
                return False
        elif not _leaf_matches(flat.get((*prefix, key)), value):
            return False
    return True


def pattern_matches(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    flat: dict[tuple[str, ...], list[Any]] = {}
    _flatten(event, (), flat)
    return _matches(pattern, flat, ())


_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def resolve(path: str, event: dict[str, Any]) -> Any:
    """Resolve an EventBridge input path (``$.detail.findings[0].Title``); raise if absent."""
    assert path.startswith("$."), f"input path {path!r} must start with $."
    node: Any = event
    for name, index in _TOKEN.findall(path[2:]):
        if index:
            if not isinstance(node, list) or int(index) >= len(node):
                raise KeyError(f"{path}: no element [{index}]")
            node = node[int(index)]
        else:
            if not isinstance(node, dict) or name not in node:
                raise KeyError(f"{path}: no field {name!r}")
            node = node[name]
    return node
