"""MemberBaseline: the readiness a workload account of an organization needs so that
responders in the security account can act there.

Reuses the single-account components; what the organization already provides is not
duplicated here:

* the organization trail (OrganizationTrail, management account) records this account;
  the manifest names it (``trail.arn`` and ``trail.logGroup``, the trail's CloudWatch
  Logs copy, are in the management account, ``trail.bucket`` in the log-archive account;
  members keep no trail or log copy of their own);
* GuardDuty and Security Hub are enabled here by the delegated administrator
  (auto-enable ALL, central configuration); the manifest reads this region's detector id
  through the ``aws:guardduty/getDetector`` invoke, so the security stack must be deployed
  first (docs/organization.md, rollout order).

Created, home region: an evidence bucket (EvidenceStore) and the investigator + responder
roles (ResponderAccess), named ``<name_prefix>-investigator`` and
``<name_prefix>-responder`` (the role ``irctl --account`` assumes), trusted only by the
security account's responder principals and only with ``sts:ExternalId``; the AWS
Support role ``<name_prefix>-support`` (SupportAccess, CIS 1.17) with the same trust.
Per covered region: a KMS key (EncryptionKey), alert topics and rules (AlertRouting),
backup vault + plan with restore testing and Backup Audit Manager reports into the
evidence bucket (BackupProtection), quarantine groups per VPC (QuarantineNetwork), the
manifest (ReadinessManifest), high alerts on changes to the manifest parameter and the
quarantine groups (``watch_readiness_changes``), AWS Config (ConfigRecording, delivering
into the evidence bucket under ``config/``: a member has no log bucket of its own), and
forwarding rules that send the same findings, alarms and tampering events the security
bus routes to the security account's event bus in the same region, through a role that
may only ``events:PutEvents`` on those buses.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components.access_log_store import AccessLogStore, AccessLogStoreArgs
from components.alert_routing import (
    AlertRouting,
    AlertRoutingArgs,
    AlertSubscription,
    watch_readiness_changes,
)
from components.backup_protection import (
    BackupProtection,
    BackupProtectionArgs,
    report_bucket_statements,
)
from components.config_recording import ConfigRecording, ConfigRecordingArgs
from components.encryption_key import EncryptionKey, EncryptionKeyArgs
from components.evidence_replication import EvidenceReplication, EvidenceReplicationArgs
from components.evidence_store import EvidenceStore, EvidenceStoreArgs
from components.network_recording import NetworkRecording, NetworkRecordingArgs
from components.quarantine_network import QuarantineNetwork, QuarantineNetworkArgs
from components.readiness_manifest import (
    QuarantineGroups,
    ReadinessManifest,
    ReadinessManifestArgs,
)
from components.responder_access import ResponderAccess, ResponderAccessArgs
from components.security_event_bus import RULES
from components.settings import BackupSettings, ObjectLock, RecordingSettings
from components.shield_protection import ShieldProtection, ShieldProtectionArgs
from components.support_access import SupportAccess, SupportAccessArgs
from runbooks.core.manifest_schema import MANIFEST_PARAMETER

TYPE = "ir-readiness:index:MemberBaseline"

ORGANIZATION_TRAIL_LOG_GROUP = "/ir-readiness/organization-trail"
_ACCOUNT = re.compile(r"^[0-9]{12}$")
_EXTERNAL_ID = re.compile(r"^[\w+=,.@:/-]{2,1224}$")


def organization_log_group_arn(trail_arn: str) -> str:
    """The organization trail's CloudWatch Logs copy: in the trail's account (management)
    and region, not in the member (members keep no copy)."""
    parts = trail_arn.split(":")
    if len(parts) < 6 or parts[2] != "cloudtrail":
        raise ValueError(f"MemberBaselineArgs.trail_arn = {trail_arn!r}: not a trail ARN")
    partition, region, account = parts[1], parts[3], parts[4]
    return f"arn:{partition}:logs:{region}:{account}:log-group:{ORGANIZATION_TRAIL_LOG_GROUP}"


def security_bus_arn(partition: str, region: str, security_account_id: str,
                     bus_name: str) -> str:
    return f"arn:{partition}:events:{region}:{security_account_id}:event-bus/{bus_name}"


def forwarding_trust_policy(account_id: str, partition: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "EventBridgeRulesOfThisAccount",
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {
                "StringEquals": {"aws:SourceAccount": account_id},
                "ArnLike": {"aws:SourceArn": f"arn:{partition}:events:*:{account_id}:rule/*"},
            },
        }],
    }


def forwarding_policy(bus_arns: Sequence[str]) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "PutEventsOnTheSecurityBus",
            "Effect": "Allow",
            "Action": "events:PutEvents",
            "Resource": sorted(bus_arns),
        }],
    }


@dataclass(frozen=True)
class MemberBaselineArgs:
    regions: Sequence[str]
    """Covered regions, home region first."""
    providers: Mapping[str, pulumi.ProviderResource]
    """An explicit provider per covered region, acting in the member account."""
    account_id: pulumi.Input[str]
    """The member account."""
    security_account_id: str
    """Security account: its event bus receives the forwarded events."""
    responder_principals: Sequence[str]
    """Security-account principals trusted by the member's roles."""
    external_id: str
    """sts:ExternalId the roles require."""
    responder_actions: Sequence[str]
    """The responder role's actions (runbooks.core.permissions.responder_actions())."""
    vpc_ids: Mapping[str, Sequence[str]]
    """VPCs to quarantine per region (resolved)."""
    trail_arn: pulumi.Input[str]
    """The organization trail's ARN (management account); a plain value or an Output."""
    trail_bucket: pulumi.Input[str]
    """The organization trail's bucket (log-archive account); a plain value or an Output."""
    name_prefix: str = "ir-readiness-member"
    """Prefix of every role name (`<prefix>-responder` is what `irctl --account` assumes;
    the responder role's deny on widening roles covers `<prefix>-*`) and of log groups."""
    security_bus_name: str = "ir-readiness-org"
    """Name of the security account's event bus (same name in every region)."""
    subscriptions: Mapping[str, Sequence[AlertSubscription]] = field(default_factory=dict)
    """Local subscriptions per severity (the security account hears everything anyway)."""
    backup: BackupSettings = BackupSettings()
    """AWS Backup options (ir:backup), as in the single-account stack."""
    forensic_cidrs: Sequence[str] = ()
    """Sources admitted by the forensic-access groups."""
    forensic_source_security_group_ids: Mapping[str, pulumi.Input[str]] = field(
        default_factory=dict
    )
    """Per VPC id, a source security group the forensic-access group admits (plain ids
    are checked by QuarantineNetworkArgs, Outputs pass through)."""
    forensic_ports: Sequence[int] = (22, 3389)
    """TCP ports the forensic-access groups open to those sources."""
    evidence_object_lock: ObjectLock = ObjectLock("COMPLIANCE", 365)
    """Default retention of the evidence bucket."""
    max_session_duration: int = 3600
    """Maximum session of the roles, seconds."""
    recording: RecordingSettings = RecordingSettings()
    """ir:recording: the quarantine VPCs' flow logs (and opt-in Resolver query logs)."""
    evidence_replication_region: str | None = None
    """ir:evidence.replicationRegion: another covered region receiving a replica of the
    evidence bucket (None: no replica)."""
    shield: ShieldProtectionArgs | None = None
    """ir:shield: Shield Advanced for this account's exposed resources (None: off)."""
    shield_provider: pulumi.ProviderResource | None = None
    """A us-east-1 provider in this account (Shield's API), needed with `shield`."""
    partition: str = "aws"
    """ARN partition."""

    def __post_init__(self) -> None:
        if not self.regions:
            raise ValueError("MemberBaselineArgs.regions is empty")
        missing = [r for r in self.regions if r not in self.providers]
        if missing:
            raise ValueError(f"MemberBaselineArgs.providers lacks {', '.join(missing)}")
        if not _ACCOUNT.match(self.security_account_id or ""):
            raise ValueError("MemberBaselineArgs.security_account_id = "
                             f"{self.security_account_id!r}: must be a 12-digit account id")
        if not _EXTERNAL_ID.match(self.external_id or ""):
            raise ValueError("MemberBaselineArgs.external_id: must be 2-1224 characters of "
                             "letters, digits and +=,.@:/- (value not shown)")
        for principal in self.responder_principals:
            if f":iam::{self.security_account_id}:" not in principal:
                raise ValueError(f"MemberBaselineArgs.responder_principals: {principal!r} is "
                                 f"not in the security account {self.security_account_id}")
        if not self.responder_principals:
            raise ValueError("MemberBaselineArgs.responder_principals is empty")
        replica = self.evidence_replication_region
        if replica is not None and (replica not in self.regions or replica == self.regions[0]):
            raise ValueError(f"MemberBaselineArgs.evidence_replication_region = {replica!r}: "
                             "must be a covered region other than the home region")
        if self.shield is not None and self.shield_provider is None:
            raise ValueError("MemberBaselineArgs.shield_provider: give a us-east-1 provider "
                             "with shield (Shield's API is served there)")
        if not re.match(r"^[\w+=,.@-]{1,48}$", self.name_prefix):
            raise ValueError(f"MemberBaselineArgs.name_prefix = {self.name_prefix!r}: at most 48 "
                             "of letters, digits and +=,.@_- (role names add up to 16 "
                             "characters and IAM allows 64)")


class MemberBaseline(pulumi.ComponentResource):
    """Readiness of one member account: response resources + forwarding + responder role."""

    responder_role_arn: pulumi.Output[str]
    investigator_role_arn: pulumi.Output[str]
    evidence_bucket: pulumi.Output[str]
    manifests: dict[str, pulumi.Output[Any]]
    topic_arns: dict[str, dict[str, pulumi.Output[str]]]
    flow_log_groups: dict[str, pulumi.Output[str]]
    alert_path_topic_arns: dict[str, pulumi.Output[str]]
    pending_subscriptions: dict[str, pulumi.Output[list[str]]]
    support_role_arn: pulumi.Output[str]
    config_recorder_names: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: MemberBaselineArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        if not isinstance(args, MemberBaselineArgs):
            raise TypeError("MemberBaseline needs MemberBaselineArgs")
        super().__init__(TYPE, name, None, opts)
        home = args.regions[0]
        p = args.partition

        def in_region(region: str, depends_on: Sequence[pulumi.Resource] = ()) -> Any:
            return pulumi.ResourceOptions(parent=self, provider=args.providers[region],
                                          depends_on=list(depends_on))

        keys = {
            region: EncryptionKey(
                f"{name}-kms-{region}",
                EncryptionKeyArgs(region=region, account_id=args.account_id, partition=p,
                                  log_group_prefix=f"/ir-readiness/{args.name_prefix}",
                                  # GuardDuty exports go to the administrator, not here.
                                  findings_from_all_regions=False,
                                  # The evidence bucket (home key) takes the backup reports.
                                  backup_reports=region == home and args.backup.audit_reports),
                opts=in_region(region))
            for region in args.regions
        }
        alerts = {
            region: AlertRouting(
                f"{name}-alerts-{region}",
                AlertRoutingArgs(region=region, account_id=args.account_id,
                                 kms_key_arn=keys[region].key_arn,
                                 subscriptions={s: tuple(args.subscriptions.get(s, ()))
                                                for s in ("critical", "high", "info")},
                                 partition=p),
                opts=in_region(region))
            for region in args.regions
        }
        topics = {region: {"critical": a.critical_topic_arn, "high": a.high_topic_arn,
                           "info": a.info_topic_arn} for region, a in alerts.items()}
        def report_grant(bucket_arn: pulumi.Output[str]) -> pulumi.Output[Any]:
            # A member has no log bucket of its own: its backup reports go to the evidence
            # bucket, under backup-reports/ (never archived, never read by response).
            return pulumi.Output.all(bucket_arn, args.account_id).apply(
                lambda v: report_bucket_statements(v[0], v[1], p))

        evidence = EvidenceStore(
            f"{name}-evidence",
            EvidenceStoreArgs(kms_key_arn=keys[home].key_arn,
                              object_lock=args.evidence_object_lock,
                              additional_policy_statements=(
                                  report_grant if args.backup.audit_reports else None)),
            opts=in_region(home))
        trail_bucket_arn = pulumi.Output.concat(f"arn:{p}:s3:::", args.trail_bucket)
        access = ResponderAccess(
            f"{name}-responders",
            ResponderAccessArgs(
                account_id=args.account_id, partition=p, role_name_prefix=args.name_prefix,
                trusted_principals=args.responder_principals,
                responder_actions=args.responder_actions,
                evidence_bucket_arn=evidence.bucket_arn,
                trail_bucket_arn=trail_bucket_arn,
                # The group lives in the management account (the trail's): the member
                # has none, so a grant on a member ARN named a group that never exists.
                trail_log_group_arn=pulumi.Output.from_input(args.trail_arn).apply(
                    organization_log_group_arn),
                kms_key_arns=[keys[r].key_arn for r in args.regions],
                regions=args.regions,
                max_session_duration=args.max_session_duration,
                external_id=args.external_id,
            ),
            opts=in_region(home))
        if args.evidence_replication_region is not None:
            region = args.evidence_replication_region
            EvidenceReplication(
                f"{name}-evidence-replica",
                EvidenceReplicationArgs(
                    source_region=home, destination_region=region,
                    source_provider=args.providers[home], account_id=args.account_id,
                    source_bucket_name=evidence.bucket_name,
                    source_bucket_arn=evidence.bucket_arn,
                    source_kms_key_arn=keys[home].key_arn,
                    destination_kms_key_arn=keys[region].key_arn,
                    object_lock=args.evidence_object_lock,
                    source_depends_on=evidence.bucket_ready),
                opts=in_region(region))
        if args.shield is not None:
            # The workloads (and what a DDoS hits) live in member accounts.
            ShieldProtection(f"{name}-shield", args.shield,
                             opts=pulumi.ResourceOptions(parent=self,
                                                         provider=args.shield_provider))
        # CIS 1.17: the responders open AWS Support cases for this account too.
        support = SupportAccess(
            f"{name}-support",
            SupportAccessArgs(name_prefix=args.name_prefix,
                              trusted_principals=args.responder_principals,
                              partition=p, external_id=args.external_id,
                              max_session_duration=args.max_session_duration),
            opts=in_region(home))

        # -- forwarding to the security account's bus, one role for every region
        bus_arns = {r: security_bus_arn(p, r, args.security_account_id, args.security_bus_name)
                    for r in args.regions}
        forwarder = aws.iam.Role(
            f"{name}-forwarder",
            name=f"{args.name_prefix}-event-forwarder",
            description="ir-readiness: EventBridge forwards security events to the security "
                        "account's event bus",
            assume_role_policy=pulumi.Output.from_input(args.account_id).apply(
                lambda acct: json.dumps(forwarding_trust_policy(acct, p), sort_keys=True)),
            opts=in_region(home))
        forwarder_policy = aws.iam.RolePolicy(
            f"{name}-forwarder-put-events",
            role=forwarder.id,
            policy=json.dumps(forwarding_policy(list(bus_arns.values())), sort_keys=True),
            opts=in_region(home))

        b = args.backup
        manifests: dict[str, pulumi.Output[Any]] = {}
        copy_region = b.copy_to_region
        backups: dict[str, BackupProtection] = {}
        # The copy destination first, so the other regions can copy into its vault.
        for region in sorted(args.regions, key=lambda r: r != copy_region):
            copy_to = backups.get(copy_region) if copy_region and region != copy_region else None
            for rule_name, (_severity, pattern) in RULES.items():
                rule = aws.cloudwatch.EventRule(
                    f"{name}-forward-{region}-{rule_name}",
                    name=f"ir-readiness-forward-{rule_name}",
                    description="ir-readiness: forward to the security account's event bus",
                    event_pattern=json.dumps(pattern, sort_keys=True),
                    opts=in_region(region))
                aws.cloudwatch.EventTarget(
                    f"{name}-forward-{region}-{rule_name}-target",
                    rule=rule.name,
                    arn=bus_arns[region],
                    role_arn=forwarder.arn,
                    opts=in_region(region, [forwarder_policy]))
            backup = BackupProtection(
                f"{name}-backup-{region}",
                BackupProtectionArgs(
                    region=region, account_id=args.account_id,
                    kms_key_arn=keys[region].key_arn,
                    alert_topic_arn=alerts[region].info_topic_arn,
                    partition=p,
                    **b.protection_args(),
                    copy_to_vault_arn=copy_to.vault_arn if copy_to else None,
                    copy_depends_on=[copy_to] if copy_to else [],
                    report_bucket_name=evidence.bucket_name if b.audit_reports else None,
                    report_depends_on=([*evidence.bucket_ready, keys[home]]
                                       if b.audit_reports else []),
                ),
                opts=in_region(region))
            backups[region] = backup
            quarantine = {
                vpc_id: QuarantineNetwork(
                    f"{name}-quarantine-{region}-{vpc_id}",
                    QuarantineNetworkArgs(
                        vpc_id=vpc_id, forensic_cidrs=tuple(args.forensic_cidrs),
                        forensic_source_security_group_ids=tuple(
                            sg for v, sg in args.forensic_source_security_group_ids.items()
                            if v == vpc_id),
                        forensic_ports=tuple(args.forensic_ports)),
                    opts=in_region(region))
                for vpc_id in args.vpc_ids.get(region, ())
            }
            detector = aws.guardduty.get_detector_output(
                opts=pulumi.InvokeOutputOptions(provider=args.providers[region]))
            manifest = ReadinessManifest(
                f"{name}-manifest-{region}",
                ReadinessManifestArgs(
                    region=region, home_region=home, account_id=args.account_id,
                    kms_key_arn=keys[region].key_arn,
                    evidence_bucket=evidence.bucket_name,
                    trail_arn=args.trail_arn,
                    trail_bucket=args.trail_bucket,
                    trail_log_group=ORGANIZATION_TRAIL_LOG_GROUP,
                    topic_arns=topics[region],
                    quarantine={
                        vpc_id: QuarantineGroups(q.isolation_security_group_id,
                                                 q.conversion_security_group_id,
                                                 q.forensic_security_group_id)
                        for vpc_id, q in quarantine.items()
                    },
                    backup_vault_name=backup.vault_name,
                    backup_vault_arn=backup.vault_arn,
                    backup_plan_id=backup.plan_id,
                    backup_restore_role_arn=backup.restore_role_arn,
                    guardduty_detector_id=detector.id,
                    security_hub_enabled=True,  # central configuration enables it here
                    investigator_role_arn=access.investigator_role_arn,
                    responder_role_arn=access.responder_role_arn,
                    support_role_arn=support.role_arn,
                    deny_all_policy_arn=access.deny_all_policy_arn,
                ),
                opts=in_region(region))
            manifests[region] = manifest.document
            watched = watch_readiness_changes(
                f"{name}-watch-{region}", routing=alerts[region],
                parameter_name=MANIFEST_PARAMETER,
                group_ids=[g for q in quarantine.values()
                           for g in (q.isolation_security_group_id,
                                     q.conversion_security_group_id,
                                     q.forensic_security_group_id)],
                opts=in_region(region, [manifest]))
            for index, rule in enumerate(watched):
                # The security account hears them too (the bus's org-readiness-changes).
                aws.cloudwatch.EventTarget(
                    f"{name}-watch-{region}-{index}-forward",
                    rule=rule.name,
                    target_id="security-bus",
                    arn=bus_arns[region],
                    role_arn=forwarder.arn,
                    opts=in_region(region, [forwarder_policy]))

        # The quarantine VPCs' flow logs, as in a single-account stack (the playbooks
        # read them after containing an instance of this account).
        flow = args.recording.flow_logs
        self.flow_log_groups = {
            region: NetworkRecording(
                f"{name}-network-recording-{region}",
                NetworkRecordingArgs(
                    region=region, account_id=args.account_id, partition=p,
                    vpc_ids=tuple(args.vpc_ids.get(region, ())),
                    kms_key_arn=keys[region].key_arn,
                    log_group_prefix=f"/ir-readiness/{args.name_prefix}",
                    name_prefix=args.name_prefix,
                    flow_logs=flow.enabled, traffic_type=flow.traffic_type,
                    log_retention_days=flow.log_retention_days,
                    resolver_query_logs=args.recording.resolver_query_logs),
                opts=in_region(region)).flow_log_group_name
            for region in args.regions
        }
        # AWS Config in every covered region (Security Hub's controls evaluate from it, as
        # in a single-account stack), delivering to the evidence bucket under config/:
        # the member has no log bucket, and the organization trail's is another account's.
        self.config_recorder_names: dict[str, pulumi.Output[str]] = {}
        if args.recording.config_recorder:
            recorders: dict[str, ConfigRecording] = {}
            for region in args.regions:
                at_home = region == home
                recorders[region] = ConfigRecording(
                    f"{name}-config-{region}",
                    ConfigRecordingArgs(
                        region=region, home_region=home, account_id=args.account_id,
                        partition=p, bucket_name=evidence.bucket_name,
                        kms_key_arn=keys[home].key_arn,
                        role_arn=None if at_home else recorders[home].role_arn,
                        bucket_depends_on=tuple(evidence.bucket_ready),
                        role_depends_on=() if at_home else tuple(recorders[home].role_ready)),
                    opts=in_region(region))
                self.config_recorder_names[region] = recorders[region].recorder_name
        # Who read or deleted evidence: S3 server access logs of the evidence bucket.
        if args.recording.access_logs:
            AccessLogStore(
                f"{name}-access-logs",
                AccessLogStoreArgs(
                    account_id=args.account_id, partition=p,
                    sources={"evidence": evidence.bucket_name},
                    retention_days=args.recording.access_log_retention_days,
                    source_depends_on=(evidence.bucket_policy,)),
                opts=in_region(home))
        self.responder_role_arn = access.responder_role_arn
        self.investigator_role_arn = access.investigator_role_arn
        self.support_role_arn = support.role_arn
        self.evidence_bucket = evidence.bucket_name
        self.manifests = manifests
        self.topic_arns = topics
        self.alert_path_topic_arns = {r: a.alert_path_topic_arn for r, a in alerts.items()}
        self.pending_subscriptions = {r: a.pending_subscriptions for r, a in alerts.items()}
        self.register_outputs({"responderRoleArn": self.responder_role_arn,
                               "investigatorRoleArn": self.investigator_role_arn,
                               "evidenceBucket": self.evidence_bucket,
                               "supportRoleArn": self.support_role_arn,
                               "manifests": self.manifests})
