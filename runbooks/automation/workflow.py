"""The automation's response to one routed finding: everything that touches AWS.

`respond()` takes a finding `runbooks.automation.routing.route()` accepted and

1. acts in the finding's account: this one, or a member account through the configured
   member responder role whose own manifest must describe it (else a refusal, posted to
   the high topic);
2. claims the case in the evidence bucket (`runbooks.core.claims.claim_case`): a second
   delivery of the finding stops there;
3. in `apply` mode, falls back to a plan when a target carries the opt-out tag or the
   hourly cap of automated containments is reached;
4. runs the playbook's containment phase through the runner (audit log copied to the
   evidence bucket, per-target claims, rollback on failure, the playbook's own note);
5. finishes through the runner too, so every write is audited and shown by `irctl case
   show`: the marker counting the containment towards the cap
   (`automation.count-containment`), the Security Hub workflow NEW -> NOTIFIED
   (`securityhub.notify-finding`), and the summary to the high topic (`sns.notify`).

It returns what happened (`Refused`, `Finished`, or a routing `Skip` for a duplicate);
`runbooks.automation.handler` renders it (log line, metrics, return value). A failed
containment comes back as `Finished.failure`, for the handler to raise after rendering:
Lambda retries and the dead-letter queue keeps the event. A write that fails after the
containment (the notification, the marker, Security Hub past its retries) records the
claim `failed` and raises at once, so the retry finishes the job (plans are empty for
what is done).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from runbooks.automation.routing import AUTOMATED_PHASES, Route, Skip, opted_out, target_name
from runbooks.core.audit import AuditLog
from runbooks.core.claims import CaseClaim, ClaimArchived, case_claim_key, claim_case
from runbooks.core.context import EVIDENCE_MAX_ATTEMPTS, Context
from runbooks.core.errors import (
    EXIT_BAD_INPUT,
    EXIT_OK,
    ActionFailed,
    InvalidInput,
    PreconditionFailed,
)
from runbooks.core.evidence_queue import describe, is_queueable
from runbooks.core.runner import Runner, RunResult, StepCall

if TYPE_CHECKING:
    from runbooks.analysis.findings import Finding
    from runbooks.automation.config import AutomationConfig
    from runbooks.core.context import SessionFactory
    from runbooks.core.manifest_schema import Manifest

LOG = logging.getLogger("runbooks.automation")

FINISH_CALLS = 2
"""Worst-case calls kept in reserve after the last change: the claim and the notification."""

# Security Hub answers these when it is not enabled here, or the role may not use it:
# the containment stands, the message says the workflow was not updated.
SECURITY_HUB_UNAVAILABLE = ("InvalidAccessException", "AccessDeniedException", "AccessDenied")

Metric = tuple[dict[str, tuple[float, str]], dict[str, str], dict[str, Any]]
"""One EMF document to print: metrics (value, unit), dimensions, properties."""


class AutomationFailed(ActionFailed):
    """The containment failed; raised so Lambda retries and the DLQ keeps the event."""


@dataclass
class Refused:
    """A finding automation would have acted on, refused before any change (already
    posted to the high topic)."""

    reason: str
    message: str
    playbook: str
    params: dict[str, str]


@dataclass
class Finished:
    """A case run to its end: the result to return, its log line and metrics."""

    summary: dict[str, Any]
    metrics: list[Metric]
    failure: AutomationFailed | None = None


@dataclass
class Outcome:
    case_id: str
    playbook: str
    params: dict[str, str]
    mode: str
    reasons: list[str] = field(default_factory=list)
    results: list[RunResult] = field(default_factory=list)
    stopped_at: str | None = None
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    """What this run could not do besides containment (evidence bucket failing)."""
    deadline: float | None = None
    """`time.monotonic()` the runner must start no change after (from the Lambda's
    remaining time, less the reserve for finishing)."""
    metrics: list[Metric] = field(default_factory=list)
    ctx: Context | None = None
    audit: AuditLog | None = None
    """The case's context and log the containment ran with (None when it never
    started): the finishing runs continue them."""

    def changes(self, status: str | None = None) -> list[dict[str, Any]]:
        return [{"target": t.target, "step": c.change.step, "summary": c.change.summary,
                 "status": c.status, "error": c.error}
                for r in self.results if r.kind != "notify" for t in r.targets
                for c in t.changes if status is None or c.status == status]

    @property
    def exit_code(self) -> int:
        from runbooks.core.errors import combine_exit_codes

        return combine_exit_codes([r.exit_code for r in self.results])

    def evidence_queued(self) -> list[dict[str, Any]]:
        return list(self.results[-1].evidence_queued) if self.results else []


# -- the case's own writes, through the runner ---------------------------------------------


@dataclass
class CaseWriter:
    """Runs the automation's own writes of one case as runner steps (always applied:
    they are the automation's reporting, not containment; plan mode posts its plan too)."""

    ctx: Context
    audit: AuditLog

    def run(self, kind: str, target: str, call: StepCall, *, upload: bool = False
            ) -> RunResult:
        """One write as a one-step run. `upload`: copy the case's audit log to the
        evidence bucket afterwards (the last write of a case does, once for all)."""
        # The reserve kept from the containment's deadline is for exactly these writes;
        # they do not wait for another run's claim on their target either (a triage
        # moving the same finding's workflow): refused at once, reported as a warning.
        self.ctx.deadline = None
        return Runner(self.ctx, self.audit, apply=True, upload_audit=upload,
                      claim_wait=0.0).run(kind, {target: [call]})

    def publish(self, subject: str, message: str) -> None:
        """The summary to the high topic; raises AutomationFailed when it did not go."""
        result = self.run("notify", "automation-summary", StepCall("sns.notify", {
            "severity": "high", "subject": subject, "message": message}), upload=True)
        [target] = result.targets
        if target.error is not None:
            raise AutomationFailed(f"case {self.ctx.case_id}: the notification to the high "
                                   f"topic failed: {target.error}")


def case_writer(sessions: SessionFactory, manifest: Manifest, region: str,
                case_id: str) -> CaseWriter:
    ctx = Context(sessions=sessions, manifest=manifest, case_id=case_id,
                  account_id=manifest.account_id, region=region)
    audit = AuditLog(case_id)
    # every record names its operator (the Lambda's role session), as a CLI run's does
    identity = sessions.client("sts", region).get_caller_identity()
    audit.set_operator(str(identity.get("Arn", "")), str(identity["Account"]))
    return CaseWriter(ctx, audit)


_AWS_ERROR = re.compile(r"^\w+ failed: ([\w.]+)")
"""The error code in the runner's rendering of a ClientError (`Op failed: Code: ...`)."""


def aws_error_code(message: str) -> str | None:
    match = _AWS_ERROR.match(message)
    return match.group(1) if match else None


# -- responding to a finding ----------------------------------------------------------------


def respond(finding: Finding, routed: Route, config: AutomationConfig,
            sessions: SessionFactory, region: str, received: datetime,
            ends_at: float | None = None) -> Skip | Refused | Finished:
    """Act on a routed finding (see the module's docstring)."""
    from runbooks.core.manifest import load_manifest

    playbook, params, case_id = routed.playbook, routed.params, routed.case_id
    manifest = load_manifest(sessions, region)  # missing manifest: raise, it is a deploy bug
    member: str | None = None
    if finding.account_id != manifest.account_id:
        # An organisation's security account receives every member's findings: a role
        # or bucket name in account B must never be acted on in this account.
        reason = (f"finding is for account {finding.account_id}, this function acts in "
                  f"account {manifest.account_id}")
        if not config.member_role_name:
            return refuse(finding, routed, sessions, manifest, region, (
                f"{reason}; no cross-account responder role is configured "
                "(IR_AUTOMATION_MEMBER_ROLE_NAME), so nothing was done in either account. "
                f"Respond with `irctl --account {finding.account_id} ...`"))
        try:
            member_factory, member_manifest = member_sessions(
                sessions, config, finding.account_id, region)
        except PreconditionFailed as err:  # role not assumable, or wrong manifest there
            return refuse(finding, routed, sessions, manifest, region,
                          f"{reason} and cannot act there: {err}")
        sessions, manifest = member_factory, member_manifest
        member = finding.account_id
    # The evidence client's short, bounded retry: a failing bucket must not hold up
    # containment (Lambda's own timeout is the budget).
    s3 = sessions.client("s3", region, max_attempts=EVIDENCE_MAX_ATTEMPTS)
    bucket = manifest.evidence_bucket
    try:
        claim = claim_case(s3, bucket, case_id, config.mode, {
            "case": case_id, "findingId": finding.id, "findingType": finding.type,
            "playbook": playbook, "params": params, "mode": config.mode,
            "time": received.isoformat()})
    except ClaimArchived as archived:
        LOG.warning("%s", archived)
        claim = None
    except (ClientError, BotoCoreError) as err:
        if not is_queueable(err):
            raise
        # Duplicate deliveries cannot be told apart now; they stay harmless (a contained
        # target plans nothing, per-target claims or not), while waiting would not be.
        claim = CaseClaim(s3, bucket, case_claim_key(config.mode, case_id),
                          unrecorded=f"the evidence bucket could not take the case claim "
                                     f"({describe(err)}); acting unclaimed")
    if claim is None:
        return Skip("Duplicate", f"case {case_id} already handled in {config.mode} mode "
                    "(at-least-once delivery)")
    deadline = (None if ends_at is None else
                ends_at - FINISH_CALLS * sessions.hung_call_seconds())
    try:
        outcome = contain(finding, config, sessions, manifest, region, case_id, playbook,
                          params, deadline, member)
        return finish(finding, outcome, claim, sessions, manifest, region, received)
    except AutomationFailed:
        raise  # finish recorded the failed claim
    except BaseException as err:
        # e.g. throttled past the retries: let the retry run again (the runner's plans
        # are empty for what is already done)
        claim.record({"case": case_id, "status": "failed", "error": repr(err),
                      "time": received.isoformat()})
        raise


def refuse(finding: Finding, routed: Route, sessions: SessionFactory,
           manifest: Manifest, region: str, message: str) -> Refused:
    """Refuse before any change, and say so on the high topic (a responder must know
    nothing was contained)."""
    reason = "OtherAccount"
    writer = case_writer(sessions, manifest, region, routed.case_id)
    writer.publish(
        f"[ir-automation] REFUSED {routed.playbook} "
        f"{target_name(routed.playbook, routed.params)}"[:100],
        "\n".join([
            f"ir-readiness automation did NOT act on finding {finding.id}",
            f"type {finding.type}, severity {finding.severity} ({finding.severity_label}), "
            f"account {finding.account_id}, region {finding.region}",
            f"playbook {routed.playbook} {json.dumps(dict(routed.params))}", "",
            f"reason: {message}"]))
    return Refused(reason, message, routed.playbook, dict(routed.params))


def member_sessions(sessions: SessionFactory, config: AutomationConfig, account: str,
                    region: str) -> tuple[SessionFactory, Manifest]:
    """Sessions acting in `account` through the configured member responder role, and
    that account's own manifest (refused unless it describes `account`)."""
    from runbooks.core.accounts import assumed_sessions, check_manifest_account
    from runbooks.core.manifest import load_manifest

    assert config.member_role_name is not None
    member = assumed_sessions(sessions, account, config.member_role_name, config.external_id,
                              region)
    manifest = load_manifest(member, region)
    check_manifest_account(manifest, account, f"SSM in {account}")
    return member, manifest


def opt_out_reason(sessions: SessionFactory, region: str, playbook: str,
                   params: Mapping[str, str], finding: Finding, tag_key: str) -> str | None:
    """Why automation must not act on this target (its opt-out tag), or None."""
    from runbooks.analysis.playbooks import (
        COMPROMISED_EC2,
        COMPROMISED_IAM,
        EXPOSED_S3,
        MALICIOUS_IP,
    )

    def missing(err: ClientError, *codes: str) -> bool:
        return err.response.get("Error", {}).get("Code") in codes

    if playbook == COMPROMISED_EC2:
        try:
            reservations = sessions.client("ec2", region).describe_instances(
                InstanceIds=[params["instance_id"]])["Reservations"]
        except ClientError as err:
            if missing(err, "InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed"):
                return None  # the runner refuses it with the clear error
            raise
        tags = [t for r in reservations for i in r["Instances"] for t in i.get("Tags", [])]
        where = f"instance {params['instance_id']}"
    elif playbook == COMPROMISED_IAM:
        iam = sessions.client("iam", region)
        try:
            if params.get("credential_kind") == "role":
                tags = iam.list_role_tags(RoleName=params["role_name"])["Tags"]
                where = f"role {params['role_name']}"
            else:
                users = [p.name for p in finding.principals if p.kind == "iam-user"]
                if not users:
                    return None
                tags = iam.list_user_tags(UserName=users[0])["Tags"]
                where = f"user {users[0]}"
        except ClientError as err:
            if missing(err, "NoSuchEntity"):
                return None
            raise
    elif playbook == EXPOSED_S3:
        try:
            tags = sessions.client("s3", region).get_bucket_tagging(
                Bucket=params["bucket"])["TagSet"]
        except ClientError as err:
            if missing(err, "NoSuchTagSet", "NoSuchBucket"):
                return None
            raise
        where = f"bucket {params['bucket']}"
    elif playbook == MALICIOUS_IP:
        try:
            vpcs = sessions.client("ec2", region).describe_vpcs(
                VpcIds=[params["vpc_id"]])["Vpcs"]
        except ClientError as err:
            if missing(err, "InvalidVpcID.NotFound"):
                return None
            raise
        tags = [t for v in vpcs for t in v.get("Tags", [])]
        where = f"VPC {params['vpc_id']}"
    else:
        return None
    if opted_out(tags, tag_key):
        return f"{where} is tagged {tag_key}=off (opted out of automated containment)"
    return None


def contain(finding: Finding, config: AutomationConfig, sessions: SessionFactory,
            manifest: Manifest, region: str, case_id: str, playbook: str,
            params: dict[str, str], deadline: float | None = None,
            member: str | None = None) -> Outcome:
    """Run the playbook's containment phase (a plan when opted out or capped)."""
    from runbooks.steps.automation import containments_since
    from runbooks.workflows.playbook import run_playbook
    from runbooks.workflows.session import Settings, open_session

    outcome = Outcome(case_id, playbook, params, config.mode, deadline=deadline)
    evidence = sessions.client("s3", region, max_attempts=EVIDENCE_MAX_ATTEMPTS)
    try:
        # A retry in a fresh sandbox continues the case's chain from the bucket copy.
        AuditLog(case_id).seed_from_evidence(evidence, manifest.evidence_bucket)
    except (ClientError, BotoCoreError) as err:
        if not is_queueable(err):
            raise
        outcome.warnings.append(f"the case's audit log could not be read from the evidence "
                                f"bucket ({describe(err)}); this run starts a local one")
    if config.mode == "apply":
        reason = opt_out_reason(sessions, region, playbook, params, finding,
                                config.opt_out_tag)
        if reason:
            outcome.reasons.append(reason)
            outcome.metrics.append(({"OptedOut": (1, "Count")}, {"Playbook": playbook},
                                    {"case": case_id}))
        else:
            try:
                done = containments_since(evidence, manifest.evidence_bucket,
                                          datetime.now(timezone.utc))
            except (ClientError, BotoCoreError) as err:
                if not is_queueable(err):
                    raise
                # The cap guards against runaway automation; it cannot be counted while
                # the bucket fails. Containment goes ahead and the message says so.
                done = 0
                outcome.warnings.append(
                    f"hourly cap NOT checked: the evidence bucket could not be read "
                    f"({describe(err)})")
            if done >= config.max_actions_per_hour:
                outcome.reasons.append(
                    f"hourly cap reached: {done} automated containment(s) in the last hour "
                    f"(ir:automation.maxActionsPerHour = {config.max_actions_per_hour})")
                outcome.metrics.append(({"CapReached": (1, "Count")}, {"Playbook": playbook},
                                        {"case": case_id}))
        if outcome.reasons:
            outcome.mode = "plan"
    settings = Settings(region=region, case_id=case_id, output="json",
                        apply=outcome.mode == "apply", account=member,
                        role_name=config.member_role_name if member else None)
    try:
        session = open_session(settings, sessions=sessions)
        session.ctx.deadline = deadline
        outcome.ctx, outcome.audit = session.ctx, session.audit
        outcome.results, extra = run_playbook(settings, playbook, params, AUTOMATED_PHASES,
                                              session=session)
    except PreconditionFailed as err:  # e.g. wrong account for the manifest
        outcome.error = str(err)
        return outcome
    except InvalidInput as err:  # a finding value the playbook refuses
        outcome.error = str(err)
        return outcome
    outcome.stopped_at = extra.get("stoppedAt")
    # A target the runner refused or failed carries the reason only inside its result:
    # lift it, so the handler's result, log line and message all say why.
    errors = [f"{t.target}: {t.error}" for r in outcome.results for t in r.targets
              if t.error]
    if errors:
        outcome.error = "; ".join(errors)
    return outcome


def finish(finding: Finding, outcome: Outcome, claim: CaseClaim, sessions: SessionFactory,
           manifest: Manifest, region: str, received: datetime) -> Finished:
    """Count, mark and report the case; record its claim."""
    now = datetime.now(timezone.utc)
    writer = (CaseWriter(outcome.ctx, outcome.audit)
              if outcome.ctx is not None and outcome.audit is not None
              else case_writer(sessions, manifest, region, outcome.case_id))

    def failed(error: str) -> AutomationFailed:
        claim.record({"case": outcome.case_id, "status": "failed", "error": error,
                      "time": received.isoformat()})
        return AutomationFailed(f"case {outcome.case_id}: {error}; see `irctl case show "
                                f"{outcome.case_id} --from-evidence`")

    applied = outcome.changes("applied")
    warnings: list[str] = [w for r in outcome.results for w in r.warnings]
    if claim.unrecorded:
        warnings.append(claim.unrecorded)
    warnings += outcome.warnings
    if applied:
        for write in (lambda: count_containment(writer, finding, len(applied)),
                      lambda: mark_notified(writer, finding, outcome)):
            try:
                warning = write()
            except AutomationFailed as err:
                raise failed(str(err)) from err
            if warning:
                warnings.append(warning)
    # An error raised before the runner produced results (wrong account for the
    # manifest, a parameter the playbook refuses) is a refusal; otherwise the runner's
    # own code says refused (2), failed (1) or partial (3).
    code = EXIT_BAD_INPUT if outcome.error and not outcome.results else outcome.exit_code
    left = outcome.changes("not-attempted")
    timed_out = [c for c in left if "time budget" in str(c["error"])]
    if timed_out:
        warnings.append(f"{len(timed_out)} change(s) NOT attempted: the function's time "
                        "budget ran out before them (recorded as not-attempted; Lambda's "
                        "retry resumes where this stopped)")
    queued = outcome.evidence_queued()
    for item in queued:
        warnings.append(f"evidence NOT in the evidence bucket: {item['s3Uri']} (sha256 "
                        f"{item['sha256'][:16]}...) is queued in this sandbox at "
                        f"{item['path']} and is lost when the sandbox is recycled; "
                        f"{item['error']}")
    subject, message = summary_message(finding, outcome, warnings, code)
    try:
        writer.publish(subject, message)
    except AutomationFailed as err:
        raise failed(str(err)) from err
    metrics = [*outcome.metrics, time_metrics(finding, outcome, received, now, bool(applied))]
    status = ("contained" if applied and code == EXIT_OK else
              # another run (a responder, an earlier delivery) had contained it: say so
              # rather than claim this run did
              "already-contained" if code == EXIT_OK and outcome.mode == "apply" else
              "planned" if code == EXIT_OK else
              "refused" if code == EXIT_BAD_INPUT else "failed")
    summary = {"case": outcome.case_id, "findingId": finding.id, "playbook": outcome.playbook,
               "params": outcome.params, "mode": outcome.mode, "status": status,
               "reasons": outcome.reasons, "error": outcome.error, "exitCode": code,
               "changes": outcome.changes(), "warnings": warnings,
               "notAttempted": len(left), "evidenceQueued": queued,
               "time": now.isoformat()}
    if status == "failed":
        claim.record({**summary, "status": "failed"})
        return Finished(summary, metrics, AutomationFailed(
            f"automated {outcome.playbook} containment of case {outcome.case_id} failed "
            f"(exit code {code}): {outcome.error or 'see the audit log'}; see "
            f"`irctl case show {outcome.case_id} --from-evidence`"))
    problem = claim.record(summary)
    if problem:
        summary["warnings"] = [*warnings, problem]
    return Finished(summary, metrics)


def count_containment(writer: CaseWriter, finding: Finding, changes: int) -> str | None:
    """Count the containment towards the hourly cap; a warning when it could not be."""
    result = writer.run("automation", "hourly-cap", StepCall(
        "automation.count-containment", {"finding_id": finding.id, "changes": changes}))
    [target] = result.targets
    if target.error is not None:
        # the bucket answered with something else than unavailable: a deployment problem
        raise AutomationFailed(f"the containment marker could not be written: {target.error}")
    written = [c.result for c in target.changes if c.result.get("written") is False]
    if written:
        return (f"this containment is NOT counted towards the hourly cap: its marker could "
                f"not be written ({written[0].get('error')})")
    return None


def mark_notified(writer: CaseWriter, finding: Finding, outcome: Outcome) -> str | None:
    """Security Hub workflow NEW -> NOTIFIED, with a note naming the case.

    NOTIFIED (not RESOLVED): containment is not resolution, eradication and recovery are
    still to come and the finding must stay in everyone's open view. GuardDuty findings
    are not archived for the same reason (archiving hides them and their updates).
    Returns a warning when Security Hub could not be updated but that changes nothing
    for the containment; raises AutomationFailed for a failure worth Lambda's retry.
    """
    ident = finding.security_hub_identifier()
    result = writer.run("finding", ident["Id"], StepCall("securityhub.notify-finding", {
        "finding_id": ident["Id"], "product_arn": ident["ProductArn"],
        "note": f"Contained automatically under case {outcome.case_id} "
                f"({outcome.playbook}); see `irctl case show {outcome.case_id} "
                "--from-evidence`"}))
    [target] = result.targets
    if target.error is None:
        return None
    code = aws_error_code(target.error)
    if code in SECURITY_HUB_UNAVAILABLE:
        return f"Security Hub workflow not updated ({code})"
    if code is None and target.error_code == EXIT_BAD_INPUT:
        # planning refused it: the finding is not in Security Hub yet (or another run
        # holds it)
        if "has no finding" in target.error:
            return ("Security Hub has not imported the finding yet; its workflow was not "
                    "moved to NOTIFIED")
        return f"Security Hub workflow not updated: {target.error}"
    if code is None and target.error.startswith("Security Hub did not update"):
        return target.error  # BatchUpdateFindings answered, with the finding unprocessed
    raise AutomationFailed(f"the Security Hub workflow update failed: {target.error}")


def summary_message(finding: Finding, outcome: Outcome, warnings: list[str],
                    code: int) -> tuple[str, str]:
    """The subject and body posted to the high topic."""
    changes = outcome.changes()
    verb = {"apply": "CONTAINED", "plan": "PLAN"}[outcome.mode]
    if outcome.mode == "apply" and not outcome.changes("applied"):
        verb = "ALREADY CONTAINED"
    if code != 0:
        verb = "REFUSED" if code == EXIT_BAD_INPUT else "FAILED"
    target = target_name(outcome.playbook, outcome.params)
    lines = [
        f"ir-readiness automation ({outcome.mode} mode) for finding {finding.id}",
        f"type {finding.type}, severity {finding.severity} ({finding.severity_label}), "
        f"region {finding.region}",
        f"playbook {outcome.playbook} {json.dumps(outcome.params)}, case {outcome.case_id}",
        "",
    ]
    lines += [f"NOT ACTING: {reason}" for reason in outcome.reasons]
    if outcome.error:
        lines.append(f"{'reason' if verb == 'REFUSED' else 'error'}: {outcome.error}")
    elif code != 0:
        lines.append(f"error: exit code {code} with no recorded reason; see the audit log")
    if outcome.mode == "plan" and changes:
        lines.append("Planned changes (nothing was changed):")
    elif changes:
        lines.append("Changes:")
    lines += [f"  [{c['status']}] {c['step']}: {c['summary']}"
              + (f" ({c['error']})" if c["error"] else "") for c in changes]
    lines += [f"warning: {w}" for w in warnings]
    lines += ["", f"Review: irctl case show {outcome.case_id} --from-evidence"]
    if outcome.mode == "plan" and changes and not outcome.error:
        lines.append(f"Act: irctl playbook run {outcome.playbook} "
                     + " ".join(f"--param {k}={v}" for k, v in outcome.params.items())
                     + f" --phase containment --case {outcome.case_id} --apply")
    return f"[ir-automation] {verb} {outcome.playbook} {target}"[:100], "\n".join(lines)


def time_metrics(finding: Finding, outcome: Outcome, received: datetime, now: datetime,
                 contained: bool) -> Metric:
    """Time-to-detect and time-to-contain of this case."""
    from runbooks.analysis.findings import parse_time

    raw = finding.raw
    created = parse_time(raw.get("createdAt") or raw.get("CreatedAt")) or received
    metrics: dict[str, tuple[float, str]] = {"Runs": (1, "Count")}
    if finding.first_seen:
        metrics["TimeToDetect"] = ((created - finding.first_seen).total_seconds(), "Seconds")
    if contained:
        # `isolated` (the last network cut landed) when the playbook cuts a network: that
        # is when the resource stopped talking; the rest (evidence, attributes) follows
        cuts = [r.isolated_at for r in outcome.results if r.isolated_at is not None]
        at = max(cuts) if cuts else now
        metrics["HandlerTimeToContain"] = ((at - received).total_seconds(), "Seconds")
        if finding.first_seen:
            metrics["TimeToContain"] = ((at - finding.first_seen).total_seconds(),
                                        "Seconds")
    return (metrics, {"Playbook": outcome.playbook, "Mode": outcome.mode},
            {"case": outcome.case_id, "findingId": finding.id, "findingType": finding.type})
