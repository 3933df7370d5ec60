"""Bridge handlers for Inspector.

=====================================================  ========================================
Type                                                   How
=====================================================  ========================================
aws:inspector2/enabler:Enabler                         API inspector2 Enable
aws:inspector2/memberAssociation:MemberAssociation     API inspector2 AssociateMember
=====================================================  ========================================
"""

from __future__ import annotations

from typing import Any

from rehearsal.bridge._core import (
    Request,
    handles,
)


@handles("aws:inspector2/enabler:Enabler", api="inspector2:Enable")
def _inspector_enabler(r: Request) -> tuple[str, dict[str, Any]]:
    accounts = list(r.get("accountIds", [r.account]))
    resource_types = list(r.get("resourceTypes", []))
    r.client("inspector2").enable(accountIds=accounts, resourceTypes=resource_types)
    return f"{','.join(accounts)}-{','.join(resource_types)}", {}


@handles("aws:inspector2/memberAssociation:MemberAssociation", api="inspector2:AssociateMember")
def _inspector_member(r: Request) -> tuple[str, dict[str, Any]]:
    account = str(r.get("accountId"))
    inspector = r.client("inspector2")
    inspector.associate_member(accountId=account)
    member = inspector.get_member(accountId=account)["member"]
    return account, {"delegatedAdminAccountId": member.get("delegatedAdminAccountId", ""),
                     "relationshipStatus": member.get("relationshipStatus", ""),
                     "updatedAt": str(member.get("updatedAt", ""))}
