"""IncidentResponseReadiness: composes every readiness component for one account.

Global parts (multi-region trail, evidence bucket, responder roles) are created once,
in the home region; regional parts (KMS key, alert routing, GuardDuty + Inspector,
Security Hub, backups, quarantine groups per VPC, manifest) once per covered region,
each through an explicit `aws.Provider` for that region whose default tags carry
`ir:tags`, so every taggable resource is tagged and nothing uses an ambient provider.

Three pieces, each readable on its own:

- `Stack`: what every builder needs (settings, stack name, account id, providers, the
  names derived from the stack name) and the options of a child in a region;
- `GlobalBuilder`: the home-region parts (evidence store, audit trail, responder access);
- `RegionalBuilder`: one method per regional part and region.

The component's constructor only orders the calls: keys and alert routing first (the
global parts encrypt with the home key and alarm to the home topics), then the global
parts, then the rest of every region.

Every Args is validated when it is built (the components' own checks). Nothing invalid
gets that far: the settings are validated as a whole when read (`components.settings`),
and what they cannot know (names derived from the stack name, the automation layer on
this machine) is checked by `check_before_registering`, with the components' own checks,
before the first registration.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.access_log_store import AccessLogStore, AccessLogStoreArgs
from components.account_protection import AccountProtection, AccountProtectionArgs
from components.alert_routing import (
    AlertRouting,
    AlertRoutingArgs,
    AlertSubscription,
    watch_readiness_changes,
)
from components.audit_trail import AuditTrail, AuditTrailArgs, trail_arn
from components.backup_protection import BackupProtection, BackupProtectionArgs
from components.config_recording import ConfigRecording, ConfigRecordingArgs
from components.encryption_key import EncryptionKey, EncryptionKeyArgs
from components.evidence_replication import EvidenceReplication, EvidenceReplicationArgs
from components.evidence_store import EvidenceStore, EvidenceStoreArgs
from components.memory_capture import (
    MemoryCaptureDocument,
    MemoryCaptureDocumentArgs,
    MemoryUploadRole,
    MemoryUploadRoleArgs,
    Tool,
)
from components.network_recording import NetworkRecording, NetworkRecordingArgs
from components.quarantine_network import QuarantineNetwork, QuarantineNetworkArgs
from components.readiness_manifest import (
    QuarantineGroups,
    ReadinessManifest,
    ReadinessManifestArgs,
)
from components.responder_access import (
    ResponderAccess,
    ResponderAccessArgs,
    check_role_name_prefix,
)
from components.response_automation import (
    ResponseAutomation,
    ResponseAutomationArgs,
    check_deployable,
)
from components.security_findings import SecurityFindings, SecurityFindingsArgs
from components.settings import DISCOVER, SEVERITIES, Settings, partition_for
from components.shield_protection import (
    SHIELD_REGION,
    EmergencyContact,
    ShieldProtection,
    ShieldProtectionArgs,
)
from components.support_access import SupportAccess, SupportAccessArgs
from components.threat_detection import (
    ThreatDetection,
    ThreatDetectionArgs,
    guardduty_bucket_policy_statements,
)
from runbooks.core.manifest_schema import MANIFEST_PARAMETER
from runbooks.core.permissions import responder_actions

TYPE = "ir-readiness:index:IncidentResponseReadiness"

BASE_TAGS = {"ir-readiness:managed-by": "pulumi"}
GUARDDUTY_PREFIX = "guardduty"


@dataclass(frozen=True)
class IncidentResponseReadinessArgs:
    settings: Settings
    """Validated stack settings (see `components.settings`)."""
    vpc_ids: dict[str, tuple[str, ...]] | None = None
    """VPC ids to quarantine per region, already resolved; None: resolve from settings
    (explicit ids, or discovered through `aws:ec2/getVpcs` in that region)."""


def name_prefix(stack: str) -> str:
    """Name prefix of trail, roles and functions: `ir-readiness-<stack>`."""
    return f"ir-readiness-{stack}"


def log_group_prefix(stack: str) -> str:
    """Every log group lies under it; the KMS keys admit exactly this prefix."""
    return f"/ir-readiness/{stack}"


def shield_args(settings: Settings, name_prefix: str,
                partition: str) -> ShieldProtectionArgs | None:
    """`ir:shield` as ShieldProtectionArgs (None: Shield Advanced off)."""
    shield = settings.shield
    if not shield.advanced:
        return None
    return ShieldProtectionArgs(
        name_prefix=name_prefix,
        protected_resource_arns=shield.protected_resource_arns,
        srt_access=shield.srt_access,
        emergency_contacts=tuple(
            EmergencyContact(c.email_address, c.phone_number, c.contact_notes)
            for c in shield.emergency_contacts),
        partition=partition,
    )


def memory_tools(settings: Settings) -> list[Tool]:
    """The capture tools `ir:memoryCapture` configures."""
    memory = settings.memory_capture
    return [Tool(t.uri, t.sha256) for t in (memory.linux_tool, memory.windows_tool) if t]


def check_before_registering(settings: Settings, stack: str) -> None:
    """What the settings cannot know, checked before the first registration (so a bad
    value never leaves a half-created stack): the names derived from the stack name and,
    with automation on, its code and layer on this machine. The checks are the
    components' own (their Args run them again when built)."""
    check_role_name_prefix(name_prefix(stack))
    if settings.automation.enabled:
        for region in settings.regions:
            check_deployable(
                region=region, name_prefix=name_prefix(stack),
                log_group_name=f"{log_group_prefix(stack)}/automation",
                layer_path=settings.automation.layer_path,
            )


@dataclass(frozen=True)
class Stack:
    """What every builder needs: settings, names, account and one provider per region."""

    settings: Settings
    name: str
    """Pulumi stack name (part of trail, role, log group and function names)."""
    parent: pulumi.Resource
    providers: Mapping[str, aws.Provider]
    account_id: pulumi.Output[str]

    @property
    def home(self) -> str:
        return self.settings.home_region

    @property
    def partition(self) -> str:
        return partition_for(self.home)

    @property
    def prefix(self) -> str:
        return name_prefix(self.name)

    @property
    def log_group_prefix(self) -> str:
        return log_group_prefix(self.name)

    def in_region(
        self, region: str, depends_on: list[pulumi.Resource] | None = None
    ) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(
            parent=self.parent, provider=self.providers[region], depends_on=depends_on or []
        )


@dataclass(frozen=True)
class GlobalParts:
    evidence: EvidenceStore
    trail: AuditTrail
    access: ResponderAccess
    support: SupportAccess
    memory_upload: MemoryUploadRole | None = None


class GlobalBuilder:
    """The home-region parts: evidence store, multi-region audit trail, responder roles."""

    def __init__(self, stack: Stack, keys: Mapping[str, EncryptionKey],
                 home_topics: Mapping[str, pulumi.Output[str]]) -> None:
        self.stack = stack
        self.keys = keys
        self.home_key = keys[stack.home]
        self.home_topics = home_topics

    def build(self) -> GlobalParts:
        evidence = self.evidence_store()
        trail = self.audit_trail()
        return GlobalParts(evidence, trail, self.responder_access(evidence, trail),
                           self.support_access(), self.memory_upload_role(evidence))

    def memory_upload_role(self, evidence: EvidenceStore) -> MemoryUploadRole | None:
        """The role memory capture uploads with (`ir:memoryCapture`), when enabled."""
        s, memory = self.stack, self.stack.settings.memory_capture
        if not memory.enabled:
            return None
        return MemoryUploadRole(
            "memory-upload",
            MemoryUploadRoleArgs(
                account_id=s.account_id,
                partition=s.partition,
                role_name_prefix=s.prefix,
                evidence_bucket=evidence.bucket_name,
                kms_key_arns=[k.key_arn for k in self.keys.values()],
                tools=memory_tools(s.settings),
            ),
            opts=s.in_region(s.home),
        )

    def support_access(self) -> SupportAccess:
        """The AWS Support role (CIS 1.17) the responders assume to open a case."""
        s, settings = self.stack, self.stack.settings
        return SupportAccess(
            "support",
            SupportAccessArgs(
                name_prefix=s.prefix,
                trusted_principals=settings.responder_principals,
                partition=s.partition,
                max_session_duration=settings.max_session_duration,
            ),
            opts=s.in_region(s.home),
        )

    def evidence_replication(self, parts: GlobalParts) -> EvidenceReplication | None:
        """The evidence bucket's replica in `ir:evidence.replicationRegion` (None: off)."""
        s, evidence = self.stack, self.stack.settings.evidence
        region = evidence.replication_region
        if region is None:
            return None
        return EvidenceReplication(
            "evidence-replica",
            EvidenceReplicationArgs(
                source_region=s.home,
                destination_region=region,
                source_provider=s.providers[s.home],
                account_id=s.account_id,
                source_bucket_name=parts.evidence.bucket_name,
                source_bucket_arn=parts.evidence.bucket_arn,
                source_kms_key_arn=self.home_key.key_arn,
                destination_kms_key_arn=self.keys[region].key_arn,
                object_lock=evidence.object_lock,
                archive_after_days=evidence.archive_after_days,
                source_depends_on=parts.evidence.bucket_ready,
            ),
            opts=s.in_region(region),
        )

    def shield(self, provider: aws.Provider) -> ShieldProtection:
        """Shield Advanced (`ir:shield.advanced`), through `provider`, a us-east-1 provider
        (Shield's API is global and served there)."""
        s = self.stack
        args = shield_args(s.settings, s.prefix, s.partition)
        assert args is not None  # only called with ir:shield.advanced
        return ShieldProtection(
            "shield", args, opts=pulumi.ResourceOptions(parent=s.parent, provider=provider))

    def evidence_store(self) -> EvidenceStore:
        s, settings = self.stack, self.stack.settings

        def guardduty_grant(bucket_arn: pulumi.Output[str]) -> list[dict[str, Any]]:
            # Every region's detector exports findings under one prefix of this bucket.
            return guardduty_bucket_policy_statements(
                bucket_arn.apply(lambda arn: f"{arn}/{GUARDDUTY_PREFIX}"),
                self.home_key.key_arn,
                s.account_id,
                s.partition,
            )

        return EvidenceStore(
            "evidence",
            EvidenceStoreArgs(
                kms_key_arn=self.home_key.key_arn,
                object_lock=settings.evidence.object_lock,
                archive_after_days=settings.evidence.archive_after_days,
                additional_policy_statements=guardduty_grant,
            ),
            opts=s.in_region(s.home),
        )

    def audit_trail(self) -> AuditTrail:
        s, settings = self.stack, self.stack.settings
        return AuditTrail(
            "audit",
            AuditTrailArgs(
                trail_name=s.prefix,
                home_region=s.home,
                account_id=s.account_id,
                partition=s.partition,
                kms_key_arn=self.home_key.key_arn,
                log_group_name=f"{s.log_group_prefix}/cloudtrail",
                alarm_topic_arns=self.home_topics,
                log_retention_days=settings.trail.log_retention_days,
                object_lock=settings.trail.object_lock,
                archive_after_days=settings.evidence.archive_after_days,
                s3_data_events=settings.trail.s3_data_events,
                lambda_data_events=settings.trail.lambda_data_events,
                insights=settings.trail.insights,
                backup_reports=settings.backup.audit_reports,
            ),
            opts=s.in_region(s.home),
        )

    def access_logs(self, parts: GlobalParts) -> AccessLogStore | None:
        """S3 server access logs of the trail's log bucket and the evidence bucket."""
        s, recording = self.stack, self.stack.settings.recording
        if not recording.access_logs:
            return None
        return AccessLogStore(
            "access-logs",
            AccessLogStoreArgs(
                account_id=s.account_id,
                partition=s.partition,
                sources={"trail-logs": parts.trail.bucket_id,
                         "evidence": parts.evidence.bucket_name},
                retention_days=recording.access_log_retention_days,
                source_depends_on=(*parts.trail.bucket_ready, parts.evidence.bucket_policy),
            ),
            opts=s.in_region(s.home),
        )

    def account_protection(self, parts: GlobalParts) -> AccountProtection:
        s, p = self.stack, self.stack.settings.account_protection
        scanned: list[pulumi.Input[str]] = []
        if p.malware_protection.enabled:
            scanned = [parts.evidence.bucket_name, *p.malware_protection.buckets]
        return AccountProtection(
            "account-protection",
            AccountProtectionArgs(
                home_region=s.home,
                providers=s.providers,
                account_id=s.account_id,
                partition=s.partition,
                block_public_access=p.block_public_access,
                access_analyzer=p.access_analyzer,
                analyzer_name=s.prefix,
                malware_scanned_buckets=scanned,
                malware_kms_key_arn=self.home_key.key_arn if scanned else None,
            ),
            opts=pulumi.ResourceOptions(parent=s.parent),
        )

    def responder_access(self, evidence: EvidenceStore, trail: AuditTrail) -> ResponderAccess:
        s, settings = self.stack, self.stack.settings
        partition = s.partition
        return ResponderAccess(
            "responders",
            ResponderAccessArgs(
                account_id=s.account_id,
                partition=partition,
                role_name_prefix=s.prefix,
                trusted_principals=settings.responder_principals,
                responder_actions=responder_actions(),
                evidence_bucket_arn=evidence.bucket_arn,
                trail_bucket_arn=trail.bucket_name.apply(lambda b: f"arn:{partition}:s3:::{b}"),
                trail_log_group_arn=trail.log_group_arn,
                kms_key_arns=[self.keys[r].key_arn for r in settings.regions],
                regions=settings.regions,
                max_session_duration=settings.max_session_duration,
            ),
            opts=s.in_region(s.home),
        )


class RegionalBuilder:
    """One method per regional part; each builds that part in one region."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.settings = stack.settings

    def key(self, region: str) -> EncryptionKey:
        s = self.stack
        home = region == s.home
        return EncryptionKey(
            f"kms-{region}",
            EncryptionKeyArgs(
                region=region,
                account_id=s.account_id,
                partition=s.partition,
                log_group_prefix=s.log_group_prefix,
                # Only the home key encrypts the (home-region) trail and every region's
                # exported GuardDuty findings.
                trail_arn=s.account_id.apply(
                    lambda acct: trail_arn(s.partition, s.home, acct, s.prefix)
                ) if home else None,
                findings_from_all_regions=home,
                # The home key encrypts the log bucket the backup reports go to.
                backup_reports=home and self.settings.backup.audit_reports,
                forensic_account=self.settings.forensic_account,
            ),
            opts=s.in_region(region),
        )

    def alerts(self, region: str, key: EncryptionKey) -> AlertRouting:
        s, settings = self.stack, self.settings
        return AlertRouting(
            f"alerts-{region}",
            AlertRoutingArgs(
                region=region,
                account_id=s.account_id,
                kms_key_arn=key.key_arn,
                subscriptions={
                    sev: tuple(
                        AlertSubscription(sub.protocol, sub.endpoint)
                        for sub in settings.alert_subscriptions.get(sev, ())
                    )
                    for sev in SEVERITIES
                },
                partition=s.partition,
            ),
            opts=s.in_region(region),
        )

    def threat_detection(
        self, region: str, global_parts: GlobalParts, home_key: EncryptionKey
    ) -> ThreatDetection:
        s, g = self.stack, self.settings.guardduty
        evidence = global_parts.evidence
        return ThreatDetection(
            f"threats-{region}",
            ThreatDetectionArgs(
                account_id=s.account_id,
                findings_destination_arn=evidence.bucket_arn.apply(
                    lambda a: f"{a}/{GUARDDUTY_PREFIX}"
                ),
                findings_kms_key_arn=home_key.key_arn,
                destination_depends_on=[evidence.bucket_policy, home_key],
                finding_publishing_frequency=g.finding_frequency,
                features=tuple(f for f, enabled in g.features.items() if enabled),
                enable_inspector=g.inspector,
            ),
            opts=s.in_region(region),
        )

    def security_findings(
        self, region: str, linked: list[SecurityFindings]
    ) -> SecurityFindings:
        """`linked`: the other regions' Security Hub, which the home aggregator waits for."""
        s, settings = self.stack, self.settings
        return SecurityFindings(
            f"findings-{region}",
            SecurityFindingsArgs(
                aggregator_depends_on=linked,
                region=region,
                home_region=s.home,
                covered_regions=settings.regions,
                standards=settings.security_hub_standards,
                partition=s.partition,
            ),
            opts=s.in_region(region),
        )

    def backup(
        self, region: str, key: EncryptionKey, alerts: AlertRouting,
        copy_to: BackupProtection | None, global_parts: GlobalParts, home_key: EncryptionKey,
    ) -> BackupProtection:
        """`global_parts`: the trail's log bucket receives the Backup Audit Manager reports
        of every region (encrypted with the home key)."""
        s, b = self.stack, self.settings.backup
        trail = global_parts.trail
        return BackupProtection(
            f"backup-{region}",
            BackupProtectionArgs(
                account_id=s.account_id,
                kms_key_arn=key.key_arn,
                alert_topic_arn=alerts.info_topic_arn,  # failures page via rules
                copy_to_vault_arn=copy_to.vault_arn if copy_to else None,
                copy_depends_on=[copy_to] if copy_to else [],
                region=region,
                **b.protection_args(),
                report_bucket_name=trail.bucket_id if b.audit_reports else None,
                report_depends_on=[*trail.bucket_ready, home_key] if b.audit_reports else [],
                partition=s.partition,
            ),
            opts=s.in_region(region),
        )

    def quarantine(self, region: str, vpc_id: str) -> QuarantineNetwork:
        forensic = self.settings.forensic_access
        return QuarantineNetwork(
            f"quarantine-{region}-{vpc_id}",
            QuarantineNetworkArgs(
                vpc_id=vpc_id,
                forensic_cidrs=forensic.cidrs,
                forensic_source_security_group_ids=tuple(
                    sg for v, sg in forensic.security_group_ids.items() if v == vpc_id
                ),
                forensic_ports=forensic.ports,
                endpoint_security_group_ids=tuple(
                    forensic.endpoint_security_group_ids.get(vpc_id, ())),
                endpoint_prefix_list_ids=tuple(forensic.endpoint_prefix_list_ids.get(vpc_id, ())),
            ),
            opts=self.stack.in_region(region),
        )

    def memory_document(self, region: str,
                        global_parts: GlobalParts) -> MemoryCaptureDocument | None:
        """The region's memory capture document (`ir:memoryCapture`), when enabled."""
        memory = self.settings.memory_capture
        if not memory.enabled:
            return None
        tools = {t: Tool(c.uri, c.sha256) if c else None
                 for t, c in (("linux", memory.linux_tool), ("windows", memory.windows_tool))}
        return MemoryCaptureDocument(
            f"memory-capture-{region}",
            MemoryCaptureDocumentArgs(
                evidence_bucket=global_parts.evidence.bucket_name,
                linux_tool=tools["linux"], windows_tool=tools["windows"],
                timeout_seconds=memory.timeout_seconds,
            ),
            opts=self.stack.in_region(region),
        )

    def network_recording(
        self, region: str, key: EncryptionKey, vpc_ids: tuple[str, ...]
    ) -> NetworkRecording:
        s, recording = self.stack, self.settings.recording
        return NetworkRecording(
            f"network-recording-{region}",
            NetworkRecordingArgs(
                region=region,
                account_id=s.account_id,
                partition=s.partition,
                vpc_ids=vpc_ids,
                kms_key_arn=key.key_arn,
                log_group_prefix=s.log_group_prefix,
                name_prefix=s.prefix,
                flow_logs=recording.flow_logs.enabled,
                traffic_type=recording.flow_logs.traffic_type,
                log_retention_days=recording.flow_logs.log_retention_days,
                resolver_query_logs=recording.resolver_query_logs,
            ),
            opts=s.in_region(region),
        )

    def config_recording(
        self, region: str, global_parts: GlobalParts, home_key: EncryptionKey,
        role_arn: pulumi.Input[str] | None, home: ConfigRecording | None = None,
    ) -> ConfigRecording:
        """`role_arn`: None in the home region (it creates the role), else the home's;
        `home`: the home region's recording, whose role policies must exist before
        another region's PutDeliveryChannel checks the bucket with that role."""
        s = self.stack
        trail = global_parts.trail
        return ConfigRecording(
            f"config-{region}",
            ConfigRecordingArgs(
                region=region,
                home_region=s.home,
                account_id=s.account_id,
                partition=s.partition,
                bucket_name=trail.bucket_id,
                kms_key_arn=home_key.key_arn,
                role_arn=role_arn,
                bucket_depends_on=tuple(trail.bucket_ready),
                role_depends_on=tuple(home.role_ready) if home else (),
            ),
            opts=s.in_region(region),
        )

    def manifest(
        self, region: str, *, key: EncryptionKey, topics: Mapping[str, pulumi.Output[str]],
        global_parts: GlobalParts, quarantine: Mapping[str, QuarantineNetwork],
        backup: BackupProtection, detection: ThreatDetection, findings: SecurityFindings,
        memory: MemoryCaptureDocument | None = None,
    ) -> ReadinessManifest:
        s = self.stack
        trail, access = global_parts.trail, global_parts.access
        upload = global_parts.memory_upload
        return ReadinessManifest(
            f"manifest-{region}",
            ReadinessManifestArgs(
                region=region,
                home_region=s.home,
                account_id=s.account_id,
                kms_key_arn=key.key_arn,
                evidence_bucket=global_parts.evidence.bucket_name,
                trail_arn=trail.trail_arn,
                trail_bucket=trail.bucket_name,
                trail_log_group=trail.log_group_name,
                topic_arns=topics,
                quarantine={
                    vpc_id: QuarantineGroups(
                        q.isolation_security_group_id,
                        q.conversion_security_group_id,
                        q.forensic_security_group_id,
                    )
                    for vpc_id, q in quarantine.items()
                },
                backup_vault_name=backup.vault_name,
                backup_vault_arn=backup.vault_arn,
                backup_plan_id=backup.plan_id,
                backup_restore_role_arn=backup.restore_role_arn,
                guardduty_detector_id=detection.detector_id,
                security_hub_enabled=findings.enabled,
                investigator_role_arn=access.investigator_role_arn,
                responder_role_arn=access.responder_role_arn,
                support_role_arn=global_parts.support.role_arn,
                deny_all_policy_arn=access.deny_all_policy_arn,
                forensic_account=self.settings.forensic_account,
                memory_capture={
                    "documentName": memory.document_name,
                    "uploadRoleArn": upload.role_arn,
                    "timeoutSeconds": self.settings.memory_capture.timeout_seconds,
                } if memory is not None and upload is not None else None,
            ),
            opts=s.in_region(region),
        )

    def change_watch(
        self, region: str, alerts: AlertRouting, quarantine: Mapping[str, QuarantineNetwork],
        manifest: ReadinessManifest,
    ) -> list[aws.cloudwatch.EventRule]:
        """High alerts on changes to this region's manifest parameter and quarantine groups."""
        return watch_readiness_changes(
            f"watch-{region}",
            routing=alerts,
            parameter_name=MANIFEST_PARAMETER,
            group_ids=[
                group
                for q in quarantine.values()
                for group in (q.isolation_security_group_id, q.conversion_security_group_id,
                              q.forensic_security_group_id)
            ],
            # After the manifest: its own creation is the reviewed change, not an alert.
            opts=self.stack.in_region(region, depends_on=[manifest]),
        )

    def automation(
        self, region: str, *, key: EncryptionKey, home_key: EncryptionKey,
        alerts: AlertRouting, global_parts: GlobalParts, manifest: ReadinessManifest,
    ) -> ResponseAutomation:
        s, auto = self.stack, self.settings.automation
        return ResponseAutomation(
            f"automation-{region}",
            ResponseAutomationArgs(
                account_id=s.account_id,
                kms_key_arn=key.key_arn,
                key_arns=[key.key_arn, home_key.key_arn],
                evidence_bucket_arn=global_parts.evidence.bucket_arn,
                alarm_topic_arn=alerts.high_topic_arn,
                region=region,
                log_group_name=f"{s.log_group_prefix}/automation",
                name_prefix=s.prefix,
                mode=auto.mode,
                finding_types=auto.finding_types,
                min_severity=auto.min_severity,
                opt_out_tag=auto.opt_out_tag,
                max_actions_per_hour=auto.max_actions_per_hour,
                reserved_concurrency=auto.reserved_concurrency,
                log_retention_days=auto.log_retention_days,
                layer_path=auto.layer_path,
                partition=s.partition,
                deny_all_policy_arn=global_parts.access.deny_all_policy_arn,
            ),
            # The function reads the manifest on its first finding.
            opts=s.in_region(region, depends_on=[manifest]),
        )


class IncidentResponseReadiness(pulumi.ComponentResource):
    """Readiness for one account: global parts in the home region, regional parts per region."""

    evidence_bucket: pulumi.Output[str]
    trail_arn: pulumi.Output[str]
    trail_bucket: pulumi.Output[str]
    trail_log_group: pulumi.Output[str]
    investigator_role_arn: pulumi.Output[str]
    responder_role_arn: pulumi.Output[str]
    kms_key_arns: dict[str, pulumi.Output[str]]
    topic_arns: dict[str, dict[str, pulumi.Output[str]]]
    guardduty_detector_ids: dict[str, pulumi.Output[str]]
    backup_vault_arns: dict[str, pulumi.Output[str]]
    manifests: dict[str, pulumi.Output[Any]]
    automation_function_arns: dict[str, pulumi.Output[str]]
    flow_log_groups: dict[str, pulumi.Output[str]]
    config_recorder_names: dict[str, pulumi.Output[str]]
    access_log_bucket: pulumi.Output[str] | None
    access_analyzer_arns: dict[str, pulumi.Output[str]]
    alert_path_topic_arns: dict[str, pulumi.Output[str]]
    pending_subscriptions: dict[str, pulumi.Output[list[str]]]
    support_role_arn: pulumi.Output[str]
    evidence_replica_bucket: pulumi.Output[str] | None
    shield_srt_role_arn: pulumi.Output[str] | None

    def __init__(
        self,
        name: str,
        args: IncidentResponseReadinessArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        settings = args.settings
        if not isinstance(settings, Settings):
            raise TypeError("IncidentResponseReadinessArgs.settings must be a Settings")
        if args.vpc_ids is not None:
            unknown = sorted(set(args.vpc_ids) - set(settings.regions))
            if unknown:
                raise ValueError(f"vpc_ids names regions that are not covered: {unknown}")
        stack_name = pulumi.get_stack()
        check_before_registering(settings, stack_name)
        super().__init__(TYPE, name, None, opts)
        tags = {**BASE_TAGS, "ir-readiness:stack": stack_name, **settings.tags}
        self.providers: dict[str, aws.Provider] = {
            region: aws.Provider(
                f"aws-{region}",
                region=region,
                default_tags=aws.ProviderDefaultTagsArgs(tags=tags),
                opts=pulumi.ResourceOptions(parent=self),
            )
            for region in settings.regions
        }
        home = settings.home_region
        stack = Stack(
            settings=settings,
            name=stack_name,
            parent=self,
            providers=self.providers,
            account_id=aws.get_caller_identity_output(
                opts=pulumi.InvokeOutputOptions(provider=self.providers[home])
            ).account_id,
        )
        vpc_ids = args.vpc_ids if args.vpc_ids is not None else {
            region: self._vpcs(settings, region) for region in settings.regions
        }
        regional = RegionalBuilder(stack)
        regions = settings.regions

        # Keys and alert routing first: the global parts use the home ones.
        keys = {region: regional.key(region) for region in regions}
        alerts = {region: regional.alerts(region, keys[region]) for region in regions}
        topics = {
            region: {
                "critical": a.critical_topic_arn,
                "high": a.high_topic_arn,
                "info": a.info_topic_arn,
            }
            for region, a in alerts.items()
        }
        global_builder = GlobalBuilder(stack, keys, topics[home])
        global_parts = global_builder.build()

        detection = {
            region: regional.threat_detection(region, global_parts, keys[home])
            for region in regions
        }
        findings: dict[str, SecurityFindings] = {}
        for region in [*regions[1:], home]:  # the home aggregator links the others
            linked = [findings[r] for r in regions[1:]] if region == home else []
            findings[region] = regional.security_findings(region, linked)
        # The copy destination first, so other regions can copy into it.
        copy_region = settings.backup.copy_to_region
        backups: dict[str, BackupProtection] = {}
        for region in sorted(regions, key=lambda r: r != copy_region):
            copy_to = backups.get(copy_region) if copy_region and region != copy_region else None
            backups[region] = regional.backup(region, keys[region], alerts[region], copy_to,
                                              global_parts, keys[home])
        quarantine = {
            region: {vpc: regional.quarantine(region, vpc) for vpc in vpc_ids.get(region, ())}
            for region in regions
        }
        # What responders will need recorded (issue 19, section 4).
        network_recording = {
            region: regional.network_recording(region, keys[region], vpc_ids.get(region, ()))
            for region in regions
        }
        config_recorders: dict[str, ConfigRecording] = {}
        if settings.recording.config_recorder:
            config_recorders[home] = regional.config_recording(home, global_parts, keys[home], None)
            for region in regions[1:]:
                config_recorders[region] = regional.config_recording(
                    region, global_parts, keys[home], config_recorders[home].role_arn,
                    home=config_recorders[home])
        access_logs = global_builder.access_logs(global_parts)
        protection = global_builder.account_protection(global_parts)
        # Recovery proven before it is needed, and the engagement protocol's AWS side
        # (issue 19, sections 5 and 6).
        replica = global_builder.evidence_replication(global_parts)
        shield = None
        if settings.shield.advanced:
            shield = global_builder.shield(self.providers.get(SHIELD_REGION) or aws.Provider(
                f"aws-{SHIELD_REGION}-shield",
                region=SHIELD_REGION,
                default_tags=aws.ProviderDefaultTagsArgs(tags=tags),
                opts=pulumi.ResourceOptions(parent=self),
            ))
        manifests = {
            region: regional.manifest(
                region, key=keys[region], topics=topics[region], global_parts=global_parts,
                quarantine=quarantine[region], backup=backups[region],
                detection=detection[region], findings=findings[region],
                memory=regional.memory_document(region, global_parts),
            )
            for region in regions
        }
        for region in regions:
            regional.change_watch(region, alerts[region], quarantine[region], manifests[region])
        automation = {
            region: regional.automation(
                region, key=keys[region], home_key=keys[home], alerts=alerts[region],
                global_parts=global_parts, manifest=manifests[region],
            )
            for region in (regions if settings.automation.enabled else ())
        }

        evidence, trail, access = global_parts.evidence, global_parts.trail, global_parts.access
        self.vpc_ids = vpc_ids
        self.automation_function_arns = {r: a.function_arn for r, a in automation.items()}
        self.evidence_bucket = evidence.bucket_name
        self.trail_arn = trail.trail_arn
        self.trail_bucket = trail.bucket_name
        self.trail_log_group = trail.log_group_name
        self.investigator_role_arn = access.investigator_role_arn
        self.responder_role_arn = access.responder_role_arn
        self.kms_key_arns = {r: k.key_arn for r, k in keys.items()}
        self.topic_arns = topics
        self.guardduty_detector_ids = {r: d.detector_id for r, d in detection.items()}
        self.backup_vault_arns = {r: bp.vault_arn for r, bp in backups.items()}
        self.manifests = {r: m.document for r, m in manifests.items()}
        self.flow_log_groups = {r: n.flow_log_group_name for r, n in network_recording.items()}
        self.config_recorder_names = {r: c.recorder_name for r, c in config_recorders.items()}
        self.access_log_bucket = access_logs.bucket_name if access_logs else None
        self.access_analyzer_arns = protection.analyzer_arns
        self.alert_path_topic_arns = {r: a.alert_path_topic_arn for r, a in alerts.items()}
        self.pending_subscriptions = {r: a.pending_subscriptions for r, a in alerts.items()}
        self.support_role_arn = global_parts.support.role_arn
        self.evidence_replica_bucket = replica.bucket_name if replica else None
        self.shield_srt_role_arn = shield.srt_role_arn if shield else None
        self.register_outputs(
            {
                "supportRoleArn": self.support_role_arn,
                "evidenceReplicaBucket": self.evidence_replica_bucket,
                "alertPathTopicArns": self.alert_path_topic_arns,
                "pendingSubscriptions": self.pending_subscriptions,
                "evidenceBucket": self.evidence_bucket,
                "trailArn": self.trail_arn,
                "investigatorRoleArn": self.investigator_role_arn,
                "responderRoleArn": self.responder_role_arn,
                "kmsKeyArns": self.kms_key_arns,
                "topicArns": self.topic_arns,
                "manifests": self.manifests,
                "automationFunctionArns": self.automation_function_arns,
                "flowLogGroups": self.flow_log_groups,
                "accessLogBucket": self.access_log_bucket,
            }
        )

    def _vpcs(self, settings: Settings, region: str) -> tuple[str, ...]:
        """VPC ids to quarantine in `region`: explicit, or discovered by a (blocking) invoke.

        Discovery must finish before the program goes on: one QuarantineNetwork is
        created per VPC, and resources are never created inside an apply.
        """
        wanted = settings.vpcs_for(region)
        if wanted != DISCOVER:
            return tuple(wanted)
        result = aws.ec2.get_vpcs(opts=pulumi.InvokeOptions(provider=self.providers[region]))
        return tuple(sorted(result.ids))
