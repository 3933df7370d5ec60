"""`irctl contain database ID`: contain an RDS DB instance or an Aurora cluster."""

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


@contain.command("database")
@common_options
@click.argument("databases", nargs=-1, required=True, metavar="ID [ID ...]")
@pass_settings
@handle_errors
def database(settings: Settings, databases: tuple[str, ...]) -> None:
    """Cut an RDS database or Aurora cluster off the network and lock its password.

    ID is a DB instance identifier, an Aurora DB cluster identifier (not a member
    instance: the cluster holds the security groups), or either's ARN. In order:
    public access off (every Aurora member instance), the VPC security groups replaced by
    the VPC's isolation group from the readiness manifest, deletion protection on, a
    snapshot tagged ir:case (evidence, kept), and the master password replaced by one
    Secrets Manager manages (ManageMasterUserPassword; rotated now when it already is).
    Each modification is applied immediately and waited for, at most 600 s.

    Release (`irctl release database ID --case CASE --apply`) restores the recorded
    security groups, public flag and deletion protection, refusing (exit 2) where they
    were changed since. The password is one-way: its owner reads the new one from the
    secret. Established sessions survive a group or password change: end them as the
    playbook says (docs/playbooks/compromised-rds-database.md).

    Refused with exit 2, nothing changed: an unknown database, an Aurora member
    instance, a database whose VPC has no quarantine group in the manifest (or whose
    isolation group drifted), an ARN of another account or region.

    \b
    Examples:
      irctl contain database orders-db                    # plan only
      irctl contain database orders-cluster --apply
      irctl contain database 111122223333:eu-west-1:orders-db --apply
    """
    from runbooks.workflows.database import contain_databases

    exit_with(settings, contain_databases(settings, databases,
                                          feedback=CliFeedback(settings)))
