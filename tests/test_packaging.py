"""Packaging stays consistent: Pulumi's pip toolchain reads requirements.txt, pip reads
pyproject.toml; the program must get the same ranges from both. constraints.txt (the
lock make and CI install through) pins everything pyproject declares, within its ranges;
the wheel ships the three public packages and the rehearsal tooling beside them."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from tests.ast_parse import parse_file

ROOT = Path(__file__).resolve().parents[1]


def _requirements() -> set[str]:
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    return {line.strip() for line in lines
            if line.strip() and not line.startswith(("#", "-c "))}


def test_pulumi_toolchain_installs_through_the_lock_too() -> None:
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    assert "-c constraints.txt" in lines


def test_requirements_txt_matches_pyproject_runtime_and_stack_ranges() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = set(project["dependencies"]) | set(project["optional-dependencies"]["stack"])
    required = _requirements()
    assert required, "requirements.txt lists nothing"
    assert required <= declared, required - declared
    names = {r.split(">")[0].split("<")[0].split("=")[0] for r in required}
    # The program imports these at run time; pulumi-policy belongs to the pack's own file.
    assert {"pulumi", "pulumi-aws", "boto3", "jsonschema", "pyyaml"} <= names


def test_pulumi_project_uses_the_pip_toolchain_and_a_virtualenv() -> None:
    import yaml

    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    assert project["name"] == "ir-readiness"
    assert project["runtime"]["name"] == "python"
    assert project["runtime"]["options"]["toolchain"] == "pip"
    assert project["runtime"]["options"]["virtualenv"] == ".venv"


# --------------------------------------------------------------------------- the lock

def _pins() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, sep, version = line.partition("==")
            assert sep and version, f"constraints.txt: {line!r} is not a name==version pin"
            pins[_canonical(name)] = version
    return pins


def _canonical(name: str) -> str:
    import re

    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_declared_dependency_is_pinned_within_its_range() -> None:
    """constraints.txt covers pyproject: runtime, every extra and the build backend."""
    from packaging.requirements import Requirement

    doc = tomllib.loads((ROOT / "pyproject.toml").read_text())
    project = doc["project"]
    declared = [*project["dependencies"], *doc["build-system"]["requires"]]
    for extra in project["optional-dependencies"].values():
        declared.extend(extra)
    pins = _pins()
    for text in declared:
        requirement = Requirement(text)
        name = _canonical(requirement.name)
        if name == "ir-readiness":  # an extra naming other extras of this project
            continue
        assert name in pins, f"{text} is not pinned in constraints.txt: run `make lock`"
        assert requirement.specifier.contains(pins[name], prereleases=True), \
            f"constraints.txt pins {name}=={pins[name]}, outside {text}: run `make lock`"


def test_the_lock_does_not_pin_this_project_or_a_local_path() -> None:
    text = (ROOT / "constraints.txt").read_text()
    assert "ir-readiness" not in _pins()
    assert "file://" not in text and " @ " not in text


def test_every_make_install_goes_through_the_lock() -> None:
    makefile = (ROOT / "Makefile").read_text()
    installs = [line for line in makefile.splitlines()
                if "pip install" in line or line.strip().startswith("$(PIP)")]
    assert installs
    for line in installs:
        if "$(VENV)-lock" in line:  # `make lock` installs the resolver that writes the lock
            continue
        assert "$(PIP)" in line or "--constraint $(CONSTRAINTS)" in line, line
    assert "PIP    := $(BIN)/python -m pip install --quiet --constraint $(CONSTRAINTS)" \
        in makefile


def test_drill_needs_the_stack_and_the_emulator_not_the_dev_tools() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    assert "ir-readiness[stack]" in extras["drill"]
    # the emulator: moto's service extras the drill uses and the server's web framework,
    # not moto[server] (every service's dependencies); test_drill_extra.py runs the drill so
    assert any(d.startswith("moto[") for d in extras["drill"])
    assert not any(d.startswith("moto[server]") for d in extras["drill"])
    assert {"flask", "flask-cors"} <= {d.split(">")[0] for d in extras["drill"]}
    dev_only = {"pytest", "ruff", "mypy", "parliament", "cloudsplaining"}
    assert not [d for d in extras["drill"] + extras["stack"]
                if d.split(">")[0].split("<")[0].split("[")[0] in dev_only]


@pytest.mark.slow
def test_the_wheel_ships_the_three_public_packages(tmp_path: Path) -> None:
    """`components`, `policies` (with the pack's PulumiPolicy.yaml) and `runbooks` are what
    README documents as the import names; a wheel built from this tree has all three."""
    import shutil
    import subprocess
    import sys
    import zipfile

    # a copy of the sources: setuptools leaves build/ behind, and a stale build/lib of the
    # checkout would put files in the wheel that the tree no longer has
    source = tmp_path / "src"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv*", "build", "*.egg-info", "__pycache__", ".*_cache", "drill-reports"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--no-build-isolation", "--wheel-dir", str(tmp_path), str(source)],
                   check=True, capture_output=True, timeout=300)
    (wheel,) = tmp_path.glob("ir_readiness-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in ("components/__init__.py", "components/readiness.py",
                     "policies/__init__.py", "policies/rules/__init__.py",
                     "policies/PulumiPolicy.yaml", "runbooks/__init__.py", "runbooks/cli.py",
                     # what `irctl drill` loads (its dependencies come with the drill extra)
                     "rehearsal/__init__.py", "rehearsal/emulator/server.py",
                     "rehearsal/bridge/s3.py", "rehearsal/scenarios/malicious_ip.py"):
        assert required in names, f"{required} missing from {wheel.name}"
    # the rehearsal tooling is a package of its own, no longer inside the product's
    assert not [n for n in names if n.startswith("runbooks/drill/")]
    assert not [n for n in names if n.startswith("tests/")]


def test_runbooks_import_only_their_declared_runtime_dependencies() -> None:
    """What responders and the Lambda install is `runbooks/` with pyproject's runtime
    dependencies (the layer holds exactly those): every third-party module the package
    imports must come from one of them."""
    import ast
    import sys
    from importlib.metadata import packages_distributions

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {d.split(">")[0].split("<")[0].split("=")[0].split("[")[0].strip().lower()
                for d in project["dependencies"]}
    providers = packages_distributions()
    imported: dict[str, str] = {}
    for path in sorted((ROOT / "runbooks").rglob("*.py")):
        for node in ast.walk(parse_file(path)):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module] if isinstance(node, ast.ImportFrom) and node.module
                     and not node.level else [])
            for name in names:
                top = name.split(".")[0]
                # rehearsal: the drill adapter loads it only when installed (the drill extra)
                if top not in sys.stdlib_module_names and top not in (
                        "runbooks", "botocore", "rehearsal"):
                    imported.setdefault(top, str(path.relative_to(ROOT)))
    # botocore comes with boto3 (the Lambda runtime's and the layer's)
    undeclared = {top: where for top, where in imported.items()
                  if not {d.lower() for d in providers.get(top, [])} & declared}
    assert undeclared == {}, f"imported but not a runtime dependency: {undeclared}"
