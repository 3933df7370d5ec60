"""GuardDuty RDS Protection findings reach the RDS playbook, and triage names the
database (the Aurora cluster when the instance is a member) and the command to run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from runbooks.analysis.findings import parse_findings
from runbooks.analysis.playbooks import COMPROMISED_RDS, database_to_contain, playbook_for
from tests.runbooks.conftest import Readiness

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def rds_event() -> dict[str, Any]:
    event: dict[str, Any] = json.loads(
        (FIXTURES / "guardduty_event_rds_anomalous_login.json").read_text())
    return event


@pytest.mark.parametrize("finding_type", [
    "CredentialAccess:RDS/AnomalousBehavior.SuccessfulLogin",
    "CredentialAccess:RDS/AnomalousBehavior.SuccessfulBruteForce",
    "CredentialAccess:RDS/TorIPCaller.SuccessfulLogin",
    "CredentialAccess:RDS/MaliciousIPCaller.SuccessfulLogin",
    "Discovery:RDS/MaliciousIPCaller",
    "Discovery:RDS/TorIPCaller",
])
def test_rds_protection_types_route_to_the_rds_playbook(finding_type: str) -> None:
    assert playbook_for(finding_type, resource_type="RDSDBInstance") == COMPROMISED_RDS


@pytest.mark.parametrize("finding_type", [
    "CredentialAccess:RDS/AnomalousBehavior.FailedLogin",
    "CredentialAccess:RDS/MaliciousIPCaller.FailedLogin",
])
def test_failed_logins_alone_route_nowhere(finding_type: str) -> None:
    assert playbook_for(finding_type, resource_type="RDSDBInstance") is None


def test_the_finding_names_instance_cluster_and_the_database_to_contain() -> None:
    [finding] = parse_findings(rds_event(), "test")

    assert finding.playbook == COMPROMISED_RDS
    kinds = [(r.kind, r.id) for r in finding.resources]
    assert ("rds-instance", "orders-db-1") in kinds and ("rds-cluster", "orders-cluster") in kinds
    assert database_to_contain(kinds) == "orders-cluster"
    assert database_to_contain([("rds-instance", "orders-db-1")]) == "orders-db-1"


def test_security_hub_rds_resources_are_named_by_identifier() -> None:
    from runbooks.analysis.findings import _asff_resource

    found = _asff_resource({"Type": "AwsRdsDbInstance",
                            "Id": "arn:aws:rds:us-east-1:123456789012:db:orders-db-1"})
    assert (found.kind, found.id) == ("rds-instance", "orders-db-1")


@pytest.mark.server
def test_triage_names_the_playbook_and_the_contain_command(
        server_readiness: Readiness, tmp_path: Path) -> None:
    server_readiness.client("securityhub").enable_security_hub()  # triage reads it too
    path = tmp_path / "finding.json"
    path.write_text(json.dumps(rds_event()))

    done = server_readiness.irctl("triage", "--finding", str(path), "--cloudtrail", "api",
                                  "--case", "ir-rds-triage")

    assert done.returncode == 0, (done.stdout, done.stderr)
    text = " ".join(done.stdout.split())
    assert "next: irctl playbook run compromised-rds-database" in text, text
    assert "or: irctl contain database orders-cluster (its containment phase)" in text, text


def test_rds_types_cannot_be_put_on_the_automation_allow_list() -> None:
    from runbooks.automation.policy import automated_playbook_for

    assert automated_playbook_for("CredentialAccess:RDS/TorIPCaller.SuccessfulLogin") is None
    assert automated_playbook_for("Discovery:RDS/") is None
