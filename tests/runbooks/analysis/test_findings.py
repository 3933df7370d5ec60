"""Finding parsing: every shape GuardDuty and Security Hub deliver, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runbooks.analysis.findings import guardduty_type_from_asff, parse_findings
from runbooks.analysis.playbooks import (
    COMPROMISED_EC2,
    COMPROMISED_IAM,
    EXPOSED_S3,
    MALICIOUS_IP,
    RANSOMWARE,
    TYPE_PREFIXES,
    playbook_for,
)
from runbooks.core.errors import InvalidInput

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def test_guardduty_eventbridge_event_names_instance_severity_and_playbook() -> None:
    [finding] = parse_findings(load("guardduty_event_cryptocurrency_ec2.json"))
    assert finding.source == "guardduty"
    assert finding.type == "CryptoCurrency:EC2/BitcoinTool.B!DNS"
    assert finding.account_id == "123456789012" and finding.region == "us-east-1"
    assert (finding.severity, finding.severity_label) == (8.0, "HIGH")
    assert finding.playbook == COMPROMISED_EC2
    kinds = {(r.kind, r.id) for r in finding.resources}
    assert ("instance", "i-0a1b2c3d4e5f60718") in kinds
    assert ("instance-profile", "web-app") in kinds
    assert finding.first_seen.isoformat() == "2026-11-27T22:05:31+00:00"
    assert finding.security_hub_identifier() == {
        "Id": load("guardduty_event_cryptocurrency_ec2.json")["detail"]["arn"],
        "ProductArn": "arn:aws:securityhub:us-east-1::product/aws/guardduty",
    }


def test_guardduty_event_detail_alone_parses_the_same() -> None:
    event = load("guardduty_event_cryptocurrency_ec2.json")
    [whole] = parse_findings(event)
    [detail] = parse_findings(event["detail"])
    assert whole.to_dict() == detail.to_dict()


def test_guardduty_get_findings_response_names_user_key_and_ip() -> None:
    [finding] = parse_findings(load("guardduty_get_findings_iam_user.json"))
    assert finding.type == "UnauthorizedAccess:IAMUser/MaliciousIPCaller.Custom"
    assert finding.playbook == COMPROMISED_IAM
    [principal] = finding.principals
    assert principal.kind == "iam-user" and principal.name == "build-bot"
    assert principal.arn == "arn:aws:iam::123456789012:user/build-bot"
    assert principal.access_key_id == "AKIAIOSFODNN7EXAMPLE"
    assert finding.remote_ips == ("203.0.113.77",)
    assert finding.severity_label == "MEDIUM"


def test_security_hub_event_with_guardduty_s3_finding() -> None:
    [finding] = parse_findings(load("securityhub_event_s3_public.json"))
    assert finding.source == "securityhub"
    assert finding.type == "Policy:S3/BucketBlockPublicAccessDisabled"
    assert finding.playbook == EXPOSED_S3
    assert finding.workflow_status == "NEW"
    assert ("s3-bucket", "customer-exports") in {(r.kind, r.id) for r in finding.resources}
    assert ("access-key", "AKIAIOSFODNN7EXAMPLE") in {(r.kind, r.id) for r in finding.resources}
    assert finding.principals[0].name == "data-eng"
    assert finding.remote_ips == ("198.51.100.200",)
    assert finding.security_hub_identifier()["ProductArn"].endswith("product/aws/guardduty")


def test_asff_alone_and_in_get_findings_response() -> None:
    doc = load("asff_guardduty_backdoor_ec2.json")
    [alone] = parse_findings(doc)
    [listed] = parse_findings({"Findings": [doc]})
    assert alone.to_dict() == listed.to_dict()
    assert alone.type == "Backdoor:EC2/C&CActivity.B!DNS"
    assert alone.playbook == COMPROMISED_EC2
    assert alone.severity == 8.0
    assert [(r.kind, r.id) for r in alone.resources] == [("instance", "i-0b1c2d3e4f5a60719")]
    # Security Hub's copy of a GuardDuty finding keeps GuardDuty's identity and role.
    assert alone.guardduty_arn == doc["Id"]
    assert alone.resource_role == "ACTOR"


def test_non_finding_event_is_rejected_naming_its_type() -> None:
    with pytest.raises(InvalidInput, match="EC2 Instance State-change Notification"):
        parse_findings(load("eventbridge_ec2_state_change.json"))


@pytest.mark.parametrize("document", [{"foo": 1}, [], "text", {"Findings": []}, 42])
def test_unknown_shapes_are_rejected(document: object) -> None:
    with pytest.raises(InvalidInput, match="GuardDuty finding"):
        parse_findings(document)


def test_finding_without_a_valid_account_is_rejected() -> None:
    doc = load("asff_guardduty_backdoor_ec2.json") | {"AwsAccountId": "not-an-account"}
    with pytest.raises(InvalidInput, match="12-digit"):
        parse_findings(doc)


@pytest.mark.parametrize(
    ("finding_type", "role", "expected"),
    [
        ("CryptoCurrency:EC2/BitcoinTool.B", None, COMPROMISED_EC2),
        ("Backdoor:EC2/DenialOfService.Tcp", "ACTOR", COMPROMISED_EC2),
        ("UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS", None,
         COMPROMISED_IAM),
        ("Exfiltration:S3/AnomalousBehavior", None, COMPROMISED_IAM),
        ("Policy:S3/BucketBlockPublicAccessDisabled", None, EXPOSED_S3),
        ("Policy:S3/BucketAnonymousAccessGranted", None, EXPOSED_S3),
        ("Impact:S3/ObjectDelete.Unusual", None, RANSOMWARE),
        ("Recon:EC2/PortProbeUnprotectedPort", "TARGET", MALICIOUS_IP),
        ("UnauthorizedAccess:EC2/SSHBruteForce", "TARGET", MALICIOUS_IP),
        ("UnauthorizedAccess:EC2/SSHBruteForce", "ACTOR", COMPROMISED_EC2),
        ("Recon:EC2/Portscan", "ACTOR", COMPROMISED_EC2),
        # A bare Kubernetes type (what it names unknown) is taken as a pod's; with the
        # finding's context see tests/runbooks/analysis/test_findings_eks.py.
        ("Discovery:Kubernetes/MaliciousIPCaller", None, "compromised-eks-pod"),
    ],
)
def test_type_to_playbook(finding_type: str, role: str | None, expected: str | None) -> None:
    assert playbook_for(finding_type, role) == expected


def test_anonymous_s3_exfiltration_means_an_open_bucket() -> None:
    assert playbook_for("Exfiltration:S3/MaliciousIPCaller", anonymous_caller=True) == EXPOSED_S3


def test_security_hub_control_maps_without_a_type() -> None:
    assert playbook_for(None, control_id="S3.8") == EXPOSED_S3


def test_every_mapped_playbook_exists_in_runbooks_playbooks() -> None:
    playbooks = Path(__file__).resolve().parents[3] / "runbooks" / "playbooks"
    present = {p.stem for p in playbooks.glob("*.y*ml")}
    if not present:
        pytest.skip("no playbooks committed yet")
    assert set(TYPE_PREFIXES.values()) <= present


def test_asff_type_recovery() -> None:
    assert guardduty_type_from_asff(
        ["Software and Configuration Checks/Backdoor:EC2.C&CActivity.B"]
    ) == "Backdoor:EC2/C&CActivity.B"
    assert guardduty_type_from_asff(["Effects/Data Exposure"]) is None


def test_security_hub_control_finding_maps_to_exposed_bucket() -> None:
    control = {
        "SchemaVersion": "2018-10-08",
        "Id": "arn:aws:securityhub:us-east-1:123456789012:security-control/S3.8/finding/"
              "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b",
        "ProductArn": "arn:aws:securityhub:us-east-1::product/aws/securityhub",
        "GeneratorId": "security-control/S3.8",
        "AwsAccountId": "123456789012",
        "Region": "us-east-1",
        "Types": ["Software and Configuration Checks/Industry and Regulatory Standards"],
        "CreatedAt": "2026-11-27T20:00:00.000Z",
        "UpdatedAt": "2026-11-27T23:00:00.000Z",
        "Severity": {"Label": "HIGH", "Normalized": 70},
        "Title": "S3 general purpose buckets should block public access",
        "Compliance": {"Status": "FAILED", "SecurityControlId": "S3.8"},
        "Resources": [{"Type": "AwsS3Bucket", "Id": "arn:aws:s3:::customer-exports"}],
        "Workflow": {"Status": "NEW"},
    }
    [finding] = parse_findings(control)
    assert finding.type == "control/S3.8"
    assert finding.playbook == EXPOSED_S3
    assert (finding.severity, finding.severity_label) == (7.0, "HIGH")
    assert finding.security_hub_identifier() == {"Id": control["Id"],
                                                 "ProductArn": control["ProductArn"]}
    assert [(r.kind, r.id) for r in finding.resources] == [("s3-bucket", "customer-exports")]


def test_lambda_finding_names_the_function_its_role_and_the_command() -> None:
    from runbooks.analysis.playbooks import COMPROMISED_LAMBDA, containment_command
    from runbooks.automation.routing import playbook_params

    [finding] = parse_findings(load("guardduty_event_lambda_cryptocurrency.json"))
    assert finding.playbook == COMPROMISED_LAMBDA
    kinds = {(r.kind, r.id, r.arn) for r in finding.resources}
    assert ("lambda-function", "thumbnailer",
            "arn:aws:lambda:us-east-1:123456789012:function:thumbnailer") in kinds
    assert ("execution-role", "thumbnailer-role",
            "arn:aws:iam::123456789012:role/thumbnailer-role") in kinds
    assert containment_command(finding.playbook, [(r.kind, r.id) for r in finding.resources]
                               ) == "irctl contain function thumbnailer"
    assert playbook_params(finding) == {"function_name": "thumbnailer"}


@pytest.mark.parametrize("finding_type", [
    "CryptoCurrency:Lambda/BitcoinTool.B", "Backdoor:Lambda/C&CActivity.B",
    "Trojan:Lambda/BlackholeTraffic", "Trojan:Lambda/DropPoint",
    "UnauthorizedAccess:Lambda/MaliciousIPCaller.Custom", "UnauthorizedAccess:Lambda/TorClient",
    "UnauthorizedAccess:Lambda/TorRelay"])
def test_every_lambda_protection_type_routes_to_the_lambda_playbook(finding_type: str) -> None:
    from runbooks.analysis.playbooks import COMPROMISED_LAMBDA, playbook_for

    assert playbook_for(finding_type, "ACTOR", resource_type="Lambda") == COMPROMISED_LAMBDA
