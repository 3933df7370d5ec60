"""`irctl contain ip CIDR --vpc VPC_ID`: deny an address range in a VPC's network ACLs."""

from __future__ import annotations

import click

from runbooks.commands._shared import (
    CliFeedback,
    Settings,
    common_options,
    exit_with,
    handle_errors,
    pass_settings,
)
from runbooks.commands.contain import contain


@contain.command("ip")
@common_options
@click.argument("cidr")
@click.option("--vpc", "vpc_ids", multiple=True, required=True, metavar="VPC_ID",
              help="VPC whose network ACLs get the deny entries (repeat for several).")
@click.option("--acl-rule-limit", type=click.IntRange(1, 40), default=20, show_default=True,
              help="Your 'Rules per network ACL' quota (per direction; 20 unless raised).")
@click.option("--allow-broad", is_flag=True,
              help="Allow a CIDR broader than /8 (IPv4) or /32 (IPv6); the VPC's own "
                   "ranges are refused regardless.")
@pass_settings
@handle_errors
def ip(settings: Settings, cidr: str, vpc_ids: tuple[str, ...], acl_rule_limit: int,
       allow_broad: bool) -> None:
    """Deny traffic to and from CIDR in every network ACL of the VPC.

    Adds one DENY (all protocols) entry per direction to each network ACL, at the lowest
    free rule number, which must come before every allow entry matching CIDR (network
    ACLs are stateless and first match wins, so established connections are cut too).
    Existing entries are never replaced. Refuses, changing nothing, when an ACL is at its
    rule limit or has no free number before a matching allow. A bare address means /32
    (or /128 for IPv6). Release deletes exactly the entries added: use the CIDR as
    printed, e.g. `irctl release ip 203.0.113.7/32 --case CASE --apply`.

    Refused with exit 2, nothing changed: a CIDR overlapping the VPC's own CIDR blocks
    (even with --allow-broad), loopback, link-local (instance metadata), multicast, and
    anything broader than /8 (IPv4) or /32 (IPv6) without --allow-broad.

    \b
    Examples:
      irctl contain ip 203.0.113.7 --vpc vpc-0123456789abcdef0
      irctl contain ip 198.51.100.0/24 --vpc vpc-0aaa... --vpc vpc-0bbb... --apply
    """
    from runbooks.workflows.contain import contain_cidr

    exit_with(settings, contain_cidr(settings, cidr, vpc_ids, acl_rule_limit=acl_rule_limit,
                                     allow_broad=allow_broad, feedback=CliFeedback(settings)))
