"""Lambda containment for a compromised function, in the order `irctl contain function`
runs them (the containment phase of `compromised-lambda-function`):

    lambda.zero-concurrency                reserved concurrency 0: every invocation path
                                           (events, URL, direct Invoke) is throttled; the
                                           cut, one call, first
    lambda.disable-event-source-mappings   every enabled event-source mapping disabled
                                           (queued/streamed events wait in their source)
    lambda.remove-public-permissions       resource-policy statements open to everyone
                                           removed (each kept verbatim for release)
    lambda.revoke-execution-role-sessions  the execution role's sessions issued before
                                           now revoked (`iam.revoke-role-sessions`)
    lambda.capture-function                the configuration (function, concurrency,
                                           policy, event-source mappings, URL config) as
                                           JSON and the code package, SHA-256 checked
                                           against the function's CodeSha256, both in the
                                           evidence bucket (SSE-KMS) under
                                           cases/<case>/functions/<name>/

Release (`irctl release function NAME --case CASE`) restores, newest first, the
recorded public statements (AddPermission with the same Sid and content), re-enables
exactly the mappings that were enabled and puts the reserved concurrency back (or
deletes it when there was none). The revocation is one-way, as for an instance's role
(`ec2.revoke-instance-role-sessions`): lifting it would revive credentials stolen from
the function's environment; sessions the function gets after release are unaffected.

"Public" is S3's definition (`runbooks.steps.s3.is_public_statement`): Principal `*` or
`{"AWS": "*"}` without a condition pinning fixed values of AWS:SourceAccount,
AWS:SourceArn, aws:PrincipalOrgID (or another restricting key). A function URL with
AuthType NONE is closed by the same rule: AWS admits its anonymous callers only through
a public `lambda:InvokeFunctionUrl` statement, which is removed, and the reserved
concurrency of 0 throttles the URL too. The URL's configuration itself is left as it is
(changing it would need lambda:UpdateFunctionUrlConfig) and saved as evidence. Only the
function's unqualified policy is read: statements on aliases or versions are not.

No step calls lambda:UpdateFunctionCode or UpdateFunctionConfiguration: either would
let the role's holder run code as the function's role (privilege escalation).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Annotated, Any

from botocore.exceptions import ClientError
from pydantic import Field

from runbooks.core.errors import ActionFailed, InvalidInput, PreconditionFailed
from runbooks.core.evidence_queue import already_held, put_evidence
from runbooks.core.scopes import ACCOUNT_ROLES, EVIDENCE_OBJECTS, STACK_KEYS, Scope
from runbooks.core.step import Change, Check, Step, StepParams, checked_by, register
from runbooks.steps.s3 import is_public_statement

FUNCTION_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# Lambda's own limit on a function's deployment package (250 MB unzipped; the zip is
# smaller): a larger download is not a package Lambda accepted.
MAX_CODE_BYTES = 262_144_000
DOWNLOAD_TIMEOUT_SECONDS = 60.0

# Every function of the account, in any region (qualified ARNs included), and its
# event-source mappings. Lambda has no resource policies on mappings and a function's
# resource policy governs only invocation, so an account scope narrows nothing further;
# named so the grant says what it reaches.
ACCOUNT_FUNCTIONS = Scope("AccountFunctions",
                          ("arn:{partition}:lambda:*:{account}:function:*",))
ACCOUNT_EVENT_SOURCE_MAPPINGS = Scope(
    "AccountEventSourceMappings", ("arn:{partition}:lambda:*:{account}:event-source-mapping:*",))


def validate_function_name(name: Any) -> str:
    if not isinstance(name, str) or not FUNCTION_NAME.match(name):
        raise InvalidInput(
            f"function name {name!r} is malformed: 1-64 letters, digits, '-' or '_' (the "
            "function's name, not its ARN; e.g. GuardDuty's resource.lambdaDetails."
            "functionName)")
    return name


def error_code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


class FunctionParams(StepParams):
    function_name: Annotated[str, checked_by(validate_function_name),
                             Field(description="the function's name, 1-64 characters")]


class FunctionStep(Step):
    Params = FunctionParams
    release_kind = "function"

    @property
    def function(self) -> str:
        return str(self.params["function_name"])

    def lam(self) -> Any:
        return self.ctx.client("lambda")

    def configuration(self) -> dict[str, Any]:
        """The function's configuration, read once per run (PreconditionFailed if none)."""
        def load() -> dict[str, Any]:
            try:
                return dict(self.lam().get_function_configuration(FunctionName=self.function))
            except ClientError as err:
                if error_code(err) == "ResourceNotFoundException":
                    raise PreconditionFailed(
                        f"Lambda function {self.function} was not found in account "
                        f"{self.ctx.account_id}, region {self.ctx.region}; check the name "
                        "and --region (GuardDuty's finding names both)") from err
                raise
        return self.ctx.cache.get(f"lambda.configuration:{self.function}", load)

    def reserved(self) -> int | None:
        found = self.lam().get_function_concurrency(FunctionName=self.function)
        value = found.get("ReservedConcurrentExecutions")
        return None if value is None else int(value)


def _lambda_scopes(actions: frozenset[str]) -> dict[str, Scope]:
    scopes: dict[str, Scope] = {}
    for action in actions:
        if action in ("lambda:UpdateEventSourceMapping", "lambda:GetEventSourceMapping"):
            scopes[action] = ACCOUNT_EVENT_SOURCE_MAPPINGS
        elif action.startswith("lambda:") and action != "lambda:ListEventSourceMappings":
            scopes[action] = ACCOUNT_FUNCTIONS
    return scopes


@register
class ZeroConcurrency(FunctionStep):
    name = "lambda.zero-concurrency"
    description = "Set a function's reserved concurrency to 0 (every invocation throttled)"
    actions = frozenset({"lambda:GetFunctionConfiguration", "lambda:GetFunctionConcurrency",
                         "lambda:PutFunctionConcurrency", "lambda:DeleteFunctionConcurrency"})
    scopes = _lambda_scopes(actions)

    def plan(self) -> list[Change]:
        self.configuration()
        current = self.reserved()
        if current == 0:
            return []
        was = "none (unreserved)" if current is None else str(current)
        return [Change(self.name, f"function/{self.function}",
                       f"Set reserved concurrency of function {self.function} to 0 (was {was}): "
                       "every invocation is throttled",
                       before={"function": self.function, "reserved": current},
                       after={"function": self.function, "reserved": 0})]

    def apply(self, change: Change) -> Mapping[str, Any]:
        self.lam().put_function_concurrency(FunctionName=self.function,
                                            ReservedConcurrentExecutions=0)
        return {"reserved": 0}

    def current(self, change: Change) -> Mapping[str, Any] | None:
        return {"reserved": self.reserved()}

    def rollback(self, change: Change, result: Mapping[str, Any]) -> None:
        original = change.before["reserved"]
        if original is None:
            self.lam().delete_function_concurrency(FunctionName=self.function)
        else:
            self.lam().put_function_concurrency(FunctionName=self.function,
                                                ReservedConcurrentExecutions=int(original))

    def verify(self, change: Change, result: Mapping[str, Any]) -> Check:
        live = self.reserved()
        return Check("containment", change.target,
                     f"reserved concurrency of function {self.function}", "0",
                     "none" if live is None else str(live), live == 0)


ENABLED_STATES = ("Enabled", "Enabling", "Updating", "Creating")


@register
class DisableEventSourceMappings(FunctionStep):
    name = "lambda.disable-event-source-mappings"
    description = "Disable every enabled event-source mapping of a function"
    actions = frozenset({"lambda:GetFunctionConfiguration", "lambda:ListEventSourceMappings",
                         "lambda:GetEventSourceMapping", "lambda:UpdateEventSourceMapping"})
    scopes = _lambda_scopes(actions)

    def mappings(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        marker: str | None = None
        while True:
            page = self.lam().list_event_source_mappings(
                FunctionName=self.function, **({"Marker": marker} if marker else {}))
            found += page.get("EventSourceMappings", [])
            marker = page.get("NextMarker")
            if not marker:
                return found

    def plan(self) -> list[Change]:
        self.configuration()
        changes = []
        for mapping in self.mappings():
            if mapping.get("State") not in ENABLED_STATES:
                continue
            uuid, source = mapping["UUID"], mapping.get("EventSourceArn", "")
            changes.append(Change(
                self.name, f"function/{self.function}",
                f"Disable event-source mapping {uuid} ({source}) of function {self.function}",
                before={"function": self.function, "uuid": uuid, "source": source,
                        "state": "Enabled"},
                after={"function": self.function, "uuid": uuid, "source": source,
                       "state": "Disabled"}))
        return changes

    @classmethod
    def subject(cls, change: Change) -> str:
        return f"{change.target}/mapping/{change.after['uuid']}"

    def apply(self, change: Change) -> Mapping[str, Any]:
        self.lam().update_event_source_mapping(UUID=change.after["uuid"], Enabled=False)
        return {"uuid": change.after["uuid"], "enabled": False}

    def live_state(self, uuid: str) -> str:
        try:
            return str(self.lam().get_event_source_mapping(UUID=uuid).get("State"))
        except ClientError as err:
            if error_code(err) == "ResourceNotFoundException":
                return "Deleted"
            raise

    def current(self, change: Change) -> Mapping[str, Any] | None:
        state = self.live_state(change.after["uuid"])
        # Disabling / Enabling are the way to the recorded states.
        state = {"Disabling": "Disabled", "Enabling": "Enabled"}.get(state, state)
        return {"state": state}

    def rollback(self, change: Change, result: Mapping[str, Any]) -> None:
        self.lam().update_event_source_mapping(UUID=change.before["uuid"], Enabled=True)

    def verify(self, change: Change, result: Mapping[str, Any]) -> Check:
        uuid = change.after["uuid"]
        state = self.live_state(uuid)
        return Check("containment", change.target,
                     f"event-source mapping {uuid} of function {self.function}",
                     "Disabled", state, state in ("Disabled", "Disabling", "Deleted"))


# AddPermission parameters and the policy condition each becomes (Lambda writes every
# statement of a function's policy from one AddPermission call).
_CONDITION_PARAMS = {
    ("stringequals", "aws:sourceaccount"): "SourceAccount",
    ("arnlike", "aws:sourcearn"): "SourceArn",
    ("stringequals", "aws:principalorgid"): "PrincipalOrgID",
    ("stringequals", "lambda:functionurlauthtype"): "FunctionUrlAuthType",
}


def permission_args(function: str, statement: Mapping[str, Any]) -> dict[str, Any]:
    """The AddPermission arguments that write `statement` again, or ActionFailed naming
    what AddPermission cannot express (then the statement is not removed at all)."""
    sid = statement.get("Sid")
    action = statement.get("Action")
    principal = statement.get("Principal")
    if not isinstance(sid, str) or not isinstance(action, str):
        raise ActionFailed(f"function {function}: a policy statement without a Sid or with "
                           f"several actions cannot be restored by AddPermission: {statement}")
    if isinstance(principal, Mapping) and len(principal) == 1:
        principal = next(iter(principal.values()))
    if not isinstance(principal, str):
        raise ActionFailed(f"function {function}: statement {sid} names several principals; "
                           "AddPermission cannot restore it")
    args: dict[str, Any] = {"FunctionName": function, "StatementId": sid, "Action": action,
                            "Principal": principal}
    for operator, block in dict(statement.get("Condition") or {}).items():
        for key, value in dict(block).items():
            param = _CONDITION_PARAMS.get((str(operator).lower(), str(key).lower()))
            if param is None or not isinstance(value, str):
                raise ActionFailed(
                    f"function {function}: statement {sid} has condition {operator} {key}, "
                    "which AddPermission cannot write again; it is left in place (remove it "
                    "by hand after recording it)")
            args[param] = value
    return args


@register
class RemovePublicPermissions(FunctionStep):
    name = "lambda.remove-public-permissions"
    description = "Remove resource-policy statements that let anyone invoke a function"
    actions = frozenset({"lambda:GetFunctionConfiguration", "lambda:GetPolicy",
                         "lambda:RemovePermission", "lambda:AddPermission"})
    # AddPermission only in rollback and release, re-adding a statement this step removed
    # (the same Sid and content): it can open a function to everyone, as the bucket
    # steps' PutBucketPolicy can a bucket, so it stays within the account's functions.
    scopes = _lambda_scopes(actions)

    def statements(self) -> list[dict[str, Any]]:
        try:
            text = self.lam().get_policy(FunctionName=self.function)["Policy"]
        except ClientError as err:
            if error_code(err) == "ResourceNotFoundException":
                return []
            raise
        found = json.loads(text).get("Statement", [])
        return [dict(s) for s in (found if isinstance(found, list) else [found])]

    def plan(self) -> list[Change]:
        self.configuration()
        changes = []
        for statement in self.statements():
            if not is_public_statement(statement):
                continue
            permission_args(self.function, statement)  # restorable, or refuse now
            sid = str(statement["Sid"])
            changes.append(Change(
                self.name, f"function/{self.function}",
                f"Remove public statement {sid} ({statement.get('Action')} for "
                f"{json.dumps(statement.get('Principal'))}) from function {self.function}'s "
                "policy",
                before={"function": self.function, "sid": sid, "statement": statement},
                after={"function": self.function, "sid": sid, "statement": None}))
        return changes

    @classmethod
    def subject(cls, change: Change) -> str:
        return f"{change.target}/statement/{change.after['sid']}"

    def apply(self, change: Change) -> Mapping[str, Any]:
        try:
            self.lam().remove_permission(FunctionName=self.function,
                                         StatementId=change.after["sid"])
        except ClientError as err:
            if error_code(err) != "ResourceNotFoundException":
                raise
            return {"removed": change.after["sid"], "note": "already gone"}
        return {"removed": change.after["sid"]}

    def current(self, change: Change) -> Mapping[str, Any] | None:
        sid = change.after["sid"]
        live = next((s for s in self.statements() if s.get("Sid") == sid), None)
        return {"statement": live}

    def rollback(self, change: Change, result: Mapping[str, Any]) -> None:
        self.lam().add_permission(**permission_args(self.function, change.before["statement"]))

    def verify(self, change: Change, result: Mapping[str, Any]) -> Check:
        public = sorted(str(s.get("Sid")) for s in self.statements() if is_public_statement(s))
        return Check("containment", change.target, f"policy of function {self.function}",
                     "no public statement",
                     "public: " + ", ".join(public) if public else "no public statement",
                     not public)


@register
class RevokeExecutionRoleSessions(FunctionStep):
    """Revoke the sessions of the function's execution role issued before now: credentials
    read from the function's environment stop working. Delegates to
    `iam.revoke-role-sessions` (which refuses service-linked, stack and ir:protected
    roles, and the role irctl runs as). One-way, like the instance role's revocation:
    release would revive stolen credentials; sessions issued after the cutoff work."""

    name = "lambda.revoke-execution-role-sessions"
    description = "Revoke older sessions of the function's execution role"
    reversible = False
    actions = frozenset({"lambda:GetFunctionConfiguration", "iam:GetRole", "iam:GetRolePolicy",
                         "iam:PutRolePolicy", "iam:DeleteRolePolicy", "sts:GetCallerIdentity"})
    scopes = {**_lambda_scopes(actions),
              **{a: ACCOUNT_ROLES for a in ("iam:GetRole", "iam:GetRolePolicy",
                                            "iam:PutRolePolicy", "iam:DeleteRolePolicy")}}

    def _delegate(self, role: str) -> Step:
        from runbooks.core.step import REGISTRY, load_all_steps

        load_all_steps()
        return REGISTRY["iam.revoke-role-sessions"](self.ctx, {"role_name": role})

    def plan(self) -> list[Change]:
        role = str(self.configuration().get("Role", "")).rsplit("/", 1)[-1]
        if not role:
            return []
        return [Change(self.name, f"function/{self.function}",
                       f"{c.summary} (execution role of function {self.function})",
                       c.before, c.after) for c in self._delegate(role).plan()]

    def apply(self, change: Change) -> Mapping[str, Any]:
        return self._delegate(change.after["role"]).apply(change)

    def verify(self, change: Change, result: Mapping[str, Any]) -> Check:
        return self._delegate(change.after["role"]).verify(change, result)


def evidence_prefix(case_id: str, function: str) -> str:
    return f"cases/{case_id}/functions/{function}/"


@register
class CaptureFunction(FunctionStep):
    """Save the function's configuration and code package as evidence.

    The configuration document holds GetFunction's configuration and tags, the reserved
    concurrency, the resource policy, the event-source mappings and the URL config (the
    presigned code URL is left out: it is a credential for ten minutes). The code is
    downloaded from GetFunction's code location, its SHA-256 compared with the
    function's CodeSha256 (a mismatch fails the step: the package is not what Lambda
    runs), and written with that digest as metadata; the result in the audit log names
    the digest. An image function's code is its container image (ImageUri and digest in
    the configuration document); nothing is downloaded for it. Not reversible."""

    name = "lambda.capture-function"
    description = "Save a function's configuration and code package to the evidence bucket"
    reversible = False
    actions = frozenset({"lambda:GetFunction", "lambda:GetFunctionConfiguration",
                         "lambda:GetFunctionConcurrency", "lambda:GetPolicy",
                         "lambda:ListEventSourceMappings", "lambda:GetFunctionUrlConfig",
                         "s3:PutObject", "s3:GetObject", "kms:GenerateDataKey"})
    scopes = {**_lambda_scopes(actions), "s3:PutObject": EVIDENCE_OBJECTS,
              "s3:GetObject": EVIDENCE_OBJECTS, "kms:GenerateDataKey": STACK_KEYS}

    def _optional(self, call: Any, key: str | None = None, **kwargs: Any) -> Any:
        try:
            found = call(FunctionName=self.function, **kwargs)
        except ClientError as err:
            if error_code(err) == "ResourceNotFoundException":
                return None
            raise
        found.pop("ResponseMetadata", None)
        return found.get(key) if key else found

    def document(self) -> dict[str, Any]:
        lam = self.lam()
        function = lam.get_function(FunctionName=self.function)
        function.pop("ResponseMetadata", None)
        code = dict(function.get("Code", {}))
        code.pop("Location", None)
        policy = self._optional(lam.get_policy, "Policy")
        mappings: list[dict[str, Any]] = []
        marker: str | None = None
        while True:
            page = lam.list_event_source_mappings(
                FunctionName=self.function, **({"Marker": marker} if marker else {}))
            mappings += page.get("EventSourceMappings", [])
            marker = page.get("NextMarker")
            if not marker:
                break
        return {"functionName": self.function, "account": self.ctx.account_id,
                "region": self.ctx.region, "capturedAt": self.ctx.now().isoformat(),
                "configuration": function.get("Configuration", {}), "code": code,
                "tags": function.get("Tags", {}),
                "reservedConcurrency": self.reserved(),
                "policy": json.loads(policy) if policy else None,
                "eventSourceMappings": mappings,
                "urlConfig": self._optional(lam.get_function_url_config)}

    def plan(self) -> list[Change]:
        configuration = self.configuration()
        bucket = self.ctx.manifest.evidence_bucket
        prefix = evidence_prefix(self.ctx.case_id, self.function)
        changes = []
        config_key = prefix + "configuration.json"
        if not already_held(self.ctx, bucket, config_key):
            changes.append(Change(
                self.name, f"s3://{bucket}/{config_key}",
                f"Save function {self.function}'s configuration, policy, event-source "
                f"mappings and URL config to s3://{bucket}/{config_key}",
                after={"bucket": bucket, "key": config_key, "what": "configuration"}))
        if configuration.get("PackageType", "Zip") == "Zip":
            code_key = prefix + "code.zip"
            code_sha = str(configuration.get("CodeSha256", ""))
            digest = base64.b64decode(code_sha).hex() if code_sha else ""
            if not already_held(self.ctx, bucket, code_key, digest or None):
                changes.append(Change(
                    self.name, f"s3://{bucket}/{code_key}",
                    f"Save function {self.function}'s code package "
                    f"({configuration.get('CodeSize', '?')} bytes, CodeSha256 {code_sha}) to "
                    f"s3://{bucket}/{code_key}",
                    after={"bucket": bucket, "key": code_key, "what": "code",
                           "codeSha256": code_sha, "sha256": digest}))
        return changes

    def apply(self, change: Change) -> Mapping[str, Any]:
        bucket, key = change.after["bucket"], change.after["key"]
        put_args = {"ContentType": "application/json",
                    "ExpectedBucketOwner": self.ctx.account_id, **self.ctx.evidence_encryption()}
        if change.after["what"] == "configuration":
            body = json.dumps(self.document(), indent=2, sort_keys=True, default=str).encode()
            return {"s3Uri": change.target, **put_evidence(
                self.ctx, bucket, key, body, **put_args,
                Metadata={"case": self.ctx.case_id, "function": self.function})}
        body = self.download()
        digest = hashlib.sha256(body).hexdigest()
        if digest != change.after["sha256"]:
            raise ActionFailed(
                f"function {self.function}'s code package downloaded with SHA-256 {digest}, "
                f"not the function's CodeSha256 ({change.after['codeSha256']}): the code "
                "changed since the plan or the download is corrupt; re-run to capture it")
        written = put_evidence(
            self.ctx, bucket, key, body, **{**put_args, "ContentType": "application/zip"},
            Metadata={"case": self.ctx.case_id, "function": self.function,
                      "code-sha256": change.after["codeSha256"]})
        return {"s3Uri": change.target, "codeSha256": change.after["codeSha256"], **written}

    def download(self) -> bytes:
        """The package from GetFunction's code location (a presigned URL, fetched fresh:
        it expires after ten minutes), within a bounded time and size."""
        location = str(self.lam().get_function(FunctionName=self.function)
                       .get("Code", {}).get("Location", ""))
        if not location.startswith(("https://", "http://")):
            raise ActionFailed(f"function {self.function}: GetFunction gave no http(s) code "
                               f"location ({location[:40]!r}); the code was not captured")
        try:
            with urllib.request.urlopen(location, timeout=DOWNLOAD_TIMEOUT_SECONDS) as answer:  # noqa: S310 - scheme checked above
                body: bytes = answer.read(MAX_CODE_BYTES + 1)
        except (urllib.error.URLError, TimeoutError, OSError) as err:
            raise ActionFailed(f"function {self.function}: downloading its code package "
                               f"failed ({type(err).__name__}: {err}); re-run to capture "
                               "it") from err
        if len(body) > MAX_CODE_BYTES:
            raise ActionFailed(f"function {self.function}: its code package is larger than "
                               f"{MAX_CODE_BYTES} bytes; not captured")
        return body
