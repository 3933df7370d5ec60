"""IncidentResponseReadiness: composes every readiness component for one account.

Global parts (multi-region trail, evidence bucket, responder roles) are created once,
in the home region; regional parts (KMS key, alert routing, GuardDuty + Inspector,
Security Hub, backups, quarantine groups per VPC, manifest) once per covered region,
each through an explicit `aws.Provider` for that region whose default tags carry
`ir:tags`, so every taggable resource is tagged and nothing uses an ambient provider.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.alert_routing import AlertRouting, AlertRoutingArgs, AlertSubscription
from components.audit_trail import AuditTrail, AuditTrailArgs, trail_arn
from components.backup_protection import BackupProtection, BackupProtectionArgs
from components.backup_protection import BackupRule as VaultRule
from components.encryption_key import EncryptionKey, EncryptionKeyArgs
from components.evidence_store import EvidenceStore, EvidenceStoreArgs
from components.quarantine_network import QuarantineNetwork, QuarantineNetworkArgs
from components.readiness_manifest import (
    QuarantineGroups,
    ReadinessManifest,
    ReadinessManifestArgs,
)
from components.responder_access import ResponderAccess, ResponderAccessArgs
from components.response_automation import ResponseAutomation, ResponseAutomationArgs
from components.security_findings import SecurityFindings, SecurityFindingsArgs
from components.settings import DISCOVER, SEVERITIES, BackupRule, Settings, partition_for
from components.threat_detection import (
    ThreatDetection,
    ThreatDetectionArgs,
    guardduty_bucket_policy_statements,
)
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


def _vault_rule(rule: BackupRule | None) -> VaultRule | None:
    if rule is None:
        return None
    return VaultRule(rule.schedule, rule.delete_after_days, rule.cold_storage_after_days)


# -- the settings-derived part of every component's Args. Used twice: by `_preflight`
# (with placeholders for values that come from resources) and by the real wiring.


def _alert_kwargs(settings: Settings, region: str) -> dict[str, Any]:
    return {
        "region": region,
        "subscriptions": {
            sev: tuple(
                AlertSubscription(s.protocol, s.endpoint)
                for s in settings.alert_subscriptions.get(sev, ())
            )
            for sev in SEVERITIES
        },
        "partition": partition_for(settings.home_region),
    }


def _threat_kwargs(settings: Settings) -> dict[str, Any]:
    g = settings.guardduty
    return {
        "finding_publishing_frequency": g.finding_frequency,
        "features": tuple(f for f, enabled in g.features.items() if enabled),
        "enable_inspector": g.inspector,
    }


def _findings_kwargs(settings: Settings, region: str) -> dict[str, Any]:
    return {
        "region": region,
        "home_region": settings.home_region,
        "covered_regions": settings.regions,
        "standards": settings.security_hub_standards,
        "partition": partition_for(settings.home_region),
    }


def _backup_kwargs(settings: Settings, region: str) -> dict[str, Any]:
    b = settings.backup
    return {
        "region": region,
        "daily": _vault_rule(b.daily),
        "weekly": _vault_rule(b.weekly),
        "monthly": _vault_rule(b.monthly),
        "continuous_backup_days": b.continuous_backup_days,
        "selection_tag_key": b.selection_tag_key,
        "selection_tag_value": b.selection_tag_value,
        "lock_min_retention_days": b.vault_lock_min_retention_days,
        "lock_max_retention_days": b.vault_lock_max_retention_days,
        "lock_changeable_for_days": b.vault_lock_changeable_for_days,
        "partition": partition_for(settings.home_region),
    }


def _quarantine_args(settings: Settings, vpc_id: str) -> QuarantineNetworkArgs:
    forensic = settings.forensic_access
    return QuarantineNetworkArgs(
        vpc_id=vpc_id,
        forensic_cidrs=forensic.cidrs,
        forensic_source_security_group_ids=tuple(
            sg for v, sg in forensic.security_group_ids.items() if v == vpc_id
        ),
        forensic_ports=forensic.ports,
    )


def _automation_kwargs(settings: Settings, region: str, stack: str) -> dict[str, Any]:
    auto = settings.automation
    return {
        "region": region,
        "log_group_name": f"/ir-readiness/{stack}/automation",
        "name_prefix": f"ir-readiness-{stack}",
        "mode": auto.mode,
        "finding_types": auto.finding_types,
        "min_severity": auto.min_severity,
        "opt_out_tag": auto.opt_out_tag,
        "max_actions_per_hour": auto.max_actions_per_hour,
        "reserved_concurrency": auto.reserved_concurrency,
        "log_retention_days": auto.log_retention_days,
        "layer_path": auto.layer_path,
        "partition": partition_for(settings.home_region),
    }


def _preflight(settings: Settings, stack: str) -> None:
    """Build every component's Args from `settings` before anything is registered.

    Values that only resources can provide (ARNs, ids) are placeholders here: the Args
    checks skip Outputs and validate every plain value, so a value the settings schema
    let through but a component refuses still fails before the first registration,
    with the component's own message.
    """
    pending: pulumi.Output[str] = pulumi.Output.from_input("pending")
    home = settings.home_region
    partition = partition_for(home)
    EncryptionKeyArgs(
        region=home, account_id=pending, partition=partition,
        log_group_prefix=f"/ir-readiness/{stack}",
    ).validate()
    EvidenceStoreArgs(
        kms_key_arn=pending,
        object_lock=settings.evidence.object_lock,
        archive_after_days=settings.evidence.archive_after_days,
    ).validate()
    AuditTrailArgs(
        trail_name=f"ir-readiness-{stack}", home_region=home, account_id=pending,
        partition=partition, kms_key_arn=pending,
        log_group_name=f"/ir-readiness/{stack}/cloudtrail",
        alarm_topic_arns=dict.fromkeys(SEVERITIES, pending),
        log_retention_days=settings.trail.log_retention_days,
        object_lock=settings.trail.object_lock,
    ).validate()
    ResponderAccessArgs(
        account_id=pending, partition=partition, role_name_prefix=f"ir-readiness-{stack}",
        trusted_principals=settings.responder_principals,
        responder_actions=responder_actions(), evidence_bucket_arn=pending,
        trail_bucket_arn=pending, trail_log_group_arn=pending, kms_key_arns=[pending],
        regions=settings.regions, max_session_duration=settings.max_session_duration,
    ).validate()
    ThreatDetectionArgs(
        account_id=pending, findings_destination_arn=pending, findings_kms_key_arn=pending,
        **_threat_kwargs(settings),
    )
    for region in settings.regions:
        AlertRoutingArgs(account_id=pending, kms_key_arn=pending, **_alert_kwargs(settings, region))
        SecurityFindingsArgs(**_findings_kwargs(settings, region))
        copy = settings.backup.copy_to_region
        BackupProtectionArgs(
            account_id=pending, kms_key_arn=pending, alert_topic_arn=pending,
            copy_to_vault_arn=pending if copy and copy != region else None,
            **_backup_kwargs(settings, region),
        )
        wanted = settings.vpcs_for(region)
        # Discovered VPCs are known only later; a stand-in id still checks the forensic
        # access settings every VPC's groups get.
        for vpc_id in ("vpc-00000000",) if wanted == DISCOVER else wanted:
            _quarantine_args(settings, vpc_id)
        if settings.automation.enabled:
            ResponseAutomationArgs(
                account_id=pending, kms_key_arn=pending, key_arns=[pending],
                evidence_bucket_arn=pending, alarm_topic_arn=pending,
                **_automation_kwargs(settings, region, stack),
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

    def __init__(
        self,
        name: str,
        args: IncidentResponseReadinessArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        settings = args.settings
        if not isinstance(settings, Settings):
            raise TypeError("IncidentResponseReadinessArgs.settings must be a Settings")
        stack = pulumi.get_stack()
        _preflight(settings, stack)
        super().__init__(TYPE, name, None, opts)
        home = settings.home_region
        partition = partition_for(home)
        tags = {**BASE_TAGS, "ir-readiness:stack": stack, **settings.tags}

        self.providers: dict[str, aws.Provider] = {
            region: aws.Provider(
                f"aws-{region}",
                region=region,
                default_tags=aws.ProviderDefaultTagsArgs(tags=tags),
                opts=pulumi.ResourceOptions(parent=self),
            )
            for region in settings.regions
        }

        def in_region(region: str, depends_on: list[pulumi.Resource] | None = None) -> Any:
            return pulumi.ResourceOptions(
                parent=self, provider=self.providers[region], depends_on=depends_on or []
            )

        account_id = aws.get_caller_identity_output(
            opts=pulumi.InvokeOutputOptions(provider=self.providers[home])
        ).account_id
        vpc_ids = args.vpc_ids if args.vpc_ids is not None else {
            region: self._vpcs(settings, region) for region in settings.regions
        }
        unknown = sorted(set(vpc_ids) - set(settings.regions))
        if unknown:
            raise ValueError(f"vpc_ids names regions that are not covered: {unknown}")

        log_group_prefix = f"/ir-readiness/{stack}"
        trail_name = f"ir-readiness-{stack}"
        expected_trail_arn = account_id.apply(
            lambda acct: trail_arn(partition, home, acct, trail_name)
        )

        # -- keys (regional), alert routing (regional)
        keys = {
            region: EncryptionKey(
                f"kms-{region}",
                EncryptionKeyArgs(
                    region=region,
                    account_id=account_id,
                    partition=partition,
                    log_group_prefix=log_group_prefix,
                    trail_arn=expected_trail_arn if region == home else None,
                    findings_from_all_regions=region == home,
                ),
                opts=in_region(region),
            )
            for region in settings.regions
        }
        alerts = {
            region: AlertRouting(
                f"alerts-{region}",
                AlertRoutingArgs(
                    account_id=account_id,
                    kms_key_arn=keys[region].key_arn,
                    **_alert_kwargs(settings, region),
                ),
                opts=in_region(region),
            )
            for region in settings.regions
        }
        topics = {
            region: {
                "critical": a.critical_topic_arn,
                "high": a.high_topic_arn,
                "info": a.info_topic_arn,
            }
            for region, a in alerts.items()
        }

        # -- global parts, home region
        home_key = keys[home]

        def guardduty_grant(bucket_arn: pulumi.Output[str]) -> list[dict[str, Any]]:
            return guardduty_bucket_policy_statements(
                bucket_arn.apply(lambda arn: f"{arn}/{GUARDDUTY_PREFIX}"),
                home_key.key_arn,
                account_id,
                partition,
            )

        evidence = EvidenceStore(
            "evidence",
            EvidenceStoreArgs(
                kms_key_arn=home_key.key_arn,
                object_lock=settings.evidence.object_lock,
                archive_after_days=settings.evidence.archive_after_days,
                additional_policy_statements=guardduty_grant,
            ),
            opts=in_region(home),
        )
        trail = AuditTrail(
            "audit",
            AuditTrailArgs(
                trail_name=trail_name,
                home_region=home,
                account_id=account_id,
                partition=partition,
                kms_key_arn=home_key.key_arn,
                log_group_name=f"{log_group_prefix}/cloudtrail",
                alarm_topic_arns=topics[home],
                log_retention_days=settings.trail.log_retention_days,
                object_lock=settings.trail.object_lock,
                archive_after_days=settings.evidence.archive_after_days,
                s3_data_events=settings.trail.s3_data_events,
                lambda_data_events=settings.trail.lambda_data_events,
                insights=settings.trail.insights,
            ),
            opts=in_region(home),
        )
        access = ResponderAccess(
            "responders",
            ResponderAccessArgs(
                account_id=account_id,
                partition=partition,
                role_name_prefix=f"ir-readiness-{stack}",
                trusted_principals=settings.responder_principals,
                responder_actions=responder_actions(),
                evidence_bucket_arn=evidence.bucket_arn,
                trail_bucket_arn=trail.bucket_name.apply(lambda b: f"arn:{partition}:s3:::{b}"),
                trail_log_group_arn=trail.log_group_arn,
                kms_key_arns=[keys[r].key_arn for r in settings.regions],
                regions=settings.regions,
                max_session_duration=settings.max_session_duration,
            ),
            opts=in_region(home),
        )

        # -- regional detection and findings
        guardduty_destination = evidence.bucket_arn.apply(lambda a: f"{a}/{GUARDDUTY_PREFIX}")
        detection = {
            region: ThreatDetection(
                f"threats-{region}",
                ThreatDetectionArgs(
                    account_id=account_id,
                    findings_destination_arn=guardduty_destination,
                    findings_kms_key_arn=home_key.key_arn,
                    destination_depends_on=[evidence.bucket_policy, home_key],
                    **_threat_kwargs(settings),
                ),
                opts=in_region(region),
            )
            for region in settings.regions
        }
        findings: dict[str, SecurityFindings] = {}
        for region in [*settings.regions[1:], home]:  # the home aggregator links the others
            findings[region] = SecurityFindings(
                f"findings-{region}",
                SecurityFindingsArgs(
                    aggregator_depends_on=(
                        [findings[r] for r in settings.regions[1:]] if region == home else []
                    ),
                    **_findings_kwargs(settings, region),
                ),
                opts=in_region(region),
            )

        # -- backups: the copy destination first, so other regions can copy into it
        copy_region = settings.backup.copy_to_region
        order = sorted(settings.regions, key=lambda r: r != copy_region)
        backups: dict[str, BackupProtection] = {}
        for region in order:
            copy_to = backups.get(copy_region) if copy_region and region != copy_region else None
            backups[region] = BackupProtection(
                f"backup-{region}",
                BackupProtectionArgs(
                    account_id=account_id,
                    kms_key_arn=keys[region].key_arn,
                    alert_topic_arn=alerts[region].info_topic_arn,  # failures page via rules
                    copy_to_vault_arn=copy_to.vault_arn if copy_to else None,
                    copy_depends_on=[copy_to] if copy_to else [],
                    **_backup_kwargs(settings, region),
                ),
                opts=in_region(region),
            )

        # -- quarantine groups per VPC
        quarantine: dict[str, dict[str, QuarantineNetwork]] = {}
        for region in settings.regions:
            quarantine[region] = {
                vpc_id: QuarantineNetwork(
                    f"quarantine-{region}-{vpc_id}",
                    _quarantine_args(settings, vpc_id),
                    opts=in_region(region),
                )
                for vpc_id in vpc_ids.get(region, ())
            }

        # -- one manifest per region
        manifests = {
            region: ReadinessManifest(
                f"manifest-{region}",
                ReadinessManifestArgs(
                    region=region,
                    home_region=home,
                    account_id=account_id,
                    kms_key_arn=keys[region].key_arn,
                    evidence_bucket=evidence.bucket_name,
                    trail_arn=trail.trail_arn,
                    trail_bucket=trail.bucket_name,
                    trail_log_group=trail.log_group_name,
                    topic_arns=topics[region],
                    quarantine={
                        vpc_id: QuarantineGroups(
                            q.isolation_security_group_id,
                            q.conversion_security_group_id,
                            q.forensic_security_group_id,
                        )
                        for vpc_id, q in quarantine[region].items()
                    },
                    backup_vault_name=backups[region].vault_name,
                    backup_vault_arn=backups[region].vault_arn,
                    backup_plan_id=backups[region].plan_id,
                    backup_restore_role_arn=backups[region].restore_role_arn,
                    guardduty_detector_id=detection[region].detector_id,
                    security_hub_enabled=findings[region].enabled,
                    investigator_role_arn=access.investigator_role_arn,
                    responder_role_arn=access.responder_role_arn,
                ),
                opts=in_region(region),
            )
            for region in settings.regions
        }

        # -- event-driven response automation (opt-in), after the manifest it reads
        automation = {
            region: ResponseAutomation(
                f"automation-{region}",
                ResponseAutomationArgs(
                    account_id=account_id,
                    kms_key_arn=keys[region].key_arn,
                    key_arns=[keys[region].key_arn, home_key.key_arn],
                    evidence_bucket_arn=evidence.bucket_arn,
                    alarm_topic_arn=alerts[region].high_topic_arn,
                    **_automation_kwargs(settings, region, stack),
                ),
                opts=in_region(region, depends_on=[manifests[region]]),
            )
            for region in (settings.regions if settings.automation.enabled else ())
        }

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
        self.register_outputs(
            {
                "evidenceBucket": self.evidence_bucket,
                "trailArn": self.trail_arn,
                "investigatorRoleArn": self.investigator_role_arn,
                "responderRoleArn": self.responder_role_arn,
                "kmsKeyArns": self.kms_key_arns,
                "topicArns": self.topic_arns,
                "manifests": self.manifests,
                "automationFunctionArns": self.automation_function_arns,
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
