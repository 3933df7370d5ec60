"""Run one workflow's pipelines across accounts and regions: one session per scope.

`run_across(settings, kind, pipelines_by_scope)` opens a session for every scope (account
via its member responder role, region) concurrently and checks every precondition
(role assumable, manifest present and describing that account) BEFORE any change in any
account: a refusal anywhere changes nothing anywhere. Then each scope's pipelines run
through its own runner, concurrently, under one case (the audit log serialises appends);
with --apply every scope plans first and waits for the others (a barrier), and a target
that cannot be planned in any scope refuses every scope's run, as one target does in a
single runner. Each scope's high topic hears about what was applied there.

Workflows with several targets (`contain instance|bucket|role|access-key`, `eradicate
patch --instance`) call `split_targets` then `run_across` when the targets leave the
default scope; `release` calls `scope_of` for its one target.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from runbooks.core.errors import EXIT_BAD_INPUT, InvalidInput
from runbooks.workflows.notify import containment_notice
from runbooks.workflows.session import (
    SILENT,
    Feedback,
    Listener,
    Outcome,
    Session,
    Settings,
    make_runner,
    open_session,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from runbooks.core.accounts import Scope
    from runbooks.core.runner import Runner, RunResult, StepCall

MAX_SCOPES_IN_FLIGHT = 8


def scoped_settings(settings: Settings, scope: Scope) -> Settings:
    return dataclasses.replace(
        settings,
        account=scope.account or settings.account,
        region=scope.region or settings.region,
        event_hooks=list(settings.event_hooks),
    )


def split_targets(settings: Settings, texts: Iterable[str], *, account_only: bool = False,
                  what: str = "target") -> tuple[dict[Scope, list[str]], bool]:
    """Targets grouped per scope, and whether they all stay in the default scope (the
    global --account/--region): then the workflow runs as a single-scope one.

    `account_only`: accept `ACCOUNT:ID` too (account-wide targets: IAM, S3).
    """
    from runbooks.core.accounts import Scope, group_targets

    default = Scope(settings.account, settings.region)
    try:
        groups = group_targets(texts, default, account_only=account_only)
    except InvalidInput as err:
        raise InvalidInput(f"{what}: {err}") from err
    return groups, list(groups) in ([], [default])


def scope_of(settings: Settings, text: str, *, account_only: bool = True) -> tuple[
        Settings, str]:
    """One scoped target (`release`): the settings that act in its account and region,
    and the bare id."""
    from runbooks.core.accounts import Scope, parse_target

    scoped = parse_target(text, Scope(settings.account, settings.region),
                          account_only=account_only)
    if scoped.scope == Scope(settings.account, settings.region):
        return settings, scoped.target
    if settings.manifest_path:
        raise InvalidInput(f"--manifest describes one account and region; {text!r} names "
                           f"{scoped.scope.label()}: drop --manifest so that account's "
                           "manifest is read from SSM there")
    return scoped_settings(settings, scoped.scope), scoped.target


def open_sessions(settings: Settings, scopes: Sequence[Scope]) -> dict[Scope, Session]:
    """A verified session per scope, opened concurrently; the first refusal is raised."""
    with ThreadPoolExecutor(max_workers=min(MAX_SCOPES_IN_FLIGHT, len(scopes))) as pool:
        futures = {scope: pool.submit(open_session, scoped_settings(settings, scope))
                   for scope in scopes}
        return {scope: future.result() for scope, future in futures.items()}


@dataclasses.dataclass
class FleetOutcome(Outcome):
    """A run across scopes: every scope's runs, and per scope (account, region, targets)
    for the adapter to show where each target was acted on."""

    scopes: list[tuple[str, str, list[str]]] = dataclasses.field(default_factory=list)


def run_across(settings: Settings, kind: str,
               pipelines_by_scope: Mapping[Scope, Mapping[str, Sequence[StepCall]]], *,
               title: str | None = None, notify: bool = True,
               after: Callable[[Runner, RunResult], list[RunResult]] | None = None,
               feedback: Feedback = SILENT) -> FleetOutcome:
    """Plan (or apply) every scope's pipelines, notify per scope (`notify`: containment
    tells the high topic; eradication does not); the runs of every scope.

    `title`: the run's kind in the audit log and output (default `kind`). `after`: runs
    of its own each scope makes after its main run (evidence capture), before notifying;
    they are reported with the rest but never roll the main run back."""
    from runbooks.core.audit import new_case_id, validate_case_id
    from runbooks.core.runner import APPLIED

    if settings.manifest_path and len(pipelines_by_scope) > 1:
        raise InvalidInput(
            "--manifest describes one account and region, but the targets span "
            f"{len(pipelines_by_scope)} ({', '.join(s.label() for s in pipelines_by_scope)}); "
            "drop --manifest so each account's manifest is read from SSM there")
    if settings.case_id:
        validate_case_id(settings.case_id)
    else:
        settings.case_id = new_case_id()
        settings.case_generated = True  # a plan of every scope keeps no case directory
        feedback.case_generated(settings.case_id)
    scopes = list(pipelines_by_scope)
    sessions = open_sessions(settings, scopes)
    # Applying: every scope plans, then waits for the others; a target that cannot be
    # planned anywhere refuses every scope's run before anything is changed.
    barrier = threading.Barrier(len(scopes))
    refused: dict[Scope, int] = {}

    def gate_for(scope: Scope) -> Callable[[RunResult], int | None]:
        def gate(result: RunResult) -> int | None:
            codes = [o.error_code or EXIT_BAD_INPUT for o in result.targets if o.error]
            if codes:
                refused[scope] = max(codes)
            try:
                barrier.wait()
            except threading.BrokenBarrierError:
                return EXIT_BAD_INPUT  # another scope stopped before planning
            elsewhere = [code for other, code in refused.items() if other != scope]
            return max(elsewhere) if elsewhere else None

        return gate

    def run_scope(scope: Scope, listener: Listener) -> list[RunResult]:
        try:
            return scope_runs(scope, listener)
        except BaseException:
            barrier.abort()  # the others must not wait for a plan that will not come
            raise

    def scope_runs(scope: Scope, listener: Listener) -> list[RunResult]:
        session = sessions[scope]
        calls = {t: list(p) for t, p in pipelines_by_scope[scope].items()}
        label = f"{session.ctx.account_id}/{session.ctx.region}"
        runner = make_runner(session, lambda t, m: listener(f"{label} {t}", m))
        result = runner.run(title or kind, calls,
                            gate=gate_for(scope) if settings.apply else None)
        results = [result]
        if after is not None:
            results += after(runner, result)
        applied = any(c.status == APPLIED for t in result.targets for c in t.changes)
        if notify and settings.apply and applied:
            results.append(runner.run("notify", containment_notice(
                session, f"{kind} in {label}", list(calls), results)))
        return results

    with feedback.progress(title or f"contain {kind}") as listener:
        # One thread per scope: the plan barrier needs every scope running at once.
        with ThreadPoolExecutor(max_workers=len(scopes)) as pool:
            futures = [(scope, pool.submit(run_scope, scope, listener)) for scope in scopes]
            by_scope = [(scope, future.result()) for scope, future in futures]
    results = [r for _, rs in by_scope for r in rs]
    extra = {"scopes": [
        {"account": sessions[scope].ctx.account_id, "region": sessions[scope].ctx.region,
         "targets": list(pipelines_by_scope[scope]),
         "runs": [r.to_dict() for r in rs]}
        for scope, rs in by_scope]}
    shown = [(sessions[scope].ctx.account_id, sessions[scope].ctx.region,
              list(pipelines_by_scope[scope])) for scope, _ in by_scope]
    return FleetOutcome(results, extra, shown)


def records_by_account(records: Iterable[Mapping[str, Any]],
                       own: str) -> dict[str, list[Mapping[str, Any]]]:
    """The case's records per account they were made in (`own` when not recorded), the
    caller's own account first, then by account id."""
    grouped: dict[str, list[Mapping[str, Any]]] = {}
    for record in records:
        grouped.setdefault(str(record.get("account") or own), []).append(record)
    order = sorted(grouped, key=lambda account: (account != own, account))
    return {account: grouped[account] for account in order
            if any(r.get("event") in ("applied", "applying") for r in grouped[account])}


def account_settings(settings: Settings, account: str, own: str) -> Settings:
    """Settings that read `account`: the caller's own, or its member responder role
    (as `release` and the cross-account commands reach it)."""
    if account == own:
        return settings
    from runbooks.core.accounts import Scope

    return scoped_settings(settings, Scope(account, settings.region))
