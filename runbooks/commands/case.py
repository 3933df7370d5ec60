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


STATE_NOTES = {
    "applied": "applied",
    "applying": "applying: outcome unknown (interrupted)",
    "apply-failed": "failed part-way: may be partly applied",
    "rollback-failed": "rollback failed: still applied",
    "rollback-skipped": "not rolled back: changed since",
    "release-failed": "release failed: still applied",
}


def in_place_changes(records: list[dict]) -> list[dict]:
    """The case's changes still (or possibly still) in place, with their recorded state,
    as the runner, `release` and `verify case` see them."""
    from runbooks.core.runner import recorded_changes

    own = next((str(r["account"]) for r in records if r.get("account")), "")
    return [e.to_dict() for e in recorded_changes(records, own)]


def _print_in_place(out: object, changes: list[dict], case_id: str) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    assert isinstance(out, Console)
    if not changes:
        out.print("nothing recorded in place (all released or rolled back)")
        return
    table = Table(title=f"case {case_id}: changes in place (`irctl release` restores them)",
                  title_justify="left")
    for column in ("Account", "Kind", "Target", "Step", "Change", "State"):
        table.add_column(column, overflow="fold")
    for c in changes:
        style = "green" if c["state"] == "applied" else "bold red"
        table.add_row(*(escape(str(c[k])) for k in ("account", "kind", "target", "step",
                                                    "summary")),
                      f"[{style}]{escape(STATE_NOTES.get(c['state'], c['state']))}[/]")
    out.print(table)


@case.command("show")
@common_options
@click.argument("case_id")
@click.option("--from-evidence", is_flag=True,
              help="Read the copy in the evidence bucket (s3://<evidence>/cases/ID/"
                   "audit.jsonl) instead of the local log, and compare the two.")
@pass_settings
@handle_errors
def show(settings: Settings, case_id: str, from_evidence: bool) -> None:
    """Show the timeline of CASE_ID and verify its audit log's hash chain.

    Exit code 1 when the chain does not verify (the log was edited or truncated), or
    with --from-evidence when the bucket copy is not a prefix of the local log.
    """
    from runbooks.core.audit import AuditLog, parse_lines, validate_case_id, verify_lines

    validate_case_id(case_id)
    settings.case_id = case_id
    log = AuditLog(case_id)
    notes: list[str] = []
    if from_evidence:
        lines = _evidence_copy(settings, case_id)
        source = f"s3://.../cases/{case_id}/audit.jsonl"
        verification = verify_lines(lines)
        records = parse_lines(lines)
        consistent = True
        if log.exists():
            local = log.records()
            consistent = local[: len(records)] == records
            notes.append(f"local log {log.path}: {len(local)} records; the evidence copy "
                         f"({len(records)}) {'matches' if consistent else 'DOES NOT match'} "
                         "its beginning")
        ok = verification.ok and consistent
    else:
        if not log.exists():
            raise InvalidInput(
                f"no audit log for case {case_id} at {log.path}; check the id, set "
                "IR_CASE_DIR to where the case was run, or read the evidence bucket's copy "
                "with --from-evidence"
            )
        source = str(log.path)
        verification = log.verify()
        records = log.records()
        ok = verification.ok
    code = EXIT_OK if ok else EXIT_ACTION_FAILED
    if settings.json:
        click.echo(json.dumps({
            "case": case_id,
            "source": source,
            "chainVerified": verification.ok,
            "problem": verification.problem,
            "notes": notes,
            "inPlace": in_place_changes(records),
            "records": records,
        }, indent=2, default=str))
        sys.exit(code)
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    out = Console()
    table = Table(title=f"case {case_id}", title_justify="left")
    for column in ("#", "Time (UTC)", "Event", "Target", "Step", "Detail"):
        table.add_column(column, overflow="fold")
    for record in records:
        table.add_row(*(escape(str(v)) for v in (
            record.get("seq"), record.get("time", ""), record.get("event", ""),
            record.get("target", ""), record.get("step", ""), _describe(record))))
    out.print(table)
    _print_in_place(out, in_place_changes(records), case_id)
    if verification.ok:
        out.print(f"[green]hash chain verified[/] ({verification.records} records, {source})")
    else:
        out.print(f"[bold red]hash chain BROKEN:[/] {escape(str(verification.problem))} "
                  f"({source})")
    for note in notes:
        out.print(note, highlight=False)
    sys.exit(code)


def _evidence_copy(settings: Settings, case_id: str) -> list[str]:
    from botocore.exceptions import ClientError

    from runbooks.commands._shared import open_session

    session = open_session(settings, new_case=False)
    bucket = session.ctx.manifest["evidenceBucket"]
    key = f"cases/{case_id}/audit.jsonl"
    try:
        body = session.ctx.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as err:
        if err.response["Error"]["Code"] in ("NoSuchKey", "404"):
            raise InvalidInput(f"no audit log for case {case_id} at s3://{bucket}/{key}; "
                               "check the id (it is copied after every --apply run)") from err
        raise
    lines: list[str] = body.decode("utf-8").splitlines()
    return lines


COMMANDS = [case]
