"""IAM: responder roles that are least-privilege, trusted only by named principals with MFA,
and short-lived."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import PolicyResource, Severity

from ._util import (
    Findings,
    ResourceContext,
    StackIndex,
    actions,
    allows,
    as_list,
    condition_keys,
    describe,
    int_or_none,
    is_wildcard_principal,
    parse_document,
    principals,
    purpose_of,
    resource_rule,
    stack_rule,
    statements,
)

AREA = "iam"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
BROAD_MANAGED = ("AdministratorAccess", "PowerUserAccess", "IAMFullAccess")
DEFAULT_MAX_SESSION = 3600  # what IAM applies when max_session_duration is omitted
_SERVICE_WILDCARD = re.compile(r"^([a-z0-9-]+:)?\*$", re.IGNORECASE)

IDENTIFY = {
    "responderPurposes": {"type": "array", "items": {"type": "string"},
                          "default": ["responder", "investigator"],
                          "description": "ir-readiness:purpose (or Purpose) tag values of "
                                         "responder roles."},
    "responderNameHints": {"type": "array", "items": {"type": "string"},
                           "default": ["responder", "investigator"],
                           "description": "Substrings of a role's name marking it a responder "
                                          "role."},
}


def is_responder(name: str, props: Mapping[str, Any], config: Mapping[str, Any]) -> bool:
    purposes = {str(p).lower() for p in as_list(config["responderPurposes"])}
    hints = [str(h).lower() for h in as_list(config["responderNameHints"])]
    full = f"{name} {props.get('name') or ''} {props.get('namePrefix') or ''}".lower()
    return purpose_of(props) in purposes or any(h in full for h in hints)


def wildcard_actions(doc: Mapping[str, Any] | None) -> list[str]:
    return [a for s in statements(doc) if allows(s) for a in actions(s)
            if _SERVICE_WILDCARD.match(a)]


def _needs_mfa(kind: str, value: str) -> bool:
    """Users, and account roots (which delegate to any user of the account)."""
    if kind != "AWS":
        return False
    return ":user/" in value or value.endswith(":root") or bool(re.fullmatch(r"\d{12}", value))


def _mfa_required(stmt: Mapping[str, Any]) -> bool:
    keys = condition_keys(stmt)
    present = keys.get("aws:multifactorauthpresent")
    return any(str(v).lower() == "true" for v in as_list(present)) or (
        "aws:multifactorauthage" in keys)


@resource_rule(
    name="iam-responder-trust", area=AREA, severity=Severity.CRITICAL, mandatory=True,
    types=(ROLE,), config=IDENTIFY,
    description="Responder roles must trust only named principals, and require MFA when the "
                "principal is a user or an account root.",
    remediation="List role or user ARNs in the trust policy (never '*'), and add Condition Bool "
                "aws:MultiFactorAuthPresent true to statements that trust users or accounts.",
)
def responder_trust(ctx: ResourceContext) -> Iterator[str]:
    if not is_responder(ctx.name, ctx.props, ctx.config):
        return
    doc = parse_document(ctx.props.get("assumeRolePolicy"))
    if doc is None:
        yield f"role {ctx.name!r} has no readable assume_role_policy"
        return
    for i, stmt in enumerate(statements(doc)):
        if not allows(stmt):
            continue
        label = stmt.get("Sid") or f"#{i}"
        for kind, value in principals(stmt):
            if is_wildcard_principal(kind, value):
                yield f"role {ctx.name!r} statement {label} trusts any principal ('*')"
            elif _needs_mfa(kind, value) and not _mfa_required(stmt):
                yield f"role {ctx.name!r} statement {label} trusts {value} without requiring MFA"


@resource_rule(
    name="iam-responder-max-session", area=AREA, severity=Severity.MEDIUM, mandatory=False,
    types=(ROLE,),
    config={**IDENTIFY, "maxSessionSeconds": {
        "type": "integer", "minimum": 900, "maximum": 43200, "default": 3600,
        "description": "Longest acceptable max_session_duration for responder roles."}},
    description="Responder roles must have a short maximum session.",
    remediation="Set max_session_duration at or below maxSessionSeconds (IAM defaults to 3600).",
)
def responder_max_session(ctx: ResourceContext) -> Iterator[str]:
    if not is_responder(ctx.name, ctx.props, ctx.config):
        return
    seconds = int_or_none(ctx.props.get("maxSessionDuration")) or DEFAULT_MAX_SESSION
    limit = int(ctx.config["maxSessionSeconds"])
    if seconds > limit:
        yield f"role {ctx.name!r} allows {seconds}s sessions; at most {limit}s"


def _inline_policies(role: PolicyResource) -> Iterator[tuple[str, Any]]:
    for inline in as_list(role.props.get("inlinePolicies")):
        if isinstance(inline, Mapping):
            yield f"inline policy {inline.get('name')!r}", inline.get("policy")


@stack_rule(
    name="iam-responder-no-wildcard-action", area=AREA, severity=Severity.CRITICAL,
    mandatory=True, config=IDENTIFY,
    description="Responder role policies must not allow '*' or 'service:*' actions, nor attach "
                "broad managed policies.",
    remediation="List the exact actions the runbooks need (runbooks.core.permissions), and "
                "attach ReadOnlyAccess/SecurityAudit rather than AdministratorAccess.",
)
def responder_no_wildcard(index: StackIndex, config: Mapping[str, Any]) -> Findings:
    roles = [r for r in index.of_type(ROLE) if is_responder(r.name, r.props, config)]
    for role in roles:
        for label, policy in _inline_policies(role):
            broad = wildcard_actions(parse_document(policy))
            if broad:
                yield f"{describe(role)} {label} allows {', '.join(broad)}", role.urn
    for rp in index.of_type(ROLE_POLICY):
        for role in index.references(rp, "role", roles, ("name", "id")):
            broad = wildcard_actions(parse_document(rp.props.get("policy")))
            if broad:
                yield (f"{describe(rp)} on responder role {role.name!r} allows "
                       f"{', '.join(broad)}"), rp.urn
    for att in index.of_type(ATTACHMENT):
        arn = str(att.props.get("policyArn") or "")
        if not arn.endswith(tuple(f"policy/{p}" for p in BROAD_MANAGED)):
            continue
        for role in index.references(att, "role", roles, ("name", "id")):
            yield f"{describe(att)} attaches {arn} to responder role {role.name!r}", att.urn
