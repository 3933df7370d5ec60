"""IAM containment steps: compromised access keys, their users, and roles.

`irctl contain access-key KEY_ID` runs, in order:

    iam.deactivate-access-key   the key -> Inactive (never deleted: the key id is evidence
                                and deactivation is reversible)
    iam.deny-all-user           the stack's managed deny-all policy (manifest
                                `containmentPolicies.denyAll`: Deny * on *) attached to
                                the key's user
    iam.remove-login-profile    the user's console password is deleted (one-way: its owner
                                re-creates it, see the step)
    cloudtrail.capture-key-activity   (runbooks/steps/cloudtrail.py) the key's recent events

`irctl contain role NAME` runs `iam.revoke-role-sessions`.

Why the user gets an *unconditional* deny rather than an `aws:TokenIssueTime` one: every
session derived from an IAM user's credentials (GetSessionToken, GetFederationToken, a
console sign-in) is evaluated against the user's own policies, so `Deny *` cuts all of
them, older and newer. A `DateLessThan aws:TokenIssueTime` statement alone would not stop
the long-term key itself (requests signed with a long-term key carry no TokenIssueTime,
and a condition on a missing key does not match). Roles are different: their trust policy
lets legitimate principals keep assuming them, so only sessions issued before "now" are
denied, the way the IAM console's "Revoke active sessions" does.

Every step resolves the key's owner itself in `plan()`, read-only, and refuses a key
that belongs to another account (sts:GetAccessKeyInfo names the owning account), and a
user that irctl itself is running as (containing it would lock the run out halfway,
rollback included).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Annotated, Any

from botocore.exceptions import ClientError
from pydantic import Field

from runbooks.core.errors import ActionFailed, InvalidInput, PreconditionFailed
from runbooks.core.scopes import (
    ACCOUNT_POLICIES,
    ACCOUNT_ROLES,
    ACCOUNT_USERS,
    DENY_ALL_ON_USERS,
    PROTECTED_TAG,
    STACK_TAG,
)
from runbooks.core.step import Change, Check, Step, StepParams, checked_by, register

ACCESS_KEY_ID = re.compile(r"^AKIA[A-Z0-9]{12,124}$")
TEMPORARY_KEY_ID = re.compile(r"^ASIA[A-Z0-9]{12,124}$")
# IAM user / role names: 1-64 characters of [\w+=,.@-] (role names max 64 as well).
IAM_NAME = re.compile(r"^[\w+=,.@-]{1,64}$")

# The inline policy an irctl before issue #15 wrote onto users; only read now (verify
# and release of older cases name the administrator's command to remove it).
DENY_ALL_POLICY_NAME = "IrctlDenyAll"
# The name the IAM console uses for "Revoke active sessions": one policy per role,
# whichever tool wrote it.
REVOKE_SESSIONS_POLICY_NAME = "AWSRevokeOlderSessions"

# The document of the stack's managed deny-all policy (components/responder_access.py
# creates the policy from it; its ARN is the manifest's containmentPolicies.denyAll).
DENY_ALL_DOCUMENT: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "IrctlContainmentDenyAll", "Effect": "Deny", "Action": "*", "Resource": "*"}
    ],
}


def error_code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


def validate_key_id(key_id: Any) -> str:
    if not isinstance(key_id, str) or not key_id:
        raise InvalidInput("access_key_id is required, e.g. AKIAIOSFODNN7EXAMPLE")
    if TEMPORARY_KEY_ID.match(key_id):
        raise InvalidInput(
            f"access key {key_id} is a temporary (STS) credential and cannot be deactivated; "
            "contain the role that issued it instead: irctl contain role NAME"
        )
    if not ACCESS_KEY_ID.match(key_id):
        raise InvalidInput(
            f"access key id {key_id!r} is malformed: expected AKIA followed by 12 or more "
            "upper-case letters or digits"
        )
    return key_id


def validate_iam_name(kind: str, name: Any) -> str:
    if not isinstance(name, str) or not IAM_NAME.match(name):
        raise InvalidInput(
            f"{kind} name {name!r} is malformed: 1-64 characters of letters, digits and +=,.@_-"
        )
    return name


def key_owner(step: Step, key_id: str) -> str:
    """The user name owning `key_id`, refusing keys of other accounts and unknown keys.

    Looked up once per run (the steps of one key share it through the run cache)."""
    return step.ctx.cache.get(f"iam.key-owner:{key_id}", lambda: _lookup_key_owner(step, key_id))


def _lookup_key_owner(step: Step, key_id: str) -> str:
    owner_account = step.ctx.client("sts").get_access_key_info(AccessKeyId=key_id)["Account"]
    if owner_account != step.ctx.account_id:
        raise PreconditionFailed(
            f"access key {key_id} belongs to account {owner_account}, not {step.ctx.account_id} "
            f"(the manifest's account); run irctl with credentials and the manifest of account "
            f"{owner_account}, or report the key to that account's owner"
        )
    try:
        last_used = step.ctx.client("iam").get_access_key_last_used(AccessKeyId=key_id)
    except ClientError as err:
        if error_code(err) == "NoSuchEntity":
            raise PreconditionFailed(
                f"access key {key_id} was not found in account {step.ctx.account_id}; "
                "check the key id (it may already have been deleted)") from err
        if error_code(err) == "AccessDenied":
            raise PreconditionFailed(
                f"access key {key_id} could not be looked up in account "
                f"{step.ctx.account_id} (AccessDenied): it no longer exists, or these "
                "credentials lack iam:GetAccessKeyLastUsed (use the responder role)") from err
        raise
    user = last_used.get("UserName")
    if not user:
        raise PreconditionFailed(f"access key {key_id} has no owning IAM user in the response")
    refuse_caller(step, str(user))
    return str(user)


def caller_arn(step: Step) -> str:
    identity = step.ctx.cache.get(
        "sts.caller-identity", lambda: step.ctx.client("sts").get_caller_identity())
    if str(identity.get("Account")) != step.ctx.account_id:
        return ""
    return str(identity.get("Arn", ""))


def refuse_caller(step: Step, user: str) -> None:
    """Refuse to contain the user irctl itself runs as: its deny-all (or a deactivated
    key) would cut the run off halfway, and the rollback calls with it."""
    arn = caller_arn(step)
    if ":user/" in arn and arn.rsplit("/", 1)[-1] == user:
        raise PreconditionFailed(
            f"refusing to contain IAM user {user}: irctl is running as that user ({arn}), "
            "so containment would lock this run out halfway; run it as another principal, "
            "e.g. the responder role in the manifest")


AccessKeyId = Annotated[str, checked_by(validate_key_id),
                        Field(description="AKIA and 12 or more upper-case letters or digits")]


class AccessKeyParams(StepParams):
    access_key_id: AccessKeyId


class UserParams(StepParams):
    """Exactly one of the two (checked by `UserStep.check`)."""

    access_key_id: AccessKeyId | None = None
    user_name: Annotated[str | None, checked_by(lambda v: validate_iam_name("user", v)),
                         Field(description="1-64 characters of letters, digits and "
                                           "+=,.@_-")] = None


class RoleParams(StepParams):
    role_name: Annotated[str, checked_by(lambda v: validate_iam_name("role", v)),
                         Field(description="the role's name, not its ARN")]


class UserStep(Step):
    """A step acting on an IAM user named directly (`user_name`) or by one of its keys."""

    Params = UserParams
    release_kind = "access-key"

    def check(self) -> None:
        if ("access_key_id" in self.params) == ("user_name" in self.params):
            raise InvalidInput(f"{self.name}: give exactly one of access_key_id or user_name")

    def user_name(self) -> str:
        if "user_name" in self.params:
            refuse_caller(self, str(self.params["user_name"]))
            return str(self.params["user_name"])
        return key_owner(self, str(self.params["access_key_id"]))

    def require_user(self, user: str) -> None:
        try:
            self.ctx.client("iam").get_user(UserName=user)
        except ClientError as err:
            if error_code(err) == "NoSuchEntity":
                raise PreconditionFailed(
                    f"IAM user {user} was not found in account {self.ctx.account_id}"
                ) from err
            raise


@register
class DeactivateAccessKey(Step):
    name = "iam.deactivate-access-key"
    description = "Deactivate (never delete) an IAM user's access key"
    actions = frozenset(
        {"sts:GetAccessKeyInfo", "sts:GetCallerIdentity", "iam:GetAccessKeyLastUsed",
         "iam:ListAccessKeys", "iam:UpdateAccessKey"}
    )
    scopes = {action: ACCOUNT_USERS for action in (
        "iam:GetAccessKeyLastUsed", "iam:ListAccessKeys", "iam:UpdateAccessKey")}
    Params = AccessKeyParams
    release_kind = "access-key"

    def plan(self) -> list[Change]:
        key_id = str(self.params["access_key_id"])
        user = key_owner(self, key_id)
        pages = self.ctx.client("iam").get_paginator("list_access_keys").paginate(UserName=user)
        status = next(
            (k["Status"] for page in pages for k in page["AccessKeyMetadata"]
             if k["AccessKeyId"] == key_id),
            None,
        )
        if status is None:
            raise PreconditionFailed(f"access key {key_id} is not listed for user {user}")
        if status == "Inactive":
            return []
        return [Change(self.name, key_id, f"Deactivate access key {key_id} of user {user}",
                       before={"user": user, "status": status},
                       after={"user": user, "status": "Inactive"})]

    def apply(self, change: Change) -> Mapping[str, Any]:
        self.ctx.client("iam").update_access_key(
            UserName=change.after["user"], AccessKeyId=change.target, Status="Inactive")
        return {"status": "Inactive"}

    def current(self, change: Change) -> Mapping[str, Any] | None:
        """The key's live status ("deleted" when it no longer exists): rollback and release
        reactivate it only while it is still the Inactive key this change left."""
        try:
            pages = self.ctx.client("iam").get_paginator("list_access_keys").paginate(
                UserName=change.before["user"])
            status = next((k["Status"] for page in pages for k in page["AccessKeyMetadata"]
                           if k["AccessKeyId"] == change.target), "deleted")
        except ClientError as err:
            if error_code(err) != "NoSuchEntity":
                raise
            status = "deleted"  # the user is gone, and its keys with it
        return {"status": status}

    def rollback(self, change: Change, result: Mapping[str, Any]) -> None:
        self.ctx.client("iam").update_access_key(
            UserName=change.before["user"], AccessKeyId=change.target,
            Status=change.before["status"])

    def verify(self, change: Change, result: Mapping[str, Any]) -> Check:
        user = change.after["user"]
        keys = self.ctx.client("iam").list_access_keys(UserName=user)["AccessKeyMetadata"]
        status = next((k["Status"] for k in keys if k["AccessKeyId"] == change.target),
                      "deleted")
        return Check("containment", change.target, f"access key of {user}", "Inactive",
                     status, status in ("Inactive", "deleted"))


@register
class DenyAllUser(UserStep):
    """Attach the stack's managed deny-all policy (manifest `containmentPolicies.denyAll`)
    to the user. The roles may attach and detach only that policy (an `iam:PolicyARN`
    condition), never write a policy document onto a user: attaching a Deny-only policy
    can widen nobody, where PutUserPolicy could grant anything."""

    name = "iam.deny-all-user"
    description = "Attach the stack's managed Deny * policy to an IAM user (cuts its sessions too)"
    actions = frozenset(
        {"sts:GetAccessKeyInfo", "sts:GetCallerIdentity", "iam:GetAccessKeyLastUsed",
         "iam:GetUser", "iam:ListAttachedUserPolicies", "iam:AttachUserPolicy",
         "iam:DetachUserPolicy", "iam:GetPolicy", "iam:GetPolicyVersion",
         # verify of a change an older irctl recorded (the inline IrctlDenyAll document)
         "iam:GetUserPolicy"}
    )
    scopes = {
        "iam:GetUserPolicy": ACCOUNT_USERS,
        "iam:GetPolicy": ACCOUNT_POLICIES,
        "iam:GetPolicyVersion": ACCOUNT_POLICIES,
        "iam:GetAccessKeyLastUsed": ACCOUNT_USERS,
        "iam:GetUser": ACCOUNT_USERS,
        "iam:ListAttachedUserPolicies": ACCOUNT_USERS,
        "iam:AttachUserPolicy": DENY_ALL_ON_USERS,
        "iam:DetachUserPolicy": DENY_ALL_ON_USERS,
    }

    def policy_arn(self) -> str:
        policies = self.ctx.manifest.containment_policies
        arn = policies.deny_all if policies is not None else None
        if not arn:
            raise PreconditionFailed(
                "the manifest names no deny-all policy (containmentPolicies.denyAll): the "
                "stack predates it; run `pulumi up` on the readiness stack, or contain the "
                "user by hand: aws iam attach-user-policy --user-name USER "
                "--policy-arn arn:aws:iam::aws:policy/AWSDenyAll")
        return str(arn)

    def attached(self, user: str) -> bool:
        pages = self.ctx.client("iam").get_paginator(
            "list_attached_user_policies").paginate(UserName=user)
        arn = self.policy_arn()
        return any(p["PolicyArn"] == arn for page in pages for p in page["AttachedPolicies"])

    def plan(self) -> list[Change]:
        user = self.user_name()
        self.require_user(user)
        arn = self.policy_arn()
        if self.attached(user):
            return []
        return [Change(self.name, f"user/{user}",
                       f"Attach the deny-all policy {arn} to user {user}",
                       before={"user": user, "policyArn": arn, "attached": False},
                       after={"user": user, "policyArn": arn, "attached": True})]

    def apply(self, change: Change) -> Mapping[str, Any]:
        user = change.after["user"]
        try:
            self.ctx.client("iam").attach_user_policy(
                UserName=user, PolicyArn=change.after["policyArn"])
        except ClientError as err:
            if error_code(err) == "LimitExceeded":
                raise ActionFailed(
                    f"user {user} already has IAM's maximum of attached managed policies, "
                    "so the deny-all policy cannot be attached; an administrator detaches "
                    f"one (aws iam list-attached-user-policies --user-name {user}) and "
                    "re-runs, or adds the user to a group with the deny-all policy") from err
            raise
        return {"policyArn": change.after["policyArn"]}

    def current(self, change: Change) -> Mapping[str, Any] | None:
        """Whether the deny-all policy is attached now: rollback and release detach it
        only while it is (detaching what is not attached fails with NoSuchEntity).
        Changes recorded before the policy was managed (an inline `IrctlDenyAll`
        document) cannot be compared: None."""
        if "attached" not in change.before:
            return None
        return {"attached": self.attached(change.before["user"])}

    def rollback(self, change: Change, result: Mapping[str, Any]) -> None:
        user = change.before["user"]
        if "attached" not in change.before:
            # Recorded by an irctl that wrote an inline policy; the roles may no longer
            # write or delete inline user policies, so the account's administrator does.
            raise ActionFailed(
                f"user {user} was contained with the inline policy {DENY_ALL_POLICY_NAME} "
                "(an older irctl); remove it with administrator credentials: aws iam "
                f"delete-user-policy --user-name {user} --policy-name {DENY_ALL_POLICY_NAME}")
        if change.before["attached"]:
            return  # it was attached before this case: leave it
        try:
            self.ctx.client("iam").detach_user_policy(
                UserName=user, PolicyArn=change.before["policyArn"])
        except ClientError as err:
            if error_code(err) != "NoSuchEntity":  # already detached: nothing to undo
                raise

    def verify(self, change: Change, result: Mapping[str, Any]) -> Check:
        """The deny-all policy is still attached (or, for a change recorded by an irctl
        that wrote the inline document, that document is still on the user)."""
        user = change.after["user"]
        if "policyArn" not in change.after:
            return inline_policy_check(self, "user", user, DENY_ALL_POLICY_NAME,
                                       change.target)
        arn = change.after["policyArn"]
        pages = self.ctx.client("iam").get_paginator(
            "list_attached_user_policies").paginate(UserName=user)
        holds = any(p["PolicyArn"] == arn for page in pages for p in page["AttachedPolicies"])
        return Check("containment", change.target, f"user {user} policy {arn}", "attached",
                     "attached" if holds else "detached", holds)

    def verify_all(self, change: Change, result: Mapping[str, Any]) -> list[Check]:
        """Attached, and the policy's document is still the stack's Deny * on *."""
        checks = [self.verify(change, result)]
        if "policyArn" in change.after:
            checks.append(self.document_check(str(change.after["policyArn"])))
        return checks

    def document_check(self, arn: str) -> Check:
        """The managed policy's default version is still the stack's Deny * on *: whoever
        may edit it (a new default version) would otherwise turn "attached" into nothing."""
        iam = self.ctx.client("iam")
        what, expected = "deny-all policy document", "Deny * on * (the stack's)"
        try:
            version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
            document = _document(iam.get_policy_version(
                PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"])
        except ClientError as err:
            if error_code(err) != "NoSuchEntity":
                raise
            return Check("containment", arn, what, expected, "policy deleted", False)
        if _same_policy(document, DENY_ALL_DOCUMENT):
            return Check("containment", arn, what, expected, expected, True)
        shown = json.dumps(document, sort_keys=True)
        return Check("containment", arn, what, expected,
                     f"version {version}: {shown[:300]}", False)


def recreate_login_command(user: str) -> str:
    """What the user's owner (an administrator) runs to give console access back."""
    return (f"aws iam create-login-profile --user-name {user} --password-reset-required "
            "--password 'TEMPORARY-PASSWORD'")


@register
class RemoveLoginProfile(UserStep):
    """Delete the user's console password, recording that it existed.

    One-way for irctl: IAM never returns the old password, and no role the stack
    generates may create a login profile (that would let whoever holds the role open
    the console of any user, an administrator's included). Giving console access back
    is the user's owner's job, with their own credentials: the plan and the README name
    the command (`recreate_login_command`); the owner hands the temporary password to
    the user out of band and the user must choose their own at first sign-in.
    """

    name = "iam.remove-login-profile"
    description = ("Delete an IAM user's console password (one-way: its owner re-creates "
                   "it)")
    reversible = False
    actions = frozenset(
        {"sts:GetAccessKeyInfo", "sts:GetCallerIdentity", "iam:GetAccessKeyLastUsed",
         "iam:GetUser", "iam:GetLoginProfile", "iam:DeleteLoginProfile"}
    )
    scopes = {action: ACCOUNT_USERS for action in (
        "iam:GetAccessKeyLastUsed", "iam:GetUser", "iam:GetLoginProfile",
        "iam:DeleteLoginProfile")}

    def plan(self) -> list[Change]:
        user = self.user_name()
        self.require_user(user)
        try:
            profile = self.ctx.client("iam").get_login_profile(UserName=user)["LoginProfile"]
        except ClientError as err:
            if error_code(err) == "NoSuchEntity":
                return []
            raise
        return [Change(self.name, f"user/{user}",
                       f"Delete the console password of user {user} (one-way: to restore "
                       f"console access its owner runs `{recreate_login_command(user)}`)",
                       before={"user": user, "loginProfile": True,
                               "createDate": str(profile.get("CreateDate", "")),
                               "passwordResetRequired":
                                   bool(profile.get("PasswordResetRequired", False))},
                       after={"user": user, "loginProfile": False,
                              "handOff": recreate_login_command(user)})]

    def apply(self, change: Change) -> Mapping[str, Any]:
        try:
            self.ctx.client("iam").delete_login_profile(UserName=change.after["user"])
        except ClientError as err:
            if error_code(err) != "NoSuchEntity":
                raise
            return {"deleted": False, "note": "login profile was already gone"}
        return {"deleted": True, "handOff": change.after["handOff"]}


@register
class RevokeRoleSessions(Step):
    """Deny every session of a role issued before now (the console's "Revoke sessions").

    Inline policy `AWSRevokeOlderSessions`: Deny * when aws:TokenIssueTime < now. New
    sessions (from principals the trust policy still allows) keep working. Idempotent per
    case: the statement's Sid carries the case id, so a re-run in the same case plans
    nothing, and a later case moves the cutoff forward. Rollback restores the previous
    document (or removes the policy); release re-enables unexpired old sessions, so
    release a role only once they have expired (the role's MaxSessionDuration).
    """

    name = "iam.revoke-role-sessions"
    description = "Revoke a role's sessions issued before now (aws:TokenIssueTime deny)"
    actions = frozenset(
        {"iam:GetRole", "iam:GetRolePolicy", "iam:PutRolePolicy", "iam:DeleteRolePolicy",
         "sts:GetCallerIdentity"}
    )
    # Inline, not the stack's managed policy: the document carries this case's cutoff
    # time, and IAM compares aws:TokenIssueTime only with a literal date (policy
    # variables work in string conditions only), so one managed document cannot hold a
    # cutoff per role. A managed policy *version* per revocation was rejected: the role
    # would need iam:CreatePolicyVersion, which writes any document into a policy
    # attachable anywhere (no narrower than PutRolePolicy) and moves every attached
    # role's cutoff at once. The roles deny Put/DeleteRolePolicy on the stack's own roles
    # and on roles tagged ir:protected (see components/responder_access.py).
    scopes = {action: ACCOUNT_ROLES for action in (
        "iam:GetRole", "iam:GetRolePolicy", "iam:PutRolePolicy", "iam:DeleteRolePolicy")}
    Params = RoleParams
    release_kind = "role"

    def plan(self) -> list[Change]:
        role = str(self.params["role_name"])
        iam = self.ctx.client("iam")
        try:
            found = iam.get_role(RoleName=role)["Role"]
        except ClientError as err:
            if error_code(err) == "NoSuchEntity":
                raise PreconditionFailed(
                    f"IAM role {role} was not found in account {self.ctx.account_id}; "
                    "give the role name, not its ARN or instance profile name") from err
            raise
        if str(found.get("Path", "")).startswith("/aws-service-role/"):
            raise PreconditionFailed(
                f"IAM role {role} is a service-linked role: AWS does not allow policies on "
                "it; contain the principal that misused the service instead")
        tags = {t["Key"]: t["Value"] for t in found.get("Tags", [])}
        if tags.get(PROTECTED_TAG) == "true" or STACK_TAG in tags:
            # The generated roles are denied inline writes on these (an inline document
            # can say anything): an administrator revokes with their own credentials.
            raise PreconditionFailed(
                f"IAM role {role} is tagged {PROTECTED_TAG}=true or belongs to the readiness "
                "stack, so the responder roles may not write policies on it; an "
                "administrator revokes its sessions with their own credentials: the IAM "
                "console's 'Revoke active sessions' on the role, or `aws iam put-role-policy "
                f"--role-name {role} --policy-name {REVOKE_SESSIONS_POLICY_NAME} "
                "--policy-document <Deny * when aws:TokenIssueTime is before now>`")
        arn = caller_arn(self)
        if ":assumed-role/" in arn and arn.split(":assumed-role/", 1)[1].split("/")[0] == role:
            raise PreconditionFailed(
                f"refusing to revoke the sessions of role {role}: irctl is running in one of "
                f"them ({arn}), so the run would lock itself out; run it as another principal")
        try:
            existing = _document(iam.get_role_policy(
                RoleName=role, PolicyName=REVOKE_SESSIONS_POLICY_NAME)["PolicyDocument"])
        except ClientError as err:
            if error_code(err) != "NoSuchEntity":
                raise
            existing = None
        sid = "IrctlRevokeOlderSessions" + re.sub(r"[^A-Za-z0-9]", "", self.ctx.case_id)
        if existing and any(s.get("Sid") == sid for s in existing.get("Statement", [])):
            return []
        cutoff = self.ctx.now().strftime("%Y-%m-%dT%H:%M:%SZ")
        document = {"Version": "2012-10-17", "Statement": [{
            "Sid": sid, "Effect": "Deny", "Action": ["*"], "Resource": ["*"],
            "Condition": {"DateLessThan": {"aws:TokenIssueTime": cutoff}}}]}
        return [Change(self.name, f"role/{role}",
                       f"Deny every session of role {role} issued before {cutoff}",
                       before={"role": role, "document": existing},
                       after={"role": role, "document": document})]

    def apply(self, change: Change) -> Mapping[str, Any]:
        role = change.after["role"]
        try:
            self.ctx.client("iam").put_role_policy(
                RoleName=role, PolicyName=REVOKE_SESSIONS_POLICY_NAME,
                PolicyDocument=json.dumps(change.after["document"]))
        except ClientError as err:
            if error_code(err) == "LimitExceeded":
                raise ActionFailed(
                    f"role {role}'s inline policies are at IAM's size limit, so "
                    f"{REVOKE_SESSIONS_POLICY_NAME} cannot be added; remove an unneeded "
                    "inline policy, or use the IAM console's 'Revoke active sessions'") from err
            raise
        return {"policy": REVOKE_SESSIONS_POLICY_NAME}

    def rollback(self, change: Change, result: Mapping[str, Any]) -> None:
        iam = self.ctx.client("iam")
        role = change.before["role"]
        if change.before["document"] is None:
            try:
                iam.delete_role_policy(RoleName=role, PolicyName=REVOKE_SESSIONS_POLICY_NAME)
            except ClientError as err:
                if error_code(err) != "NoSuchEntity":
                    raise
        else:
            iam.put_role_policy(RoleName=role, PolicyName=REVOKE_SESSIONS_POLICY_NAME,
                                PolicyDocument=json.dumps(change.before["document"]))

    def verify(self, change: Change, result: Mapping[str, Any]) -> Check:
        """The role's AWSRevokeOlderSessions document is still the one this change wrote
        (Deny * on * before the recorded cutoff), or a later revocation's (the same
        statement with a later cutoff: another case moved it forward). Merely "present"
        is not enough: a cutoff moved back to 2000-01-01, or a statement loosened to one
        action, revives every stolen session."""
        role = change.after["role"]
        what = f"role {role} policy {REVOKE_SESSIONS_POLICY_NAME}"
        wanted = _revocation(change.after["document"])
        expected = (f"Deny * on * for sessions issued before {wanted}" if wanted
                    else "the recorded document")
        try:
            live = _document(self.ctx.client("iam").get_role_policy(
                RoleName=role, PolicyName=REVOKE_SESSIONS_POLICY_NAME)["PolicyDocument"])
        except ClientError as err:
            if error_code(err) != "NoSuchEntity":
                raise
            return Check("containment", change.target, what, expected, "missing", False)
        cutoff = _revocation(live)
        if live == change.after["document"] or (wanted and cutoff and cutoff >= wanted):
            return Check("containment", change.target, what, expected,
                         f"Deny * on * for sessions issued before {cutoff}", True)
        actual = (f"cutoff moved back to {cutoff}" if cutoff
                  else f"document changed: {json.dumps(live, sort_keys=True)[:300]}")
        return Check("containment", change.target, what, expected, actual, False)


def inline_policy_check(step: Step, kind: str, name: str, policy: str, target: str) -> Check:
    """Is inline policy `policy` still on user or role `name`?"""
    iam = step.ctx.client("iam")
    try:
        if kind == "user":
            iam.get_user_policy(UserName=name, PolicyName=policy)
        else:
            iam.get_role_policy(RoleName=name, PolicyName=policy)
        actual, holds = "present", True
    except ClientError as err:
        if error_code(err) != "NoSuchEntity":
            raise
        actual, holds = "missing", False
    return Check("containment", target, f"{kind} {name} policy {policy}", "present",
                 actual, holds)


def _listed(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def _statements(document: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """A document's statements with every one-or-list field as a sorted list, so that
    "Action": "*" and "Action": ["*"] compare equal."""
    found = []
    for statement in _listed((document or {}).get("Statement")):
        if not isinstance(statement, dict):
            return [{"invalid": repr(statement)}]
        found.append({k: sorted(map(str, _listed(v))) if k in (
            "Action", "NotAction", "Resource", "NotResource") else v
            for k, v in statement.items() if k != "Sid"})
    return sorted(found, key=lambda s: json.dumps(s, sort_keys=True))


def _same_policy(live: Mapping[str, Any] | None, wanted: Mapping[str, Any]) -> bool:
    return _statements(live) == _statements(wanted)


def _revocation(document: Mapping[str, Any] | None) -> str | None:
    """The cutoff of a revoke-sessions document that denies every action on every
    resource to sessions issued before it, and says nothing else; None for any other
    document (a narrowed action list, an Allow, an extra statement or condition)."""
    statements = _listed((document or {}).get("Statement"))
    if len(statements) != 1 or not isinstance(statements[0], dict):
        return None
    statement = statements[0]
    condition = statement.get("Condition")
    if (statement.get("Effect") != "Deny" or _listed(statement.get("Action")) != ["*"]
            or _listed(statement.get("Resource")) != ["*"]
            or set(statement) - {"Sid", "Effect", "Action", "Resource", "Condition"}
            or not isinstance(condition, dict) or list(condition) != ["DateLessThan"]
            or not isinstance(condition["DateLessThan"], dict)
            or list(condition["DateLessThan"]) != ["aws:TokenIssueTime"]):
        return None
    cutoff = condition["DateLessThan"]["aws:TokenIssueTime"]
    # ISO 8601 UTC ("...Z") as the step writes it compares as text
    return cutoff if isinstance(cutoff, str) else None


def _document(document: Any) -> dict[str, Any] | None:
    """boto3 decodes policy documents to dicts; some emulators return URL-encoded JSON."""
    if document is None or isinstance(document, dict):
        return document
    from urllib.parse import unquote

    parsed = json.loads(unquote(str(document)))
    if not isinstance(parsed, dict):
        raise ActionFailed(f"unexpected policy document: {document!r}")
    return parsed
