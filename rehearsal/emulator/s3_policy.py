"""S3 bucket policies evaluated with their principals and conditions.

moto 5.2 checks a bucket policy on object reads and writes by action and resource
only: a statement's `Principal` is ignored unless it is a plain string other than
`*`, and any `Condition` it cannot evaluate makes the statement DENY, even an
`Allow`. The readiness stack's buckets carry AWS's recommended TLS-only statement
(`Deny s3:* to * when aws:SecureTransport is false`) and service-principal grants with
`aws:SourceAccount`/`aws:SourceArn` conditions, so in plain moto every object read or
write to the evidence bucket is refused, which no AWS account would do.

This extension evaluates each statement the way S3 does for a signed request from an
IAM principal of the account:

- a statement applies to the caller only when its `Principal` is `*`, `{"AWS": "*"}`,
  or names an IAM principal of the bucket's account (service principals never sign a
  responder's request);
- conditions are evaluated against the request context; the emulator stands in for
  AWS's HTTPS endpoints, so `aws:SecureTransport` is `true`; a condition on a key the
  request does not carry does not match (as in IAM, except the `...IfExists` operators),
  so the statement does not apply;
- an applicable `Deny` denies, an applicable `Allow` permits, otherwise neutral.

The same goes for the check moto makes when server access logging is turned on
(PutBucketLogging): moto reads the target bucket's policy for an Allow of `s3:PutObject`
to `logging.s3.amazonaws.com`, but fails with a server error on the first statement
whose `Principal` is the string `*` (as the TLS-only deny is) and only accepts `Action`
as a list. The extension checks the grant the way S3 documents it: an Allow to the
logging service principal of `s3:PutObject` (string or list, or `s3:*`) on the target
bucket, its prefix or every object.

Used by the drill (`rehearsal.world`), which provisions the real stack's bucket
policies into the emulator. `install()` is idempotent; `uninstall()` restores moto's
check (the drill does so when it finishes, since moto's state is per process).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import Any

_lock = threading.Lock()
_installed = False
_original: Any = None
_original_logging_check: Any = None
LOGGING_SERVICE = "logging.s3.amazonaws.com"

REQUEST_CONTEXT: dict[str, str] = {"aws:SecureTransport": "true"}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _principal_applies(principal: Any, account_id: str) -> bool:
    if principal is None or principal == "*":
        return principal == "*"
    if isinstance(principal, Mapping):
        for arn in _as_list(principal.get("AWS", [])):
            if arn == "*" or arn == account_id or f":{account_id}:" in str(arn):
                return True
    return False


def _condition_matches(operator: str, values: Mapping[str, Any],
                       context: Mapping[str, str]) -> bool:
    if_exists = operator.endswith("IfExists")
    base = operator.removesuffix("IfExists")
    for key, wanted in values.items():
        actual = context.get(key)
        wanted_values = [str(w).lower() if base == "Bool" else str(w) for w in _as_list(wanted)]
        if base == "Null":
            if (actual is None) != (wanted_values[0].lower() == "true"):
                return False
            continue
        if actual is None:
            if if_exists:
                continue
            return False
        if base == "Bool":
            ok = actual.lower() in wanted_values
        elif base in ("StringEquals", "ArnEquals", "StringLike", "ArnLike"):
            ok = actual in wanted_values
        elif base in ("StringNotEquals", "ArnNotEquals", "StringNotLike", "ArnNotLike"):
            ok = actual not in wanted_values
        else:
            ok = False  # an operator the emulator does not evaluate never matches
        if not ok:
            return False
    return True


def statement_applies(statement: Mapping[str, Any], account_id: str,
                      context: Mapping[str, str] = REQUEST_CONTEXT) -> bool:
    """Whether a (matching action/resource) statement applies to a signed account request."""
    if not _principal_applies(statement.get("Principal"), account_id):
        return False
    conditions = statement.get("Condition") or {}
    return all(_condition_matches(op, values, context) for op, values in conditions.items())


def log_delivery_allowed(policy: Mapping[str, Any], bucket_arn: str,
                         target_prefix: str | None) -> bool:
    """Whether a target bucket's policy lets S3 server access logging write to it."""
    accepted = {f"{bucket_arn}/{target_prefix or ''}*", f"{bucket_arn}/*", bucket_arn}
    for statement in _as_list(policy.get("Statement", [])):
        principal = statement.get("Principal")
        services = _as_list(principal.get("Service", [])) if isinstance(
            principal, Mapping) else []
        if statement.get("Effect") != "Allow" or LOGGING_SERVICE not in services:
            continue
        if not {"s3:PutObject", "s3:*"} & set(_as_list(statement.get("Action", []))):
            continue
        if accepted & set(_as_list(statement.get("Resource", []))):
            return True
    return False


def install() -> None:
    """Replace moto's bucket policy check on object operations (idempotent)."""
    global _installed
    with _lock:
        if _installed:
            return
        from moto.iam.access_control import IAMPolicyStatement, PermissionResult
        from moto.s3.models import FakeBucket

        def get_permission(self: Any, action: str, resource: str) -> Any:
            if self.policy is None:
                return PermissionResult.NEUTRAL
            document = json.loads(self.policy.decode())
            permitted = False
            for statement in _as_list(document.get("Statement", [])):
                checker = IAMPolicyStatement(statement)
                if "NotAction" in statement:
                    concerned = not checker._check_element_matches("NotAction", action)
                else:
                    concerned = checker._check_element_matches("Action", action)
                if not concerned or not checker._check_element_matches("Resource", resource):
                    continue
                if not statement_applies(statement, str(self.account_id)):
                    continue
                if statement.get("Effect") == "Deny":
                    return PermissionResult.DENIED
                permitted = True
            return PermissionResult.PERMITTED if permitted else PermissionResult.NEUTRAL

        def log_permissions_enabled_policy(target_bucket: Any, target_prefix: str | None
                                           ) -> bool:
            if not target_bucket.policy:
                return False
            return log_delivery_allowed(
                json.loads(target_bucket.policy.decode()),
                f"arn:{target_bucket.partition}:s3:::{target_bucket.name}", target_prefix)

        global _original, _original_logging_check
        _original = FakeBucket.get_permission
        _original_logging_check = FakeBucket.__dict__["_log_permissions_enabled_policy"]
        FakeBucket.get_permission = get_permission  # type: ignore[method-assign]
        FakeBucket._log_permissions_enabled_policy = staticmethod(  # type: ignore[method-assign]
            log_permissions_enabled_policy)
        _installed = True


def uninstall() -> None:
    """Restore moto's own check (the process may run other emulator users next)."""
    global _installed
    with _lock:
        if not _installed:
            return
        from moto.s3.models import FakeBucket

        FakeBucket.get_permission = _original  # type: ignore[method-assign]
        FakeBucket._log_permissions_enabled_policy = (  # type: ignore[method-assign]
            _original_logging_check)
        _installed = False
