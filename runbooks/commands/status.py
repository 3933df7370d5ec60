"""`irctl status`: is this account and region ready for an incident?"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

from runbooks.commands._shared import (
    Settings,
    aws_cli_options,
    caller_identity,
    emit_document,
    handle_errors,
    make_sessions,
    out_console,
    pass_settings,
)
from runbooks.core.errors import EXIT_ACTION_FAILED, EXIT_BAD_INPUT, EXIT_OK, ManifestError

if TYPE_CHECKING:
    from runbooks.core.manifest_schema import Manifest


@dataclass
class Check:
    name: str
    ok: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.name, "ok": self.ok, "detail": self.detail}


def _error_text(err: Exception) -> str:
    """The error code, request id and message; never a raw HTML/XML page."""
    from runbooks.core.aws_errors import describe_aws_error

    return describe_aws_error(err).text()


def live_checks(sessions: Any, manifest: Manifest, region: str) -> list[Check]:
    """The readiness checks that call AWS; each failure names what to fix."""
    from botocore.exceptions import BotoCoreError, ClientError

    def client(service: str) -> Any:
        return sessions.client(service, region)

    def run(name: str, probe: Callable[[], tuple[bool, str]]) -> Check:
        try:
            ok, detail = probe()
        except (ClientError, BotoCoreError) as err:
            return Check(name, False, f"cannot check: {_error_text(err)}")
        return Check(name, ok, detail)

    def trail() -> tuple[bool, str]:
        status = client("cloudtrail").get_trail_status(Name=manifest.trail.arn)
        logging = bool(status.get("IsLogging"))
        return logging, ("logging" if logging else
                         "NOT logging: start it (`aws cloudtrail start-logging`) or `pulumi up`")

    def detector() -> tuple[bool, str]:
        detector_id = manifest.guard_duty_detector_id
        status = client("guardduty").get_detector(DetectorId=detector_id).get("Status")
        return status == "ENABLED", f"detector {detector_id} {status}"

    def security_hub() -> tuple[bool, str]:
        try:
            hub = client("securityhub").describe_hub()
        except ClientError as err:
            if err.response["Error"]["Code"] in ("InvalidAccessException",
                                                 "ResourceNotFoundException"):
                return False, "not enabled: `pulumi up` with Security Hub on"
            raise
        return True, f"enabled ({hub.get('HubArn')})"

    def quarantine() -> tuple[bool, str]:
        from runbooks.core.quarantine import ROLE_NAMES, checked_groups, group_drift

        ec2 = client("ec2")
        vpcs: set[str] = set()
        for page in ec2.get_paginator("describe_instances").paginate(Filters=[{
                "Name": "instance-state-name",
                "Values": ["pending", "running", "stopping", "stopped"]}]):
            vpcs |= {i["VpcId"] for r in page["Reservations"] for i in r["Instances"]
                     if i.get("VpcId")}
        configured = manifest.quarantine
        missing = sorted(vpcs - set(configured))
        wanted = sorted({g for v in vpcs & set(configured) for g in configured[v].group_ids()})
        existing: dict[str, dict[str, Any]] = {}
        if wanted:
            response = ec2.describe_security_groups(
                Filters=[{"Name": "group-id", "Values": wanted}])
            existing = {g["GroupId"]: g for g in response["SecurityGroups"]}
        absent = sorted(set(wanted) - set(existing))
        # a group whose rules drifted from the stack's would be refused at containment
        drifted = [f"{ROLE_NAMES[role]} group {group_id} of {vpc}: {'; '.join(drift)}"
                   for vpc in sorted(vpcs & set(configured))
                   for role in ROLE_NAMES
                   if (group_id := checked_groups(configured[vpc])[role]) in existing
                   and (drift := group_drift(role, existing[group_id]))]
        problems = ([f"no quarantine group for {', '.join(missing)}"] if missing else []) + \
            ([f"groups missing: {', '.join(absent)}"] if absent else []) + \
            ([f"rules drifted from the stack's: {'; '.join(drifted)}"] if drifted else [])
        if problems:
            return False, "; ".join(problems) + " (add the VPCs to the stack, `pulumi up`)"
        return True, f"{len(vpcs)} VPC(s) with instances, all covered"

    def topics() -> tuple[bool, str]:
        sns = client("sns")
        unheard: list[str] = []
        waiting: list[str] = []
        for severity, arn in sorted(manifest.topics.by_severity().items()):
            sns.get_topic_attributes(TopicArn=arn)
            confirmed, pending = _subscriptions(sns, arn)
            if not confirmed:
                unheard.append(f"{severity} ({arn})")
            waiting += [f"{severity}: {endpoint}" for endpoint in pending]
        if unheard:
            note = f"; pending confirmation: {', '.join(waiting)}" if waiting else ""
            return False, (f"no confirmed subscription on {', '.join(unheard)}: its alerts "
                           f"(CIS alarms included) reach nobody{note}. Subscribe an endpoint "
                           "(ir:alertSubscriptions, `pulumi up`) and confirm it")
        detail = f"{len(manifest.topics.by_severity())} topics, each with a confirmed subscription"
        return True, detail + (f" (still pending: {', '.join(waiting)})" if waiting else "")

    return [run("CloudTrail trail", trail), run("GuardDuty detector", detector),
            run("Security Hub", security_hub), run("Quarantine groups", quarantine),
            run("Alert topics", topics)]


def _subscriptions(sns: Any, topic_arn: str) -> tuple[list[str], list[str]]:
    """(confirmed, pending) endpoints of a topic. AWS lists a subscription waiting for its
    endpoint's confirmation with the SubscriptionArn `PendingConfirmation`; a listed ARN
    is checked once more through its `PendingConfirmation` attribute."""
    from botocore.exceptions import ClientError

    confirmed: list[str] = []
    pending: list[str] = []
    for page in sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic_arn):
        for sub in page.get("Subscriptions", []):
            endpoint = f"{sub.get('Protocol')} {_shown(sub.get('Endpoint', '?'))}"
            arn = sub.get("SubscriptionArn", "")
            if arn == "PendingConfirmation":
                pending.append(endpoint)
                continue
            if not arn.startswith("arn:"):  # "Deleted": being removed, delivers nothing
                continue
            try:
                attributes = sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]
            except ClientError as err:
                if err.response.get("Error", {}).get("Code") == "NotFound":
                    continue  # unsubscribed since it was listed
                raise
            if str(attributes.get("PendingConfirmation", "false")).lower() == "true":
                pending.append(endpoint)
            else:
                confirmed.append(endpoint)
    return confirmed, pending


def _shown(endpoint: str) -> str:
    """Webhook URLs carry tokens: only their scheme and host are printed."""
    if "://" in endpoint:
        scheme, rest = endpoint.split("://", 1)
        return f"{scheme}://{rest.split('/', 1)[0].rsplit('@', 1)[-1]}/..."
    return endpoint


@click.command()
@aws_cli_options
@pass_settings
@handle_errors
def status(settings: Settings) -> None:
    """Caller identity, manifest, and live readiness checks.

    Exit code 0 when every check passes, 1 when a live check fails, 2 when the manifest
    is missing or invalid or belongs to another account.
    """
    from runbooks.core.manifest import load_manifest

    sessions = make_sessions(settings)
    checks: list[Check] = []
    identity = caller_identity(sessions, settings.region)
    checks.append(Check("Caller", True, f"{identity['Arn']} (account {identity['Account']})"))
    code = EXIT_OK
    try:
        manifest = load_manifest(sessions, settings.region, settings.manifest_path)
    except ManifestError as err:
        checks.append(Check("Manifest", False, str(err)))
        manifest = None
        code = EXIT_BAD_INPUT
    if manifest is not None:
        region = settings.region or manifest.region
        source = settings.manifest_path or f"SSM /ir-readiness/manifest ({region})"
        checks.append(Check("Manifest", True, f"valid v{manifest.version} from {source}"))
        if manifest.account_id != identity["Account"]:
            checks.append(Check("Account", False, f"manifest is for {manifest.account_id}, "
                                f"credentials are for {identity['Account']}"))
            code = EXIT_BAD_INPUT
        else:
            checks.append(Check("Account", True, manifest.account_id))
            checks += live_checks(sessions, manifest, region)
            if not all(c.ok for c in checks):
                code = EXIT_ACTION_FAILED
    if settings.structured:
        emit_document(settings, {"ready": code == EXIT_OK, "exitCode": code,
                                 "checks": [c.to_dict() for c in checks]})
        sys.exit(code)
    from rich.table import Table

    table = Table(title="ir-readiness status", title_justify="left")
    for column in ("Check", "Result", "Detail"):
        table.add_column(column, overflow="fold")
    from rich.markup import escape

    for check in checks:
        table.add_row(check.name, "[green]ok[/]" if check.ok else "[bold red]FAIL[/]",
                      escape(check.detail))
    out_console(settings).print(table)
    sys.exit(code)


COMMANDS = [status]
