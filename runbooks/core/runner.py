"""The runner: everything cross-cutting, so that no step re-implements it.

A run takes, per target, an ordered pipeline of registered steps with parameters:

1. builds and `validate()`s every step of every target before any I/O;
2. plans every step of every target (read-only, concurrently); any plan error refuses the
   whole run with AWS untouched;
3. records the plan in the case's audit log; without `apply` it stops there;
4. with `apply`, per target (many targets concurrently, bounded pool) applies each planned
   change in order, recording intent, before/after and result; when a change fails it
   rolls back that target's applied changes in reverse order (unless `keep_going`).
   Network first: a target's steps after its `cuts_network` step are planned and applied
   only once its cut is made, in a pool apart from the cuts (EC2 meters each API in its
   own bucket); a later step making a call the cuts make waits for every cut
   (`isolated` / `done` times). Steps marked `applied_together` (the case tag) are applied
   for every target in one pass before anything else, so one call serves many targets.

Re-runs are idempotent because plans are empty for what is already done. `release()`
replays the audit log backwards, calling each still-in-place change's step `rollback()`;
irreversible steps (evidence capture, snapshots) are never touched.

The state model, which holds under concurrent runs, crashes and failed calls:

* With `apply`, a run first claims each target it may change (`runbooks.core.claims`,
  shared by the CLI and the automation Lambda, release included), so two runs never
  change one target at once; the second plans only after the first has finished.
* A change is "in place" from its `applying` record until a `rolled-back` or `released`
  record: `applying` with no outcome (a crash), `apply-failed` whose outcome is unknown
  (a multi-call step, or no answer from AWS), `rollback-failed` and `rollback-skipped`
  all stay visible to `release`, `verify case` and `case show` (`recorded_changes`).
* Rollback and release act only where the live state (`Step.current`) is one this change
  leaves (`Step.ours`); live already equal to `before` is done; anything else is drift,
  reported as before / recorded after / live and left alone (`release --force` restores).
* A re-run records the *earliest* `before` still in place for the same subject
  (`Step.subject`), never a half-applied live state.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

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
from runbooks.core.evidence_queue import recording_evidence
from runbooks.core.pacing import READ_PREFIXES
from runbooks.core.step import REGISTRY, Change, Step, load_all_steps, same_state

if TYPE_CHECKING:
    from runbooks.core.claims import TargetClaims

# Change statuses
PLANNED = "planned"
APPLIED = "applied"
FAILED = "failed"
ROLLED_BACK = "rolled-back"
ROLLBACK_FAILED = "rollback-failed"
ROLLBACK_SKIPPED = "rollback-skipped"
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
    uncertain: bool = False
    """A failed apply that may have made part of the change (multi-call, or no answer)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.change.to_dict(),
            "status": self.status,
            "uncertain": self.uncertain,
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
        """Containment changes left (or possibly left) in place; evidence does not count."""
        return any(c.reversible and (c.status in (APPLIED, ROLLBACK_FAILED, ROLLBACK_SKIPPED)
                                     or (c.status == FAILED and c.uncertain))
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
    started_at: datetime | None = None
    isolated_at: datetime | None = None
    """With `apply`: when the last network cut of the run landed (the last ENI entered its
    isolation group); None when the run cut nothing (nothing to cut, or a plan)."""
    done_at: datetime | None = None
    """With `apply`: when the run's last change was made (or rolled back)."""

    def timing(self) -> dict[str, Any]:
        """`isolated` and `done` as times and as seconds after the run started."""
        def seconds(at: datetime | None) -> float | None:
            if at is None or self.started_at is None:
                return None
            return round((at - self.started_at).total_seconds(), 3)

        def iso(at: datetime | None) -> str | None:
            return at.isoformat() if at is not None else None

        return {"startedAt": iso(self.started_at), "isolatedAt": iso(self.isolated_at),
                "doneAt": iso(self.done_at), "isolatedSeconds": seconds(self.isolated_at),
                "doneSeconds": seconds(self.done_at)}

    @property
    def exit_code(self) -> int:
        failed = [t for t in self.targets if t.error is not None]
        if not failed:
            return EXIT_OK
        # 3 only when a target that failed kept something (or a rollback failed): targets
        # contained in full beside a fully rolled-back one do not make it partial.
        if any(t.still_applied() for t in failed):
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
            **({"timing": self.timing()} if self.apply and self.started_at else {}),
            "targets": [t.to_dict() for t in self.targets],
        }


Listener = Callable[[str, str], None]
"""Called with (target, message) as work progresses; used for terminal progress."""


def _describe_error(err: BaseException) -> tuple[str, int]:
    from botocore.exceptions import BotoCoreError, ClientError

    if isinstance(err, IrError):
        return str(err), err.exit_code
    if isinstance(err, ClientError):
        from runbooks.core.aws_errors import describe_aws_error
        from runbooks.core.permissions import denied_hint

        # code and request id; never a raw HTML/XML page as the message
        msg = describe_aws_error(err).text()
        hint = denied_hint(err)
        if hint:
            msg += f" ({hint})"
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
        claim_targets: bool = True,
        claim_wait: float | None = None,
    ) -> None:
        self.ctx = ctx
        self.audit = audit
        self.apply = apply
        self.keep_going = keep_going
        self.max_workers = max(1, max_workers)
        self.listener = listener or (lambda target, message: None)
        self.upload_audit = upload_audit
        self.claim_targets = claim_targets
        self.claim_wait = claim_wait
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
        result = RunResult(self.ctx.case_id, kind, self.apply, started_at=self.ctx.now())
        self.audit.append(
            "run-started",
            kind=kind,
            mode="apply" if self.apply else "plan",
            targets=targets,
            account=self.ctx.account_id,
            region=self.ctx.region,
        )
        outcomes = {t: TargetOutcome(kind, t) for t in targets}
        claims = None
        if self.apply:
            # Claim before planning: a run that waited plans against what the holder left.
            claims = self._claims()
            claimable = [t for t in targets if any(s.reversible for _, s in steps[t])]
            refused = claims.claim_all(claimable, self._map) if claimable else {}
            for target, holder in refused.items():
                outcomes[target].error = (
                    f"{kind} {target} is being changed by another run: {holder}; waited "
                    f"{int(claims.wait)} s. Check `irctl case show` for that case, then "
                    "re-run (it plans against what the other run left)")
                outcomes[target].error_code = EXIT_BAD_INPUT
                self.audit.append("claim-refused", kind=kind, target=target, holder=holder)
        try:
            self._run_claimed(kind, targets, steps, outcomes, result, gate)
        finally:
            if claims is not None:
                claims.release_all()
                result.warnings += claims.warnings
        return result

    def _claims(self) -> TargetClaims | _NoClaims:
        from runbooks.core.claims import DEFAULT_WAIT_SECONDS, TargetClaims

        # The evidence client's short, bounded retry: a failing bucket must not hold up
        # containment (the run then goes ahead unclaimed, with a warning).
        return TargetClaims(
            self.ctx.evidence_client(), self.ctx.manifest.evidence_bucket,
            self.ctx.evidence_encryption(), self.ctx.account_id, self.ctx.region,
            self.ctx.case_id, wait=DEFAULT_WAIT_SECONDS if self.claim_wait is None
            else self.claim_wait, listener=self.listener) if self.claim_targets \
            else _NoClaims()

    def _run_claimed(self, kind: str, targets: list[str],
                     steps: dict[str, list[tuple[StepCall, Step]]],
                     outcomes: dict[str, TargetOutcome], result: RunResult,
                     gate: Callable[[RunResult], int | None] | None) -> None:
        plans: dict[str, list[tuple[StepCall, Step, list[Change]]]] = {}
        deferred: dict[str, list[tuple[StepCall, Step]]] = {}
        self._prefetch({type(step) for built in steps.values() for _, step in built})
        earliest = {(e.kind, e.target, e.step, e.subject): e
                    for e in recorded_changes(self.audit.records(), self.ctx.account_id)}

        def recorded_before(target: str, step: Step, change: Change) -> Change:
            # A re-run after a crash sees a half-applied state: keep the pre-action state
            # recorded first for this subject, still in place.
            entry = earliest.get((kind, target, step.name, type(step).subject(change)))
            if entry is None or same_state(change.before, entry.before):
                return change
            return step.with_before(change, entry.before)

        def plan_steps(target: str, built: list[tuple[StepCall, Step]]
                       ) -> list[tuple[StepCall, Step, list[Change]]] | None:
            planned: list[tuple[StepCall, Step, list[Change]]] = []
            try:
                for call, step in built:
                    self.listener(target, f"planning {call.name}")
                    planned.append((call, step, [recorded_before(target, step, c)
                                                 for c in step.plan()]))
            except _handled_errors() as err:
                message, code = _describe_error(err)
                outcomes[target].error, outcomes[target].error_code = message, code
                self.audit.append("plan-failed", kind=kind, target=target, error=message)
                return None
            for call, step, changes in planned:
                for change in changes:
                    self.audit.append("planned", kind=kind, target=target, step=call.name,
                                      params=dict(call.params), change=change.to_dict())
                    outcomes[target].changes.append(
                        ChangeOutcome(change, PLANNED, reversible=step.reversible))
            return planned

        def plan_target(target: str) -> None:
            if outcomes[target].error is not None:
                return  # claimed by another run
            built = steps[target]
            # With --apply, the steps after the network cut are planned once every cut is
            # made (their reads must not hold the cuts up); a plan shows them all.
            cut = _after_cut(built) if self.apply else 0
            planned = plan_steps(target, built[:cut] if cut else built)
            if planned is not None:
                plans[target] = planned
                if cut:
                    deferred[target] = built[cut:]

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
            return
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
            return
        if self.apply:
            self._apply_network_first(kind, targets, plans, outcomes, result,
                                      {t: partial(plan_steps, t, deferred[t])
                                       for t in deferred})
            self._settle_evidence(result)
        self.audit.append("run-finished", kind=kind, exit_code=result.exit_code,
                          mode="apply" if self.apply else "plan",
                          **({"timing": result.timing()} if self.apply else {}))
        if self.apply:
            self._upload(result)

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

    def _apply_network_first(
        self, kind: str, targets: list[str],
        plans: dict[str, list[tuple[StepCall, Step, list[Change]]]],
        outcomes: dict[str, TargetOutcome], result: RunResult,
        plan_later: Mapping[str, Callable[[], list[tuple[StepCall, Step, list[Change]]]
                                          | None]],
    ) -> None:
        """Network first. Every target's steps up to and including its network cut
        (`Step.cuts_network`) run in one pool; as soon as a target's cut is made, its
        later steps are planned (`plan_later`) and applied in a second pool, alongside the
        other targets' remaining cuts. EC2 meters each API in its own request bucket, so
        those later calls spend none of the cuts' tokens and hold no cut's thread; a
        target with a later change that makes a call the cuts make (the memory capture's
        ENI swap) waits, once planned, until every cut is made. A target's pipeline
        order is kept, and a failed change in either part rolls back everything applied
        to it; a later step's failed plan leaves the cut in place (exit 3). The run
        records when the last cut landed (`isolated`) and when it was done."""
        progress = {t: _TargetProgress() for t in targets}
        cut_at: list[datetime] = []
        self._apply_together(kind, [t for t in targets if t in plan_later], plans, outcomes,
                             progress)
        every_cut_made = threading.Event()
        cut_calls = _mutating({a for built in plans.values() for _, step, _ in built
                               if step.cuts_network for a in step.actions})

        def later_steps(target: str) -> None:
            outcome, state = outcomes[target], progress[target]
            if target not in plan_later:  # no cut: all of it, once every cut is made
                self._apply_target(kind, target, plans[target], outcome, state)
                return
            if state.rolled_back or (outcome.error is not None and not self.keep_going):
                return
            tail = plan_later[target]()
            if tail is None:
                # Its later steps could not be planned (recorded). The cut stays: undoing
                # it over a failed read (one batched read shared by every target) would
                # put a whole fleet back on the network. Recorded, releasable, exit 3; a
                # re-run finishes it.
                outcome.error = (f"planning after the network cut failed: {outcome.error}; "
                                 "the cut and the changes before it stay (recorded; "
                                 "`irctl release` undoes them): re-run to finish")
                return
            if any(changes and step.actions & cut_calls for _, step, changes in tail):
                every_cut_made.wait()  # it would spend the remaining cuts' bucket
            self._apply_target(kind, target, tail, outcome, state)

        cutting = [t for t in targets if t in plan_later]
        # Half as many threads for the later steps: they are paced by their own buckets,
        # and both pools together stay inside the clients' connection pools.
        workers = max(1, min(self.max_workers // 2, len(targets)))
        with ThreadPoolExecutor(max_workers=workers) as later_pool:
            later: list[Future[None]] = []

            def cut_then_queue(target: str) -> None:
                # planned so far: up to its cut
                self._apply_target(kind, target, plans[target], outcomes[target],
                                   progress[target], cut_at=cut_at)
                with self._lock:
                    later.append(later_pool.submit(later_steps, target))

            try:
                self._map(cut_then_queue, cutting)
            finally:
                every_cut_made.set()  # never leave a later step waiting on a crashed pass
            if cut_at:
                result.isolated_at = max(cut_at)
                self.audit.append("network-isolated", kind=kind,
                                  at=result.isolated_at.isoformat(), cuts=len(cut_at))
            with self._lock:
                later.extend(later_pool.submit(later_steps, t)
                             for t in targets if t not in plan_later)
                queued = list(later)
            for future in queued:
                future.result()
        result.done_at = self.ctx.now()

    def _apply_together(
        self, kind: str, targets: list[str],
        plans: dict[str, list[tuple[StepCall, Step, list[Change]]]],
        outcomes: dict[str, TargetOutcome], progress: dict[str, _TargetProgress],
    ) -> None:
        """Apply every target's `Step.applied_together` steps (planned, before the cut) in
        one pass, before anything else, and take them out of `plans`: applied concurrently,
        their calls meet (`runbooks.core.batching`), one call for many targets. A failure
        is the target's own, as in `_apply_target` (rolled back; nothing else attempted)."""
        together: dict[str, list[tuple[StepCall, Step, list[Change]]]] = {}
        for target in targets:
            first = [p for p in plans[target] if p[1].applied_together]
            if first:
                together[target] = first
                plans[target] = [p for p in plans[target] if not p[1].applied_together]
        if not together:
            return
        width = max(step.applied_together for first in together.values()
                    for _, step, _ in first)
        with ThreadPoolExecutor(max_workers=max(1, min(width, len(together)))) as pool:
            for future in [pool.submit(self._apply_target, kind, t, first, outcomes[t],
                                       progress[t]) for t, first in together.items()]:
                future.result()

    def _apply_target(
        self,
        kind: str,
        target: str,
        planned: list[tuple[StepCall, Step, list[Change]]],
        outcome: TargetOutcome,
        progress: _TargetProgress | None = None,
        *,
        cut_at: list[datetime] | None = None,
    ) -> None:
        """Apply `planned` (a target's pipeline, or one pass of it: `progress` carries what
        was applied across passes); on a failure, roll back everything applied so far."""
        by_change = {id(c.change): c for c in outcome.changes}
        progress = progress or _TargetProgress()
        applied = progress.applied
        if progress.rolled_back:
            for _, _, changes in planned:
                for change in changes:
                    by_change[id(change)].status = NOT_ATTEMPTED
            return
        out_of_time = progress.out_of_time  # once out of time, every later change is refused
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
                written: list[dict[str, Any]] = []  # evidence objects the apply wrote
                try:
                    with recording_evidence() as written:
                        details = dict(step.apply(change))
                except _handled_errors() as err:
                    message, code = _describe_error(err)
                    change_outcome.status, change_outcome.error = FAILED, message
                    # Part of it may have been made (a multi-call step), or AWS never
                    # answered (the call may have landed): its outcome is unknown.
                    change_outcome.uncertain = step.reversible and (
                        step.multi_call or not _answered(err))
                    if outcome.error is None:
                        outcome.error, outcome.error_code = message, code
                    self.audit.append("apply-failed", **record, error=message,
                                      uncertain=change_outcome.uncertain,
                                      **({"evidence": written} if written else {}))
                    if change_outcome.uncertain:
                        # undo whatever was made first, with the rest
                        applied.append((call, step, change_outcome))
                    continue
                except BaseException as err:
                    # A bug or an interrupt (not an AWS answer): put the target back as it
                    # was, then let it propagate; never reported as "contained".
                    self.audit.append("apply-crashed", **record, error=repr(err),
                                      **({"evidence": written} if written else {}))
                    change_outcome.status, change_outcome.error = FAILED, repr(err)
                    change_outcome.uncertain = step.reversible
                    if step.multi_call and step.reversible:
                        applied.append((call, step, change_outcome))
                    if not self.keep_going:
                        self._roll_back(kind, target, applied)
                    raise
                change_outcome.status, change_outcome.result = APPLIED, details
                if step.cuts_network and cut_at is not None:
                    with self._lock:
                        cut_at.append(self.ctx.now())
                self.audit.append("applied", **record, result=details,
                                  **({"evidence": written} if written else {}))
                if isinstance(details.get("queued"), dict):
                    self._evidence_queued(record, details["queued"])
                applied.append((call, step, change_outcome))
        progress.out_of_time = out_of_time
        # Out of time: what was applied stays (recorded, reversible with release); a
        # rollback would itself need the time that is not there.
        if outcome.error is not None and not self.keep_going and out_of_time is None:
            self._roll_back(kind, target, applied)
            progress.rolled_back = True

    def _assess(self, step: Step, change: Change) -> tuple[str, Mapping[str, Any] | None]:
        """`ours` (live is a state this change leaves: undo it), `before` (nothing to
        undo), `drift` (changed since by someone else), or `unknown` (cannot tell)."""
        live = step.current(change)
        if live is None:
            return "unknown", None
        if any(same_state(live, state) for state in step.ours(change)):
            return "ours", live
        if same_state(live, change.before):
            return "before", live
        return "drift", live

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
            change = change_outcome.change
            self.listener(target, f"rolling back: {change.summary}")
            record = {"kind": kind, "target": target, "step": call.name,
                      "params": dict(call.params), "change": change.to_dict(),
                      "account": self.ctx.account_id}
            try:
                verdict, live = self._assess(step, change)
                if verdict == "drift":
                    # Someone (another run, a human) changed it since: reverting would
                    # undo their change, not ours.
                    message = f"not rolled back: changed since ({drift_text(change, live)})"
                    change_outcome.status = ROLLBACK_SKIPPED
                    change_outcome.error = f"{change_outcome.error or ''} {message}".lstrip()
                    self.audit.append("rollback-skipped", **record, live=live, error=message)
                    continue
                if verdict != "before":
                    step.rollback(change, change_outcome.result)
            except _handled_errors() as err:
                message, _ = _describe_error(err)
                change_outcome.status = ROLLBACK_FAILED
                change_outcome.error = f"{change_outcome.error or ''} rollback failed: " \
                    f"{message}".lstrip()
                self.audit.append("rollback-failed", **record, error=message)
                continue
            change_outcome.status = ROLLED_BACK
            self.audit.append("rolled-back", **record,
                              **({"note": "already as before"} if verdict == "before" else {}))


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
                self.ctx.manifest.evidence_bucket,
                self.ctx.evidence_encryption().get("SSEKMSKeyId"),
            )
        except (ClientError, BotoCoreError) as err:
            message, _ = _describe_error(err)
            result.warnings.append(
                f"audit log NOT copied to the evidence bucket ({message}); it is kept at "
                f"{self.audit.path}: `irctl case sync {self.ctx.case_id}` copies it"
            )

    # -- release ----------------------------------------------------------------------

    def in_place_changes(self, kind: str, target: str) -> list[RecordedChange]:
        """Reversible changes recorded for (kind, target) in this account and not rolled
        back or released since, in any state (applied, or outcome unknown), oldest first."""
        return [e for e in recorded_changes(self.audit.records(), self.ctx.account_id)
                if e.kind == kind and e.target == target
                and e.account == self.ctx.account_id]

    def release(self, kind: str, target: str, *, force: bool = False) -> RunResult:
        """Restore the pre-action state of (kind, target) recorded in this case's log.

        Each change still in place is compared with the live state first: one already as
        before is done; one changed since it was contained (drift) refuses the release,
        showing before / recorded after / live, unless `force`."""
        result = RunResult(self.ctx.case_id, f"release {kind}", self.apply)
        outcome = TargetOutcome(f"release {kind}", target)
        result.targets.append(outcome)
        self.ctx.cache.clear()
        self.ctx.targets = (target,)
        claims = self._claims() if self.apply else None
        if claims is not None:
            refused = claims.claim_all([target], self._map)
            if refused:
                outcome.error = (f"{kind} {target} is being changed by another run: "
                                 f"{refused[target]}; waited {int(claims.wait)} s; retry "
                                 "when it has finished")
                outcome.error_code = EXIT_BAD_INPUT
                result.warnings += claims.warnings
                return result
        try:
            self._release_claimed(kind, target, force, outcome, result)
        finally:
            if claims is not None:
                claims.release_all()
                result.warnings += claims.warnings
        return result

    def _release_claimed(self, kind: str, target: str, force: bool, outcome: TargetOutcome,
                         result: RunResult) -> None:
        entries = self.in_place_changes(kind, target)
        self.audit.append("release-started", kind=kind, target=target,
                          mode="apply" if self.apply else "plan", changes=len(entries))
        planned: list[tuple[RecordedChange, Step, str, ChangeOutcome]] = []
        drifted: list[str] = []
        for entry in reversed(entries):
            change = entry.change
            step = self._build(StepCall(entry.step, entry.record.get("params", {})))
            state = "" if entry.state == APPLIED else f" [recorded {entry.state}]"
            try:
                verdict, live = self._assess(step, change)
            except _handled_errors() as err:
                message, code = _describe_error(err)
                outcome.error, outcome.error_code = outcome.error or message, code
                verdict, live = "unknown", None
            note = {"before": " (already as before: nothing to do)",
                    "drift": " (CHANGED SINCE containment)"}.get(verdict, "")
            release_change = Change(change.step, change.target,
                                    f"undo: {change.summary}{state}{note}",
                                    before=dict(live) if live is not None else change.after,
                                    after=change.before)
            change_outcome = ChangeOutcome(release_change, PLANNED,
                                           result={"state": entry.state, "live": live})
            if verdict == "drift":
                change_outcome.error = drift_text(change, live)
                drifted.append(f"{change.summary}: {drift_text(change, live)}")
            outcome.changes.append(change_outcome)
            planned.append((entry, step, verdict, change_outcome))
        if drifted and not force and outcome.error is None:
            outcome.error = (
                f"{kind} {target} was changed since it was contained; release would undo "
                "that change: " + "; ".join(drifted) + ". Re-run with --force to restore "
                "the recorded pre-action state anyway")
            outcome.error_code = EXIT_BAD_INPUT
        if outcome.error is not None:
            for _, _, _, change_outcome in planned:
                change_outcome.status = NOT_ATTEMPTED
            self.audit.append("release-refused", kind=kind, target=target,
                              error=outcome.error)
            return
        if self.apply:
            for entry, step, verdict, change_outcome in planned:
                self._release_one(kind, target, entry, step, verdict, change_outcome, outcome)
            if outcome.error is not None:
                # Changes that were not restored are still applied: report them as such.
                for _, _, _, change_outcome in planned:
                    if change_outcome.status == NOT_ATTEMPTED:
                        change_outcome.status = APPLIED
                    elif change_outcome.status == FAILED:
                        change_outcome.status = ROLLBACK_FAILED
        self.audit.append("release-finished", kind=kind, target=target,
                          exit_code=result.exit_code)
        if self.apply:
            self._upload(result)

    def _release_one(self, kind: str, target: str, entry: RecordedChange, step: Step,
                     verdict: str, change_outcome: ChangeOutcome,
                     outcome: TargetOutcome) -> None:
        if outcome.error is not None and not self.keep_going:
            change_outcome.status = NOT_ATTEMPTED
            return
        self.listener(target, change_outcome.change.summary)
        record = {"kind": kind, "target": target, "step": entry.step,
                  "params": entry.record.get("params", {}), "change": entry.record["change"],
                  "account": self.ctx.account_id}
        try:
            if verdict != "before":
                step.rollback(entry.change, entry.record.get("result") or {})
        except _handled_errors() as err:
            message, code = _describe_error(err)
            change_outcome.status, change_outcome.error = FAILED, message
            outcome.error, outcome.error_code = outcome.error or message, code
            self.audit.append("release-failed", **record, error=message)
            return
        change_outcome.status = RELEASED
        self.audit.append("released", **record, state=entry.state,
                          **({"note": "already as before"} if verdict == "before" else {}))


def _mutating(actions: Collection[str]) -> frozenset[str]:
    """The actions of `actions` that change something (EC2 meters those per API; the
    read prefixes are the pacer's)."""
    return frozenset(a for a in actions
                     if not a.split(":", 1)[-1].startswith(READ_PREFIXES))


def _after_cut(built: Sequence[tuple[StepCall, Step]]) -> int:
    """Index after a pipeline's last network-cutting step; 0 when it has none."""
    cuts = [i for i, (_, step) in enumerate(built) if step.cuts_network]
    return cuts[-1] + 1 if cuts else 0


@dataclass
class _TargetProgress:
    """One target's apply across the runner's passes (network first, then the rest)."""

    applied: list[tuple[StepCall, Step, ChangeOutcome]] = field(default_factory=list)
    out_of_time: str | None = None
    rolled_back: bool = False


class _NoClaims:
    """Claims turned off (`claim_targets=False`): in-process tests of one runner."""

    wait = 0.0
    warnings: list[str] = []

    def claim_all(self, targets: Sequence[str], mapper: Any) -> dict[str, str]:
        return {}

    def release_all(self) -> None:
        return None


def drift_text(change: Change, live: Mapping[str, Any] | None) -> str:
    import json

    def text(state: Mapping[str, Any] | None) -> str:
        return json.dumps(state, sort_keys=True, default=str)

    return (f"before {text(change.before)} / recorded after {text(change.after)} / live "
            f"{text(live)}")


def _answered(err: BaseException) -> bool:
    """AWS answered with an error (nothing was made), unlike a lost connection."""
    from botocore.exceptions import ClientError

    return isinstance(err, (ClientError, IrError))


# Events that put a change in (or keep it in) the "in place" state, and the state they mean.
_STATE_OF_EVENT = {
    "applying": "applying",  # no outcome recorded: a crash, a killed terminal
    "apply-crashed": "applying",
    "applied": APPLIED,
    "apply-failed": "apply-failed",  # only when `uncertain`
    "rollback-failed": ROLLBACK_FAILED,
    "rollback-skipped": ROLLBACK_SKIPPED,
    "release-failed": "release-failed",
}


@dataclass
class RecordedChange:
    """A reversible change of a case still in place (or possibly in place)."""

    account: str
    kind: str
    target: str
    step: str
    subject: str
    state: str
    record: dict[str, Any]
    """The latest record of it (its params, change and result)."""
    before: Mapping[str, Any]
    """The earliest recorded pre-action state of its subject still in place."""
    previous: RecordedChange | None = None

    @property
    def change(self) -> Change:
        change = Change.from_dict(self.record["change"])
        return Change(change.step, change.target, change.summary, self.before, change.after)

    def to_dict(self) -> dict[str, Any]:
        return {"account": self.account, "kind": self.kind, "target": self.target,
                "step": self.step, "state": self.state, "summary": self.change.summary,
                "before": dict(self.before), "after": dict(self.change.after)}


def recorded_changes(records: Sequence[Mapping[str, Any]], own_account: str
                     ) -> list[RecordedChange]:
    """Every reversible change of a case's log still in place, oldest first.

    Keyed by account, kind, target, step and the step's `subject`, so a re-run's change
    of the same ENI supersedes the crashed one while keeping its `before`. A record
    without `account` was made in `own_account`."""
    load_all_steps()
    live: dict[tuple[str, ...], RecordedChange] = {}
    for record in records:
        event = str(record.get("event"))
        step_name, change_dict = record.get("step"), record.get("change")
        if not isinstance(change_dict, Mapping) or not isinstance(step_name, str):
            continue
        cls = REGISTRY.get(step_name)
        if cls is None or not cls.reversible or "kind" not in record:
            continue
        change = Change.from_dict(change_dict)
        key = (str(record.get("account") or own_account), str(record["kind"]),
               str(record.get("target")), step_name, cls.subject(change))
        existing = live.get(key)
        if event in ("rolled-back", "released"):
            live.pop(key, None)
        elif event == "apply-failed" and not record.get("uncertain"):
            # AWS answered no: nothing was made; what was in place before still is
            if existing is not None and existing.previous is not None:
                live[key] = existing.previous
            else:
                live.pop(key, None)
        elif event in _STATE_OF_EVENT:
            new = RecordedChange(*key, state=_STATE_OF_EVENT[event], record=dict(record),
                                 before=existing.before if existing else change.before,
                                 previous=existing if event == "applying" else
                                 (existing.previous if existing else None))
            if event not in ("applying", "apply-crashed") and existing is not None \
                    and not record.get("result") and existing.record.get("result"):
                new.record["result"] = existing.record["result"]
            live[key] = new
    return sorted(live.values(), key=lambda e: int(e.record.get("seq") or 0))
