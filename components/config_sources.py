"""Which `ir:` stack-config key produced a resource, and which key fixes a violation on it.

The credential-free preview (`policies/preview.py`) annotates every policy violation in
a pull request with a line of `Pulumi.<stack>.yaml`: a reviewer changes config, not
component code, so the annotation must name the key that made the resource and, when the
policy's finding is a setting, the key to change. This table is the program's knowledge
of its own wiring (`components/readiness.py`, `components/organization.py`: which
settings each component is built from); `tests/components/test_config_sources.py` keeps
it in step with the settings schema and the component classes.

Keys are written as `pulumi config set --path` takes them: `ir:trail.logRetentionDays`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

#: Component class -> the key whose value made its resources (what a reviewer looks at).
PRODUCED_BY: Mapping[str, str] = MappingProxyType({
    "IncidentResponseReadiness": "ir:regions",
    "EncryptionKey": "ir:regions",
    "ReadinessManifest": "ir:regions",
    "AlertRouting": "ir:alertSubscriptions",
    "AuditTrail": "ir:trail",
    "EvidenceStore": "ir:evidence",
    "ThreatDetection": "ir:guardDuty",
    "SecurityFindings": "ir:securityHub",
    "BackupProtection": "ir:backup",
    "QuarantineNetwork": "ir:quarantineVpcs",
    "ResponderAccess": "ir:responderPrincipals",
    "ResponseAutomation": "ir:automation",
    "OrganizationReadiness": "ir:organization",
    "OrganizationTrail": "ir:organization",
    "DelegatedSecurityAdmin": "ir:organization",
    "MemberBaseline": "ir:organization",
    "SecurityEventBus": "ir:organization",
    "NetworkRecording": "ir:recording",
    "ConfigRecording": "ir:recording.configRecorder",
    "AccessLogStore": "ir:recording.accessLogs",
    "AccountProtection": "ir:accountProtection",
    "SupportAccess": "ir:responderPrincipals",
    "EvidenceReplication": "ir:evidence.replicationRegion",
    "ShieldProtection": "ir:shield",
    "MemoryCaptureDocument": "ir:memoryCapture",
    "MemoryUploadRole": "ir:memoryCapture",
})

#: (component class, policy) -> the key whose value the policy's finding is about: changing
#: it (within what the settings allow) is the fix. Pairs not listed are fixed in code.
FIXED_BY: Mapping[tuple[str, str], str] = MappingProxyType({
    ("ThreatDetection", "guardduty-finding-frequency"): "ir:guardDuty.findingFrequency",
    ("ThreatDetection", "guardduty-required-features"): "ir:guardDuty.features",
    ("SecurityFindings", "securityhub-required-standards"): "ir:securityHub.standards",
    ("AuditTrail", "logs-retention"): "ir:trail.logRetentionDays",
    ("AuditTrail", "s3-object-lock-retention"): "ir:trail.objectLock",
    ("OrganizationTrail", "logs-retention"): "ir:trail.logRetentionDays",
    ("OrganizationTrail", "s3-object-lock-retention"): "ir:trail.objectLock",
    ("EvidenceStore", "s3-object-lock-retention"): "ir:evidence.objectLock",
    ("BackupProtection", "backup-vault-lock"): "ir:backup.vaultLock.minRetentionDays",
    ("ResponderAccess", "iam-responder-max-session"): "ir:maxSessionDuration",
    ("ResponderAccess", "iam-responder-trust"): "ir:responderPrincipals",
    ("ResponseAutomation", "logs-retention"): "ir:automation.logRetentionDays",
    ("QuarantineNetwork", "quarantine-isolation-per-vpc"): "ir:quarantineVpcs",
    ("BackupProtection", "backup-restore-testing"): "ir:backup.restoreTesting.enabled",
    ("BackupProtection", "backup-audit-reports"): "ir:backup.auditReports",
    ("ShieldProtection", "shield-response-team-access"): "ir:shield.emergencyContacts",
})

#: Stack policies reported on the stack as a whole (a region with no detector, no
#: manifest, ...): the key that says which regions or which organization role.
STACK_FIXED_BY: Mapping[str, str] = MappingProxyType({
    "readiness-manifest-per-region": "ir:regions",
    "guardduty-detector-per-region": "ir:regions",
    "securityhub-per-region": "ir:regions",
    "findings-routed-per-region": "ir:regions",
    "quarantine-isolation-per-vpc": "ir:quarantineVpcs",
    "organization-trail": "ir:organization.mode",
    "guardduty-organization-auto-enable": "ir:organization.mode",
    "guardduty-organization-features": "ir:guardDuty.features",
    "securityhub-organization-configuration": "ir:organization.mode",
    "config-recorder-per-region": "ir:recording.configRecorder",
    "flow-logs-quarantine-vpcs": "ir:recording.flowLogs.enabled",
    "s3-access-logging-log-buckets": "ir:recording.accessLogs",
    "support-role-present": "ir:responderPrincipals",
})


@dataclass(frozen=True)
class ConfigSource:
    """The key behind one violation. `fix` is False when no value of it removes the
    violation (the finding is about what the component's code declares)."""

    key: str
    fix: bool


def config_source(policy: str, components: list[str]) -> ConfigSource | None:
    """The key for a violation of `policy` on a resource inside `components` (class
    names, innermost first); `components` empty: a violation on the stack itself."""
    for component in components:
        key = FIXED_BY.get((component, policy))
        if key is not None:
            return ConfigSource(key, True)
    if not components and policy in STACK_FIXED_BY:
        return ConfigSource(STACK_FIXED_BY[policy], True)
    for component in components:
        if component in PRODUCED_BY:
            return ConfigSource(PRODUCED_BY[component], False)
    return None
