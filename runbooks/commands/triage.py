"""`irctl triage`: what happened, to what, by whom, and which playbook to run."""

from __future__ import annotations

import json
import re
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from runbooks.commands._shared import (
    Settings,
    common_options,
    handle_errors,
    out_console,
    pass_settings,
)
from runbooks.core.errors import ActionFailed, InvalidInput, PreconditionFailed

if TYPE_CHECKING:
    from runbooks.analysis.findings import Finding
    from runbooks.analysis.sources import SourceFailure
    from runbooks.commands._shared import Session

_DURATION = re.compile(r"^(\d+)([mhd])$")
_GUARDDUTY_ID = re.compile(r"^[0-9a-f]{32}$")
_GUARDDUTY_ARN = re.compile(
    r"^arn:aws[a-z-]*:guardduty:[a-z0-9-]+:[0-9]{12}:detector/[0-9a-z]+/finding/([0-9a-f]{32})$"
)
MAX_FINDINGS = 20
CLOCK_SKEW = timedelta(minutes=5)


def parse_duration(option: str, value: str) -> timedelta:
    match = _DURATION.match(value.strip())
    if not match:
        raise InvalidInput(f"{option} {value!r}: give a duration such as 90m, 24h or 7d")
    amount, unit = int(match.group(1)), match.group(2)
    return {"m": timedelta(minutes=amount), "h": timedelta(hours=amount),
            "d": timedelta(days=amount)}[unit]


def read_finding_input(path: str) -> Any:
    """The JSON document in FILE, or on stdin for '-'; InvalidInput when unreadable."""
    source = "stdin" if path == "-" else path
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise InvalidInput(f"cannot read finding file {source}: {err.strerror}") from err
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise InvalidInput(f"finding in {source} is not valid JSON: {err}") from err


def fetch_finding(session: Session, finding_id: str) -> tuple[Any, list[SourceFailure]]:
    """A finding by id: GuardDuty ids/ARNs from the manifest's detector, else Security Hub
    (which also holds GuardDuty's findings, under their ARN). A source that fails is
    returned with the finding the other one found; ActionFailed when none could answer."""
    from runbooks.analysis.sources import failure, read_errors
    from runbooks.core.accounts import partition_of

    manifest, region = session.ctx.manifest, session.ctx.region
    detector = manifest.guard_duty_detector_id
    arn_match = _GUARDDUTY_ARN.match(finding_id)
    gd_id = arn_match.group(1) if arn_match else (
        finding_id if _GUARDDUTY_ID.match(finding_id) else None)
    searched: list[str] = []
    failures: list[SourceFailure] = []
    if gd_id:
        try:
            response = session.ctx.client("guardduty").get_findings(
                DetectorId=detector, FindingIds=[gd_id])
        except read_errors() as err:
            failures.append(failure(f"GuardDuty detector {detector}", err, "GetFindings"))
        else:
            if response.get("Findings"):
                return response, failures
            searched.append(f"GuardDuty detector {detector}")
    if manifest.security_hub_enabled:
        ids = [finding_id]
        if gd_id and not arn_match:  # Security Hub's Id of a GuardDuty finding is its ARN
            ids.append(f"arn:{partition_of(region)}:guardduty:{region}:"
                       f"{session.ctx.account_id}:detector/{detector}/finding/{gd_id}")
        try:
            response = session.ctx.client("securityhub").get_findings(
                Filters={"Id": [{"Value": i, "Comparison": "EQUALS"} for i in ids]},
                MaxResults=10)
        except read_errors() as err:
            failures.append(failure("Security Hub", err, "GetFindings"))
        else:
            matches = [f for f in response.get("Findings", []) if f.get("Id") in ids]
            if matches:
                return {"Findings": matches[:1]}, failures
            searched.append("Security Hub")
    if failures:
        raise ActionFailed(
            f"could not fetch finding {finding_id}: "
            + "; ".join(f.text() for f in failures)
            + (f"; not in {' or '.join(searched)}" if searched else "")
            + "; retry, or pass the finding as a file with --finding")
    if not searched:
        raise InvalidInput(
            f"{finding_id!r} is not a GuardDuty finding id or ARN, and Security Hub is not "
            "enabled in this account's readiness stack; pass the finding with --finding")
    raise InvalidInput(
        f"no finding {finding_id} in {' or '.join(searched)} in "
        f"{region}; check the id and --region, or pass the finding as a file "
        "with --finding")


def check_scope(findings: list[Finding], account_id: str, region: str) -> None:
    """Refuse findings of another account or region: nothing is called or changed."""
    for finding in findings:
        if finding.account_id != account_id:
            raise PreconditionFailed(
                f"finding {finding.id} is for account {finding.account_id}, but the manifest "
                f"and your credentials are for account {account_id}; triage it with that "
                "account's credentials and manifest (nothing was changed)")
        if finding.region != region:
            raise PreconditionFailed(
                f"finding {finding.id} is from region {finding.region}, but this run is for "
                f"{region}; re-run with --region {finding.region} (nothing was changed)")


def window(findings: list[Finding], before: timedelta, after: timedelta,
           now: datetime) -> tuple[datetime, datetime]:
    first = min((f.first_seen or f.last_seen or now) for f in findings)
    last = max((f.last_seen or f.first_seen or now) for f in findings)
    return first - before, min(now, last + after)


@click.command()
@common_options
@click.option("--finding", "finding_path", metavar="FILE|-",
              help="Finding JSON: GuardDuty (EventBridge event, its detail, or get-findings "
                   "output) or Security Hub ASFF (finding, get-findings output, or "
                   "EventBridge 'Security Hub Findings - Imported' event). '-' reads stdin.")
@click.option("--finding-id", metavar="ID",
              help="Fetch the finding: a GuardDuty finding id or ARN (from the manifest's "
                   "detector), or a Security Hub finding Id.")
@click.option("--before", "before_text", default="24h", show_default=True,
              help="CloudTrail window opens this long before the finding was first seen.")
@click.option("--after", "after_text", default="1h", show_default=True,
              help="...and closes this long after it was last seen (never after now).")
@click.option("--cloudtrail", "source", type=click.Choice(["auto", "api", "s3", "both"]),
              default="auto", show_default=True,
              help="api: LookupEvents (90 days, management events); s3: the trail's log "
                   "files; auto: LookupEvents within 90 days, log files beyond.")
@click.option("--data-events", is_flag=True,
              help="Also read the trail's S3 log files, which hold data events (S3 object "
                   "reads, Lambda invokes) that LookupEvents never returns.")
@click.option("--no-notify", is_flag=True,
              help="Leave the Security Hub workflow status alone.")
@pass_settings
@handle_errors
def triage(settings: Settings, finding_path: str | None, finding_id: str | None,
           before_text: str, after_text: str, source: str, data_events: bool,
           no_notify: bool) -> None:
    """Triage a GuardDuty or Security Hub finding into a case.

    Names the affected resources and principals, the severity and type, and the
    playbook to run; pulls the related CloudTrail activity (LookupEvents and/or the
    trail's S3 log files) into a timeline, saved locally in the case directory and,
    with --apply, to the evidence bucket (cases/<case>/timeline.md and .json); with
    --apply also moves the Security Hub finding's workflow from NEW to NOTIFIED.

    \b
    Examples:
      irctl triage --finding finding.json
      aws guardduty get-findings ... | irctl triage --finding - --apply
      irctl triage --finding-id 42c4c7fb8c2f4a3c9d1e5b6a7f8e9d0c --data-events --apply
    """
    from runbooks.analysis.cloudtrail import subjects_for
    from runbooks.analysis.findings import parse_findings
    from runbooks.analysis.sources import failure, read_errors, source_status
    from runbooks.analysis.timeline import Timeline
    from runbooks.commands._analysis import ReadSession, gather, regions_for
    from runbooks.commands._shared import (
        make_runner,
        open_session,
        progress,
        render_results,
    )
    from runbooks.core.runner import StepCall
    from runbooks.steps.evidence import case_file_key, sha256_file
    from runbooks.steps.securityhub import find_finding

    # Bad input is refused before any AWS call.
    if bool(finding_path) == bool(finding_id):
        raise InvalidInput("give exactly one of --finding FILE|- and --finding-id ID")
    before = parse_duration("--before", before_text)
    after = parse_duration("--after", after_text)
    document = read_finding_input(finding_path) if finding_path else None
    findings = parse_findings(document, finding_path or "") if document is not None else []
    if len(findings) > MAX_FINDINGS:
        raise InvalidInput(f"{len(findings)} findings in one input; triage at most "
                           f"{MAX_FINDINGS} at a time")

    session = open_session(settings)
    ctx = session.ctx
    failures: list[SourceFailure] = []
    if finding_id:
        fetched, failures = fetch_finding(session, finding_id)
        findings = parse_findings(fetched, f"finding {finding_id}")
    check_scope(findings, ctx.account_id, ctx.region)

    now = datetime.now(timezone.utc)
    future = [f for f in findings if (f.first_seen or now) > now + CLOCK_SKEW]
    if future:
        raise InvalidInput(
            f"finding {future[0].id} was first seen at {future[0].first_seen:%Y-%m-%dT%H:%M:%SZ}"
            f", in the future (now is {now:%Y-%m-%dT%H:%M:%SZ}); check the finding's "
            "timestamps and this machine's clock (nothing was changed)")
    start, end = window(findings, before, after, now)
    subjects = subjects_for(findings)
    include_global = any(f.principals for f in findings) or any(
        r.kind in ("iam-user", "iam-role", "access-key") for f in findings for r in f.resources)
    reader = ReadSession(session.sessions, ctx.manifest, ctx.region, session.identity)
    with progress(settings, "triage") as listener:
        listener("cloudtrail", f"reading {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M}")
        activity = gather(reader, subjects, start, end, source, data_events,
                          regions_for(ctx.region, include_global))
    # The timeline says which sources failed: it is incomplete, and its readers must know.
    activity.failures[:0] = failures
    timeline = Timeline(ctx.case_id, findings, activity, now)

    # The timeline is kept in the case directory first; --apply copies it to evidence.
    session.audit.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    local: dict[str, Path] = {}
    for name, text in (("timeline.json", json.dumps(timeline.to_json(), indent=2)),
                       ("timeline.md", timeline.to_markdown())):
        path = session.audit.directory / name
        path.write_text(text, encoding="utf-8")
        path.chmod(0o600)
        local[name] = path
    pipelines: dict[str, list[StepCall]] = {
        "timeline": [
            StepCall("evidence.write-case-file",
                     {"name": name, "path": str(path), "sha256": sha256_file(path)})
            for name, path in local.items()
        ]
    }
    warnings: list[str] = []
    notify_failures: list[SourceFailure] = []
    bucket = ctx.manifest.evidence_bucket
    if not no_notify and ctx.manifest.security_hub_enabled:
        hub = ctx.client("securityhub")
        for finding in findings:
            ident = finding.security_hub_identifier()
            try:
                held = find_finding(hub, ident["Id"], ident["ProductArn"])
            except read_errors() as err:
                notify_failures.append(failure(f"Security Hub workflow of {ident['Id']}",
                                               err, "GetFindings"))
                warnings.append(f"Security Hub could not be read: the workflow of "
                                f"{ident['Id']} was not changed")
                continue
            if held is None:
                warnings.append(f"Security Hub has no finding {ident['Id']} (not imported "
                                "yet?): its workflow was not changed")
                continue
            note = (f"Triaged by irctl, case {ctx.case_id}: playbook "
                    f"{finding.playbook or 'none'}; timeline s3://{bucket}/"
                    f"{case_file_key(ctx.case_id, 'timeline.md')}")
            pipelines[ident["Id"]] = [StepCall("securityhub.notify-finding", {
                "finding_id": ident["Id"], "product_arn": ident["ProductArn"], "note": note})]
    elif not no_notify:
        warnings.append("Security Hub is not enabled in the manifest: no workflow to update")

    with progress(settings, "triage") as listener:
        result = make_runner(session, listener).run("triage", pipelines)
    result.warnings.extend(warnings + [f"note: {n}" for n in activity.notes])
    failed = activity.failures + notify_failures
    if session.scratch is not None:
        # A plan without --case keeps no case directory: say so rather than print paths
        # that are gone when irctl exits.
        result.warnings.append("plan without --case: the timeline was not kept; pass "
                               f"--case {ctx.case_id} (or --apply) to keep it")

    summary = {
        "findings": [f.to_dict() for f in findings],
        "playbooks": sorted({f.playbook for f in findings if f.playbook}),
        "timeline": {
            "events": len(activity.events),
            "window": {"start": start.isoformat(), "end": end.isoformat()},
            "sources": activity.sources,
            "local": ({name: str(path) for name, path in local.items()}
                      if session.scratch is None else None),
            "s3": {name: f"s3://{bucket}/{case_file_key(ctx.case_id, name)}"
                   for name in local},
        },
        "sourceStatus": source_status(activity.sources, failed),
        "partial": bool(failed),
    }
    if not settings.structured:
        _print_summary(findings, timeline)
    sys.exit(render_results(settings, [result], summary, failed))


def finding_state(finding: Finding) -> str:
    """What a responder needs to know before acting: sample, archived, workflow."""
    parts = []
    if finding.sample:
        parts.append("SAMPLE")
    if finding.archived:
        parts.append("ARCHIVED")
    elif finding.record_state:
        parts.append(finding.record_state)
    if finding.workflow_status:
        parts.append(f"workflow {finding.workflow_status}")
    if finding.resource_role:
        parts.append(f"resource is {finding.resource_role}")
    return "\n".join(parts) or "active"


def _print_kubernetes(out: Any, finding: Finding) -> None:
    """What an EKS finding names, and the node's containment command when it names one."""
    from rich.markup import escape

    k8s = finding.kubernetes
    assert k8s is not None
    named = [("cluster", k8s.cluster), ("namespace", k8s.namespace),
             ("pod" if k8s.pod else "workload",
              k8s.pod or (f"{k8s.workload_type}/{k8s.workload}" if k8s.workload else None)),
             ("containers", ", ".join(k8s.containers) or None), ("node", k8s.node_instance_id),
             ("kubernetes user", k8s.user), ("process", k8s.process)]
    text = "; ".join(f"{what} {value}" for what, value in named if value)
    out.print(f"[bold]eks:[/] finding {escape(finding.id)}: {escape(text)}", highlight=False)
    if k8s.node_instance_id and k8s.cluster and finding.playbook != "compromised-eks-node":
        out.print(f"  if the container escaped to the node: [bold]irctl contain node "
                  f"{escape(k8s.node_instance_id)} --cluster {escape(k8s.cluster)}[/] "
                  "(playbook compromised-eks-node)", highlight=False)


def _print_summary(findings: list[Finding], timeline: Any) -> None:
    from rich.markup import escape
    from rich.table import Table

    from runbooks.analysis.playbooks import containment_command, unsupported_reason

    out = out_console()
    table = Table(title="findings", title_justify="left")
    for column in ("Type", "Severity", "State", "Resources", "Principals", "Playbook"):
        table.add_column(column, overflow="fold")
    for finding in findings:
        unsupported = unsupported_reason(finding.type, finding.resource_type,
                                         finding.kubernetes.subject if finding.kubernetes else None)
        table.add_row(
            escape(finding.type or finding.title),
            f"{finding.severity_label} {finding.severity:g}",
            escape(finding_state(finding)),
            escape("\n".join(f"{r.kind} {r.id}" for r in finding.resources)),
            escape("\n".join(p.arn or p.name for p in finding.principals)
                   or "\n".join(finding.remote_ips)),
            escape(finding.playbook) if finding.playbook else
            f"[yellow]none[/] ({escape(unsupported)})" if unsupported else "[yellow]none[/]",
        )
    out.print(table)
    for finding in findings:
        if finding.kubernetes:
            _print_kubernetes(out, finding)
    for finding in findings:
        inactive = finding.inactive_reason()
        if inactive:
            out.print(f"[yellow]note:[/] finding {escape(finding.id)}: {escape(inactive)}; "
                      "no playbook should act on it", highlight=False)
    entries = timeline.entries()
    events = Table(title=f"timeline ({len(entries)} entries; last 25 shown)",
                   title_justify="left")
    for column in ("Time (UTC)", "What", "Who", "Where"):
        events.add_column(column, overflow="fold")
    for entry in entries[-25:]:
        events.add_row(f"{entry.time:%Y-%m-%d %H:%M:%S}", entry.what, entry.who, entry.where)
    out.print(events)
    for finding in findings:
        if finding.playbook and not finding.inactive_reason():
            out.print(f"next: [bold]irctl playbook run {finding.playbook}[/] "
                      f"(finding {finding.id})", highlight=False)
            command = containment_command(finding.playbook,
                                          [(r.kind, r.id) for r in finding.resources])
            if command:
                out.print(f"  or: [bold]{escape(command)}[/] (its containment phase)",
                          highlight=False)
        if not finding.inactive_reason():
            for command in finding.api_call_commands():
                out.print(f"next: [bold]{escape(command)}[/] (finding {finding.id}: API call "
                          f"{escape(finding.api_call or '')}; playbook "
                          "compromised-secret-or-key)", highlight=False)


COMMANDS = [triage]
