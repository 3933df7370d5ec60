"""ir-readiness: Pulumi program. Wiring only: settings -> components -> stack outputs."""

import pulumi

from components.readiness import IncidentResponseReadiness, IncidentResponseReadinessArgs
from components.settings import Settings

settings = Settings.from_config(pulumi.Config("ir"))

if not settings.organization.is_single:
    # ir:organization.mode management | security | member (docs/organization.md).
    from components.organization import OrganizationReadiness

    organization = OrganizationReadiness("ir", settings)
    for key, value in organization.stack_outputs.items():
        pulumi.export(key, value)
else:
    readiness = IncidentResponseReadiness("ir", IncidentResponseReadinessArgs(settings=settings))

    pulumi.export("homeRegion", settings.home_region)
    pulumi.export("regions", list(settings.regions))
    # What irctl reads when given `--manifest` (the JSON of `pulumi stack output --json`).
    pulumi.export("manifests", readiness.manifests)
    pulumi.export("evidenceBucket", readiness.evidence_bucket)
    pulumi.export("trailArn", readiness.trail_arn)
    pulumi.export("trailBucket", readiness.trail_bucket)
    pulumi.export("trailLogGroup", readiness.trail_log_group)
    pulumi.export("investigatorRoleArn", readiness.investigator_role_arn)
    pulumi.export("responderRoleArn", readiness.responder_role_arn)
    pulumi.export("kmsKeyArns", readiness.kms_key_arns)
    pulumi.export("topicArns", readiness.topic_arns)
    pulumi.export("guardDutyDetectorIds", readiness.guardduty_detector_ids)
    pulumi.export("backupVaultArns", readiness.backup_vault_arns)
    pulumi.export("automationFunctionArns", readiness.automation_function_arns)
    pulumi.export("flowLogGroups", readiness.flow_log_groups)
    if readiness.access_log_bucket is not None:
        pulumi.export("accessLogBucket", readiness.access_log_bucket)
    # The AWS Support role (CIS 1.17) responders assume to open a case.
    pulumi.export("supportRoleArn", readiness.support_role_arn)
    if readiness.evidence_replica_bucket is not None:
        pulumi.export("evidenceReplicaBucket", readiness.evidence_replica_bucket)
    if readiness.shield_srt_role_arn is not None:
        pulumi.export("shieldSrtRoleArn", readiness.shield_srt_role_arn)
    pulumi.export("alertPathTopicArns", readiness.alert_path_topic_arns)
    # Subscriptions AWS still waits to see confirmed: until then they deliver nothing.
    pulumi.export("pendingSubscriptions", readiness.pending_subscriptions)
