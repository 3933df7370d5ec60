"""Seconds each test file took, to start the longest files first (tests/conftest.py).

`make test` runs pytest-xdist with `--dist loadfile`: a file's tests run together on one
worker, and a worker asks for the next file when the one it runs is nearly done. Files
handed out last decide when the run ends; a long one handed out last keeps one worker busy
while the other idles. tests/file_durations.json holds each file's total (setup + call +
teardown of its tests, seconds, from a junit XML report); the collection puts the longest
first, files it does not know (new ones) after the known ones, each file's own tests in
their own order. The numbers only order the files: a stale entry costs time, not a result.

Refresh after a large change of test times (one whole run, on any machine; only the
order matters):

    .venv/bin/pytest -n 2 --dist loadfile -q --junitxml=/tmp/junit.xml
    .venv/bin/python -m tests.file_durations /tmp/junit.xml
"""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

DURATIONS = Path(__file__).resolve().parent / "file_durations.json"


def load() -> dict[str, float]:
    """Recorded seconds per test file path (relative to the repository root)."""
    try:
        return {str(k): float(v) for k, v in json.loads(DURATIONS.read_text()).items()}
    except FileNotFoundError:
        return {}


def from_junit(report: Path) -> dict[str, float]:
    """Per-file totals of a junit XML report: its classnames are dotted module paths, with
    a test class's name (capitalised) at the end when there is one."""
    totals: dict[str, float] = defaultdict(float)
    for case in ET.parse(report).getroot().iter("testcase"):
        parts = [p for p in case.get("classname", "").split(".") if not p[:1].isupper()]
        totals["/".join(parts) + ".py"] += float(case.get("time") or 0)
    return {path: round(seconds, 1) for path, seconds in sorted(totals.items())}


if __name__ == "__main__":
    DURATIONS.write_text(json.dumps(from_junit(Path(sys.argv[1])), indent=1) + "\n")
