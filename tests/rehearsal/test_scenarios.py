"""The scenario registry: one module per scenario, adding one is adding one file."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rehearsal.scenarios import SCENARIOS, Scenario, get_scenarios, scenario
from runbooks.core.errors import InvalidInput

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "rehearsal" / "scenarios"

# The order a full drill runs them in (and the report lists them in).
DRILL_ORDER = [
    "compromised-ec2-instance", "compromised-ec2-memory", "compromised-asg-instance",
    "compromised-iam-credentials",
    "compromised-workload-key", "compromised-role-credentials", "exposed-s3-bucket",
    "ransomware-data-destruction", "compromised-eks-pod", "compromised-eks-node",
    "malicious-ip", "compromised-lambda-function", "compromised-rds-database",
    "compromised-secret", "sabotaged-kms-key",
]


def test_every_scenario_is_registered_in_the_drills_order() -> None:
    assert list(SCENARIOS) == DRILL_ORDER
    assert [s.name for s in get_scenarios("all")] == DRILL_ORDER


def test_each_scenario_lives_in_the_module_named_after_it() -> None:
    modules = sorted(p.stem for p in PACKAGE.glob("*.py") if not p.stem.startswith("_"))
    assert modules == sorted(name.replace("-", "_") for name in SCENARIOS)
    for name, chosen in SCENARIOS.items():
        assert type(chosen).__module__ == f"rehearsal.scenarios.{name.replace('-', '_')}"


def test_an_unknown_scenario_names_the_available_ones() -> None:
    with pytest.raises(InvalidInput, match="no drill scenario 'ec2'.*malicious-ip"):
        get_scenarios("ec2")


def test_a_scenario_must_set_its_own_name_and_order() -> None:
    class Inherits(type(SCENARIOS["compromised-ec2-instance"])):  # type: ignore[misc]
        pass

    with pytest.raises(TypeError, match="sets its own name and order"):
        scenario(Inherits)
    assert all(isinstance(s, Scenario) for s in SCENARIOS.values())


NEW_SCENARIO = '''
from __future__ import annotations

from typing import Any

from rehearsal.scenarios._base import Check, Scenario, scenario


@scenario
class LeakedSecret(Scenario):
    name = "leaked-secret"
    order = 45
    playbook = "compromised-iam-credentials"
    title = "A secret pasted into a public repository"
    finding_type = "UnauthorizedAccess:IAMUser/MaliciousIPCaller"

    def prepare(self, world: Any) -> dict[str, Any]:
        return {}

    def resource(self, world: Any, victim: Any) -> dict[str, Any]:
        return {}

    def params(self, world: Any, victim: Any) -> dict[str, str]:
        return {}

    def verify(self, world: Any, incident: Any, case: str) -> list[Check]:
        return []
'''


def test_adding_a_scenario_is_adding_one_file(tmp_path: Path) -> None:
    """A copy of the package plus one new module: the drill offers it, in its order."""
    shutil.copytree(ROOT / "rehearsal", tmp_path / "rehearsal",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "rehearsal" / "scenarios" / "leaked_secret.py").write_text(NEW_SCENARIO)
    code = ("import json, rehearsal\n"
            "assert rehearsal.__file__.startswith(" + repr(str(tmp_path)) + ")\n"
            "print(json.dumps(rehearsal.scenario_names()))\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                          capture_output=True, text=True, check=False, timeout=120)
    assert proc.returncode == 0, proc.stderr
    names = json.loads(proc.stdout)
    assert names == ["all", *DRILL_ORDER[:5], "leaked-secret", *DRILL_ORDER[5:]]
