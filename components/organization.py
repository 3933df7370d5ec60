"""OrganizationReadiness: what one stack creates in its organization role
(`ir:organization.mode`; `single` never gets here, it is IncidentResponseReadiness).

* ``management``: OrganizationTrail (trail here; bucket + key in the log-archive account
  through a provider that assumes ``ir:organization.logArchiveRoleName`` there) with the
  15 CIS metric filters and alarms on its log group copy (every account's events) to
  home-region alert topics (EncryptionKey + AlertRouting, subscriptions from
  ``ir:alertSubscriptions``), whose alarm state changes are also forwarded to the
  security account's bus (``org-alarms``), and the management side of
  DelegatedSecurityAdmin (GuardDuty + Security Hub + Inspector admin = security); AWS
  Config in every covered region into the organization trail's bucket (``config/``), and
  the AWS Support role (CIS 1.17).
* ``security``: the full single-account readiness of the security account
  (IncidentResponseReadiness), SecurityEventBus in every covered region (to its topics),
  and the security side of DelegatedSecurityAdmin (auto-enable ALL, protection plans,
  Security Hub central configuration, Inspector for members that join later and for the
  existing ones in ``ir:organization.memberAccountIds``).
* ``member``: MemberBaseline (response resources, forwarding to the security bus,
  responder role for ``irctl --account`` with sts:ExternalId).

Every regional resource uses an explicit provider per region whose default tags carry
``ir:tags``, as in single-account mode.
"""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_aws as aws

from components.access_log_store import AccessLogStore, AccessLogStoreArgs
from components.alert_routing import AlertRouting, AlertRoutingArgs, AlertSubscription
from components.config_recording import ConfigRecording, ConfigRecordingArgs
from components.delegated_security_admin import DelegatedSecurityAdmin, DelegatedSecurityAdminArgs
from components.encryption_key import EncryptionKey, EncryptionKeyArgs
from components.member_baseline import (
    MemberBaseline,
    MemberBaselineArgs,
    forwarding_policy,
    forwarding_trust_policy,
    security_bus_arn,
)
from components.organization_trail import (
    ORG_TRAIL_NAME,
    OrganizationTrail,
    OrganizationTrailArgs,
    organization_trail_arn,
    organization_trail_bucket,
)
from components.readiness import (
    BASE_TAGS,
    IncidentResponseReadiness,
    IncidentResponseReadinessArgs,
    shield_args,
)
from components.security_event_bus import RULES, SecurityEventBus, SecurityEventBusArgs
from components.settings import DISCOVER, SEVERITIES, Settings, partition_for
from components.shield_protection import SHIELD_REGION
from components.support_access import SupportAccess, SupportAccessArgs
from runbooks.core.permissions import responder_actions

TYPE = "ir-readiness:index:OrganizationReadiness"
RESPONDER_SUFFIX = "-responder"


class OrganizationReadiness(pulumi.ComponentResource):
    """One organization role's resources; `stack_outputs` holds the stack outputs to export."""

    stack_outputs: dict[str, Any]

    def __init__(self, name: str, settings: Settings,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        org = settings.organization
        if org.is_single:
            raise ValueError("OrganizationReadiness needs ir:organization.mode management, "
                             "security or member; single mode is IncidentResponseReadiness")
        super().__init__(TYPE, name, None, opts)
        self.settings = settings
        self.partition = partition_for(settings.home_region)
        self.tags = {**BASE_TAGS, "ir-readiness:stack": pulumi.get_stack(), **settings.tags,
                     "ir-readiness:organization-mode": org.mode}
        self.stack_outputs = {"homeRegion": settings.home_region,
                              "regions": list(settings.regions), "organizationMode": org.mode}
        if org.mode == "management":
            self._management(name)
        elif org.mode == "security":
            self._security(name)
        else:
            self._member(name)
        self.register_outputs(dict(self.stack_outputs))

    def _shield_provider(self, providers: dict[str, aws.Provider]) -> aws.Provider:
        """Shield's API is served from us-east-1: that region's provider, or one of its own."""
        return providers.get(SHIELD_REGION) or aws.Provider(
            f"aws-{SHIELD_REGION}-shield", region=SHIELD_REGION,
            default_tags=aws.ProviderDefaultTagsArgs(tags=self.tags),
            opts=pulumi.ResourceOptions(parent=self))

    def _regional_providers(self, prefix: str = "aws") -> dict[str, aws.Provider]:
        return {
            region: aws.Provider(
                f"{prefix}-{region}", region=region,
                default_tags=aws.ProviderDefaultTagsArgs(tags=self.tags),
                opts=pulumi.ResourceOptions(parent=self))
            for region in self.settings.regions
        }

    def _management(self, name: str) -> None:
        s, org = self.settings, self.settings.organization
        home = s.home_region
        providers = self._regional_providers()
        log_archive = aws.Provider(
            f"aws-log-archive-{home}", region=home,
            default_tags=aws.ProviderDefaultTagsArgs(tags=self.tags),
            assume_roles=[aws.ProviderAssumeRoleArgs(
                role_arn=f"arn:{self.partition}:iam::{org.log_archive_account_id}:role/"
                         f"{org.log_archive_role_name}",
                session_name="ir-readiness-org-trail")],
            opts=pulumi.ResourceOptions(parent=self))
        # The account the providers act in (the management account), as the topic ARNs
        # will name it.
        management = aws.get_caller_identity_output(
            opts=pulumi.InvokeOutputOptions(provider=providers[home])).account_id
        in_home = pulumi.ResourceOptions(parent=self, provider=providers[home])
        key = EncryptionKey(
            f"{name}-kms-{home}",
            EncryptionKeyArgs(region=home, account_id=management, partition=self.partition,
                              log_group_prefix="/ir-readiness/management"),
            opts=in_home)
        alerts = AlertRouting(
            f"{name}-alerts-{home}",
            AlertRoutingArgs(region=home, account_id=management, kms_key_arn=key.key_arn,
                             subscriptions={sev: tuple(AlertSubscription(x.protocol, x.endpoint)
                                                       for x in s.alert_subscriptions.get(sev, ()))
                                            for sev in SEVERITIES},
                             partition=self.partition),
            opts=in_home)
        self._forward_alarms(name, management, home, providers[home])
        trail = OrganizationTrail(
            f"{name}-org-trail",
            OrganizationTrailArgs(
                organization_id=str(org.organization_id),
                management_account_id=str(org.management_account_id),
                log_archive_account_id=str(org.log_archive_account_id),
                home_region=home,
                trail_provider=providers[home],
                reader_account_ids=(str(org.security_account_id),),
                partition=self.partition,
                object_lock=s.trail.object_lock,
                archive_after_days=s.evidence.archive_after_days,
                log_retention_days=s.trail.log_retention_days,
                alarm_topic_arns={"critical": alerts.critical_topic_arn,
                                  "high": alerts.high_topic_arn, "info": alerts.info_topic_arn},
                config_delivery=s.recording.config_recorder,
            ),
            opts=pulumi.ResourceOptions(parent=self, providers={"aws": log_archive}))
        recorders = self._config_recorders(name, providers, management, trail)
        # CIS 1.17 holds in every account: responders open support cases here too.
        support = SupportAccess(
            f"{name}-support",
            SupportAccessArgs(name_prefix="ir-readiness-management",
                              trusted_principals=s.responder_principals,
                              partition=self.partition,
                              max_session_duration=s.max_session_duration),
            opts=in_home)
        if s.recording.access_logs:
            # CIS 3.4: S3 server access logs of the organization trail's bucket, next to
            # it in the log-archive account (the same provider as the trail's bucket).
            AccessLogStore(
                f"{name}-org-trail-access-logs",
                AccessLogStoreArgs(
                    account_id=str(org.log_archive_account_id), partition=self.partition,
                    sources={"org-trail": trail.bucket_name},
                    retention_days=s.recording.access_log_retention_days,
                    source_depends_on=(trail,)),
                opts=pulumi.ResourceOptions(parent=self, providers={"aws": log_archive}))
        DelegatedSecurityAdmin(
            f"{name}-delegated-admin",
            DelegatedSecurityAdminArgs(side="management",
                                       security_account_id=str(org.security_account_id),
                                       regions=s.regions, providers=providers,
                                       partition=self.partition,
                                       inspector=s.guardduty.inspector),
            opts=pulumi.ResourceOptions(parent=self))
        self.stack_outputs.update({"supportRoleArn": support.role_arn,
                             "configRecorderNames": {r: c.recorder_name
                                                     for r, c in recorders.items()},
                             "organizationTrailArn": trail.trail_arn,
                             "organizationTrailBucket": trail.bucket_name,
                             "organizationTrailKeyArn": trail.kms_key_arn,
                             "organizationTrailLogGroup": trail.log_group_name,
                             "topicArns": {home: {"critical": alerts.critical_topic_arn,
                                                  "high": alerts.high_topic_arn,
                                                  "info": alerts.info_topic_arn}},
                             "alertPathTopicArns": {home: alerts.alert_path_topic_arn},
                             "pendingSubscriptions": {home: alerts.pending_subscriptions}})

    def _config_recorders(self, name: str, providers: dict[str, aws.Provider],
                          management: pulumi.Output[str],
                          trail: OrganizationTrail) -> dict[str, ConfigRecording]:
        """AWS Config in every covered region of the management account, delivering to the
        organization trail's bucket (log-archive account) under config/."""
        s = self.settings
        if not s.recording.config_recorder:
            return {}
        home = s.home_region
        recorders: dict[str, ConfigRecording] = {}
        for region in s.regions:
            at_home = region == home
            recorders[region] = ConfigRecording(
                f"{name}-config-{region}",
                ConfigRecordingArgs(
                    region=region, home_region=home, account_id=management,
                    partition=self.partition, bucket_name=trail.bucket_name,
                    kms_key_arn=trail.kms_key_arn,
                    role_arn=None if at_home else recorders[home].role_arn,
                    bucket_depends_on=(trail,),
                    role_depends_on=() if at_home else tuple(recorders[home].role_ready)),
                opts=pulumi.ResourceOptions(parent=self, provider=providers[region]))
        return recorders

    def _forward_alarms(self, name: str, account_id: pulumi.Output[str], region: str,
                        provider: aws.Provider) -> None:
        """Alarm state changes of the management account (the organization trail's CIS
        alarms, the alert dead-letter queue's) to the security account's bus, so the
        security account hears them whoever subscribed here."""
        org = self.settings.organization
        bus = security_bus_arn(self.partition, region, str(org.security_account_id),
                               org.security_event_bus_name)
        opts = pulumi.ResourceOptions(parent=self, provider=provider)
        role = aws.iam.Role(
            f"{name}-forwarder",
            name="ir-readiness-management-event-forwarder",
            description="ir-readiness: EventBridge forwards the management account's alarms "
                        "to the security account's event bus",
            assume_role_policy=account_id.apply(lambda acct: json.dumps(
                forwarding_trust_policy(acct, self.partition), sort_keys=True)),
            opts=opts)
        policy = aws.iam.RolePolicy(
            f"{name}-forwarder-put-events",
            role=role.id,
            policy=json.dumps(forwarding_policy([bus]), sort_keys=True),
            opts=opts)
        _severity, pattern = RULES["org-alarms"]
        rule = aws.cloudwatch.EventRule(
            f"{name}-forward-{region}-org-alarms",
            name="ir-readiness-forward-org-alarms",
            description="ir-readiness: forward alarms to the security account's event bus",
            event_pattern=json.dumps(pattern, sort_keys=True),
            opts=opts)
        aws.cloudwatch.EventTarget(
            f"{name}-forward-{region}-org-alarms-target",
            rule=rule.name,
            arn=bus,
            role_arn=role.arn,
            opts=pulumi.ResourceOptions(parent=self, provider=provider, depends_on=[policy]))

    def _security(self, name: str) -> None:
        s, org = self.settings, self.settings.organization
        # Parented to the stack, exactly as in single mode: turning an existing
        # single-account stack of the security account into `security` mode keeps every
        # URN, so nothing (locked buckets included) is replaced.
        readiness = IncidentResponseReadiness(name, IncidentResponseReadinessArgs(settings=s))
        buses = {
            region: SecurityEventBus(
                f"{name}-org-bus-{region}",
                SecurityEventBusArgs(organization_id=str(org.organization_id),
                                     topic_arns=readiness.topic_arns[region],
                                     bus_name=org.security_event_bus_name,
                                     kms_key_arn=readiness.kms_key_arns[region],
                                     alert_path_topic_arn=readiness.alert_path_topic_arns[region]),
                opts=pulumi.ResourceOptions(parent=self, provider=readiness.providers[region]))
            for region in s.regions
        }
        admin = DelegatedSecurityAdmin(
            f"{name}-delegated-admin",
            DelegatedSecurityAdminArgs(
                side="security", security_account_id=str(org.security_account_id),
                regions=s.regions, providers=readiness.providers,
                detector_ids=readiness.guardduty_detector_ids,
                guardduty_features=tuple(f for f, on in s.guardduty.features.items() if on),
                root_id=org.root_id, standards=s.security_hub_standards,
                partition=self.partition, security_hub_depends_on=[readiness],
                inspector=s.guardduty.inspector,
                member_account_ids=org.member_account_ids if s.guardduty.inspector else ()),
            opts=pulumi.ResourceOptions(parent=self))
        self.stack_outputs.update({
            # Every single-mode output, so switching modes keeps what scripts read.
            "manifests": readiness.manifests,
            "evidenceBucket": readiness.evidence_bucket,
            "trailArn": readiness.trail_arn,
            "trailBucket": readiness.trail_bucket,
            "trailLogGroup": readiness.trail_log_group,
            "investigatorRoleArn": readiness.investigator_role_arn,
            "responderRoleArn": readiness.responder_role_arn,
            "kmsKeyArns": readiness.kms_key_arns,
            "topicArns": readiness.topic_arns,
            "guardDutyDetectorIds": readiness.guardduty_detector_ids,
            "backupVaultArns": readiness.backup_vault_arns,
            "automationFunctionArns": readiness.automation_function_arns,
            "flowLogGroups": readiness.flow_log_groups,
            **({"accessLogBucket": readiness.access_log_bucket}
               if readiness.access_log_bucket is not None else {}),
            "securityEventBusArns": {r: b.bus_arn for r, b in buses.items()},
            "securityHubConfigurationPolicyId": admin.configuration_policy_id,
            "alertPathTopicArns": readiness.alert_path_topic_arns,
            "pendingSubscriptions": readiness.pending_subscriptions,
            "supportRoleArn": readiness.support_role_arn,
            **({"evidenceReplicaBucket": readiness.evidence_replica_bucket}
               if readiness.evidence_replica_bucket is not None else {}),
            **({"shieldSrtRoleArn": readiness.shield_srt_role_arn}
               if readiness.shield_srt_role_arn is not None else {}),
        })

    def _member(self, name: str) -> None:
        s, org = self.settings, self.settings.organization
        home = s.home_region
        providers = self._regional_providers()
        account_id = aws.get_caller_identity_output(
            opts=pulumi.InvokeOutputOptions(provider=providers[home])).account_id
        vpc_ids: dict[str, tuple[str, ...]] = {}
        for region in s.regions:
            wanted = s.vpcs_for(region)
            if wanted == DISCOVER:
                # Blocking invoke: one QuarantineNetwork per VPC, never inside an apply.
                found = aws.ec2.get_vpcs(opts=pulumi.InvokeOptions(provider=providers[region]))
                vpc_ids[region] = tuple(sorted(found.ids))
            else:
                vpc_ids[region] = tuple(wanted)
        trail_arn = organization_trail_arn(self.partition, home,
                                           str(org.management_account_id), ORG_TRAIL_NAME)
        baseline = MemberBaseline(
            f"{name}-member",
            MemberBaselineArgs(
                regions=s.regions, providers=providers, account_id=account_id,
                security_account_id=str(org.security_account_id),
                responder_principals=s.responder_principals,
                external_id=str(org.external_id),
                responder_actions=responder_actions(),
                vpc_ids=vpc_ids,
                trail_arn=trail_arn,
                trail_bucket=organization_trail_bucket(str(org.organization_id)),
                # memberRoleName ends in -responder (settings): the roles are named
                # <prefix>-responder/-investigator/-event-forwarder, all under the
                # responder role's deny on widening <prefix>-* roles.
                name_prefix=org.member_role_name.removesuffix(RESPONDER_SUFFIX),
                security_bus_name=org.security_event_bus_name,
                subscriptions={sev: tuple(AlertSubscription(x.protocol, x.endpoint)
                                          for x in s.alert_subscriptions.get(sev, ()))
                               for sev in SEVERITIES},
                backup=s.backup,
                forensic_cidrs=s.forensic_access.cidrs,
                forensic_source_security_group_ids=s.forensic_access.security_group_ids,
                forensic_ports=s.forensic_access.ports,
                evidence_object_lock=s.evidence.object_lock,
                max_session_duration=s.max_session_duration,
                partition=self.partition,
                recording=s.recording,
                evidence_replication_region=s.evidence.replication_region,
                shield=shield_args(s, org.member_role_name.removesuffix(RESPONDER_SUFFIX),
                                   self.partition),
                shield_provider=self._shield_provider(providers) if s.shield.advanced else None,
            ),
            opts=pulumi.ResourceOptions(parent=self))
        self.stack_outputs.update({
            "manifests": baseline.manifests,
            "evidenceBucket": baseline.evidence_bucket,
            "responderRoleArn": baseline.responder_role_arn,
            "investigatorRoleArn": baseline.investigator_role_arn,
            "supportRoleArn": baseline.support_role_arn,
            "topicArns": baseline.topic_arns,
            "alertPathTopicArns": baseline.alert_path_topic_arns,
            "pendingSubscriptions": baseline.pending_subscriptions,
        })
