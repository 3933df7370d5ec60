"""Helpers every command module uses: settings, opening a case, rendering results.

The options, the session and the runner factory live in `runbooks.workflows.session`
(workflows use them too); this module adds what only an adapter does: click options,
errors to exit codes, progress bars, tables and JSON.

Import boto3/rich only inside functions: `irctl --help` imports this module.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar, cast

import click

from runbooks.core.errors import EXIT_ACTION_FAILED, EXIT_BAD_INPUT, IrError
from runbooks.workflows import session as workflow_session

# The workflow layer owns these; commands (and other modules, until they import the
# workflow layer themselves) keep importing them from here.
from runbooks.workflows.session import (
    Session,
    Settings,
    caller_identity,
    claim_wait_seconds,
    make_runner,
    make_sessions,
)

if TYPE_CHECKING:
    from runbooks.analysis.sources import SourceFailure
    from runbooks.core.context import SessionFactory
    from runbooks.core.manifest_schema import Manifest
    from runbooks.core.runner import RunResult

__all__ = [
    "CliFeedback", "Session", "Settings", "caller_identity", "check_identifiers",
    "claim_wait_seconds", "common_options", "exit_with", "fail", "handle_errors",
    "job_progress", "make_runner", "make_sessions", "open_session", "pass_settings", "progress",
    "render_outcome", "render_results", "stderr_console", "aws_cli_options", "emit_document",
    "out_console", "waiting",
]

F = TypeVar("F", bound=Callable[..., Any])


pass_settings = click.make_pass_decorator(Settings, ensure=True)


def _setter(attr: str) -> Callable[[click.Context, click.Parameter, Any], None]:
    def callback(ctx: click.Context, _param: click.Parameter, value: Any) -> None:
        if value is None or value is False:
            return
        settings = ctx.ensure_object(Settings)
        setattr(settings, attr, value)

    return callback


OUTPUT_FORMATS = ("table", "text", "json")
"""`--output`: table (rich tables; ids never cut), text (tab-separated lines, as the AWS
CLI's `text`, derived from the JSON document), json (one JSON document on stdout)."""


def aws_cli_options(fn: F) -> F:
    """The AWS CLI's habits: --region/--profile/--endpoint-url/--output/--no-color/--debug
    are accepted after the subcommand as well as before it (as `aws s3 ls --region x`)."""
    options = [
        click.option("--profile", "profile_", metavar="NAME", expose_value=False,
                     callback=_setter("profile"), help="AWS profile (same as the global "
                     "option)."),
        click.option("--region", "region_", metavar="REGION", expose_value=False,
                     callback=_setter("region"), help="AWS region (same as the global option)."),
        click.option("--endpoint-url", "endpoint_url_", metavar="URL", expose_value=False,
                     callback=_setter("endpoint_url"),
                     help="AWS endpoint (same as the global option)."),
        click.option("--output", "output_", type=click.Choice(OUTPUT_FORMATS),
                     expose_value=False, callback=_setter("output"),
                     help="table, text or json (same as the global option)."),
        click.option("--no-color", "no_color_", is_flag=True, expose_value=False,
                     callback=_setter("no_color"), help="No colours or styles."),
        click.option("--debug", "-v", "debug_", is_flag=True, expose_value=False,
                     callback=_enable_debug, help="Log every AWS call to stderr."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _enable_debug(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        from runbooks.commands._debug import enable_debug

        enable_debug(ctx.ensure_object(Settings))


def common_options(fn: F) -> F:
    """Accept --case/--apply/--keep-going and the AWS CLI options after the subcommand."""
    options = [
        click.option("--case", "case_id_", expose_value=False, callback=_setter("case_id"),
                     help="Case id (same as the global option)."),
        click.option("--apply", "apply_", is_flag=True, expose_value=False,
                     callback=_setter("apply"), help="Make the changes (default: plan only)."),
        click.option("--keep-going", "keep_going_", is_flag=True, expose_value=False,
                     callback=_setter("keep_going"),
                     help="On a failed change, continue instead of rolling back."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return aws_cli_options(fn)


def _no_color() -> bool:
    context = click.get_current_context(silent=True)
    settings = context.find_object(Settings) if context is not None else None
    return bool(settings is not None and settings.no_color)


def stderr_console() -> Any:
    from rich.console import Console

    # soft_wrap: a sentence (the case-id hint, an error) is one line in a log, never
    # folded at 80 columns mid-word
    return Console(stderr=True, soft_wrap=True, no_color=_no_color() or None,
                   highlight=False)


WIDE = 4096
"""Width of stdout when it is not a terminal: tables take their natural width, so an id
or an ARN is never cut or folded in a log, a pipe or a ticket."""


def out_console(settings: Settings | None = None) -> Any:
    """The console for stdout: the terminal's width on a terminal; otherwise wide enough
    for every table at its natural width (each id whole on one line)."""
    import sys as _sys

    from rich.console import Console

    no_color = (settings.no_color if settings is not None else _no_color()) or None
    if _sys.stdout.isatty():
        return Console(no_color=no_color)
    return Console(width=WIDE, soft_wrap=True, no_color=no_color)


def emit_document(settings: Settings, document: Any) -> None:
    """One JSON document on stdout (--output json) or its AWS CLI `text` lines."""
    if settings.output == "text":
        from runbooks.commands._text import format_text

        click.echo(format_text(document), nl=False)
    else:
        click.echo(json.dumps(document, indent=2, default=str))


def fail(settings: Settings, message: str, code: int) -> NoReturn:
    if settings.json:
        click.echo(json.dumps({"error": message, "exitCode": code}, indent=2))
    elif settings.output == "text":
        click.echo(f"ERROR\t{code}\t{' '.join(message.split())}")
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
        from botocore.parsers import ResponseParserError

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
        except (ClientError, ResponseParserError) as err:
            from runbooks.core.aws_errors import describe_aws_error
            from runbooks.core.permissions import denied_hint

            # code and request id, never a raw HTML/XML page as the message
            hint = denied_hint(err) if isinstance(err, ClientError) else None
            fail(settings, describe_aws_error(err).text() + (f" ({hint})" if hint else ""),
                 EXIT_ACTION_FAILED)
        except BotoCoreError as err:
            from runbooks.core.context import is_timeout, timeout_message

            fail(settings, timeout_message(err) if is_timeout(err) else
                 f"AWS call failed: {err}", EXIT_ACTION_FAILED)

    return cast(F, wrapper)


def open_session(settings: Settings, *, new_case: bool = True,
                 sessions: SessionFactory | None = None) -> Session:
    """`runbooks.workflows.session.open_session`, printing a generated case id."""
    return workflow_session.open_session(settings, new_case=new_case, sessions=sessions,
                                         feedback=CliFeedback(settings))


class CliFeedback:
    """A workflow's feedback on the terminal: a progress bar and the generated case id,
    both on stderr (stdout is the table or the JSON document)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def progress(self, title: str) -> AbstractContextManager[Callable[[str, str], None]]:
        return progress(self.settings, title)

    def case_generated(self, case_id: str) -> None:
        stderr_console().print(f"case: [bold]{case_id}[/] (generated; pass --case "
                               f"{case_id} to continue it)")

    def job(self, title: str) -> AbstractContextManager[Callable[[float, str], None]]:
        return job_progress(self.settings, title)

    def notice(self, message: str) -> None:
        stderr_console().print(message, highlight=False)

    def manifest_loaded(self, manifest: Manifest) -> None:
        self.settings.labels.update(group_roles(manifest))

    def on_close(self, callback: Callable[[], object]) -> None:
        context = click.get_current_context(silent=True)
        if context is not None:
            context.call_on_close(callback)


HEARTBEAT_ENV = "IR_PROGRESS_SECONDS"
DEFAULT_HEARTBEAT = 5.0


def heartbeat_seconds() -> float:
    """How often a wait prints a line when stderr is not a terminal (env
    IR_PROGRESS_SECONDS; 5 s by default)."""
    import os

    raw = os.environ.get(HEARTBEAT_ENV, "")
    try:
        return max(0.05, float(raw)) if raw else DEFAULT_HEARTBEAT
    except ValueError:
        raise click.UsageError(f"{HEARTBEAT_ENV}={raw!r} is not a number of seconds; "
                               "unset it or give e.g. 5") from None


class _Heartbeat:
    """Lines on stderr (not a terminal: a CI log, a pipe) while a wait lasts: the first
    after `interval`, then one every `interval`, each naming what is waited for and for
    how long. A wait shorter than `interval` prints nothing."""

    def __init__(self, title: str, interval: float) -> None:
        import threading

        self.title = title
        self.interval = interval
        self.status = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"progress {title}",
                                        daemon=True)

    def __enter__(self) -> _Heartbeat:
        import time

        self._started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        import time

        while not self._stop.wait(self.interval):
            elapsed = time.monotonic() - self._started
            status = f": {self.status}" if self.status else ""
            click.echo(f"waiting {elapsed:.0f} s: {self.title}{status}", err=True)


@contextmanager
def waiting(settings: Settings, title: str) -> Iterator[Callable[[str], None]]:
    """Show that `title` is being waited for: a spinner on a terminal, a line every few
    seconds otherwise. Yields a function to update what is shown."""
    console = stderr_console()
    if console.is_terminal:
        from rich.status import Status

        with Status(title, console=console) as status:
            yield lambda text: status.update(f"{title}: {text}" if text else title)
        return
    with _Heartbeat(title, heartbeat_seconds()) as beat:
        def update(text: str) -> None:
            beat.status = text

        yield update


@contextmanager
def progress(settings: Settings, title: str) -> Iterator[Callable[[str, str], None]]:
    """A listener for the runner: a spinner on stderr when it is a terminal, else a line
    every few seconds naming the target and what it waits for."""
    import threading

    from rich.progress import Progress, SpinnerColumn, TextColumn

    console = stderr_console()
    if not console.is_terminal:
        with _Heartbeat(title, heartbeat_seconds()) as beat:
            def status(target: str, message: str) -> None:
                beat.status = f"{target}: {message}"

            yield status
        return
    lock = threading.Lock()
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), console=console,
                  transient=True) as bar:
        task = bar.add_task(title)

        def listener(target: str, message: str) -> None:
            with lock:
                bar.update(task, description=f"{title}: {target}: {message}")

        yield listener


@contextmanager
def job_progress(settings: Settings, title: str) -> Iterator[Callable[[float, str], None]]:
    """A Backup/restore job: a progress bar on stderr on a terminal, else a line every few
    seconds with its percent done and state."""
    console = stderr_console()
    if not console.is_terminal:
        with _Heartbeat(title, heartbeat_seconds()) as beat:
            def state_line(percent: float, state: str) -> None:
                beat.status = f"{state.lower()} {percent:.0f}%"

            yield state_line
        return
    from rich.progress import (
        BarColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    with Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                  TextColumn("{task.fields[state]}"), TimeElapsedColumn(),
                  console=console) as bar:
        task = bar.add_task(title, total=100.0, state="")

        def update(percent: float, state: str) -> None:
            bar.update(task, completed=percent, state=state.lower())

        yield update


def group_roles(manifest: Manifest) -> dict[str, str]:
    """Each quarantine security group's id -> its role (isolation, conversion,
    forensic), from the manifest's `quarantine` per VPC."""
    roles: dict[str, str] = {}
    for groups in manifest.quarantine.values():
        roles[groups.isolation_security_group_id] = "isolation"
        roles[groups.conversion_security_group_id] = "conversion"
        roles[groups.forensic_security_group_id] = "forensic"
    return roles


def _shown(value: Any, labels: Mapping[str, str], original: bool) -> str:
    """A state value on one line; security groups named by role ("original" for a
    group that is not one of the stack's quarantine groups)."""
    if value is None or value == [] or value == {}:
        return "none"
    if isinstance(value, (list, tuple)):
        return ", ".join(_shown(v, labels, original) for v in value)
    if isinstance(value, str) and value.startswith("sg-"):
        role = labels.get(value) or ("original" if original else "")
        return f"{value} ({role})" if role else value
    if isinstance(value, dict):
        # whole, even when long: it may hold ids (a recorded pre-action state)
        return json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))
    return str(value)


def transitions(before: Mapping[str, Any], after: Mapping[str, Any],
                labels: Mapping[str, str]) -> list[str]:
    """`key: before -> after` for each key whose value the change makes different (an
    unchanged key, such as the ENI a group swap is on, is context, not a change)."""
    lines = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old == new or key not in after or key not in before:
            continue  # a key on one side only is a note (the conversion group on the way)
        lines.append(f"{key}: {_shown(old, labels, True)} -> {_shown(new, labels, True)}")
    return lines


STATUS_STYLE = {
    "planned": "cyan", "applied": "green", "released": "green", "failed": "bold red",
    "rolled-back": "yellow", "rollback-failed": "bold red", "not-attempted": "dim",
}


def render_outcome(settings: Settings, outcome: workflow_session.Outcome) -> int:
    """Render a workflow's outcome; the exit code. A run across scopes also names, on
    stderr, the account and region each target was acted on in."""
    from runbooks.workflows.fleet import FleetOutcome

    if isinstance(outcome, FleetOutcome) and not settings.structured:
        for account, region, targets in outcome.scopes:
            stderr_console().print(f"{account} {region}: {', '.join(targets)}",
                                   highlight=False)
    return render_results(settings, outcome.results, outcome.extra or None)


def exit_with(settings: Settings, outcome: workflow_session.Outcome) -> NoReturn:
    """Render a workflow's outcome and exit with its code."""
    sys.exit(render_outcome(settings, outcome))


def render_results(settings: Settings, results: list[RunResult], extra: dict[str, Any]
                   | None = None, failed_sources: Sequence[SourceFailure] = ()) -> int:
    """Print results (table or JSON) and return the combined exit code. `failed_sources`:
    what an analysis could not read (each named on stderr; exit 3 unless worse)."""
    from runbooks.analysis.sources import with_partial
    from runbooks.core.errors import combine_exit_codes

    # Evidence still queued locally (the last run's view of the case's queue): the
    # changes were made, but it is not plain success (exit 4).
    queued = results[-1].evidence_queued if results else []
    code = with_partial(combine_exit_codes([r.exit_code for r in results], bool(queued)),
                        failed_sources)
    for failed in failed_sources:
        click.echo(f"error: source {failed.text()}", err=True)
    # Every refused or failed target also gets one line on stderr (scripts and humans
    # read stderr for why; the table on stdout has the details).
    for result in results:
        for target in result.targets:
            if target.error:
                message = " ".join(target.error.split())
                click.echo(f"error: {result.kind} {target.target}: {message}", err=True)
    if settings.structured:
        document = {"case": settings.case_id, "exitCode": code,
                    "runs": [r.to_dict() for r in results], "evidenceQueued": queued,
                    **(extra or {})}
        emit_document(settings, document)
        return code
    from rich.markup import escape
    from rich.table import Table

    out = out_console(settings)
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
                moves = transitions(change.change.before, change.change.after,
                                    settings.labels)
                detail = escape(change.change.summary) + "".join(
                    f"\n  {escape(line)}" for line in moves) + (
                    f"\n[red]{escape(change.error)}[/]" if change.error else "") + (
                    "\n[bold yellow]NOT in the evidence bucket: queued in the case "
                    "directory[/]" if isinstance(change.result.get("queued"), dict) else "")
                table.add_row(name, escape(change.change.step), detail,
                              f"[{style}]{change.status}[/]" if style else change.status)
            if target.error and target.changes:
                table.add_row(name, "", f"[red]{escape(target.error)}[/]", "[red]error[/]")
        out.print(table)
        if result.apply and result.isolated_at is not None:
            timing = result.timing()
            out.print(f"isolated {timing['isolatedAt']} ({timing['isolatedSeconds']:.1f} s "
                      f"after the run started: every network cut made); done "
                      f"{timing['doneAt']} ({timing['doneSeconds']:.1f} s)", highlight=False)
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
    if failed_sources:
        out.print(f"[bold red]partial: {len(failed_sources)} source(s) failed[/] (named on "
                  "stderr); shown is what the other sources returned", highlight=False)
    out.print(f"case {settings.case_id}; exit code {code}", highlight=False)
    return code
