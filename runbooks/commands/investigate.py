"""`irctl investigate principal ARN --since TIME`: what a principal left behind."""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import click

from runbooks.commands._shared import (
    Settings,
    common_options,
    emit_document,
    handle_errors,
    out_console,
    pass_settings,
)
from runbooks.core.errors import EXIT_OK, InvalidInput, PreconditionFailed

if TYPE_CHECKING:
    from runbooks.analysis.sources import SourceFailure


@click.group()
def investigate() -> None:
    """Investigate what happened (read-only)."""


def role_sessions(session: Any, role_arn: str, start: datetime, end: datetime,
                  regions: list[str]) -> tuple[list[str], list[SourceFailure]]:
    """Session names the role was assumed under in the window (AssumeRole events), and
    the regions whose lookup failed (the names found elsewhere are still used)."""
    from runbooks.analysis.cloudtrail import Subject, lookup_events
    from runbooks.analysis.sources import failure, read_errors

    names: dict[str, None] = {}
    failures: list[SourceFailure] = []
    for region in regions:
        try:
            for event in lookup_events(session.client("cloudtrail", region),
                                       Subject("ResourceName", role_arn), start, end):
                request = event.record.get("requestParameters") or {}
                if event.name.startswith("AssumeRole") and request.get("roleSessionName"):
                    names[str(request["roleSessionName"])] = None
        except read_errors() as err:
            failures.append(failure(f"lookup_events ({region}), role sessions", err,
                                    "LookupEvents"))
    return list(names), failures


@investigate.command("principal")
@common_options
@click.argument("arn")
@click.option("--since", "since_text", required=True,
              help="Start of the search: ISO 8601 (2026-11-27T22:00:00Z) or a duration back "
                   "from now (90m, 24h, 7d).")
@click.option("--until", "until_text", help="End of the search (default: now).")
@click.option("--cloudtrail", "source", type=click.Choice(["auto", "api", "s3", "both"]),
              default="auto", show_default=True,
              help="api: LookupEvents (90 days); s3: the trail's log files; auto: LookupEvents "
                   "within 90 days, log files beyond.")
@pass_settings
@handle_errors
def principal(settings: Settings, arn: str, since_text: str, until_text: str | None,
              source: str) -> None:
    """What ARN did since --since that could outlive containment.

    Lists the IAM users, access keys, login profiles, roles, trust policies and policy
    attachments it created or changed, the instances it launched (or whose user data it
    changed), and the security group and network ACL entries it opened, each with the
    command that contains or undoes it. Reads CloudTrail (LookupEvents in this region
    and in us-east-1, where IAM records its events, and/or the trail's S3 log files);
    changes nothing.

    \b
    Examples:
      irctl investigate principal arn:aws:iam::123456789012:user/build-bot --since 7d
      irctl investigate principal arn:aws:iam::123456789012:role/web-app --since 24h
    """
    from runbooks.analysis.cloudtrail import Subject
    from runbooks.analysis.persistence import parse_principal_arn, parse_since, persistence
    from runbooks.analysis.sources import source_status, with_partial
    from runbooks.commands._analysis import gather, read_session, regions_for

    ref = parse_principal_arn(arn)
    now = datetime.now(timezone.utc)
    since = parse_since(since_text, now)
    until = parse_since(until_text, now) if until_text else now
    if until <= since:
        raise InvalidInput(f"--until {until_text} is not after --since {since_text}")

    session = read_session(settings)
    account = session.manifest.account_id
    if ref.account_id != account:
        raise PreconditionFailed(
            f"{arn} belongs to account {ref.account_id}; the manifest and your credentials "
            f"are for account {account}: investigate with that account's credentials")
    regions = regions_for(session.region, include_global=True)
    subjects = ref.subjects()
    failures: list[SourceFailure] = []
    if ref.kind == "iam-role":
        subjects.append(Subject("Username", ref.name))  # matches the session issuer in logs
        if source != "s3":
            names, failures = role_sessions(session, arn, since, until, regions)
            subjects += [Subject("Username", name) for name in names]
    activity = gather(session, subjects, since, until, source, False, regions)
    failures += activity.failures
    mine = [e for e in activity.events if ref.did(e.record)]
    found = persistence(mine, account)
    # A failed source means the list may be incomplete: say which, and exit 3 (partial).
    code = with_partial(EXIT_OK, failures)
    for failed in failures:
        click.echo(f"error: source {failed.text()}", err=True)

    document = {
        "principal": arn,
        "since": since.isoformat(),
        "until": until.isoformat(),
        "eventsExamined": len(mine),
        "sources": activity.sources,
        "sourceStatus": source_status(activity.sources, failures),
        "partial": bool(failures),
        "exitCode": code,
        "notes": activity.notes,
        "persistence": [p.to_dict() for p in found],
    }
    if settings.structured:
        emit_document(settings, document)
        sys.exit(code)
    from rich.markup import escape
    from rich.table import Table

    out = out_console(settings)
    table = Table(title=f"{arn}: {len(found)} lasting change(s) in {len(mine)} event(s) "
                        f"since {since:%Y-%m-%d %H:%M}Z", title_justify="left")
    for column in ("Time (UTC)", "Kind", "What", "Contain / undo with"):
        table.add_column(column, overflow="fold")
    for item in found:
        table.add_row(f"{item.time:%Y-%m-%d %H:%M:%S}", item.category, item.summary,
                      item.recommendation)
    out.print(table)
    for note in activity.notes:
        out.print(f"[yellow]note:[/] {escape(note)}", highlight=False)
    out.print("sources: " + (", ".join(activity.sources) or "none"), highlight=False)
    for failed in failures:
        out.print(f"[bold red]source failed:[/] {escape(failed.text())}", highlight=False)
    if failures:
        out.print(f"[bold red]partial: {len(failures)} source(s) failed[/]; the list above "
                  f"holds only what the other sources returned; exit code {code}",
                  highlight=False)
    sys.exit(code)


COMMANDS = [investigate]
