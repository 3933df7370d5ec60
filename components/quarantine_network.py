"""QuarantineNetwork: the three security groups containment uses in one VPC.

Containment of an EC2 instance (``irctl`` step ``ec2.isolate``) swaps every network
interface of the instance to these groups in two moves:

1. **conversion** group: allows all traffic in and out (``0.0.0.0/0`` and ``::/0``, every
   protocol). Security groups are stateful; removing the rule that allowed a *tracked*
   connection does not cut it, the flow keeps passing until it goes idle. AWS documents
   that a flow allowed by all-traffic rules in both directions for ``0.0.0.0/0``/``::/0``
   is *not tracked* (unless it is one of the automatically tracked cases, such as ICMP or
   traffic through a NAT gateway, load balancer or Global Accelerator). Attaching this
   group for a few seconds turns the instance's open connections into untracked flows,
   "Security group connection tracking", EC2 User Guide:
   https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/security-group-connection-tracking.html
   (see also the AWS Security Incident Response Guide, "Isolate").
2. **isolation** group: no ingress and no egress rule at all. Untracked flows are
   evaluated packet by packet, so they stop as soon as this group replaces the
   conversion group. The provider removes the VPC's default allow-all egress rule on
   create, and the explicit ``egress=[]`` / ``ingress=[]`` keep it that way: with the
   arguments omitted, a rule added out of band would not be removed (the pulumi-aws docs
   call this "attributes-as-blocks mode").

The **forensic** group is added next to isolation when responders need to reach the
instance: it admits only the configured forensic CIDRs / source security groups on the
configured ports (default 22 for SSH; add 3389 for RDP or 5985/5986 for WinRM on Windows
hosts). Its egress is empty unless VPC-endpoint destinations are given: replies to the
admitted sessions flow because the group is stateful, and HTTPS to the listed endpoint
security groups / prefix lists lets the SSM agent (Session Manager, Run Command memory
capture) and evidence uploads to S3 work without any route to the internet.

Nothing in this component needs anything from the other components.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.regional_validation import check_id, check_tags, invalid

COMPONENT_TYPE = "ir-readiness:index:QuarantineNetwork"
PURPOSE_TAG = "ir-readiness:purpose"

_VPC_RE = re.compile(r"^vpc-[0-9a-f]{8,17}$")
_SG_RE = re.compile(r"^sg-[0-9a-f]{8,17}$")
_PREFIX_LIST_RE = re.compile(r"^pl-[0-9a-f]{8,17}$")
# Broader than this is "a large part of the internet", never a forensic workstation range.
_MIN_IPV4_PREFIX = 8
_MIN_IPV6_PREFIX = 32


@dataclass(frozen=True)
class QuarantineNetworkArgs:
    """Inputs of one VPC's quarantine security groups."""

    vpc_id: pulumi.Input[str]
    """The VPC (``vpc-...``) whose instances these groups can contain; a plain id is checked
    here, an Output (e.g. ``vpc.id`` of a VPC in the same program) passes through."""

    forensic_cidrs: tuple[str, ...] = ()
    """CIDRs of the forensic workstations/bastions allowed into a contained instance
    (network address, no host bits; nothing broader than /8 for IPv4 or /32 for IPv6)."""

    forensic_source_security_group_ids: tuple[pulumi.Input[str], ...] = ()
    """Security groups (``sg-...``, same VPC or a peered one) of forensic hosts allowed in."""

    forensic_ports: tuple[int, ...] = (22,)
    """TCP ports the forensic sources may reach: 22 (SSH) by default; 3389 (RDP) and
    5985/5986 (WinRM) for Windows hosts."""

    endpoint_security_group_ids: tuple[pulumi.Input[str], ...] = ()
    """Security groups of VPC interface endpoints (ssm, ssmmessages, ec2messages, s3, logs)
    the contained instance may reach on TCP 443 while the forensic group is attached."""

    endpoint_prefix_list_ids: tuple[pulumi.Input[str], ...] = ()
    """Managed prefix lists (``pl-...``, e.g. the S3 gateway endpoint's) reachable on 443."""

    tags: Mapping[str, str] = field(default_factory=dict)
    """Tags applied to every security group (next to Name and the purpose tag)."""

    def __post_init__(self) -> None:
        # Plain ids are checked now; Outputs resolve at deployment and AWS checks them.
        check_id("vpc_id", self.vpc_id, _VPC_RE, "a VPC id such as vpc-0abc12345def67890")
        for cidr in self.forensic_cidrs:
            _check_forensic_cidr(cidr)
        if len(set(self.forensic_cidrs)) != len(self.forensic_cidrs):
            raise invalid("forensic_cidrs", self.forensic_cidrs, "a CIDR is listed twice")
        for sg in (*self.forensic_source_security_group_ids, *self.endpoint_security_group_ids):
            check_id("forensic_source_security_group_ids/endpoint_security_group_ids", sg,
                     _SG_RE, "a security group id such as sg-0abc12345def67890")
        for pl in self.endpoint_prefix_list_ids:
            check_id("endpoint_prefix_list_ids", pl, _PREFIX_LIST_RE,
                     "a prefix list id such as pl-63a5400a")
        if not self.forensic_ports:
            raise invalid("forensic_ports", self.forensic_ports, "list at least one TCP port")
        for port in self.forensic_ports:
            if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
                raise invalid("forensic_ports", port, "TCP ports are integers 1-65535")
        if len(set(self.forensic_ports)) != len(self.forensic_ports):
            raise invalid("forensic_ports", self.forensic_ports, "a port is listed twice")
        check_tags("tags", self.tags)
        if PURPOSE_TAG in self.tags:
            raise invalid("tags", PURPOSE_TAG, "this key is set by the component itself")


def _check_forensic_cidr(cidr: str) -> None:
    try:
        network = ipaddress.ip_network(cidr, strict=True)
    except (TypeError, ValueError) as err:
        raise invalid(
            "forensic_cidrs", cidr, f"expected a network CIDR such as 10.20.0.0/24 ({err})"
        ) from None
    floor = _MIN_IPV4_PREFIX if network.version == 4 else _MIN_IPV6_PREFIX
    if network.prefixlen < floor:
        raise invalid(
            "forensic_cidrs",
            cidr,
            f"a forensic source must be a specific range (IPv{network.version} prefix /{floor} "
            "or longer), never the internet",
        )


_ALL_TRAFFIC_NOTE = "all traffic: makes open flows untracked before isolation"


class QuarantineNetwork(pulumi.ComponentResource):
    """Isolation, conversion and forensic-access security groups for one VPC."""

    vpc_id: pulumi.Output[str]
    isolation_security_group_id: pulumi.Output[str]
    conversion_security_group_id: pulumi.Output[str]
    forensic_security_group_id: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        args: QuarantineNetworkArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        if not isinstance(args, QuarantineNetworkArgs):
            raise TypeError("args must be a QuarantineNetworkArgs")
        super().__init__(COMPONENT_TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        def tags(purpose: str) -> dict[str, str]:
            return {**args.tags, "Name": f"{name}-{purpose}", PURPOSE_TAG: purpose}

        isolation = aws.ec2.SecurityGroup(
            f"{name}-isolation",
            vpc_id=args.vpc_id,
            description="ir-readiness isolation: no inbound, no outbound",
            ingress=[],
            egress=[],
            revoke_rules_on_delete=True,
            tags=tags("isolation"),
            opts=child,
        )
        conversion = aws.ec2.SecurityGroup(
            f"{name}-conversion",
            vpc_id=args.vpc_id,
            description="ir-readiness conversion: all traffic, attached for seconds to untrack",
            ingress=[aws.ec2.SecurityGroupIngressArgs(
                protocol="-1", from_port=0, to_port=0, cidr_blocks=["0.0.0.0/0"],
                ipv6_cidr_blocks=["::/0"], description=_ALL_TRAFFIC_NOTE,
            )],
            egress=[aws.ec2.SecurityGroupEgressArgs(
                protocol="-1", from_port=0, to_port=0, cidr_blocks=["0.0.0.0/0"],
                ipv6_cidr_blocks=["::/0"], description=_ALL_TRAFFIC_NOTE,
            )],
            revoke_rules_on_delete=True,
            tags=tags("conversion"),
            opts=child,
        )
        forensic_ingress: list[aws.ec2.SecurityGroupIngressArgs] = []
        v4 = [c for c in args.forensic_cidrs if ipaddress.ip_network(c).version == 4]
        v6 = [c for c in args.forensic_cidrs if ipaddress.ip_network(c).version == 6]
        for port in args.forensic_ports:
            if v4 or v6:
                forensic_ingress.append(aws.ec2.SecurityGroupIngressArgs(
                    protocol="tcp", from_port=port, to_port=port,
                    cidr_blocks=v4, ipv6_cidr_blocks=v6,
                    description=f"forensic workstations, tcp/{port}",
                ))
            if args.forensic_source_security_group_ids:
                forensic_ingress.append(aws.ec2.SecurityGroupIngressArgs(
                    protocol="tcp", from_port=port, to_port=port,
                    security_groups=list(args.forensic_source_security_group_ids),
                    description=f"forensic security groups, tcp/{port}",
                ))
        forensic_egress: list[aws.ec2.SecurityGroupEgressArgs] = []
        if args.endpoint_security_group_ids or args.endpoint_prefix_list_ids:
            forensic_egress.append(aws.ec2.SecurityGroupEgressArgs(
                protocol="tcp", from_port=443, to_port=443,
                security_groups=list(args.endpoint_security_group_ids),
                prefix_list_ids=list(args.endpoint_prefix_list_ids),
                description="HTTPS to VPC endpoints only (SSM agent, evidence upload)",
            ))
        forensic = aws.ec2.SecurityGroup(
            f"{name}-forensic",
            vpc_id=args.vpc_id,
            description="ir-readiness forensic access: forensic sources only",
            ingress=forensic_ingress,
            egress=forensic_egress,
            revoke_rules_on_delete=True,
            tags=tags("forensic"),
            opts=child,
        )

        self.vpc_id = pulumi.Output.from_input(args.vpc_id)
        self.isolation_security_group_id = isolation.id
        self.conversion_security_group_id = conversion.id
        self.forensic_security_group_id = forensic.id
        self.register_outputs({
            "vpc_id": self.vpc_id,
            "isolation_security_group_id": self.isolation_security_group_id,
            "conversion_security_group_id": self.conversion_security_group_id,
            "forensic_security_group_id": self.forensic_security_group_id,
        })
