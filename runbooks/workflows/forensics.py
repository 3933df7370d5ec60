"""`case share-snapshots`: copy a case's snapshots for the forensic account and share them.

Three runs of the runner, so every change is a registered step in the case's log: copy
every case snapshot of the region (`ec2.copy-snapshot`, all at once), wait for the copies
(bounded, with progress; EBS copies take minutes per GiB changed), then per completed
copy write its description file as evidence and share it (`ec2.record-snapshot-copy`,
`ec2.share-snapshot`). A copy still pending when the wait ends is reported (exit 1) and
the next run picks it up where it is: plans are empty for what is already done.
"""

from __future__ import annotations

from typing import Any

from runbooks.core.errors import EXIT_ACTION_FAILED, InvalidInput, PreconditionFailed
from runbooks.workflows.session import (
    SILENT,
    Feedback,
    Outcome,
    Settings,
    make_runner,
    open_session,
)

KIND = "snapshot"
MAX_WAIT_MINUTES = 240


def share_snapshots(settings: Settings, case_id: str, *, wait_minutes: float = 30,
                    poll_seconds: float = 15, feedback: Feedback = SILENT) -> Outcome:
    """Copy (re-encrypted with the stack key), describe and share the case's snapshots of
    this region with the manifest's forensic account; refuses (exit 2) when none is
    configured, the case's log is not whole, or the case has no snapshots here."""
    from runbooks.core.audit import validate_case_id
    from runbooks.core.runner import StepCall, TargetOutcome
    from runbooks.steps.forensics import (
        case_source_snapshots,
        copy_of,
        forensic_account,
        wait_for_copies,
    )

    validate_case_id(case_id)
    if not 0 <= wait_minutes <= MAX_WAIT_MINUTES:
        raise InvalidInput(f"--wait-minutes {wait_minutes:g}: must be 0 to "
                           f"{MAX_WAIT_MINUTES}")
    settings.case_id = case_id
    session = open_session(settings, new_case=False, feedback=feedback)
    ctx = session.ctx
    account = forensic_account(ctx)  # exit 2 naming the setting when not configured
    if not session.audit.exists():
        raise PreconditionFailed(f"no audit log for case {case_id} at {session.audit.path}; "
                                 "set IR_CASE_DIR to where the case was run")
    session.audit.require_intact(ctx.client("s3"), ctx.manifest.evidence_bucket)
    sources = [str(s["SnapshotId"]) for s in case_source_snapshots(ctx)]
    if not sources:
        raise PreconditionFailed(
            f"case {case_id} has no snapshots in {ctx.region} (tag ir:case={case_id}): "
            "contain the instance first (`irctl contain instance`, step ec2.snapshot-volumes)"
            ", or pass the --region it was contained in")
    extra: dict[str, Any] = {"forensicAccount": account, "sourceSnapshots": sources}
    with feedback.progress("copy snapshots") as listener:
        copied = make_runner(session, listener).run(
            KIND, {s: [StepCall("ec2.copy-snapshot", {"snapshot_id": s})] for s in sources})
    results = [copied]
    if copied.exit_code != 0:
        return Outcome(results, extra)
    pending: dict[str, str] = {}
    if settings.apply:
        with feedback.job(f"{len(sources)} snapshot copies") as update:
            pending = wait_for_copies(ctx, sources, update, poll_seconds, wait_minutes * 60)
    else:  # a plan does not wait: only copies already completed are planned further
        for source in sources:
            copy = copy_of(ctx, source)
            if copy is None or copy.get("State") != "completed":
                pending[source] = "not copied yet" if copy is None else str(copy.get("State"))
    ready = [s for s in sources if s not in pending]
    if ready:
        with feedback.progress("record and share copies") as listener:
            shared = make_runner(session, listener).run(KIND, {s: [
                StepCall("ec2.record-snapshot-copy", {"snapshot_id": s}),
                StepCall("ec2.share-snapshot", {"snapshot_id": s})] for s in ready})
        results.append(shared)
    extra["copies"] = {s: (copy_of(ctx, s) or {}).get("SnapshotId") for s in sources}
    extra["pending"] = pending
    if pending and settings.apply:
        for source, state in pending.items():
            session.audit.append("copy-pending", kind=KIND, target=source, state=state,
                                 account=ctx.account_id)
            results[-1].targets.append(TargetOutcome(
                KIND, source, error=(f"copy not completed after {wait_minutes:g} min "
                                     f"({state}): not yet described or shared; it continues "
                                     f"in EBS: re-run `irctl case share-snapshots {case_id} "
                                     "--apply` later"),
                error_code=EXIT_ACTION_FAILED))
    return Outcome(results, extra)
