"""irctl: the responder's command line.

Global options (`--profile`, `--region`, `--endpoint-url`, `--manifest`, `--account`,
`--role-name`, `--external-id`, `--case`, `--output`, `--no-color`, `--debug`, `--apply`,
`--keep-going`) live on the `main` group and honour the standard AWS environment
(`AWS_PROFILE`, `AWS_REGION`/`AWS_DEFAULT_REGION`, `AWS_ENDPOINT_URL`).
As with the AWS CLI, `--region`, `--profile`, `--endpoint-url`, `--output`, `--no-color`
and `--debug` are also accepted after a subcommand (`aws_cli_options`), and so are
`--case`, `--apply` and `--keep-going` (`common_options`).

Adding commands (no need to edit this file or anyone else's):

* Put a module in `runbooks/commands/` (names starting with `_` are helpers, skipped).
  Every module there is imported when irctl needs its command list, in name order.
* To add a top-level command or group, define it with click and list it in the module's
  `COMMANDS` list: `COMMANDS = [status]`.
* To add a subcommand to an existing group, import the group from its module and
  decorate: in `runbooks/commands/contain_iam.py`::

      from runbooks.commands.contain import contain

      @contain.command("access-key")
      @common_options
      @click.argument("key_id")
      @pass_settings
      def access_key(settings: Settings, key_id: str) -> None: ...

* A command is a thin adapter: it parses, calls a workflow (`runbooks.workflows.*`:
  typed inputs, an `Outcome` back, no click, no exit), renders and exits
  (`exit_with(settings, outcome)`). What it does to AWS belongs in the workflow, so the
  Lambda and the drill can run it too; a containment procedure is a playbook phase
  (`runbooks.workflows.procedures`).
* Keep module top levels cheap: import boto3, botocore and rich inside functions, so
  `irctl --help` stays fast. Shared helpers (click options, errors to exit codes,
  progress, rendering results) are in `runbooks.commands._shared`.

Exit codes: 0 success or clean plan, 1 an action failed, 2 bad input or refused
precondition, 3 partially applied (recorded in the case's audit log, reversible).
"""

from __future__ import annotations

import importlib
import pkgutil

import click

from runbooks.commands._shared import OUTPUT_FORMATS, Settings


class CommandModules(click.Group):
    """A click group that imports `runbooks.commands.*` the first time it needs them."""

    _loaded = False

    def _load(self) -> None:
        if CommandModules._loaded:
            return
        CommandModules._loaded = True
        import runbooks.commands as package

        for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
            if info.name.startswith("_"):
                continue
            module = importlib.import_module(f"{package.__name__}.{info.name}")
            for command in getattr(module, "COMMANDS", []):
                self.add_command(command)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load()
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        self._load()
        return super().get_command(ctx, cmd_name)


@click.group(cls=CommandModules, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--profile", envvar="AWS_PROFILE", help="AWS profile (env AWS_PROFILE).")
@click.option("--region", envvar=["AWS_REGION", "AWS_DEFAULT_REGION"],
              help="AWS region (env AWS_REGION / AWS_DEFAULT_REGION).")
@click.option("--endpoint-url", envvar="AWS_ENDPOINT_URL",
              help="Send AWS calls here, e.g. an emulator (env AWS_ENDPOINT_URL).")
@click.option("--manifest", "manifest_path", type=click.Path(dir_okay=False),
              help="Readiness manifest file, or `pulumi stack output --json` output. "
                   "Default: SSM parameter /ir-readiness/manifest in the region.")
@click.option("--account", metavar="ID", help="Act in this member account (12 digits): assume its "
              "responder role from your (security account) credentials; refuses when that "
              "account's manifest describes another account.")
@click.option("--role-name", metavar="NAME", help="Role assumed with --account.  [default: "
              "ir-readiness-member-responder, the member baseline's responder role]")
@click.option("--external-id", envvar="IR_EXTERNAL_ID", metavar="ID",
              help="sts:ExternalId the member role requires (env IR_EXTERNAL_ID).")
@click.option("--case", "case_id", help="Case id; generated (and printed) when absent.")
@click.option("--output", type=click.Choice(OUTPUT_FORMATS), default="table",
              show_default=True, help="table: tables (ids never cut); text: tab-separated "
              "lines as the AWS CLI's; json: one JSON document on stdout.")
@click.option("--no-color", is_flag=True,
              help="No colours or styles (rich also honours env NO_COLOR).")
@click.option("--debug", "-v", is_flag=True,
              help="Log every AWS call on stderr: service, operation, target, duration, "
                   "status, request id.")
@click.option("--apply", is_flag=True, help="Make the changes (default: plan only).")
@click.option("--keep-going", is_flag=True,
              help="On a failed change, continue instead of rolling back.")
@click.version_option(package_name="ir-readiness", prog_name="irctl")
@click.pass_context
def main(
    ctx: click.Context,
    profile: str | None,
    region: str | None,
    endpoint_url: str | None,
    manifest_path: str | None,
    account: str | None,
    role_name: str | None,
    external_id: str | None,
    case_id: str | None,
    output: str,
    no_color: bool,
    debug: bool,
    apply: bool,
    keep_going: bool,
) -> None:
    """Contain, investigate and recover with the resources ir-readiness provisioned.

    Commands plan by default and change nothing; add --apply to act. Every action is
    recorded in the case's hash-chained audit log (copied to the evidence bucket).

    \b
    Exit codes: 0 success or clean plan, 1 an action failed,
                2 bad input or refused precondition,
                3 partially applied (recorded and reversible).
    """
    ctx.obj = Settings(
        profile=profile or None,
        region=region or None,
        endpoint_url=endpoint_url or None,
        manifest_path=manifest_path,
        case_id=case_id,
        output=output,
        apply=apply,
        keep_going=keep_going,
        account=account or None,
        role_name=role_name or None,
        external_id=external_id or None,
        no_color=no_color,
    )
    if debug:
        from runbooks.commands._debug import enable_debug

        enable_debug(ctx.obj)
