"""`ast.parse` for the tests that read the source tree, safe on Python 3.11.7.

CPython 3.11 before 3.11.8 keeps the AST constructor's recursion depth in global state:
when the GIL is released mid-construction (a GC pass), another thread compiling code
(a background thread importing a module from a fresh clone without .pyc files) can make
`ast.parse` raise `SystemError: AST constructor recursion depth mismatch`
(python/cpython#106905, fixed by #113035). The source is fine; parsing it again is the
answer. Any other error is raised as is.
"""

from __future__ import annotations

import ast
from pathlib import Path


def parse_file(path: Path, attempts: int = 3) -> ast.Module:
    source = path.read_text()
    for attempt in range(attempts):
        try:
            return ast.parse(source, str(path))
        except SystemError as err:
            if "recursion depth mismatch" not in str(err) or attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")
