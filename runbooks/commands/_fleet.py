"""Run one command's pipelines across accounts and regions: one session per scope.

`run_across(settings, kind, pipelines_by_scope)` opens a session for every scope (account
via its member responder role, region) concurrently and checks every precondition
(role assumable, manifest present and describing that account) BEFORE any change in any
account: a refusal anywhere changes nothing anywhere. Then each scope's pipelines run
through its own runner, concurrently, under one case (the audit log serialises appends);
with --apply every scope plans first and waits for the others (a barrier), and a target
that cannot be planned in any scope refuses every scope's run, as one target does in a
single runner. Each scope's high topic hears about what was applied there.

Commands with several targets (`contain instance|bucket|role|access-key`, `eradicate patch
--instance`) call `split_targets` then `run_across` when the targets leave the default
scope; `release` calls `scope_of` for its one target.
"""

from __future__ import annotations

import dataclasses
import sys
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from runbooks.commands._shared import (
    Session,
    Settings,
    make_runner,
    open_session,
    progress,
    render_results,
    stderr_console,
)
from runbooks.core.errors import EXIT_BAD_INPUT, InvalidInput

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from runbooks.core.accounts import Scope
    from runbooks.core.runner import Runner, RunResult

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
    global --account/--region): then the command runs as a single-scope command.

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


def run_across(settings: Settings, kind: str,
               pipelines_by_scope: Mapping[Scope, Mapping[str, Sequence[object]]], *,
               title: str | None = None, notify: bool = True,
               after: Callable[[Runner, RunResult], list[RunResult]] | None = None) -> None:
    """Plan (or apply) every scope's pipelines, notify per scope (`notify`: containment
    tells the high topic; eradication does not), render, exit.

    `title`: the run's kind in the audit log and output (default `kind`). `after`: runs
    of its own each scope makes after its main run (evidence capture), before notifying;
    they are reported with the rest but never roll the main run back."""
    from runbooks.commands.contain import summary_message
    from runbooks.core.audit import new_case_id, validate_case_id
    from runbooks.core.runner import APPLIED, StepCall

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
        stderr_console().print(f"case: [bold]{settings.case_id}[/] (generated; pass --case "
                               f"{settings.case_id} to continue it)", highlight=False)
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

    def run_scope(scope: Scope, listener: Any) -> list[RunResult]:
        try:
            return scope_runs(scope, listener)
        except BaseException:
            barrier.abort()  # the others must not wait for a plan that will not come
            raise

    def scope_runs(scope: Scope, listener: Any) -> list[RunResult]:
        session = sessions[scope]
        calls = {t: [c for c in p if isinstance(c, StepCall)]
                 for t, p in pipelines_by_scope[scope].items()}
        label = f"{session.ctx.account_id}/{session.ctx.region}"
        runner = make_runner(session, lambda t, m: listener(f"{label} {t}", m))
        result = runner.run(title or kind, calls,
                            gate=gate_for(scope) if settings.apply else None)
        results = [result]
        if after is not None:
            results += after(runner, result)
        applied = any(c.status == APPLIED for t in result.targets for c in t.changes)
        if notify and settings.apply and applied:
            results.append(runner.run("notify", {"high-topic": [StepCall("sns.notify", {
                "severity": "high",
                "subject": f"[{session.ctx.case_id}] contained {kind} in {label}: "
                           f"{', '.join(list(calls)[:3])}{' ...' if len(calls) > 3 else ''}",
                "message": summary_message(session, list(results))})]}))
        return results

    with progress(settings, title or f"contain {kind}") as listener:
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
    if not settings.json:
        for scope, _ in by_scope:
            ctx = sessions[scope].ctx
            stderr_console().print(
                f"{ctx.account_id} {ctx.region}: {', '.join(pipelines_by_scope[scope])}",
                highlight=False)
    sys.exit(render_results(settings, results, extra=extra))
