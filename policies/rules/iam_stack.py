"""IAM anywhere in the stack: dangerous trust and grants on any role, user, group or
resource policy, not only on the responder roles the `iam-responder-*` rules recognise.

Mandatory where the shape opens the account to someone outside it (a policy trusting
anyone, an administrator role trusted from another account, an access key on an
administrator user); advisory where it widens what a principal of the account can do
(administrator actions, passing any role, a path to administrator).

pulumi-aws v7 spreads a principal's permissions over several resources (the role's
`inlinePolicies`, `RolePolicy`, `RolePolicyAttachment` to an AWS or stack-managed
`Policy`, `PolicyAttachment`, group membership), so the rules gather them per principal
first (`Grants`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pulumi_policy import PolicyResource, Severity

from ._util import (
    Findings,
    StackIndex,
    actions,
    allows,
    as_list,
    describe,
    is_wildcard_principal,
    known,
    parse_document,
    principals,
    stack_rule,
    statements,
)

AREA = "iam"
ROLE = "aws:iam/role:Role"
USER = "aws:iam/user:User"
GROUP = "aws:iam/group:Group"
MANAGED = "aws:iam/policy:Policy"
ACCESS_KEY = "aws:iam/accessKey:AccessKey"
INLINE = {ROLE: "aws:iam/rolePolicy:RolePolicy", USER: "aws:iam/userPolicy:UserPolicy",
          GROUP: "aws:iam/groupPolicy:GroupPolicy"}
ATTACH = {ROLE: "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
          USER: "aws:iam/userPolicyAttachment:UserPolicyAttachment",
          GROUP: "aws:iam/groupPolicyAttachment:GroupPolicyAttachment"}
#: input naming the principal, on the inline policy / attachment of each kind
PRINCIPAL_PROP = {ROLE: "role", USER: "user", GROUP: "group"}
POLICY_ATTACHMENT = "aws:iam/policyAttachment:PolicyAttachment"
LIST_PROP = {ROLE: "roles", USER: "users", GROUP: "groups"}
GROUP_MEMBERSHIP = "aws:iam/groupMembership:GroupMembership"
USER_GROUP_MEMBERSHIP = "aws:iam/userGroupMembership:UserGroupMembership"

#: AWS managed policies and what they amount to (as a document the checks read).
AWS_MANAGED = {
    "AdministratorAccess": {"Effect": "Allow", "Action": "*", "Resource": "*"},
    "IAMFullAccess": {"Effect": "Allow", "Action": "iam:*", "Resource": "*"},
}

#: Condition keys that tie a wildcard principal to an account, organisation, source or
#: network, under a positive operator (StringEquals, ArnLike, ...; not Not*/IfExists).
NARROWING_KEYS = frozenset({
    "aws:principalorgid", "aws:principalorgpaths", "aws:principalaccount",
    "aws:principalarn", "aws:sourceaccount", "aws:sourcearn", "aws:sourceowner",
    "aws:sourceorgid", "aws:sourceorgpaths", "aws:sourcevpc", "aws:sourcevpce",
    "aws:userid", "kms:calleraccount",
})

#: Each alone lets the holder give itself (or anyone) more: credentials for other users,
#: a policy of its choosing on a user, role or group, a new default policy version, a
#: group with more rights, or a trust policy it controls.
ESCALATION_ACTIONS = frozenset({
    "iam:CreateAccessKey", "iam:CreateLoginProfile", "iam:UpdateLoginProfile",
    "iam:PutUserPolicy", "iam:PutRolePolicy", "iam:PutGroupPolicy",
    "iam:AttachUserPolicy", "iam:AttachRolePolicy", "iam:AttachGroupPolicy",
    "iam:CreatePolicyVersion", "iam:SetDefaultPolicyVersion", "iam:AddUserToGroup",
    "iam:UpdateAssumeRolePolicy",
})
#: Attach* narrowed by an iam:PolicyARN condition attaches only the policies it names.
_ATTACH_ACTIONS = frozenset({"iam:AttachUserPolicy", "iam:AttachRolePolicy",
                             "iam:AttachGroupPolicy"})
#: With iam:PassRole on any role: run code as any role the account has.
PASS_ROLE_COMPUTE = frozenset({
    "ec2:RunInstances", "lambda:CreateFunction", "lambda:UpdateFunctionConfiguration",
    "cloudformation:CreateStack", "cloudformation:UpdateStack", "ecs:RunTask",
    "ecs:RegisterTaskDefinition", "glue:CreateDevEndpoint", "datapipeline:CreatePipeline",
    "sagemaker:CreateNotebookInstance", "codebuild:CreateProject",
})
#: Run commands as whatever role an instance holds.
REMOTE_COMMAND = frozenset({"ssm:SendCommand", "ssm:StartSession"})
#: Conditions that scope SendCommand to instances or documents by tag/ARN.
_COMMAND_SCOPE_KEYS = ("ssm:resourcetag/", "aws:resourcetag/", "ec2:resourcetag/")

_UNSCOPED_TAIL = re.compile(r"^(\*|[a-z-]+/\*)$", re.IGNORECASE)


# --------------------------------------------------------------------------- documents


def _matches(pattern: str, action: str) -> bool:
    """IAM's case-insensitive action wildcard match."""
    regex = "^" + re.escape(pattern.lower()).replace(r"\*", ".*").replace(r"\?", ".") + "$"
    return re.match(regex, action.lower()) is not None


def unscoped(resources: Any) -> bool:
    """Whether a statement's Resource reaches any principal/instance of its kind: `*`,
    or an ARN whose resource part is `*` or `<type>/*` (`role/*`, `user/*`)."""
    for value in as_list(resources):
        text = str(value)
        if text == "*":
            return True
        parts = text.split(":", 5)
        if len(parts) == 6 and _UNSCOPED_TAIL.match(parts[5]):
            return True
    return False


def _positive_condition_keys(stmt: Mapping[str, Any]) -> set[str]:
    condition = stmt.get("Condition")
    keys: set[str] = set()
    if isinstance(condition, Mapping):
        for operator, block in condition.items():
            op = str(operator)
            if "Not" in op or op.endswith("IfExists") or op == "Null":
                continue
            if isinstance(block, Mapping):
                keys.update(str(k).lower() for k in block)
    return keys


def _denied(doc: Mapping[str, Any] | None, action: str) -> bool:
    """An unconditional Deny of `action` on `*` in the same document."""
    return any(
        not allows(s) and "Condition" not in s and unscoped(s.get("Resource"))
        and any(_matches(p, action) for p in actions(s))
        for s in statements(doc))


def granted_unscoped(doc: Mapping[str, Any] | None, action: str) -> bool:
    """Whether `doc` allows `action` on any resource of its kind, unnarrowed."""
    if _denied(doc, action):
        return False
    for stmt in statements(doc):
        if not allows(stmt) or not unscoped(stmt.get("Resource")):
            continue
        if not any(_matches(p, action) for p in actions(stmt)):
            continue
        keys = _positive_condition_keys(stmt)
        if action in _ATTACH_ACTIONS and "iam:policyarn" in keys:
            continue
        if action in REMOTE_COMMAND and any(k.startswith(_COMMAND_SCOPE_KEYS) for k in keys):
            continue
        return True
    return False


def granted_on(doc: Mapping[str, Any] | None, action: str, kind: str) -> bool:
    """Whether `doc` allows `action` on every resource of `kind` (`document`,
    `instance`): Resource `*` or `...:<kind>/*`, not narrowed by a tag condition."""
    if _denied(doc, action):
        return False
    for stmt in statements(doc):
        if not allows(stmt) or not any(_matches(p, action) for p in actions(stmt)):
            continue
        if any(k.startswith(_COMMAND_SCOPE_KEYS) for k in _positive_condition_keys(stmt)):
            continue
        for value in as_list(stmt.get("Resource")):
            tail = str(value).split(":", 5)[-1]
            if str(value) == "*" or tail in ("*", f"{kind}/*"):
                return True
    return False


def admin_actions(doc: Mapping[str, Any] | None) -> list[str]:
    """`*` or `iam:*` allowed on `*`."""
    return sorted({a for s in statements(doc) if allows(s) and unscoped(s.get("Resource"))
                   for a in actions(s) if a == "*" or a.lower() == "iam:*"})


def open_principals(doc: Mapping[str, Any] | None) -> list[str]:
    """Labels of Allow statements trusting any principal without a narrowing condition."""
    found = []
    for i, stmt in enumerate(statements(doc)):
        if not allows(stmt):
            continue
        if any(is_wildcard_principal(k, v) for k, v in principals(stmt)) and not (
                _positive_condition_keys(stmt) & NARROWING_KEYS):
            found.append(str(stmt.get("Sid") or f"#{i}"))
    return found


# --------------------------------------------------------------------------- grants


@dataclass(frozen=True)
class Grant:
    """One policy document in force on a principal, and the resource that carries it."""

    label: str
    doc: Mapping[str, Any] | None
    urn: str


def _name(resource: PolicyResource) -> str:
    return str(known(resource.props, "name") or resource.name)


class Grants:
    """The identity documents of every role, user and group of the stack."""

    def __init__(self, index: StackIndex) -> None:
        self.index = index
        self.managed = index.of_type(MANAGED)

    def _managed_doc(self, attachment: PolicyResource) -> tuple[str, Mapping[str, Any] | None]:
        arn = str(known(attachment.props, "policyArn") or "")
        for name, doc in AWS_MANAGED.items():
            if arn.endswith(f":policy/{name}"):
                return arn, {"Version": "2012-10-17", "Statement": [doc]}
        for policy in self.index.references(attachment, "policyArn", self.managed,
                                            ("arn", "id")):
            return describe(policy), parse_document(known(policy.props, "policy"))
        return arn, None

    def _listed(self, attachment: PolicyResource, kind: str, principal: PolicyResource) -> bool:
        linked = attachment.property_dependencies.get(LIST_PROP[kind], [])
        if any(d.urn == principal.urn for d in linked):
            return True
        return _name(principal) in [str(v) for v in as_list(known(attachment.props,
                                                                  LIST_PROP[kind]))]

    def of(self, principal: PolicyResource) -> list[Grant]:
        kind = principal.resource_type
        found: list[Grant] = []
        for inline in as_list(known(principal.props, "inlinePolicies")):
            if isinstance(inline, Mapping):
                found.append(Grant(f"inline policy {known(inline, 'name')!r}",
                                   parse_document(known(inline, "policy")), principal.urn))
        prop = PRINCIPAL_PROP[kind]
        for rp in self.index.of_type(INLINE[kind]):
            if self.index.references(rp, prop, [principal], ("name", "id")):
                found.append(Grant(describe(rp), parse_document(known(rp.props, "policy")),
                                   rp.urn))
        attachments = [a for a in self.index.of_type(ATTACH[kind])
                       if self.index.references(a, prop, [principal], ("name", "id"))]
        attachments += [a for a in self.index.of_type(POLICY_ATTACHMENT)
                        if self._listed(a, kind, principal)]
        for att in attachments:
            label, doc = self._managed_doc(att)
            found.append(Grant(f"{describe(att)} ({label})", doc, att.urn))
        if kind == USER:
            for group in self.groups_of(principal):
                found += [Grant(f"group {group.name!r}: {g.label}", g.doc, g.urn)
                          for g in self.of(group)]
        return found

    def groups_of(self, user: PolicyResource) -> list[PolicyResource]:
        groups = self.index.of_type(GROUP)
        out: list[PolicyResource] = []
        for m in self.index.of_type(GROUP_MEMBERSHIP):
            if self._listed(m, USER, user):
                out += self.index.references(m, "group", groups, ("name", "id"))
        for m in self.index.of_type(USER_GROUP_MEMBERSHIP):
            if self.index.references(m, "user", [user], ("name", "id")):
                names = [str(v) for v in as_list(known(m.props, "groups"))]
                linked = {d.urn for d in m.property_dependencies.get("groups", [])}
                out += [g for g in groups if g.urn in linked or _name(g) in names]
        return out

    def principals(self) -> Iterator[tuple[PolicyResource, list[Grant]]]:
        for principal in self.index.of_type(ROLE, USER, GROUP):
            yield principal, self.of(principal)


# --------------------------------------------------------------------------- rules


@stack_rule(
    name="iam-no-public-trust", area=AREA, severity=Severity.CRITICAL, mandatory=True,
    description="No role trust policy and no resource policy may allow any principal ('*', "
                "AWS '*') without a condition narrowing it to an account, organisation, "
                "source or network.",
    remediation="Name the principals (role, user or account ARNs, or a service), or add a "
                "condition such as StringEquals aws:PrincipalOrgID / aws:SourceAccount.",
)
def no_public_trust(index: StackIndex, config: Mapping[str, Any]) -> Findings:
    for resource in index.resources:
        if not resource.resource_type.startswith("aws:"):
            continue
        for prop in ("assumeRolePolicy", "policy"):
            sids = open_principals(parse_document(known(resource.props, prop)))
            if sids:
                yield (f"{describe(resource)} {prop} statement(s) {', '.join(sids)} allow any "
                       "principal without a narrowing condition"), resource.urn


@stack_rule(
    name="iam-no-admin-actions", area=AREA, severity=Severity.HIGH, mandatory=False,
    description="No inline or attached policy of any role, user or group may allow '*' or "
                "'iam:*' on '*' (AdministratorAccess and IAMFullAccess included).",
    remediation="Grant the exact actions on the exact resources the principal needs.",
)
def no_admin_actions(index: StackIndex, config: Mapping[str, Any]) -> Findings:
    grants = Grants(index)
    for principal, found in grants.principals():
        for grant in found:
            if grant.label.startswith("group ") or MANAGED in grant.label:
                continue  # reported on the group / the stack's managed policy itself
            broad = admin_actions(grant.doc)
            if broad:
                yield (f"{describe(principal)} {grant.label} allows {', '.join(broad)} "
                       "on '*'"), grant.urn
    for policy in index.of_type(MANAGED):
        broad = admin_actions(parse_document(known(policy.props, "policy")))
        if broad:
            yield f"{describe(policy)} allows {', '.join(broad)} on '*'", policy.urn


@stack_rule(
    name="iam-passrole-scoped", area=AREA, severity=Severity.MEDIUM, mandatory=False,
    description="iam:PassRole must name the roles that may be passed, never '*' or "
                "'role/*'.",
    remediation="List the role ARNs the principal passes in the statement's Resource, and "
                "add StringEquals iam:PassedToService for the service it passes them to.",
)
def passrole_scoped(index: StackIndex, config: Mapping[str, Any]) -> Findings:
    for principal, found in Grants(index).principals():
        for grant in found:
            if grant.label.startswith("group "):
                continue
            if admin_actions(grant.doc):
                continue  # iam-no-admin-actions reports the wider grant
            if granted_unscoped(grant.doc, "iam:PassRole"):
                yield (f"{describe(principal)} {grant.label} allows iam:PassRole on any "
                       "role"), grant.urn


#: The service each compute action runs a passed role in.
_COMPUTE_SERVICE = {
    "ec2:RunInstances": "ec2.amazonaws.com", "lambda:CreateFunction": "lambda.amazonaws.com",
    "lambda:UpdateFunctionConfiguration": "lambda.amazonaws.com",
    "cloudformation:CreateStack": "cloudformation.amazonaws.com",
    "cloudformation:UpdateStack": "cloudformation.amazonaws.com",
    "ecs:RunTask": "ecs-tasks.amazonaws.com",
    "ecs:RegisterTaskDefinition": "ecs-tasks.amazonaws.com",
    "glue:CreateDevEndpoint": "glue.amazonaws.com",
    "datapipeline:CreatePipeline": "datapipeline.amazonaws.com",
    "sagemaker:CreateNotebookInstance": "sagemaker.amazonaws.com",
    "codebuild:CreateProject": "codebuild.amazonaws.com",
}
#: Policy writes on a role: a path only to a role the holder can then act as.
_ROLE_WRITES = frozenset({"iam:PutRolePolicy", "iam:AttachRolePolicy"})


def _passed_to(docs: list[Mapping[str, Any] | None]) -> set[str] | None:
    """Services any-role PassRole grants are limited to (StringEquals
    iam:PassedToService); None when one grant passes to any service."""
    services: set[str] = set()
    for doc in docs:
        if _denied(doc, "iam:PassRole"):
            continue
        for stmt in statements(doc):
            if not allows(stmt) or not unscoped(stmt.get("Resource")) or not any(
                    _matches(p, "iam:PassRole") for p in actions(stmt)):
                continue
            condition = stmt.get("Condition") or {}
            block = condition.get("StringEquals", {}) if isinstance(condition, Mapping) else {}
            limited = {str(k).lower(): v for k, v in block.items()}.get("iam:passedtoservice")
            if limited is None:
                return None
            services.update(str(v) for v in as_list(limited))
    return services


def _launches_with_role(docs: list[Mapping[str, Any] | None], action: str) -> bool:
    """`action` granted unscoped, unless every such grant of ec2:RunInstances requires
    that no instance profile is given (Null ec2:InstanceProfile = true)."""
    if action != "ec2:RunInstances":
        return any(granted_unscoped(d, action) for d in docs)
    for doc in docs:
        if _denied(doc, action):
            continue
        for stmt in statements(doc):
            if not allows(stmt) or not unscoped(stmt.get("Resource")) or not any(
                    _matches(p, action) for p in actions(stmt)):
                continue
            null = (stmt.get("Condition") or {}).get("Null", {})
            if str({str(k).lower(): v for k, v in null.items()}.get(
                    "ec2:instanceprofile", "")).lower() != "true":
                return True
    return False


def _denied_on_self(docs: list[Mapping[str, Any] | None], action: str, me: str) -> bool:
    """An unconditional Deny of `action` whose Resource covers `me` (`role/NAME`)."""
    import fnmatch

    for doc in docs:
        for stmt in statements(doc):
            if allows(stmt) or "Condition" in stmt or not any(
                    _matches(p, action) for p in actions(stmt)):
                continue
            for value in as_list(stmt.get("Resource")):
                tail = str(value).split(":", 5)[-1]
                if str(value) == "*" or fnmatch.fnmatchcase(me, tail):
                    return True
    return False


def escalation_paths(docs: list[Mapping[str, Any] | None], me: str | None = None) -> list[str]:
    """How the holder of `docs` can make itself administrator, one phrase per path.

    `me` (`role/NAME`) is the holder: a policy write on any role is its own escalation
    only when it can write onto itself, or act as another role afterwards (assume any
    role, or pass any role to a compute service)."""
    def any_grants(action: str) -> bool:
        return any(granted_unscoped(d, action) for d in docs)

    services = _passed_to(docs) if any_grants("iam:PassRole") else set()
    compute = [a for a in sorted(PASS_ROLE_COMPUTE) if _launches_with_role(docs, a)
               and (services is None or _COMPUTE_SERVICE.get(a) in services)]
    becomes_others = any_grants("sts:AssumeRole") or bool(compute)
    paths = [f"{a} on any principal" for a in sorted(ESCALATION_ACTIONS) if any_grants(a)
             and not (a in _ROLE_WRITES and me and not becomes_others
                      and _denied_on_self(docs, a, me))]
    paths += [f"iam:PassRole on any role with {a}" for a in compute]
    if any_grants("ssm:StartSession"):
        paths.append("ssm:StartSession on any instance")
    # SendCommand authorises the document and the instance separately: arbitrary code
    # needs both open (a named document such as AWS-RunPatchBaseline runs only itself).
    if all(any(granted_on(d, "ssm:SendCommand", kind) for d in docs)
           for kind in ("document", "instance")):
        paths.append("ssm:SendCommand with any document on any instance")
    return paths


# Mandatory since issue #15 item 0 removed these paths from the stack's own roles.
@stack_rule(
    name="iam-no-privilege-escalation", area=AREA, severity=Severity.HIGH, mandatory=True,
    description="No role, user or group may hold a path to administrator: creating "
                "credentials for or writing/attaching policies on any principal, new policy "
                "versions, group membership, trust rewrites, iam:PassRole on any role with "
                "a compute service, or ssm:SendCommand on any instance.",
    remediation="Scope each of these actions to the exact principals, policies (condition "
                "iam:PolicyARN), roles and tagged instances/documents the principal needs, "
                "or hand the step to the principal's owner.",
)
def no_privilege_escalation(index: StackIndex, config: Mapping[str, Any]) -> Findings:
    for principal, found in Grants(index).principals():
        docs = [g.doc for g in found]
        if any(admin_actions(d) for d in docs):
            continue  # already administrator: iam-no-admin-actions reports it
        name = known(principal.props, "name")
        me = f"role/{name}" if principal.resource_type == ROLE and name else None
        paths = escalation_paths(docs, me)
        if paths:
            yield (f"{describe(principal)} can make itself administrator: "
                   f"{'; '.join(paths)}"), principal.urn


def _account_of(value: str) -> str | None:
    if re.fullmatch(r"\d{12}", value):
        return value
    parts = value.split(":")
    if len(parts) >= 6 and parts[0] == "arn" and re.fullmatch(r"\d{12}", parts[4]):
        return parts[4]
    return None


def outside_principals(trust: Mapping[str, Any] | None, own: set[str]) -> list[str]:
    """Principals of the trust policy outside the accounts in `own`: any principal, a
    federated identity provider's users, or an AWS principal of another account."""
    found = []
    for stmt in statements(trust):
        if not allows(stmt):
            continue
        for kind, value in principals(stmt):
            if is_wildcard_principal(kind, value) or kind == "Federated":
                found.append(f"{kind}:{value}")
            elif kind == "AWS" and _account_of(value) not in own:
                found.append(value)
    return found


ACCOUNTS = {"accountIds": {
    "type": "array", "items": {"type": "string", "pattern": r"^\d{12}$"}, "default": [],
    "description": "Accounts that count as inside (the stack's own account and, in an "
                   "organisation, the security account). A role's own account counts "
                   "when its ARN is known."}}


@stack_rule(
    name="iam-admin-not-trusted-outside", area=AREA, severity=Severity.CRITICAL,
    mandatory=True, config=ACCOUNTS,
    description="A role with administrator access ('*' or 'iam:*' on '*', AdministratorAccess "
                "or IAMFullAccess included) must "
                "not be trusted by a principal outside the account: another account, a "
                "federated identity provider or anyone.",
    remediation="Trust only principals of the account (list it in accountIds), or give the "
                "cross-account role only the actions it needs.",
)
def admin_not_trusted_outside(index: StackIndex, config: Mapping[str, Any]) -> Findings:
    grants = Grants(index)
    for role in index.of_type(ROLE):
        if not any(admin_actions(g.doc) for g in grants.of(role)):
            continue
        own = {str(a) for a in as_list(config["accountIds"])}
        account = _account_of(str(known(role.props, "arn") or ""))
        if account:
            own.add(account)
        outside = outside_principals(parse_document(known(role.props, "assumeRolePolicy")),
                                     own)
        if outside:
            yield (f"{describe(role)} has administrator access and is trusted by "
                   f"{', '.join(outside)}"), role.urn


@stack_rule(
    name="iam-no-admin-user-keys", area=AREA, severity=Severity.CRITICAL, mandatory=True,
    description="No IAM user with administrator access ('*' or 'iam:*' on '*', directly or "
                "through a group) may have an access key.",
    remediation="Use a role with short sessions for administration; remove the access key, "
                "or the user's administrator access.",
)
def no_admin_user_keys(index: StackIndex, config: Mapping[str, Any]) -> Findings:
    grants = Grants(index)
    users = index.of_type(USER)
    for key in index.of_type(ACCESS_KEY):
        for user in index.references(key, "user", users, ("name", "id")):
            broad = sorted({a for g in grants.of(user) for a in admin_actions(g.doc)})
            if broad:
                yield (f"{describe(key)} is a long-lived credential of user {user.name!r}, "
                       f"which holds {', '.join(broad)} on '*'"), key.urn
