"""Quarantine: an isolation security group that really isolates, in every covered VPC."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import PolicyResource, Severity

from ._util import Findings, StackIndex, as_list, describe, purpose_of, stack_rule

AREA = "quarantine"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
RULES = ("aws:ec2/securityGroupRule:SecurityGroupRule",
         "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
         "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")
VPC = "aws:ec2/vpc:Vpc"
QUARANTINE_PURPOSES = ("isolation", "conversion", "forensic", "forensic-access")

IDENTIFY: dict[str, dict[str, Any]] = {
    "isolationPurpose": {"type": "string", "default": "isolation",
                         "description": "ir-readiness:purpose (or Purpose) tag value of "
                                        "isolation groups."},
    "isolationNameHints": {"type": "array", "items": {"type": "string"},
                           "default": ["isolation"],
                           "description": "Substrings of a group's name marking it isolation."},
}


def isolation_groups(index: StackIndex, config: Mapping[str, Any]) -> list[PolicyResource]:
    purpose = str(config["isolationPurpose"]).lower()
    hints = [str(h).lower() for h in as_list(config["isolationNameHints"])]
    out = []
    for group in index.of_type(SECURITY_GROUP):
        name = f"{group.name} {group.props.get('name') or ''}".lower()
        if purpose_of(group.props) == purpose or any(h in name for h in hints):
            out.append(group)
    return out


@stack_rule(
    name="quarantine-isolation-no-rules", area=AREA, severity=Severity.CRITICAL, mandatory=True,
    description="Isolation security groups must have no ingress and no egress rules (explicit "
                "empty lists, so the default allow-all egress rule is removed).",
    remediation="Declare the group with ingress=[] and egress=[] and attach no "
                "SecurityGroupRule / SecurityGroupIngressRule / SecurityGroupEgressRule to it.",
    config=IDENTIFY,
)
def isolation_no_rules(index: StackIndex, config: Mapping[str, Any]) -> Findings:
    groups = isolation_groups(index, config)
    for group in groups:
        for direction in ("ingress", "egress"):
            value = group.props.get(direction)
            if value is None:
                yield (f"{describe(group)} does not declare {direction}=[]"
                       + (" (AWS keeps its default allow-all egress rule)"
                          if direction == "egress" else ""), group.urn)
            elif as_list(value):
                yield f"{describe(group)} has {len(as_list(value))} {direction} rule(s)", group.urn
    for rule in index.of_type(*RULES):
        for group in index.references(rule, "securityGroupId", groups, ("id", "name")):
            yield f"{describe(rule)} adds a rule to isolation group {group.name!r}", rule.urn


@stack_rule(
    name="quarantine-isolation-per-vpc", area=AREA, severity=Severity.HIGH, mandatory=True,
    description="Every covered VPC must have an isolation security group.",
    remediation="Add a QuarantineNetwork (or an isolation aws.ec2.SecurityGroup with "
                "ingress=[] and egress=[]) for each VPC listed.",
    config={**IDENTIFY, "vpcIds": {"type": "array", "items": {"type": "string"}, "default": [],
                                   "description": "VPC ids that must be covered, in addition "
                                                  "to VPCs the stack declares or quarantines."}},
)
def isolation_per_vpc(index: StackIndex, config: Mapping[str, Any]) -> Findings:
    isolated: set[str] = set()
    isolated_vpc_urns: set[str] = set()
    vpcs = index.of_type(VPC)
    for group in isolation_groups(index, config):
        vpc_id = group.props.get("vpcId")
        if isinstance(vpc_id, str):
            isolated.add(vpc_id)
        isolated_vpc_urns.update(v.urn for v in index.references(group, "vpcId", vpcs, ()))
    wanted: dict[str, str | None] = {str(v): None for v in as_list(config["vpcIds"])}
    for group in index.of_type(SECURITY_GROUP):
        vpc_id = group.props.get("vpcId")
        if purpose_of(group.props) in QUARANTINE_PURPOSES and isinstance(vpc_id, str):
            wanted.setdefault(vpc_id, group.urn)
    for vpc_id, urn in wanted.items():
        if vpc_id not in isolated:
            yield f"VPC {vpc_id} has no isolation security group", urn
    for vpc in vpcs:
        if vpc.urn not in isolated_vpc_urns:
            yield f"{describe(vpc)} has no isolation security group", vpc.urn
