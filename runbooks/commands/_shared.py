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
from pathlib import Path
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


# Options whose values are AWS ids or names (arguments always are): checked for
# whitespace, control and non-ASCII characters before the command runs. Tag values,
# S3 prefixes, times and file paths may legitimately hold spaces: not listed.
ID_OPTIONS = frozenset({
    "vpc_ids", "vault", "subnet", "security_groups", "recovery_point", "instance_type",
    "availability_zone", "instance_ids", "finding_id", "role_name", "account",
    "confirm_account",
})
NOT_ID_ARGUMENTS = frozenset({"kind"})
"""Arguments that are not AWS ids: `release KIND` matches a recorded run kind, which may
hold a space ("recover bucket"); choices are checked by click itself."""
ID_SETTINGS = {"case_id": "case id (--case)", "account": "--account",
               "role_name": "--role-name", "external_id": "--external-id",
               "region": "--region"}


def check_identifiers(ctx: click.Context, settings: Settings) -> None:
    """Refuse ids, names and case ids holding whitespace, control or non-ASCII
    characters, before any AWS call or file write (`runbooks.core.ids`)."""
    from runbooks.core.ids import check_identifier

    for name, what in ID_SETTINGS.items():
        value = getattr(settings, name)
        if isinstance(value, str):
            check_identifier(value, what)
    for param in ctx.command.params:
        if not (isinstance(param, click.Argument) or param.name in ID_OPTIONS):
            continue
        if isinstance(param.type, click.Choice) or param.name in NOT_ID_ARGUMENTS:
            continue
        value = ctx.params.get(param.name or "")
        label = (param.human_readable_name if isinstance(param, click.Argument)
                 else (param.opts[0] if param.opts else str(param.name)))
        for item in value if isinstance(value, (tuple, list)) else [value]:
            if isinstance(item, str):
                check_identifier(item, label)


def handle_errors(fn: F) -> F:
    """Turn IrError and unhandled AWS errors into a message and a trustworthy exit code.

    Ids and names are checked first (`check_identifiers`)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            NoCredentialsError,
            NoRegionError,
            ProfileNotFound,
        )

        context = click.get_current_context()
        settings = context.ensure_object(Settings)
        try:
            check_identifiers(context, settings)
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
            fail(settings, f"AWS call failed: {err}", EXIT_ACTION_FAILED)

    return cast(F, wrapper)


@dataclass
class Session:
    """What a command needs to act: clients, the verified manifest, the case and its log."""

    settings: Settings
    sessions: SessionFactory
    ctx: Context
    audit: AuditLog
    identity: dict[str, Any]
    scratch: Any = None
    """A plan without --case keeps its audit records here (removed at exit), so plans
    leave no case directory behind."""


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
    scratch = None
    if case_id is None:
        if not new_case:
            raise PreconditionFailed("this command needs --case ID (see `irctl case show`)")
        case_id = new_case_id()
        stderr_console().print(f"case: [bold]{case_id}[/] (generated; pass --case "
                               f"{case_id} to continue it)", highlight=False)
        settings.case_id = case_id
        if not settings.apply:
            # Only --apply or an explicit --case opens a case directory: a plan's records
            # go to a scratch directory, and its printed case id stays free for --apply.
            import tempfile

            scratch = tempfile.TemporaryDirectory(prefix="irctl-plan-")
    audit = AuditLog(case_id, Path(scratch.name) if scratch else None)
    ctx = Context(sessions=sessions, manifest=manifest, case_id=case_id,
                  account_id=manifest["accountId"], region=region)
    return Session(settings, sessions, ctx, audit, identity, scratch)


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
                  max_workers=s.max_workers, listener=listener)


STATUS_STYLE = {
    "planned": "cyan", "applied": "green", "released": "green", "failed": "bold red",
    "rolled-back": "yellow", "rollback-failed": "bold red", "not-attempted": "dim",
}


def render_results(settings: Settings, results: list[RunResult], extra: dict[str, Any]
                   | None = None) -> int:
    """Print results (table or JSON) and return the combined exit code."""
    from runbooks.core.errors import EXIT_OK, EXIT_PARTIAL

    codes = [r.exit_code for r in results]
    if EXIT_PARTIAL in codes:
        code = EXIT_PARTIAL
    else:
        code = max(codes, default=EXIT_OK)
    # Every refused or failed target also gets one line on stderr (scripts and humans
    # read stderr for why; the table on stdout has the details).
    for result in results:
        for target in result.targets:
            if target.error:
                message = " ".join(target.error.split())
                click.echo(f"error: {result.kind} {target.target}: {message}", err=True)
    if settings.json:
        document = {"case": settings.case_id, "exitCode": code,
                    "runs": [r.to_dict() for r in results], **(extra or {})}
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
                    f"\n[red]{escape(change.error)}[/]" if change.error else "")
                table.add_row(name, escape(change.change.step), detail,
                              f"[{style}]{change.status}[/]" if style else change.status)
            if target.error and target.changes:
                table.add_row(name, "", f"[red]{escape(target.error)}[/]", "[red]error[/]")
        out.print(table)
        for warning in result.warnings:
            out.print(f"[yellow]warning:[/] {escape(warning)}")
    planned = sum(len(t.changes) for r in results for t in r.targets)
    if not any(r.apply for r in results):
        hint = " Re-run with --apply to act." if planned else ""
        out.print(f"Plan only, nothing changed: {planned} change(s).{hint}")
    out.print(f"case {settings.case_id}; exit code {code}", highlight=False)
    return code
