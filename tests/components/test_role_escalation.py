"""Every role the program generates, through a privilege-escalation analyser.

cloudsplaining reports per policy the privilege-escalation methods it allows (Rhino
Security Labs' list) and the actions that return credentials. Each role's policies
(inline, RolePolicy) are analysed together, so a path split over two policies counts, and
with `flag_conditional_statements`: by default it skips every statement with a Condition,
and `iam:PassedToService` does not stop passing an administrator role to EC2. Known blind
spot: it drops an action from the policy when any Deny names it, whatever the Deny's
resource (a PutRolePolicy denied only on some roles goes unreported; the pack's
`iam-no-privilege-escalation` rule judges it: a write onto other roles is a path when the
holder can write onto itself or then act as another role). The program is evaluated for
the example stack with response automation on and for every organisation example config.

Issue #15 point 0: no credential creation, no policy document written onto a user, no
PassRole-to-compute, SendCommand-with-any-document or user-data-then-restart path in any
generated role: OPEN_PATHS is empty (a new path fails the test; pinning one again needs
a reason written beside it).
cloudsplaining counts an action only where a statement grants it on Resource `*`; the
runbook actions are granted per resource scope (`runbooks.core.scopes`), so what it
cannot judge is checked here directly (`test_scoped_iam_writes_cannot_widen_anyone`: the
attach grants name only the Deny-only deny-all policy; the inline role writes of the
revoke cutoff are denied on the stack's own and ir:protected principals;
`test_no_role_can_restart_an_instance_with_new_user_data`: the analyser over every Allow
as if it were on `*`, no Deny; `test_pass_role_reaches_only_the_roles_the_runbooks_pass`)
and by the pack's mandatory `iam-no-privilege-escalation` rule over the same stacks.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cloudsplaining.scan.policy_document import PolicyDocument

from components.mockrun import PROJECT_ROOT, Evaluation, evaluate, load_stack_config

STACKS = sorted(p.name for p in PROJECT_ROOT.glob("Pulumi.*example.yaml"))
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
MANAGED_POLICY = "aws:iam/policy:Policy"

# What remains open, by role kind: nothing. The last path, ModifyEC2InstanceUserData-
# ThenRestart (ec2:ModifyInstanceAttribute + StopInstances + StartInstances), is closed by
# removing StartInstances from every role (ec2.stop hands the restart to the instance's
# owner), and ModifyInstanceAttribute is granted only without the user-data attribute.
OPEN_PATHS: dict[str, tuple[frozenset[str], frozenset[str]]] = {}
NONE: tuple[frozenset[str], frozenset[str]] = (frozenset(), frozenset())


def _config(stack: str, layer: Path) -> dict[str, str]:
    config = load_stack_config(PROJECT_ROOT / stack)
    if "ir:automation" in config:  # generate the automation roles as well
        automation = json.loads(config["ir:automation"])
        automation.update({"enabled": True, "layerPath": str(layer)})
        config["ir:automation"] = json.dumps(automation)
    return config


def role_documents(evaluation: Evaluation) -> dict[str, dict[str, Any]]:
    """Per generated role (logical name), one document holding the statements of every
    policy the program puts on it."""
    roles = evaluation.of_type(ROLE)
    by_id = {r.id: r.name for r in roles} | {r.outputs.get("name"): r.name for r in roles}
    statements: dict[str, list[dict[str, Any]]] = {r.name: [] for r in roles}
    for role in roles:
        for inline in role.inputs.get("inlinePolicies") or []:
            statements[role.name] += json.loads(inline["policy"])["Statement"]
    for policy in evaluation.of_type(ROLE_POLICY):
        owner = by_id[policy.inputs["role"]]
        statements[owner] += json.loads(policy.inputs["policy"])["Statement"]
    return {name: {"Version": "2012-10-17", "Statement": stmts}
            for name, stmts in statements.items()}


def kind_of(role_name: str) -> str | None:
    if role_name.endswith("responders-responder"):  # (org members: ir-member-responders-)
        return "responder"
    if "automation-" in role_name and role_name.endswith("-role"):
        return "automation"
    return None


def findings(document: dict[str, Any]) -> tuple[frozenset[str], frozenset[str]]:
    analysed = PolicyDocument(document, flag_conditional_statements=True)
    return (frozenset(e["type"] for e in analysed.allows_privilege_escalation),
            frozenset(analysed.credentials_exposure))


@pytest.fixture(scope="module")
def evaluations(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Evaluation]:
    layer = tmp_path_factory.mktemp("layer")
    (layer / "python").mkdir()
    return {stack: evaluate(_config(stack, layer)) for stack in STACKS}


@pytest.fixture(scope="module")
def roles(evaluations: dict[str, Evaluation]) -> dict[str, dict[str, dict[str, Any]]]:
    return {stack: role_documents(evaluation) for stack, evaluation in evaluations.items()}


def test_every_generated_role_is_analysed(roles: dict[str, dict[str, dict[str, Any]]]) -> None:
    example = roles["Pulumi.example.yaml"]
    kinds = [kind_of(name) for name in example]
    assert kinds.count("responder") == 1 and kinds.count("automation") == 3, sorted(example)
    assert any(name.endswith("investigator") for name in example)
    for stack in STACKS:
        assert roles[stack], f"{stack} generates no role"
        for name, document in roles[stack].items():
            if name.endswith(("investigator", "responder")) or kind_of(name):
                assert document["Statement"], f"{stack} {name}: no policy was collected"


@pytest.mark.parametrize("stack", STACKS)
def test_escalation_and_credential_findings_per_role(
        stack: str, roles: dict[str, dict[str, dict[str, Any]]]) -> None:
    problems = []
    for name, document in sorted(roles[stack].items()):
        kind = kind_of(name)
        expected = OPEN_PATHS.get(kind, NONE) if kind else NONE
        found = findings(document)
        if found != expected:
            problems.append(f"{name}: escalation {sorted(found[0])} credentials "
                            f"{sorted(found[1])}; expected {sorted(expected[0])} "
                            f"{sorted(expected[1])}")
    assert not problems, "\n".join(problems)


def test_the_analyser_sees_a_path_split_over_two_policies() -> None:
    """The harness merges a role's policies before analysing (and so fails when a
    path is only visible that way)."""
    halves = [{"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"},
              {"Effect": "Allow", "Action": "ec2:RunInstances", "Resource": "*"}]
    merged = findings({"Version": "2012-10-17", "Statement": halves})[0]
    assert "CreateEC2WithExistingIP" in merged, merged
    for half in halves:
        assert findings({"Version": "2012-10-17", "Statement": [half]})[0] == frozenset()


def test_scoped_iam_writes_cannot_widen_anyone(
        roles: dict[str, dict[str, dict[str, Any]]],
        evaluations: dict[str, Evaluation]) -> None:
    """What the analyser skips because it is resource-scoped: every role that may attach a
    user policy may attach only the stack's deny-all (iam:PolicyARN), which only denies;
    every role that may write an inline role policy (the revoke cutoff) is denied it on
    the stack's own roles and on tagged principals; none may create credentials."""
    for stack in STACKS:
        for name, document in roles[stack].items():
            allows = [s for s in document["Statement"] if s["Effect"] == "Allow"]
            actions = {a for s in allows for a in ([s["Action"]] if isinstance(s["Action"], str)
                                                   else s["Action"])}
            assert not actions & {"iam:CreateAccessKey", "iam:CreateLoginProfile",
                                  "iam:UpdateLoginProfile", "iam:PutUserPolicy",
                                  "iam:AttachRolePolicy", "iam:CreatePolicyVersion"}, name
            for statement in allows:
                if "iam:AttachUserPolicy" in statement["Action"]:
                    [arn] = statement["Condition"]["ArnEquals"]["iam:PolicyARN"]
                    [policy] = [p for p in evaluations[stack].of_type(MANAGED_POLICY)
                                if p.outputs.get("arn") == arn]
                    attachable = json.loads(policy.inputs["policy"])["Statement"]
                    # attaching it can widen nobody: it only denies
                    assert attachable and all(s["Effect"] == "Deny" for s in attachable), \
                        (stack, name, attachable)
            if "iam:PutRolePolicy" in actions:
                denies = {s["Sid"] for s in document["Statement"] if s["Effect"] == "Deny"
                          and "iam:PutRolePolicy" in s["Action"]}
                assert {"NeverTouchStackPrincipals", "NeverTouchProtectedPrincipals"} <= denies, \
                    (stack, name, denies)


def _allows(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in document["Statement"] if s["Effect"] == "Allow"]


def _listed(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def test_no_role_can_restart_an_instance_with_new_user_data(
        roles: dict[str, dict[str, dict[str, Any]]]) -> None:
    """The user-data path is closed by what is granted, not by a Deny or a resource scope
    the analyser skips: every Allow of every role, put on `*` and stripped of its
    condition, still gives the analyser no ModifyEC2InstanceUserDataThenRestart (no
    ec2:StartInstances, by name or wildcard)."""
    for stack in STACKS:
        for name, document in sorted(roles[stack].items()):
            widened = [{"Effect": "Allow", "Action": s["Action"], "Resource": "*"}
                       for s in _allows(document)]
            if not widened:
                continue
            found = findings({"Version": "2012-10-17", "Statement": widened})[0]
            assert "ModifyEC2InstanceUserDataThenRestart" not in found, (stack, name)


def test_instance_attributes_are_granted_without_user_data(
        roles: dict[str, dict[str, dict[str, Any]]]) -> None:
    """Every grant of ec2:ModifyInstanceAttribute names this account's instances and
    requires the user data (and the other attributes no step sets) to be absent from the
    request (runbooks.core.scopes.INSTANCE_PROTECTION_ATTRIBUTES)."""
    seen = 0
    for stack in STACKS:
        for name, document in sorted(roles[stack].items()):
            for statement in _allows(document):
                if "ec2:ModifyInstanceAttribute" not in _listed(statement["Action"]):
                    continue
                seen += 1
                assert all(r.startswith("arn:aws:ec2:*:") and r.endswith(":instance/*")
                           for r in _listed(statement["Resource"])), (stack, name, statement)
                absent = statement["Condition"]["Null"]
                assert absent.get("ec2:Attribute/userData") == "true", (stack, name)
                assert absent.get("ec2:Attribute/groupSet") == "true", (stack, name)
                names = statement["Condition"]["StringNotEqualsIgnoreCase"]["ec2:Attribute"]
                assert {"userData", "instanceType"} <= set(names), (stack, name)
                assert not {"disableApiTermination", "instanceInitiatedShutdownBehavior",
                            "blockDeviceMapping"} & {n for n in names}, (stack, name)
    assert seen, "no role grants ec2:ModifyInstanceAttribute: the scope is untested"


def test_pass_role_reaches_only_the_roles_the_runbooks_pass(
        roles: dict[str, dict[str, dict[str, Any]]]) -> None:
    """iam:PassRole: to AWS Backup only the stack's backup roles (their IAM path), to EC2
    only (the instance's own profile, known at run time), and never a stack role or an
    ir:protected one to EC2; no other service."""
    seen: set[str] = set()
    for stack in STACKS:
        for name, document in sorted(roles[stack].items()):
            passes = [s for s in _allows(document) if "iam:PassRole" in _listed(s["Action"])]
            for statement in passes:
                service = statement["Condition"]["StringEquals"]["iam:PassedToService"]
                seen.add(service)
                resources = _listed(statement["Resource"])
                if service == "backup.amazonaws.com":
                    assert all(r.endswith(":role/ir-readiness/backup/*") for r in resources), \
                        (stack, name, resources)
                else:
                    assert service == "ec2.amazonaws.com", (stack, name, statement)
            if any(s["Condition"]["StringEquals"]["iam:PassedToService"]
                   == "ec2.amazonaws.com" for s in passes):
                denies = {s["Sid"] for s in document["Statement"] if s["Effect"] == "Deny"
                          and "iam:PassRole" in _listed(s["Action"])}
                assert {"NeverPassStackRoles", "NeverPassProtectedRolesToEc2",
                        "NeverPassStackTaggedRolesToEc2"} <= denies, (stack, name, denies)
    assert seen == {"backup.amazonaws.com", "ec2.amazonaws.com"}, seen
