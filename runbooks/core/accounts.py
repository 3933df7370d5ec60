"""Cross-account response: assume a member account's responder role, and targets that
name their account and region.

A responder works from the security account. `irctl --account 111122223333` assumes
`arn:<partition>:iam::111122223333:role/<role name>` (default
`ir-readiness-member-responder`, the role the member baseline creates, which trusts only
the security account's responder principals and requires `sts:ExternalId`), and every
client of the run is made from those temporary credentials. The manifest is then read
in that account, and irctl refuses when it describes another account.

Targets may carry their scope: `111122223333:eu-west-1:i-0123456789abcdef0` (account,
region, id), `eu-west-1:i-0123...` (region, id) or a bare id (the global
`--account`/`--region`). `group_targets` splits them into one group per account and
region, which the commands run concurrently, one session per group.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from runbooks.core.context import SessionFactory
from runbooks.core.errors import InvalidInput, PreconditionFailed

if TYPE_CHECKING:
    import boto3

    from runbooks.core.manifest_schema import Manifest

DEFAULT_MEMBER_ROLE_NAME = "ir-readiness-member-responder"
"""The responder role MemberBaseline creates in every member account (keep in step with
`components.settings.OrganizationSettings.member_role_name`)."""

ACCOUNT_ID = re.compile(r"^[0-9]{12}$")
REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-[0-9]+$")
ROLE_NAME = re.compile(r"^[\w+=,.@-]{1,64}$")
EXTERNAL_ID = re.compile(r"^[\w+=,.@:/-]{2,1224}$")

_DENIED = ("AccessDenied", "AccessDeniedException", "InvalidClientTokenId",
           "ExpiredToken", "RegionDisabledException")


def validate_account(account_id: str) -> str:
    if not ACCOUNT_ID.match(account_id or ""):
        raise InvalidInput(f"--account {account_id!r} is not an AWS account id "
                           "(expected 12 digits, e.g. 111122223333)")
    return account_id


def role_arn(account_id: str, role_name: str, partition: str = "aws") -> str:
    validate_account(account_id)
    if not ROLE_NAME.match(role_name or ""):
        raise InvalidInput(f"--role-name {role_name!r} is not an IAM role name "
                           "(1-64 of letters, digits and +=,.@_-)")
    return f"arn:{partition}:iam::{account_id}:role/{role_name}"


def partition_of(region: str | None) -> str:
    if region and region.startswith("cn-"):
        return "aws-cn"
    if region and region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


@dataclass
class AssumedSessionFactory(SessionFactory):
    """A SessionFactory whose clients act in another account, through `role_arn`.

    `source` makes the STS client (the caller's own credentials: profile, endpoint and
    hooks); the assumed credentials then build every client, with the same endpoint,
    retries and hooks. Nothing is called before the first client is asked for.
    """

    role_arn: str = ""
    external_id: str | None = None
    session_name: str = "irctl"
    duration_seconds: int = 3600
    source: SessionFactory | None = None
    assumed_role: dict[str, Any] = field(default_factory=dict, init=False)

    def session(self) -> boto3.Session:
        with self._lock:
            if self._session is None:
                import boto3
                from botocore.exceptions import ClientError

                source = self.source or SessionFactory(
                    region=self.region, profile=self.profile, endpoint_url=self.endpoint_url,
                    event_hooks=list(self.event_hooks))
                request: dict[str, Any] = {
                    "RoleArn": self.role_arn,
                    "RoleSessionName": self.session_name[:64],
                    "DurationSeconds": self.duration_seconds,
                }
                if self.external_id:
                    request["ExternalId"] = self.external_id
                try:
                    response = source.client("sts", self.region).assume_role(**request)
                except ClientError as err:
                    code = err.response.get("Error", {}).get("Code", "")
                    if code in _DENIED:
                        raise PreconditionFailed(
                            f"cannot assume {self.role_arn} ({code}): check that your "
                            "principal is one of the security account's responder "
                            "principals the member baseline trusts, that --external-id "
                            "matches the member stack's ir:organization.externalId, and "
                            "that the member baseline is deployed in that account"
                        ) from err
                    raise
                credentials = response["Credentials"]
                self.assumed_role = dict(response.get("AssumedRoleUser", {}))
                session = boto3.Session(
                    aws_access_key_id=credentials["AccessKeyId"],
                    aws_secret_access_key=credentials["SecretAccessKey"],
                    aws_session_token=credentials["SessionToken"],
                    region_name=self.region,
                )
                for event, handler in self.event_hooks:
                    session.events.register_first(event, handler)
                self._session = session
            return self._session


def assumed_sessions(
    source: SessionFactory,
    account_id: str,
    role_name: str = DEFAULT_MEMBER_ROLE_NAME,
    external_id: str | None = None,
    region: str | None = None,
) -> AssumedSessionFactory:
    """A factory acting in `account_id` as `role_name`, assumed from `source`."""
    region = region or source.region
    arn = role_arn(account_id, role_name, partition_of(region))
    if external_id is not None and not EXTERNAL_ID.match(external_id):
        raise InvalidInput("--external-id is not a valid external id "
                           "(2-1224 of letters, digits and +=,.@:/-)")
    # Every option of the caller's factory (endpoint, retries, hooks, pool size) carries over.
    inherited = {f.name: getattr(source, f.name) for f in fields(SessionFactory) if f.init}
    inherited.update(region=region, event_hooks=list(source.event_hooks))
    return AssumedSessionFactory(
        **inherited,
        role_arn=arn, external_id=external_id, source=source,
        session_name=f"irctl-{account_id}",
    )


def check_manifest_account(manifest: Manifest, account_id: str, source: str) -> None:
    """Refuse to act when the manifest of `account_id` describes another account."""
    if manifest.account_id != account_id:
        raise PreconditionFailed(
            f"refusing to act: --account is {account_id} but the manifest from {source} "
            f"is for account {manifest.account_id}; the member baseline of "
            f"{account_id} is not what answered. Check the account id, or re-deploy the "
            "member baseline there"
        )


@dataclass(frozen=True)
class Scope:
    """Where a group of targets lives: an account (None: the caller's or --account) and
    a region (None: --region or the manifest's)."""

    account: str | None
    region: str | None

    def label(self) -> str:
        return f"{self.account or 'current'}:{self.region or 'default'}"


@dataclass(frozen=True)
class ScopedTarget:
    scope: Scope
    target: str


def parse_target(text: str, default: Scope, *, account_only: bool = False) -> ScopedTarget:
    """`ACCOUNT:REGION:ID`, `REGION:ID` or `ID` (the default scope fills the rest).

    `account_only`: also accept `ACCOUNT:ID`, in the default region (--region, else the
    manifest's). For account-wide targets (IAM roles, S3 buckets) the region only picks
    which regional manifest and session act; the change itself is account-wide.
    Only the first two `:`-separated fields are read as scope, so ids are passed whole.
    """
    parts = text.split(":", 2)
    if len(parts) == 3 and ACCOUNT_ID.match(parts[0]):
        account, region, target = parts
        if not REGION.match(region):
            raise InvalidInput(f"target {text!r}: {region!r} is not a region "
                               "(expected ACCOUNT:REGION:ID, e.g. "
                               "111122223333:eu-west-1:i-0123456789abcdef0)")
        return ScopedTarget(Scope(account, region), target)
    if len(parts) >= 2 and REGION.match(parts[0]):
        return ScopedTarget(Scope(default.account, parts[0]), text.split(":", 1)[1])
    if len(parts) == 2 and ACCOUNT_ID.match(parts[0]) and account_only:
        return ScopedTarget(Scope(parts[0], default.region), parts[1])
    if len(parts) >= 2 and ACCOUNT_ID.match(parts[0]):
        raise InvalidInput(f"target {text!r} names an account but no region; "
                           "write ACCOUNT:REGION:ID")
    return ScopedTarget(default, text)


def group_targets(texts: Iterable[str], default: Scope, *,
                  account_only: bool = False) -> dict[Scope, list[str]]:
    """Targets grouped by scope, in first-seen order, duplicates dropped."""
    groups: dict[Scope, list[str]] = {}
    for text in texts:
        scoped = parse_target(text, default, account_only=account_only)
        bucket = groups.setdefault(scoped.scope, [])
        if scoped.target not in bucket:
            bucket.append(scoped.target)
    return groups
