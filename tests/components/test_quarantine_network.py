"""QuarantineNetwork under Pulumi mocks: the inputs each security group would be created with."""

from __future__ import annotations

import re

import pulumi
import pytest

from components.quarantine_network import (
    COMPONENT_TYPE,
    PURPOSE_TAG,
    QuarantineNetwork,
    QuarantineNetworkArgs,
)
from tests.components.regional_mocks import descends_from, provider, run

SG = "aws:ec2/securityGroup:SecurityGroup"
VPC = "vpc-0abc12345def67890"


def _program(args: QuarantineNetworkArgs, region: str = "eu-west-1"):
    def program():
        net = QuarantineNetwork(
            "quarantine-eu-west-1-main",
            args,
            opts=pulumi.ResourceOptions(providers={"aws": provider(region)}),
        )
        return {
            "vpc": net.vpc_id,
            "isolation": net.isolation_security_group_id,
            "conversion": net.conversion_security_group_id,
            "forensic": net.forensic_security_group_id,
        }

    return run(program)


def _by_purpose(result, purpose: str):
    groups = [r for r in result.of_type(SG) if r.inputs["tags"][PURPOSE_TAG] == purpose]
    assert len(groups) == 1, f"expected one {purpose} group"
    return groups[0]


def test_isolation_group_has_no_rules_in_either_direction():
    result = _program(QuarantineNetworkArgs(vpc_id=VPC, forensic_cidrs=("10.20.0.0/24",)))
    isolation = _by_purpose(result, "isolation")
    assert isolation.inputs["ingress"] == []
    assert isolation.inputs["egress"] == []
    assert isolation.inputs["revokeRulesOnDelete"] is True
    assert isolation.inputs["vpcId"] == VPC


def test_conversion_group_allows_all_traffic_both_ways_for_v4_and_v6():
    result = _program(QuarantineNetworkArgs(vpc_id=VPC))
    conversion = _by_purpose(result, "conversion")
    for direction in ("ingress", "egress"):
        (rule,) = conversion.inputs[direction]
        assert rule["protocol"] == "-1"
        assert rule["cidrBlocks"] == ["0.0.0.0/0"]
        assert rule["ipv6CidrBlocks"] == ["::/0"]
    assert conversion.inputs["revokeRulesOnDelete"] is True


def test_forensic_group_admits_only_configured_sources_on_configured_ports():
    result = _program(
        QuarantineNetworkArgs(
            vpc_id=VPC,
            forensic_cidrs=("10.20.0.0/24", "2001:db8::/64"),
            forensic_source_security_group_ids=("sg-0123456789abcdef0",),
            forensic_ports=(22, 3389),
        )
    )
    forensic = _by_purpose(result, "forensic")
    rules = forensic.inputs["ingress"]
    assert {(r["fromPort"], r["toPort"]) for r in rules} == {(22, 22), (3389, 3389)}
    assert all(r["protocol"] == "tcp" for r in rules)
    sources = set()
    for rule in rules:
        sources.update(rule.get("cidrBlocks", []))
        sources.update(rule.get("ipv6CidrBlocks", []))
        sources.update(rule.get("securityGroups", []))
    assert sources == {"10.20.0.0/24", "2001:db8::/64", "sg-0123456789abcdef0"}
    # no endpoints configured: replies flow statefully, nothing may be initiated outward
    assert forensic.inputs["egress"] == []
    assert forensic.inputs["revokeRulesOnDelete"] is True


def test_forensic_egress_is_https_to_endpoints_only():
    result = _program(
        QuarantineNetworkArgs(
            vpc_id=VPC,
            forensic_cidrs=("10.20.0.0/24",),
            endpoint_security_group_ids=("sg-0aaaaaaaaaaaaaaa1",),
            endpoint_prefix_list_ids=("pl-63a5400a",),
        )
    )
    (egress,) = _by_purpose(result, "forensic").inputs["egress"]
    assert (egress["protocol"], egress["fromPort"], egress["toPort"]) == ("tcp", 443, 443)
    assert egress["securityGroups"] == ["sg-0aaaaaaaaaaaaaaa1"]
    assert egress["prefixListIds"] == ["pl-63a5400a"]
    assert "cidrBlocks" not in egress or egress["cidrBlocks"] == []


def test_groups_are_tagged_parented_and_use_the_regional_provider():
    result = _program(
        QuarantineNetworkArgs(vpc_id=VPC, tags={"team": "secops"}), region="ap-south-1"
    )
    component = result.one(COMPONENT_TYPE)
    groups = result.of_type(SG)
    assert {g.inputs["tags"][PURPOSE_TAG] for g in groups} == {
        "isolation", "conversion", "forensic",
    }
    for group in groups:
        assert group.inputs["tags"]["team"] == "secops"
        assert group.parent == component.urn
        assert group.region == "ap-south-1"
    assert result.aws_resources() == groups
    assert all(descends_from(result, g, component.urn) for g in groups)


def test_outputs_are_the_three_group_ids_and_the_vpc():
    result = _program(QuarantineNetworkArgs(vpc_id=VPC))
    ids = {p: _by_purpose(result, p) for p in ("isolation", "conversion", "forensic")}
    assert result.outputs["vpc"] == VPC
    for purpose in ids:
        assert result.outputs[purpose].startswith("sg-")
    assert len({result.outputs[p] for p in ids}) == 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"vpc_id": "vpc-xyz"}, "vpc_id='vpc-xyz' is invalid"),
        ({"forensic_cidrs": ("0.0.0.0/0",)}, "never the internet"),
        ({"forensic_cidrs": ("::/0",)}, "never the internet"),
        ({"forensic_cidrs": ("10.20.0.1/24",)}, "forensic_cidrs='10.20.0.1/24' is invalid"),
        ({"forensic_cidrs": ("10.0.0.0/24", "10.0.0.0/24")}, "listed twice"),
        ({"forensic_source_security_group_ids": ("sg-nothex",)}, "security group id"),
        ({"endpoint_prefix_list_ids": ("prefix",)}, "prefix list id"),
        ({"forensic_ports": (0,)}, "forensic_ports=0 is invalid"),
        ({"forensic_ports": (70000,)}, "TCP ports are integers 1-65535"),
        ({"forensic_ports": ()}, "at least one TCP port"),
        ({"tags": {"aws:owner": "x"}}, "reserved by AWS"),
        ({"tags": {PURPOSE_TAG: "x"}}, "set by the component itself"),
    ],
)
def test_invalid_args_name_the_field_and_value(kwargs, message):
    values = {"vpc_id": VPC, **kwargs}
    with pytest.raises(ValueError, match=re.escape(message)):
        QuarantineNetworkArgs(**values)


# EC2 accepts only these characters in group and rule descriptions; the mocks would not.
_SG_DESCRIPTION = re.compile(r"^[a-zA-Z0-9 ._\-:/()#,@\[\]+=&;{}!$*]{0,255}$")


def test_descriptions_use_only_characters_ec2_accepts():
    result = _program(
        QuarantineNetworkArgs(
            vpc_id=VPC,
            forensic_cidrs=("10.20.0.0/24",),
            forensic_source_security_group_ids=("sg-0123456789abcdef0",),
            endpoint_prefix_list_ids=("pl-63a5400a",),
        )
    )
    descriptions = []
    for group in result.of_type(SG):
        descriptions.append(group.inputs["description"])
        for rule in group.inputs["ingress"] + group.inputs["egress"]:
            descriptions.append(rule["description"])
    assert len(descriptions) == 3 + 2 + 2 + 1
    for description in descriptions:
        assert _SG_DESCRIPTION.match(description), description


def test_composes_with_another_resources_outputs() -> None:
    """A platform team's program: the VPC and an endpoint group are resources of the same
    program, passed as Outputs (`vpc.id`), not plain ids; the groups get the resolved ids."""
    import pulumi_aws as aws

    from tests.components.conftest import run_component

    def program() -> None:
        vpc = aws.ec2.Vpc("workload", cidr_block="10.0.0.0/16")
        endpoints = aws.ec2.SecurityGroup("endpoints", vpc_id=vpc.id)
        QuarantineNetwork("quarantine", QuarantineNetworkArgs(
            vpc_id=vpc.id,
            forensic_cidrs=("10.20.0.0/24",),
            endpoint_security_group_ids=(endpoints.id,),
        ))

    ev = run_component(program, {"aws:region": "eu-west-1"})
    (vpc,) = ev.of_type("aws:ec2/vpc:Vpc")
    assert re.match(r"^vpc-[0-9a-f]{17}$", vpc.id)
    endpoints = next(r for r in ev.of_type(SG) if r.name == "endpoints")
    groups = [r for r in ev.of_type(SG) if r.name.startswith("quarantine-")]
    assert sorted(g.name for g in groups) == [
        "quarantine-conversion", "quarantine-forensic", "quarantine-isolation"]
    for group in groups:
        assert group.inputs["vpcId"] == vpc.id
        assert vpc.urn in group.property_dependencies["vpcId"]
    forensic = next(g for g in groups if g.name == "quarantine-forensic")
    (egress,) = forensic.inputs["egress"]
    assert egress["securityGroups"] == [endpoints.id]


def test_a_plain_id_is_still_checked_when_outputs_are_allowed() -> None:
    with pytest.raises(ValueError, match=r"vpc_id='vpc-1' is invalid: expected a VPC id"):
        QuarantineNetworkArgs(vpc_id="vpc-1")
    with pytest.raises(ValueError, match="endpoint_security_group_ids"):
        QuarantineNetworkArgs(vpc_id=VPC, endpoint_security_group_ids=("sg-x",))
