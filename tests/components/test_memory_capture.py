"""Memory capture in the stack (`ir:memoryCapture`) under Pulumi mocks: the command
document each region gets, the upload role's trust, path and policy, the forensic
group's endpoint egress, and `memoryCapture` in every region's manifest."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.mockrun import Evaluation, evaluate
from components.settings import Settings, SettingsError
from runbooks.core.manifest_schema import manifest_errors
from runbooks.core.scopes import MEMORY_DOCUMENT_NAME, MEMORY_UPLOAD_ROLE_PATH
from tests.components.test_readiness import EXAMPLE, THREE

AVML = "a" * 64
WINPMEM = "b" * 64
VPC = "vpc-0a1b2c3d4e5f60718"  # one of the example's eu-west-1 VPCs


def config(**memory: Any) -> dict[str, str]:
    forensic = json.loads(EXAMPLE["ir:forensicAccess"])
    forensic["endpointSecurityGroupIds"] = {VPC: ["sg-0123456789abcdef0"]}
    forensic["endpointPrefixListIds"] = {VPC: ["pl-63a5400a"]}
    return {**EXAMPLE, "ir:forensicAccess": json.dumps(forensic),
            "ir:memoryCapture": json.dumps({
                "enabled": True, "timeoutSeconds": 600,
                "linuxTool": {"uri": "tools/avml-0.14.0", "sha256": AVML},
                "windowsTool": {"uri": "s3://forensic-tools-bucket/winpmem.exe",
                                "sha256": WINPMEM}, **memory})}


@pytest.fixture(scope="module")
def enabled() -> Evaluation:
    return evaluate(config())


def test_every_region_gets_the_document_pinning_each_tool_and_the_bound(
        enabled: Evaluation) -> None:
    documents = enabled.of_type("aws:ssm/document:Document")
    assert sorted(d.region for d in documents) == sorted(THREE)
    for document in documents:
        assert document.inputs["name"] == MEMORY_DOCUMENT_NAME
        assert document.inputs["documentType"] == "Command"
        content = json.loads(document.inputs["content"])
        parameters = content["parameters"]
        assert parameters["ToolSha256Linux"]["default"] == AVML
        assert parameters["ToolUriLinux"]["default"].endswith("/tools/avml-0.14.0")
        assert parameters["ToolUriLinux"]["default"].startswith("s3://")
        assert parameters["ToolUriWindows"]["default"] == \
            "s3://forensic-tools-bucket/winpmem.exe"
        assert parameters["ExecutionTimeout"]["default"] == "600"
        steps = {s["precondition"]["StringEquals"][1]: s for s in content["mainSteps"]}
        assert set(steps) == {"Linux", "Windows"}
        for step in steps.values():
            assert step["inputs"]["timeoutSeconds"] == "{{ExecutionTimeout}}"
        linux = "\n".join(steps["Linux"]["inputs"]["runCommand"])
        assert "sha256sum -c" in linux and "--sse aws:kms" in linux
        assert "set -x" not in linux  # the credentials would be traced into the output


def test_the_upload_role_can_only_put_images_and_read_the_tools(
        enabled: Evaluation) -> None:
    [role] = [r for r in enabled.of_type("aws:iam/role:Role")
              if r.inputs.get("path") == MEMORY_UPLOAD_ROLE_PATH]
    trust = json.loads(role.inputs["assumeRolePolicy"])
    [statement] = trust["Statement"]
    assert statement["Principal"] == {"AWS": "arn:aws:iam::123456789012:root"}
    assert role.inputs["maxSessionDuration"] == 3600
    [policy] = [p for p in enabled.of_type("aws:iam/rolePolicy:RolePolicy")
                if p.inputs.get("name") == "memory-upload"]
    document = json.loads(policy.inputs["policy"])
    actions = {a for s in document["Statement"] for a in s["Action"]} | {
        s["Action"] for s in document["Statement"] if isinstance(s["Action"], str)}
    assert {a for a in actions if isinstance(a, str) and len(a) > 1} <= {
        "s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts",
        "s3:GetObject", "kms:Decrypt", "kms:GenerateDataKey"}
    [put] = [s for s in document["Statement"] if "s3:PutObject" in s["Action"]]
    assert put["Resource"].endswith("/cases/*/memory/*")
    [read] = [s for s in document["Statement"] if s["Action"] == "s3:GetObject"]
    assert sorted(read["Resource"]) == sorted([
        "arn:aws:s3:::forensic-tools-bucket/winpmem.exe",
        next(r for r in read["Resource"] if r.endswith("/tools/avml-0.14.0"))])


def test_every_manifest_names_the_document_role_and_bound(enabled: Evaluation) -> None:
    for param in enabled.of_type("aws:ssm/parameter:Parameter"):
        doc = json.loads(param.inputs["value"])
        assert manifest_errors(doc) == []
        memory = doc["memoryCapture"]
        assert memory["documentName"] == MEMORY_DOCUMENT_NAME
        assert memory["uploadRoleArn"].endswith("-memory-upload")  # (mocks drop the path)
        assert memory["timeoutSeconds"] == 600


def test_the_forensic_group_gets_https_egress_to_the_configured_endpoints(
        enabled: Evaluation) -> None:
    forensic = [g for g in enabled.of_type("aws:ec2/securityGroup:SecurityGroup")
                if g.inputs["tags"].get("ir-readiness:purpose") == "forensic"
                and g.inputs["vpcId"] == VPC]
    [group] = forensic
    [rule] = group.inputs["egress"]
    assert (rule["protocol"], rule["fromPort"], rule["toPort"]) == ("tcp", 443, 443)
    assert rule["securityGroups"] == ["sg-0123456789abcdef0"]
    assert rule["prefixListIds"] == ["pl-63a5400a"]


def test_off_by_default_nothing_is_provisioned_and_the_manifest_has_no_key() -> None:
    off = evaluate(EXAMPLE)
    assert off.of_type("aws:ssm/document:Document") == []
    for param in off.of_type("aws:ssm/parameter:Parameter"):
        assert "memoryCapture" not in json.loads(param.inputs["value"])


@pytest.mark.parametrize(("memory", "message"), [
    ({"enabled": True}, "needs linuxTool and/or windowsTool"),
    ({"enabled": True, "linuxTool": {"uri": "tools/avml", "sha256": "ABC"}}, "sha256"),
    ({"enabled": True, "linuxTool": {"uri": "http://x/avml", "sha256": AVML}}, "uri"),
    ({"timeoutSeconds": 30}, "timeoutSeconds"),
])
def test_bad_memory_settings_name_the_key(memory: dict[str, Any], message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_mapping({"regions": ["eu-west-1"],
                               "responderPrincipals": ["arn:aws:iam::123456789012:root"],
                               "memoryCapture": memory})
    assert message in str(caught.value) and "memoryCapture" in str(caught.value)


def test_the_enabled_stacks_policies_lint_clean_and_no_role_can_escalate(
        enabled: Evaluation) -> None:
    """What tests/components/test_policy_documents_lint.py and test_role_escalation.py
    hold the example stacks to, for a stack with memory capture on (the examples keep it
    off): parliament finds nothing at MEDIUM or above, cloudsplaining no escalation or
    credentials exposure in any role (the upload role and the responder among them)."""
    from tests.components.test_policy_documents_lint import collect, lint
    from tests.components.test_role_escalation import findings, role_documents

    problems = [f"{d.resource}{d.path}: {finding}" for d in collect("memory", enabled)
                for finding in lint(d)]
    assert not problems, problems
    roles = role_documents(enabled)
    assert any(name.startswith("memory-upload") for name in roles)
    escalations = {name: findings(doc) for name, doc in roles.items()}
    assert {n: f for n, f in escalations.items() if f[0] or f[1]} == {}
