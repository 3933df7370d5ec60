"""Secrets Manager containment for a secret a compromised principal read (or may read):

    secrets.deny-principal   a resource-policy statement (Sid naming the case) denying the
                             principal GetSecretValue and DescribeSecret; release removes
                             exactly that statement (the rest of the live policy is kept)
    secrets.rotate-now       a new AWSCURRENT value now, the old one kept as AWSPREVIOUS

Deny first: it takes effect on the next request, whatever the rotation does.

Rotation, decided (docs/playbooks/compromised-secret-or-key.md says the same):
- A secret with rotation configured (a rotation function, or a service that manages it,
  e.g. an RDS-managed master password) is rotated with RotateSecret(RotateImmediately):
  the rotation function changes the credential where it is checked (the database) and
  in the secret. This is the only rotation that makes the leaked value useless.
- A secret without rotation gets a new random value only when asked (`new_value`, the
  command's `--new-value`; refused for a secret with rotation configured, whose value
  must stay what its rotation set where the credential is checked): GetRandomPassword +
  PutSecretValue stage it AWSCURRENT and Secrets Manager moves the old version to
  AWSPREVIOUS. The leaked value stays valid
  wherever it was issued (a third-party API token, a database user): its owner must
  revoke it there. The new value is a plain string, so a JSON-structured secret is
  replaced by one string: irctl never reads a secret value (the generated roles are
  denied secretsmanager:GetSecretValue), so it cannot keep the structure. Without
  rotation and without `new_value` the step refuses (exit 2) and says both options.
- The value is never printed, returned, or written to the audit log: the change records
  version ids only.
- One-way: release does not move AWSCURRENT back. Putting the leaked value back as the
  current one is never a containment step (and for a function-rotated secret the old
  value no longer matches the database). The old version stays AWSPREVIOUS; its owner
  moves the stage back by hand if they must (`aws secretsmanager
  update-secret-version-stage --secret-id S --version-stage AWSCURRENT --move-to-version-id
  OLD --remove-from-version-id NEW`, recorded in the change's `after.restore`). A failed
  later step of the same target therefore never rolls the rotation back either.
- Idempotent per case: the new version's id (ClientRequestToken) is derived from the
  case and the secret, so a re-run of the same case finds its version and plans nothing,
  and AWS itself refuses to make a second one.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Mapping
from typing import Annotated, Any

from botocore.exceptions import ClientError
from pydantic import Field

from runbooks.core.errors import InvalidInput, PreconditionFailed
from runbooks.core.scopes import Scope
from runbooks.core.step import Change, Check, Step, StepParams, checked_by, register

# A secret's name (1-512 of [A-Za-z0-9/_+=.@-]) or its ARN.
SECRET_NAME = re.compile(r"^[A-Za-z0-9/_+=.@!-]{1,512}$")
SECRET_ARN = re.compile(
    r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@!-]+$")
PRINCIPAL_ARN = re.compile(
    r"^arn:(aws[a-z-]*):(iam|sts)::([0-9]{12}):(root|user/[\w+=,.@/-]+|role/[\w+=,.@/-]+|"
    r"assumed-role/[\w+=,.@-]+/[\w+=,.@-]+)$")
DENIED_ACTIONS = ("secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret")

ACCOUNT_SECRETS = Scope("AccountSecrets",
                        ("arn:{partition}:secretsmanager:*:{account}:secret:*",))
# PutResourcePolicy only with Block Public Policy on: Secrets Manager then refuses a
# document that grants broad access, so the grant cannot open a secret to everyone.
# (The generated roles are also denied secretsmanager:GetSecretValue outright, so a
# holder cannot grant themselves a read through a resource policy either.)
SECRET_POLICY_WRITE = Scope(
    "AccountSecretsBlockPublicPolicy",
    ("arn:{partition}:secretsmanager:*:{account}:secret:*",),
    {"Bool": {"secretsmanager:BlockPublicPolicy": "true"}})


def error_code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


def validate_secret_id(secret: Any) -> str:
    if not isinstance(secret, str) or not (SECRET_ARN.match(secret)
                                           or SECRET_NAME.match(secret)):
        raise InvalidInput(
            f"secret {secret!r} is malformed: give its name (1-512 letters, digits or "
            "/_+=.@-) or its ARN (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-xxxxxx)")
    return secret


def validate_principal_arn(arn: Any) -> str:
    if not isinstance(arn, str) or not PRINCIPAL_ARN.match(arn):
        raise InvalidInput(
            f"principal {arn!r} is not an IAM principal ARN: give the user's or role's ARN "
            "(arn:aws:iam::ACCOUNT:user/NAME, arn:aws:iam::ACCOUNT:role/NAME) or the "
            "session ARN a finding names (arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION)")
    if arn.endswith(":root"):
        raise InvalidInput(
            f"principal {arn!r} is an account root: a deny on it would deny every "
            "principal of that account; name the user or role that read the secret")
    return arn


def principal_patterns(arn: str) -> list[str]:
    """The `aws:PrincipalArn` values that match `arn`: an assumed-role session is denied
    through its role (every session of it), whatever the role's path."""
    match = PRINCIPAL_ARN.match(arn)
    assert match is not None  # validated
    partition, _, account, resource = match.groups()
    if resource.startswith("assumed-role/"):
        role = resource.split("/")[1]
        return [f"arn:{partition}:iam::{account}:role/{role}",
                f"arn:{partition}:iam::{account}:role/*/{role}"]
    return [arn]


def statement_sid(case_id: str, principal: str) -> str:
    """Sid naming the case (IAM Sids are letters and digits only) and the principal."""
    case = re.sub(r"[^A-Za-z0-9]", "", case_id)
    digest = hashlib.sha256(principal.encode()).hexdigest()[:8]
    return f"IrCase{case}Deny{digest}"


class SecretParams(StepParams):
    secret_id: Annotated[str, checked_by(validate_secret_id),
                         Field(description="the secret's name or ARN")]


class DenyParams(SecretParams):
    principal_arn: Annotated[str, checked_by(validate_principal_arn),
                             Field(description="the compromised user, role or role "
                                               "session ARN")]


class RotateParams(SecretParams):
    new_value: Annotated[bool, Field(
        description="store a new random value when the secret has no rotation "
                    "configured (the leaked value stays valid where it was issued)")] = False
    length: Annotated[int, Field(ge=16, le=4096,
                                 description="length of a new random value, 16-4096")] = 40


class SecretStep(Step):
    release_kind = "secret"

    @property
    def secret_id(self) -> str:
        return str(self.params["secret_id"])

    def sm(self) -> Any:
        return self.ctx.client("secretsmanager")

    def describe(self) -> dict[str, Any]:
        try:
            found: dict[str, Any] = self.sm().describe_secret(SecretId=self.secret_id)
        except ClientError as err:
            if error_code(err) == "ResourceNotFoundException":
                raise PreconditionFailed(
                    f"secret {self.secret_id} was not found in account {self.ctx.account_id} "
                    f"region {self.ctx.region}; give its name or full ARN") from err
            raise
        if found.get("DeletedDate"):
            raise PreconditionFailed(
                f"secret {self.secret_id} is scheduled for deletion; restore it first "
                f"(`aws secretsmanager restore-secret --secret-id {self.secret_id}`) or "
                "leave it: nobody can read a secret pending deletion")
        return found


@register
class DenyPrincipal(SecretStep):
    name = "secrets.deny-principal"
    description = ("Deny a principal GetSecretValue/DescribeSecret in the secret's "
                   "resource policy")
    actions = frozenset({"secretsmanager:DescribeSecret", "secretsmanager:GetResourcePolicy",
                         "secretsmanager:PutResourcePolicy",
                         "secretsmanager:DeleteResourcePolicy"})
    scopes = {"secretsmanager:DescribeSecret": ACCOUNT_SECRETS,
              "secretsmanager:GetResourcePolicy": ACCOUNT_SECRETS,
              "secretsmanager:PutResourcePolicy": SECRET_POLICY_WRITE,
              "secretsmanager:DeleteResourcePolicy": ACCOUNT_SECRETS}
    Params = DenyParams
    multi_call = False

    @property
    def principal(self) -> str:
        return str(self.params["principal_arn"])

    def statement(self) -> dict[str, Any]:
        return {"Sid": statement_sid(self.ctx.case_id, self.principal), "Effect": "Deny",
                "Principal": {"AWS": "*"}, "Action": list(DENIED_ACTIONS), "Resource": "*",
                "Condition": {"ArnLike": {"aws:PrincipalArn":
                                          principal_patterns(self.principal)}}}

    def live_policy(self, secret_id: str) -> dict[str, Any] | None:
        text = self.sm().get_resource_policy(SecretId=secret_id).get("ResourcePolicy")
        return json.loads(text) if text else None

    def plan(self) -> list[Change]:
        found = self.describe()
        arn = str(found["ARN"])
        policy = self.live_policy(arn)
        wanted = self.statement()
        statements = _statements(policy)
        if any(s == wanted for s in statements):
            return []
        kept = [s for s in statements if s.get("Sid") != wanted["Sid"]]
        new_policy = {"Version": "2012-10-17", **(policy or {}),
                      "Statement": [*kept, wanted]}
        return [Change(self.name, self.secret_id,
                       f"Deny {self.principal} reading secret {found.get('Name', arn)} "
                       f"(resource-policy statement {wanted['Sid']})",
                       before={"arn": arn, "sid": wanted["Sid"], "statement": None},
                       after={"arn": arn, "sid": wanted["Sid"], "statement": wanted,
                              "policy": json.dumps(new_policy, sort_keys=True)})]

    def apply(self, change: Change) -> Mapping[str, Any]:
        # Merge into the live document (not the planned one), so a statement another run
        # added since the plan is kept.
        arn = change.after["arn"]
        policy = self.live_policy(arn)
        kept = [s for s in _statements(policy) if s.get("Sid") != change.after["sid"]]
        document = {"Version": "2012-10-17", **(policy or {}),
                    "Statement": [*kept, change.after["statement"]]}
        self.sm().put_resource_policy(SecretId=arn, ResourcePolicy=json.dumps(document),
                                      BlockPublicPolicy=True)
        return {"sid": change.after["sid"]}

    def rollback(self, change: Change, result: Mapping[str, Any]) -> None:
        """Remove exactly the case's statement; whatever else the policy says now stays."""
        arn = change.after["arn"]
        policy = self.live_policy(arn)
        kept = [s for s in _statements(policy) if s.get("Sid") != change.after["sid"]]
        if kept:
            document = {**(policy or {}), "Statement": kept}
            self.sm().put_resource_policy(SecretId=arn, ResourcePolicy=json.dumps(document),
                                          BlockPublicPolicy=True)
        elif policy is not None:
            self.sm().delete_resource_policy(SecretId=arn)

    def current(self, change: Change) -> Mapping[str, Any] | None:
        policy = self.live_policy(change.after["arn"])
        mine = [s for s in _statements(policy) if s.get("Sid") == change.after["sid"]]
        return {"statement": mine[0] if mine else None}

    def verify(self, change: Change, result: Mapping[str, Any]) -> Check:
        live = self.current(change) or {}
        holds = live.get("statement") == change.after["statement"]
        return Check("containment", change.target,
                     f"resource policy of secret {change.after['arn']}",
                     f"statement {change.after['sid']} denies the principal",
                     "present" if holds else "missing or changed", holds)

    @classmethod
    def subject(cls, change: Change) -> str:
        return f"{change.after.get('arn')}#{change.after.get('sid')}"


@register
class RotateNow(SecretStep):
    name = "secrets.rotate-now"
    description = ("Rotate a secret now (its rotation function; or, asked for, a new "
                   "random value), the old version kept as AWSPREVIOUS")
    actions = frozenset({"secretsmanager:DescribeSecret", "secretsmanager:RotateSecret",
                         "secretsmanager:GetRandomPassword",
                         "secretsmanager:PutSecretValue"})
    scopes = {"secretsmanager:DescribeSecret": ACCOUNT_SECRETS,
              "secretsmanager:RotateSecret": ACCOUNT_SECRETS,
              "secretsmanager:PutSecretValue": ACCOUNT_SECRETS}
    Params = RotateParams
    reversible = False  # see the module docstring: release never restores a leaked value

    def token(self, arn: str) -> str:
        """The new version's id: one per case and secret (idempotent re-runs)."""
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"ir-readiness:{self.ctx.case_id}:{arn}"))

    def plan(self) -> list[Change]:
        found = self.describe()
        arn = str(found["ARN"])
        stages: dict[str, list[str]] = found.get("VersionIdsToStages") or {}
        token = self.token(arn)
        if token in stages:
            return []  # this case already rotated it (or its rotation is under way)
        current = next((v for v, s in stages.items() if "AWSCURRENT" in s), None)
        managed = bool(found.get("RotationEnabled") or found.get("RotationLambdaARN")
                       or found.get("OwningService"))
        pending = [v for v, s in stages.items() if "AWSPENDING" in s and "AWSCURRENT" not in s]
        name = found.get("Name", arn)
        if managed and self.params.get("new_value"):
            raise PreconditionFailed(
                f"secret {name} has rotation configured: a random value written beside its "
                "rotation would no longer match the credential where it is checked (the "
                "database); re-run without --new-value to rotate it with its rotation")
        if managed:
            if pending:
                raise PreconditionFailed(
                    f"secret {name} has a rotation in progress (version {pending[0]} is "
                    "AWSPENDING); Secrets Manager refuses another until it finishes: check "
                    "its rotation function's logs, then re-run")
            how = "rotate"
            by = ("its rotation function" if found.get("RotationLambdaARN")
                  else "its configured rotation")
            summary = (f"Rotate secret {name} now with {by} (new version {token}; "
                       f"{current} kept as AWSPREVIOUS)")
        elif self.params.get("new_value"):
            how = "new-value"
            summary = (f"Store a new random value in secret {name} as AWSCURRENT (version "
                       f"{token}; {current} kept as AWSPREVIOUS). The leaked value stays "
                       "valid wherever it was issued: revoke it there too")
        else:
            raise PreconditionFailed(
                f"secret {name} has no rotation configured, so irctl cannot change the "
                "credential where it is checked. Either configure rotation (`aws "
                f"secretsmanager rotate-secret --secret-id {name} --rotation-lambda-arn "
                "FUNCTION`) and re-run, or re-run with --new-value to store a new random "
                "value (the leaked one must then be revoked where it was issued), or with "
                "--no-rotate to deny the principal only")
        return [Change(self.name, self.secret_id, summary,
                       before={"arn": arn, "current": current},
                       after={"arn": arn, "current": token, "how": how,
                              "restore": restore_command(arn, current, token)})]

    def apply(self, change: Change) -> Mapping[str, Any]:
        arn, token = change.after["arn"], change.after["current"]
        if change.after["how"] == "rotate":
            self.sm().rotate_secret(SecretId=arn, ClientRequestToken=token,
                                    RotateImmediately=True)
        else:
            value = self.sm().get_random_password(
                PasswordLength=int(self.params.get("length", 40)))["RandomPassword"]
            self.sm().put_secret_value(SecretId=arn, ClientRequestToken=token,
                                       SecretString=value)
            del value
        return {"version": token, "previous": change.before["current"]}

    def verify(self, change: Change, result: Mapping[str, Any]) -> Check:
        found = self.sm().describe_secret(SecretId=change.after["arn"])
        stages = found.get("VersionIdsToStages") or {}
        current = next((v for v, s in stages.items() if "AWSCURRENT" in s), None)
        old = change.before.get("current")
        holds = current != old and "AWSCURRENT" not in stages.get(str(old), [])
        return Check("containment", change.target, f"AWSCURRENT of secret {change.after['arn']}",
                     f"not the leaked version {old}", str(current), holds)


def restore_command(arn: str, old: str | None, new: str) -> str:
    """What the secret's owner runs to put the old version back (never irctl)."""
    return (f"aws secretsmanager update-secret-version-stage --secret-id {arn} "
            f"--version-stage AWSCURRENT --move-to-version-id {old} "
            f"--remove-from-version-id {new}")


def _statements(document: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    if not document:
        return []
    statements = document.get("Statement", [])
    return list(statements) if isinstance(statements, list) else [statements]
