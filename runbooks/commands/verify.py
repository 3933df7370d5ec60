"""`irctl verify case ID`: does the containment of a case still hold?"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterable, Mapping
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
from runbooks.core.errors import (
    EXIT_ACTION_FAILED,
    EXIT_OK,
    InvalidInput,
    PreconditionFailed,
)
from runbooks.workflows.verify import case_checks

if TYPE_CHECKING:  # `irctl --help` imports command modules: keep them light
    from runbooks.core.step import Check

SH_FILTER_VALUES = 20  # string filter values per field in one GetFindings request
GD_FIELDS = {
    "instance": "resource.instanceDetails.instanceId",
    "access-key": "resource.accessKeyDetails.accessKeyId",
    "user": "resource.accessKeyDetails.userName",
    "bucket": "resource.s3BucketDetails.name",
    # a contained database is an instance or an Aurora cluster: either field names it
    "database": "resource.rdsDbInstanceDetails.dbInstanceIdentifier",
    "database-cluster": "resource.rdsDbInstanceDetails.dbClusterIdentifier",
}


def resources_of(records: Iterable[Mapping[str, Any]]) -> dict[str, set[str]]:
    """The case's contained resources, by GuardDuty resource kind."""
    found: dict[str, set[str]] = {kind: set() for kind in GD_FIELDS}
    for record in records:
        if record.get("event") != "applied":
            continue
        kind, target = record.get("kind"), str(record.get("target", ""))
        after = (record.get("change") or {}).get("after") or {}
        if kind == "instance" and target.startswith("i-"):
            found["instance"].add(target)
        if kind == "access-key" and target.startswith("AKIA"):
            found["access-key"].add(target)
        if after.get("user"):
            found["user"].add(str(after["user"]))
        if after.get("bucket"):
            found["bucket"].add(str(after["bucket"]))
        if kind == "database" and after.get("database"):
            found["database"].add(str(after["database"]))
            found["database-cluster"].add(str(after["database"]))
    return found


def new_guardduty_findings(client: Any, detector_id: str, resources: dict[str, set[str]],
                           since: datetime) -> list[dict[str, Any]]:
    ids: dict[str, None] = {}
    since_ms = int(since.timestamp() * 1000)
    for kind, field in GD_FIELDS.items():
        values = sorted(resources.get(kind, ()))
        for start in range(0, len(values), 50):
            criteria = {"Criterion": {
                field: {"Equals": values[start:start + 50]},
                "updatedAt": {"GreaterThanOrEqual": since_ms},
                "service.archived": {"Equals": ["false"]}}}
            pages = client.get_paginator("list_findings").paginate(
                DetectorId=detector_id, FindingCriteria=criteria)
            for page in pages:
                ids.update(dict.fromkeys(page.get("FindingIds", [])))
    findings: list[dict[str, Any]] = []
    listed = list(ids)
    for start in range(0, len(listed), 50):
        findings += client.get_findings(DetectorId=detector_id,
                                        FindingIds=listed[start:start + 50])["Findings"]
    return findings


def new_security_hub_findings(client: Any, resources: dict[str, set[str]],
                              since: datetime) -> list[dict[str, Any]]:
    values = sorted(v for kind in ("instance", "access-key", "bucket", "user", "database")
                    for v in resources.get(kind, ()))
    if not values:
        return []
    found: dict[str, dict[str, Any]] = {}
    now = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
    for start in range(0, len(values), SH_FILTER_VALUES):
        filters = {
            "ResourceId": [{"Value": v, "Comparison": "CONTAINS"}
                           for v in values[start:start + SH_FILTER_VALUES]],
            "UpdatedAt": [{"Start": since.isoformat().replace("+00:00", "Z"), "End": now}],
            "RecordState": [{"Value": "ACTIVE", "Comparison": "EQUALS"}],
            "WorkflowStatus": [{"Value": "SUPPRESSED", "Comparison": "NOT_EQUALS"},
                               {"Value": "RESOLVED", "Comparison": "NOT_EQUALS"}],
        }
        for page in client.get_paginator("get_findings").paginate(Filters=filters):
            for finding in page.get("Findings", []):
                found[finding["Id"]] = finding
    return list(found.values())


def _since(record: Mapping[str, Any]) -> datetime:
    return datetime.fromisoformat(str(record["time"]).replace("Z", "+00:00"))


def verify_account(settings: Settings, account: str, records: list[Mapping[str, Any]],
                   sources: list[str] | None = None) -> list[Check]:
    """Every check of one account's part of the case, made in that account. A finding
    source or the trail status that cannot be read gives an `unknown` check (with the
    error) and the other checks go on; `sources` collects the names of those read."""
    from runbooks.analysis.sources import failure, read_errors
    from runbooks.commands._analysis import read_session

    session = read_session(settings)
    if session.manifest.account_id != account:
        raise PreconditionFailed(
            f"the case changed account {account}, but the session opened for it reads "
            f"account {session.manifest.account_id}'s manifest; check --account/--role-name")
    from runbooks.core.context import Context
    from runbooks.core.step import Check

    ctx = Context(sessions=session.sessions, manifest=session.manifest,
                  case_id=str(records[0].get("case", "")), account_id=account,
                  region=session.region)
    checks: list[Check] = [dataclasses.replace(check, account=account)
                           for _, check in case_checks(ctx, records)]

    since = min(_since(r) for r in records if r.get("event") in ("applied", "applying"))
    resources = resources_of(records)
    manifest = session.manifest
    read = sources if sources is not None else []

    def unknown(area: str, source: str, what: str, err: BaseException,
                operation: str) -> Check:
        failed = failure(source, err, operation)
        return Check(area, source, what, "none" if area == "findings" else "logging",
                     f"cannot check: {failed.error.text()}", False, account, failed)

    detector = manifest.guard_duty_detector_id
    gd_source = f"GuardDuty detector {detector} ({account})"
    read.append(gd_source)
    found: list[Check] = []
    try:
        gd = new_guardduty_findings(session.client("guardduty"), detector, resources, since)
    except read_errors() as err:
        gd = []
        found.append(unknown("findings", gd_source, "GuardDuty findings since containment "
                             f"({since:%Y-%m-%d %H:%M}Z)", err, "ListFindings"))
    gd_arns = {f.get("Arn") for f in gd}
    for finding in gd:
        found.append(Check("findings", finding.get("Id", ""), "GuardDuty finding since "
                           f"containment ({since:%Y-%m-%d %H:%M}Z)", "none",
                           f"{finding.get('Type')} updated {finding.get('UpdatedAt')}", False,
                           account))
    if manifest.security_hub_enabled:
        hub_source = f"Security Hub ({account})"
        read.append(hub_source)
        try:
            hub = new_security_hub_findings(session.client("securityhub"), resources, since)
        except read_errors() as err:
            hub = []
            found.append(unknown("findings", hub_source, "Security Hub findings since "
                                 f"containment ({since:%Y-%m-%d %H:%M}Z)", err, "GetFindings"))
        for finding in hub:
            if finding["Id"] in gd_arns:
                continue  # the same GuardDuty finding, imported
            found.append(Check("findings", finding["Id"], "Security Hub finding since "
                               "containment", "none",
                               f"{finding.get('Title')} updated {finding.get('UpdatedAt')}",
                               False, account))
    if not found:
        searched = sum(len(v) for v in resources.values())
        found.append(Check("findings", f"{searched} resource(s)", "findings since "
                           f"containment ({since:%Y-%m-%d %H:%M}Z)", "none", "none", True,
                           account))
    checks += found
    trail_source = f"CloudTrail trail status ({account})"
    read.append(trail_source)
    try:
        status = session.client("cloudtrail").get_trail_status(Name=manifest.trail.arn)
    except read_errors() as err:
        checks.append(dataclasses.replace(
            unknown("trail", trail_source, "trail logging", err, "GetTrailStatus"),
            target=manifest.trail.arn))
        return checks
    logging = bool(status.get("IsLogging"))
    checks.append(Check("trail", manifest.trail.arn, "trail logging", "logging",
                        "logging" if logging else "STOPPED", logging, account))
    return checks


@click.group(name="verify")
def verify() -> None:
    """Re-check that what was done still holds (read-only)."""


@verify.command("case")
@common_options
@click.argument("case_id")
@pass_settings
@handle_errors
def verify_case(settings: Settings, case_id: str) -> None:
    """Re-check CASE_ID: containment still in place, no new findings, trail logging.

    From the case's audit log: every reversible change still applied is checked against
    AWS by its step's own verify (ENI security groups, instance profile, protection,
    tags, state, Auto Scaling and load balancer membership, Elastic IP, access key
    status, user and role deny policies, console password, network ACL deny entries,
    bucket policy, ACL, public-access block and versioning, ...), plus every ENI the
    isolated instance has now, the quarantine groups' rules, the revoke-sessions
    document's cutoff and the deny-all policy's document; GuardDuty and Security Hub
    are searched for findings on the case's resources updated since the containment;
    the manifest's trail must still be logging. Exit code 1 when anything no longer
    holds; else 3 when a check or source (one change's check, GuardDuty, Security Hub,
    the trail status) could not be read: it is shown as unknown, with the error code and
    request id, and every other check is still made.
    """
    from runbooks.analysis.sources import source_status, with_partial
    from runbooks.commands._shared import caller_identity, make_sessions
    from runbooks.commands.case import require_intact_case
    from runbooks.core.audit import AuditLog, validate_case_id
    from runbooks.workflows.fleet import account_settings, records_by_account

    validate_case_id(case_id)
    log = AuditLog(case_id)
    if not log.exists():
        raise PreconditionFailed(
            f"no audit log for case {case_id} at {log.path}; set IR_CASE_DIR to where the "
            "case was run (or copy cases/<case>/audit.jsonl from the evidence bucket there)")
    require_intact_case(settings, log)
    records = log.records()
    applied = [r for r in records if r.get("event") in ("applied", "applying")]
    if not applied:
        raise PreconditionFailed(f"case {case_id} applied nothing yet: nothing to verify")
    if {r.get("case") for r in records} != {case_id}:
        raise PreconditionFailed(f"audit log {log.path} holds records of another case")
    # A record without `account` was made in the account these credentials act in.
    own = str(caller_identity(make_sessions(settings), settings.region)["Account"])
    by_account = records_by_account(records, own)
    others = [a for a in by_account if a != own]
    if others and settings.manifest_path:
        raise InvalidInput(
            f"--manifest describes one account, but case {case_id} changed accounts "
            f"{', '.join(sorted(by_account))}; drop --manifest so each account's manifest is "
            "read from SSM there")
    checks: list[Check] = []
    sources: list[str] = []
    for account, account_records in by_account.items():
        checks += verify_account(account_settings(settings, account, own), account,
                                 account_records, sources)
    from runbooks.analysis.sources import SourceFailure

    failures = [c.error for c in checks if isinstance(c.error, SourceFailure)]
    broken = sum(c.status == "broken" for c in checks)
    ok = broken == 0 and not failures
    # 1 when a check no longer holds; else 3 (partial) when a source could not answer.
    code = with_partial(EXIT_ACTION_FAILED if broken else EXIT_OK, failures)
    for failed in failures:
        click.echo(f"error: source {failed.text()}", err=True)
    if settings.structured:
        since = min(_since(r) for r in applied)
        emit_document(settings, {"case": case_id, "ok": ok, "exitCode": code,
                                 "since": since.isoformat(), "accounts": list(by_account),
                                 "partial": bool(failures),
                                 "sourceStatus": source_status(sources, failures),
                                 "checks": [c.to_dict() for c in checks]})
        sys.exit(code)
    from rich.markup import escape
    from rich.table import Table

    out = out_console(settings)
    table = Table(title=f"case {case_id}: verification", title_justify="left")
    for column in ("Area", "Account", "Target", "Check", "Expected", "Actual", ""):
        table.add_column(column, overflow="fold")
    verdict = {"holds": "[green]holds[/]", "broken": "[bold red]NO LONGER HOLDS[/]",
               "unknown": "[bold yellow]UNKNOWN[/] (source failed)"}
    for c in checks:
        table.add_row(*(escape(v) for v in (c.area, c.account, c.target, c.what, c.expected,
                                             c.actual)), verdict[c.status])
    out.print(table)
    if ok:
        out.print("[green]everything holds[/]")
    else:
        parts = [f"{broken} check(s) no longer hold"] if broken else []
        parts += [f"{len(failures)} source(s) failed: those checks are unknown"] if failures \
            else []
        out.print(f"[bold red]{'; '.join(parts)}[/]; exit code {code}", highlight=False)
    sys.exit(code)


COMMANDS = [verify]
