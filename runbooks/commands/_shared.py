"""Helpers every command module uses: settings, opening a case, rendering results.

Import boto3/rich only inside functions: `irctl --help` imports this module.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar, cast

import click

from runbooks.core.errors import EXIT_ACTION_FAILED, EXIT_BAD_INPUT, IrError, PreconditionFailed

if TYPE_CHECKING:
    from runbooks.core.audit import AuditLog
    from runbooks.core.context import Context, SessionFactory
    from runbooks.core.runner import Runner, RunResult

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class Settings:
    """Global options, shared by all commands through the click context object."""

    profile: str | None = None
    region: str | None = None
    endpoint_url: str | None = None
    manifest_path: str | None = None
    case_id: str | None = None
    output: str = "text"
    apply: bool = False
    keep_going: bool = False
    max_workers: int = 32
    account: str | None = None
    """Act in this account through its member responder role (`--account`)."""
    role_name: str | None = None
    """Role assumed with --account (default: the member baseline's responder role)."""
    external_id: str | None = None
    """sts:ExternalId for that role (`--external-id`, env IR_EXTERNAL_ID)."""
    event_hooks: list[tuple[str, Callable[..., Any]]] = field(default_factory=list)

    @property
    def json(self) -> bool:
        return self.output == "json"


pass_settings = click.make_pass_decorator(Settings, ensure=True)


def _setter(attr: str) -> Callable[[click.Context, click.Parameter, Any], None]:
    def callback(ctx: click.Context, _param: click.Parameter, value: Any) -> None:
        if value is None or value is False:
            return
        settings = ctx.ensure_object(Settings)
        setattr(settings, attr, value)

    return callback


def common_options(fn: F) -> F:
    """Accept --case/--output/--apply/--keep-going after the subcommand too."""
    options = [
        click.option("--case", "case_id_", expose_value=False, callback=_setter("case_id"),
                     help="Case id (same as the global option)."),
        click.option("--output", "output_", type=click.Choice(["text", "json"]),
                     expose_value=False, callback=_setter("output"),
                     help="text or json (same as the global option)."),
        click.option("--apply", "apply_", is_flag=True, expose_value=False,
                     callback=_setter("apply"), help="Make the changes (default: plan only)."),
        click.option("--keep-going", "keep_going_", is_flag=True, expose_value=False,
                     callback=_setter("keep_going"),
                     help="On a failed change, continue instead of rolling back."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


def fail(settings: Settings, message: str, code: int) -> NoReturn:
    if settings.json:
        click.echo(json.dumps({"error": message, "exitCode": code}, indent=2))
    from rich.markup import escape

    stderr_console().print(f"[bold red]error:[/] {escape(message)}", highlight=False,
                           soft_wrap=True)
    sys.exit(code)


def handle_errors(fn: F) -> F:
    """Turn IrError and unhandled AWS errors into a message and a trustworthy exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            NoCredentialsError,
            NoRegionError,
            ProfileNotFound,
        )

        settings = click.get_current_context().ensure_object(Settings)
        try:
            return fn(*args, **kwargs)
        except IrError as err:
            fail(settings, str(err), err.exit_code)
        except (NoCredentialsError, ProfileNotFound) as err:
            fail(settings, f"{err}; configure credentials (AWS_PROFILE / --profile, or "
                 "assume the responder role) and retry", EXIT_BAD_INPUT)
        except NoRegionError:
            fail(settings, "no region: pass --region or set AWS_REGION", EXIT_BAD_INPUT)
        except ClientError as err:
            error = err.response.get("Error", {})
            fail(settings, f"{err.operation_name} failed: {error.get('Code')}: "
                 f"{error.get('Message', '')}", EXIT_ACTION_FAILED)
        except BotoCoreError as err:
            from runbooks.core.context import is_timeout, timeout_message

            fail(settings, timeout_message(err) if is_timeout(err) else
                 f"AWS call failed: {err}", EXIT_ACTION_FAILED)

    return cast(F, wrapper)


@dataclass
class Session:
    """What a command needs to act: clients, the verified manifest, the case and its log."""

    settings: Settings
    sessions: SessionFactory
    ctx: Context
    audit: AuditLog
    identity: dict[str, Any]


def make_sessions(settings: Settings) -> SessionFactory:
    from runbooks.core.context import SessionFactory

    sessions = SessionFactory(region=settings.region, profile=settings.profile,
                              endpoint_url=settings.endpoint_url,
                              event_hooks=list(settings.event_hooks))
    if settings.account:
        from runbooks.core.accounts import DEFAULT_MEMBER_ROLE_NAME, assumed_sessions

        return assumed_sessions(sessions, settings.account,
                                settings.role_name or DEFAULT_MEMBER_ROLE_NAME,
                                settings.external_id)
    return sessions


def caller_identity(sessions: SessionFactory, region: str | None) -> dict[str, Any]:
    identity: dict[str, Any] = sessions.client("sts", region).get_caller_identity()
    return identity


def open_session(settings: Settings, *, new_case: bool = True,
                 sessions: SessionFactory | None = None) -> Session:
    """Load the manifest, check the caller's account against it, open the case.

    `sessions`: reuse a caller's session factory (the automation Lambda keeps one per
    warm sandbox, so clients and loaded service models are not rebuilt per event).
    """
    from runbooks.core.audit import AuditLog, new_case_id, validate_case_id
    from runbooks.core.context import Context
    from runbooks.core.manifest import load_manifest

    sessions = sessions or make_sessions(settings)
    if settings.case_id:
        validate_case_id(settings.case_id)  # bad input before any call
    manifest = load_manifest(sessions, settings.region, settings.manifest_path)
    if settings.account:
        from runbooks.core.accounts import check_manifest_account

        check_manifest_account(manifest, settings.account,
                               settings.manifest_path or f"SSM in {settings.account}")
    region = settings.region or manifest["region"]
    sessions.region = region
    identity = caller_identity(sessions, region)
    if identity["Account"] != manifest["accountId"]:
        raise PreconditionFailed(
            f"refusing to act: your credentials are for account {identity['Account']} "
            f"({identity.get('Arn', '?')}) but the manifest is for account "
            f"{manifest['accountId']}; switch profile/role, or use that account's manifest"
        )
    case_id = settings.case_id
    if case_id is None:
        if not new_case:
            raise PreconditionFailed("this command needs --case ID (see `irctl case show`)")
        case_id = new_case_id()
        stderr_console().print(f"case: [bold]{case_id}[/] (generated; pass --case "
                               f"{case_id} to continue it)", highlight=False)
        settings.case_id = case_id
    audit = AuditLog(case_id)
    ctx = Context(sessions=sessions, manifest=manifest, case_id=case_id,
                  account_id=manifest["accountId"], region=region)
    return Session(settings, sessions, ctx, audit, identity)


@contextmanager
def progress(settings: Settings, title: str) -> Iterator[Callable[[str, str], None]]:
    """A listener for the runner, showing progress on stderr when it is a terminal."""
    import threading

    from rich.progress import Progress, SpinnerColumn, TextColumn

    console = stderr_console()
    if settings.json or not console.is_terminal:
        yield lambda target, message: None
        return
    lock = threading.Lock()
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), console=console,
                  transient=True) as bar:
        task = bar.add_task(title)

        def listener(target: str, message: str) -> None:
            with lock:
                bar.update(task, description=f"{title}: {target}: {message}")

        yield listener


def make_runner(session: Session, listener: Callable[[str, str], None]) -> Runner:
    from runbooks.core.runner import Runner

    s = session.settings
    return Runner(session.ctx, session.audit, apply=s.apply, keep_going=s.keep_going,
                  max_workers=s.max_workers, listener=listener,
                  claim_wait=claim_wait_seconds())


def claim_wait_seconds() -> float | None:
    """`IR_CLAIM_WAIT_SECONDS`: how long a run waits for another run's claim on a target
    before refusing it (default `runbooks.core.claims.DEFAULT_WAIT_SECONDS`)."""
    import os

    raw = os.environ.get("IR_CLAIM_WAIT_SECONDS", "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value < 0:
        raise PreconditionFailed(f"IR_CLAIM_WAIT_SECONDS = {raw!r}: must be a number of "
                                 "seconds, 0 or more")
    return value


STATUS_STYLE = {
    "planned": "cyan", "applied": "green", "released": "green", "failed": "bold red",
    "rolled-back": "yellow", "rollback-failed": "bold red", "not-attempted": "dim",
}


def render_results(settings: Settings, results: list[RunResult], extra: dict[str, Any]
                   | None = None) -> int:
    """Print results (table or JSON) and return the combined exit code."""
    from runbooks.core.errors import combine_exit_codes

    # Evidence still queued locally (the last run's view of the case's queue): the
    # changes were made, but it is not plain success (exit 4).
    queued = results[-1].evidence_queued if results else []
    code = combine_exit_codes([r.exit_code for r in results], bool(queued))
    if settings.json:
        document = {"case": settings.case_id, "exitCode": code,
                    "runs": [r.to_dict() for r in results], "evidenceQueued": queued,
                    **(extra or {})}
        click.echo(json.dumps(document, indent=2, default=str))
        return code
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    out = Console()
    for result in results:
        table = Table(title=f"{result.kind} ({'apply' if result.apply else 'plan'})",
                      title_justify="left")
        table.add_column("Target", no_wrap=True)
        table.add_column("Step", no_wrap=True)
        table.add_column("Change")
        table.add_column("Status", no_wrap=True)
        for target in result.targets:
            name = escape(target.target)
            if not target.changes:
                table.add_row(name, "-", escape(target.error or "nothing to do"),
                              "[red]error[/]" if target.error else "[green]ok[/]")
            for change in target.changes:
                style = STATUS_STYLE.get(change.status, "")
                detail = escape(change.change.summary) + (
                    f"\n[red]{escape(change.error)}[/]" if change.error else "") + (
                    "\n[bold yellow]NOT in the evidence bucket: queued in the case "
                    "directory[/]" if isinstance(change.result.get("queued"), dict) else "")
                table.add_row(name, escape(change.change.step), detail,
                              f"[{style}]{change.status}[/]" if style else change.status)
            if target.error and target.changes:
                table.add_row(name, "", f"[red]{escape(target.error)}[/]", "[red]error[/]")
        out.print(table)
        for warning in result.warnings:
            out.print(f"[yellow]warning:[/] {escape(warning)}")
    if queued:
        out.print(f"[bold yellow]{len(queued)} evidence object(s) NOT in the evidence bucket, "
                  f"queued in the case directory[/]: upload with `irctl case sync "
                  f"{escape(str(settings.case_id))}` (exit code 4)", highlight=False)
    planned = sum(len(t.changes) for r in results for t in r.targets)
    if not any(r.apply for r in results):
        hint = " Re-run with --apply to act." if planned else ""
        out.print(f"Plan only, nothing changed: {planned} change(s).{hint}")
    out.print(f"case {settings.case_id}; exit code {code}", highlight=False)
    return code
