"""`irctl triage` shows a finding's state (sample, archived, workflow) and names the
database, function, cluster/pod or task of RDS, Lambda, EKS and Runtime findings, saying
that no playbook applies yet; irctl runs as a subprocess against a moto server."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.runbooks.conftest import Readiness

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def finding_file(tmp_path: Path, name: str, **service: Any) -> Path:
    event = json.loads((FIXTURES / name).read_text())
    event["detail"]["id"] = uuid.uuid4().hex
    event["detail"]["service"].update(service)
    path = tmp_path / f"{uuid.uuid4().hex}.json"
    path.write_text(json.dumps(event))
    return path


def triage_json(world: Readiness, path: Path) -> dict[str, Any]:
    done = world.irctl("triage", "--finding", str(path), "--no-notify", "--output", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    document: dict[str, Any] = json.loads(done.stdout)
    return document


@pytest.mark.parametrize("name,kind,resource,says", [
    ("guardduty_event_ecs_runtime_new_binary.json", "ecs-task", "9f8e7d6c5b4a39281706",
     "ECS task"),
])
def test_triage_names_the_workload_and_says_no_playbook_applies_yet(
        server_readiness: Readiness, tmp_path: Path, name: str, kind: str, resource: str,
        says: str) -> None:
    world = server_readiness
    path = finding_file(tmp_path, name)

    (finding,) = triage_json(world, path)["findings"]
    text = world.irctl("triage", "--finding", str(path), "--no-notify",
                       env={"COLUMNS": "400"})  # wide enough that no cell is folded

    assert {"kind": kind, "id": resource} in [
        {"kind": r["kind"], "id": r["id"]} for r in finding["resources"]]
    assert finding["playbook"] is None
    assert text.returncode == 0, text.stderr
    flat = " ".join(text.stdout.split())
    assert resource in flat and "no playbook yet" in flat and says in flat
    assert "irctl playbook run" not in text.stdout


def test_triage_shows_a_sample_finding_and_proposes_nothing(server_readiness: Readiness,
                                                            tmp_path: Path) -> None:
    world = server_readiness
    path = finding_file(tmp_path, "guardduty_event_cryptocurrency_ec2.json",
                        additionalInfo={"value": '{"sample":true}', "type": "default"},
                        archived=True)

    (finding,) = triage_json(world, path)["findings"]
    text = world.irctl("triage", "--finding", str(path), "--no-notify")

    assert finding["sample"] is True and finding["archived"] is True
    assert "sample finding" in finding["inactive"]
    assert "SAMPLE" in text.stdout and "ARCHIVED" in text.stdout
    assert "irctl playbook run" not in text.stdout


def test_triage_shows_record_state_and_workflow_of_asff(server_readiness: Readiness,
                                                        tmp_path: Path) -> None:
    world = server_readiness
    finding = json.loads((FIXTURES / "asff_guardduty_backdoor_ec2.json").read_text())
    finding.update(RecordState="ARCHIVED", Workflow={"Status": "RESOLVED"})
    path = tmp_path / "asff.json"
    path.write_text(json.dumps(finding))

    (parsed,) = triage_json(world, path)["findings"]

    assert parsed["recordState"] == "ARCHIVED" and parsed["archived"] is True
    assert parsed["workflowStatus"] == "RESOLVED"
    assert parsed["playbook"] == "compromised-ec2-instance"  # still named, for reading


def test_triage_plan_without_case_keeps_no_case_directory(server_readiness: Readiness,
                                                          tmp_path: Path) -> None:
    world = server_readiness
    path = finding_file(tmp_path, "guardduty_event_cryptocurrency_ec2.json")

    document = triage_json(world, path)

    root = Path(str(world.case_dir))
    assert not root.exists() or list(root.iterdir()) == []
    assert document["timeline"]["local"] is None
    assert any("--case" in w for w in document["runs"][0]["warnings"])


def test_triage_names_cluster_namespace_pod_containers_and_node_of_an_eks_finding(
        server_readiness: Readiness, tmp_path: Path) -> None:
    world = server_readiness
    path = finding_file(tmp_path, "guardduty_event_eks_runtime_cryptocurrency.json")

    (finding,) = triage_json(world, path)["findings"]
    text = world.irctl("triage", "--finding", str(path), "--no-notify",
                       env={"COLUMNS": "400"})

    assert finding["playbook"] == "compromised-eks-pod"
    k8s = finding["kubernetes"]
    assert (k8s["cluster"], k8s["namespace"], k8s["pod"], k8s["node"]) == (
        "prod-eks", "shop", "checkout-7d9f8c6b5-x2k4p", "i-0e1d2c3b4a5968778")
    assert text.returncode == 0, text.stderr
    flat = " ".join(text.stdout.split())
    assert ("cluster prod-eks; namespace shop; pod checkout-7d9f8c6b5-x2k4p; containers "
            "checkout (shop/checkout:1.4); node i-0e1d2c3b4a5968778") in flat
    assert "irctl contain node i-0e1d2c3b4a5968778 --cluster prod-eks" in flat
    assert "irctl playbook run compromised-eks-pod" in flat


def test_triage_of_a_cluster_level_eks_finding_says_what_to_do(
        server_readiness: Readiness, tmp_path: Path) -> None:
    world = server_readiness
    path = finding_file(tmp_path, "guardduty_event_eks_audit_anonymous_access.json")

    (finding,) = triage_json(world, path)["findings"]
    text = world.irctl("triage", "--finding", str(path), "--no-notify",
                       env={"COLUMNS": "400"})

    assert finding["playbook"] is None and finding["kubernetes"]["subject"] == "cluster"
    flat = " ".join(text.stdout.split())
    assert "cluster-level" in flat and "kubernetes user system:anonymous" in flat
    assert "irctl playbook run" not in text.stdout
