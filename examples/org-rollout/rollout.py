"""Roll the ir-readiness member baseline out to many accounts with the Pulumi Automation
API: one stack per account (`<prefix>-<account id>`), the project's own program
(`__main__.py`, `ir:organization.mode = member`), the AWS provider acting in the member
account through temporary credentials of a deployment role assumed there.

    python examples/org-rollout/rollout.py --accounts accounts.txt \\
        --config Pulumi.org-member.example.yaml [--preview] [--parallel 4]

`accounts.txt`: one 12-digit account id per line (`#` comments allowed). The config file
is a member stack config (`Pulumi.org-member.example.yaml`): every `ir:`/`aws:` key is set
on each account's stack; `ir:organization` is stored as a secret (it holds the external
id). Accounts are rolled out concurrently (`--parallel`), a failure in one account does
not stop the others, and the exit code is 1 when any account failed.

The orchestration (`rollout()`) takes the stack factory and the credentials source as
arguments, so it is tested with fakes (`tests/examples/test_org_rollout.py`); this
machine has no Pulumi CLI, so the real factory has never run here.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

ACCOUNT_ID = re.compile(r"^[0-9]{12}$")
PROJECT_DIR = Path(__file__).resolve().parents[2]
DEFAULT_DEPLOY_ROLE = "OrganizationAccountAccessRole"


class RolloutError(ValueError):
    """Bad input, reported before any stack is touched."""


def _account_failures() -> tuple[type[BaseException], ...]:
    """What one account's rollout may fail with: the Automation API's command errors (a
    failed `pulumi up`, a concurrent update, a missing stack), AWS errors while getting its
    credentials, and OS errors (missing CLI, unreadable workspace)."""
    from botocore.exceptions import BotoCoreError, ClientError
    from pulumi.automation.errors import CommandError

    return (CommandError, ClientError, BotoCoreError, OSError, RuntimeError)


ACCOUNT_FAILURES = _account_failures()


class StackLike(Protocol):
    """The part of `pulumi.automation.Stack` the rollout uses."""

    def set_all_config(self, config: Any, *, path: bool = False) -> None: ...

    def up(self, *, on_output: Callable[[str], Any] | None = None) -> Any: ...
    def preview(self, *, on_output: Callable[[str], Any] | None = None) -> Any: ...


StackFactory = Callable[[str, Mapping[str, str]], StackLike]
"""(stack name, environment for the Pulumi engine) -> a created-or-selected stack."""
CredentialSource = Callable[[str], Mapping[str, str]]
"""account id -> AWS_* environment variables of a session acting in that account."""


@dataclass(frozen=True)
class AccountResult:
    account_id: str
    stack: str
    status: str
    """succeeded | failed | previewed"""
    outputs: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None


def read_accounts(lines: Iterable[str]) -> list[str]:
    """Account ids, in order, without comments, blanks or duplicates; refuse bad ids."""
    accounts: list[str] = []
    bad: list[str] = []
    for raw in lines:
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if not ACCOUNT_ID.match(line):
            bad.append(line)
        elif line not in accounts:
            accounts.append(line)
    if bad:
        raise RolloutError(f"not 12-digit account ids: {', '.join(bad)}")
    if not accounts:
        raise RolloutError("no accounts to roll out to")
    return accounts


def member_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The `ir:`/`aws:` keys of a stack config file; it must be a member config."""
    organization = config.get("ir:organization")
    if not isinstance(organization, Mapping) or organization.get("mode") != "member":
        raise RolloutError("the config must set ir:organization.mode: member "
                           "(see Pulumi.org-member.example.yaml)")
    return {k: v for k, v in config.items() if k.startswith(("ir:", "aws:"))}


def stack_config(config: Mapping[str, Any]) -> dict[str, tuple[str, bool]]:
    """Pulumi config values (JSON text for structured ones) and whether each is secret."""
    values: dict[str, tuple[str, bool]] = {}
    for key, value in config.items():
        text = value if isinstance(value, str) else json.dumps(value)
        values[key] = (text, key == "ir:organization")  # holds the external id
    return values


def sts_credentials(deploy_role: str, session_name: str = "ir-readiness-rollout",
                    partition: str = "aws") -> CredentialSource:
    """Assume `deploy_role` in each member account with the caller's credentials."""

    def credentials(account_id: str) -> Mapping[str, str]:
        import boto3

        response = boto3.client("sts").assume_role(
            RoleArn=f"arn:{partition}:iam::{account_id}:role/{deploy_role}",
            RoleSessionName=session_name)["Credentials"]
        return {"AWS_ACCESS_KEY_ID": response["AccessKeyId"],
                "AWS_SECRET_ACCESS_KEY": response["SecretAccessKey"],
                "AWS_SESSION_TOKEN": response["SessionToken"]}

    return credentials


def automation_stacks(project_dir: Path = PROJECT_DIR) -> StackFactory:
    """The real factory: a local workspace on the project, one stack per account."""

    def factory(stack_name: str, env: Mapping[str, str]) -> StackLike:
        from pulumi import automation as auto

        stack: StackLike = auto.create_or_select_stack(
            stack_name=stack_name, work_dir=str(project_dir),
            opts=auto.LocalWorkspaceOptions(work_dir=str(project_dir), env_vars=dict(env)))
        return stack

    return factory


def _config_values(values: Mapping[str, tuple[str, bool]]) -> Any:
    try:
        from pulumi.automation import ConfigValue
    except ImportError:  # pragma: no cover - pulumi is a project dependency
        return dict(values)
    return {k: ConfigValue(value=v, secret=secret) for k, (v, secret) in values.items()}


def rollout(
    accounts: Sequence[str],
    config: Mapping[str, Any],
    stacks: StackFactory,
    credentials: CredentialSource,
    *,
    stack_prefix: str = "member",
    preview: bool = False,
    parallel: int = 4,
    log: Callable[[str], None] = lambda _line: None,
) -> list[AccountResult]:
    """Apply (or preview) the member baseline to every account; one result each, in order.

    Every input is checked before the first stack is created. Each account gets its own
    credentials (never shared between stacks) and its own stack; one account's failure is
    recorded and the others go on.
    """
    accounts = read_accounts(accounts)
    values = stack_config(member_config(config))
    if not 1 <= parallel <= 32:
        raise RolloutError(f"--parallel {parallel}: must be between 1 and 32")
    if not re.match(r"^[A-Za-z0-9_.-]{1,60}$", stack_prefix):
        raise RolloutError(f"stack prefix {stack_prefix!r}: letters, digits and _.- only")

    def one(account_id: str) -> AccountResult:
        name = f"{stack_prefix}-{account_id}"
        try:
            env = dict(credentials(account_id))
            stack = stacks(name, env)
            stack.set_all_config(_config_values(values))
            if preview:
                stack.preview(on_output=lambda line: log(f"[{account_id}] {line}"))
                return AccountResult(account_id, name, "previewed")
            result = stack.up(on_output=lambda line: log(f"[{account_id}] {line}"))
            outputs = {k: getattr(v, "value", v) for k, v in (result.outputs or {}).items()}
            status = getattr(result.summary, "result", "succeeded")
            if status != "succeeded":
                return AccountResult(account_id, name, "failed", outputs,
                                     f"update finished as {status}")
            return AccountResult(account_id, name, "succeeded", outputs)
        except ACCOUNT_FAILURES as err:
            # One account's failure must not stop the rest. Nothing to undo here: Pulumi
            # recorded whatever it changed in that stack's state; the result names the
            # account and the error, and the exit code says something failed.
            return AccountResult(account_id, name, "failed", error=f"{type(err).__name__}: {err}")

    with ThreadPoolExecutor(max_workers=min(parallel, len(accounts))) as pool:
        return list(pool.map(one, accounts))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--accounts", type=Path, required=True,
                        help="file with one account id per line")
    parser.add_argument("--config", type=Path, required=True,
                        help="member stack config (Pulumi.org-member.example.yaml)")
    parser.add_argument("--deploy-role", default=DEFAULT_DEPLOY_ROLE,
                        help=f"role assumed in each account to deploy (default "
                             f"{DEFAULT_DEPLOY_ROLE})")
    parser.add_argument("--stack-prefix", default="member")
    parser.add_argument("--preview", action="store_true", help="preview only, change nothing")
    parser.add_argument("--parallel", type=int, default=4)
    args = parser.parse_args(argv)

    import yaml

    try:
        config = yaml.safe_load(args.config.read_text())["config"]
        results = rollout(read_accounts(args.accounts.read_text().splitlines()), config,
                          automation_stacks(), sts_credentials(args.deploy_role),
                          stack_prefix=args.stack_prefix, preview=args.preview,
                          parallel=args.parallel, log=print)
    except (RolloutError, OSError, KeyError, TypeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for r in results:
        print(f"{r.account_id}  {r.stack}  {r.status}" + (f"  {r.error}" if r.error else ""))
    return 1 if any(r.status == "failed" for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
