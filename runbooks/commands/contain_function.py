"""`irctl contain function NAME`: contain a compromised Lambda function."""

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


@contain.command("function")
@common_options
@click.argument("names", nargs=-1, required=True, metavar="NAME [NAME ...]")
@pass_settings
@handle_errors
def function(settings: Settings, names: tuple[str, ...]) -> None:
    """Stop a Lambda function from running, keeping its code and a way back.

    For each function (the containment phase of the compromised-lambda-function
    playbook): set its reserved concurrency to 0, so every invocation is throttled
    (one call, first); disable every enabled event-source mapping; remove resource-policy
    statements that let anyone invoke it (Principal * without a condition pinning the
    source account, ARN or organisation; a function URL with AuthType NONE is reachable
    only through such a statement); revoke its execution role's sessions issued before
    now. A role tagged ir:protected=true or belonging to the stack refuses the whole
    command before any change (exit 2, naming the administrator's command), as `contain
    role` does; an administrator revokes its sessions, then re-runs. Then, in
    a run of its own that never undoes the cut, save its code package (SHA-256 checked
    against the function's CodeSha256) and its configuration, policy, event-source
    mappings and URL config to cases/CASE/functions/NAME/ in the evidence bucket.

    `irctl release function NAME --case CASE` puts back the recorded reserved
    concurrency (or none), re-enables exactly the mappings that were enabled and adds
    each removed statement again with the same Sid; it refuses when one of them was
    changed by hand since (--force restores anyway). The role revocation stays.

    \b
    Examples:
      irctl contain function orders-webhook                # plan only
      irctl contain function orders-webhook --apply
      irctl release function orders-webhook --case CASE --apply
      irctl contain function 111122223333:eu-west-1:orders-webhook --apply

    A function written ACCOUNT:REGION:NAME is contained in that account and region
    through its member responder role; scopes run concurrently under one case.
    """
    from runbooks.workflows.contain_function import contain_functions

    exit_with(settings, contain_functions(settings, names, feedback=CliFeedback(settings)))
