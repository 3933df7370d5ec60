"""The drill's checks from the step registry (issue #17 principle 1): after the playbook,
every change of the case still in place is checked through its step's own verify, and
a scenario fails when one of those no longer holds in AWS."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from rehearsal.registry_checks import registry_checks
from rehearsal.run import run_scenario
from rehearsal.scenarios._base import Check, Incident, Scenario
from rehearsal.world import World
from runbooks.core.manifest_schema import Manifest
from tests.runbooks.conftest import ACCOUNT, REGION, Readiness, launch_instances, seed_readiness

PLAYBOOK = "compromised-ec2-instance"


@dataclass
class Seeded:
    world: World
    readiness: Readiness


@pytest.fixture
def seeded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Seeded]:
    """An account where the readiness stack was deployed (in-process moto), as a World."""
    for var in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "AWS_REGION"):
        monkeypatch.delenv(var, raising=False)
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": REGION,
                       "IR_CASE_DIR": str(tmp_path / "cases")}.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        readiness = seed_readiness(lambda s: boto3.client(s, region_name=REGION))
        world = World(endpoint_url=None, account_id=ACCOUNT, home_region=REGION,
                      regions=[REGION], manifest=Manifest.from_document(readiness.manifest),
                      workload_vpc_id=readiness.vpc_id, workload_subnet_id=readiness.subnet_id,
                      inbox_queue_url="", run_id="t", emulated=False)
        yield Seeded(world, readiness)


class Victim(Scenario):
    """A compromised instance, not registered (the drill's list stays its own). It has
    no outcome checks of its own: what it reports is what the registry gives."""

    name = "registry-victim"
    order = 0
    playbook = PLAYBOOK
    title = "test"
    finding_type = "Backdoor:EC2/C&CActivity.B"
    phases = ("containment",)

    def __init__(self, readiness: Readiness) -> None:
        self.readiness = readiness
        self.app_group = ""

    def prepare(self, world: World) -> dict[str, Any]:
        app_group = self.readiness.client("ec2").create_security_group(
            GroupName="app", Description="app", VpcId=self.readiness.vpc_id)["GroupId"]
        [instance] = launch_instances(self.readiness, groups=[app_group])
        self.app_group = app_group
        return {"instance_id": instance}

    def resource(self, world: World, victim: Mapping[str, Any]) -> dict[str, Any]:
        return {}

    def params(self, world: World, victim: Mapping[str, Any]) -> dict[str, str]:
        return {"instance_id": str(victim["instance_id"])}

    def inject(self, world: World, victim: dict[str, Any]) -> Incident:
        # no GuardDuty here: the finding is not what this test is about
        return Incident(finding={"Id": "f"}, event={}, params=self.params(world, victim),
                        detected_at=datetime.now(timezone.utc), victim=victim)

    def verify(self, world: World, incident: Incident, case: str) -> list[Check]:
        return []


class Responder:
    """The drill's responder (the playbook workflow, as `irctl drill` runs it); with
    `undo_isolation`, someone puts the instance's ENI back in its application group
    right after the playbook contained it."""

    def __init__(self, victim: Victim, undo_isolation: bool) -> None:
        self.victim = victim
        self.undo_isolation = undo_isolation

    def run_playbook(self, world: World, case: str, playbook: str,
                     params: Mapping[str, str], phases: Sequence[str],
                     ) -> tuple[list[Any], dict[str, Any]]:
        from runbooks.workflows.playbook import run_playbook
        from runbooks.workflows.session import Settings

        settings = Settings(region=world.home_region, case_id=case, output="json",
                            apply=True)
        outcome = run_playbook(settings, playbook, dict(params), tuple(phases))
        if self.undo_isolation:
            ec2 = self.victim.readiness.client("ec2")
            instance = ec2.describe_instances(InstanceIds=[params["instance_id"]])[
                "Reservations"][0]["Instances"][0]
            for eni in instance["NetworkInterfaces"]:
                ec2.modify_network_interface_attribute(
                    NetworkInterfaceId=eni["NetworkInterfaceId"],
                    Groups=[self.victim.app_group])
        return outcome

    def run_command(self, world: World, argv: Sequence[str]) -> tuple[int, str, str]:
        raise AssertionError(f"the victim scenario runs no follow-up: {argv}")


def _scenario(seeded: Seeded, undo_isolation: bool) -> tuple[Victim, Responder]:
    victim = Victim(seeded.readiness)
    return victim, Responder(victim, undo_isolation)


def test_every_change_in_place_is_checked_by_its_step(seeded: Seeded) -> None:
    victim, responder = _scenario(seeded, undo_isolation=False)
    report = run_scenario(seeded.world, victim, responder)

    assert report.error is None and report.exit_code == 0, report.to_dict()
    assert report.checks and all(c.origin == "registry" for c in report.checks)
    assert report.passed, [c for c in report.checks if not c.passed]
    steps = {c.name.split(":")[0] for c in report.checks}
    # the isolation of the ENI and the instance's protection are each checked by their
    # own step's verify, against moto's state
    assert "step ec2.isolate" in steps, steps
    assert len(steps) >= 3, steps
    # the report counts them
    assert all(c["origin"] == "registry" for c in report.to_dict()["checks"])


def test_a_broken_registry_check_fails_the_scenario(seeded: Seeded) -> None:
    victim, responder = _scenario(seeded, undo_isolation=True)
    report = run_scenario(seeded.world, victim, responder)

    assert report.error is None and report.exit_code == 0, report.to_dict()
    assert not report.passed
    broken = [c for c in report.checks if not c.passed]
    assert broken and all(c.name.startswith("step ec2.isolate") for c in broken), broken
    # expected the isolation group, actual the application group put back by hand
    isolation = seeded.world.manifest.quarantine[seeded.readiness.vpc_id]
    assert any(victim.app_group in c.detail and c.detail.startswith("broken")
               for c in broken), broken
    assert any(isolation.isolation_security_group_id in c.detail for c in broken), broken


def test_a_change_in_another_account_is_a_failed_check_not_a_skip(seeded: Seeded) -> None:
    record = {"event": "applied", "case": "ir-x", "account": "210987654321", "seq": 1,
              "step": "ec2.isolate", "kind": "instance", "target": "i-1"}
    checks = registry_checks(seeded.world, "ir-x", [record])
    assert [c.passed for c in checks] == [False]
    assert "210987654321" in checks[0].name
