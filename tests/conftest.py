"""Suite-wide settings.

Collection order: the longest test files first (see tests/file_durations.py).
pytest-xdist keeps the collection's order of files when `--no-loadscope-reorder` is given
(pyproject addopts); by default it would hand out the files with the most tests first,
which puts long single-test files (a throttled fleet, the full drill) at the end of the
run, where one worker runs them alone.

moto's AMI catalogue: moto's own default AMIs only (`MOTO_AMIS_PATH`, before moto's EC2
models are imported, inherited by every subprocess). Without it every new EC2 backend
(each test's account and region) also builds ~1,300 ECS-optimised and ~40 "latest" AMIs,
with a snapshot each: about 0.4 s of CPU per backend, ~18 % of an EC2-heavy test file.
Nothing here launches from those: the tests' AMIs (ami-12c6146b Windows, ami-760aaa0f
Amazon Linux) and the drill's (`amzn2-ami-hvm-*-x86_64-gp2`) are in the default list.
"""

from __future__ import annotations

import gzip
import os
import tempfile
from importlib.util import find_spec
from pathlib import Path

import pytest

from tests.file_durations import load


def _moto_default_amis() -> None:
    if "MOTO_AMIS_PATH" in os.environ:
        return
    spec = find_spec("moto")
    assert spec is not None and spec.origin is not None, "moto is not installed"
    source = Path(spec.origin).parent / "ec2" / "resources" / "amis.json.gz"
    target = Path(tempfile.gettempdir()) / f"ir-readiness-moto-amis-{source.stat().st_size}.json"
    if not target.exists():
        partial = target.with_name(f"{target.name}.{os.getpid()}")
        partial.write_bytes(gzip.decompress(source.read_bytes()))
        partial.replace(target)  # atomic: xdist workers may race to write it
    os.environ["MOTO_AMIS_PATH"] = str(target)


_moto_default_amis()


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
