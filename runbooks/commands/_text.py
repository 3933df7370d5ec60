"""`--output text`: the AWS CLI's text format, derived from the JSON document.

As `aws ... --output text` (awscli's `text.py`): the scalars of a dict on one line,
tab-separated, in key order, prefixed by the upper-cased key that holds the dict; a list
of dicts gives one line per dict with the same columns (the union of their scalar keys);
nested lists and dicts follow on their own lines, named by their key. Grep, cut and awk
read it; nothing is ever truncated. Tabs and newlines inside a value become spaces, so
one record stays one line.
"""

from __future__ import annotations

from typing import Any


def format_text(document: Any) -> str:
    lines: list[str] = []
    _item(document, lines, None, None)
    return "".join(f"{line}\n" for line in lines)


def _scalar(value: Any) -> str:
    return " ".join(str(value).split()) if isinstance(value, str) else str(value)


def _is_scalar(value: Any) -> bool:
    return not isinstance(value, (dict, list, tuple))


def _item(item: Any, lines: list[str], identifier: str | None,
          scalar_keys: list[str] | None) -> None:
    if isinstance(item, dict):
        _dict(item, lines, identifier, scalar_keys)
    elif isinstance(item, (list, tuple)):
        _list(list(item), lines, identifier)
    else:
        lines.append(_scalar(item))


def _list(items: list[Any], lines: list[str], identifier: str | None) -> None:
    if not items:
        return
    if any(isinstance(e, dict) for e in items):
        keys = sorted({k for e in items if isinstance(e, dict)
                       for k, v in e.items() if _is_scalar(v)})
        for element in items:
            _item(element, lines, identifier, keys)
        return
    scalars = [e for e in items if _is_scalar(e)]
    if scalars:
        if identifier is not None:
            lines.extend(f"{identifier.upper()}\t{_scalar(e)}" for e in scalars)
        else:
            lines.append("\t".join(_scalar(e) for e in scalars))
    for nested in (e for e in items if not _is_scalar(e)):
        _item(nested, lines, identifier, None)


def _dict(item: dict[str, Any], lines: list[str], identifier: str | None,
          scalar_keys: list[str] | None) -> None:
    keys = scalar_keys if scalar_keys is not None else sorted(
        k for k, v in item.items() if _is_scalar(v))
    scalars = [_scalar(item.get(k, "")) for k in keys]
    if scalars:
        lines.append("\t".join([identifier.upper(), *scalars] if identifier else scalars))
    for key in sorted(k for k, v in item.items() if not _is_scalar(v)):
        _item(item[key], lines, key, None)
