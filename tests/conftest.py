"""Suite-wide collection order: the longest test files first (see tests/file_durations.py).

pytest-xdist keeps the collection's order of files when `--no-loadscope-reorder` is given
(pyproject addopts); by default it would hand out the files with the most tests first,
which puts long single-test files (a throttled fleet, the full drill) at the end of the
run, where one worker runs them alone.
"""

from __future__ import annotations

import pytest

from tests.file_durations import load


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    seconds = load()
    if not seconds:
        return
    root = config.rootpath
    first_seen: dict[str, int] = {}
    for index, item in enumerate(items):
        first_seen.setdefault(item.path.relative_to(root).as_posix(), index)

    def key(item: pytest.Item) -> tuple[float, int]:
        path = item.path.relative_to(root).as_posix()
        return (-seconds.get(path, 0.0), first_seen[path])

    items.sort(key=key)  # stable: each file's tests keep their order
