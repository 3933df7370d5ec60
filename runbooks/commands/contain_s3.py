"""`irctl contain bucket NAME`: close an exposed S3 bucket to the public."""

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


@contain.command("bucket")
@common_options
@click.argument("buckets", nargs=-1, required=True, metavar="NAME [NAME ...]")
@pass_settings
@handle_errors
def bucket(settings: Settings, buckets: tuple[str, ...]) -> None:
    """Stop public access to an S3 bucket, keeping what was there.

    Removes the bucket policy's public statements (Allow to * without a condition that
    pins fixed source IPs, VPCs, endpoints, accounts or organisations) and the ACL's
    grants to AllUsers/AuthenticatedUsers, turns on all four Block Public Access
    settings and enables versioning. The original policy, ACL and Block Public Access
    configuration are recorded; `irctl release bucket NAME --case CASE` restores them.
    Versioning cannot be switched off again, only suspended: release suspends it when it
    was not enabled before. Objects and their ACLs are never touched (Block Public
    Access's IgnorePublicAcls neutralises public object ACLs).

    \b
    Examples:
      irctl contain bucket customer-exports            # plan only
      irctl contain bucket customer-exports --apply
      irctl contain bucket 111122223333:exports-a 444455556666:eu-west-1:exports-b --apply

    A bucket written ACCOUNT:NAME or ACCOUNT:REGION:NAME is contained in that account
    through its member responder role (--role-name, --external-id); the region (default:
    --region, else the manifest's) picks which regional manifest and session act, the
    bucket itself is wherever S3 keeps it. All accounts run concurrently under one case.
    """
    from runbooks.workflows.contain import contain_buckets

    exit_with(settings, contain_buckets(settings, buckets, feedback=CliFeedback(settings)))
