"""Packaging stays consistent: Pulumi's pip toolchain reads requirements.txt, pip reads
pyproject.toml; the program must get the same ranges from both."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _requirements() -> set[str]:
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    return {line.strip() for line in lines if line.strip() and not line.startswith("#")}


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
