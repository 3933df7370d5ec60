"""network.deny-cidr against moto: assert the network ACL entries themselves."""

from __future__ import annotations

import boto3
import pytest

from runbooks.core.errors import InvalidInput, PreconditionFailed
from runbooks.steps.network import DenyCidr
from tests.runbooks.steps.conftest import REGION, apply_all, roll_back

ATTACKER = "203.0.113.7/32"


def _ec2():
    return boto3.client("ec2", region_name=REGION)


def _vpc() -> str:
    return _ec2().create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]


def _acls(vpc: str) -> dict[str, list[dict]]:
    acls = _ec2().describe_network_acls(Filters=[{"Name": "vpc-id", "Values": [vpc]}])
    return {a["NetworkAclId"]: sorted(a["Entries"], key=lambda e: (e["Egress"], e["RuleNumber"]))
            for a in acls["NetworkAcls"]}


def _entry(acl: str, number: int, egress: bool, cidr: str, action: str) -> None:
    _ec2().create_network_acl_entry(NetworkAclId=acl, RuleNumber=number, Egress=egress,
                                    Protocol="-1", RuleAction=action, CidrBlock=cidr)


def _custom_acl(vpc: str) -> str:
    """An ACL whose low rule numbers are partly taken: ingress 1 and 3, egress 1."""
    acl = _ec2().create_network_acl(VpcId=vpc)["NetworkAcl"]["NetworkAclId"]
    _entry(acl, 1, False, "198.51.100.0/24", "deny")
    _entry(acl, 3, False, "0.0.0.0/0", "allow")
    _entry(acl, 50, False, "10.0.0.0/16", "allow")
    _entry(acl, 1, True, "198.51.100.0/24", "deny")
    _entry(acl, 2, True, "10.0.0.0/8", "allow")
    _entry(acl, 5, True, "0.0.0.0/0", "allow")
    return acl


def _ours(entries: list[dict], cidr: str = ATTACKER) -> dict[bool, int]:
    return {e["Egress"]: e["RuleNumber"] for e in entries
            if e.get("CidrBlock", e.get("Ipv6CidrBlock")) == cidr and e["RuleAction"] == "deny"}


def test_denies_cidr_both_ways_in_every_acl_with_free_rule_numbers(make_ctx):
    vpc = _vpc()
    custom = _custom_acl(vpc)
    before = _acls(vpc)
    done = apply_all(DenyCidr(make_ctx(), {"cidr": ATTACKER, "vpc_id": vpc}))

    after = _acls(vpc)
    assert set(after) == set(before) and len(after) == 2
    assert len(done) == 4  # two ACLs x (ingress, egress)
    for acl_id, entries in after.items():
        ours = [e for e in entries if e.get("CidrBlock") == ATTACKER]
        assert len(ours) == 2
        assert all(e["RuleAction"] == "deny" and e["Protocol"] == "-1" for e in ours)
        # every original entry is still there, unchanged: nothing was overwritten
        assert [e for e in entries if e not in ours] == before[acl_id]
        # the deny sits before every allow matching the attacker, so it takes effect
        for e in ours:
            allows = [x["RuleNumber"] for x in entries if x["Egress"] == e["Egress"]
                      and x["RuleAction"] == "allow" and x["CidrBlock"] in ("0.0.0.0/0",)]
            assert e["RuleNumber"] < min(allows)
    # lowest free numbers of the custom ACL: ingress 1 taken -> 2, egress 1-2 taken -> 3
    # (below the 0.0.0.0/0 allow at 5; the 10.0.0.0/8 allow at 2 does not match)
    assert _ours(after[custom]) == {False: 2, True: 3}


def test_lowest_free_numbers_are_used_per_acl_and_direction(make_ctx):
    vpc = _vpc()
    acl = _ec2().create_network_acl(VpcId=vpc)["NetworkAcl"]["NetworkAclId"]
    _entry(acl, 1, False, "198.51.100.0/24", "deny")
    _entry(acl, 3, False, "0.0.0.0/0", "allow")
    _entry(acl, 5, True, "0.0.0.0/0", "allow")
    apply_all(DenyCidr(make_ctx(), {"cidr": ATTACKER, "vpc_id": vpc}))
    assert _ours(_acls(vpc)[acl]) == {False: 2, True: 1}
    default = next(a for a in _acls(vpc) if a != acl)
    assert _ours(_acls(vpc)[default]) == {False: 1, True: 1}  # default ACL allows at 100


def test_no_free_number_below_an_overlapping_allow_is_refused(make_ctx):
    vpc = _vpc()
    custom = _custom_acl(vpc)  # egress: deny at 1, allow 10.0.0.0/8 at 2
    before = _acls(vpc)
    # an address inside 10/8 needs an egress deny below 2, and 1 is taken
    step = DenyCidr(make_ctx(), {"cidr": "10.1.2.3/32", "vpc_id": vpc})
    step.validate()
    with pytest.raises(PreconditionFailed, match=f"{custom} has no free egress rule number below "
                                                 "its allow entry 2"):
        step.plan()
    assert _acls(vpc) == before


def test_second_plan_is_empty_and_rollback_removes_exactly_the_added_entries(make_ctx):
    vpc = _vpc()
    _custom_acl(vpc)
    before = _acls(vpc)
    ctx = make_ctx()
    step = DenyCidr(ctx, {"cidr": ATTACKER, "vpc_id": vpc})
    done = apply_all(step)
    assert DenyCidr(ctx, {"cidr": ATTACKER, "vpc_id": vpc}).plan() == []
    roll_back(step, done)
    assert _acls(vpc) == before
    roll_back(step, done)  # again: already gone, nothing else touched
    assert _acls(vpc) == before


def test_rollback_does_not_delete_an_entry_someone_replaced(make_ctx):
    vpc = _vpc()
    step = DenyCidr(make_ctx(), {"cidr": ATTACKER, "vpc_id": vpc})
    done = apply_all(step)
    change = done[0][0]
    acl, number, egress = (change.after["networkAclId"], change.after["ruleNumber"],
                           change.after["egress"])
    _ec2().replace_network_acl_entry(NetworkAclId=acl, RuleNumber=number, Egress=egress,
                                     Protocol="-1", RuleAction="allow", CidrBlock="10.9.0.0/16")
    with pytest.raises(Exception, match="no longer the deny"):
        step.rollback(*done[0])
    assert any(e["RuleNumber"] == number and e.get("CidrBlock") == "10.9.0.0/16"
               for e in _acls(vpc)[acl])


def test_ipv6_cidr_gets_ipv6_entries(make_ctx):
    vpc = _vpc()
    apply_all(DenyCidr(make_ctx(), {"cidr": "2001:db8::/64", "vpc_id": vpc}))
    [entries] = _acls(vpc).values()
    ours = [e for e in entries if e.get("Ipv6CidrBlock") == "2001:db8::/64"]
    assert {(e["Egress"], e["RuleAction"]) for e in ours} == {(False, "deny"), (True, "deny")}


@pytest.mark.parametrize("bad", ["10.0.0.300/32", "10.0.0.1/24", "0.0.0.0/0", "evil.example",
                                 "", None, "::/0"])
def test_malformed_cidr_is_rejected_in_validate(make_ctx, bad):
    with pytest.raises(InvalidInput, match="cidr"):
        DenyCidr(make_ctx(), {"cidr": bad, "vpc_id": "vpc-0123456789abcdef0"}).validate()


def test_host_bits_set_suggests_the_network(make_ctx):
    with pytest.raises(InvalidInput, match="did you mean 10.0.0.0/24"):
        DenyCidr(make_ctx(), {"cidr": "10.0.0.1/24", "vpc_id": "vpc-0123456789abcdef0"}).validate()


def test_malformed_vpc_id_is_rejected(make_ctx):
    with pytest.raises(InvalidInput, match="vpc_id"):
        DenyCidr(make_ctx(), {"cidr": ATTACKER, "vpc_id": "default"}).validate()


def test_unknown_vpc_is_refused(make_ctx):
    step = DenyCidr(make_ctx(), {"cidr": ATTACKER, "vpc_id": "vpc-0123456789abcdef0"})
    with pytest.raises(PreconditionFailed, match="VPC vpc-0123456789abcdef0 was not found"):
        step.plan()


def test_vpc_without_acls_is_refused(make_ctx):
    vpc = _vpc()
    for acl in _acls(vpc):  # moto lets the default ACL go; real AWS never has none
        _ec2().delete_network_acl(NetworkAclId=acl)
    with pytest.raises(PreconditionFailed, match="has no network ACLs"):
        DenyCidr(make_ctx(), {"cidr": ATTACKER, "vpc_id": vpc}).plan()


def test_acl_at_the_rule_limit_is_refused_and_no_acl_changes(make_ctx):
    vpc = _vpc()
    full = _ec2().create_network_acl(VpcId=vpc)["NetworkAcl"]["NetworkAclId"]
    # 20 ingress IPv4 entries. (In AWS the default * entry counts as one of the 20; moto
    # creates custom ACLs without it.)
    for number in range(1, 21):
        _entry(full, number * 10, False, f"10.{number}.0.0/16", "allow")
    before = _acls(vpc)
    step = DenyCidr(make_ctx(), {"cidr": ATTACKER, "vpc_id": vpc})
    with pytest.raises(PreconditionFailed, match=f"{full} already has 20 IPv4 ingress entries"):
        step.plan()
    assert _acls(vpc) == before  # not even the default ACL got its deny
    # with a raised quota the same VPC is fine
    apply_all(DenyCidr(make_ctx(), {"cidr": ATTACKER, "vpc_id": vpc, "acl_rule_limit": 40}))
    assert _ours(_acls(vpc)[full]) == {False: 1, True: 1}  # 1 was free below the allows


def test_failure_on_a_later_acl_rolls_back_the_entries_already_added(make_ctx, tmp_path):
    """The 3rd CreateNetworkAclEntry is denied: the runner deletes the two entries it
    already added, so every ACL ends exactly as it started."""
    from botocore.awsrequest import AWSResponse

    from runbooks.core.audit import AuditLog
    from runbooks.core.errors import EXIT_ACTION_FAILED
    from runbooks.core.runner import Runner, StepCall

    vpc = _vpc()
    _custom_acl(vpc)
    before = _acls(vpc)
    ctx = make_ctx(evidence=True)
    calls = []

    def deny_third(**_):
        calls.append(1)
        if len(calls) == 3:
            return (AWSResponse("https://ec2.amazonaws.com/", 403, {}, None),
                    {"Error": {"Code": "UnauthorizedOperation", "Message": "denied"},
                     "ResponseMetadata": {"HTTPStatusCode": 403}})
        return None

    ctx.sessions.session().events.register("before-call.ec2.CreateNetworkAclEntry", deny_third)
    result = Runner(ctx, AuditLog(ctx.case_id, root=tmp_path), apply=True).run(
        "ip", {ATTACKER: [StepCall("network.deny-cidr", {"cidr": ATTACKER, "vpc_id": vpc})]})

    assert result.exit_code == EXIT_ACTION_FAILED
    assert "UnauthorizedOperation" in (result.targets[0].error or "")
    assert len(calls) == 3  # 2 applied, the 3rd denied, the 4th never attempted
    assert _acls(vpc) == before
