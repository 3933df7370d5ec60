"""Stack settings: the one place that reads Pulumi config (namespace `ir`).

Config is validated in two layers before any resource is registered:

1. a structural JSON Schema (types, enums, ranges, unknown keys rejected), then
2. cross-field rules (home region first, no duplicate regions, copy region covered,
   vault lock min <= max, trusted principals are IAM ARNs, ...).

Every failure is a `SettingsError` whose message names the key, the bad value and what
is allowed, e.g. ``ir:trail.logRetentionDays = 12: must be one of 1, 3, 5, ...``.

Two constructors share the same validation:

- `Settings.from_config(pulumi.Config("ir"))` inside a Pulumi program;
- `Settings.from_mapping({...})` for tests and benchmarks (plain Python values,
  keys without the `ir:` prefix).
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlparse

import jsonschema

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

_REGION = r"^[a-z]{2}(-[a-z]+)+-[0-9]+$"
_VPC_ID = r"^vpc-[0-9a-f]{8,17}$"
_SG_ID = r"^sg-[0-9a-f]{8,17}$"
_IAM_PRINCIPAL = re.compile(
    r"^arn:aws[a-z-]*:iam::(?P<account>[0-9]{12}):(?P<kind>root|user/.+|role/.+)$"
)
# AWS Backup takes six-field cron expressions.
_SCHEDULE = r"^cron\(\S+( \S+){5}\)$"

_SUBSCRIPTION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["protocol", "endpoint"],
    "properties": {
        "protocol": {"enum": ["email", "https", "sqs", "lambda"]},
        "endpoint": {"type": "string", "minLength": 3},
    },
}

BACKUP_RULE_SLOTS: tuple[str, ...] = ("daily", "weekly", "monthly")
_BACKUP_RULE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["schedule", "deleteAfterDays"],
    "properties": {
        "schedule": {"type": "string", "pattern": _SCHEDULE},
        "deleteAfterDays": {"type": "integer", "minimum": 1},
        "coldStorageAfterDays": {"type": "integer", "minimum": 1},
    },
}

_OBJECT_LOCK_SCHEMA: dict[str, Any] = {
    "mode": {"enum": ["GOVERNANCE", "COMPLIANCE"]},
    "retentionDays": {"type": "integer", "minimum": 1, "maximum": 36500},
}

ORGANIZATION_MODES: tuple[str, ...] = ("single", "management", "security", "member")
_ACCOUNT_ID = r"^[0-9]{12}$"
_ORGANIZATION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "description": "Organization mode (see docs/organization.md); single-account by default.",
    "properties": {
        "mode": {"enum": list(ORGANIZATION_MODES)},
        "organizationId": {"type": "string", "pattern": r"^o-[a-z0-9]{10,32}$"},
        "rootId": {"type": "string", "pattern": r"^r-[0-9a-z]{4,32}$"},
        "managementAccountId": {"type": "string", "pattern": _ACCOUNT_ID},
        "securityAccountId": {"type": "string", "pattern": _ACCOUNT_ID},
        "logArchiveAccountId": {"type": "string", "pattern": _ACCOUNT_ID},
        "logArchiveRoleName": {"type": "string", "pattern": r"^[\w+=,.@-]{1,64}$"},
        "memberRoleName": {"type": "string", "pattern": r"^[\w+=,.@-]{1,64}$"},
        "externalId": {"type": "string", "pattern": r"^[\w+=,.@:/-]{2,1224}$"},
        "securityEventBusName": {"type": "string", "pattern": r"^[A-Za-z0-9._-]{1,256}$"},
    },
}

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["regions", "responderPrincipals"],
    "properties": {
        "regions": {
            "type": "array",
            "minItems": 1,
            "items": {"type": "string", "pattern": _REGION},
            "description": "Covered regions, home region first.",
        },
        "tags": {
            "type": "object",
            "maxProperties": 40,
            "propertyNames": {"minLength": 1, "maxLength": 128, "not": {"pattern": "^aws:"}},
            "additionalProperties": {"type": "string", "maxLength": 256},
        },
        "alertSubscriptions": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                sev: {"type": "array", "items": _SUBSCRIPTION_SCHEMA} for sev in SEVERITIES
            },
        },
        "quarantineVpcs": {
            "type": "object",
            "propertyNames": {"pattern": _REGION},
            "additionalProperties": {
                "oneOf": [
                    {"const": "discover"},
                    {
                        "type": "array",
                        "uniqueItems": True,
                        "items": {"type": "string", "pattern": _VPC_ID},
                    },
                ]
            },
        },
        "forensicAccess": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "cidrs": {"type": "array", "items": {"type": "string"}},
                "securityGroupIds": {
                    "type": "object",
                    "propertyNames": {"pattern": _VPC_ID},
                    "additionalProperties": {"type": "string", "pattern": _SG_ID},
                },
                "ports": {
                    "type": "array",
                    "minItems": 1,
                    "items": {"type": "integer", "minimum": 1, "maximum": 65535},
                },
            },
        },
        "trail": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "s3DataEvents": {"type": "boolean"},
                "lambdaDataEvents": {"type": "boolean"},
                "insights": {"type": "boolean"},
                "logRetentionDays": {"enum": list(LOG_RETENTION_DAYS)},
                "objectLock": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": _OBJECT_LOCK_SCHEMA,
                },
            },
        },
        "evidence": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "objectLock": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": _OBJECT_LOCK_SCHEMA,
                },
                "archiveAfterDays": {"type": "integer", "minimum": 1, "maximum": 3650},
            },
        },
        "guardDuty": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "findingFrequency": {"enum": ["FIFTEEN_MINUTES", "ONE_HOUR", "SIX_HOURS"]},
                "features": {
                    "type": "object",
                    "propertyNames": {"enum": list(GUARDDUTY_FEATURES)},
                    "additionalProperties": {"type": "boolean"},
                },
                "inspector": {"type": "boolean"},
            },
        },
        "securityHub": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "standards": {
                    "type": "array",
                    "uniqueItems": True,
                    "items": {"enum": list(SECURITY_HUB_STANDARDS)},
                },
            },
        },
        "backup": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                **{
                    slot: {"oneOf": [{"type": "null"}, _BACKUP_RULE_SCHEMA]}
                    for slot in BACKUP_RULE_SLOTS
                },
                "continuousBackupDays": {
                    "type": ["integer", "null"], "minimum": 1, "maximum": 35,
                },
                "selectionTag": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["key", "value"],
                    "properties": {
                        "key": {"type": "string", "pattern": r"^[\w .:/=+\-@]{1,128}$"},
                        "value": {"type": "string", "pattern": r"^[\w .:/=+\-@]{1,256}$"},
                    },
                },
                "vaultLock": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "minRetentionDays": {"type": "integer", "minimum": 1},
                        "maxRetentionDays": {"type": "integer", "minimum": 1, "maximum": 36500},
                        "changeableForDays": {"type": "integer", "minimum": 3},
                    },
                },
                "copyToRegion": {"type": ["string", "null"], "pattern": _REGION},
            },
        },
        "responderPrincipals": {
            "type": "array",
            "minItems": 1,
            "uniqueItems": True,
            "items": {"type": "string"},
        },
        "maxSessionDuration": {"type": "integer", "minimum": 3600, "maximum": 14400},
        "organization": _ORGANIZATION_SCHEMA,
        "automation": {
            "type": "object",
            "additionalProperties": False,
            "description": "Event-driven response automation (ResponseAutomation).",
            "properties": {
                "enabled": {"type": "boolean"},
                "mode": {"enum": ["plan", "apply"]},
                "findingTypes": {
                    "type": "array",
                    "minItems": 1,
                    "uniqueItems": True,
                    "items": {"type": "string", "minLength": 3, "maxLength": 128},
                },
                "minSeverity": {"type": "number", "minimum": 1, "maximum": 10},
                "optOutTag": {"type": "string", "minLength": 1, "maxLength": 128},
                "maxActionsPerHour": {"type": "integer", "minimum": 0, "maximum": 1000},
                "reservedConcurrency": {"type": "integer", "minimum": 1, "maximum": 50},
                "logRetentionDays": {"enum": list(LOG_RETENTION_DAYS)},
                "layerPath": {"type": "string", "minLength": 1},
            },
        },
    },
}

# The keys whose values are strings in Pulumi config; everything else is parsed as JSON.
_STRING_KEYS: frozenset[str] = frozenset()


class SettingsError(ValueError):
    """A config value is missing or not allowed. The message says which and what to do."""


@dataclass(frozen=True)
class Subscription:
    protocol: Literal["email", "https", "sqs", "lambda"]
    """SNS protocol."""
    endpoint: str
    """Address, URL or ARN that receives the alert."""


@dataclass(frozen=True)
class ObjectLock:
    mode: Literal["GOVERNANCE", "COMPLIANCE"]
    """GOVERNANCE lets principals with s3:BypassGovernanceRetention delete; COMPLIANCE
    lets nobody, not even the root user, until retention ends."""
    retention_days: int
    """Default retention applied to every new object version."""


@dataclass(frozen=True)
class TrailSettings:
    s3_data_events: bool = False
    """Log S3 object-level (data) events for all buckets. Billed per 100k events."""
    lambda_data_events: bool = False
    """Log Lambda Invoke data events for all functions. Billed per 100k events."""
    insights: bool = False
    """CloudTrail Insights (API call rate and error rate). Billed per 100k events analysed."""
    log_retention_days: int = 365
    """Retention of the CloudWatch Logs copy of the trail."""
    object_lock: ObjectLock = ObjectLock("GOVERNANCE", 365)
    """Object Lock default retention on the trail's log bucket."""


@dataclass(frozen=True)
class EvidenceSettings:
    object_lock: ObjectLock = ObjectLock("COMPLIANCE", 365)
    """Object Lock default retention on the evidence bucket."""
    archive_after_days: int = 90
    """Days after which evidence moves to Glacier Flexible Retrieval."""


@dataclass(frozen=True)
class GuardDutySettings:
    finding_frequency: Literal["FIFTEEN_MINUTES", "ONE_HOUR", "SIX_HOURS"] = "FIFTEEN_MINUTES"
    """How often updated findings are published to EventBridge."""
    features: Mapping[str, bool] = field(default_factory=lambda: DEFAULT_GUARDDUTY_FEATURES)
    """GuardDuty protection plans (DetectorFeature names) and whether each is on."""
    inspector: bool = True
    """Enable Amazon Inspector scanning (EC2, ECR, Lambda) in each covered region."""


@dataclass(frozen=True)
class BackupRule:
    schedule: str
    """Six-field AWS Backup cron() expression (UTC)."""
    delete_after_days: int
    """Days a recovery point is kept."""
    cold_storage_after_days: int | None = None
    """Days after which a recovery point moves to cold storage (None: never)."""


@dataclass(frozen=True)
class BackupSettings:
    daily: BackupRule | None = BackupRule("cron(0 5 ? * * *)", 35)
    """Daily snapshot rule (None: no daily rule)."""
    weekly: BackupRule | None = BackupRule("cron(0 5 ? * SUN *)", 90)
    """Weekly snapshot rule (None: no weekly rule)."""
    monthly: BackupRule | None = BackupRule("cron(0 5 1 * ? *)", 365, 90)
    """Monthly snapshot rule (None: no monthly rule)."""
    continuous_backup_days: int | None = None
    """Continuous backup (point-in-time restore) kept this many days (None: off)."""

    def rules(self) -> dict[str, BackupRule]:
        """The configured snapshot rules by slot name."""
        return {
            slot: rule
            for slot in BACKUP_RULE_SLOTS
            if (rule := getattr(self, slot)) is not None
        }
    selection_tag_key: str = "ir-readiness:backup"
    """Resources carrying this tag key ..."""
    selection_tag_value: str = "true"
    """... with this value are backed up."""
    vault_lock_min_retention_days: int = 7
    """Vault Lock: shortest retention a recovery point may have."""
    vault_lock_max_retention_days: int = 400
    """Vault Lock: longest retention a recovery point may have."""
    vault_lock_changeable_for_days: int = 3
    """Vault Lock grace period; after it the lock is immutable (compliance mode)."""
    copy_to_region: str | None = None
    """Covered region that receives a copy of every recovery point (None: no copy)."""


@dataclass(frozen=True)
class ForensicAccess:
    cidrs: tuple[str, ...] = ()
    """CIDRs admitted by the forensic-access security group (empty: none)."""
    security_group_ids: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """Per VPC id, a source security group admitted by the forensic-access group."""
    ports: tuple[int, ...] = (22, 3389)
    """TCP ports the forensic-access group opens to those sources."""


@dataclass(frozen=True)
class AutomationSettings:
    """`ir:automation`: the ResponseAutomation Lambda (off unless `enabled`)."""

    enabled: bool = False
    """Create the function and its EventBridge rules in every covered region."""
    mode: Literal["plan", "apply"] = "plan"
    """plan: post the plan to the high topic and change nothing; apply: contain."""
    finding_types: tuple[str, ...] = ()
    """Allow-list: GuardDuty type prefixes, or Security Hub `control/<id>` (empty: defaults)."""
    min_severity: float = 7.0
    """Lowest severity (GuardDuty scale 1-10) acted on."""
    opt_out_tag: str = "ir-readiness:automation"
    """A resource tagged `<tag>=off` is never contained by automation (plan only)."""
    max_actions_per_hour: int = 10
    """Automated containments per region and hour; beyond it, plan only."""
    reserved_concurrency: int = 2
    """Reserved (and maximum) concurrent executions of the function."""
    log_retention_days: int = 365
    """Retention of the function's encrypted log group."""
    layer_path: str = "build/automation-layer"
    """Directory of the dependency layer (`make automation-layer`), relative to the project."""


@dataclass(frozen=True)
class OrganizationSettings:
    """`ir:organization`: which role this stack plays in an AWS Organization."""

    mode: Literal["single", "management", "security", "member"] = "single"
    """single: one account (default); management: organization trail + delegated admins;
    security: delegated GuardDuty/Security Hub admin + organization event bus; member: the
    workload-account baseline."""
    organization_id: str | None = None
    """Organization id (o-...): the org trail's log prefix and the event bus condition."""
    root_id: str | None = None
    """Organization root id (r-...): target of the Security Hub configuration policy."""
    management_account_id: str | None = None
    """Management account (the org trail's owner; its own logs land under its id)."""
    security_account_id: str | None = None
    """Security (audit) account: delegated administrator, event bus, responders."""
    log_archive_account_id: str | None = None
    """Log-archive account holding the organization trail's bucket and key."""
    log_archive_role_name: str = "OrganizationAccountAccessRole"
    """Role the management stack assumes in the log-archive account to create the bucket."""
    member_role_name: str = "ir-readiness-member-responder"
    """Responder role the member baseline creates (`irctl --account` assumes it)."""
    external_id: str | None = None
    """sts:ExternalId the member responder role requires (member mode: required)."""
    security_event_bus_name: str = "ir-readiness-org"
    """Custom event bus in the security account that member accounts forward to."""

    @property
    def is_single(self) -> bool:
        return self.mode == "single"


DISCOVER = "discover"


@dataclass(frozen=True)
class Settings:
    """Everything the stack needs, validated. Build with `from_config` / `from_mapping`."""

    regions: tuple[str, ...]
    """Covered regions; `regions[0]` is the home region (global resources live there)."""
    responder_principals: tuple[str, ...]
    """IAM ARNs trusted to assume the investigator and responder roles."""
    tags: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """Tags applied to every resource (through each provider's default tags)."""
    alert_subscriptions: Mapping[str, tuple[Subscription, ...]] = field(
        default_factory=lambda: MappingProxyType({s: () for s in SEVERITIES})
    )
    """Per severity (critical, high, info), the SNS subscriptions of its topic."""
    quarantine_vpcs: Mapping[str, str | tuple[str, ...]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    """Per covered region: VPC ids to quarantine, or "discover" (all VPCs in the region)."""
    forensic_access: ForensicAccess = ForensicAccess()
    """Sources the forensic-access security group admits."""
    trail: TrailSettings = TrailSettings()
    """CloudTrail options."""
    evidence: EvidenceSettings = EvidenceSettings()
    """Evidence bucket options."""
    guardduty: GuardDutySettings = GuardDutySettings()
    """GuardDuty and Inspector options."""
    security_hub_standards: tuple[str, ...] = DEFAULT_SECURITY_HUB_STANDARDS
    """Security Hub standards subscribed in every covered region."""
    backup: BackupSettings = BackupSettings()
    """AWS Backup options."""
    max_session_duration: int = 3600
    """Maximum session (seconds) of the responder roles."""
    automation: AutomationSettings = AutomationSettings()
    """Event-driven response automation (off by default)."""
    organization: OrganizationSettings = OrganizationSettings()
    """Organization mode (single-account by default)."""

    @property
    def home_region(self) -> str:
        return self.regions[0]

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
        _check_schema(doc)
        settings = _build(doc)
        _check_rules(settings, aws_region)
        return settings

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


# -------------------------------------------------------------------- helpers


def parse_config_value(key: str, raw: str) -> Any:
    """Pulumi hands structured values over as JSON text; numbers and booleans too."""
    if key in _STRING_KEYS:
        return raw
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        # A bare word such as `eu-west-1` for `ir:regions` is a plain string; the schema
        # then reports it with the expected type.
        return raw


def _strip_namespace(key: str) -> str:
    prefix = NAMESPACE + ":"
    return key[len(prefix):] if key.startswith(prefix) else key


def _present_keys(config: pulumi.Config) -> list[str]:
    """Every `ir:` key set in the stack (known or not, so typos are reported)."""
    from pulumi.runtime import config as runtime_config

    keys = set(SCHEMA["properties"])
    prefix = config.name + ":"
    present: dict[str, Any] = {}
    try:
        present.update(runtime_config.get_config_env())
    except (ValueError, TypeError):
        pass
    present.update(runtime_config.CONFIG.get())
    keys.update(k[len(prefix):] for k in present if k.startswith(prefix))
    return sorted(keys)


_URL_USERINFO = re.compile(r"://[^/@\s\"]+@")


def _format_value(value: Any) -> str:
    # Never echo credentials embedded in a URL (user:password@host) into an error.
    text = _URL_USERINFO.sub("://***@", json.dumps(value, sort_keys=True, default=str))
    return text if len(text) <= 120 else text[:117] + "..."


def _key_path(path: Sequence[Any]) -> str:
    out = NAMESPACE + ":"
    for i, part in enumerate(path):
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if i else "") + str(part)
    return out


def _allowed(error: jsonschema.ValidationError) -> str:
    schema = error.schema if isinstance(error.schema, dict) else {}
    v = error.validator
    if v == "enum":
        return "must be one of " + ", ".join(str(x) for x in schema["enum"])
    if v == "additionalProperties":
        known = sorted(schema.get("properties", {}))
        return error.message + (f"; allowed keys: {', '.join(known)}" if known else "")
    if v == "oneOf" and "discover" in json.dumps(schema):
        return 'must be "discover" or a list of unique VPC ids (vpc-xxxxxxxx)'
    if v == "pattern":
        return f"must match {schema['pattern']}"
    if v == "propertyNames":
        return f"has a key that is not allowed ({error.message})"
    return error.message


def _check_schema(doc: Mapping[str, Any]) -> None:
    validator = jsonschema.Draft202012Validator(SCHEMA)
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    if not errors:
        return
    lines = []
    for err in errors:
        if err.validator == "oneOf" and err.context and "discover" not in json.dumps(err.schema):
            # "null or a rule": report why it is not a valid rule, not that it is not null.
            candidates = [e for e in err.context if e.schema != {"type": "null"}]
            err = jsonschema.exceptions.best_match(candidates) or err
        path = list(err.absolute_path)
        if err.validator == "required":
            missing = err.message.split("'")[1]
            lines.append(f"{_key_path([*path, missing])} is required but not set")
            continue
        if err.validator == "additionalProperties" and not path:
            unknown = sorted(set(doc) - set(SCHEMA["properties"]))
            lines.append(
                f"unknown config key(s) {', '.join(NAMESPACE + ':' + k for k in unknown)}; "
                f"allowed: {', '.join(NAMESPACE + ':' + k for k in sorted(SCHEMA['properties']))}"
            )
            continue
        lines.append(f"{_key_path(path)} = {_format_value(err.instance)}: {_allowed(err)}")
    raise SettingsError("invalid stack config:\n  " + "\n  ".join(lines))


def _object_lock(doc: Mapping[str, Any] | None, default: ObjectLock) -> ObjectLock:
    doc = doc or {}
    return ObjectLock(
        mode=doc.get("mode", default.mode),
        retention_days=doc.get("retentionDays", default.retention_days),
    )


def _build(doc: Mapping[str, Any]) -> Settings:
    subs_doc = doc.get("alertSubscriptions", {})
    subscriptions = MappingProxyType(
        {
            sev: tuple(Subscription(s["protocol"], s["endpoint"]) for s in subs_doc.get(sev, []))
            for sev in SEVERITIES
        }
    )
    vpcs = MappingProxyType(
        {
            region: (value if value == DISCOVER else tuple(value))
            for region, value in doc.get("quarantineVpcs", {}).items()
        }
    )
    fa = doc.get("forensicAccess", {})
    forensic = ForensicAccess(
        cidrs=tuple(fa.get("cidrs", ())),
        security_group_ids=MappingProxyType(dict(fa.get("securityGroupIds", {}))),
        ports=tuple(fa.get("ports", ForensicAccess.ports)),
    )
    t = doc.get("trail", {})
    trail_defaults = TrailSettings()
    trail = TrailSettings(
        s3_data_events=t.get("s3DataEvents", trail_defaults.s3_data_events),
        lambda_data_events=t.get("lambdaDataEvents", trail_defaults.lambda_data_events),
        insights=t.get("insights", trail_defaults.insights),
        log_retention_days=t.get("logRetentionDays", trail_defaults.log_retention_days),
        object_lock=_object_lock(t.get("objectLock"), trail_defaults.object_lock),
    )
    e = doc.get("evidence", {})
    ev_defaults = EvidenceSettings()
    evidence = EvidenceSettings(
        object_lock=_object_lock(e.get("objectLock"), ev_defaults.object_lock),
        archive_after_days=e.get("archiveAfterDays", ev_defaults.archive_after_days),
    )
    g = doc.get("guardDuty", {})
    features = dict(DEFAULT_GUARDDUTY_FEATURES)
    features.update(g.get("features", {}))
    guardduty = GuardDutySettings(
        finding_frequency=g.get("findingFrequency", "FIFTEEN_MINUTES"),
        features=MappingProxyType(features),
        inspector=g.get("inspector", True),
    )
    b = doc.get("backup", {})
    bd = BackupSettings()
    lock = b.get("vaultLock", {})
    tag = b.get("selectionTag", {})
    slots: dict[str, BackupRule | None] = {}
    for slot in BACKUP_RULE_SLOTS:
        if slot not in b:
            slots[slot] = getattr(bd, slot)
        elif b[slot] is None:
            slots[slot] = None
        else:
            r = b[slot]
            slots[slot] = BackupRule(
                schedule=r["schedule"],
                delete_after_days=r["deleteAfterDays"],
                cold_storage_after_days=r.get("coldStorageAfterDays"),
            )
    backup = BackupSettings(
        daily=slots["daily"],
        weekly=slots["weekly"],
        monthly=slots["monthly"],
        continuous_backup_days=b.get("continuousBackupDays", bd.continuous_backup_days),
        selection_tag_key=tag.get("key", bd.selection_tag_key),
        selection_tag_value=tag.get("value", bd.selection_tag_value),
        vault_lock_min_retention_days=lock.get(
            "minRetentionDays", bd.vault_lock_min_retention_days
        ),
        vault_lock_max_retention_days=lock.get(
            "maxRetentionDays", bd.vault_lock_max_retention_days
        ),
        vault_lock_changeable_for_days=lock.get(
            "changeableForDays", bd.vault_lock_changeable_for_days
        ),
        copy_to_region=b.get("copyToRegion"),
    )
    return Settings(
        regions=tuple(doc["regions"]),
        responder_principals=tuple(doc["responderPrincipals"]),
        tags=MappingProxyType(dict(doc.get("tags", {}))),
        alert_subscriptions=subscriptions,
        quarantine_vpcs=vpcs,
        forensic_access=forensic,
        trail=trail,
        evidence=evidence,
        guardduty=guardduty,
        security_hub_standards=tuple(
            doc.get("securityHub", {}).get("standards", DEFAULT_SECURITY_HUB_STANDARDS)
        ),
        backup=backup,
        max_session_duration=doc.get("maxSessionDuration", 3600),
        automation=_automation(doc.get("automation", {})),
        organization=_organization(doc.get("organization", {})),
    )


def _organization(o: Mapping[str, Any]) -> OrganizationSettings:
    d = OrganizationSettings()
    return OrganizationSettings(
        mode=o.get("mode", d.mode),
        organization_id=o.get("organizationId"),
        root_id=o.get("rootId"),
        management_account_id=o.get("managementAccountId"),
        security_account_id=o.get("securityAccountId"),
        log_archive_account_id=o.get("logArchiveAccountId"),
        log_archive_role_name=o.get("logArchiveRoleName", d.log_archive_role_name),
        member_role_name=o.get("memberRoleName", d.member_role_name),
        external_id=o.get("externalId"),
        security_event_bus_name=o.get("securityEventBusName", d.security_event_bus_name),
    )


def _automation(a: Mapping[str, Any]) -> AutomationSettings:
    from runbooks.automation.policy import DEFAULT_FINDING_TYPES

    d = AutomationSettings()
    return AutomationSettings(
        enabled=a.get("enabled", d.enabled),
        mode=a.get("mode", d.mode),
        finding_types=tuple(a.get("findingTypes", DEFAULT_FINDING_TYPES)),
        min_severity=float(a.get("minSeverity", d.min_severity)),
        opt_out_tag=a.get("optOutTag", d.opt_out_tag),
        max_actions_per_hour=a.get("maxActionsPerHour", d.max_actions_per_hour),
        reserved_concurrency=a.get("reservedConcurrency", d.reserved_concurrency),
        log_retention_days=a.get("logRetentionDays", d.log_retention_days),
        layer_path=a.get("layerPath", d.layer_path),
    )


def _check_rules(s: Settings, aws_region: str | None) -> None:
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
    if b.vault_lock_min_retention_days > b.vault_lock_max_retention_days:
        bad(
            "backup.vaultLock.minRetentionDays",
            b.vault_lock_min_retention_days,
            f"must not exceed maxRetentionDays ({b.vault_lock_max_retention_days})",
        )
    if not b.rules() and b.continuous_backup_days is None:
        bad("backup", "{}", "needs at least one of daily, weekly, monthly or continuousBackupDays")
    for slot, rule in b.rules().items():
        if not (
            b.vault_lock_min_retention_days
            <= rule.delete_after_days
            <= b.vault_lock_max_retention_days
        ):
            bad(
                f"backup.{slot}.deleteAfterDays",
                rule.delete_after_days,
                f"must lie within the vault lock retention "
                f"[{b.vault_lock_min_retention_days}, {b.vault_lock_max_retention_days}] days, "
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
        b.vault_lock_min_retention_days
        <= b.continuous_backup_days
        <= b.vault_lock_max_retention_days
    ):
        bad(
            "backup.continuousBackupDays",
            b.continuous_backup_days,
            f"must lie within the vault lock retention "
            f"[{b.vault_lock_min_retention_days}, {b.vault_lock_max_retention_days}] days",
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
    _check_subscriptions(s, bad)
    _check_automation(s.automation, bad)
    _check_organization(s, bad)
    if problems:
        raise SettingsError("invalid stack config:\n  " + "\n  ".join(problems))


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
                "ransomware findings are never automated")
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
