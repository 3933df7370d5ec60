"""A refusal at plan time under `--apply` without `--case` leaves no case directory (issue
#16 section 3): the generated case id names nothing that happened, and its directory would
be a case no one opened. `irctl` as a subprocess against a moto server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.runbooks.conftest import Readiness, launch_instances

pytestmark = pytest.mark.server


def case_dirs(world: Readiness) -> list[str]:
    root = Path(str(world.case_dir))
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


def test_apply_without_case_refused_at_plan_time_leaves_no_case_directory(
        fault_readiness: Readiness) -> None:
    world = fault_readiness
    [iid] = launch_instances(world, 1, volumes=1)

    # one good target and one unknown: the whole run is refused before any change
    done = world.irctl("contain", "instance", iid, "i-0123456789abcdef0", "--apply")

    assert done.returncode == 2, (done.stdout, done.stderr)
    assert any("i-0123456789abcdef0" in line for line in done.stderr.splitlines()
               if line.startswith("error:"))
    assert case_dirs(world) == []
    assert world.client("ec2").describe_instance_attribute(
        InstanceId=iid, Attribute="disableApiTermination")["DisableApiTermination"][
        "Value"] is False


def test_apply_without_case_that_acts_keeps_its_case_directory(
        fault_readiness: Readiness) -> None:
    world = fault_readiness
    [iid] = launch_instances(world, 1, volumes=1)

    done = world.irctl("--output", "json", "contain", "instance", iid, "--apply")

    assert done.returncode == 0, (done.stdout, done.stderr)
    case = json.loads(done.stdout)["case"]
    assert case_dirs(world) == [case]
    assert (Path(str(world.case_dir)) / case / "audit.jsonl").exists()


def test_apply_with_an_explicit_case_keeps_the_refusal_on_record(
        fault_readiness: Readiness) -> None:
    world = fault_readiness

    done = world.irctl("contain", "instance", "i-0123456789abcdef0", "--apply", "--case",
                       "ir-asked-for")

    assert done.returncode == 2, (done.stdout, done.stderr)
    assert case_dirs(world) == ["ir-asked-for"]
