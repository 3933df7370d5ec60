"""What a principal did that could outlive containment, with the command that undoes it.

Reads CloudTrail records (any source) and keeps the successful calls that leave
something behind: identities and credentials (users, access keys, login profiles,
roles, trust policies, policy attachments, IAM groups, SAML/OIDC identity providers,
Secrets Manager secrets and their resource policies, KMS grants), compute (instances
launched, user data changed, key pairs, Lambda functions, EventBridge rules and their
targets), and network openings (security group rules, network ACL entries, Lambda
function URLs and invoke permissions). Each gets a recommended containment command:
`irctl contain ...` where irctl has one, otherwise the exact AWS CLI call. A role created
(or re-trusted) to admit another account or an identity provider gets "remove that
trust" with the exact document, not `irctl contain role`: revoking sessions issued so
far leaves the way back in open.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from runbooks.analysis.cloudtrail import Subject, TrailEvent
from runbooks.analysis.findings import parse_time
from runbooks.core.errors import InvalidInput

_ARN = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):(?P<service>iam|sts)::(?P<account>[0-9]{12}):"
    r"(?P<resource>.+)$"
)
_DURATION = re.compile(r"^(\d+)([mhd])$")


@dataclass(frozen=True)
class PrincipalRef:
    arn: str
    account_id: str
    kind: str  # "iam-user" | "iam-role" | "assumed-role" | "root"
    name: str
    session: str | None = None

    def subjects(self) -> list[Subject]:
        if self.kind == "iam-user":
            return [Subject("Username", self.name)]
        if self.kind == "assumed-role" and self.session:
            return [Subject("Username", self.session)]
        if self.kind == "root":
            return [Subject("Username", "root")]
        return []  # a role: its sessions are found from AssumeRole events

    def did(self, record: Mapping[str, Any]) -> bool:
        """Was this principal the caller of `record`?"""
        identity = record.get("userIdentity") or {}
        arn = str(identity.get("arn") or "")
        issuer = str(((identity.get("sessionContext") or {}).get("sessionIssuer") or {})
                     .get("arn") or "")
        if self.kind in ("iam-user", "root"):
            return arn == self.arn or (
                self.kind == "root" and identity.get("type") == "Root"
            )
        if self.kind == "iam-role":
            return issuer == self.arn
        return arn == self.arn


def parse_principal_arn(arn: str) -> PrincipalRef:
    match = _ARN.match(arn.strip())
    if not match:
        raise InvalidInput(
            f"{arn!r} is not an IAM principal ARN; expected arn:aws:iam::ACCOUNT:user/NAME, "
            "arn:aws:iam::ACCOUNT:role/NAME, arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION "
            "or arn:aws:iam::ACCOUNT:root"
        )
    account, resource = match["account"], match["resource"]
    if match["service"] == "iam" and resource == "root":
        return PrincipalRef(arn, account, "root", "root")
    if match["service"] == "iam" and resource.startswith("user/"):
        return PrincipalRef(arn, account, "iam-user", resource.rsplit("/", 1)[-1])
    if match["service"] == "iam" and resource.startswith("role/"):
        return PrincipalRef(arn, account, "iam-role", resource.rsplit("/", 1)[-1])
    if match["service"] == "sts" and resource.startswith("assumed-role/"):
        parts = resource.split("/")
        if len(parts) == 3 and all(parts):
            return PrincipalRef(arn, account, "assumed-role", parts[1], parts[2])
    raise InvalidInput(
        f"{arn!r} names no user, role, role session or root; expected "
        "arn:aws:iam::ACCOUNT:user/NAME, arn:aws:iam::ACCOUNT:role/NAME or "
        "arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION"
    )


def parse_since(value: str, now: datetime | None = None) -> datetime:
    """An ISO 8601 time (UTC when no offset) or a duration back from now: 90m, 24h, 7d."""
    now = now or datetime.now(timezone.utc)
    text = value.strip()
    duration = _DURATION.match(text)
    if duration:
        amount, unit = int(duration.group(1)), duration.group(2)
        delta = {"m": timedelta(minutes=amount), "h": timedelta(hours=amount),
                 "d": timedelta(days=amount)}[unit]
        return now - delta
    parsed = parse_time(text)
    if parsed is None:
        raise InvalidInput(
            f"--since {value!r} is not a time; use ISO 8601 (2026-11-27T22:00:00Z) "
            "or a duration back from now (90m, 24h, 7d)"
        )
    if parsed > now:
        raise InvalidInput(
            f"--since {value} is in the future (now is {now:%Y-%m-%dT%H:%M:%SZ}); "
            "give a time in the past"
        )
    return parsed


@dataclass(frozen=True)
class Persistence:
    time: datetime
    event_name: str
    category: str
    target: str
    summary: str
    recommendation: str
    event_id: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "time": self.time.isoformat().replace("+00:00", "Z"),
            "eventName": self.event_name,
            "category": self.category,
            "target": self.target,
            "summary": self.summary,
            "recommendation": self.recommendation,
            "eventId": self.event_id,
        }


def _items(value: Any) -> list[Mapping[str, Any]]:
    """CloudTrail writes EC2 lists as {"items": [...]}."""
    if isinstance(value, Mapping):
        value = value.get("items")
    return [v for v in value or [] if isinstance(v, Mapping)]


Rule = Callable[[Mapping[str, Any], Mapping[str, Any], str], tuple[str, ...]]
# (request, response, account) -> (target, summary, recommendation), or () for nothing


def _user_arn(account: str, name: str) -> str:
    return f"arn:aws:iam::{account}:user/{name}"


def _access_key(req: Mapping[str, Any], resp: Mapping[str, Any], acct: str) -> tuple[str, ...]:
    key = resp.get("accessKey") or {}
    key_id, user = key.get("accessKeyId", "?"), key.get("userName") or req.get("userName", "?")
    return (key_id, f"created access key {key_id} for user {user}",
            f"irctl contain access-key {key_id} --apply")


def _key_status(req: Mapping[str, Any], resp: Mapping[str, Any], acct: str) -> tuple[str, ...]:
    key_id = req.get("accessKeyId", "?")
    if str(req.get("status", "")).lower() != "active":
        return ()
    return (key_id, f"re-activated access key {key_id}",
            f"irctl contain access-key {key_id} --apply")


def _user(req: Mapping[str, Any], resp: Mapping[str, Any], acct: str) -> tuple[str, ...]:
    name = req.get("userName", "?")
    return (_user_arn(acct, name), f"created IAM user {name}",
            f"irctl investigate principal {_user_arn(acct, name)} --since <this time>; "
            f"contain each of its access keys with irctl contain access-key KEY_ID --apply")


def _login(req: Mapping[str, Any], resp: Mapping[str, Any], acct: str) -> tuple[str, ...]:
    name = req.get("userName", "?")
    return (_user_arn(acct, name), f"set a console password for user {name}",
            f"aws iam delete-login-profile --user-name {name}")


def _user_policy(req: Mapping[str, Any], resp: Mapping[str, Any], acct: str) -> tuple[str, ...]:
    name = req.get("userName", "?")
    policy = req.get("policyArn") or req.get("policyName", "?")
    undo = (f"aws iam detach-user-policy --user-name {name} --policy-arn {policy}"
            if req.get("policyArn") else
            f"aws iam delete-user-policy --user-name {name} --policy-name {policy}")
    return (_user_arn(acct, name), f"granted {policy} to user {name}", undo)


def _group(req: Mapping[str, Any], resp: Mapping[str, Any], acct: str) -> tuple[str, ...]:
    name, group = req.get("userName", "?"), req.get("groupName", "?")
    return (_user_arn(acct, name), f"added user {name} to group {group}",
            f"aws iam remove-user-from-group --user-name {name} --group-name {group}")


def _role(verb: str) -> Rule:
    def rule(req: Mapping[str, Any], resp: Mapping[str, Any], acct: str) -> tuple[str, ...]:
        name = req.get("roleName", "?")
        detail = req.get("policyArn") or req.get("policyName") or ""
        summary = f"{verb} role {name}" + (f" ({detail})" if detail else "")
        return (f"arn:aws:iam::{acct}:role/{name}", summary,
                f"irctl contain role {name} --apply")
    return rule


def _trust_document(value: Any) -> dict[str, Any] | None:
    """A trust policy as CloudTrail records it: JSON text, sometimes URL-encoded."""
    import json
    from urllib.parse import unquote

    if isinstance(value, Mapping):
        return dict(value)
    if not isinstance(value, str) or not value.strip():
        return None
    for text in (value, unquote(value)):
        try:
            doc = json.loads(text)
        except ValueError:
            continue
        return doc if isinstance(doc, dict) else None
    return None


def _outside_principals(statement: Mapping[str, Any], acct: str) -> list[str]:
    """Who outside account `acct` an Allow statement of a trust policy admits: another
    account's principals, everyone (`*`), and every federated identity provider (SAML,
    OIDC: the identities behind them are not this account's)."""
    if statement.get("Effect") != "Allow":
        return []
    principal = statement.get("Principal")
    if principal == "*":
        return ["*"]
    if not isinstance(principal, Mapping):
        return []
    outside: list[str] = []
    for value in _listed(principal.get("AWS")):
        text = str(value)
        account = text if re.fullmatch(r"[0-9]{12}", text) else (
            text.split(":")[4] if text.startswith("arn:") and text.count(":") >= 5 else "")
        if text == "*" or (account and account != acct):
            outside.append(text)
    outside += [str(v) for v in _listed(principal.get("Federated"))]
    return outside


def _listed(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _trust(verb: str, document_key: str) -> Rule:
    """A role created (or its trust changed) to admit an outside account or identity
    provider: the way back in is the trust itself, which `contain role` (revoking the
    sessions issued so far) leaves in place. Recommend removing that trust: the exact
    document without the outside statements, or deleting a role that trusts nothing else."""
    fallback = _role(verb)

    def rule(req: Mapping[str, Any], resp: Mapping[str, Any], acct: str) -> tuple[str, ...]:
        import json
        import shlex

        document = _trust_document(req.get(document_key))
        statements = _listed((document or {}).get("Statement"))
        outside = {i: _outside_principals(st, acct) for i, st in enumerate(statements)
                   if isinstance(st, Mapping) and _outside_principals(st, acct)}
        if not outside:
            return fallback(req, resp, acct)
        name = req.get("roleName", "?")
        who = ", ".join(p for ps in outside.values() for p in ps)
        kept = [st for i, st in enumerate(statements) if i not in outside]
        if kept:
            trimmed = json.dumps({**(document or {}), "Statement": kept}, sort_keys=True,
                                 separators=(",", ":"))
            undo = (f"remove the outside trust (not `irctl contain role`: the trust lets "
                    f"them back in): aws iam update-assume-role-policy --role-name {name} "
                    f"--policy-document {shlex.quote(trimmed)}")
        else:
            undo = (f"remove the outside trust (not `irctl contain role`: the trust lets "
                    f"them back in); it trusts nobody else, so after saving it as evidence "
                    f"(aws iam get-role --role-name {name}) delete the role: aws iam "
                    f"list-attached-role-policies / list-role-policies --role-name {name}, "
                    f"detach and delete each, then aws iam delete-role --role-name {name}")
        return (f"arn:aws:iam::{acct}:role/{name}",
                f"{verb} role {name} trusting outside principal(s) {who}", undo)
    return rule


def _group_new(req: Mapping[str, Any], resp: Mapping[str, Any], acct: str) -> tuple[str, ...]:
    group = req.get("groupName", "?")
    return (f"arn:aws:iam::{acct}:group/{group}", f"created IAM group {group}",
            f"aws iam get-group --group-name {group} (its members); remove each with aws "
            f"iam remove-user-from-group --group-name {group} --user-name USER, detach its "
            f"policies, then aws iam delete-group --group-name {group}")


def _group_policy(req: Mapping[str, Any], resp: Mapping[str, Any], acct: str) -> tuple[str, ...]:
    group = req.get("groupName", "?")
    policy = req.get("policyArn") or req.get("policyName", "?")
    undo = (f"aws iam detach-group-policy --group-name {group} --policy-arn {policy}"
            if req.get("policyArn") else
            f"aws iam delete-group-policy --group-name {group} --policy-name {policy}")
    return (f"arn:aws:iam::{acct}:group/{group}", f"granted {policy} to group {group}", undo)


def _saml(req: Mapping[str, Any], resp: Mapping[str, Any], acct: str) -> tuple[str, ...]:
    arn = (resp.get("sAMLProviderArn") or resp.get("samlProviderArn")
           or req.get("sAMLProviderArn") or f"arn:aws:iam::{acct}:saml-provider/"
           f"{req.get('name', '?')}")
    return (arn, f"created or changed SAML identity provider {arn}",
            f"aws iam delete-saml-provider --saml-provider-arn {arn} (first find the roles "
            "that trust it: aws iam list-roles, Principal.Federated)")


def _oidc(req: Mapping[str, Any], resp: Mapping[str, Any], acct: str) -> tuple[str, ...]:
    arn = (resp.get("openIDConnectProviderArn") or req.get("openIDConnectProviderArn")
           or f"OIDC provider for {req.get('url', '?')}")
    return (arn, f"created or changed OIDC identity provider {arn}",
            f"aws iam delete-open-id-connect-provider --open-id-connect-provider-arn {arn} "
            "(first find the roles that trust it: aws iam list-roles, Principal.Federated)")


def _function(req: Mapping[str, Any], resp: Mapping[str, Any], acct: str) -> tuple[str, ...]:
    name = req.get("functionName") or resp.get("functionName", "?")
    arn = resp.get("functionArn") or name
    return (arn, f"created or changed the code of Lambda function {name}",
            f"aws lambda put-function-concurrency --function-name {name} "
            "--reserved-concurrent-executions 0 (stops it, keeps it as evidence); review "
            "its code, role and triggers")


def _function_url(req: Mapping[str, Any], resp: Mapping[str, Any], acct: str) -> tuple[
        str, ...]:
    name = req.get("functionName", "?")
    auth = req.get("authType", "?")
    return (resp.get("functionArn") or name,
            f"gave Lambda function {name} a function URL (auth {auth}"
            + (": public" if auth == "NONE" else "") + ")",
            f"aws lambda delete-function-url-config --function-name {name}")


def _function_permission(req: Mapping[str, Any], resp: Mapping[str, Any], acct: str) -> tuple[
        str, ...]:
    name, sid = req.get("functionName", "?"), req.get("statementId", "?")
    who = req.get("principal", "?")
    return (name, f"let {who} invoke Lambda function {name} (statement {sid})",
            f"aws lambda remove-permission --function-name {name} --statement-id {sid}")


def _event_rule(req: Mapping[str, Any], resp: Mapping[str, Any], acct: str) -> tuple[str, ...]:
    name, bus = req.get("name", "?"), req.get("eventBusName")
    on_bus = f" --event-bus-name {bus}" if bus else ""
    trigger = req.get("scheduleExpression") or ("an event pattern" if req.get("eventPattern")
                                                else "?")
    return (resp.get("ruleArn") or name, f"created or changed EventBridge rule {name} "
            f"({trigger})", f"aws events disable-rule --name {name}{on_bus} (keeps it as "
            f"evidence; aws events list-targets-by-rule --rule {name}{on_bus} shows what it runs)")


def _event_targets(req: Mapping[str, Any], resp: Mapping[str, Any], acct: str) -> tuple[
        str, ...]:
    rule, bus = req.get("rule", "?"), req.get("eventBusName")
    on_bus = f" --event-bus-name {bus}" if bus else ""
    targets = [t for t in _listed(req.get("targets")) if isinstance(t, Mapping)]
    ids = " ".join(str(t.get("id", "?")) for t in targets) or "TARGET_ID"
    arns = ", ".join(str(t.get("arn", "?")) for t in targets) or "?"
    return (rule, f"pointed EventBridge rule {rule} at {arns}",
            f"aws events remove-targets --rule {rule}{on_bus} --ids {ids}")


def _secret(req: Mapping[str, Any], resp: Mapping[str, Any], acct: str) -> tuple[str, ...]:
    arn = resp.get("aRN") or resp.get("arn") or req.get("secretId") or req.get("name", "?")
    return (arn, f"created Secrets Manager secret {req.get('name') or arn}",
            f"irctl contain secret {arn} --principal PRINCIPAL_ARN --no-rotate --apply "
            "(the creator reads it no more); after saving it as evidence, aws "
            f"secretsmanager delete-secret --secret-id {arn} --recovery-window-in-days 30")


def _secret_policy(req: Mapping[str, Any], resp: Mapping[str, Any], acct: str) -> tuple[
        str, ...]:
    arn = resp.get("aRN") or resp.get("arn") or req.get("secretId", "?")
    return (arn, f"changed the resource policy of secret {arn}",
            f"aws secretsmanager get-resource-policy --secret-id {arn}; remove the "
            f"statements it added (aws secretsmanager put-resource-policy --secret-id {arn} "
            "--block-public-policy --resource-policy file://kept.json)")


def _kms_grant(req: Mapping[str, Any], resp: Mapping[str, Any], acct: str) -> tuple[str, ...]:
    key, grant = req.get("keyId", "?"), resp.get("grantId", "?")
    who = req.get("granteePrincipal", "?")
    operations = ",".join(str(o) for o in _listed(req.get("operations"))) or "?"
    return (key, f"granted {who} {operations} on KMS key {key} (grant {grant})",
            f"aws kms revoke-grant --key-id {key} --grant-id {grant}")


def _policy(req: Mapping[str, Any], resp: Mapping[str, Any], acct: str) -> tuple[str, ...]:
    arn = req.get("policyArn") or (resp.get("policy") or {}).get("arn") or req.get(
        "policyName", "?")
    return (arn, f"created or changed managed policy {arn}",
            f"aws iam list-entities-for-policy --policy-arn {arn}; "
            "restore its previous default version (aws iam set-default-policy-version)")


def _instances(req: Mapping[str, Any], resp: Mapping[str, Any], acct: str) -> tuple[str, ...]:
    ids = [str(i["instanceId"]) for i in _items(resp.get("instancesSet")) if i.get("instanceId")]
    joined = " ".join(ids) or "?"
    return (joined, f"launched instance(s) {joined}", f"irctl contain instance {joined} --apply")


def _user_data(req: Mapping[str, Any], resp: Mapping[str, Any], acct: str) -> tuple[str, ...]:
    if "userData" not in req:
        return ()
    iid = req.get("instanceId", "?")
    return (iid, f"changed the user data of {iid} (runs at next boot)",
            f"irctl contain instance {iid} --apply")


def _sg_rule(direction: str) -> Rule:
    def rule(req: Mapping[str, Any], resp: Mapping[str, Any], acct: str) -> tuple[str, ...]:
        group = req.get("groupId", "?")
        cidrs = [r.get("cidrIp") or r.get("cidrIpv6")
                 for p in _items(req.get("ipPermissions"))
                 for r in _items(p.get("ipRanges")) + _items(p.get("ipv6Ranges"))]
        rule_ids = [str(r["securityGroupRuleId"])
                    for r in _items(resp.get("securityGroupRuleSet"))
                    if r.get("securityGroupRuleId")]
        opened = ", ".join(c for c in cidrs if c) or "another group"
        undo = (f"aws ec2 revoke-security-group-{direction} --group-id {group} "
                f"--security-group-rule-ids {' '.join(rule_ids)}" if rule_ids else
                f"aws ec2 revoke-security-group-{direction} --group-id {group} "
                "--ip-permissions <as in the event>")
        return (group, f"opened {direction} on {group} to {opened}", undo)
    return rule


def _new_group(req: Mapping[str, Any], resp: Mapping[str, Any], acct: str) -> tuple[str, ...]:
    group = resp.get("groupId", "?")
    return (group, f"created security group {group} ({req.get('groupName', '')})",
            f"aws ec2 delete-security-group --group-id {group}")


def _acl_entry(req: Mapping[str, Any], resp: Mapping[str, Any], acct: str) -> tuple[str, ...]:
    acl, number = req.get("networkAclId", "?"), req.get("ruleNumber", "?")
    egress = str(req.get("egress", "false")).lower() == "true"
    action, cidr = req.get("ruleAction", "?"), req.get("cidrBlock", "?")
    flag = "--egress" if egress else "--ingress"
    return (acl, f"{action} {'egress' if egress else 'ingress'} rule {number} for {cidr} on {acl}",
            f"aws ec2 delete-network-acl-entry --network-acl-id {acl} --rule-number {number} "
            f"{flag}")


def _acl_delete(req: Mapping[str, Any], resp: Mapping[str, Any], acct: str) -> tuple[str, ...]:
    acl, number = req.get("networkAclId", "?"), req.get("ruleNumber", "?")
    return (acl, f"deleted rule {number} of {acl} (a containment deny entry?)",
            "irctl verify case <case> to see whether containment still holds; "
            "re-run irctl contain ip CIDR --vpc VPC_ID --apply if it was a deny entry")


def _key_pair(req: Mapping[str, Any], resp: Mapping[str, Any], acct: str) -> tuple[str, ...]:
    name = req.get("keyName", "?")
    return (name, f"created or imported key pair {name}",
            f"aws ec2 delete-key-pair --key-name {name}")


RULES: dict[tuple[str, str], tuple[str, Rule]] = {
    ("iam.amazonaws.com", "CreateAccessKey"): ("credentials", _access_key),
    ("iam.amazonaws.com", "UpdateAccessKey"): ("credentials", _key_status),
    ("iam.amazonaws.com", "CreateUser"): ("identity", _user),
    ("iam.amazonaws.com", "CreateLoginProfile"): ("credentials", _login),
    ("iam.amazonaws.com", "UpdateLoginProfile"): ("credentials", _login),
    ("iam.amazonaws.com", "AttachUserPolicy"): ("permissions", _user_policy),
    ("iam.amazonaws.com", "PutUserPolicy"): ("permissions", _user_policy),
    ("iam.amazonaws.com", "AddUserToGroup"): ("permissions", _group),
    ("iam.amazonaws.com", "CreateRole"): (
        "identity", _trust("created", "assumeRolePolicyDocument")),
    ("iam.amazonaws.com", "UpdateAssumeRolePolicy"): (
        "trust", _trust("changed the trust of", "policyDocument")),
    ("iam.amazonaws.com", "CreateGroup"): ("identity", _group_new),
    ("iam.amazonaws.com", "AttachGroupPolicy"): ("permissions", _group_policy),
    ("iam.amazonaws.com", "PutGroupPolicy"): ("permissions", _group_policy),
    ("iam.amazonaws.com", "CreateSAMLProvider"): ("identity", _saml),
    ("iam.amazonaws.com", "UpdateSAMLProvider"): ("identity", _saml),
    ("iam.amazonaws.com", "CreateOpenIDConnectProvider"): ("identity", _oidc),
    ("iam.amazonaws.com", "AddClientIDToOpenIDConnectProvider"): ("identity", _oidc),
    # Lambda's CloudTrail event names carry the API version they were called with.
    **{("lambda.amazonaws.com", name): ("compute", _function) for name in (
        "CreateFunction", "CreateFunction20150331", "UpdateFunctionCode",
        "UpdateFunctionCode20150331v2")},
    **{("lambda.amazonaws.com", name): ("network", _function_url) for name in (
        "CreateFunctionUrlConfig", "CreateFunctionUrlConfig20211031",
        "UpdateFunctionUrlConfig", "UpdateFunctionUrlConfig20211031")},
    **{("lambda.amazonaws.com", name): ("permissions", _function_permission) for name in (
        "AddPermission", "AddPermission20150331", "AddPermission20150331v2")},
    ("events.amazonaws.com", "PutRule"): ("compute", _event_rule),
    ("events.amazonaws.com", "PutTargets"): ("compute", _event_targets),
    ("secretsmanager.amazonaws.com", "CreateSecret"): ("credentials", _secret),
    ("secretsmanager.amazonaws.com", "PutResourcePolicy"): ("permissions", _secret_policy),
    ("kms.amazonaws.com", "CreateGrant"): ("permissions", _kms_grant),
    ("iam.amazonaws.com", "AttachRolePolicy"): ("permissions", _role("attached a policy to")),
    ("iam.amazonaws.com", "PutRolePolicy"): ("permissions", _role("put an inline policy on")),
    ("iam.amazonaws.com", "AddRoleToInstanceProfile"): (
        "identity", _role("added to an instance profile the")),
    ("iam.amazonaws.com", "CreatePolicy"): ("permissions", _policy),
    ("iam.amazonaws.com", "CreatePolicyVersion"): ("permissions", _policy),
    ("iam.amazonaws.com", "SetDefaultPolicyVersion"): ("permissions", _policy),
    ("ec2.amazonaws.com", "RunInstances"): ("compute", _instances),
    ("ec2.amazonaws.com", "ModifyInstanceAttribute"): ("compute", _user_data),
    ("ec2.amazonaws.com", "CreateKeyPair"): ("compute", _key_pair),
    ("ec2.amazonaws.com", "ImportKeyPair"): ("compute", _key_pair),
    ("ec2.amazonaws.com", "AuthorizeSecurityGroupIngress"): ("network", _sg_rule("ingress")),
    ("ec2.amazonaws.com", "AuthorizeSecurityGroupEgress"): ("network", _sg_rule("egress")),
    ("ec2.amazonaws.com", "CreateSecurityGroup"): ("network", _new_group),
    ("ec2.amazonaws.com", "CreateNetworkAclEntry"): ("network", _acl_entry),
    ("ec2.amazonaws.com", "ReplaceNetworkAclEntry"): ("network", _acl_entry),
    ("ec2.amazonaws.com", "DeleteNetworkAclEntry"): ("network", _acl_delete),
}


def persistence(events: Iterable[TrailEvent], account_id: str) -> list[Persistence]:
    """The successful, lasting changes among `events`, oldest first."""
    found: list[Persistence] = []
    for event in sorted(events, key=lambda e: e.time):
        rule = RULES.get((event.service, event.name))
        if rule is None or event.error_code:
            continue
        category, handler = rule
        record = event.record
        result = handler(record.get("requestParameters") or {},
                         record.get("responseElements") or {}, account_id)
        if not result:
            continue
        target, summary, recommendation = result
        found.append(Persistence(event.time, event.name, category, target, summary,
                                 recommendation.replace("<this time>", _iso(event.time)),
                                 event.event_id))
    return found


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")
