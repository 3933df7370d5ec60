"""Support: the AWS side of the engagement protocol (docs/support-engagement.md).

* A role with the AWS managed `AWSSupportAccess` policy that people may assume (CIS AWS
  Foundations 1.17), so whoever is on call can open and update a support case.
* With Shield Advanced protections declared: the Shield Response Team's access role
  registered, and proactive engagement contacts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import Severity

from ._util import (
    Findings,
    StackIndex,
    allows,
    as_list,
    describe,
    known,
    parse_document,
    principals,
    stack_rule,
    statements,
)

AREA = "support"
ROLE = "aws:iam/role:Role"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
POLICY_ATTACHMENT = "aws:iam/policyAttachment:PolicyAttachment"
SUPPORT_POLICY_SUFFIX = ":policy/AWSSupportAccess"
PROTECTION = "aws:shield/protection:Protection"
SRT_ASSOCIATION = "aws:shield/drtAccessRoleArnAssociation:DrtAccessRoleArnAssociation"
PROACTIVE = "aws:shield/proactiveEngagement:ProactiveEngagement"


def _people_may_assume(role: Any) -> bool:
    """True when the trust policy lets an IAM principal (not only a service) assume it."""
    for stmt in statements(parse_document(known(role.props, "assumeRolePolicy"))):
        if allows(stmt) and any(kind == "AWS" for kind, _ in principals(stmt)):
            return True
    return False


def _support_roles(index: StackIndex) -> list[Any]:
    roles = index.of_type(ROLE)
    found = {r.urn: r for r in roles
             if any(str(a).endswith(SUPPORT_POLICY_SUFFIX)
                    for a in as_list(r.props.get("managedPolicyArns")))}
    for attachment in index.of_type(ATTACHMENT):
        if str(attachment.props.get("policyArn") or "").endswith(SUPPORT_POLICY_SUFFIX):
            for role in index.references(attachment, "role", roles, ("name", "id")):
                found[role.urn] = role
    for attachment in index.of_type(POLICY_ATTACHMENT):
        if str(attachment.props.get("policyArn") or "").endswith(SUPPORT_POLICY_SUFFIX):
            names = [str(n) for n in as_list(attachment.props.get("roles"))]
            linked = {d.urn for d in attachment.property_dependencies.get("roles", [])}
            for role in roles:
                if role.urn in linked or role.props.get("name") in names:
                    found[role.urn] = role
    return list(found.values())


@stack_rule(
    name="support-role-present", area=AREA, severity=Severity.MEDIUM, mandatory=True,
    description="The stack must declare a role with the AWS managed AWSSupportAccess policy "
                "that IAM principals (the responders) may assume (CIS AWS Foundations 1.17).",
    remediation="Add a SupportAccess component (aws.iam.Role trusted by the responder "
                "principals with arn:aws:iam::aws:policy/AWSSupportAccess attached).",
)
def support_role_present(index: StackIndex, config: Mapping[str, Any]) -> Findings:
    roles = _support_roles(index)
    if not roles:
        yield "no role with AWSSupportAccess: nobody on call can open an AWS Support case", None
        return
    if not any(_people_may_assume(r) for r in roles):
        for role in roles:
            yield (f"{describe(role)} has AWSSupportAccess but no IAM principal may assume it "
                   "(trusted by services only)"), role.urn


@stack_rule(
    name="shield-response-team-access", area=AREA, severity=Severity.MEDIUM, mandatory=False,
    description="A stack with Shield Advanced protections must register the Shield Response "
                "Team's access role and proactive engagement contacts.",
    remediation="Set ir:shield.srtAccess true and ir:shield.emergencyContacts "
                "(aws.shield.DrtAccessRoleArnAssociation, aws.shield.ProactiveEngagement "
                "enabled with emergency contacts).",
)
def shield_response_team(index: StackIndex, config: Mapping[str, Any]) -> Findings:
    protections = index.of_type(PROTECTION)
    if not protections:
        return
    first = protections[0]
    if not index.of_type(SRT_ASSOCIATION):
        yield (f"{describe(first)}: Shield protections but no Shield Response Team access "
               "role (DrtAccessRoleArnAssociation)"), first.urn
    engaged = [p for p in index.of_type(PROACTIVE)
               if p.props.get("enabled") is True and as_list(p.props.get("emergencyContacts"))]
    if not engaged:
        yield (f"{describe(first)}: Shield protections but no proactive engagement with "
               "emergency contacts"), first.urn
