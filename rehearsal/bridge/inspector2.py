"""Bridge handlers for Inspector.

=====================================================  ========================================
Type                                                   How
=====================================================  ========================================
aws:inspector2/enabler:Enabler                         API inspector2 Enable
aws:inspector2/memberAssociation:MemberAssociation     API inspector2 AssociateMember
aws:inspector2/delegatedAdminAccount:...               API inspector2 EnableDelegatedAdminAccount
aws:inspector2/organizationConfiguration:...           API inspector2
                                                       UpdateOrganizationConfiguration
=====================================================  ========================================
"""

from __future__ import annotations

from typing import Any

from rehearsal.bridge._core import (
    Request,
    clean,
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


@handles("aws:inspector2/delegatedAdminAccount:DelegatedAdminAccount",
         api="inspector2:EnableDelegatedAdminAccount")
def _inspector_admin(r: Request) -> tuple[str, dict[str, Any]]:
    account = str(r.get("accountId"))
    r.client("inspector2").enable_delegated_admin_account(delegatedAdminAccountId=account)
    return account, {"relationshipStatus": "ENABLED"}


@handles("aws:inspector2/organizationConfiguration:OrganizationConfiguration",
         api="inspector2:UpdateOrganizationConfiguration")
def _inspector_org(r: Request) -> tuple[str, dict[str, Any]]:
    auto = r.get("autoEnable", {})
    auto_enable = clean({"ec2": auto.get("ec2"), "ecr": auto.get("ecr"),
                         "lambda": auto.get("lambda"), "lambdaCode": auto.get("lambdaCode")})
    r.client("inspector2").update_organization_configuration(autoEnable=auto_enable)
    return r.account, {"maxAccountLimitReached": False}
