"""Bridge handlers for EC2: VPC flow logs, security groups and their rules; the VPC invokes.

=====================================================  ========================================
Type                                                   How
=====================================================  ========================================
aws:ec2/flowLog:FlowLog                                API ec2 CreateFlowLogs
aws:ec2/securityGroup:SecurityGroup                    API ec2 CreateSecurityGroup, default egress
                                                       revoked (as the provider does), rules
                                                       authorized from ingress/egress inputs
aws:ec2/securityGroupRule:SecurityGroupRule            API ec2 AuthorizeSecurityGroup{In,E}gress
aws:vpc/securityGroupIngressRule:...                   API ec2 AuthorizeSecurityGroupIngress
aws:vpc/securityGroupEgressRule:...                    API ec2 AuthorizeSecurityGroupEgress
=====================================================  ========================================

Invokes answered: `getVpcs`, `getVpc`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from rehearsal.bridge._core import (
    BridgeError,
    MotoBridge,
    Request,
    answers,
    clean,
    handles,
    tag_list,
)


@handles("aws:ec2/flowLog:FlowLog", api="ec2:CreateFlowLogs")
def _flow_log(r: Request) -> tuple[str, dict[str, Any]]:
    resource_id = r.get("vpcId") or r.get("subnetId") or r.get("eniId")
    kind = "VPC" if r.get("vpcId") else "Subnet" if r.get("subnetId") else "NetworkInterface"
    kwargs = clean({
        "ResourceIds": [resource_id],
        "ResourceType": kind,
        "TrafficType": r.get("trafficType"),
        "LogDestinationType": r.get("logDestinationType", "cloud-watch-logs"),
        "LogDestination": r.get("logDestination"),
        "DeliverLogsPermissionArn": r.get("iamRoleArn"),
        "MaxAggregationInterval": r.get("maxAggregationInterval"),
        "TagSpecifications": [{"ResourceType": "vpc-flow-log",
                               "Tags": tag_list(r.get("tags"))}] if r.get("tags") else None,
    })
    result = r.client("ec2").create_flow_logs(**kwargs)
    if result.get("Unsuccessful"):
        raise BridgeError(f"ec2 CreateFlowLogs failed for {r.name}: {result['Unsuccessful']}")
    flow_log_id = result["FlowLogIds"][0]
    return flow_log_id, {"arn": r.arn("ec2", f"vpc-flow-log/{flow_log_id}")}


def _ip_permissions(rules: list[Mapping[str, Any]], self_group: str) -> list[dict[str, Any]]:
    perms = []
    for rule in rules:
        groups = [{"GroupId": g} for g in rule.get("securityGroups") or []]
        if rule.get("self"):
            groups.append({"GroupId": self_group})
        perms.append(
            clean(
                {
                    "IpProtocol": str(rule.get("protocol", "-1")),
                    "FromPort": int(rule.get("fromPort", 0)),
                    "ToPort": int(rule.get("toPort", 0)),
                    "IpRanges": [
                        {"CidrIp": c, **({"Description": rule["description"]} if rule.get(
                            "description") else {})}
                        for c in rule.get("cidrBlocks") or []
                    ]
                    or None,
                    "Ipv6Ranges": [{"CidrIpv6": c} for c in rule.get("ipv6CidrBlocks") or []]
                    or None,
                    "UserIdGroupPairs": groups or None,
                    "PrefixListIds": [
                        {"PrefixListId": p} for p in rule.get("prefixListIds") or []
                    ]
                    or None,
                }
            )
        )
    return perms


@handles("aws:ec2/securityGroup:SecurityGroup", api="ec2:CreateSecurityGroup")
def _security_group(r: Request) -> tuple[str, dict[str, Any]]:
    ec2 = r.client("ec2")
    name = r.autoname(max_len=255)
    kwargs = clean(
        {
            "GroupName": name,
            "Description": r.get("description", "Managed by Pulumi"),
            "VpcId": r.get("vpcId"),
            "TagSpecifications": (
                [{"ResourceType": "security-group", "Tags": tag_list(r.get("tags"))}]
                if r.get("tags")
                else None
            ),
        }
    )
    group_id = ec2.create_security_group(**kwargs)["GroupId"]
    # The provider removes the egress rule AWS adds to every new VPC group, so that only
    # the declared rules exist (an isolation group declares none).
    group = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
    if group.get("IpPermissionsEgress"):
        ec2.revoke_security_group_egress(
            GroupId=group_id, IpPermissions=group["IpPermissionsEgress"]
        )
    if r.get("ingress"):
        ec2.authorize_security_group_ingress(
            GroupId=group_id, IpPermissions=_ip_permissions(r.get("ingress"), group_id)
        )
    if r.get("egress"):
        ec2.authorize_security_group_egress(
            GroupId=group_id, IpPermissions=_ip_permissions(r.get("egress"), group_id)
        )
    return group_id, {
        "arn": r.arn("ec2", f"security-group/{group_id}"),
        "name": name,
        "ownerId": r.account,
    }


@handles(
    "aws:ec2/securityGroupRule:SecurityGroupRule",
    api="ec2:AuthorizeSecurityGroupIngress/Egress",
)
def _security_group_rule(r: Request) -> tuple[str, dict[str, Any]]:
    group_id = str(r.get("securityGroupId"))
    rule = dict(r.inputs)
    if r.get("sourceSecurityGroupId"):
        rule["securityGroups"] = [r.get("sourceSecurityGroupId")]
    perms = _ip_permissions([rule], group_id)
    ec2 = r.client("ec2")
    if r.get("type") == "egress":
        ec2.authorize_security_group_egress(GroupId=group_id, IpPermissions=perms)
    else:
        ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=perms)
    return f"sgrule-{uuid.uuid4().int % 10**10}", {}


def _vpc_rule(r: Request, egress: bool) -> tuple[str, dict[str, Any]]:
    group_id = str(r.get("securityGroupId"))
    perm: dict[str, Any] = {"IpProtocol": str(r.get("ipProtocol", "-1"))}
    if r.get("fromPort") is not None:
        perm["FromPort"] = int(r.get("fromPort"))
    if r.get("toPort") is not None:
        perm["ToPort"] = int(r.get("toPort"))
    if r.get("cidrIpv4"):
        perm["IpRanges"] = [{"CidrIp": r.get("cidrIpv4")}]
    if r.get("cidrIpv6"):
        perm["Ipv6Ranges"] = [{"CidrIpv6": r.get("cidrIpv6")}]
    if r.get("referencedSecurityGroupId"):
        perm["UserIdGroupPairs"] = [{"GroupId": r.get("referencedSecurityGroupId")}]
    if r.get("prefixListId"):
        perm["PrefixListIds"] = [{"PrefixListId": r.get("prefixListId")}]
    ec2 = r.client("ec2")
    call = ec2.authorize_security_group_egress if egress else ec2.authorize_security_group_ingress
    result = call(GroupId=group_id, IpPermissions=[perm])
    rules = result.get("SecurityGroupRules") or []
    rule_id = rules[0]["SecurityGroupRuleId"] if rules else f"sgr-{uuid.uuid4().hex[:17]}"
    return rule_id, {
        "securityGroupRuleId": rule_id,
        "arn": r.arn("ec2", f"security-group-rule/{rule_id}"),
    }


@handles(
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
    api="ec2:AuthorizeSecurityGroupIngress",
)
def _vpc_ingress(r: Request) -> tuple[str, dict[str, Any]]:
    return _vpc_rule(r, egress=False)


@handles(
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
    api="ec2:AuthorizeSecurityGroupEgress",
)
def _vpc_egress(r: Request) -> tuple[str, dict[str, Any]]:
    return _vpc_rule(r, egress=True)


def _vpc_filters(args: dict[str, Any]) -> list[dict[str, Any]]:
    filters = [
        {"Name": f["name"], "Values": list(f["values"])} for f in args.get("filters") or []
    ]
    for key, value in (args.get("tags") or {}).items():
        filters.append({"Name": f"tag:{key}", "Values": [value]})
    return filters


@answers("aws:ec2/getVpcs:getVpcs")
def _inv_vpcs(b: MotoBridge, region: str, args: dict[str, Any]) -> dict[str, Any]:
    vpcs = b.client("ec2", region).describe_vpcs(Filters=_vpc_filters(args))["Vpcs"]
    return {"id": region, "ids": sorted(v["VpcId"] for v in vpcs)}


@answers("aws:ec2/getVpc:getVpc")
def _inv_vpc(b: MotoBridge, region: str, args: dict[str, Any]) -> dict[str, Any]:
    ec2 = b.client("ec2", region)
    filters = _vpc_filters(args)
    if args.get("default"):
        filters.append({"Name": "is-default", "Values": ["true"]})
    kwargs: dict[str, Any] = {"Filters": filters}
    if args.get("id"):
        kwargs["VpcIds"] = [args["id"]]
    vpcs = ec2.describe_vpcs(**kwargs)["Vpcs"]
    if len(vpcs) != 1:
        raise BridgeError(f"getVpc in {region} matched {len(vpcs)} VPCs, expected exactly 1")
    vpc = vpcs[0]
    return {
        "id": vpc["VpcId"],
        "arn": f"arn:aws:ec2:{region}:{b.account_id}:vpc/{vpc['VpcId']}",
        "cidrBlock": vpc["CidrBlock"],
        "default": vpc.get("IsDefault", False),
        "ownerId": vpc.get("OwnerId", b.account_id),
        "state": vpc.get("State", "available"),
        "tags": {t["Key"]: t["Value"] for t in vpc.get("Tags", [])},
    }
