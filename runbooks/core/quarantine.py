"""The quarantine groups must be what the stack made them before an ENI goes into them.

`components/quarantine_network.py` gives each VPC an **isolation** group with no rule
in or out, and a **conversion** group whose only rules allow all traffic to and from
`0.0.0.0/0` and `::/0` (attached for seconds, so tracked flows become untracked). A
group edited since (an isolation group opened to 0.0.0.0/0, a conversion group narrowed
so that it no longer untracks flows) would silently undo containment: every use checks
the live rules first and refuses, naming the drift, rather than isolate into it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from runbooks.core.errors import PreconditionFailed

if TYPE_CHECKING:
    from runbooks.core.manifest_schema import QuarantineGroups

ALL_TRAFFIC = frozenset({("-1", "0.0.0.0/0"), ("-1", "::/0")})
"""The conversion group's rules, per direction: every protocol, from/to anywhere."""
EXPECTED: dict[str, frozenset[tuple[str, str]]] = {
    "isolationSecurityGroupId": frozenset(),
    "conversionSecurityGroupId": ALL_TRAFFIC,
}
ROLE_NAMES = {"isolationSecurityGroupId": "isolation", "conversionSecurityGroupId": "conversion"}


def _rules(permissions: Iterable[Mapping[str, Any]]) -> set[tuple[str, str]]:
    """(protocol[:ports], peer) of every rule, one per peer (CIDR, group, prefix list)."""
    found: set[tuple[str, str]] = set()
    for permission in permissions:
        protocol = str(permission.get("IpProtocol", "?"))
        if protocol != "-1" and ("FromPort" in permission or "ToPort" in permission):
            protocol += f":{permission.get('FromPort')}-{permission.get('ToPort')}"
        peers = ([r.get("CidrIp") for r in permission.get("IpRanges", [])]
                 + [r.get("CidrIpv6") for r in permission.get("Ipv6Ranges", [])]
                 + [p.get("GroupId") for p in permission.get("UserIdGroupPairs", [])]
                 + [p.get("PrefixListId") for p in permission.get("PrefixListIds", [])])
        found |= {(protocol, str(peer)) for peer in peers}
    return found


def _shown(rule: tuple[str, str]) -> str:
    protocol, peer = rule
    return f"{'all traffic' if protocol == '-1' else protocol} {peer}"


def checked_groups(groups: QuarantineGroups) -> dict[str, str]:
    """Role (a key of `EXPECTED`) -> group id, for the groups whose rules are checked."""
    return {"isolationSecurityGroupId": groups.isolation_security_group_id,
            "conversionSecurityGroupId": groups.conversion_security_group_id}


def group_drift(role: str, group: Mapping[str, Any]) -> list[str]:
    """How `group`'s live rules differ from what the stack gives a group of `role`
    (`isolationSecurityGroupId` or `conversionSecurityGroupId`); empty when they match."""
    expected = EXPECTED[role]
    drift: list[str] = []
    for direction, key in (("inbound", "IpPermissions"), ("outbound", "IpPermissionsEgress")):
        live = _rules(group.get(key, []))
        extra = sorted(live - expected)
        missing = sorted(expected - live)
        if extra:
            drift.append(f"{direction} {', '.join(_shown(r) for r in extra)} "
                         f"{'added' if expected else 'present'}")
        if missing:
            drift.append(f"{direction} {', '.join(_shown(r) for r in missing)} missing")
    return drift


def check_quarantine_groups(vpc_id: str, groups: QuarantineGroups,
                            described: Mapping[str, Mapping[str, Any]]) -> None:
    """Refuse (PreconditionFailed: exit 2, nothing changed) when the VPC's isolation or
    conversion group is absent or its rules drifted from the stack's. `described`:
    DescribeSecurityGroups entries by group id."""
    problems: list[str] = []
    by_role = checked_groups(groups)
    for role in ("conversionSecurityGroupId", "isolationSecurityGroupId"):
        group_id = by_role[role]
        group = described.get(group_id)
        if group is None:
            raise PreconditionFailed(
                f"quarantine group {group_id} ({role}) of VPC {vpc_id} named by the "
                "manifest does not exist; re-deploy the readiness stack (`pulumi up`)")
        problems += [f"{ROLE_NAMES[role]} group {group_id}: {d}"
                     for d in group_drift(role, group)]
    if problems:
        raise PreconditionFailed(
            f"refusing to quarantine into VPC {vpc_id}'s groups: their rules drifted from "
            f"the readiness stack's ({'; '.join(problems)}); restore them (`pulumi up` "
            "reverts the drift), then retry (nothing was changed)")
