"""Stack settings: the one place that reads Pulumi config (namespace `ir`).

One typed model (pydantic v2 dataclasses, frozen) is the schema, the defaults and the
cross-field rules of the stack configuration: building a `Settings` validates it, in one
pass:

1. every field's type, range, pattern and allowed values (unknown keys rejected), then,
   when all fields are valid,
2. the cross-field rules (home region first, no duplicate regions, copy region covered,
   vault lock min <= max, trusted principals are IAM ARNs, ...) in `Settings._rules`.

Defaults are written once, on the fields. Through `from_mapping`/`from_config` every
failure is one `SettingsError` whose lines name the key, the bad value and what is
allowed, e.g. ``ir:trail.logRetentionDays = 12: must be one of 1, 3, 5, ...``. Building a
model by hand (`Settings(...)`, `BackupRule(...)`, `dataclasses.replace`) validates the
same way and raises pydantic's `ValidationError` (a `ValueError`), so no invalid
`Settings` reaches the components.

Two constructors:

- `Settings.from_config(pulumi.Config("ir"))` inside a Pulumi program;
- `Settings.from_mapping({...})` for tests and benchmarks (plain Python values,
  keys without the `ir:` prefix).
"""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import field
from types import MappingProxyType
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar, dataclass_transform
from urllib.parse import urlparse

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic.dataclasses import dataclass
from pydantic_core import PydanticCustomError

if TYPE_CHECKING:
    import pulumi

NAMESPACE = "ir"

SEVERITIES: tuple[str, ...] = ("critical", "high", "info")

# Values CloudWatch Logs accepts for a log group's retention.
LOG_RETENTION_DAYS: tuple[int, ...] = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192,
    2557, 2922, 3288, 3653,
)

GUARDDUTY_FEATURES: tuple[str, ...] = (
    "S3_DATA_EVENTS",
    "EKS_AUDIT_LOGS",
    "EBS_MALWARE_PROTECTION",
    "RDS_LOGIN_EVENTS",
    "LAMBDA_NETWORK_LOGS",
    "RUNTIME_MONITORING",
)
DEFAULT_GUARDDUTY_FEATURES: Mapping[str, bool] = MappingProxyType(
    {name: True for name in GUARDDUTY_FEATURES}
)

# Security Hub standards by the id that appears in their ARNs.
SECURITY_HUB_STANDARDS: tuple[str, ...] = (
    "aws-foundational-security-best-practices/v/1.0.0",
    "cis-aws-foundations-benchmark/v/1.2.0",
    "cis-aws-foundations-benchmark/v/1.4.0",
    "cis-aws-foundations-benchmark/v/3.0.0",
    "nist-800-53/v/5.0.0",
    "pci-dss/v/3.2.1",
    "pci-dss/v/4.0.1",
    "aws-resource-tagging-standard/v/1.0.0",
)
DEFAULT_SECURITY_HUB_STANDARDS: tuple[str, ...] = (
    "aws-foundational-security-best-practices/v/1.0.0",
    "cis-aws-foundations-benchmark/v/3.0.0",
)

BACKUP_RULE_SLOTS: tuple[str, ...] = ("daily", "weekly", "monthly")
ORGANIZATION_MODES: tuple[str, ...] = ("single", "management", "security", "member")
DISCOVER = "discover"

_REGION = r"^[a-z]{2}(-[a-z]+)+-[0-9]+$"
_VPC_ID = r"^vpc-[0-9a-f]{8,17}$"
_SG_ID = r"^sg-[0-9a-f]{8,17}$"
_TOOL_URI = r"^(tools/[A-Za-z0-9._/-]+|s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/[A-Za-z0-9._/-]+)$"
_ACCOUNT_ID = r"^[0-9]{12}$"
_ROLE_NAME = r"^[\w+=,.@-]{1,64}$"
_IAM_PRINCIPAL = re.compile(
    r"^arn:aws[a-z-]*:iam::(?P<account>[0-9]{12}):(?P<kind>root|user/.+|role/.+)$"
)
# AWS Backup takes six-field cron expressions.
_SCHEDULE = r"^cron\(\S+( \S+){5}\)$"

# The keys whose values are strings in Pulumi config; everything else is parsed as JSON.
# (An account id is digits: JSON would read it as a number, and drop a leading zero.)
_STRING_KEYS: frozenset[str] = frozenset({"forensicAccount"})


class SettingsError(ValueError):
    """A config value is missing or not allowed. The message says which and what to do."""


# ------------------------------------------------------------------ field types

T = TypeVar("T")


def _one_of(allowed: Sequence[Any]) -> Callable[[T], T]:
    def check(value: T) -> T:
        if value not in allowed:  # the field's strict type already refused True for 1
            raise ValueError("must be one of " + ", ".join(str(a) for a in allowed))
        return value

    return check


def _unique(values: tuple[T, ...]) -> tuple[T, ...]:
    dupes = sorted({str(v) for v in values if values.count(v) > 1})
    if dupes:
        raise ValueError(f"lists {', '.join(dupes)} more than once; list each once")
    return values


def _integral(value: Any) -> Any:
    # JSON Schema (which this model replaces) counts 365.0 as an integer; so does this.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _frozen(value: Mapping[Any, Any]) -> Mapping[Any, Any]:
    return MappingProxyType(dict(value))


def _no_aws_prefix(key: str) -> str:
    if key.startswith("aws:"):
        raise ValueError("tag keys starting with aws: are reserved by AWS")
    return key


def _vpcs(value: Any) -> str | tuple[str, ...]:
    if value == DISCOVER:
        return DISCOVER
    if (
        isinstance(value, list | tuple)
        and all(isinstance(v, str) and re.match(_VPC_ID, v) for v in value)
        and len(set(value)) == len(value)
    ):
        return tuple(value)
    raise ValueError('must be "discover" or a list of unique VPC ids (vpc-xxxxxxxx)')


Int = Annotated[StrictInt, BeforeValidator(_integral)]
Region = Annotated[StrictStr, Field(pattern=_REGION)]
VpcId = Annotated[StrictStr, Field(pattern=_VPC_ID)]
SecurityGroupId = Annotated[StrictStr, Field(pattern=_SG_ID)]
PrefixListId = Annotated[StrictStr, Field(pattern=r"^pl-[0-9a-f]{8,17}$")]
AccountId = Annotated[StrictStr, Field(pattern=_ACCOUNT_ID)]
RoleName = Annotated[StrictStr, Field(pattern=_ROLE_NAME)]
Severity = Annotated[
    StrictStr, AfterValidator(_one_of(SEVERITIES)), WithJsonSchema({"enum": list(SEVERITIES)})
]
LogRetention = Annotated[
    Int, AfterValidator(_one_of(LOG_RETENTION_DAYS)),
    WithJsonSchema({"enum": list(LOG_RETENTION_DAYS)}),
]
GuardDutyFeature = Annotated[
    StrictStr, AfterValidator(_one_of(GUARDDUTY_FEATURES)),
    WithJsonSchema({"enum": list(GUARDDUTY_FEATURES)}),
]
SecurityHubStandard = Annotated[
    StrictStr, AfterValidator(_one_of(SECURITY_HUB_STANDARDS)),
    WithJsonSchema({"enum": list(SECURITY_HUB_STANDARDS)}),
]
TagKey = Annotated[StrictStr, Field(min_length=1, max_length=128), AfterValidator(_no_aws_prefix)]
Days = Annotated[Int, Field(ge=1)]
QuarantineVpcs = Annotated[
    str | tuple[str, ...], BeforeValidator(_vpcs),
    WithJsonSchema({"oneOf": [{"const": DISCOVER},
                              {"type": "array", "uniqueItems": True,
                               "items": {"type": "string", "pattern": _VPC_ID}}]}),
]

# camelCase config keys (ir:maxSessionDuration), snake_case attributes; building by
# attribute name (Settings(max_session_duration=...)) works too. Unknown keys are errors.
# Patterns are Python regular expressions (as the JSON Schema they replace used).
_MODEL = ConfigDict(
    extra="forbid", alias_generator=to_camel, validate_by_name=True, validate_by_alias=True,
    regex_engine="python-re",
)


C = TypeVar("C", bound=type)


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field, Field))
def _model(cls: C) -> C:
    """A frozen pydantic dataclass whose direct construction (`ObjectLock("LEGAL", 1)`,
    `dataclasses.replace`) fails with the same kind of message as the config does,
    naming the class and attribute instead of the `ir:` key."""
    model: Any = dataclass(frozen=True, config=_MODEL)(cls)
    names = [f.name for f in dataclasses.fields(model)]
    validated_init = model.__init__

    @functools.wraps(validated_init)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:  # noqa: N807
        try:
            validated_init(self, *args, **kwargs)
        except ValidationError as exc:
            raise SettingsError(
                f"invalid {model.__name__}:\n  "
                + "\n  ".join(_report(exc, f"{model.__name__}.", names))
            ) from None

    model.__init__ = __init__
    return model


# ------------------------------------------------------------------ the model


@_model
class Subscription:
    protocol: Literal["email", "https", "sqs", "lambda"]
    """SNS protocol."""
    endpoint: Annotated[StrictStr, Field(min_length=3)]
    """Address, URL or ARN that receives the alert."""


@_model
class ObjectLock:
    mode: Literal["GOVERNANCE", "COMPLIANCE"]
    """GOVERNANCE lets principals with s3:BypassGovernanceRetention delete; COMPLIANCE
    lets nobody, not even the root user, until retention ends."""
    retention_days: Annotated[Int, Field(ge=1, le=36500)]
    """Default retention applied to every new object version."""


@_model
class TrailObjectLock(ObjectLock):
    """The trail log bucket's Object Lock; a key left out keeps this default."""

    mode: Literal["GOVERNANCE", "COMPLIANCE"] = "GOVERNANCE"
    retention_days: Annotated[Int, Field(ge=1, le=36500)] = 365


@_model
class EvidenceObjectLock(ObjectLock):
    """The evidence bucket's Object Lock; a key left out keeps this default."""

    mode: Literal["GOVERNANCE", "COMPLIANCE"] = "COMPLIANCE"
    retention_days: Annotated[Int, Field(ge=1, le=36500)] = 365


@_model
class TrailSettings:
    s3_data_events: StrictBool = False
    """Log S3 object-level (data) events for all buckets. Billed per 100k events."""
    lambda_data_events: StrictBool = False
    """Log Lambda Invoke data events for all functions. Billed per 100k events."""
    insights: StrictBool = False
    """CloudTrail Insights (API call rate and error rate). Billed per 100k events analysed."""
    log_retention_days: LogRetention = 365
    """Retention of the CloudWatch Logs copy of the trail."""
    object_lock: TrailObjectLock = field(default_factory=TrailObjectLock)
    """Object Lock default retention on the trail's log bucket."""


@_model
class EvidenceSettings:
    object_lock: EvidenceObjectLock = field(default_factory=EvidenceObjectLock)
    """Object Lock default retention on the evidence bucket."""
    archive_after_days: Annotated[Int, Field(ge=1, le=3650)] = 90
    """Days after which evidence moves to Glacier Flexible Retrieval."""
    replication_region: Region | None = None
    """Another covered region that receives a replica of every evidence object (its own
    bucket, KMS key, versioning and the same Object Lock retention); None: no replica."""


@_model
class FlowLogSettings:
    """`ir:recording.flowLogs`: VPC Flow Logs of every quarantine VPC."""

    enabled: StrictBool = True
    """Record the VPC's traffic into an encrypted log group of its region (billed per GB
    ingested as vended logs)."""
    traffic_type: Literal["ALL", "ACCEPT", "REJECT"] = "ALL"
    """Which flows to record; responders need ALL (accepted exfiltration is the question)."""
    log_retention_days: LogRetention = 365
    """Retention of the flow-log log group."""


@_model
class RecordingSettings:
    """`ir:recording`: what the stack records for responders besides the trail."""

    flow_logs: FlowLogSettings = field(default_factory=FlowLogSettings)
    """VPC Flow Logs of the quarantine VPCs (on by default)."""
    config_recorder: StrictBool = True
    """AWS Config recorder + delivery channel in every covered region (global resources
    recorded in the home region only); billed per configuration item recorded."""
    resolver_query_logs: StrictBool = False
    """Route 53 Resolver query logging of the quarantine VPCs (billed per GB ingested)."""
    access_logs: StrictBool = True
    """S3 server access logging of the trail log bucket and the evidence bucket into a
    dedicated access-log bucket (storage only)."""
    access_log_retention_days: Annotated[Int, Field(ge=1, le=3650)] = 365
    """Days an access-log object (and a noncurrent version) is kept."""


@_model
class MalwareProtectionSettings:
    """`ir:accountProtection.malwareProtection`: GuardDuty Malware Protection for S3."""

    enabled: StrictBool = False
    """Scan new objects of the evidence bucket (and `buckets`) for malware (billed per GB
    scanned and per object)."""
    buckets: Annotated[
        tuple[Annotated[StrictStr, Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")], ...],
        AfterValidator(_unique),
    ] = ()
    """Further bucket names, in the home region, to scan."""


@_model
class AccountProtectionSettings:
    """`ir:accountProtection`: account-wide guard rails."""

    block_public_access: StrictBool = True
    """Account-level S3 Block Public Access (all four settings)."""
    access_analyzer: Literal["account", "organization", "off"] = "account"
    """IAM Access Analyzer (external access) in every covered region: `account`, or
    `organization` (security stack, delegated administrator of access-analyzer)."""
    malware_protection: MalwareProtectionSettings = field(
        default_factory=MalwareProtectionSettings
    )
    """GuardDuty Malware Protection for S3 (off by default)."""


@_model
class EmergencyContact:
    """One Shield Response Team proactive-engagement contact."""

    email_address: Annotated[StrictStr, Field(pattern=r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")]
    """Who the SRT emails."""
    phone_number: Annotated[StrictStr, Field(pattern=r"^\+[1-9][0-9]{1,14}$")] | None = None
    """E.164 phone number (+4915112345678) the SRT calls."""
    contact_notes: Annotated[StrictStr, Field(max_length=1024)] | None = None
    """When and how to reach this contact."""


@_model
class ShieldSettings:
    """`ir:shield`: AWS Shield Advanced (opt-in; USD 3,000 a month per organization on a
    one-year commitment, plus data transfer out of protected resources)."""

    advanced: StrictBool = False
    """Subscribe to Shield Advanced and protect `protectedResourceArns`."""
    accept_subscription_cost: StrictBool = False
    """Must be true with `advanced`: the subscription is a one-year commitment of USD
    3,000 a month that destroying the stack does not end."""
    protected_resource_arns: Annotated[
        tuple[Annotated[StrictStr, Field(pattern=(
            r"^arn:aws[a-z-]*:(cloudfront|route53|globalaccelerator|elasticloadbalancing|"
            r"ec2):[a-z0-9-]*:[0-9]{0,12}:.+$"))], ...],
        AfterValidator(_unique),
    ] = ()
    """CloudFront distributions, Route 53 hosted zones, Global Accelerators, load
    balancers and Elastic IPs to protect."""
    srt_access: StrictBool = True
    """Give the Shield Response Team a role (AWSShieldDRTAccessPolicy) to act during an
    attack."""
    emergency_contacts: Annotated[tuple[EmergencyContact, ...], Field(max_length=10)] = ()
    """Proactive engagement: the SRT contacts these when a protected resource's health
    check turns unhealthy during an event (empty: no proactive engagement)."""


def _with_default_features(value: Mapping[str, bool]) -> Mapping[str, bool]:
    # A feature left out keeps its default (on), in the documented order.
    return MappingProxyType({**DEFAULT_GUARDDUTY_FEATURES, **value})


@_model
class GuardDutySettings:
    finding_frequency: Literal["FIFTEEN_MINUTES", "ONE_HOUR", "SIX_HOURS"] = "FIFTEEN_MINUTES"
    """How often updated findings are published to EventBridge."""
    features: Annotated[
        Mapping[GuardDutyFeature, StrictBool], AfterValidator(_with_default_features)
    ] = field(default_factory=lambda: DEFAULT_GUARDDUTY_FEATURES)
    """GuardDuty protection plans (DetectorFeature names) and whether each is on."""
    inspector: StrictBool = True
    """Enable Amazon Inspector scanning (EC2, ECR, Lambda) in each covered region."""


@_model
class SecurityHubSettings:
    standards: Annotated[
        tuple[SecurityHubStandard, ...], AfterValidator(_unique)
    ] = DEFAULT_SECURITY_HUB_STANDARDS
    """Security Hub standards subscribed in every covered region."""


@_model
class BackupRule:
    schedule: Annotated[StrictStr, Field(pattern=_SCHEDULE)]
    """Six-field AWS Backup cron() expression (UTC)."""
    delete_after_days: Days
    """Days a recovery point is kept."""
    cold_storage_after_days: Days | None = None
    """Days after which a recovery point moves to cold storage (None: never)."""


@_model
class SelectionTag:
    key: Annotated[StrictStr, Field(pattern=r"^[\w .:/=+\-@]{1,128}$")]
    """Resources carrying this tag key ..."""
    value: Annotated[StrictStr, Field(pattern=r"^[\w .:/=+\-@]{1,256}$")]
    """... with this value are backed up."""


@_model
class VaultLock:
    min_retention_days: Days = 7
    """Shortest retention a recovery point may have."""
    max_retention_days: Annotated[Int, Field(ge=1, le=36500)] = 400
    """Longest retention a recovery point may have."""
    changeable_for_days: Annotated[Int, Field(ge=3)] = 3
    """Grace period; after it the lock is immutable (compliance mode)."""


RESTORE_TEST_RESOURCE_TYPES: tuple[str, ...] = (
    "Aurora", "DocumentDB", "DynamoDB", "EBS", "EC2", "EFS", "FSx", "Neptune", "RDS", "S3",
)
DEFAULT_RESTORE_TEST_RESOURCE_TYPES: tuple[str, ...] = ("EBS", "EC2", "RDS", "DynamoDB", "EFS",
                                                        "S3")
RestoreTestResourceType = Annotated[
    StrictStr, AfterValidator(_one_of(RESTORE_TEST_RESOURCE_TYPES)),
    WithJsonSchema({"enum": list(RESTORE_TEST_RESOURCE_TYPES)}),
]


@_model
class RestoreTestingSettings:
    """`ir:backup.restoreTesting`: AWS Backup restores the newest recovery point of each
    selected resource type on a schedule, validates it and deletes the restored copy."""

    enabled: StrictBool = True
    """Create the restore testing plan and one selection per resource type (billed per
    restore test job, plus the restored copy while it exists)."""
    schedule: Annotated[StrictStr, Field(pattern=_SCHEDULE)] = "cron(0 6 ? * MON *)"
    """When restore tests start (six-field cron, UTC): weekly, Mondays 06:00."""
    resource_types: Annotated[
        tuple[RestoreTestResourceType, ...], Field(min_length=1), AfterValidator(_unique)
    ] = DEFAULT_RESTORE_TEST_RESOURCE_TYPES
    """Protected resource types tested (one selection each, by the backup selection tag)."""
    selection_window_days: Annotated[Int, Field(ge=1, le=365)] = 7
    """Restore the latest recovery point created within this many days."""
    validation_window_hours: Annotated[Int, Field(ge=1, le=168)] = 1
    """Hours the restored copy is kept for validation before AWS Backup deletes it."""
    start_window_hours: Annotated[Int, Field(ge=1, le=168)] = 24
    """A test that has not started within this many hours is cancelled."""


@_model
class BackupSettings:
    daily: BackupRule | None = BackupRule("cron(0 5 ? * * *)", 35)
    """Daily snapshot rule (None: no daily rule)."""
    weekly: BackupRule | None = BackupRule("cron(0 5 ? * SUN *)", 90)
    """Weekly snapshot rule (None: no weekly rule)."""
    monthly: BackupRule | None = BackupRule("cron(0 5 1 * ? *)", 365, 90)
    """Monthly snapshot rule (None: no monthly rule)."""
    continuous_backup_days: Annotated[Int, Field(ge=1, le=35)] | None = None
    """Continuous backup (point-in-time restore) kept this many days (None: off)."""
    selection_tag: SelectionTag = SelectionTag("ir-readiness:backup", "true")
    """The tag that selects the resources to back up."""
    vault_lock: VaultLock = field(default_factory=VaultLock)
    """Vault Lock retention bounds."""
    copy_to_region: Region | None = None
    """Covered region that receives a copy of every recovery point (None: no copy)."""
    restore_testing: RestoreTestingSettings = field(default_factory=RestoreTestingSettings)
    """Scheduled restore tests that prove the recovery points restore (on by default)."""
    audit_reports: StrictBool = True
    """Backup Audit Manager report plans (backup jobs, restore jobs) delivered daily to the
    trail's log bucket (the evidence bucket in member accounts) under `backup-reports/`."""

    def rules(self) -> dict[str, BackupRule]:
        """The configured snapshot rules by slot name."""
        return {
            slot: rule
            for slot in BACKUP_RULE_SLOTS
            if (rule := getattr(self, slot)) is not None
        }

    def protection_args(self) -> dict[str, Any]:
        """The `BackupProtectionArgs` fields these settings decide (the plan's rules,
        selection and Vault Lock), for every stack that builds a `BackupProtection`."""
        from components.backup_protection import BackupRule as VaultRule
        from components.backup_protection import RestoreTesting

        def vault_rule(rule: BackupRule | None) -> VaultRule | None:
            if rule is None:
                return None
            return VaultRule(rule.schedule, rule.delete_after_days,
                             rule.cold_storage_after_days)

        return {
            "daily": vault_rule(self.daily),
            "weekly": vault_rule(self.weekly),
            "monthly": vault_rule(self.monthly),
            "continuous_backup_days": self.continuous_backup_days,
            "selection_tag_key": self.selection_tag.key,
            "selection_tag_value": self.selection_tag.value,
            "lock_min_retention_days": self.vault_lock.min_retention_days,
            "lock_max_retention_days": self.vault_lock.max_retention_days,
            "lock_changeable_for_days": self.vault_lock.changeable_for_days,
            "restore_testing": RestoreTesting(
                schedule=t.schedule, resource_types=t.resource_types,
                selection_window_days=t.selection_window_days,
                validation_window_hours=t.validation_window_hours,
                start_window_hours=t.start_window_hours,
            ) if (t := self.restore_testing).enabled else None,
        }


@_model
class ForensicAccess:
    cidrs: tuple[StrictStr, ...] = ()
    """CIDRs admitted by the forensic-access security group (empty: none)."""
    security_group_ids: Annotated[
        Mapping[VpcId, SecurityGroupId], AfterValidator(_frozen)
    ] = field(default_factory=lambda: MappingProxyType({}))
    """Per VPC id, a source security group admitted by the forensic-access group."""
    ports: Annotated[
        tuple[Annotated[Int, Field(ge=1, le=65535)], ...], Field(min_length=1)
    ] = (22, 3389)
    """TCP ports the forensic-access group opens to those sources."""
    endpoint_security_group_ids: Annotated[
        Mapping[VpcId, Annotated[tuple[SecurityGroupId, ...], Field(min_length=1),
                                 AfterValidator(_unique)]],
        AfterValidator(_frozen),
    ] = field(default_factory=lambda: MappingProxyType({}))
    """Per VPC id, the security groups of its VPC interface endpoints (ssm, ssmmessages,
    ec2messages, and s3 when an interface endpoint) that the forensic group may reach on
    HTTPS: what memory capture (SSM Run Command, upload to S3) needs while isolated."""
    endpoint_prefix_list_ids: Annotated[
        Mapping[VpcId, Annotated[tuple[PrefixListId, ...], Field(min_length=1),
                                 AfterValidator(_unique)]],
        AfterValidator(_frozen),
    ] = field(default_factory=lambda: MappingProxyType({}))
    """Per VPC id, managed prefix lists (the S3 gateway endpoint's, pl-...) the forensic
    group may reach on HTTPS."""


@_model
class CaptureTool:
    """One memory acquisition tool the capture document fetches and checks."""

    uri: Annotated[StrictStr, Field(pattern=_TOOL_URI)]
    """`tools/<name>` in the evidence bucket, or `s3://bucket/key` elsewhere."""
    sha256: Annotated[StrictStr, Field(pattern=r"^[0-9a-f]{64}$")]
    """The tool's pinned SHA-256 (lowercase hex): a tool that differs is never run."""


@_model
class MemoryCaptureSettings:
    """`ir:memoryCapture`: memory capture through SSM Run Command (`ec2.capture-memory`)."""

    enabled: StrictBool = False
    """Provision the capture document and the upload role, and name them in the manifest."""
    linux_tool: CaptureTool | None = None
    """AVML (static x86_64 binary) for Linux instances."""
    windows_tool: CaptureTool | None = None
    """WinPmem (winpmem_mini_x64.exe) for Windows instances."""
    timeout_seconds: Annotated[Int, Field(ge=60, le=3600)] = 900
    """Bound on one capture: the document's executionTimeout and the step's wait."""


def _default_finding_types() -> tuple[str, ...]:
    from runbooks.core.automation_contract import DEFAULT_FINDING_TYPES

    return tuple(DEFAULT_FINDING_TYPES)


@_model
class AutomationSettings:
    """`ir:automation`: the ResponseAutomation Lambda (off unless `enabled`)."""

    enabled: StrictBool = False
    """Create the function and its EventBridge rules in every covered region."""
    mode: Literal["plan", "apply"] = "plan"
    """plan: post the plan to the high topic and change nothing; apply: contain."""
    finding_types: Annotated[
        tuple[Annotated[StrictStr, Field(min_length=3, max_length=128)], ...],
        Field(min_length=1), AfterValidator(_unique),
    ] = field(default_factory=_default_finding_types)
    """Allow-list: GuardDuty type prefixes, or Security Hub `control/<id>`."""
    min_severity: Annotated[float, Field(strict=True, ge=1, le=10)] = 7.0
    """Lowest severity (GuardDuty scale 1-10) acted on."""
    opt_out_tag: Annotated[StrictStr, Field(min_length=1, max_length=128)] = (
        "ir-readiness:automation"
    )
    """A resource tagged `<tag>=off` is never contained by automation (plan only)."""
    max_actions_per_hour: Annotated[Int, Field(ge=0, le=1000)] = 10
    """Automated containments per region and hour; beyond it, plan only."""
    reserved_concurrency: Annotated[Int, Field(ge=1, le=50)] = 2
    """Reserved (and maximum) concurrent executions of the function."""
    log_retention_days: LogRetention = 365
    """Retention of the function's encrypted log group."""
    layer_path: Annotated[StrictStr, Field(min_length=1)] = "build/automation-layer"
    """Directory of the dependency layer (`make automation-layer`), relative to the project."""


@_model
class OrganizationSettings:
    """`ir:organization`: which role this stack plays in an AWS Organization."""

    mode: Literal["single", "management", "security", "member"] = "single"
    """single: one account (default); management: organization trail + delegated admins;
    security: delegated GuardDuty/Security Hub admin + organization event bus; member: the
    workload-account baseline."""
    organization_id: Annotated[StrictStr, Field(pattern=r"^o-[a-z0-9]{10,32}$")] | None = None
    """Organization id (o-...): the org trail's log prefix and the event bus condition."""
    root_id: Annotated[StrictStr, Field(pattern=r"^r-[0-9a-z]{4,32}$")] | None = None
    """Organization root id (r-...): target of the Security Hub configuration policy."""
    management_account_id: AccountId | None = None
    """Management account (the org trail's owner; its own logs land under its id)."""
    security_account_id: AccountId | None = None
    """Security (audit) account: delegated administrator, event bus, responders."""
    log_archive_account_id: AccountId | None = None
    """Log-archive account holding the organization trail's bucket and key."""
    log_archive_role_name: RoleName = "OrganizationAccountAccessRole"
    """Role the management stack assumes in the log-archive account to create the bucket."""
    member_role_name: RoleName = "ir-readiness-member-responder"
    """Responder role the member baseline creates (`irctl --account` assumes it)."""
    external_id: Annotated[StrictStr, Field(pattern=r"^[\w+=,.@:/-]{2,1224}$")] | None = None
    """sts:ExternalId the member responder role requires (member mode: required)."""
    security_event_bus_name: Annotated[
        StrictStr, Field(pattern=r"^[A-Za-z0-9._-]{1,256}$")
    ] = "ir-readiness-org"
    """Custom event bus in the security account that member accounts forward to."""
    member_account_ids: Annotated[tuple[AccountId, ...], AfterValidator(_unique)] = ()
    """security mode: member accounts that already existed when Inspector was delegated;
    the security stack activates their Inspector scanning (auto-enable reaches only
    accounts that join later)."""

    @property
    def is_single(self) -> bool:
        return self.mode == "single"


def _every_severity(
    value: Mapping[str, tuple[Subscription, ...]],
) -> Mapping[str, tuple[Subscription, ...]]:
    return MappingProxyType({sev: tuple(value.get(sev, ())) for sev in SEVERITIES})


@_model
class Settings:
    """Everything the stack needs, validated. Build with `from_config` / `from_mapping`."""

    regions: Annotated[tuple[Region, ...], Field(min_length=1)]
    """Covered regions; `regions[0]` is the home region (global resources live there)."""
    responder_principals: Annotated[
        tuple[StrictStr, ...], Field(min_length=1), AfterValidator(_unique)
    ]
    """IAM ARNs trusted to assume the investigator and responder roles."""
    tags: Annotated[
        Mapping[TagKey, Annotated[StrictStr, Field(max_length=256)]],
        Field(max_length=40), AfterValidator(_frozen),
    ] = field(default_factory=lambda: MappingProxyType({}))
    """Tags applied to every resource (through each provider's default tags)."""
    alert_subscriptions: Annotated[
        Mapping[Severity, tuple[Subscription, ...]],
        AfterValidator(_every_severity),
    ] = field(default_factory=lambda: _every_severity({}))
    """Per severity (critical, high, info), the SNS subscriptions of its topic."""
    quarantine_vpcs: Annotated[
        Mapping[Region, QuarantineVpcs], AfterValidator(_frozen)
    ] = field(default_factory=lambda: MappingProxyType({}))
    """Per covered region: VPC ids to quarantine, or "discover" (all VPCs in the region)."""
    forensic_access: ForensicAccess = field(default_factory=ForensicAccess)
    """Sources the forensic-access security group admits."""
    forensic_account: AccountId | None = None
    """`ir:forensicAccount`: the separate account forensic analysts work in. When set,
    every region's stack key lets that account use it through EBS only (the copies
    `irctl case share-snapshots` makes are encrypted with it), and the manifest names it;
    it must not be the stack's own account. None: snapshots are not shared."""
    trail: TrailSettings = field(default_factory=TrailSettings)
    """CloudTrail options."""
    evidence: EvidenceSettings = field(default_factory=EvidenceSettings)
    """Evidence bucket options."""
    guardduty: GuardDutySettings = Field(
        default_factory=GuardDutySettings, alias="guardDuty"
    )
    """GuardDuty and Inspector options."""
    security_hub: SecurityHubSettings = field(default_factory=SecurityHubSettings)
    """Security Hub options."""
    backup: BackupSettings = field(default_factory=BackupSettings)
    """AWS Backup options."""
    max_session_duration: Annotated[Int, Field(ge=3600, le=14400)] = 3600
    """Maximum session (seconds) of the responder roles."""
    automation: AutomationSettings = field(default_factory=AutomationSettings)
    """Event-driven response automation (off by default)."""
    organization: OrganizationSettings = field(default_factory=OrganizationSettings)
    """Organization mode (single-account by default)."""
    recording: RecordingSettings = field(default_factory=RecordingSettings)
    """Flow logs, AWS Config, Resolver query logs, S3 access logs."""
    account_protection: AccountProtectionSettings = field(
        default_factory=AccountProtectionSettings
    )
    """Account-level S3 Block Public Access, IAM Access Analyzer, S3 malware scanning."""
    shield: ShieldSettings = field(default_factory=ShieldSettings)
    """AWS Shield Advanced (off by default)."""
    memory_capture: MemoryCaptureSettings = field(default_factory=MemoryCaptureSettings)
    """Memory capture through SSM Run Command (off by default; needs a tool)."""

    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo) -> Settings:
        """Cross-field rules; pydantic runs them once every field is valid."""
        problems = _rule_problems(self, (info.context or {}).get("aws_region"))
        if problems:
            raise PydanticCustomError(
                "ir_rules", "{summary}", {"summary": "; ".join(problems), "lines": problems}
            )
        return self

    @property
    def home_region(self) -> str:
        return self.regions[0]

    @property
    def security_hub_standards(self) -> tuple[str, ...]:
        """Security Hub standards subscribed in every covered region."""
        return self.security_hub.standards

    def vpcs_for(self, region: str) -> str | tuple[str, ...]:
        """VPC ids to quarantine in `region`, or "discover". Unlisted regions discover."""
        return self.quarantine_vpcs.get(region, DISCOVER)

    # ---------------------------------------------------------------- constructors

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], aws_region: str | None = None) -> Settings:
        """Validate plain values (keys with or without the `ir:` prefix) into Settings.

        `aws_region` is the stack's `aws:region`; when given it must be the home region.
        """
        doc = {_strip_namespace(k): v for k, v in values.items()}
        try:
            # Config keys only (ir:guardDuty, not the attribute name ir:guardduty).
            return _ADAPTER.validate_python(
                doc, context={"aws_region": aws_region}, by_alias=True, by_name=False
            )
        except ValidationError as exc:
            raise SettingsError(
                "invalid stack config:\n  " + "\n  ".join(_report(exc))
            ) from None

    @classmethod
    def from_config(cls, config: pulumi.Config, aws_region: str | None = None) -> Settings:
        """Read the `ir` namespace of the current stack's config and validate it."""
        import pulumi

        values: dict[str, Any] = {}
        for key in _present_keys(config):
            raw = config.get(key)
            if raw is None:
                continue
            values[key] = parse_config_value(key, raw)
        if aws_region is None:
            aws_region = pulumi.Config("aws").get("region")
        return cls.from_mapping(values, aws_region=aws_region)


_ADAPTER: TypeAdapter[Settings] = TypeAdapter(Settings)
SCHEMA: dict[str, Any] = _ADAPTER.json_schema(by_alias=True)
"""The model as JSON Schema (config key names): documentation, and the list of keys."""
CONFIG_KEYS: tuple[str, ...] = tuple(SCHEMA["properties"])


# -------------------------------------------------------------------- errors


def _report(
    exc: ValidationError, prefix: str = NAMESPACE + ":", positional: Sequence[str] = ()
) -> list[str]:
    """One line per problem: the key (`ir:` config key, or `Class.attribute` when a model
    is built in code, `positional` naming its arguments), the value and what is allowed."""
    errors: list[dict[str, Any]] = [
        {**e, "loc": (positional[e["loc"][0]], *e["loc"][1:])}
        if e["loc"] and isinstance(e["loc"][0], int) and e["loc"][0] < len(positional)
        else dict(e)
        for e in exc.errors()
    ]
    item_errors = {tuple(e["loc"][:-1]) for e in errors if e["loc"] and isinstance(
        e["loc"][-1], int)}
    lines: list[str] = []
    unknown: list[str] = []
    for err in sorted(errors, key=lambda e: [str(p) for p in e["loc"]]):
        loc, kind, ctx = tuple(err["loc"]), err["type"], err.get("ctx") or {}
        if kind == "ir_rules":
            lines.extend(ctx["lines"])
            continue
        if (kind in ("unexpected_keyword_argument", "extra_forbidden") and len(loc) == 1
                and not positional):
            unknown.append(str(loc[0]))
            continue
        if kind == "too_short" and loc in item_errors:
            continue  # the items' own errors say why nothing valid is left
        key = _key_path(loc, prefix)
        if kind == "missing":
            lines.append(f"{key} is required but not set")
        elif loc and loc[-1] == "[key]":
            lines.append(f"{key}: not an allowed key ({_allowed(kind, ctx, err, loc)})")
        else:
            lines.append(f"{key} = {_format_value(err['input'])}: "
                         f"{_allowed(kind, ctx, err, loc, positional)}")
    if unknown:
        lines.insert(0,
            f"unknown config key(s) {', '.join(NAMESPACE + ':' + k for k in sorted(unknown))}; "
            f"allowed: {', '.join(NAMESPACE + ':' + k for k in sorted(CONFIG_KEYS))}"
        )
    return lines


def _allowed(
    kind: str, ctx: Mapping[str, Any], err: Any, loc: tuple[Any, ...],
    attributes: Sequence[str] = (),
) -> str:
    if kind == "value_error":
        return str(ctx["error"])
    if kind == "literal_error":
        return "must be one of " + str(ctx["expected"]).replace("'", "").replace(" or ", ", ")
    if kind == "string_pattern_mismatch":
        return f"must match {ctx['pattern']}"
    if kind == "greater_than_equal":
        return f"is less than the minimum of {_number(ctx['ge'])}"
    if kind == "less_than_equal":
        return f"is greater than the maximum of {_number(ctx['le'])}"
    if kind == "too_short":
        n = ctx.get("min_length", 1)
        return "should be non-empty" if n == 1 else f"should have at least {n} items"
    if kind == "too_long":
        return f"has more than {ctx.get('max_length')} entries"
    if kind in ("unexpected_keyword_argument", "extra_forbidden"):
        known = sorted(attributes) if attributes and len(loc) == 1 else _known_keys(loc[:-1])
        return "is not an allowed key" + (f"; allowed keys: {', '.join(known)}" if known else "")
    if kind in _TYPE_NAMES:
        return "must be " + _TYPE_NAMES[kind]
    if kind in ("string_too_short", "string_too_long"):
        n = ctx.get("min_length", ctx.get("max_length"))
        if kind == "string_too_short" and n == 1:
            return "should be non-empty"
        return f"must have at {'least' if kind == 'string_too_short' else 'most'} {n} characters"
    message = str(err["msg"])
    return message[:1].lower() + message[1:]


# What a config value of the wrong type should have been, in YAML/JSON terms.
_TYPE_NAMES: Mapping[str, str] = MappingProxyType({
    "tuple_type": "a list", "list_type": "a list", "dict_type": "an object (key: value)",
    "dataclass_type": "an object (key: value)", "dataclass_args_type": "an object (key: value)",
    "string_type": "a string", "int_type": "an integer", "int_from_float": "an integer",
    "float_type": "a number", "bool_type": "true or false",
})


def _number(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _known_keys(loc: Sequence[Any]) -> list[str]:
    """The config keys allowed at `loc` (from the model's schema)."""
    node: Any = SCHEMA
    for part in loc:
        node = _resolve(node)
        if isinstance(part, int):
            node = node.get("items", {})
        else:
            node = node.get("properties", {}).get(part, {})
    return sorted(_resolve(node).get("properties", {}))


def _resolve(node: Any) -> Any:
    if "$ref" in node:
        return _resolve(SCHEMA["$defs"][node["$ref"].rsplit("/", 1)[-1]])
    for option in node.get("anyOf", ()):
        if "$ref" in option or "properties" in option:
            return _resolve(option)
    return node


def _key_path(path: Sequence[Any], prefix: str = NAMESPACE + ":") -> str:
    out = prefix
    for i, part in enumerate(p for p in path if p != "[key]"):
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if i else "") + str(part)
    return out


_URL_USERINFO = re.compile(r"://[^/@\s\"]+@")


def _format_value(value: Any) -> str:
    # Never echo credentials embedded in a URL (user:password@host) into an error.
    text = _URL_USERINFO.sub("://***@", json.dumps(value, sort_keys=True, default=str))
    return text if len(text) <= 120 else text[:117] + "..."


# -------------------------------------------------------------------- config


def parse_config_value(key: str, raw: str) -> Any:
    """Pulumi hands structured values over as JSON text; numbers and booleans too."""
    if _strip_namespace(key) in _STRING_KEYS:
        return raw
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        # A bare word such as `eu-west-1` for `ir:regions` is a plain string; the model
        # then reports it with the expected type.
        return raw


def _strip_namespace(key: str) -> str:
    prefix = NAMESPACE + ":"
    return key[len(prefix):] if key.startswith(prefix) else key


def _present_keys(config: pulumi.Config) -> list[str]:
    """Every `ir:` key set in the stack (known or not, so typos are reported)."""
    from pulumi.runtime import config as runtime_config

    keys = set(CONFIG_KEYS)
    prefix = config.name + ":"
    present: dict[str, Any] = {}
    try:
        present.update(runtime_config.get_config_env())
    except (ValueError, TypeError):
        pass
    present.update(runtime_config.CONFIG.get())
    keys.update(k[len(prefix):] for k in present if k.startswith(prefix))
    return sorted(keys)


# -------------------------------------------------------------------- cross-field rules


def _rule_problems(s: Settings, aws_region: str | None) -> list[str]:
    """The cross-field rules: one line per broken rule (empty: all hold)."""
    problems: list[str] = []

    def bad(key: str, value: Any, allowed: str) -> None:
        problems.append(f"{NAMESPACE}:{key} = {_format_value(value)}: {allowed}")

    regions = list(s.regions)
    dupes = sorted({r for r in regions if regions.count(r) > 1})
    if dupes:
        bad("regions", regions, f"lists {', '.join(dupes)} more than once; list each region once")
    if aws_region and aws_region != s.home_region:
        bad(
            "regions",
            regions,
            f"the home region (first entry) must equal aws:region ({aws_region}); "
            f"put {aws_region} first or change aws:region",
        )
    for region in s.quarantine_vpcs:
        if region not in s.regions:
            bad(
                f"quarantineVpcs.{region}",
                s.quarantine_vpcs[region],
                f"{region} is not a covered region; covered: {', '.join(regions)}",
            )
    for i, cidr in enumerate(s.forensic_access.cidrs):
        try:
            net = ipaddress.ip_network(cidr, strict=True)
        except ValueError as exc:
            bad(
                f"forensicAccess.cidrs[{i}]",
                cidr,
                f"must be a network CIDR without host bits, e.g. 10.99.0.0/24 ({exc})",
            )
            continue
        widest = 8 if net.version == 4 else 32
        if net.prefixlen < widest:
            bad(
                f"forensicAccess.cidrs[{i}]",
                cidr,
                f"is broader than /{widest}; give the forensic workstation network",
            )
    for i, principal in enumerate(s.responder_principals):
        if not _IAM_PRINCIPAL.match(principal):
            bad(
                f"responderPrincipals[{i}]",
                principal,
                "must be an IAM ARN of an account root, user or role "
                "(arn:aws:iam::123456789012:root|user/NAME|role/NAME)",
            )
    b = s.backup
    if b.vault_lock.min_retention_days > b.vault_lock.max_retention_days:
        bad(
            "backup.vaultLock.minRetentionDays",
            b.vault_lock.min_retention_days,
            f"must not exceed maxRetentionDays ({b.vault_lock.max_retention_days})",
        )
    if not b.rules() and b.continuous_backup_days is None:
        bad("backup", "{}", "needs at least one of daily, weekly, monthly or continuousBackupDays")
    for slot, rule in b.rules().items():
        if not (
            b.vault_lock.min_retention_days
            <= rule.delete_after_days
            <= b.vault_lock.max_retention_days
        ):
            bad(
                f"backup.{slot}.deleteAfterDays",
                rule.delete_after_days,
                f"must lie within the vault lock retention "
                f"[{b.vault_lock.min_retention_days}, {b.vault_lock.max_retention_days}] days, "
                "or the vault rejects the recovery point",
            )
        cold = rule.cold_storage_after_days
        if cold is not None and rule.delete_after_days < cold + 90:
            bad(
                f"backup.{slot}.deleteAfterDays",
                rule.delete_after_days,
                f"must be at least coldStorageAfterDays + 90 ({cold + 90}); "
                "AWS Backup keeps cold storage for 90 days minimum",
            )
    if b.continuous_backup_days is not None and not (
        b.vault_lock.min_retention_days
        <= b.continuous_backup_days
        <= b.vault_lock.max_retention_days
    ):
        bad(
            "backup.continuousBackupDays",
            b.continuous_backup_days,
            f"must lie within the vault lock retention "
            f"[{b.vault_lock.min_retention_days}, {b.vault_lock.max_retention_days}] days",
        )
    if b.copy_to_region is not None:
        if b.copy_to_region not in s.regions:
            bad(
                "backup.copyToRegion",
                b.copy_to_region,
                f"must be a covered region ({', '.join(regions)}) so its vault exists",
            )
        elif len(s.regions) == 1:
            bad("backup.copyToRegion", b.copy_to_region, "needs a second covered region")
    for vpc_id in s.forensic_access.security_group_ids:
        explicit = [v for v in s.quarantine_vpcs.values() if v != DISCOVER]
        if explicit and not any(vpc_id in v for v in explicit) and DISCOVER not in [
            s.vpcs_for(r) for r in s.regions
        ]:
            bad(
                f"forensicAccess.securityGroupIds.{vpc_id}",
                s.forensic_access.security_group_ids[vpc_id],
                "names a VPC that is not quarantined; list it in ir:quarantineVpcs",
            )
    for key, by_vpc in (("endpointSecurityGroupIds",
                         s.forensic_access.endpoint_security_group_ids),
                        ("endpointPrefixListIds", s.forensic_access.endpoint_prefix_list_ids)):
        explicit = [v for v in s.quarantine_vpcs.values() if v != DISCOVER]
        for vpc_id in by_vpc:
            if explicit and not any(vpc_id in v for v in explicit) and DISCOVER not in [
                    s.vpcs_for(r) for r in s.regions]:
                bad(f"forensicAccess.{key}.{vpc_id}", list(by_vpc[vpc_id]),
                    "names a VPC that is not quarantined; list it in ir:quarantineVpcs")
    memory = s.memory_capture
    if memory.enabled and memory.linux_tool is None and memory.windows_tool is None:
        bad("memoryCapture.enabled", True,
            "needs linuxTool and/or windowsTool ({uri, sha256}): the capture document "
            "runs only a tool whose SHA-256 is pinned")
    replica = s.evidence.replication_region
    if replica is not None:
        if replica not in s.regions:
            bad("evidence.replicationRegion", replica,
                f"must be a covered region ({', '.join(regions)}): its KMS key encrypts "
                "the replica")
        elif replica == s.home_region:
            bad("evidence.replicationRegion", replica,
                "must differ from the home region (the evidence bucket's own); use a "
                "second covered region")
    _check_shield(s.shield, bad)
    if s.organization.mode == "management":
        # The management account holds no workload and no evidence bucket of its own.
        if replica is not None:
            bad("evidence.replicationRegion", replica,
                "does not apply in ir:organization.mode management (no evidence bucket "
                "there); set it in the security and member stacks")
        if s.shield.advanced:
            bad("shield.advanced", True,
                "does not apply in ir:organization.mode management (no workload there); "
                "enable it in the member stacks whose resources it protects")
    _check_subscriptions(s, bad)
    _check_automation(s.automation, bad)
    _check_organization(s, bad)
    _check_account_protection(s, bad)
    return problems


def _check_account_protection(s: Settings, bad: Any) -> None:
    p = s.account_protection
    if p.access_analyzer == "organization" and s.organization.mode != "security":
        bad("accountProtection.accessAnalyzer", "organization",
            "needs ir:organization.mode security (the delegated administrator of "
            "access-analyzer.amazonaws.com); use account here")
    if p.malware_protection.buckets and not p.malware_protection.enabled:
        bad("accountProtection.malwareProtection.buckets", list(p.malware_protection.buckets),
            "are scanned only with malwareProtection.enabled true; enable it or remove them")


def _check_shield(sh: ShieldSettings, bad: Any) -> None:
    if sh.advanced and not sh.accept_subscription_cost:
        bad("shield.acceptSubscriptionCost", False,
            "must be true with shield.advanced: Shield Advanced costs USD 3,000 a month on a "
            "one-year commitment that destroying the stack does not end")
    if not sh.advanced:
        stray = [k for k, v in (("protectedResourceArns", sh.protected_resource_arns),
                                ("emergencyContacts", sh.emergency_contacts)) if v]
        if stray:
            bad(f"shield.{stray[0]}", "[...]",
                "applies only with shield.advanced true; enable it or remove the list")
    elif sh.emergency_contacts and not sh.srt_access:
        bad("shield.srtAccess", False,
            "must be true with emergencyContacts: proactive engagement needs the Shield "
            "Response Team's access role")


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
_SQS_ARN = re.compile(r"^arn:aws[a-z-]*:sqs:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,80}(\.fifo)?$")
_LAMBDA_ARN = re.compile(
    r"^arn:aws[a-z-]*:lambda:[a-z0-9-]+:[0-9]{12}:function:[A-Za-z0-9_-]{1,64}(:[A-Za-z0-9$_-]+)?$"
)


def _redacted(url: str) -> str:
    """A URL safe to print: user info (credentials) replaced."""
    parsed = urlparse(url)
    if parsed.username or parsed.password:
        return url.replace(parsed.netloc, "***@" + (parsed.hostname or ""), 1)
    return url


def _check_subscriptions(s: Settings, bad: Any) -> None:
    for severity, subscriptions in s.alert_subscriptions.items():
        for i, sub in enumerate(subscriptions):
            key = f"alertSubscriptions.{severity}[{i}].endpoint"
            endpoint = sub.endpoint
            if sub.protocol == "email" and not _EMAIL.match(endpoint):
                bad(key, endpoint, "must be an email address")
            elif sub.protocol == "https":
                parsed = urlparse(endpoint)
                if parsed.scheme != "https" or not parsed.hostname:
                    bad(key, _redacted(endpoint), "must be an https:// URL")
                elif parsed.username or parsed.password:
                    bad(
                        key,
                        _redacted(endpoint),
                        "must not carry credentials: they would be stored in stack state "
                        "and outputs; authenticate the receiver another way",
                    )
            elif sub.protocol == "sqs" and not _SQS_ARN.match(endpoint):
                bad(key, endpoint, "must be an SQS queue ARN (arn:aws:sqs:REGION:ACCOUNT:NAME)")
            elif sub.protocol == "lambda" and not _LAMBDA_ARN.match(endpoint):
                bad(
                    key,
                    endpoint,
                    "must be a Lambda function ARN (arn:aws:lambda:REGION:ACCOUNT:function:NAME)",
                )


def _check_automation(a: AutomationSettings, bad: Any) -> None:
    from runbooks.automation.policy import automated_playbook_for

    for i, entry in enumerate(a.finding_types):
        if automated_playbook_for(entry) is None:
            bad(f"automation.findingTypes[{i}]", entry,
                "leads to no automated playbook; use a GuardDuty type prefix of an "
                "instance, credential, bucket or address finding (e.g. CryptoCurrency:EC2/) "
                "or a Security Hub control as control/<id> (e.g. control/S3.2); "
                "ransomware and database (RDS) findings are never automated")
    if a.enabled and a.mode == "apply" and a.max_actions_per_hour == 0:
        bad("automation.maxActionsPerHour", 0,
            "with mode apply must be at least 1 (0 never acts: use mode plan instead)")
    if a.opt_out_tag.lower().startswith("aws:"):
        bad("automation.optOutTag", a.opt_out_tag, "tag keys starting with aws: are reserved")


# Keys each organization mode needs (config names under ir:organization).
_ORGANIZATION_REQUIRED: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "single": (),
    "management": ("organizationId", "managementAccountId", "securityAccountId",
                   "logArchiveAccountId"),
    "security": ("organizationId", "rootId", "securityAccountId"),
    "member": ("organizationId", "managementAccountId", "securityAccountId", "externalId"),
})
_ORGANIZATION_ATTRS: Mapping[str, str] = MappingProxyType({
    "organizationId": "organization_id", "rootId": "root_id",
    "managementAccountId": "management_account_id",
    "securityAccountId": "security_account_id",
    "logArchiveAccountId": "log_archive_account_id", "externalId": "external_id",
})


def _check_organization(s: Settings, bad: Any) -> None:
    o = s.organization
    key = "organization"
    if o.member_account_ids and o.mode != "security":
        bad(f"{key}.memberAccountIds", list(o.member_account_ids),
            "only applies in security mode (the delegated Inspector administrator "
            "activates these existing members)")
    if o.is_single:
        stray = [k for k, attr in _ORGANIZATION_ATTRS.items() if getattr(o, attr) is not None]
        if stray:
            bad(f"{key}.mode", "single",
                f"{', '.join(stray)} set, but these keys only apply to an organization mode; "
                "set "
                "ir:organization.mode to management, security or member, or remove them")
        return
    for name in _ORGANIZATION_REQUIRED[o.mode]:
        if getattr(o, _ORGANIZATION_ATTRS[name]) is None:
            bad(f"{key}.{name}", None, f"is required when ir:organization.mode is {o.mode}")
    security = o.security_account_id
    if security and security == o.management_account_id:
        bad(f"{key}.securityAccountId", security,
            "must differ from managementAccountId: delegate GuardDuty and Security Hub "
            "administration to a dedicated security account")
    if o.log_archive_account_id and o.log_archive_account_id == o.management_account_id:
        bad(f"{key}.logArchiveAccountId", o.log_archive_account_id,
            "must differ from managementAccountId: keep the organization's logs out of "
            "the account that can stop the trail")
    if o.mode == "member" and security:
        for i, principal in enumerate(s.responder_principals):
            m = _IAM_PRINCIPAL.match(principal)
            if m and m.group("account") != security:
                bad(f"responderPrincipals[{i}]", principal,
                    f"in member mode must be a principal of the security account "
                    f"({security}): the member responder role trusts only responders there")
    if o.mode in ("management", "member") and s.automation.enabled:
        bad("automation.enabled", True,
            f"is not available in ir:organization.mode {o.mode} (ResponseAutomation runs in "
            "single-account and security stacks); set it to false")
    if not re.match(r"^[\w+=,.@-]{1,48}-responder$", o.member_role_name):
        bad(f"{key}.memberRoleName", o.member_role_name,
            "must be <prefix>-responder with a prefix of at most 48 characters (the "
            "baseline names its investigator and forwarder roles <prefix>-investigator and "
            "<prefix>-event-forwarder, and protects <prefix>-* from widening)")
    if o.mode != "member" and o.external_id is not None:
        bad(f"{key}.externalId", "***",
            "only applies in member mode (the member responder role's sts:ExternalId)")


def partition_for(region: str) -> str:
    """ARN partition of a region (aws, aws-cn, aws-us-gov)."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"
