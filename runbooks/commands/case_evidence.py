"""`irctl case verify-evidence ID`: re-check every evidence object of a case in S3."""

from __future__ import annotations

import sys

import click

from runbooks.commands._shared import (
    Settings,
    common_options,
    emit_document,
    handle_errors,
    out_console,
    pass_settings,
)
from runbooks.commands.case import case
from runbooks.core.errors import EXIT_ACTION_FAILED, EXIT_OK, InvalidInput, PreconditionFailed


@case.command("verify-evidence")
@common_options
@click.argument("case_id")
@click.option("--deep", is_flag=True,
              help="Also read every object back and hash its bytes (slow for memory "
                   "images; the default compares S3's own SHA-256 checksum, computed "
                   "when the object arrived, without downloading it).")
@pass_settings
@handle_errors
def verify_evidence(settings: Settings, case_id: str, deep: bool) -> None:
    """Re-check CASE_ID's evidence objects in the evidence bucket against its audit log.

    Every evidence object irctl writes (instance metadata and console output, CloudTrail
    captures, timelines and reports, snapshot description files, ...) has its URI, S3
    version, size and SHA-256 in the audit record of the step that wrote it (`irctl case
    show` lists them). This reads each recorded version back (read-only): S3's SHA-256
    checksum and the `sha256` metadata must equal the recorded SHA-256, the size the
    recorded size, and the key's latest version must still be the recorded one.

    Exit code 0 when every object holds; 1 when one is missing, differs, was written
    over, or was queued locally and never uploaded (`irctl case sync`); 2 when the case's
    audit log is not whole.
    """
    from runbooks.commands._analysis import read_session
    from runbooks.commands._shared import caller_identity, make_sessions
    from runbooks.commands.case import case_evidence, require_intact_case
    from runbooks.core.audit import AuditLog, validate_case_id
    from runbooks.core.evidence_chain import check_object
    from runbooks.workflows.fleet import account_settings

    validate_case_id(case_id)
    log = AuditLog(case_id)
    if not log.exists():
        raise InvalidInput(
            f"no audit log for case {case_id} at {log.path}; set IR_CASE_DIR to where the "
            "case was run (or copy cases/<case>/audit.jsonl from the evidence bucket there)")
    require_intact_case(settings, log)
    objects = case_evidence(log.records())
    if not objects:
        raise PreconditionFailed(f"case {case_id} recorded no evidence objects: nothing to "
                                 "verify")
    own = str(caller_identity(make_sessions(settings), settings.region)["Account"])
    checks = []
    clients: dict[str, object] = {}
    for obj in objects:
        account = obj.account or own
        if account not in clients:
            session = read_session(account_settings(settings, account, own))
            clients[account] = session.client("s3")
        checks.append(check_object(clients[account], obj, deep=deep,
                                   expected_owner=account))
    ok = all(c.ok for c in checks)
    code = EXIT_OK if ok else EXIT_ACTION_FAILED
    if settings.structured:
        emit_document(settings, {"case": case_id, "ok": ok, "exitCode": code, "deep": deep,
                                 "objects": [c.to_dict() for c in checks]})
        sys.exit(code)
    from rich.markup import escape
    from rich.table import Table

    out = out_console(settings)
    table = Table(title=f"case {case_id}: evidence in S3", title_justify="left")
    for column in ("Object", "Version", "SHA-256 (recorded)", "Status"):
        table.add_column(column, overflow="fold")
    for c in checks:
        status = "[green]holds[/]" if c.ok else f"[bold red]{c.status.upper()}[/]"
        table.add_row(escape(c.object.uri), escape(str(c.object.version_id)),
                      c.object.sha256, status)
    out.print(table)
    for c in checks:
        for problem in c.problems:
            out.print(f"[bold red]{c.status}:[/] {escape(problem)}", soft_wrap=True)
    bad = sum(not c.ok for c in checks)
    if ok:
        out.print(f"[green]{len(checks)} evidence object(s) hold[/]"
                  f"{' (bytes re-hashed)' if deep else ''}")
    else:
        out.print(f"[bold red]{bad} of {len(checks)} evidence object(s) do not hold[/]; "
                  f"exit code {code}", highlight=False)
    sys.exit(code)


COMMANDS: list[click.Command] = []  # a subcommand of `case` (registered by decorating it)
