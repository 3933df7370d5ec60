"""What a principal did that could outlive containment, with the command that undoes it.

Reads CloudTrail records (any source) and keeps the successful calls that leave
something behind: identities and credentials (users, access keys, login profiles,
roles, trust policies, policy attachments), compute (instances launched, user data
changed, key pairs), and network openings (security group rules, network ACL entries).
Each gets a recommended containment command: `irctl contain ...` where irctl has one,
otherwise the exact AWS CLI call.
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
    ("iam.amazonaws.com", "CreateRole"): ("identity", _role("created")),
    ("iam.amazonaws.com", "UpdateAssumeRolePolicy"): ("trust", _role("changed the trust of")),
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
