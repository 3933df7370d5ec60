"""IAM containment steps against moto: assert IAM state, not our bookkeeping.

moto does not enforce IAM conditions or key status, so the policies are asserted as
documents (what AWS would evaluate)."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone

import boto3
import pytest
from botocore.exceptions import ClientError

from runbooks.core.errors import InvalidInput, PreconditionFailed
from runbooks.steps.iam import (
    DENY_ALL_POLICY_NAME,
    REVOKE_SESSIONS_POLICY_NAME,
    DeactivateAccessKey,
    DenyAllUser,
    RemoveLoginProfile,
    RevokeRoleSessions,
)
from tests.runbooks.steps.conftest import REGION, apply_all, roll_back


def _user_with_key(console: bool = True) -> tuple[str, str]:
    iam = boto3.client("iam", region_name=REGION)
    user = f"alice-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
    if console:
        iam.create_login_profile(UserName=user, Password="Old-Password-123!")
    return user, key


def _key_status(user: str, key: str) -> str:
    keys = boto3.client("iam", region_name=REGION).list_access_keys(UserName=user)
    return next(k["Status"] for k in keys["AccessKeyMetadata"] if k["AccessKeyId"] == key)


def _inline(user: str) -> list[str]:
    return boto3.client("iam", region_name=REGION).list_user_policies(UserName=user)["PolicyNames"]


def _attached(user: str) -> list[str]:
    return [p["PolicyArn"] for p in boto3.client("iam", region_name=REGION)
            .list_attached_user_policies(UserName=user)["AttachedPolicies"]]


def _has_login_profile(user: str) -> bool:
    try:
        boto3.client("iam", region_name=REGION).get_login_profile(UserName=user)
        return True
    except ClientError as err:
        assert err.response["Error"]["Code"] == "NoSuchEntity"
        return False


def _contain_steps(ctx, key):
    params = {"access_key_id": key}
    return [DeactivateAccessKey(ctx, params), DenyAllUser(ctx, params),
            RemoveLoginProfile(ctx, params)]


def test_contain_access_key_deactivates_key_denies_user_and_closes_console(make_ctx):
    ctx = make_ctx()
    user, key = _user_with_key()
    other_key = boto3.client("iam", region_name=REGION).create_access_key(
        UserName=user)["AccessKey"]["AccessKeyId"]

    for step in _contain_steps(ctx, key):
        assert apply_all(step), f"{step.name} planned nothing"

    assert _key_status(user, key) == "Inactive"
    assert _key_status(user, other_key) == "Active"  # only the named key is deactivated
    keys = boto3.client("iam", region_name=REGION).list_access_keys(UserName=user)
    # never deleted
    assert {k["AccessKeyId"] for k in keys["AccessKeyMetadata"]} == {key, other_key}
    iam = boto3.client("iam", region_name=REGION)
    deny_all = ctx.manifest.containment_policies.deny_all
    assert _attached(user) == [deny_all]  # the stack's managed policy, attached
    assert _inline(user) == []  # no policy document written onto the user
    version = iam.get_policy(PolicyArn=deny_all)["Policy"]["DefaultVersionId"]
    document = iam.get_policy_version(PolicyArn=deny_all, VersionId=version)[
        "PolicyVersion"]["Document"]
    document = json.loads(document) if isinstance(document, str) else document
    assert document["Statement"] == [{"Sid": "IrctlContainmentDenyAll", "Effect": "Deny",
                                      "Action": "*", "Resource": "*"}]
    assert "Condition" not in document["Statement"][0]  # also stops the long-term key itself
    assert not _has_login_profile(user)


def test_contain_access_key_is_idempotent(make_ctx):
    ctx = make_ctx()
    _, key = _user_with_key()
    for step in _contain_steps(ctx, key):
        apply_all(step)
    for step in _contain_steps(ctx, key):
        assert step.plan() == [], f"{step.name} re-plans a change"


def test_rollback_restores_key_and_policies_but_never_creates_a_console_password(make_ctx):
    ctx = make_ctx()
    user, key = _user_with_key()
    iam = boto3.client("iam", region_name=REGION)
    iam.put_user_policy(UserName=user, PolicyName="app", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:ListAllMyBuckets",
                                                 "Resource": "*"}]}))
    sent: list[dict] = []
    ctx.sessions.session().events.register(
        "before-call.iam.CreateLoginProfile", lambda **kw: sent.append(kw))
    steps = _contain_steps(ctx, key)
    done = [(step, apply_all(step)) for step in steps]
    for step, changes in reversed(done):
        if step.reversible:
            roll_back(step, changes)

    assert _key_status(user, key) == "Active"
    assert _attached(user) == []  # the deny-all policy detached
    assert _inline(user) == ["app"]  # theirs untouched
    # One-way: no generated role may create a login profile; the plan names the owner's
    # command instead.
    assert not RemoveLoginProfile.reversible
    assert not _has_login_profile(user) and sent == []
    [(change, result)] = done[2][1]
    assert change.after["handOff"] == (
        f"aws iam create-login-profile --user-name {user} --password-reset-required "
        "--password 'TEMPORARY-PASSWORD'")
    assert change.after["handOff"] in change.summary


def test_deny_all_already_attached_plans_nothing_and_rollback_keeps_a_prior_attachment(
        make_ctx):
    ctx = make_ctx()
    user, _ = _user_with_key(console=False)
    deny_all = ctx.manifest.containment_policies.deny_all
    step = DenyAllUser(ctx, {"user_name": user})
    [(change, result)] = apply_all(step)
    assert step.plan() == []
    assert step.current(change) == {"attached": True}
    # someone detached it meanwhile: rollback tolerates it
    boto3.client("iam", region_name=REGION).detach_user_policy(UserName=user,
                                                               PolicyArn=deny_all)
    assert step.current(change) == {"attached": False}
    step.rollback(change, result)
    assert _attached(user) == []


def test_deny_all_change_recorded_as_an_inline_policy_is_handed_to_an_administrator(make_ctx):
    """A case contained by an older irctl wrote the inline IrctlDenyAll; the roles may no
    longer delete inline user policies, so rollback names the command and leaves it."""
    from runbooks.core.errors import ActionFailed
    from runbooks.core.step import Change

    ctx = make_ctx()
    user, _ = _user_with_key(console=False)
    iam = boto3.client("iam", region_name=REGION)
    iam.put_user_policy(UserName=user, PolicyName=DENY_ALL_POLICY_NAME, PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "*",
                                                 "Resource": "*"}]}))
    old = Change("iam.deny-all-user", f"user/{user}", "old", before={"user": user,
                 "document": None}, after={"user": user, "document": {}})
    step = DenyAllUser(ctx, {"user_name": user})
    assert step.current(old) is None
    with pytest.raises(ActionFailed, match=f"delete-user-policy --user-name {user} "
                                           f"--policy-name {DENY_ALL_POLICY_NAME}"):
        step.rollback(old, {})
    assert _inline(user) == [DENY_ALL_POLICY_NAME]


def test_a_manifest_without_the_deny_all_policy_is_refused_with_the_fix(make_ctx):
    ctx = make_ctx()
    user, _ = _user_with_key(console=False)
    ctx.manifest = ctx.manifest.model_copy(update={"containment_policies": None})
    with pytest.raises(PreconditionFailed, match="containmentPolicies.denyAll.*pulumi up"):
        DenyAllUser(ctx, {"user_name": user}).plan()
    assert _attached(user) == []


def test_user_without_console_password_plans_no_console_change(make_ctx):
    ctx = make_ctx()
    _, key = _user_with_key(console=False)
    assert RemoveLoginProfile(ctx, {"access_key_id": key}).plan() == []


def test_unknown_key_is_refused_with_a_clear_error(make_ctx):
    ctx = make_ctx()
    user, key = _user_with_key()
    step = DeactivateAccessKey(ctx, {"access_key_id": "AKIA" + "Z" * 16})
    step.validate()
    with pytest.raises(PreconditionFailed, match="not found in account 123456789012"):
        step.plan()
    assert _key_status(user, key) == "Active"


def test_key_of_another_account_is_refused_and_left_alone(make_ctx):
    ctx = make_ctx()
    creds = boto3.client("sts", region_name=REGION).assume_role(
        RoleArn="arn:aws:iam::111111111111:role/other", RoleSessionName="test")["Credentials"]
    other = boto3.client("iam", region_name=REGION, aws_access_key_id=creds["AccessKeyId"],
                         aws_secret_access_key=creds["SecretAccessKey"],
                         aws_session_token=creds["SessionToken"])
    other.create_user(UserName="bob")
    key = other.create_access_key(UserName="bob")["AccessKey"]["AccessKeyId"]

    for step in _contain_steps(ctx, key):
        step.validate()
        with pytest.raises(PreconditionFailed, match="belongs to account 111111111111"):
            step.plan()
    status = other.list_access_keys(UserName="bob")["AccessKeyMetadata"][0]["Status"]
    assert status == "Active"
    assert other.list_user_policies(UserName="bob")["PolicyNames"] == []


@pytest.mark.parametrize("bad", ["", "akia123", "AKIA-not-a-key", "ASIAABCDEFGHIJKLMNOP", None])
def test_malformed_or_temporary_key_ids_are_rejected_before_any_call(make_ctx, bad):
    ctx = make_ctx()
    with pytest.raises(InvalidInput, match="access key|access_key_id"):
        DeactivateAccessKey(ctx, {"access_key_id": bad}).validate()


def test_user_step_needs_exactly_one_of_key_or_user(make_ctx):
    ctx = make_ctx()
    with pytest.raises(InvalidInput, match="exactly one"):
        DenyAllUser(ctx, {}).validate()
    with pytest.raises(InvalidInput, match="exactly one"):
        DenyAllUser(ctx, {"user_name": "a", "access_key_id": "AKIA" + "A" * 16}).validate()


def _role() -> str:
    name = f"app-{uuid.uuid4().hex[:8]}"
    boto3.client("iam", region_name=REGION).create_role(
        RoleName=name, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
             "Action": "sts:AssumeRole"}]}))
    return name


def test_revoke_role_sessions_denies_tokens_issued_before_now(make_ctx):
    ctx = make_ctx()
    role = _role()
    before = datetime.now(timezone.utc).replace(microsecond=0)
    done = apply_all(RevokeRoleSessions(ctx, {"role_name": role}))
    assert len(done) == 1
    document = boto3.client("iam", region_name=REGION).get_role_policy(
        RoleName=role, PolicyName=REVOKE_SESSIONS_POLICY_NAME)["PolicyDocument"]
    [statement] = document["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Action"] == ["*"] and statement["Resource"] == ["*"]
    cutoff = datetime.strptime(statement["Condition"]["DateLessThan"]["aws:TokenIssueTime"],
                               "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    assert before <= cutoff <= datetime.now(timezone.utc) + timedelta(seconds=1)
    # Same case again: nothing to do. A later case moves the cutoff forward.
    assert RevokeRoleSessions(ctx, {"role_name": role}).plan() == []
    assert len(RevokeRoleSessions(make_ctx(), {"role_name": role}).plan()) == 1


def test_revoke_role_sessions_rollback_restores_previous_state(make_ctx):
    iam = boto3.client("iam", region_name=REGION)
    fresh = _role()
    step = RevokeRoleSessions(make_ctx(), {"role_name": fresh})
    roll_back(step, apply_all(step))
    assert iam.list_role_policies(RoleName=fresh)["PolicyNames"] == []

    revoked_earlier = _role()
    earlier = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Action": ["*"], "Resource": ["*"],
        "Condition": {"DateLessThan": {"aws:TokenIssueTime": "2026-01-01T00:00:00Z"}}}]}
    iam.put_role_policy(RoleName=revoked_earlier, PolicyName=REVOKE_SESSIONS_POLICY_NAME,
                        PolicyDocument=json.dumps(earlier))
    step = RevokeRoleSessions(make_ctx(), {"role_name": revoked_earlier})
    roll_back(step, apply_all(step))
    assert iam.get_role_policy(RoleName=revoked_earlier, PolicyName=REVOKE_SESSIONS_POLICY_NAME)[
        "PolicyDocument"] == earlier


def test_unknown_role_is_refused(make_ctx):
    step = RevokeRoleSessions(make_ctx(), {"role_name": "no-such-role"})
    step.validate()
    with pytest.raises(PreconditionFailed, match="role no-such-role was not found"):
        step.plan()


def test_role_given_as_arn_is_rejected_in_validate(make_ctx):
    with pytest.raises(InvalidInput, match="role name"):
        RevokeRoleSessions(make_ctx(), {"role_name": "arn:aws:iam::123456789012:role/x"}).validate()


def test_denied_call_mid_run_rolls_back_to_the_recorded_state(make_ctx, tmp_path):
    """The runner drives the access-key pipeline; iam:AttachUserPolicy is denied, so the
    key deactivation already applied is rolled back: AWS ends as it started."""
    from runbooks.core.audit import AuditLog
    from runbooks.core.errors import EXIT_ACTION_FAILED
    from runbooks.core.runner import Runner, StepCall

    ctx = make_ctx(evidence=True)
    user, key = _user_with_key()

    from botocore.awsrequest import AWSResponse

    def deny(**_):
        return (AWSResponse("https://iam.amazonaws.com/", 403, {}, None),
                {"Error": {"Code": "AccessDenied", "Message": "not allowed"},
                 "ResponseMetadata": {"HTTPStatusCode": 403}})

    ctx.sessions.session().events.register("before-call.iam.AttachUserPolicy", deny)
    params = {"access_key_id": key}
    result = Runner(ctx, AuditLog(ctx.case_id, root=tmp_path), apply=True).run(
        "access-key", {key: [StepCall("iam.deactivate-access-key", params),
                             StepCall("iam.deny-all-user", params),
                             StepCall("iam.remove-login-profile", params)]})

    assert result.exit_code == EXIT_ACTION_FAILED
    assert "AccessDenied" in (result.targets[0].error or "")
    assert _key_status(user, key) == "Active"  # deactivation rolled back
    assert _inline(user) == [] and _attached(user) == []
    assert _has_login_profile(user)  # never reached
    events = [r["event"] for r in AuditLog(ctx.case_id, root=tmp_path).records()]
    assert "apply-failed" in events and "rolled-back" in events


def test_containing_the_user_irctl_runs_as_is_refused(make_ctx):
    """moto's caller for the 'testing' credentials is arn:aws:sts::123456789012:user/moto."""
    iam = boto3.client("iam", region_name=REGION)
    assert boto3.client("sts", region_name=REGION).get_caller_identity()["Arn"].endswith(
        ":user/moto")
    iam.create_user(UserName="moto")
    key = iam.create_access_key(UserName="moto")["AccessKey"]["AccessKeyId"]
    ctx = make_ctx()
    for step in [*_contain_steps(ctx, key), DenyAllUser(ctx, {"user_name": "moto"})]:
        with pytest.raises(PreconditionFailed, match="irctl is running as that user"):
            step.plan()
    assert _key_status("moto", key) == "Active" and _attached("moto") == []


def test_attached_policy_limit_gives_a_clear_error(make_ctx):
    """moto has no attached-policy quota; real IAM answers LimitExceeded."""
    from botocore.stub import Stubber

    from runbooks.core.errors import ActionFailed

    ctx = make_ctx()
    user, key = _user_with_key(console=False)
    step = DenyAllUser(ctx, {"user_name": user})
    [change] = step.plan()
    with Stubber(ctx.client("iam")) as stub:
        stub.add_client_error("attach_user_policy", "LimitExceeded", "Cannot exceed quota")
        with pytest.raises(ActionFailed, match="maximum of attached managed policies"):
            step.apply(change)
    assert _attached(user) == []


def test_revoking_the_role_irctl_runs_in_is_refused(make_ctx, monkeypatch):
    role = _role()
    creds = boto3.client("sts", region_name=REGION).assume_role(
        RoleArn=f"arn:aws:iam::123456789012:role/{role}", RoleSessionName="responder")[
        "Credentials"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", creds["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", creds["SecretAccessKey"])
    monkeypatch.setenv("AWS_SESSION_TOKEN", creds["SessionToken"])
    with pytest.raises(PreconditionFailed, match="irctl is running in one of them"):
        RevokeRoleSessions(make_ctx(), {"role_name": role}).plan()
    assert boto3.client("iam", region_name=REGION).list_role_policies(
        RoleName=role)["PolicyNames"] == []


def test_service_linked_role_is_refused(make_ctx):
    iam = boto3.client("iam", region_name=REGION)
    name = f"AWSServiceRoleForTest{uuid.uuid4().hex[:6]}"
    iam.create_role(RoleName=name, Path="/aws-service-role/test.amazonaws.com/",
                    AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
                        {"Effect": "Allow", "Action": "sts:AssumeRole",
                         "Principal": {"Service": "test.amazonaws.com"}}]}))
    with pytest.raises(PreconditionFailed, match="service-linked role"):
        RevokeRoleSessions(make_ctx(), {"role_name": name}).plan()


@pytest.mark.parametrize("tag", [{"Key": "ir:protected", "Value": "true"},
                                 {"Key": "ir-readiness:managed-by", "Value": "pulumi"}])
def test_revoking_a_protected_or_stack_role_is_handed_to_an_administrator(make_ctx, tag):
    """The generated roles are denied inline writes on these roles; the plan says so and
    names the administrator's command instead of failing with AccessDenied halfway."""
    role = _role()
    iam = boto3.client("iam", region_name=REGION)
    iam.tag_role(RoleName=role, Tags=[tag])
    with pytest.raises(PreconditionFailed, match=f"administrator revokes.*--role-name {role}"):
        RevokeRoleSessions(make_ctx(), {"role_name": role}).plan()
    assert iam.list_role_policies(RoleName=role)["PolicyNames"] == []


def test_a_protected_user_can_still_be_contained(make_ctx):
    """Protection stops widening, not containment: a compromised administrator's key is
    deactivated and the deny-all attached like anyone's."""
    ctx = make_ctx()
    user, key = _user_with_key(console=False)
    boto3.client("iam", region_name=REGION).tag_user(
        UserName=user, Tags=[{"Key": "ir:protected", "Value": "true"}])
    params = {"access_key_id": key}
    for step in (DeactivateAccessKey(ctx, params), DenyAllUser(ctx, params)):
        assert apply_all(step)
    assert _key_status(user, key) == "Inactive"
    assert _attached(user) == [ctx.manifest.containment_policies.deny_all]
