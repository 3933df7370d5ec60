"""Network containment: deny a malicious CIDR in every network ACL of a VPC.

`network.deny-cidr` adds one DENY entry (all protocols) per direction (ingress, egress)
to every network ACL of the VPC. Network ACLs are stateless and evaluated per packet in
ascending rule-number order, first match wins, so the deny cuts established flows too and
only takes effect if its number is LOWER than every allow entry that matches the same
traffic. The step therefore picks the lowest free rule number (1, 2, ...) of that
direction; the existing entries are never renumbered or replaced, so the numbers never
collide. When no free number exists below the first allow entry overlapping the CIDR
(e.g. an allow at rule 1), it refuses with a clear error instead of adding a deny that
would never match.

The default quota is 20 entries per direction per ACL, counted separately for IPv4 and
IPv6 and including the default `*` deny; it can be raised (up to 40), so the limit is the
`acl_rule_limit` parameter. At the limit the plan fails for the whole VPC before
anything changes. Each change records the ACL, direction and rule number it added;
rollback (and `irctl release ip`) deletes exactly that entry, and only if it is still
our deny for that CIDR.

Guardrails, checked before anything changes (exit 2): the CIDR may not be loopback,
link-local (169.254.0.0/16 holds the instance metadata service) or multicast, nor
broader than /8 (IPv4) or /32 (IPv6) unless `allow_broad`; and it may never overlap one
of the VPC's own CIDR blocks (a deny there cuts the VPC's own traffic), `allow_broad` or
not.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Annotated, Any

from botocore.exceptions import ClientError
from pydantic import Field

from runbooks.core.errors import ActionFailed, InvalidInput, PreconditionFailed
from runbooks.core.step import Change, Check, Step, StepParams, checked_by, register

VPC_ID = re.compile(r"^vpc-[0-9a-f]{8,17}$")
DEFAULT_ACL_RULE_LIMIT = 20
MAX_RULE_NUMBER = 32766  # 32767 (IPv4) and 32768 (IPv6) are the default `*` entries

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def error_code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


BROADEST_PREFIX = {4: 8, 6: 32}
"""Without `allow_broad`, nothing broader than this prefix length per IP version."""

_NEVER_BLOCK = (
    ("loopback", (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))),
    ("link-local (the instance metadata service, DHCP and DNS live there)",
     (ipaddress.ip_network("169.254.0.0/16"), ipaddress.ip_network("fe80::/10"))),
    ("multicast", (ipaddress.ip_network("224.0.0.0/4"), ipaddress.ip_network("ff00::/8"))),
)


def check_blockable(network: Network, *, allow_broad: bool = False) -> None:
    """Refuse CIDRs that are never an attacker's: loopback, link-local, multicast, and
    (unless `allow_broad`) anything broader than BROADEST_PREFIX. Raises InvalidInput."""
    for label, ranges in _NEVER_BLOCK:
        for special in ranges:
            if network.version == special.version and network.subnet_of(special):  # type: ignore[arg-type]
                raise InvalidInput(
                    f"cidr {network} is {label} ({special}); it is never a remote attacker's "
                    "address: give the address GuardDuty or your logs name as the remote side")
    broadest = BROADEST_PREFIX[network.version]
    if network.prefixlen < broadest and not allow_broad:
        raise InvalidInput(
            f"cidr {network} covers {network.num_addresses:,} addresses, broader than "
            f"/{broadest}; give the attacker's address or range, or pass --allow-broad if "
            "you really mean to deny all of it")


def vpc_overlap(network: Network, vpc: Mapping[str, Any]) -> str | None:
    """The VPC's own CIDR block that `network` overlaps, or None."""
    blocks = [a.get("CidrBlock") for a in vpc.get("CidrBlockAssociationSet") or []
              if (a.get("CidrBlockState") or {}).get("State", "associated") == "associated"]
    blocks += [vpc.get("CidrBlock")]
    blocks += [a.get("Ipv6CidrBlock") for a in vpc.get("Ipv6CidrBlockAssociationSet") or []
               if (a.get("Ipv6CidrBlockState") or {}).get("State", "associated")
               == "associated"]
    for block in dict.fromkeys(b for b in blocks if b):
        own = ipaddress.ip_network(block, strict=False)
        if own.version == network.version and own.overlaps(network):
            return str(own)
    return None


def parse_cidr(value: Any) -> Network:
    """The CIDR as a network; a bare address means /32 (or /128). Raises InvalidInput."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("cidr is required, e.g. 203.0.113.7/32 or 2001:db8::/64")
    try:
        network = ipaddress.ip_network(value.strip(), strict=True)
    except ValueError as err:
        hint = ""
        try:
            hint = f"; did you mean {ipaddress.ip_network(value.strip(), strict=False)}?"
        except ValueError:
            pass
        raise InvalidInput(f"cidr {value!r} is not a valid network: {err}{hint}") from err
    if network.prefixlen == 0:
        raise InvalidInput(
            f"cidr {value!r} matches every address: denying it would cut the whole VPC; "
            "give the attacker's address or range")
    return network


def _entry_network(entry: Mapping[str, Any]) -> Network | None:
    cidr = entry.get("CidrBlock") or entry.get("Ipv6CidrBlock")
    return ipaddress.ip_network(cidr, strict=False) if cidr else None


def _check_vpc_id(vpc: Any) -> None:
    if not isinstance(vpc, str) or not VPC_ID.match(vpc):
        raise InvalidInput(f"vpc_id {vpc!r} is malformed: expected vpc- and 8-17 hex digits")


def _check_rule_limit(limit: Any) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 40:
        raise InvalidInput(f"acl_rule_limit={limit!r}: the quota is 20 by default, 40 max")


def _check_flag(allow_broad: Any) -> None:
    if not isinstance(allow_broad, bool):
        raise InvalidInput(f"allow_broad={allow_broad!r}: must be true or false")


class DenyCidrParams(StepParams):
    cidr: Annotated[str, checked_by(parse_cidr),
                    Field(description="the attacker's address or range, e.g. 203.0.113.7/32")]
    vpc_id: Annotated[str, checked_by(_check_vpc_id)]
    acl_rule_limit: Annotated[int, checked_by(_check_rule_limit)] = DEFAULT_ACL_RULE_LIMIT
    allow_broad: Annotated[bool, checked_by(_check_flag)] = False


@register
class DenyCidr(Step):
    name = "network.deny-cidr"
    description = "Deny a CIDR (ingress and egress) in every network ACL of a VPC"
    actions = frozenset({"ec2:DescribeVpcs", "ec2:DescribeNetworkAcls",
                         "ec2:CreateNetworkAclEntry", "ec2:DeleteNetworkAclEntry"})
    Params = DenyCidrParams
    release_kind = "ip"

    def check(self) -> None:
        check_blockable(parse_cidr(self.params["cidr"]),
                        allow_broad=bool(self.params.get("allow_broad", False)))

    def plan(self) -> list[Change]:
        network = parse_cidr(self.params["cidr"])
        vpc = str(self.params["vpc_id"])
        ec2 = self.ctx.client("ec2")
        try:
            vpcs = ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"]
        except ClientError as err:
            if error_code(err) == "InvalidVpcID.NotFound":
                raise PreconditionFailed(
                    f"VPC {vpc} was not found in {self.ctx.region} of account "
                    f"{self.ctx.account_id}; check the id and --region") from err
            raise
        for description in vpcs:
            own = vpc_overlap(network, description)
            if own:
                raise PreconditionFailed(
                    f"cidr {network} overlaps {vpc}'s own range {own}: denying it would cut "
                    "traffic inside the VPC (--allow-broad never admits that); give the "
                    "remote attacker's address, outside the VPC")
        pages = ec2.get_paginator("describe_network_acls").paginate(
            Filters=[{"Name": "vpc-id", "Values": [vpc]}])
        acls = [acl for page in pages for acl in page["NetworkAcls"]]
        if not acls:
            raise PreconditionFailed(
                f"VPC {vpc} has no network ACLs, so there is nothing to add a deny to; "
                "block the CIDR with security groups or a firewall instead")
        changes = []
        for acl in sorted(acls, key=lambda a: a["NetworkAclId"]):
            for egress in (False, True):
                change = self._plan_direction(acl, egress, network)
                if change:
                    changes.append(change)
        return changes

    def _plan_direction(self, acl: Mapping[str, Any], egress: bool,
                        network: Network) -> Change | None:
        acl_id = acl["NetworkAclId"]
        direction = "egress" if egress else "ingress"
        entries = [e for e in acl.get("Entries", []) if bool(e.get("Egress")) == egress]
        same_family = [(e, n) for e in entries
                       if (n := _entry_network(e)) is not None and n.version == network.version]
        first_allow = min((e["RuleNumber"] for e, n in same_family
                           if e["RuleAction"] == "allow" and n.overlaps(network)),
                          default=MAX_RULE_NUMBER + 1)
        if any(e["RuleAction"] == "deny" and str(e.get("Protocol")) == "-1" and n == network
               and e["RuleNumber"] < first_allow for e, n in same_family):
            return None  # already denied ahead of every matching allow
        limit = int(self.params.get("acl_rule_limit", DEFAULT_ACL_RULE_LIMIT))
        if len(same_family) >= limit:
            raise PreconditionFailed(
                f"network ACL {acl_id} already has {len(same_family)} IPv{network.version} "
                f"{direction} entries, the rule limit ({limit}); remove an unneeded entry or "
                "raise the 'Rules per network ACL' quota (up to 40) and pass --acl-rule-limit")
        used = {e["RuleNumber"] for e in entries}
        number = next(n for n in range(1, MAX_RULE_NUMBER + 2) if n not in used)
        if number >= first_allow:
            raise PreconditionFailed(
                f"network ACL {acl_id} has no free {direction} rule number below its allow "
                f"entry {first_allow}, so a deny for {network} could never match; renumber "
                "that allow entry to leave a free number below it")
        return Change(
            self.name, f"{acl_id}/{direction}",
            f"Add {direction} rule {number} DENY all traffic "
            f"{'to' if egress else 'from'} {network} in {acl_id}",
            before={"networkAclId": acl_id, "egress": egress, "ruleNumber": number,
                    "entry": None},
            after={"networkAclId": acl_id, "egress": egress, "ruleNumber": number,
                   "cidr": str(network), "ruleAction": "deny", "protocol": "-1"})

    def apply(self, change: Change) -> Mapping[str, Any]:
        after = change.after
        cidr_key = "Ipv6CidrBlock" if ":" in after["cidr"] else "CidrBlock"
        try:
            self.ctx.client("ec2").create_network_acl_entry(
                NetworkAclId=after["networkAclId"], RuleNumber=after["ruleNumber"],
                Egress=after["egress"], Protocol="-1", RuleAction="deny",
                **{cidr_key: after["cidr"]})
        except ClientError as err:
            if error_code(err) == "NetworkAclEntryAlreadyExists":
                raise ActionFailed(
                    f"rule {after['ruleNumber']} of {change.target} was taken after the plan "
                    "was made; re-run the command to plan fresh rule numbers") from err
            if error_code(err) == "NetworkAclEntryLimitExceeded":
                raise ActionFailed(
                    f"{change.target} reached its rule limit; remove an entry or raise the "
                    "'Rules per network ACL' quota, then re-run") from err
            raise
        return {"networkAclId": after["networkAclId"], "ruleNumber": after["ruleNumber"]}

    def rollback(self, change: Change, result: Mapping[str, Any]) -> None:
        after = change.after
        ec2 = self.ctx.client("ec2")
        try:
            acls = ec2.describe_network_acls(NetworkAclIds=[after["networkAclId"]])["NetworkAcls"]
        except ClientError as err:
            if error_code(err) == "InvalidNetworkAclID.NotFound":
                return  # the ACL is gone, and our entry with it
            raise
        entry = next((e for acl in acls for e in acl.get("Entries", [])
                      if e["RuleNumber"] == after["ruleNumber"]
                      and bool(e.get("Egress")) == after["egress"]), None)
        if entry is None:
            return  # already removed
        if entry["RuleAction"] != "deny" or str(_entry_network(entry)) != after["cidr"]:
            raise ActionFailed(
                f"rule {after['ruleNumber']} of {change.target} is no longer the deny for "
                f"{after['cidr']} that irctl added; not deleting someone else's entry")
        ec2.delete_network_acl_entry(NetworkAclId=after["networkAclId"],
                                     RuleNumber=after["ruleNumber"], Egress=after["egress"])

    def verify(self, change: Change, result: Mapping[str, Any]) -> Check:
        after = change.after
        what = (f"{after['networkAclId']} {'egress' if after['egress'] else 'ingress'} "
                f"rule {after['ruleNumber']}")
        expected = f"deny {after['cidr']}"
        try:
            acl = self.ctx.client("ec2").describe_network_acls(
                NetworkAclIds=[after["networkAclId"]])["NetworkAcls"][0]
        except ClientError as err:
            if error_code(err) != "InvalidNetworkAclID.NotFound":
                raise
            return Check("containment", change.target, what, expected, "ACL deleted", False)
        entry = next((e for e in acl["Entries"] if e["RuleNumber"] == after["ruleNumber"]
                      and e["Egress"] == after["egress"]), None)
        if entry is None:
            return Check("containment", change.target, what, expected, "entry removed",
                         False)
        cidr = entry.get("CidrBlock") or entry.get("Ipv6CidrBlock")
        return Check("containment", change.target, what, expected,
                     f"{entry['RuleAction']} {cidr}",
                     entry["RuleAction"] == "deny" and cidr == after["cidr"])
