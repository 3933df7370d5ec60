"""ResponderAccess: trust only configured principals (MFA for users), short sessions,
investigator read-only, responder exactly the runbook actions and never a `*` action."""

from __future__ import annotations

import json

import pytest

from components.mockrun import Evaluation
from components.responder_access import ResponderAccess, ResponderAccessArgs
from runbooks.core.permissions import responder_actions
from tests.components.conftest import ACCOUNT, as_list, by_sid, run_component

ROLE = f"arn:aws:iam::{ACCOUNT}:role/SecurityOnCall"
USER = f"arn:aws:iam::{ACCOUNT}:user/alice"
ROOT = "arn:aws:iam::210987654321:root"
EVIDENCE = "arn:aws:s3:::evidence-bucket"
LOGS = "arn:aws:s3:::trail-logs"
GROUP = f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:/ir-readiness/mock/cloudtrail"
KEYS = [f"arn:aws:kms:{r}:{ACCOUNT}:key/k-{r}" for r in ("eu-west-1", "us-east-1")]


def _args(**overrides: object) -> ResponderAccessArgs:
    values: dict = dict(
        account_id=ACCOUNT,
        partition="aws",
        role_name_prefix="ir-readiness-mock",
        trusted_principals=[ROLE, USER, ROOT],
        responder_actions=responder_actions(),
        evidence_bucket_arn=EVIDENCE,
        trail_bucket_arn=LOGS,
        trail_log_group_arn=GROUP,
        kms_key_arns=KEYS,
        regions=["eu-west-1", "us-east-1"],
        max_session_duration=7200,
    )
    values.update(overrides)
    return ResponderAccessArgs(**values)


def _access() -> Evaluation:
    return run_component(lambda: ResponderAccess("access", _args()))


def _role(ev: Evaluation, suffix: str):  # noqa: ANN202
    (role,) = [r for r in ev.of_type("aws:iam/role:Role") if r.name == f"access-{suffix}"]
    return role


def _inline(ev: Evaluation, name: str) -> dict:
    (policy,) = [r for r in ev.of_type("aws:iam/rolePolicy:RolePolicy") if r.name == name]
    return by_sid(policy.inputs["policy"])


@pytest.mark.parametrize("which", ["investigator", "responder"])
def test_trust_only_configured_principals_and_mfa_for_users(which: str) -> None:
    role = _role(_access(), which)
    assert role.inputs["name"] == f"ir-readiness-mock-{which}"
    assert role.inputs["maxSessionDuration"] == 7200
    trust = by_sid(role.inputs["assumeRolePolicy"])
    assert set(trust) == {"TrustedRoles", "TrustedUsersWithMfa"}
    assert trust["TrustedRoles"]["Principal"] == {"AWS": [ROLE]}
    assert "Condition" not in trust["TrustedRoles"]
    assert trust["TrustedUsersWithMfa"]["Principal"] == {"AWS": sorted([USER, ROOT])}
    assert trust["TrustedUsersWithMfa"]["Condition"] == {
        "Bool": {"aws:MultiFactorAuthPresent": "true"}
    }
    for stmt in trust.values():
        assert stmt["Action"] == "sts:AssumeRole" and stmt["Effect"] == "Allow"


def test_responder_gets_exactly_the_runbook_actions_and_evidence_write() -> None:
    sids = _inline(_access(), "access-responder-actions")
    runbook = {sid: s for sid, s in sids.items() if sid.startswith("Runbook")}
    granted = {a for s in runbook.values() for a in s["Action"]}
    assert granted == set(responder_actions())  # exactly the list, split by scope
    on_any = set(runbook["RunbookAnyResource"]["Action"])
    assert runbook["RunbookAnyResource"]["Resource"] == "*"
    # the examples: never on `*` any more
    assert not on_any & {"kms:Decrypt", "kms:GenerateDataKey", "s3:GetObject",
                         "s3:PutObject", "s3:DeleteObjectVersion", "iam:PassRole",
                         "ssm:SendCommand", "iam:PutRolePolicy", "iam:AttachUserPolicy"}
    assert runbook["RunbookAccountObjects"]["Condition"] == {
        "StringEquals": {"aws:ResourceAccount": ACCOUNT}}
    assert "s3:DeleteObjectVersion" in runbook["RunbookAccountObjects"]["Action"]
    assert runbook["RunbookPassRolesOnlyToEc2"]["Condition"] == {
        "StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}
    # to AWS Backup only the stack's backup roles (their IAM path), not any role
    assert runbook["RunbookPassOnlyTheStackBackupRoleToBackup"]["Resource"] == \
        f"arn:aws:iam::{ACCOUNT}:role/ir-readiness/backup/*"
    # to EC2 never the stack's own roles (name prefix) nor an ir:protected one
    assert sids["NeverPassStackRoles"]["Effect"] == "Deny"
    assert sids["NeverPassStackRoles"]["Resource"] == \
        f"arn:aws:iam::{ACCOUNT}:role/ir-readiness-mock-*"
    assert sids["NeverPassProtectedRolesToEc2"]["Condition"]["StringEquals"] == {
        "aws:ResourceTag/ir:protected": "true", "iam:PassedToService": "ec2.amazonaws.com"}
    # instance attributes: never user data
    attributes = runbook["RunbookOnlyProtectionAttributesOfInstances"]
    assert attributes["Action"] == ["ec2:ModifyInstanceAttribute"]
    assert attributes["Condition"]["Null"]["ec2:Attribute/userData"] == "true"
    assert "ec2:StartInstances" not in granted
    assert runbook["RunbookRunInstancesWithoutAProfile"]["Condition"] == {
        "Null": {"ec2:InstanceProfile": "true"}}
    # arbitrary code as an instance's role needs any document: only the patch baseline,
    # and only to instances a case has tagged
    assert runbook["RunbookSendOnlyThePatchBaseline"]["Resource"] == \
        "arn:aws:ssm:*:*:document/AWS-RunPatchBaseline"
    assert runbook["RunbookOnlyInstancesTaggedByACase"]["Condition"] == {
        "StringLike": {"ssm:resourceTag/ir:case": "*"}}
    # users: attach/detach only the stack's deny-all policy
    attach = runbook["RunbookAttachOnlyTheStackDenyAll"]
    assert attach["Action"] == ["iam:AttachUserPolicy", "iam:DetachUserPolicy"]
    [deny_all] = attach["Condition"]["ArnEquals"]["iam:PolicyARN"]
    assert deny_all.endswith(":policy/ir-readiness-mock-deny-all")
    assert not granted & {"iam:CreateAccessKey", "iam:CreateLoginProfile",
                          "iam:PutUserPolicy"}
    for sid in ("NeverTouchStackPrincipals", "NeverTouchProtectedPrincipals"):
        assert sids[sid]["Effect"] == "Deny"
        denied = set(sids[sid]["Action"])
        assert {"iam:PutRolePolicy", "iam:DeleteRolePolicy", "iam:PutUserPolicy"} <= denied
        # narrowing stays allowed: a compromised administrator must be containable
        assert not denied & {"iam:UpdateAccessKey", "iam:AttachUserPolicy",
                             "iam:DeleteLoginProfile"}
    assert sids["WriteEvidence"]["Resource"] == f"{EVIDENCE}/*"
    assert "s3:PutObject" in sids["WriteEvidence"]["Action"]
    assert sids["EncryptEvidence"]["Resource"] == KEYS
    deny = sids["NeverWeakenEvidenceOrLogBuckets"]
    assert deny["Effect"] == "Deny"
    assert {"s3:PutBucketPolicy", "s3:BypassGovernanceRetention"} <= set(deny["Action"])
    assert set(deny["Resource"]) == {EVIDENCE, LOGS, f"{EVIDENCE}/*", f"{LOGS}/*"}
    widen = sids["NeverWidenResponderRoles"]
    assert widen["Effect"] == "Deny"
    assert widen["Resource"] == f"arn:aws:iam::{ACCOUNT}:role/ir-readiness-mock-*"


def test_no_allow_statement_has_a_wildcard_action() -> None:
    ev = _access()
    for policy in ev.of_type("aws:iam/rolePolicy:RolePolicy"):
        for sid, stmt in by_sid(policy.inputs["policy"]).items():
            for action in as_list(stmt["Action"]):
                assert "*" not in action, f"{policy.name}/{sid}: {action}"


def test_investigator_is_read_only() -> None:
    ev = _access()
    attachments = ev.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    attached = sorted(r.inputs["policyArn"] for r in attachments)
    assert attached == [
        "arn:aws:iam::aws:policy/SecurityAudit",
        "arn:aws:iam::aws:policy/job-function/ViewOnlyAccess",
    ]
    investigator = _role(ev, "investigator")
    for r in attachments:
        assert r.inputs["role"] == investigator.outputs["name"]
    sids = _inline(ev, "access-investigator-read")
    actions = {a for s in sids.values() for a in as_list(s["Action"])}
    writes = {a for a in actions if a.split(":")[1].startswith(("Put", "Delete", "Create"))}
    assert writes == set(), writes
    assert sids["DecryptReadinessData"]["Resource"] == KEYS
    assert sids["ReadManifest"]["Resource"] == [
        f"arn:aws:ssm:{r}:{ACCOUNT}:parameter/ir-readiness/manifest"
        for r in ("eu-west-1", "us-east-1")
    ]
    assert set(sids["ListEvidenceAndLogs"]["Resource"]) == {EVIDENCE, LOGS}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"trusted_principals": []}, "trusted_principals is empty"),
        ({"trusted_principals": ["*"]}, "not an IAM root, user or role ARN"),
        ({"responder_actions": ["ec2:*"]}, "wildcards are not allowed"),
        ({"responder_actions": ["*"]}, "wildcards are not allowed"),
        ({"max_session_duration": 43200}, "between 3600 .IAM's minimum. and 14400"),
        ({"max_session_duration": 1800}, "between 3600 .IAM's minimum. and 14400"),
        ({"role_name_prefix": "ir-readiness-" + "x" * 40}, "at most 64 characters"),
        ({"role_name_prefix": "ir readiness"}, "at most 64 characters of letters"),
    ],
)
def test_invalid_args_fail_before_any_resource(overrides: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _args(**overrides)


def test_policies_are_plain_json() -> None:
    ev = _access()
    for r in ev.of_type("aws:iam/rolePolicy:RolePolicy"):
        assert isinstance(json.loads(r.inputs["policy"]), dict)
