"""Bridge handlers for Shield Advanced: subscription, protections, SRT access, proactive
engagement.

moto has the subscription and protections; the Shield Response Team's role and proactive
engagement are the emulator's (`rehearsal.emulator.shield`).

=====================================================  ========================================
Type                                                   How
=====================================================  ========================================
aws:shield/subscription:Subscription                   API shield CreateSubscription
aws:shield/protection:Protection                       API shield CreateProtection
aws:shield/drtAccessRoleArnAssociation:...             API shield AssociateDRTRole
                                                       (emulator extension)
aws:shield/proactiveEngagement:ProactiveEngagement     API shield
                                                       AssociateProactiveEngagementDetails,
                                                       EnableProactiveEngagement (emulator
                                                       extension)
=====================================================  ========================================
"""

from __future__ import annotations

from typing import Any

from rehearsal.bridge._core import (
    Request,
    clean,
    handles,
    tag_list,
)


@handles("aws:shield/subscription:Subscription", api="shield:CreateSubscription")
def _subscription(r: Request) -> tuple[str, dict[str, Any]]:
    shield = r.client("shield")
    shield.create_subscription()
    arn = shield.describe_subscription()["Subscription"]["SubscriptionArn"]
    return r.account, {"arn": arn}


@handles("aws:shield/protection:Protection", api="shield:CreateProtection")
def _protection(r: Request) -> tuple[str, dict[str, Any]]:
    kwargs = clean({"Name": r.get("name"), "ResourceArn": r.get("resourceArn"),
                    "Tags": tag_list(r.get("tags")) or None})
    protection_id = r.client("shield").create_protection(**kwargs)["ProtectionId"]
    return protection_id, {"arn": r.arn("shield", f"protection/{protection_id}", region="")}


@handles("aws:shield/drtAccessRoleArnAssociation:DrtAccessRoleArnAssociation",
         api="shield:AssociateDRTRole (emulator)")
def _drt_role(r: Request) -> tuple[str, dict[str, Any]]:
    role_arn = str(r.get("roleArn"))
    r.client("shield").associate_drt_role(RoleArn=role_arn)
    return role_arn, {}


@handles("aws:shield/proactiveEngagement:ProactiveEngagement",
         api="shield:AssociateProactiveEngagementDetails (emulator)")
def _proactive_engagement(r: Request) -> tuple[str, dict[str, Any]]:
    shield = r.client("shield")
    contacts = [clean({"EmailAddress": c.get("emailAddress"),
                       "PhoneNumber": c.get("phoneNumber"),
                       "ContactNotes": c.get("contactNotes")})
                for c in r.get("emergencyContacts", [])]
    shield.associate_proactive_engagement_details(EmergencyContactList=contacts)
    if r.get("enabled", True):
        shield.enable_proactive_engagement()
    else:
        shield.disable_proactive_engagement()
    return r.account, {}
