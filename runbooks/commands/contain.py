"""`irctl contain ...`: the containment group, and `contain instance`.

Other modules attach their own subcommands to `contain` (see `runbooks.cli`); the
procedures themselves are in `runbooks.workflows.contain`.
"""

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


@click.group()
def contain() -> None:
    """Stop a compromised resource from doing harm, keeping evidence (plan; --apply acts)."""


@contain.command("instance")
@common_options
@click.argument("instance_ids", nargs=-1, required=True, metavar="ID [ID ...]")
@click.option("--stop", is_flag=True, help="Stop the instance(s) after evidence capture.")
@click.option("--memory/--no-memory", default=True, show_default=True,
              help="Capture memory through SSM Run Command after isolation "
                   "(docs/memory-capture.md).")
@pass_settings
@handle_errors
def instance(settings: Settings, instance_ids: tuple[str, ...], stop: bool,
             memory: bool) -> None:
    """Contain EC2 instances, keeping evidence and a way back.

    For each instance: save its metadata and console output to the evidence bucket;
    tag it with the case and when it was contained (one call for many instances);
    detach it from its Auto Scaling group
    (capacity kept) and its load balancer target groups; swap every ENI to the VPC's
    conversion, then isolation security group. Network first: with --apply, all of that
    is done for every instance before any instance's later steps: capture its memory
    through SSM Run Command with the forensic group attached for the capture only (when
    the stack provisions memory capture; --no-memory skips it; an instance SSM does not
    manage is reported, not a failure); disassociate its Elastic IPs (allocations kept,
    release puts them back) and its instance profile, revoke the role's older sessions,
    snapshot all volumes together, enable termination
    protection, shutdown behaviour stop, keep volumes. Then notify the high topic.
    The output gives two times: isolated (the last ENI entered its isolation group) and
    done. EC2 calls are paced per API to EC2's request limits (IR_EC2_PACING,
    IR_EC2_LIMITS; see the README).

    \b
    Examples:
      irctl contain instance i-0123456789abcdef0              # plan only
      irctl contain instance i-0123456789abcdef0 --apply      # act
      irctl --output json contain instance i-0aa... i-0bb... --apply --stop
      irctl contain instance i-0123456789abcdef0 --apply --no-memory   # no capture
      irctl contain instance 111122223333:eu-west-1:i-0aa... 444455556666:us-east-1:i-0bb...

    Targets written ACCOUNT:REGION:ID (or REGION:ID) are contained in that account and
    region, through its member responder role (--role-name, --external-id), all scopes
    concurrently under one case; every scope's preconditions are checked first.
    """
    from runbooks.workflows.contain import contain_instances

    exit_with(settings, contain_instances(settings, instance_ids, stop=stop,
                                          feedback=CliFeedback(settings), memory=memory))


COMMANDS = [contain]
