"""One check for every id, name and case id a responder types.

AWS ids and names, and irctl's case ids, are printable ASCII without spaces. A value
pasted with a trailing newline, a tab, a zero-width space or a look-alike letter would
otherwise reach AWS (an S3 key with a newline, an error far from the cause) or a file
name. Patterns elsewhere check each id's shape; this refuses, before any AWS call or
file write, the characters no id may hold, naming the character and where it is.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from runbooks.core.errors import InvalidInput

INSTANCE_ID_PATTERN = r"^i-([0-9a-f]{8}|[0-9a-f]{17})$"
"""AWS's rule: i- and 8 (older) or 17 lower-case hex digits; the one definition (the
EC2 playbook's parameter `pattern` is checked equal to it by a test)."""
INSTANCE_ID = re.compile(INSTANCE_ID_PATTERN)
CASE_TAG = "ir:case"
"""The tag irctl puts on what it contains, snapshots and restores: its value is the case."""

_NOT_PRINTABLE_ASCII = re.compile(r"[^\x21-\x7e]")


def _describe(char: str) -> str:
    if char in " \t\n\r\v\f":
        return {" ": "a space", "\t": "a tab", "\n": "a newline", "\r": "a carriage return",
                "\v": "a vertical tab", "\f": "a form feed"}[char]
    if ord(char) < 0x20 or ord(char) == 0x7F:
        return f"control character U+{ord(char):04X}"
    name = unicodedata.name(char, "")
    return f"non-ASCII character U+{ord(char):04X}" + (f" ({name})" if name else "")


def check_identifier(value: str, what: str) -> str:
    """`value`, unless it holds whitespace, control or non-ASCII characters."""
    found = _NOT_PRINTABLE_ASCII.search(value)
    if found:
        raise InvalidInput(
            f"{what} {value!r} contains {_describe(found.group())} at position "
            f"{found.start() + 1}; ids, names and case ids are printable ASCII without "
            "spaces: retype or re-copy it (nothing was called or written)")
    return value


def require_instance_id(value: Any) -> str:
    """`value` if it is an EC2 instance id; InvalidInput naming it otherwise."""
    if not isinstance(value, str) or not INSTANCE_ID.match(value):
        raise InvalidInput(
            f"{value!r} is not an EC2 instance id (expected i- followed by 8 or 17 hex "
            "digits, e.g. i-0123456789abcdef0)")
    return value
