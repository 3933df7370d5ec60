"""The runner: everything cross-cutting, so that no step re-implements it.

A run takes, per target, an ordered pipeline of registered steps with parameters:

1. builds and `validate()`s every step of every target before any I/O;
2. plans every step of every target (read-only, concurrently); any plan error refuses the
   whole run with AWS untouched;
3. records the plan in the case's audit log; without `apply` it stops there;
4. with `apply`, per target (many targets concurrently, bounded pool) applies each planned
   change in order, recording intent, before/after and result; when a change fails it
   rolls back that target's applied changes in reverse order (unless `keep_going`).

Re-runs are idempotent because plans are empty for what is already done. `release()`
replays the audit log backwards, calling each applied, still-in-place change's step
`rollback()`; irreversible steps (evidence capture, snapshots) are never touched.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from runbooks.core.audit import AuditLog
from runbooks.core.context import Context
from runbooks.core.errors import (
    EXIT_ACTION_FAILED,
    EXIT_BAD_INPUT,
    EXIT_OK,
    EXIT_PARTIAL,
    InvalidInput,
    IrError,
)
from runbooks.core.step import REGISTRY, Change, Step, load_all_steps

# Change statuses
PLANNED = "planned"
APPLIED = "applied"
FAILED = "failed"
ROLLED_BACK = "rolled-back"
ROLLBACK_FAILED = "rollback-failed"
NOT_ATTEMPTED = "not-attempted"
RELEASED = "released"


@dataclass(frozen=True)
class StepCall:
    """One step of a target's pipeline: a registered step name and its parameters."""

    name: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class ChangeOutcome:
    change: Change
    status: str
    result: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    reversible: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.change.to_dict(),
            "status": self.status,
            "reversible": self.reversible,
            "result": self.result,
            "error": self.error,
        }


@dataclass
class TargetOutcome:
    kind: str
    target: str
    changes: list[ChangeOutcome] = field(default_factory=list)
    error: str | None = None
    error_code: int = EXIT_OK

    @property
    def status(self) -> str:
        statuses = {c.status for c in self.changes}
        if self.error is None:
            if not self.changes:
                return "nothing-to-do"
            if statuses == {PLANNED}:
                return "planned"
            if statuses <= {RELEASED}:
                return "released"
            return "done"
        if self.still_applied():
            return "partial"
        if statuses & {ROLLED_BACK}:
            return "rolled-back"
        return "failed"

    def still_applied(self) -> bool:
        """Containment changes left in place (evidence captured does not count)."""
        return any(c.status in (APPLIED, ROLLBACK_FAILED) and c.reversible
                   for c in self.changes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "target": self.target,
            "status": self.status,
            "error": self.error,
            "changes": [c.to_dict() for c in self.changes],
        }


@dataclass
class RunResult:
    case_id: str
    kind: str
    apply: bool
    targets: list[TargetOutcome] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    audit_key: str | None = None
    evidence_queued: list[dict[str, Any]] = field(default_factory=list)
    """Evidence of the case still queued locally, not in the evidence bucket (see
    `runbooks.core.evidence_queue`); the CLI exits EXIT_EVIDENCE_QUEUED for it."""

    @property
    def exit_code(self) -> int:
        failed = [t for t in self.targets if t.error is not None]
        if not failed:
            return EXIT_OK
        if any(t.still_applied() for t in self.targets):
            return EXIT_PARTIAL
        codes = {t.error_code for t in failed}
        return EXIT_BAD_INPUT if codes == {EXIT_BAD_INPUT} else EXIT_ACTION_FAILED

    def to_dict(self) -> dict[str, Any]:
        return {
            "case": self.case_id,
            "kind": self.kind,
            "mode": "apply" if self.apply else "plan",
            "exitCode": self.exit_code,
            "auditLog": self.audit_key,
            "warnings": self.warnings,
            "evidenceQueued": self.evidence_queued,
            "targets": [t.to_dict() for t in self.targets],
        }


Listener = Callable[[str, str], None]
"""Called with (target, message) as work progresses; used for terminal progress."""


def _describe_error(err: BaseException) -> tuple[str, int]:
    from botocore.exceptions import BotoCoreError, ClientError

    if isinstance(err, IrError):
        return str(err), err.exit_code
    if isinstance(err, ClientError):
        error = err.response.get("Error", {})
        code = error.get("Code", "Unknown")
        op = getattr(err, "operation_name", "call")
        msg = f"{op} failed: {code}: {error.get('Message', '')}".rstrip(": ")
        if code in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation"):
            msg += " (the caller lacks this permission; use the responder role)"
        return msg, EXIT_ACTION_FAILED
    if isinstance(err, BotoCoreError):
        from runbooks.core.context import is_timeout, timeout_message

        if is_timeout(err):
            return timeout_message(err), EXIT_ACTION_FAILED
        return f"AWS call failed: {err}", EXIT_ACTION_FAILED
    return repr(err), EXIT_ACTION_FAILED


def _handled_errors() -> tuple[type[BaseException], ...]:
    from botocore.exceptions import BotoCoreError, ClientError

    return (IrError, ClientError, BotoCoreError)


class Runner:
    """Plans by default; applies only when `apply=True`."""

    def __init__(
        self,
        ctx: Context,
        audit: AuditLog,
        *,
        apply: bool = False,
        keep_going: bool = False,
        max_workers: int = 16,
        listener: Listener | None = None,
        upload_audit: bool = True,
    ) -> None:
        self.ctx = ctx
        self.audit = audit
        self.apply = apply
        self.keep_going = keep_going
        self.max_workers = max(1, max_workers)
        self.listener = listener or (lambda target, message: None)
        self.upload_audit = upload_audit
        self._lock = threading.Lock()
        self._queued_now: list[dict[str, Any]] = []

    # -- building ---------------------------------------------------------------------

    def _build(self, call: StepCall) -> Step:
        if call.name not in REGISTRY:
            load_all_steps()
        cls = REGISTRY.get(call.name)
        if cls is None:
            raise InvalidInput(f"unknown step {call.name!r}; known: {', '.join(sorted(REGISTRY))}")
        return cls(self.ctx, call.params)

    # -- run ---------------------------------------------------------------------------

    def run(self, kind: str, pipelines: Mapping[str, Sequence[StepCall]], *,
            gate: Callable[[RunResult], int | None] | None = None) -> RunResult:
        """Plan (and with `apply`, apply) `pipelines`: target -> ordered step calls.

        `gate`: called once every target is planned, before anything is applied (also when
        this run's own planning failed); an exit code refuses the run, as a target that
        could not be planned does. Runs of one command in several accounts and regions
        use it to wait for each other's plans (`runbooks.commands._fleet`)."""
        targets = list(pipelines)
        steps: dict[str, list[tuple[StepCall, Step]]] = {}
        for target in targets:
            built = [(call, self._build(call)) for call in pipelines[target]]
            for _, step in built:
                step.validate()
            steps[target] = built
        # Each run reads the world afresh: a previous run (an earlier playbook phase) may
        # have changed what the cache holds.
        self.ctx.cache.clear()
        self.ctx.targets = tuple(targets)
        self._queued_now = []
        result = RunResult(self.ctx.case_id, kind, self.apply)
        self.audit.append(
            "run-started",
            kind=kind,
            mode="apply" if self.apply else "plan",
            targets=targets,
            account=self.ctx.account_id,
            region=self.ctx.region,
        )
        outcomes = {t: TargetOutcome(kind, t) for t in targets}
        plans: dict[str, list[tuple[StepCall, Step, list[Change]]]] = {}
        self._prefetch({type(step) for built in steps.values() for _, step in built})

        def plan_target(target: str) -> None:
            planned: list[tuple[StepCall, Step, list[Change]]] = []
            try:
                for call, step in steps[target]:
                    self.listener(target, f"planning {call.name}")
                    planned.append((call, step, step.plan()))
            except _handled_errors() as err:
                message, code = _describe_error(err)
                outcomes[target].error, outcomes[target].error_code = message, code
                self.audit.append("plan-failed", kind=kind, target=target, error=message)
                return
            for call, step, changes in planned:
                for change in changes:
                    self.audit.append("planned", kind=kind, target=target, step=call.name,
                                      params=dict(call.params), change=change.to_dict())
                    outcomes[target].changes.append(
                        ChangeOutcome(change, PLANNED, reversible=step.reversible))
            plans[target] = planned

        self._map(plan_target, targets)
        result.targets = [outcomes[t] for t in targets]
        refused_elsewhere = gate(result) if gate is not None else None
        if refused_elsewhere is not None and not any(o.error for o in result.targets):
            for outcome in result.targets:
                for change_outcome in outcome.changes:
                    change_outcome.status = NOT_ATTEMPTED
                outcome.error = ("not attempted: a target in another account or region "
                                 "could not be planned")
                outcome.error_code = refused_elsewhere
            self.audit.append("run-refused", kind=kind)
            return result
        if any(o.error for o in result.targets):
            # Refuse the whole run: nothing has been changed yet.
            for outcome in result.targets:
                for change_outcome in outcome.changes:
                    change_outcome.status = NOT_ATTEMPTED
                if outcome.error is None:
                    outcome.error = "not attempted: another target could not be planned"
                    outcome.error_code = max(
                        o.error_code for o in result.targets if o.error_code
                    )
            self.audit.append("run-refused", kind=kind)
            return result
        if self.apply:
            self._map(lambda t: self._apply_target(kind, t, plans[t], outcomes[t]), targets)
            self._settle_evidence(result)
        self.audit.append("run-finished", kind=kind, exit_code=result.exit_code,
                          mode="apply" if self.apply else "plan")
        if self.apply:
            self._upload(result)
        return result

    def _prefetch(self, classes: set[type[Step]]) -> None:
        def warm(cls: type[Step]) -> None:
            try:
                cls.prefetch(self.ctx)
            except _handled_errors():
                pass  # read-only; plan() raises the same error where it is reported

        with ThreadPoolExecutor(max_workers=max(1, min(self.max_workers, len(classes)))) as pool:
            for future in [pool.submit(warm, cls) for cls in classes]:
                future.result()

    def _map(self, fn: Callable[[str], None], targets: Sequence[str]) -> None:
        if len(targets) <= 1:
            for target in targets:
                fn(target)
            return
        with ThreadPoolExecutor(max_workers=min(self.max_workers, len(targets))) as pool:
            for future in [pool.submit(fn, t) for t in targets]:
                future.result()

    def _apply_target(
        self,
        kind: str,
        target: str,
        planned: list[tuple[StepCall, Step, list[Change]]],
        outcome: TargetOutcome,
    ) -> None:
        by_change = {id(c.change): c for c in outcome.changes}
        applied: list[tuple[StepCall, Step, ChangeOutcome]] = []
        out_of_time: str | None = None  # once out of time, every later change is refused too
        for call, step, changes in planned:
            for change in changes:
                change_outcome = by_change[id(change)]
                record = {"kind": kind, "target": target, "step": call.name,
                          "params": dict(call.params), "change": change.to_dict(),
                          "account": self.ctx.account_id}
                out_of_time = out_of_time or self._out_of_time(step)
                if out_of_time is not None:
                    self._not_attempted(record, change_outcome, outcome, out_of_time)
                    continue
                if outcome.error is not None and not self.keep_going:
                    change_outcome.status = NOT_ATTEMPTED
                    continue
                self.listener(target, change.summary)
                self.audit.append("applying", **record)
                try:
                    details = dict(step.apply(change))
                except _handled_errors() as err:
                    message, code = _describe_error(err)
                    change_outcome.status, change_outcome.error = FAILED, message
                    if outcome.error is None:
                        outcome.error, outcome.error_code = message, code
                    self.audit.append("apply-failed", **record, error=message)
                    if step.multi_call and step.reversible:
                        # part of it may have been made: undo it first, with the rest
                        applied.append((call, step, change_outcome))
                    continue
                except BaseException as err:
                    # A bug or an interrupt (not an AWS answer): put the target back as it
                    # was, then let it propagate; never reported as "contained".
                    self.audit.append("apply-crashed", **record, error=repr(err))
                    change_outcome.status, change_outcome.error = FAILED, repr(err)
                    if step.multi_call and step.reversible:
                        applied.append((call, step, change_outcome))
                    if not self.keep_going:
                        self._roll_back(kind, target, applied)
                    raise
                change_outcome.status, change_outcome.result = APPLIED, details
                self.audit.append("applied", **record, result=details)
                if isinstance(details.get("queued"), dict):
                    self._evidence_queued(record, details["queued"])
                applied.append((call, step, change_outcome))
        # Out of time: what was applied stays (recorded, reversible with release); a
        # rollback would itself need the time that is not there.
        if outcome.error is not None and not self.keep_going and out_of_time is None:
            self._roll_back(kind, target, applied)

    # -- time budget and queued evidence ------------------------------------------------
    # (A budget is set by the automation Lambda; evidence is queued by
    # runbooks.core.evidence_queue when S3 cannot take it.)

    RECORD_SECONDS = 1.0
    """Allowance for writing a change's outcome record (an fsync'd append)."""

    def _out_of_time(self, step: Step) -> str | None:
        """Why a change of `step` must not start now, or None: the context's deadline
        leaves less than the worst case of its calls (a hung endpoint) plus its record.
        Starting it anyway could leave it cut off mid-change with no outcome recorded."""
        left = self.ctx.seconds_left()
        if left is None:
            return None
        calls = 2 if step.multi_call else 1
        needed = calls * self.ctx.sessions.hung_call_seconds() + self.RECORD_SECONDS
        if left >= needed:
            return None
        return (f"not attempted: time budget exhausted ({max(left, 0):.0f} s left, a change "
                f"of {step.name} needs up to {needed:.0f} s); re-run to resume")

    def _not_attempted(self, record: dict[str, Any], change_outcome: ChangeOutcome,
                       outcome: TargetOutcome, reason: str) -> None:
        change_outcome.status, change_outcome.error = NOT_ATTEMPTED, reason
        if outcome.error is None:
            outcome.error, outcome.error_code = reason, EXIT_ACTION_FAILED
        self.audit.append("not-attempted", **record, reason=reason)

    def _evidence_queued(self, record: dict[str, Any], queued: dict[str, Any]) -> None:
        self.audit.append("evidence-queued", **{
            **queued, "kind": record["kind"], "target": record["target"],
            "step": record["step"], "account": record["account"]})
        with self._lock:
            self._queued_now.append(queued)

    def _settle_evidence(self, result: RunResult) -> None:
        """Upload evidence earlier runs of the case queued (after this run's changes: a
        bucket that is still down must not delay them), unless S3 already failed to take
        evidence in this session; report what this run queued or could not upload, and
        (`evidence_queued`, for the exit code) everything the case still has queued."""
        from runbooks.core.evidence_queue import pending, sync

        unsent: list[dict[str, Any]] = list(self._queued_now)
        account = self.ctx.account_id
        if not self.ctx.evidence_unavailable and pending(self.ctx.case_id, account):
            unsent += sync(self.ctx, self.audit, stop_on_failure=True).still_queued
        result.evidence_queued = [q.to_dict() for q in pending(self.ctx.case_id, account)]
        for queued in unsent:
            result.warnings.append(
                f"evidence NOT in the evidence bucket: {queued['s3Uri']} is queued at "
                f"{queued['path']} (sha256 {queued['sha256'][:16]}..., {queued['error']}); "
                f"upload it with `irctl case sync {self.ctx.case_id}`")

    def _roll_back(
        self, kind: str, target: str, applied: list[tuple[StepCall, Step, ChangeOutcome]]
    ) -> None:
        for call, step, change_outcome in reversed(applied):
            if not step.reversible:
                continue  # evidence, snapshots and one-way safety measures stay
            self.listener(target, f"rolling back: {change_outcome.change.summary}")
            record = {"kind": kind, "target": target, "step": call.name,
                      "params": dict(call.params), "change": change_outcome.change.to_dict(),
                      "account": self.ctx.account_id}
            try:
                step.rollback(change_outcome.change, change_outcome.result)
            except _handled_errors() as err:
                message, _ = _describe_error(err)
                change_outcome.status = ROLLBACK_FAILED
                change_outcome.error = f"{change_outcome.error or ''} rollback failed: " \
                    f"{message}".lstrip()
                self.audit.append("rollback-failed", **record, error=message)
                continue
            change_outcome.status = ROLLED_BACK
            self.audit.append("rolled-back", **record)

    def _upload(self, result: RunResult) -> None:
        if not self.upload_audit:
            return
        from botocore.exceptions import BotoCoreError, ClientError

        if self.ctx.evidence_unavailable:  # S3 just failed an evidence write: do not wait on it
            result.warnings.append(
                f"audit log NOT copied to the evidence bucket (it could not take evidence in "
                f"this run); it is kept at {self.audit.path}: `irctl case sync "
                f"{self.ctx.case_id}` copies it")
            return

        try:
            result.audit_key = self.audit.upload(
                self.ctx.evidence_client(),
                self.ctx.manifest["evidenceBucket"],
                self.ctx.evidence_encryption().get("SSEKMSKeyId"),
            )
        except (ClientError, BotoCoreError) as err:
            message, _ = _describe_error(err)
            result.warnings.append(
                f"audit log NOT copied to the evidence bucket ({message}); it is kept at "
                f"{self.audit.path}: copy it with `irctl case show {self.ctx.case_id}`"
            )

    # -- release ----------------------------------------------------------------------

    def in_place_changes(self, kind: str, target: str) -> list[dict[str, Any]]:
        """Applied, reversible records for (kind, target) not yet rolled back/released."""
        load_all_steps()
        live: dict[str, dict[str, Any]] = {}
        order: list[str] = []
        for record in self.audit.records():
            if record.get("kind") != kind or record.get("target") != target:
                continue
            if record.get("account", self.ctx.account_id) != self.ctx.account_id:
                continue  # a case spanning accounts: a same-named target elsewhere
            key = _change_key(record)
            if record["event"] == "applied":
                if key not in live:
                    order.append(key)
                live[key] = record
            elif record["event"] in ("rolled-back", "released"):
                live.pop(key, None)
        return [
            live[k] for k in order
            if k in live and getattr(REGISTRY.get(live[k]["step"]), "reversible", False)
        ]

    def release(self, kind: str, target: str) -> RunResult:
        """Restore the pre-action state of (kind, target) recorded in this case's log."""
        records = self.in_place_changes(kind, target)
        result = RunResult(self.ctx.case_id, f"release {kind}", self.apply)
        outcome = TargetOutcome(f"release {kind}", target)
        result.targets.append(outcome)
        self.ctx.cache.clear()
        self.ctx.targets = (target,)
        self.audit.append("release-started", kind=kind, target=target,
                          mode="apply" if self.apply else "plan", changes=len(records))
        for record in reversed(records):
            change = Change.from_dict(record["change"])
            release_change = Change(change.step, change.target, f"restore: {change.summary}",
                                    before=change.after, after=change.before)
            change_outcome = ChangeOutcome(release_change, PLANNED)
            outcome.changes.append(change_outcome)
            if not self.apply:
                continue
            if outcome.error is not None and not self.keep_going:
                change_outcome.status = NOT_ATTEMPTED
                continue
            step = self._build(StepCall(record["step"], record.get("params", {})))
            self.listener(target, release_change.summary)
            try:
                step.rollback(change, record.get("result", {}))
            except _handled_errors() as err:
                message, code = _describe_error(err)
                change_outcome.status, change_outcome.error = FAILED, message
                outcome.error, outcome.error_code = outcome.error or message, code
                self.audit.append("release-failed", kind=kind, target=target,
                                  step=record["step"], change=record["change"], error=message)
                continue
            change_outcome.status = RELEASED
            self.audit.append("released", kind=kind, target=target, step=record["step"],
                              params=record.get("params", {}), change=record["change"],
                              account=self.ctx.account_id)
        if self.apply and outcome.error is not None:
            # Changes that were not restored are still applied: report them as such.
            for change_outcome in outcome.changes:
                if change_outcome.status in (FAILED, NOT_ATTEMPTED):
                    change_outcome.status = APPLIED if change_outcome.status == NOT_ATTEMPTED \
                        else ROLLBACK_FAILED
        self.audit.append("release-finished", kind=kind, target=target,
                          exit_code=result.exit_code)
        if self.apply:
            self._upload(result)
        return result


def _change_key(record: Mapping[str, Any]) -> str:
    import json

    change = record.get("change", {})
    return json.dumps([record.get("step"), change.get("target"), change.get("summary"),
                       change.get("before"), change.get("after")], sort_keys=True, default=str)
