"""`irctl case show ID`: a case's timeline and whether its audit log is whole;
`irctl case repair ID`: set aside a record whose write never finished; `irctl case sync ID`:
upload the evidence the case queued locally (`runbooks.core.evidence_queue`)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from runbooks.commands._shared import (
    Settings,
    common_options,
    emit_document,
    handle_errors,
    out_console,
    pass_settings,
)
from runbooks.core.errors import EXIT_ACTION_FAILED, EXIT_OK, InvalidInput, PreconditionFailed

if TYPE_CHECKING:
    from runbooks.core.audit import AuditLog, EvidenceCopy
    from runbooks.core.evidence_chain import EvidenceObject


@click.group()
def case() -> None:
    """Inspect incident cases: audit logs, evidence, forensic copies."""


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


def case_evidence(records: list[dict]) -> list[EvidenceObject]:
    """The case's evidence objects with their SHA-256, as its log records them."""
    from runbooks.core.evidence_chain import evidence_objects

    own = next((str(r["account"]) for r in records if r.get("account")), "")
    return evidence_objects(records, own)


def operators(records: list[dict]) -> list[dict]:
    """Who made the case's records: each operator (ARN, account) and how many records."""
    from runbooks.core.audit import operator_of

    counted: dict[tuple[str, str], int] = {}
    for record in records:
        if record.get("seq") is None:
            continue  # an unreadable line
        who = operator_of(record)
        counted[(who["arn"], who["account"])] = counted.get((who["arn"], who["account"]),
                                                            0) + 1
    return [{"arn": arn, "account": account, "records": count}
            for (arn, account), count in counted.items()]


def _print_evidence(out: object, objects: list[EvidenceObject], case_id: str) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    assert isinstance(out, Console)
    if not objects:
        out.print("no evidence objects recorded")
        return
    table = Table(title=f"case {case_id}: evidence (`irctl case verify-evidence` re-checks "
                        "them in S3)", title_justify="left")
    for column in ("#", "Object", "Version", "Bytes", "SHA-256", "Step"):
        table.add_column(column, overflow="fold")
    for o in objects:
        version = "[bold red]queued locally[/]" if o.queued and not o.version_id else \
            escape(str(o.version_id))
        table.add_row(escape(str(o.seq)), escape(o.uri), version, str(o.size), o.sha256,
                      escape(o.step or o.event))
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

    Exit code 1 when the log is not whole: a record edited, dropped (also from the end:
    the head record chain-head.json beside the log names the last one written) or
    damaged. With --from-evidence, the bucket copy is checked against its chain-head
    metadata and its earlier versions, and the local log must begin with it.
    """
    from runbooks.core.audit import AuditLog, compare_copies, operator_of, validate_case_id

    validate_case_id(case_id)
    settings.case_id = case_id
    log = AuditLog(case_id)
    notes: list[str] = []
    if from_evidence:
        copy = _evidence_copy(settings, case_id)
        source = copy.location
        problems = list(copy.problems)
        records = copy.scan.records if copy.scan is not None else []
        chain_ok = not problems
        if log.exists() and copy.scan is not None:
            local = log.check()
            problem, note = compare_copies(local.scan, copy.scan, f"the local log {log.path}")
            if problem is not None:
                notes.append(f"the local log DOES NOT match the evidence copy: {problem}")
            else:
                notes.append(f"the local log matches the evidence copy: {note}")
            notes += [f"local log: {p}" for p in local.problems]
            ok = chain_ok and local.ok and problem is None
        else:
            ok = chain_ok
    else:
        if not log.exists():
            raise InvalidInput(
                f"no audit log for case {case_id} at {log.path}; check the id, set "
                "IR_CASE_DIR to where the case was run, or read the evidence bucket's copy "
                "with --from-evidence"
            )
        source = str(log.path)
        report = log.check()
        problems, records, notes = report.problems, report.scan.records, report.notes
        chain_ok = ok = report.ok
        if not ok:
            notes.append(report.advice())
    code = EXIT_OK if ok else EXIT_ACTION_FAILED
    verified = sum(1 for r in records if r.get("seq") is not None)
    if settings.structured:
        emit_document(settings, {
            "case": case_id,
            "source": source,
            "chainVerified": chain_ok,
            "problem": problems[0] if problems else None,
            "problems": problems,
            "notes": notes,
            "inPlace": in_place_changes(records),
            "evidence": [o.to_dict() for o in case_evidence(records)],
            "operators": operators(records),
            # as written (a record's `operator` is absent when it predates operators:
            # `operators` counts those as "unknown")
            "records": records,
        })
        sys.exit(code)
    from rich.markup import escape
    from rich.table import Table

    out = out_console(settings)
    table = Table(title=f"case {case_id}", title_justify="left")
    for column in ("#", "Time (UTC)", "Event", "Target", "Step", "Detail", "Operator"):
        table.add_column(column, overflow="fold")
    for record in records:
        if record.get("event") == "unreadable":
            table.add_row("?", "", "[red]unreadable[/]", "", "", f"line {record['line']}",
                          "")
            continue
        table.add_row(*(escape(str(v)) for v in (
            record.get("seq"), record.get("time", ""), record.get("event", ""),
            record.get("target", ""), record.get("step", ""), _describe(record),
            operator_of(record)["arn"])))
    out.print(table)
    _print_in_place(out, in_place_changes(records), case_id)
    _print_evidence(out, case_evidence(records), case_id)
    if chain_ok:
        out.print(f"[green]hash chain verified[/] ({verified} records, {escape(source)})")
    for problem in problems:
        out.print(f"[bold red]hash chain BROKEN:[/] {escape(problem)} ({escape(source)})",
                  soft_wrap=True)
    for note in notes:
        out.print(escape(note), highlight=False, soft_wrap=True)
    sys.exit(code)


@case.command("repair")
@common_options
@click.argument("case_id")
@pass_settings
@handle_errors
def repair(settings: Settings, case_id: str) -> None:
    """Set aside an incomplete last line of CASE_ID's audit log (with --apply).

    A record whose write never finished (the process was killed, the disk filled) leaves
    a last line without a newline, and every command refuses the case until a responder
    has looked. This truncates that line and appends a `repaired` record holding its bytes
    (base64) and who repaired it, so nothing is lost and the chain continues. What the
    interrupted run did is in AWS, not in the log: check it with `irctl verify case`.
    Any other damage (an edited, dropped or unreadable record) is refused: restore the log
    from the evidence bucket's copy instead. Plans by default; --apply repairs.
    """
    import getpass

    from runbooks.core.audit import AuditLog, validate_case_id

    validate_case_id(case_id)
    settings.case_id = case_id
    log = AuditLog(case_id)
    if not log.exists():
        raise InvalidInput(f"no audit log for case {case_id} at {log.path}; check the id or "
                           "set IR_CASE_DIR")
    report = log.check()
    if report.ok:
        raise InvalidInput(f"the audit log {log.path} is whole: nothing to repair")
    if not report.repairable:
        raise PreconditionFailed(f"cannot repair {log.path}: {'; '.join(report.problems)}; "
                                 f"only an incomplete last line is repairable. "
                                 f"{report.advice()}")
    if not settings.apply:
        click.echo(f"{report.problems[0]}.\nRe-run with --apply to set it aside (recorded "
                   "in the log as a `repaired` record).")
        sys.exit(EXIT_OK)
    record = log.repair(getpass.getuser())
    click.echo(f"set aside {record['removedBytes']} bytes of line {record['line']} "
               f"(sha256 {record['removedSha256'][:12]}...); recorded as seq {record['seq']}. "
               f"Now check what the interrupted run left: irctl verify case {case_id}")
    sys.exit(EXIT_OK)


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
                                   session.ctx.manifest.evidence_bucket,
                                   session.ctx.evidence_encryption().get("SSEKMSKeyId"))
        except (ClientError, BotoCoreError) as err:
            if not is_queueable(err):
                raise
            audit_error = describe(err)
    code = EXIT_OK if report.ok and audit_error is None else EXIT_ACTION_FAILED
    if settings.structured:
        emit_document(settings, {"case": case_id, **report.to_dict(), "auditLog": audit_key,
                                 "auditLogError": audit_error, "exitCode": code})
        sys.exit(code)
    from rich.markup import escape

    out = out_console(settings)
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
        out.print(f"audit log copied to s3://{session.ctx.manifest.evidence_bucket}/"
                  f"{audit_key}", highlight=False)
    elif audit_error:
        out.print(f"[bold red]audit log NOT copied[/]: {escape(audit_error)}",
                  highlight=False, soft_wrap=True)
    if not (report.uploaded or report.already_there or report.still_queued):
        out.print("nothing queued", highlight=False)
    out.print(f"case {case_id}; {len(report.still_queued)} object(s) still queued; "
              f"exit code {code}", highlight=False)
    sys.exit(code)


def _evidence_copy(settings: Settings, case_id: str) -> EvidenceCopy:
    from runbooks.commands._shared import open_session
    from runbooks.core.audit import read_evidence_copy

    session = open_session(settings, new_case=False)
    copy = read_evidence_copy(session.ctx.client("s3"), session.ctx.manifest.evidence_bucket,
                              case_id)
    if copy.scan is None and not copy.problems:
        raise InvalidInput(f"no audit log for case {case_id} at {copy.location}; check the "
                           "id (it is copied after every --apply run)")
    return copy


def require_intact_case(settings: Settings, log: AuditLog) -> None:
    """Refuse (exit 2) unless the case's log is whole: locally, then against the evidence
    bucket copy of every account the case changed (each run copies the log to the bucket
    of the account it acted in), read there as `verify case` reads that account."""
    from runbooks.commands._analysis import read_session
    from runbooks.commands._shared import caller_identity, make_sessions
    from runbooks.workflows.fleet import account_settings, records_by_account

    log.require_intact()  # no AWS call for a log that is already known not to be whole
    own = str(caller_identity(make_sessions(settings), settings.region)["Account"])
    for account in records_by_account(log.records(), own):
        session = read_session(account_settings(settings, account, own))
        log.require_intact(session.client("s3"), session.manifest.evidence_bucket)


COMMANDS = [case]
