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

from runbooks.core.errors import InvalidInput

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
