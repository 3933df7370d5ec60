"""`irctl drill` installed without the `drill` extra: one line naming the install, exit 2,
no traceback (issue #18 point 7). The missing modules are hidden the way Python itself
reports a module as absent (`sys.modules[name] = None`), in a fresh interpreter."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from runbooks.commands.drill import DRILL_EXTRA_MODULES

ROOT = Path(__file__).resolve().parents[2]


def _drill_without(*hidden: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    code = ("import sys\n"
            f"for name in {list(hidden)!r}: sys.modules[name] = None\n"
            "from runbooks.cli import main\n"
            "sys.argv = ['irctl', 'drill', '--out', sys.argv[1]]\n"
            "main()\n")
    return subprocess.run([sys.executable, "-c", code, str(tmp_path / "reports")], cwd=ROOT,
                          capture_output=True, text=True, check=False, timeout=120)


@pytest.mark.parametrize("hidden", [("rehearsal",), ("moto",), ("pulumi", "pulumi_aws"),
                                    ("flask",)])
def test_drill_without_the_extra_says_what_to_install_in_one_line(
        hidden: tuple[str, ...], tmp_path: Path) -> None:
    proc = _drill_without(*hidden, tmp_path=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert "ir-readiness[drill]" in lines[0] and hidden[0] in lines[0]
    assert not (tmp_path / "reports").exists()  # nothing started


def test_the_sandbox_drill_without_the_rehearsal_package_says_what_to_install(
        tmp_path: Path) -> None:
    """--sandbox needs only the package (no emulator, no stack SDKs): with it absent, the
    same one line and exit 2, before any AWS call (no credentials are configured here)."""
    code = ("import sys\n"
            "sys.modules['rehearsal'] = None\n"
            "from runbooks.cli import main\n"
            "sys.argv = ['irctl', '--region', 'eu-west-1', 'drill', '--sandbox', "
            "'--confirm-account', '123456789012', '--out', sys.argv[1]]\n"
            "main()\n")
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path / "reports")], cwd=ROOT,
                          capture_output=True, text=True, check=False, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert "ir-readiness[drill]" in lines[0] and "missing: rehearsal)" in lines[0]


def test_the_drill_extra_provides_every_module_it_checks() -> None:
    """In this (dev) environment the check passes, so the message is not a false alarm."""
    import importlib.util

    assert all(importlib.util.find_spec(name) for name in DRILL_EXTRA_MODULES)


# --------------------------------------------------------------------------- the drill extra


def _installs(name: str, extras: frozenset[str]) -> set[str]:
    """Distributions `pip install name[extras]` brings, transitively, by canonical name:
    read from the installed metadata, environment markers evaluated as pip does."""
    from importlib.metadata import PackageNotFoundError, distribution

    from packaging.markers import default_environment
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    environment: dict[str, str] = dict(default_environment())
    seen: set[tuple[str, frozenset[str]]] = set()
    found: set[str] = set()
    todo = [(canonicalize_name(name), extras)]
    while todo:
        current, wanted = todo.pop()
        if (current, wanted) in seen:
            continue
        seen.add((current, wanted))
        found.add(current)
        try:
            requirements = distribution(current).requires or []
        except PackageNotFoundError:  # not for this platform / Python: not installed
            continue
        for text in requirements:
            requirement = Requirement(text)
            marker = requirement.marker
            if marker is not None and not any(
                    marker.evaluate({**environment, "extra": extra})
                    for extra in (wanted or {""})):
                continue
            todo.append((canonicalize_name(requirement.name), frozenset(requirement.extras)))
    return found


def _modules_only_in_dev() -> list[str]:
    """Top-level modules whose distributions the dev extra installs and the drill extra
    does not: what a `pip install 'ir-readiness[drill]'` machine lacks."""
    from importlib.metadata import packages_distributions

    from packaging.utils import canonicalize_name

    only_dev = (_installs("ir-readiness", frozenset({"dev"}))
                - _installs("ir-readiness", frozenset({"drill"})))
    return sorted(module for module, dists in packages_distributions().items()
                  if dists and all(canonicalize_name(d) in only_dev for d in dists)
                  and module.isidentifier())


def test_the_drill_extra_leaves_out_the_dev_tools_and_moto_server_extras() -> None:
    hidden = set(_modules_only_in_dev())
    # the check below would pass vacuously if nothing were left out
    assert {"cfnlint", "sympy", "docker", "mypy", "ruff", "pytest"} <= hidden, hidden
    assert not hidden & {"moto", "flask", "pulumi", "pulumi_aws", "yaml", "boto3"}


@pytest.mark.slow
@pytest.mark.server
def test_the_drill_runs_with_only_what_the_drill_extra_installs(tmp_path: Path) -> None:
    """An emulated drill scenario in a process where everything only the dev extra brings
    is absent, as on a machine that ran `make drill` (or pip install 'ir-readiness[drill]')."""
    hidden = _modules_only_in_dev()
    code = ("import sys\n"
            f"for name in {hidden!r}: sys.modules[name] = None\n"
            "from runbooks.cli import main\n"
            "sys.argv = ['irctl', 'drill', '--scenario', 'exposed-s3-bucket', "
            "'--out', sys.argv[1]]\n"
            "main()\n")
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path / "reports")], cwd=ROOT,
                          capture_output=True, text=True, check=False, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (report,) = (tmp_path / "reports").glob("drill-*.json")
    doc = json.loads(report.read_text())
    assert [s["scenario"] for s in doc["scenarios"]] == ["exposed-s3-bucket"]
    assert doc["passed"] and all(c["passed"] for s in doc["scenarios"] for c in s["checks"])
