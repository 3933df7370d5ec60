"""`irctl case show ID`: a case's timeline and whether its hash chain verifies; `irctl case
sync ID`: upload the evidence the case queued locally (`runbooks.core.evidence_queue`)."""

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
    if verification.ok:
        out.print(f"[green]hash chain verified[/] ({verification.records} records, {source})")
    else:
        out.print(f"[bold red]hash chain BROKEN:[/] {escape(str(verification.problem))} "
                  f"({source})")
    for note in notes:
        out.print(note, highlight=False)
    sys.exit(code)


@case.command("sync")
@common_options
@click.argument("case_id")
@pass_settings
@handle_errors
def sync_command(settings: Settings, case_id: str) -> None:
    """Upload CASE_ID's evidence queued in its local case directory, and its audit log.

    Evidence a run could not write to the evidence bucket (S3 failing, throttling,
    AccessDenied, no answer) waits in `<case dir>/pending/`. Each object is uploaded with
    the arguments it was meant to have (SSE-KMS key, metadata) and its SHA-256 as object
    metadata; one already there with the same SHA-256 is not sent again; a local copy
    whose SHA-256 no longer matches is refused. Each upload is recorded in the audit
    log, which is then copied to the bucket.

    Exit code 0 when nothing is left queued; 1 naming what is still queued (re-run
    when the bucket is reachable; every `--apply` run of the case also retries).
    """
    from botocore.exceptions import BotoCoreError, ClientError

    from runbooks.commands._shared import open_session
    from runbooks.core.audit import AuditLog, validate_case_id
    from runbooks.core.evidence_queue import describe, is_queueable, sync

    validate_case_id(case_id)
    log = AuditLog(case_id)
    if not log.exists():
        raise InvalidInput(
            f"no audit log for case {case_id} at {log.path}; check the id, or set "
            "IR_CASE_DIR to where the case was run (its queued evidence is there)")
    settings.case_id = case_id
    session = open_session(settings, new_case=False)
    report = sync(session.ctx, log)
    audit_key: str | None = None
    audit_error: str | None = None
    if report.ok:
        try:
            audit_key = log.upload(session.ctx.evidence_client(),
                                   session.ctx.manifest["evidenceBucket"],
                                   session.ctx.evidence_encryption().get("SSEKMSKeyId"))
        except (ClientError, BotoCoreError) as err:
            if not is_queueable(err):
                raise
            audit_error = describe(err)
    code = EXIT_OK if report.ok and audit_error is None else EXIT_ACTION_FAILED
    if settings.json:
        click.echo(json.dumps({"case": case_id, **report.to_dict(), "auditLog": audit_key,
                               "auditLogError": audit_error, "exitCode": code},
                              indent=2, default=str))
        sys.exit(code)
    from rich.console import Console
    from rich.markup import escape

    out = Console()
    for item in report.uploaded:
        out.print(f"[green]uploaded[/] {escape(item['s3Uri'])} (sha256 {item['sha256']})",
                  highlight=False, soft_wrap=True)
    for item in report.already_there:
        out.print(f"[green]already there[/] {escape(item['s3Uri'])} (same sha256, not "
                  "sent again)", highlight=False, soft_wrap=True)
    for item in report.still_queued:
        out.print(f"[bold red]STILL QUEUED[/] {escape(item['s3Uri'])} at "
                  f"{escape(item['path'])}: {escape(str(item['error']))}", highlight=False,
                  soft_wrap=True)
    if audit_key:
        out.print(f"audit log copied to s3://{session.ctx.manifest['evidenceBucket']}/"
                  f"{audit_key}", highlight=False)
    elif audit_error:
        out.print(f"[bold red]audit log NOT copied[/]: {escape(audit_error)}",
                  highlight=False, soft_wrap=True)
    if not (report.uploaded or report.already_there or report.still_queued):
        out.print("nothing queued", highlight=False)
    out.print(f"case {case_id}; {len(report.still_queued)} object(s) still queued; "
              f"exit code {code}", highlight=False)
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
