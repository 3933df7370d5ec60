"""`irctl case show ID`: a case's timeline and whether its hash chain verifies."""

from __future__ import annotations

import json
import sys

import click

from runbooks.commands._shared import Settings, common_options, handle_errors, pass_settings
from runbooks.core.errors import EXIT_ACTION_FAILED, EXIT_OK, InvalidInput


@click.group()
def case() -> None:
    """Inspect incident cases (their local audit logs)."""


def _describe(record: dict) -> str:
    change = record.get("change") or {}
    if "summary" in change:
        text = change["summary"]
    elif record.get("targets") is not None:
        text = f"{record.get('kind')} {record.get('mode')}: {len(record['targets'])} target(s)"
    else:
        text = " ".join(str(record[k]) for k in ("kind", "mode") if k in record)
    if record.get("error"):
        text += f" -- {record['error']}"
    return text


@case.command("show")
@common_options
@click.argument("case_id")
@pass_settings
@handle_errors
def show(settings: Settings, case_id: str) -> None:
    """Show the timeline of CASE_ID and verify its audit log's hash chain.

    Exit code 1 when the chain does not verify (the log was edited or truncated).
    """
    from runbooks.core.audit import AuditLog

    log = AuditLog(case_id)
    if not log.exists():
        raise InvalidInput(
            f"no audit log for case {case_id} at {log.path}; check the id, or set "
            "IR_CASE_DIR to where the case was run (or copy cases/<case>/audit.jsonl "
            "from the evidence bucket there)"
        )
    verification = log.verify()
    records = log.records()
    code = EXIT_OK if verification.ok else EXIT_ACTION_FAILED
    settings.case_id = case_id
    if settings.json:
        click.echo(json.dumps({
            "case": case_id,
            "path": str(log.path),
            "chainVerified": verification.ok,
            "problem": verification.problem,
            "records": records,
        }, indent=2, default=str))
        sys.exit(code)
    from rich.console import Console
    from rich.table import Table

    out = Console()
    table = Table(title=f"case {case_id}", title_justify="left")
    for column in ("#", "Time (UTC)", "Event", "Target", "Step", "Detail"):
        table.add_column(column, overflow="fold")
    for record in records:
        table.add_row(str(record.get("seq")), str(record.get("time")), record.get("event", ""),
                      str(record.get("target", "")), str(record.get("step", "")),
                      _describe(record))
    out.print(table)
    if verification.ok:
        out.print(f"[green]hash chain verified[/] ({verification.records} records, "
                  f"{log.path})")
    else:
        out.print(f"[bold red]hash chain BROKEN:[/] {verification.problem} ({log.path})")
    sys.exit(code)


COMMANDS = [case]
