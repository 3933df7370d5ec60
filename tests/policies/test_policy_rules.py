"""Every rule with compliant and violating resources, through the analyzer protocol.

Each case sends the resources to the running pack (Analyze for each, AnalyzeStack for
all) and checks which diagnostics the named policy produced: none for the compliant set,
at least one naming the expected resource for the violating set.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from policy_helpers import HOME_REGION, res, violations

from policies.analyzer import (
    AnalyzerResource,
    PackCallError,
    PackStartError,
    PolicyConfigError,
    PolicyPackProcess,
)
from policies.preview import local_policies
from policies.rules import REGISTRY

PURPOSE = "ir-readiness:purpose"
KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555"
ACCOUNT = "123456789012"


def doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


TLS_ONLY = doc({"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*",
                "Action": "s3:*", "Resource": ["arn:aws:s3:::ev", "arn:aws:s3:::ev/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}}})


# --------------------------------------------------------------------------- builders


def bucket_set(name: str = "ev", *, purpose: str = "evidence", lock: bool = True,
               pab: dict[str, bool] | None = None, sse: dict[str, Any] | None = None,
               versioning: str = "Enabled", policy: str | None = TLS_ONLY,
               retention_days: int = 365) -> list[AnalyzerResource]:
    flags = {"blockPublicAcls": True, "blockPublicPolicy": True, "ignorePublicAcls": True,
             "restrictPublicBuckets": True, **(pab or {})}
    by_default = sse or {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": KEY_ARN}
    out = [
        res("aws:s3/bucket:Bucket", name, {"bucket": name, "objectLockEnabled": lock,
                                          "tags": {PURPOSE: purpose}}),
        res("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", f"{name}-pab",
            {"bucket": name, **flags}),
        res("aws:s3/bucketServerSideEncryptionConfiguration:"
            "BucketServerSideEncryptionConfiguration", f"{name}-sse",
            {"bucket": name, "rules": [{"applyServerSideEncryptionByDefault": by_default,
                                        "bucketKeyEnabled": True}]}),
        res("aws:s3/bucketVersioning:BucketVersioning", f"{name}-versioning",
            {"bucket": name, "versioningConfiguration": {"status": versioning}}),
    ]
    if policy is not None:
        out.append(res("aws:s3/bucketPolicy:BucketPolicy", f"{name}-policy",
                       {"bucket": name, "policy": policy}))
    if lock:
        out.append(res("aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration",
                       f"{name}-lock", {"bucket": name, "rule": {"defaultRetention": {
                           "mode": "COMPLIANCE", "days": retention_days}}}))
    return out


def trail(**overrides: Any) -> list[AnalyzerResource]:
    props = {"isMultiRegionTrail": True, "enableLogFileValidation": True, "kmsKeyId": KEY_ARN,
             "cloudWatchLogsGroupArn": "arn:aws:logs:eu-west-1:123456789012:log-group:t:*",
             "cloudWatchLogsRoleArn": "arn:aws:iam::123456789012:role/trail-logs",
             "s3BucketName": "ev", **overrides}
    return [res("aws:cloudtrail/trail:Trail", "trail", props)]


def detector(region: str = HOME_REGION, *, enable: bool = True, frequency: str | None =
             "FIFTEEN_MINUTES", features: tuple[str, ...] = (
                 "S3_DATA_EVENTS", "EBS_MALWARE_PROTECTION", "RDS_LOGIN_EVENTS",
                 "LAMBDA_NETWORK_LOGS", "RUNTIME_MONITORING")) -> list[AnalyzerResource]:
    props: dict[str, Any] = {"enable": enable, "id": f"det-{region}"}
    if frequency:
        props["findingPublishingFrequency"] = frequency
    out = [res("aws:guardduty/detector:Detector", f"detector-{region}", props, region)]
    out += [res("aws:guardduty/detectorFeature:DetectorFeature", f"{f.lower()}-{region}",
                {"detectorId": f"det-{region}", "name": f, "status": "ENABLED"}, region)
            for f in features]
    return out


def hub(region: str = HOME_REGION, *, defaults: bool = False,
        standards: tuple[str, ...] = ("aws-foundational-security-best-practices/v/1.0.0",
                                      "cis-aws-foundations-benchmark/v/3.0.0"),
        ) -> list[AnalyzerResource]:
    out = [res("aws:securityhub/account:Account", f"hub-{region}",
               {"enableDefaultStandards": defaults}, region)]
    out += [res("aws:securityhub/standardsSubscription:StandardsSubscription",
                f"std-{i}-{region}",
                {"standardsArn": f"arn:aws:securityhub:{region}::standards/{s}"}, region)
            for i, s in enumerate(standards)]
    return out


def backup(*, kms: bool = True, lock_days: int | None = 7, selection: bool = True
           ) -> list[AnalyzerResource]:
    out = [res("aws:backup/vault:Vault", "vault",
               {"name": "ir-vault", **({"kmsKeyArn": KEY_ARN} if kms else {})}),
           res("aws:backup/plan:Plan", "plan", {"id": "plan-1", "name": "ir-plan"})]
    if lock_days is not None:
        out.append(res("aws:backup/vaultLockConfiguration:VaultLockConfiguration", "lock",
                       {"backupVaultName": "ir-vault", "minRetentionDays": lock_days,
                        "maxRetentionDays": 365, "changeableForDays": 3}))
    if selection:
        out.append(res("aws:backup/selection:Selection", "selection",
                       {"planId": "plan-1", "name": "tagged"}))
    return out


ALL_TRAFFIC = {"protocol": "-1", "fromPort": 0, "toPort": 0, "cidrBlocks": ["0.0.0.0/0"]}


def isolation(vpc: str = "vpc-1", **overrides: Any) -> AnalyzerResource:
    props = {"vpcId": vpc, "ingress": [], "egress": [], "id": f"sg-iso-{vpc}",
             "tags": {PURPOSE: "isolation"}, **overrides}
    return res("aws:ec2/securityGroup:SecurityGroup", f"{vpc}-isolation", props)


def conversion(vpc: str = "vpc-1") -> AnalyzerResource:
    return res("aws:ec2/securityGroup:SecurityGroup", f"{vpc}-conversion",
               {"vpcId": vpc, "ingress": [ALL_TRAFFIC], "egress": [ALL_TRAFFIC],
                "tags": {PURPOSE: "conversion"}})


def recorders(regions: tuple[str, ...] = ("eu-west-1", "us-east-1"), *,
              on: dict[str, bool] | None = None) -> list[AnalyzerResource]:
    """A Config recorder (global types in the first region) and its status per region."""
    out: list[AnalyzerResource] = []
    for i, region in enumerate(regions):
        out.append(res("aws:cfg/recorder:Recorder", f"cfg-{region}", {
            "name": "ir-readiness", "recordingGroup": {
                "allSupported": True, "includeGlobalResourceTypes": i == 0}}, region))
        out.append(res("aws:cfg/recorderStatus:RecorderStatus", f"cfg-status-{region}",
                       {"name": "ir-readiness", "isEnabled": (on or {}).get(region, True)},
                       region))
    return out


def flow_log(vpc: str, traffic: str = "ALL") -> AnalyzerResource:
    return res("aws:ec2/flowLog:FlowLog", f"flow-log-{vpc}",
               {"vpcId": vpc, "trafficType": traffic, "logDestinationType": "cloud-watch-logs"})


def access_log_bucket(*sources: str, name: str = "access", sse: str = "AES256"
                      ) -> list[AnalyzerResource]:
    """An access-log bucket (SSE-S3, as S3 log delivery needs) and logging of `sources`."""
    out = [
        res("aws:s3/bucket:Bucket", name, {"bucket": name}),
        res("aws:s3/bucketServerSideEncryptionConfiguration:"
            "BucketServerSideEncryptionConfiguration", f"{name}-sse",
            {"bucket": name, "rules": [{"applyServerSideEncryptionByDefault": {
                "sseAlgorithm": sse}}]}),
    ]
    out += [res("aws:s3/bucketLogging:BucketLogging", f"{source}-logging",
                {"bucket": source, "targetBucket": name, "targetPrefix": f"{source}/"})
            for source in sources]
    return out


SNS_POLICY_OK = doc({"Sid": "EventBridge", "Effect": "Allow",
                     "Principal": {"Service": "events.amazonaws.com"}, "Action": "sns:Publish",
                     "Resource": "*",
                     "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}}})

KEY_POLICY_OK = doc({"Sid": "Root", "Effect": "Allow",
                     "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*",
                     "Resource": "*"})

TRUST_OK = doc(
    {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/SecurityOnCall"},
     "Action": "sts:AssumeRole"},
    {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/alice"},
     "Action": "sts:AssumeRole", "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}})


def role(name: str = "ir-responder", **overrides: Any) -> AnalyzerResource:
    props = {"name": name, "assumeRolePolicy": TRUST_OK, "maxSessionDuration": 3600,
             "tags": {PURPOSE: "responder"},
             "inlinePolicies": [{"name": "containment", "policy": doc(
                 {"Effect": "Allow", "Action": ["ec2:ModifyInstanceAttribute",
                                                "ec2:Describe*"], "Resource": "*"})}],
             **overrides}
    return res("aws:iam/role:Role", name, props)


OTHER_ACCOUNT = "999999999999"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/app"
OPEN_TRUST = doc({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"})
OPEN_TRUST_IN_ORG = doc({"Effect": "Allow", "Principal": {"AWS": "*"},
                         "Action": "sts:AssumeRole",
                         "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-abc123"}}})
OWN_ACCOUNT_TRUST = doc({"Effect": "Allow",
                         "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/Admins"},
                         "Action": "sts:AssumeRole"})
OTHER_ACCOUNT_TRUST = doc({"Effect": "Allow",
                           "Principal": {"AWS": f"arn:aws:iam::{OTHER_ACCOUNT}:root"},
                           "Action": "sts:AssumeRole"})
SERVICE_TRUST = doc({"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                     "Action": "sts:AssumeRole",
                     "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}}})


def grant(*actions: str, resource: Any = "*", **condition: Any) -> str:
    statement: dict[str, Any] = {"Effect": "Allow", "Action": list(actions),
                                 "Resource": resource}
    if condition:
        statement["Condition"] = condition
    return doc(statement)


EXACT = grant("ec2:ModifyInstanceAttribute", "ec2:DescribeInstances")
ADMIN_DOC = grant("*")
PASS_ANY = grant("iam:PassRole")
PASS_NAMED = grant("iam:PassRole", resource=f"arn:aws:iam::{ACCOUNT}:role/app-worker")


def app_role(name: str = "app", trust: str = SERVICE_TRUST, **props: Any) -> AnalyzerResource:
    """A role that is not a responder role (no purpose tag, no hint in its name)."""
    return res("aws:iam/role:Role", name, {"name": name, "assumeRolePolicy": trust,
                                           "arn": f"arn:aws:iam::{ACCOUNT}:role/{name}",
                                           **props})


def role_policy(role_name: str, policy: str, name: str = "") -> AnalyzerResource:
    return res("aws:iam/rolePolicy:RolePolicy", name or f"{role_name}-policy",
               {"role": role_name, "policy": policy})


def attach(role_name: str, managed: str) -> AnalyzerResource:
    return res("aws:iam/rolePolicyAttachment:RolePolicyAttachment", f"{role_name}-{managed}",
               {"role": role_name, "policyArn": f"arn:aws:iam::aws:policy/{managed}"})


def user(name: str) -> AnalyzerResource:
    return res("aws:iam/user:User", name, {"name": name})


def attach_user(user_name: str, managed: str) -> AnalyzerResource:
    return res("aws:iam/userPolicyAttachment:UserPolicyAttachment",
               f"{user_name}-{managed}",
               {"user": user_name, "policyArn": f"arn:aws:iam::aws:policy/{managed}"})


def access_key(user_name: str) -> AnalyzerResource:
    return res("aws:iam/accessKey:AccessKey", f"{user_name}-key", {"user": user_name})


def regional(region: str, *, manifest: bool = True, gd: bool = True, sh: bool = True,
             routes: tuple[str, ...] = ("aws.guardduty", "aws.securityhub"),
             target_arn: str | None = None) -> list[AnalyzerResource]:
    out: list[AnalyzerResource] = []
    if manifest:
        out.append(res("aws:ssm/parameter:Parameter", f"manifest-{region}",
                       {"name": "/ir-readiness/manifest", "type": "String"}, region))
    if gd:
        out.append(res("aws:guardduty/detector:Detector", f"det-{region}", {"enable": True},
                       region))
    if sh:
        out.append(res("aws:securityhub/account:Account", f"hub-{region}", {}, region))
    topic_arn = f"arn:aws:sns:{region}:{ACCOUNT}:ir-critical"
    out.append(res("aws:sns/topic:Topic", f"topic-{region}", {"arn": topic_arn}, region))
    for source in routes:
        rule_name = f"{source}-{region}"
        out.append(res("aws:cloudwatch/eventRule:EventRule", rule_name,
                       {"name": rule_name, "eventPattern": json.dumps({"source": [source]})},
                       region))
        out.append(res("aws:cloudwatch/eventTarget:EventTarget", f"{rule_name}-target",
                       {"rule": rule_name, "arn": target_arn or topic_arn}, region))
    return out


GD_FEATURES = ("S3_DATA_EVENTS", "EBS_MALWARE_PROTECTION", "RDS_LOGIN_EVENTS",
               "LAMBDA_NETWORK_LOGS", "RUNTIME_MONITORING")


def security_admin(regions: tuple[str, ...] = ("eu-west-1", "us-east-1"), *,
                   auto_enable: dict[str, str] | None = None,
                   features: dict[str, tuple[str, ...]] | None = None,
                   feature_mode: str = "ALL", hub: str = "CENTRAL",
                   linked: tuple[str, ...] | None = None,
                   service_enabled: bool = True) -> list[AnalyzerResource]:
    """A delegated administrator's organization configuration (security mode, detected
    from these resources): GuardDuty auto-enable and plans per region, Security Hub
    central configuration from the first region with an aggregator linking the others."""
    out: list[AnalyzerResource] = []
    for region in regions:
        mode = (auto_enable or {}).get(region, "ALL")
        if mode:
            out.append(res("aws:guardduty/organizationConfiguration:OrganizationConfiguration",
                           f"gd-org-{region}", {"detectorId": f"det-{region}",
                                                "autoEnableOrganizationMembers": mode}, region))
        for f in (features or {}).get(region, GD_FEATURES):
            out.append(res("aws:guardduty/organizationConfigurationFeature:"
                           "OrganizationConfigurationFeature", f"gd-org-{region}-{f.lower()}",
                           {"detectorId": f"det-{region}", "name": f,
                            "autoEnable": feature_mode}, region))
    home = regions[0]
    if hub == "CENTRAL":
        out += [
            res("aws:securityhub/organizationConfiguration:OrganizationConfiguration", "hub-org",
                {"autoEnable": False, "autoEnableStandards": "NONE",
                 "organizationConfiguration": {"configurationType": "CENTRAL"}}, home),
            res("aws:securityhub/configurationPolicy:ConfigurationPolicy", "hub-policy",
                {"id": "policy-1", "name": "org",
                 "configurationPolicy": {"serviceEnabled": service_enabled,
                                         "enabledStandardArns": ["arn:std"]}}, home),
            res("aws:securityhub/configurationPolicyAssociation:ConfigurationPolicyAssociation",
                "hub-root", {"policyId": "policy-1", "targetId": "r-ab12"}, home),
            res("aws:securityhub/findingAggregator:FindingAggregator", "hub-aggregator",
                {"linkingMode": "SPECIFIED_REGIONS",
                 "specifiedRegions": list(regions[1:] if linked is None else linked)}, home),
        ]
    elif hub == "LOCAL":
        out += [res("aws:securityhub/organizationConfiguration:OrganizationConfiguration",
                    f"hub-org-{region}", {"autoEnable": True}, region) for region in regions]
    return out


LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
TOPIC = "aws:sns/topic:Topic"
KEY = "aws:kms/key:Key"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"


def cis_monitoring(*, skip: str = "", silent: str = "",
                   group_name: str = "t") -> list[AnalyzerResource]:
    """A trail, its log group and the CIS filters + alarms on it (the project's own
    patterns), less the control `skip`; the alarm of `silent` notifies nobody."""
    from components.audit_trail import CIS_CONTROLS

    out = trail() + [res(LOG_GROUP, "trail-logs", {
        "name": group_name, "arn": f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:{group_name}"})]
    for control in CIS_CONTROLS:
        if control.key == skip:
            continue
        metric = control.key.title().replace("-", "")
        out.append(res("aws:cloudwatch/logMetricFilter:LogMetricFilter", f"cis-{control.key}", {
            "logGroupName": group_name, "pattern": control.pattern,
            "metricTransformation": {"name": metric, "namespace": "ir-readiness/CIS",
                                     "value": "1"}}))
        out.append(res(ALARM, f"cis-{control.key}-alarm", {
            "namespace": "ir-readiness/CIS", "metricName": metric, "threshold": 1,
            "comparisonOperator": "GreaterThanOrEqualToThreshold",
            "alarmActions": [] if control.key == silent else [HIGH_TOPIC]}))
    return out


HIGH_TOPIC = f"arn:aws:sns:eu-west-1:{ACCOUNT}:ir-readiness-high"
ALERT_PATH_TOPIC = f"arn:aws:sns:eu-west-1:{ACCOUNT}:ir-readiness-alert-path"
DLQ_ARN = f"arn:aws:sqs:eu-west-1:{ACCOUNT}:ir-readiness-alerts-dlq"


def alert_dlq(*, alarm_to: str | None = ALERT_PATH_TOPIC, threshold: float = 0
              ) -> list[AnalyzerResource]:
    """A rule target and a subscription dead-lettering into a queue, and the queue's alarm
    (`alarm_to` None: no alarm)."""
    out = [
        res("aws:sqs/queue:Queue", "dlq", {"name": "ir-readiness-alerts-dlq", "arn": DLQ_ARN},
            HOME_REGION),
        res(TOPIC, "high", {"arn": HIGH_TOPIC, "kmsMasterKeyId": KEY_ARN}, HOME_REGION),
        res(TOPIC, "alert-path", {"arn": ALERT_PATH_TOPIC, "kmsMasterKeyId": KEY_ARN},
            HOME_REGION),
        res("aws:cloudwatch/eventTarget:EventTarget", "rule-target", {
            "rule": "r", "arn": HIGH_TOPIC, "deadLetterConfig": {"arn": DLQ_ARN}}, HOME_REGION),
        res("aws:sns/topicSubscription:TopicSubscription", "sub", {
            "topic": HIGH_TOPIC, "protocol": "email", "endpoint": "soc@example.com",
            "redrivePolicy": json.dumps({"deadLetterTargetArn": DLQ_ARN})}, HOME_REGION),
    ]
    if alarm_to is not None:
        out.append(res(ALARM, "dlq-not-empty", {
            "namespace": "AWS/SQS", "metricName": "ApproximateNumberOfMessagesVisible",
            "dimensions": {"QueueName": "ir-readiness-alerts-dlq"}, "threshold": threshold,
            "comparisonOperator": "GreaterThanThreshold", "alarmActions": [alarm_to]},
            HOME_REGION))
    return out


VAULT_ARN = f"arn:aws:backup:{HOME_REGION}:{ACCOUNT}:backup-vault:ir-vault"
RESTORE_PLAN = "aws:backup/restoreTestingPlan:RestoreTestingPlan"
RESTORE_SELECTION = "aws:backup/restoreTestingSelection:RestoreTestingSelection"
REPORT_PLAN = "aws:backup/reportPlan:ReportPlan"


def restore_tested(*, include: tuple[str, ...] = (VAULT_ARN,), selection: bool = True,
                   plan_region: str = HOME_REGION) -> list[AnalyzerResource]:
    out = [res("aws:backup/vault:Vault", "vault", {"name": "ir-vault", "arn": VAULT_ARN},
               HOME_REGION),
           res(RESTORE_PLAN, "restore-test", {
               "name": "ir_vault_restore_test", "scheduleExpression": "cron(0 6 ? * MON *)",
               "recoveryPointSelection": {"algorithm": "LATEST_WITHIN_WINDOW",
                                          "includeVaults": list(include),
                                          "recoveryPointTypes": ["SNAPSHOT"]}}, plan_region)]
    if selection:
        out.append(res(RESTORE_SELECTION, "restore-test-ebs", {
            "name": "tagged_ebs", "restoreTestingPlanName": "ir_vault_restore_test",
            "protectedResourceType": "EBS", "validationWindowHours": 1}, plan_region))
    return out


def reports(templates: tuple[str, ...] = ("BACKUP_JOB_REPORT", "RESTORE_JOB_REPORT"),
            region: str = HOME_REGION) -> list[AnalyzerResource]:
    return [res("aws:backup/vault:Vault", "vault", {"name": "ir-vault"}, HOME_REGION),
            *(res(REPORT_PLAN, f"report-{t.lower()}", {
                "reportSetting": {"reportTemplate": t},
                "reportDeliveryChannel": {"s3BucketName": "logs", "formats": ["CSV"]}}, region)
              for t in templates)]


PEOPLE_TRUST = doc({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/OnCall"},
                    "Action": "sts:AssumeRole"})
SERVICE_TRUST = doc({"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                     "Action": "sts:AssumeRole"})
SUPPORT_ACCESS = "arn:aws:iam::aws:policy/AWSSupportAccess"


def support_role(trust: str = PEOPLE_TRUST, policy: str = SUPPORT_ACCESS
                 ) -> list[AnalyzerResource]:
    return [res("aws:iam/role:Role", "support", {"name": "ir-support", "assumeRolePolicy": trust}),
            res("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "support-access",
                {"role": "ir-support", "policyArn": policy})]


def shield(*, association: bool = True, contacts: bool = True) -> list[AnalyzerResource]:
    out = [res("aws:shield/protection:Protection", "protection", {
        "name": "site", "resourceArn": "arn:aws:cloudfront::123456789012:distribution/E1"},
        "us-east-1")]
    if association:
        out.append(res("aws:shield/drtAccessRoleArnAssociation:DrtAccessRoleArnAssociation",
                       "srt", {"roleArn": f"arn:aws:iam::{ACCOUNT}:role/srt"}, "us-east-1"))
    out.append(res("aws:shield/proactiveEngagement:ProactiveEngagement", "engagement", {
        "enabled": True,
        "emergencyContacts": [{"emailAddress": "soc@example.com"}] if contacts else []},
        "us-east-1"))
    return out


# --------------------------------------------------------------------------- cases


@dataclass
class Case:
    policy: str
    compliant: list[AnalyzerResource]
    violating: list[AnalyzerResource]
    #: name of the resource the violation must concern ("" = the stack)
    concerns: str
    config: dict[str, Any] = field(default_factory=dict)



CASES = [
    # CloudTrail
    Case("cloudtrail-multi-region", trail(), trail(isMultiRegionTrail=False), "trail"),
    Case("cloudtrail-log-file-validation", trail(), trail(enableLogFileValidation=False),
         "trail"),
    Case("cloudtrail-kms-encryption", trail(), trail(kmsKeyId=""), "trail"),
    Case("cloudtrail-cloudwatch-logs", trail(), trail(cloudWatchLogsGroupArn=None), "trail"),
    Case("cloudtrail-logging-enabled", trail(enableLogging=True), trail(enableLogging=False),
         "trail"),
    Case("cloudtrail-global-service-events", trail(),
         trail(includeGlobalServiceEvents=False), "trail"),
    # S3
    Case("s3-block-public-access", bucket_set(), bucket_set(pab={"restrictPublicBuckets": False}),
         "ev-pab"),
    Case("s3-sse-kms", bucket_set(), bucket_set(sse={"sseAlgorithm": "AES256"}), "ev"),
    Case("s3-versioning", bucket_set(), bucket_set(versioning="Suspended"), "ev"),
    Case("s3-tls-only", bucket_set(), bucket_set(policy=None), "ev"),
    Case("s3-object-lock-retention", bucket_set(), bucket_set(retention_days=30), "ev"),
    # GuardDuty
    Case("guardduty-detector-enabled", detector(), detector(enable=False),
         f"detector-{HOME_REGION}"),
    Case("guardduty-finding-frequency", detector(), detector(frequency=None),
         f"detector-{HOME_REGION}"),
    Case("guardduty-required-features", detector(),
         detector(features=("S3_DATA_EVENTS", "RUNTIME_MONITORING")), f"detector-{HOME_REGION}"),
    # Security Hub
    Case("securityhub-explicit-standards", hub(), hub(defaults=True), f"hub-{HOME_REGION}"),
    Case("securityhub-required-standards", hub(),
         hub(standards=("cis-aws-foundations-benchmark/v/1.2.0",)), f"hub-{HOME_REGION}"),
    # Backup
    Case("backup-vault-cmk", backup(), backup(kms=False), "vault"),
    Case("backup-vault-lock", backup(), backup(lock_days=None), "vault"),
    Case("backup-plan-selection", backup(), backup(selection=False), "plan"),
    Case("backup-restore-testing", restore_tested(), restore_tested(selection=False), "vault"),
    Case("backup-audit-reports", reports(), reports(("BACKUP_JOB_REPORT",)), "vault"),
    # Support (issue 19, section 6)
    Case("support-role-present", support_role(), support_role(trust=SERVICE_TRUST), "support"),
    Case("shield-response-team-access", shield(), shield(contacts=False), "protection"),
    # Quarantine
    Case("quarantine-isolation-no-rules", [isolation(), conversion()],
         [isolation(egress=[ALL_TRAFFIC]), conversion()], "vpc-1-isolation"),
    Case("quarantine-isolation-per-vpc", [isolation("vpc-1"), conversion("vpc-1")],
         [isolation("vpc-1"), conversion("vpc-1"), conversion("vpc-2")], "vpc-2-conversion"),
    # Recording (issue 19, section 4)
    Case("config-recorder-per-region", recorders(), recorders(on={"us-east-1": False}),
         "cfg-status-us-east-1"),
    Case("flow-logs-quarantine-vpcs", [isolation("vpc-1"), flow_log("vpc-1")],
         [isolation("vpc-1"), flow_log("vpc-1", traffic="REJECT")], "flow-log-vpc-1"),
    Case("s3-access-logging-log-buckets",
         bucket_set("ev") + access_log_bucket("ev"), bucket_set("ev"), "ev"),
    # SNS
    Case("sns-topic-cmk", [res(TOPIC, "alerts", {"kmsMasterKeyId": KEY_ARN})],
         [res(TOPIC, "alerts", {"kmsMasterKeyId": "alias/aws/sns"})], "alerts"),
    Case("sns-topic-policy-service-principals",
         [res(TOPIC, "alerts", {"kmsMasterKeyId": KEY_ARN, "policy": SNS_POLICY_OK})],
         [res("aws:sns/topicPolicy:TopicPolicy", "alerts-policy", {"arn": "t", "policy": doc(
             {"Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"},
              "Action": "sns:Publish", "Resource": "*"})})], "alerts-policy"),
    # KMS
    Case("kms-key-rotation", [res(KEY, "key", {"enableKeyRotation": True})],
         [res(KEY, "key", {"enableKeyRotation": False})], "key"),
    Case("kms-no-wildcard-admin", [res(KEY, "key", {"policy": KEY_POLICY_OK})],
         [res(KEY, "key", {"policy": doc({"Effect": "Allow", "Principal": {"AWS": "*"},
                                         "Action": "kms:*", "Resource": "*"})})], "key"),
    # IAM
    Case("iam-responder-trust", [role()], [role(assumeRolePolicy=doc(
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/alice"},
         "Action": "sts:AssumeRole"}))], "ir-responder"),
    Case("iam-responder-max-session", [role()], [role(maxSessionDuration=43200)],
         "ir-responder"),
    Case("iam-responder-no-wildcard-action", [role()],
         [role(), res("aws:iam/rolePolicy:RolePolicy", "extra",
                      {"role": "ir-responder", "policy": doc(
                          {"Effect": "Allow", "Action": "s3:*", "Resource": "*"})})], "extra"),
    # IAM anywhere in the stack (not only responder roles)
    Case("iam-no-public-trust", [app_role(trust=OPEN_TRUST_IN_ORG)],
         [app_role(trust=OPEN_TRUST)], "app"),
    Case("iam-no-admin-actions", [app_role(), role_policy("app", EXACT)],
         [app_role(), role_policy("app", ADMIN_DOC)], "app-policy"),
    Case("iam-passrole-scoped", [app_role(), role_policy("app", PASS_NAMED)],
         [app_role(), role_policy("app", PASS_ANY)], "app-policy"),
    Case("iam-no-privilege-escalation", [app_role(), role_policy("app", EXACT)],
         [app_role(), role_policy("app", grant("iam:CreateAccessKey"))], "app"),
    Case("iam-admin-not-trusted-outside",
         [app_role(trust=OWN_ACCOUNT_TRUST), attach("app", "AdministratorAccess")],
         [app_role(trust=OTHER_ACCOUNT_TRUST), attach("app", "AdministratorAccess")], "app"),
    Case("iam-no-admin-user-keys", [user("ops"), attach_user("ops", "AdministratorAccess")],
         [user("ops"), attach_user("ops", "AdministratorAccess"), access_key("ops")],
         "ops-key"),
    # CloudWatch Logs
    Case("logs-retention", [res(LOG_GROUP, "lg", {"retentionInDays": 365, "kmsKeyId": KEY_ARN})],
         [res(LOG_GROUP, "lg", {"retentionInDays": 30, "kmsKeyId": KEY_ARN})], "lg"),
    Case("logs-kms", [res(LOG_GROUP, "lg", {"retentionInDays": 365, "kmsKeyId": KEY_ARN})],
         [res(LOG_GROUP, "lg", {"retentionInDays": 365})], "lg"),
    # Stack level: two regions, one missing a piece
    Case("readiness-manifest-per-region", regional("eu-west-1") + regional("us-east-1"),
         regional("eu-west-1") + regional("us-east-1", manifest=False), ""),
    Case("guardduty-detector-per-region", regional("eu-west-1") + regional("us-east-1"),
         regional("eu-west-1") + regional("us-east-1", gd=False), ""),
    Case("securityhub-per-region", regional("eu-west-1") + regional("us-east-1"),
         regional("eu-west-1") + regional("us-east-1", sh=False), ""),
    Case("findings-routed-per-region", regional("eu-west-1") + regional("us-east-1"),
         regional("eu-west-1") + regional(
             "us-east-1", target_arn=f"arn:aws:sqs:us-east-1:{ACCOUNT}:q"), ""),
    # Organization mode (management stack, detected from the delegated-admin registration)
    Case("organization-trail",
         [res("aws:guardduty/organizationAdminAccount:OrganizationAdminAccount", "admin",
              {"adminAccountId": "222222222222"}, "eu-west-1"),
          res("aws:cloudtrail/trail:Trail", "org", {"isOrganizationTrail": True,
                                                    "isMultiRegionTrail": True}, "eu-west-1")],
         [res("aws:guardduty/organizationAdminAccount:OrganizationAdminAccount", "admin",
              {"adminAccountId": "222222222222"}, "eu-west-1"),
          res("aws:cloudtrail/trail:Trail", "org", {"isOrganizationTrail": True,
                                                    "isMultiRegionTrail": False}, "eu-west-1")],
         "org"),
    # Organization mode (security stack, detected from the organization configuration)
    Case("guardduty-organization-auto-enable", security_admin(),
         security_admin(auto_enable={"us-east-1": "NEW"}), "gd-org-us-east-1"),
    Case("guardduty-organization-features", security_admin(),
         security_admin(features={"us-east-1": GD_FEATURES[:2]}), ""),
    Case("securityhub-organization-configuration", security_admin(),
         security_admin(linked=()), ""),
    # Alerting that cannot fail silently
    Case("alerting-cis-alarms", cis_monitoring(), cis_monitoring(skip="root-account-usage"),
         "trail"),
    Case("alerting-dead-letter-alarm", alert_dlq(), alert_dlq(alarm_to=None), "dlq"),
]


def test_every_rule_has_a_case() -> None:
    assert sorted(c.policy for c in CASES) == sorted(REGISTRY)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.policy)
def test_rule_passes_compliant_and_flags_violating(pack: PolicyPackProcess, case: Case) -> None:
    assert violations(pack, case.compliant, case.policy) == []
    found = violations(pack, case.violating, case.policy)
    assert found, f"{case.policy} did not flag the violating resources"
    expected_urns = {r.urn for r in case.violating if r.name == case.concerns}
    if case.concerns:
        assert {d.urn for d in found} & expected_urns, [d.urn for d in found]
    else:
        assert any("us-east-1" in d.message for d in found), [d.message for d in found]
    info = REGISTRY[case.policy]
    assert all(d.enforcement == info.enforcement for d in found)
    assert all(info.remediation in d.message for d in found)


# --------------------------------------------------------------------------- specifics


def test_tls_only_rule_flags_public_allow(pack: PolicyPackProcess) -> None:
    public = doc({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                  "Resource": "arn:aws:s3:::ev/*"})
    found = violations(pack, bucket_set(policy=doc(*json.loads(TLS_ONLY)["Statement"],
                                                   *json.loads(public)["Statement"])),
                       "s3-tls-only")
    assert any("Principal '*'" in d.message for d in found)


def test_object_lock_applies_to_trail_bucket_without_tags(pack: PolicyPackProcess) -> None:
    resources = bucket_set("plain-logs", purpose="", lock=False) + trail(s3BucketName="plain-logs")
    found = violations(pack, resources, "s3-object-lock-retention")
    assert [d.urn for d in found] == [resources[0].urn]
    ordinary = bucket_set("app-data", purpose="", lock=False)
    assert violations(pack, ordinary, "s3-object-lock-retention") == []


def test_isolation_group_without_explicit_egress_is_flagged(pack: PolicyPackProcess) -> None:
    group = isolation()
    props = {k: v for k, v in group.properties.items() if k != "egress"}
    found = violations(pack, [res(group.type, group.name, props)],
                       "quarantine-isolation-no-rules")
    assert any("egress=[]" in d.message for d in found)


def test_isolation_rule_attached_separately_is_flagged(pack: PolicyPackProcess) -> None:
    rule = res("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule", "leak",
               {"securityGroupId": "sg-iso-vpc-1", "ipProtocol": "-1", "cidrIpv4": "0.0.0.0/0"})
    found = violations(pack, [isolation(), rule], "quarantine-isolation-no-rules")
    assert [d.urn for d in found] == [rule.urn]


def test_trust_wildcard_principal_is_flagged(pack: PolicyPackProcess) -> None:
    bad = role(assumeRolePolicy=doc({"Effect": "Allow", "Principal": {"AWS": "*"},
                                     "Action": "sts:AssumeRole"}))
    found = violations(pack, [bad], "iam-responder-trust")
    assert any("any principal" in d.message for d in found)


def test_non_responder_roles_are_out_of_scope(pack: PolicyPackProcess) -> None:
    lambda_role = res("aws:iam/role:Role", "app-fn", {
        "name": "app-fn", "maxSessionDuration": 43200,
        "assumeRolePolicy": doc({"Effect": "Allow", "Principal": {"AWS": "*"},
                                 "Action": "sts:AssumeRole"})})
    for policy in ("iam-responder-trust", "iam-responder-max-session"):
        assert violations(pack, [lambda_role], policy) == []


def test_region_comes_from_explicit_provider_then_default_config(pack: PolicyPackProcess) -> None:
    # us-east-1 resources through a provider; eu-west-1 ones through the default provider
    # (aws:region in the stack config the pack was started with).
    home = [r if r.type != "aws:guardduty/detector:Detector" else
            res(r.type, r.name, r.properties) for r in regional("eu-west-1")]
    default_only = [res(r.type, r.name, r.properties) for r in regional("eu-west-1")]
    assert violations(pack, default_only, "guardduty-detector-per-region") == []
    mixed = home + regional("us-east-1", gd=False)
    found = violations(pack, mixed, "guardduty-detector-per-region")
    assert [d.message.splitlines()[1] for d in found] == [
        "region us-east-1 has no enabled GuardDuty detector"]


def test_v7_per_resource_region_input_wins(pack: PolicyPackProcess) -> None:
    moved = [res(r.type, r.name, {**r.properties, "region": "ap-south-1"}, "us-east-1")
             if r.type == "aws:securityhub/account:Account" else r
             for r in regional("us-east-1")]
    found = violations(pack, moved, "securityhub-per-region")
    assert [d.message.splitlines()[1] for d in found] == [
        "region us-east-1 has no Security Hub account"]


# --------------------------------------------------------------------------- config


def test_config_threshold_changes_the_verdict(configured: PolicyPackProcess) -> None:
    group = [res(LOG_GROUP, "lg", {"retentionInDays": 365, "kmsKeyId": KEY_ARN})]
    assert violations(configured, group, "logs-retention") == []
    configured.configure({"logs-retention": {"minRetentionDays": 400}})
    found = violations(configured, group, "logs-retention")
    assert found and "at least 400 required" in found[0].message


def test_config_sets_enforcement_level(configured: PolicyPackProcess) -> None:
    configured.configure({"logs-kms": "mandatory", "cloudtrail-multi-region": "disabled"})
    assert violations(configured, [res(LOG_GROUP, "lg", {"retentionInDays": 365})],
                      "logs-kms")[0].enforcement == "mandatory"
    assert violations(configured, trail(isMultiRegionTrail=False),
                      "cloudtrail-multi-region") == []


def test_stack_regions_from_config(configured: PolicyPackProcess) -> None:
    configured.configure({"securityhub-per-region": {"regions": ["eu-west-1", "sa-east-1"]}})
    found = violations(configured, regional("eu-west-1"), "securityhub-per-region")
    assert [d.message.splitlines()[1] for d in found] == [
        "region sa-east-1 has no Security Hub account"]


@pytest.mark.parametrize(("config", "expected"), [
    ({"logs-retention": {"minRetentionDays": "ninety"}},
     "'logs-retention' is invalid: minRetentionDays: 'ninety' is not of type 'integer'"),
    ({"logs-retention": {"minRetentionDay": 90}},
     "Additional properties are not allowed ('minRetentionDay' was unexpected)"),
    ({"guardduty-finding-frequency": {"maxFrequency": "HOURLY"}},
     "'HOURLY' is not one of ['FIFTEEN_MINUTES', 'ONE_HOUR', 'SIX_HOURS']"),
    ({"no-such-policy": "mandatory"}, "unknown policies ['no-such-policy']"),
    ({"kms-key-rotation": "strict"}, "enforcementLevel 'strict' is not one of"),
    ({"all": {"enforcementLevel": "loud"}}, "'all': enforcementLevel 'loud'"),
    ({"logs-kms": 3}, "must be an enforcement level string or an object"),
])
def test_malformed_policy_config_is_a_clear_error(configured: PolicyPackProcess,
                                                  config: dict[str, Any], expected: str) -> None:
    with pytest.raises(PolicyConfigError) as err:
        configured.configure(config)
    assert expected in str(err.value)


def test_pack_metadata_over_the_protocol(pack: PolicyPackProcess) -> None:
    infos = {p.name: p for p in pack.policies()}
    assert set(infos) == set(REGISTRY)
    for name, info in REGISTRY.items():
        remote = infos[name]
        assert (remote.enforcement, remote.severity, remote.kind) == (
            info.enforcement, info.severity, info.kind)
        assert remote.remediation == info.remediation
        assert set(remote.config_schema.get("properties", {})) == set(info.config)


def _topic_policy(principal: str) -> AnalyzerResource:
    topic_arn = f"arn:aws:sns:eu-west-1:{ACCOUNT}:ir-critical"
    return res("aws:sns/topicPolicy:TopicPolicy", "alerts-policy", {"arn": topic_arn, "policy": doc(
        {"Sid": "Manage", "Effect": "Allow", "Principal": {"AWS": principal},
         "Action": ["SNS:Subscribe", "SNS:Publish"], "Resource": topic_arn},
        json.loads(SNS_POLICY_OK)["Statement"][0])})


def test_topic_policy_own_account_is_allowed_other_accounts_are_not(
        configured: PolicyPackProcess) -> None:
    rule = "sns-topic-policy-service-principals"
    assert violations(configured, [_topic_policy(f"arn:aws:iam::{ACCOUNT}:root")], rule) == []
    found = violations(configured, [_topic_policy("arn:aws:iam::999999999999:root")], rule)
    assert any("999999999999" in d.message for d in found)
    configured.configure({rule: {"allowOwnAccount": False}})
    assert violations(configured, [_topic_policy(f"arn:aws:iam::{ACCOUNT}:root")], rule)


def test_split_bucket_settings_follow_property_dependencies(pack: PolicyPackProcess) -> None:
    """In a real preview a new bucket's id is unknown; the engine links the settings to
    the bucket through property dependencies, and the S3 rules follow them."""
    resources = bucket_set("ev")
    bucket = resources[0]
    linked = [bucket] + [
        AnalyzerResource(urn=r.urn, type=r.type, name=r.name,
                         properties={**r.properties, "bucket": "not-the-bucket-name"},
                         property_dependencies={"bucket": (bucket.urn,)})
        for r in resources[1:]]
    unlinked = [bucket] + [
        AnalyzerResource(urn=r.urn, type=r.type, name=r.name,
                         properties={**r.properties, "bucket": "not-the-bucket-name"})
        for r in resources[1:]]
    for policy in ("s3-block-public-access", "s3-sse-kms", "s3-versioning",
                   "s3-object-lock-retention"):
        assert violations(pack, linked, policy) == [], policy
        assert violations(pack, unlinked, policy), policy


def test_routing_matches_rules_in_the_targets_region(pack: PolicyPackProcess) -> None:
    """Rule names repeat in every region; a target only routes its own region's rule."""
    resources: list[AnalyzerResource] = []
    for region in ("eu-west-1", "us-east-1"):
        topic = f"arn:aws:sns:{region}:{ACCOUNT}:ir-critical"
        resources.append(res(TOPIC, f"topic-{region}", {"arn": topic}, region))
        for source in ("aws.guardduty", "aws.securityhub"):
            resources.append(res("aws:cloudwatch/eventRule:EventRule", f"{source}-{region}", {
                "name": f"ir-{source}", "eventPattern": json.dumps({"source": [source]})},
                region))
            if region == "eu-west-1":
                resources.append(res("aws:cloudwatch/eventTarget:EventTarget",
                                     f"{source}-{region}-target",
                                     {"rule": f"ir-{source}", "arn": topic}, region))
    found = violations(pack, resources, "findings-routed-per-region")
    assert sorted(d.message.splitlines()[1] for d in found) == [
        "region us-east-1 has no EventBridge rule routing aws.guardduty findings to SNS",
        "region us-east-1 has no EventBridge rule routing aws.securityhub findings to SNS"]


def test_guardduty_export_bucket_needs_object_lock(pack: PolicyPackProcess) -> None:
    bucket = bucket_set("findings-export", purpose="", lock=False)
    destination = res("aws:guardduty/publishingDestination:PublishingDestination", "export", {
        "detectorId": "det-1", "destinationType": "S3",
        "destinationArn": "arn:aws:s3:::findings-export/guardduty", "kmsKeyArn": KEY_ARN})
    found = violations(pack, bucket + [destination], "s3-object-lock-retention")
    assert [d.urn for d in found] == [bucket[0].urn]


def test_a_pack_that_fails_to_start_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "PulumiPolicy.yaml").write_text("name: broken\nruntime: python\n")
    (tmp_path / "__main__.py").write_text("raise RuntimeError('rules module missing')\n")
    with pytest.raises(PackStartError) as err:
        PolicyPackProcess.start(tmp_path)
    assert "did not print its port" in str(err.value)
    assert "rules module missing" in str(err.value)


UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # the engine's unknown-string sentinel


@pytest.mark.parametrize(("policy", "resource"), [
    ("cloudtrail-kms-encryption", trail(kmsKeyId=UNKNOWN)[0]),
    ("cloudtrail-cloudwatch-logs", trail(cloudWatchLogsGroupArn=UNKNOWN,
                                         cloudWatchLogsRoleArn=UNKNOWN)[0]),
    ("logs-kms", res(LOG_GROUP, "lg", {"retentionInDays": 365, "kmsKeyId": UNKNOWN})),
    ("sns-topic-cmk", res(TOPIC, "alerts", {"kmsMasterKeyId": UNKNOWN})),
    ("backup-vault-cmk", res("aws:backup/vault:Vault", "vault", {"kmsKeyArn": UNKNOWN})),
])
def test_values_unknown_during_preview_count_as_set(pack: PolicyPackProcess, policy: str,
                                                    resource: AnalyzerResource) -> None:
    """A key ARN computed by another new resource is unknown in `pulumi preview`: set,
    so neither a violation nor a "can't run policy during preview" notice."""
    assert [d for d in pack.analyze(resource) if d.policy == policy] == []


def test_unknown_value_a_rule_must_read_is_reported_as_such(pack: PolicyPackProcess) -> None:
    found = [d for d in pack.analyze(trail(isMultiRegionTrail=UNKNOWN)[0])
             if d.policy == "cloudtrail-multi-region"]
    # the rule cannot decide: the SDK reports it as advisory "can't run during preview"
    assert found and "during preview" in found[0].message
    assert found[0].enforcement == "advisory"


def test_readme_rule_table_matches_the_pack() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Code review: policy pack and credential-free preview", 1)[1]
    section = section.split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        if line.startswith("| `"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            rows[cells[0].strip("`")] = (cells[1], cells[2])
    assert rows == {name: (info.enforcement, info.severity) for name, info in REGISTRY.items()}


def test_manifest_must_describe_its_own_region(pack: PolicyPackProcess) -> None:
    def manifest(region: str, described: str, version: int = 1) -> AnalyzerResource:
        return res("aws:ssm/parameter:Parameter", f"manifest-{region}", {
            "name": "/ir-readiness/manifest", "type": "String",
            "value": json.dumps({"version": version, "region": described,
                                 "accountId": ACCOUNT})}, region)
    rule = "readiness-manifest-per-region"
    assert violations(pack, [manifest("eu-west-1", "eu-west-1")], rule) == []
    wrong = manifest("us-east-1", "eu-west-1")
    found = violations(pack, [manifest("eu-west-1", "eu-west-1"), wrong], rule)
    assert [d.urn for d in found] == [wrong.urn]
    assert "describes region 'eu-west-1'" in found[0].message
    old = manifest("eu-west-1", "eu-west-1", version=2)
    assert [d.urn for d in violations(pack, [old], rule)] == [old.urn]


def test_local_policy_descriptions_match_what_the_pack_serves(pack: PolicyPackProcess) -> None:
    """The preview validates policy config before evaluating, from the local rules; the
    pack serves the same schemas over GetAnalyzerInfo."""
    local = {p.name: p for p in local_policies()}
    for remote in pack.policies():
        mine = local[remote.name]
        assert (mine.enforcement, mine.severity, mine.kind) == (
            remote.enforcement, remote.severity, remote.kind)
        assert mine.config_schema.get("properties", {}) == remote.config_schema.get(
            "properties", {})


def test_a_rule_that_raises_is_reported_not_hidden(tmp_path: Path) -> None:
    (tmp_path / "PulumiPolicy.yaml").write_text("name: raising\nruntime: python\n")
    (tmp_path / "__main__.py").write_text(
        "from pulumi_policy import PolicyPack, ResourceValidationPolicy\n"
        "def boom(args, report):\n"
        "    raise ValueError('rule bug: cannot read ' + args.name)\n"
        "PolicyPack('raising', [ResourceValidationPolicy('boom', 'always raises', boom)])\n")
    with PolicyPackProcess.start(tmp_path) as broken:
        broken.configure({})
        with pytest.raises(PackCallError) as err:
            broken.analyze(trail()[0])
    assert "Analyze on urn:pulumi:test::proj::aws:cloudtrail/trail:Trail::trail" in str(err.value)
    assert "rule bug: cannot read trail" in str(err.value)


def test_member_accounts_may_forward_findings_to_a_security_bus(
        configured: PolicyPackProcess) -> None:
    bus = "arn:aws:events:eu-west-1:210987654321:event-bus/ir-security"
    forwarding = regional("eu-west-1", target_arn=bus)
    rule = "findings-routed-per-region"
    found = violations(configured, forwarding, rule)
    assert found and "to SNS" in found[0].message
    configured.configure({rule: {"targetServices": ["sns", "events"]}})
    assert violations(configured, forwarding, rule) == []


def test_security_mode_reports_every_gap_of_the_organization_configuration(
        pack: PolicyPackProcess) -> None:
    gd, feat, hub = ("guardduty-organization-auto-enable", "guardduty-organization-features",
                     "securityhub-organization-configuration")
    # a region without any organization configuration: named, stack-level
    missing = security_admin(auto_enable={"us-east-1": ""})
    found = violations(pack, missing, gd)
    assert len(found) == 1 and not found[0].urn
    assert ("region us-east-1 has no GuardDuty organization configuration auto-enabling ALL "
            "member accounts: new and existing accounts there get no detector"
            in found[0].message)
    # NONE is reported on the resource and for the region
    found = violations(pack, security_admin(auto_enable={"eu-west-1": "NONE"}), gd)
    assert {d.urn for d in found} == {"", res(
        "aws:guardduty/organizationConfiguration:OrganizationConfiguration",
        "gd-org-eu-west-1", {}).urn}
    # plans only for NEW accounts are not auto-enabled for ALL
    found = violations(pack, security_admin(feature_mode="NEW"), feat)
    assert len(found) == 2 and "RUNTIME_MONITORING" in found[0].message
    # the runtime-monitoring equivalence of guardduty-required-features holds here too
    eks = tuple(f if f != "RUNTIME_MONITORING" else "EKS_RUNTIME_MONITORING"
                for f in GD_FEATURES)
    assert violations(pack, security_admin(features={"eu-west-1": eks, "us-east-1": eks}),
                      feat) == []
    # central configuration with a policy that does not enable Security Hub
    found = violations(pack, security_admin(service_enabled=False), hub)
    assert any("no ConfigurationPolicy with service_enabled=True" in d.message for d in found)
    # LOCAL auto-enable per region counts; none at all is reported per region
    assert violations(pack, security_admin(hub="LOCAL"), hub) == []
    found = violations(pack, security_admin(hub="NONE"), hub)
    assert len(found) == 2
    assert all(f"region {r}: Security Hub is not enabled for member accounts" in d.message
               for d, r in zip(found, ("eu-west-1", "us-east-1"), strict=True))
    # the same graph without organization resources is a single stack: no check
    assert violations(pack, regional("eu-west-1"), gd) == []
    assert violations(pack, regional("eu-west-1"), hub) == []


def test_security_component_alone_means_security_mode(pack: PolicyPackProcess) -> None:
    """The DelegatedSecurityAdmin component without any organization configuration (the
    whole thing forgotten): security mode, every region reported."""
    component = res("ir-readiness:index:DelegatedSecurityAdmin", "admin", {})
    graph = [component, *regional("eu-west-1"), *regional("us-east-1")]
    for rule in ("guardduty-organization-auto-enable", "guardduty-organization-features",
                 "securityhub-organization-configuration"):
        found = violations(pack, graph, rule)
        assert found, rule
        for region in ("eu-west-1", "us-east-1"):
            assert any(f"region {region}" in d.message for d in found), (rule, region)


MEMBER_COMPONENT = res("ir-readiness:index:MemberBaseline", "member", {})
SECURITY_ACCOUNT = "222222222222"


def forwarding(region: str, bus_account: str, *, role_account: str = ACCOUNT,
               bus: str = "ir-readiness-org") -> list[AnalyzerResource]:
    """A member's findings rules forwarding to `bus_account`'s bus with a role of the
    member account (the account of the rule)."""
    out: list[AnalyzerResource] = []
    for source in ("aws.guardduty", "aws.securityhub"):
        name = f"{source}-{region}"
        out.append(res("aws:cloudwatch/eventRule:EventRule", name,
                       {"name": name, "eventPattern": json.dumps({"source": [source]})},
                       region))
        out.append(res("aws:cloudwatch/eventTarget:EventTarget", f"{name}-target", {
            "rule": name, "arn": f"arn:aws:events:{region}:{bus_account}:event-bus/{bus}",
            "roleArn": f"arn:aws:iam::{role_account}:role/forwarder"}, region))
    return out


def test_member_forwarding_must_reach_another_account(configured: PolicyPackProcess) -> None:
    rule = "findings-routed-per-region"
    good = [MEMBER_COMPONENT, *forwarding("eu-west-1", SECURITY_ACCOUNT)]
    assert violations(configured, good, rule) == []
    # the member's own default bus (same account as the target's role): not routed
    own = [MEMBER_COMPONENT, *forwarding("eu-west-1", ACCOUNT, bus="default")]
    found = violations(configured, own, rule)
    by_target = [d for d in found if d.urn]
    assert len(by_target) == 2
    assert all(f"a bus in the member account itself ({ACCOUNT})" in d.message
               for d in by_target)
    assert any("no EventBridge rule routing aws.guardduty findings to the security "
               "account's event bus" in d.message for d in found if not d.urn)
    # own account known from the manifest instead of the role
    manifest = res("aws:ssm/parameter:Parameter", "manifest", {
        "name": "/ir-readiness/manifest", "type": "String",
        "value": json.dumps({"version": 1, "region": "eu-west-1", "accountId": ACCOUNT})},
        "eu-west-1")
    no_role = [MEMBER_COMPONENT, manifest,
               *forwarding("eu-west-1", ACCOUNT, role_account="x")]
    assert [d for d in violations(configured, no_role, rule) if d.urn]
    # a bus the member stack declares itself: its own account, whatever the ARN
    bus = res("aws:cloudwatch/eventBus:EventBus", "local-bus",
              {"name": "local", "arn": f"arn:aws:events:eu-west-1:{SECURITY_ACCOUNT}:"
                                       "event-bus/ir-readiness-org"}, "eu-west-1")
    found = violations(configured, [*good, bus], rule)
    assert any("an event bus this stack declares" in d.message for d in found)
    # with the security account configured, a third account's bus does not count
    configured.configure({rule: {"securityAccountId": SECURITY_ACCOUNT}})
    assert violations(configured, good, rule) == []
    third = [MEMBER_COMPONENT, *forwarding("eu-west-1", "333333333333")]
    found = violations(configured, third, rule)
    assert any(f"not the security account {SECURITY_ACCOUNT}" in d.message for d in found)


# --------------------------------------------------------------------------- IAM anywhere
# Each dangerous shape on a role, user or policy the responder rules do not recognise,
# bad and good, with the enforcement it must carry: mandatory where it opens the
# account, advisory where it widens what a principal of the account can do.


def _found(pack: PolicyPackProcess, resources: list[AnalyzerResource], policy: str,
           enforcement: str) -> list[str]:
    found = violations(pack, resources, policy)
    assert all(d.enforcement == enforcement for d in found), found
    return [d.urn for d in found]


@pytest.mark.parametrize("trust", [
    OPEN_TRUST,
    doc({"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"}),
    # a negated or IfExists operator does not narrow: a caller without the key gets in
    doc({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole",
         "Condition": {"StringNotEquals": {"aws:PrincipalOrgID": "o-abc123"}}}),
    doc({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole",
         "Condition": {"StringEqualsIfExists": {"aws:PrincipalAccount": ACCOUNT}}}),
    # a condition that names nobody
    doc({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole",
         "Condition": {"Bool": {"aws:SecureTransport": "true"}}}),
], ids=["aws-star", "bare-star", "negated", "if-exists", "unrelated-condition"])
def test_role_trusting_anyone_is_mandatory(pack: PolicyPackProcess, trust: str) -> None:
    bad = app_role(trust=trust)
    assert _found(pack, [bad], "iam-no-public-trust", "mandatory") == [bad.urn]


def test_resource_policies_trusting_anyone_are_caught_too(pack: PolicyPackProcess) -> None:
    queue = "arn:aws:sqs:eu-west-1:123456789012:q"
    open_queue = res("aws:sqs/queuePolicy:QueuePolicy", "q-policy", {"policy": doc(
        {"Effect": "Allow", "Principal": "*", "Action": "sqs:SendMessage", "Resource": queue})})
    source_bound = res("aws:sqs/queuePolicy:QueuePolicy", "q-policy", {"policy": doc(
        {"Effect": "Allow", "Principal": "*", "Action": "sqs:SendMessage", "Resource": queue,
         "Condition": {"ArnEquals": {"aws:SourceArn": "arn:aws:events:eu-west-1:1:rule/r"}}})})
    # a public Deny (the TLS-only statement) opens nothing
    tls_only = res("aws:s3/bucketPolicy:BucketPolicy", "b-policy", {"policy": TLS_ONLY})
    assert _found(pack, [open_queue], "iam-no-public-trust", "mandatory") == [open_queue.urn]
    assert _found(pack, [source_bound, tls_only], "iam-no-public-trust", "mandatory") == []


@pytest.mark.parametrize("bad_policy", [grant("*"), grant("iam:*"),
                                        grant("iam:*", resource=["*"])],
                         ids=["star", "iam-star", "iam-star-list"])
def test_admin_actions_in_an_inline_policy_are_advisory(pack: PolicyPackProcess,
                                                        bad_policy: str) -> None:
    bad = role_policy("app", bad_policy)
    assert _found(pack, [app_role(), bad], "iam-no-admin-actions", "advisory") == [bad.urn]
    inline = app_role(inlinePolicies=[{"name": "break-glass", "policy": bad_policy}])
    assert _found(pack, [inline], "iam-no-admin-actions", "advisory") == [inline.urn]
    # iam:* only on the role's own ARN is not administrator of the account
    scoped = role_policy("app", grant("iam:*", resource=ROLE_ARN))
    assert _found(pack, [app_role(), scoped], "iam-no-admin-actions", "advisory") == []


def test_admin_through_an_attached_policy_is_advisory(pack: PolicyPackProcess) -> None:
    aws_admin = attach("app", "AdministratorAccess")
    assert _found(pack, [app_role(), aws_admin], "iam-no-admin-actions",
                  "advisory") == [aws_admin.urn]
    # a stack-managed policy is reported once, on the policy itself
    wide_arn = f"arn:aws:iam::{ACCOUNT}:policy/wide"
    managed = res("aws:iam/policy:Policy", "wide",
                  {"name": "wide", "arn": wide_arn, "policy": grant("iam:*")})
    stack_attach = res("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "app-wide",
                       {"role": "app", "policyArn": wide_arn})
    assert _found(pack, [app_role(), managed, stack_attach], "iam-no-admin-actions",
                  "advisory") == [managed.urn]
    # ... and, attached to a role trusted from another account, opens it
    assert _found(pack, [app_role(trust=OTHER_ACCOUNT_TRUST), managed, stack_attach],
                  "iam-admin-not-trusted-outside", "mandatory") == [app_role().urn]
    read_only = attach("app", "ReadOnlyAccess")
    assert _found(pack, [app_role(), read_only], "iam-no-admin-actions", "advisory") == []


def test_passrole_on_any_role_is_advisory(pack: PolicyPackProcess) -> None:
    for policy in (PASS_ANY, grant("iam:PassRole", resource=f"arn:aws:iam::{ACCOUNT}:role/*"),
                   # a service condition does not say which roles
                   grant("iam:PassRole", StringEquals={
                       "iam:PassedToService": "ec2.amazonaws.com"})):
        bad = role_policy("app", policy)
        assert _found(pack, [app_role(), bad], "iam-passrole-scoped", "advisory") == [bad.urn]
    good = role_policy("app", PASS_NAMED)
    assert _found(pack, [app_role(), good], "iam-passrole-scoped", "advisory") == []


def test_admin_role_trusted_outside_the_account_is_mandatory(
        pack: PolicyPackProcess) -> None:
    admin = attach("app", "AdministratorAccess")
    for trust in (OTHER_ACCOUNT_TRUST, OPEN_TRUST_IN_ORG,
                  doc({"Effect": "Allow", "Principal": {
                      "Federated": f"arn:aws:iam::{ACCOUNT}:saml-provider/corp"},
                      "Action": "sts:AssumeRoleWithSAML"})):
        bad = app_role(trust=trust)
        assert _found(pack, [bad, admin], "iam-admin-not-trusted-outside",
                      "mandatory") == [bad.urn]
    # inside the account, or trusted by a service: not opened to anyone outside
    for trust in (OWN_ACCOUNT_TRUST, SERVICE_TRUST):
        assert _found(pack, [app_role(trust=trust), admin],
                      "iam-admin-not-trusted-outside", "mandatory") == []
    # an inline '*' counts as administrator as well
    inline = app_role(trust=OTHER_ACCOUNT_TRUST,
                      inlinePolicies=[{"name": "all", "policy": ADMIN_DOC}])
    assert _found(pack, [inline], "iam-admin-not-trusted-outside",
                  "mandatory") == [inline.urn]
    # a non-admin role trusted from another account is the normal cross-account case
    assert _found(pack, [app_role(trust=OTHER_ACCOUNT_TRUST), role_policy("app", EXACT)],
                  "iam-admin-not-trusted-outside", "mandatory") == []


def test_accounts_listed_in_config_count_as_inside(configured: PolicyPackProcess) -> None:
    rule = "iam-admin-not-trusted-outside"
    unknown_arn = res("aws:iam/role:Role", "app", {"name": "app",
                                                   "assumeRolePolicy": OTHER_ACCOUNT_TRUST})
    admin = attach("app", "AdministratorAccess")
    assert _found(configured, [unknown_arn, admin], rule, "mandatory") == [unknown_arn.urn]
    configured.configure({rule: {"accountIds": [OTHER_ACCOUNT]}})
    assert _found(configured, [unknown_arn, admin], rule, "mandatory") == []


def test_access_key_on_an_admin_user_is_mandatory(pack: PolicyPackProcess) -> None:
    rule = "iam-no-admin-user-keys"
    key = access_key("ops")
    assert _found(pack, [user("ops"), attach_user("ops", "AdministratorAccess"), key],
                  rule, "mandatory") == [key.urn]
    inline = res("aws:iam/userPolicy:UserPolicy", "ops-inline",
                 {"user": "ops", "policy": grant("iam:*")})
    assert _found(pack, [user("ops"), inline, key], rule, "mandatory") == [key.urn]
    # administrator through a group
    group = res("aws:iam/group:Group", "admins", {"name": "admins"})
    group_admin = res("aws:iam/groupPolicyAttachment:GroupPolicyAttachment", "admins-admin",
                      {"group": "admins",
                       "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"})
    member = res("aws:iam/userGroupMembership:UserGroupMembership", "ops-groups",
                 {"user": "ops", "groups": ["admins"]})
    assert _found(pack, [user("ops"), group, group_admin, member, key], rule,
                  "mandatory") == [key.urn]
    # no key, or a key on a user without administrator access
    assert _found(pack, [user("ops"), attach_user("ops", "AdministratorAccess")], rule,
                  "mandatory") == []
    assert _found(pack, [user("ops"), attach_user("ops", "ReadOnlyAccess"), key], rule,
                  "mandatory") == []


# The paths of issue #15 point 0, each on its own, then the scoped shape of each.
ESCALATING = {
    "create-access-key": grant("iam:CreateAccessKey"),
    "create-login-profile": grant("iam:CreateLoginProfile"),
    "put-user-policy": grant("iam:PutUserPolicy",
                             resource=f"arn:aws:iam::{ACCOUNT}:user/*"),
    "put-role-policy": grant("iam:PutRolePolicy"),
    "attach-role-policy": grant("iam:AttachRolePolicy"),
    "wildcard-action": grant("iam:Put*"),
    "passrole-with-run-instances": grant("iam:PassRole", "ec2:RunInstances", StringEquals={
        "iam:PassedToService": "ec2.amazonaws.com"}),
    "send-command-anywhere": grant("ssm:SendCommand"),
    # what the responder role held before issue #15 point 0, together
    "item-0-responder": grant("iam:CreateAccessKey", "iam:CreateLoginProfile",
                              "iam:PutUserPolicy", "iam:PutRolePolicy", "ec2:RunInstances",
                              "iam:PassRole"),
    # the revoke shape, but its Deny spares the holder itself
    "put-role-policy-denied-on-others-only": doc(
        {"Effect": "Allow", "Action": "iam:PutRolePolicy",
         "Resource": f"arn:aws:iam::{ACCOUNT}:role/*"},
        {"Effect": "Deny", "Action": "iam:PutRolePolicy",
         "Resource": f"arn:aws:iam::{ACCOUNT}:role/stack-*"}),
    # denied on itself, but it may assume any role it has just widened
    "put-role-policy-then-assume-any": doc(
        {"Effect": "Allow", "Action": ["iam:PutRolePolicy", "sts:AssumeRole"],
         "Resource": f"arn:aws:iam::{ACCOUNT}:role/*"},
        {"Effect": "Deny", "Action": "iam:PutRolePolicy",
         "Resource": f"arn:aws:iam::{ACCOUNT}:role/app*"}),
    "passrole-to-ec2-run-with-profile": doc(
        {"Effect": "Allow", "Action": "iam:PassRole", "Resource": f"arn:aws:iam::{ACCOUNT}:role/*",
         "Condition": {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}},
        {"Effect": "Allow", "Action": "ec2:RunInstances", "Resource": "*"}),
    "send-command-any-document": doc(
        {"Effect": "Allow", "Action": "ssm:SendCommand",
         "Resource": "arn:aws:ssm:eu-west-1:123456789012:document/*"},
        {"Effect": "Allow", "Action": "ssm:SendCommand",
         "Resource": f"arn:aws:ec2:*:{ACCOUNT}:instance/*"}),
}
NOT_ESCALATING = {
    "create-access-key-own-user": grant("iam:CreateAccessKey",
                                        resource=f"arn:aws:iam::{ACCOUNT}:user/app"),
    "attach-only-named-policies": grant("iam:AttachUserPolicy", ArnEquals={
        "iam:PolicyARN": "arn:aws:iam::aws:policy/AWSDenyAll"}),
    "passrole-named-with-run-instances": doc(
        json.loads(PASS_NAMED)["Statement"][0],
        {"Effect": "Allow", "Action": "ec2:RunInstances", "Resource": "*"}),
    "passrole-without-compute": PASS_ANY,
    "send-command-tagged": grant("ssm:SendCommand", StringEquals={
        "ssm:resourceTag/ir-readiness:case": "case-1"}),
    # the responder's shape: any instance, but only the patch baseline document
    "send-command-patch-baseline-only": grant("ssm:SendCommand", resource=[
        "arn:aws:ssm:*:*:document/AWS-RunPatchBaseline",
        f"arn:aws:ec2:*:{ACCOUNT}:instance/*"]),
    # the generated roles' shapes (issue #15 point 0): the revoke cutoff's inline write,
    # denied on the holder itself, with no way to act as another role
    "put-role-policy-denied-on-itself": doc(
        {"Effect": "Allow", "Action": "iam:PutRolePolicy",
         "Resource": f"arn:aws:iam::{ACCOUNT}:role/*"},
        {"Effect": "Deny", "Action": "iam:PutRolePolicy",
         "Resource": f"arn:aws:iam::{ACCOUNT}:role/app*"}),
    "attach-only-the-deny-all": grant("iam:AttachUserPolicy", "iam:DetachUserPolicy",
                                      resource=f"arn:aws:iam::{ACCOUNT}:user/*", ArnEquals={
                                          "iam:PolicyARN": [f"arn:aws:iam::{ACCOUNT}:policy/"
                                                            "ir-deny-all"]}),
    "passrole-to-ec2-run-without-profile": doc(
        {"Effect": "Allow", "Action": "iam:PassRole", "Resource": f"arn:aws:iam::{ACCOUNT}:role/*",
         "Condition": {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}},
        {"Effect": "Allow", "Action": "ec2:RunInstances", "Resource": "*",
         "Condition": {"Null": {"ec2:InstanceProfile": "true"}}}),
    "passrole-to-backup-with-run-instances": doc(
        {"Effect": "Allow", "Action": "iam:PassRole", "Resource": f"arn:aws:iam::{ACCOUNT}:role/*",
         "Condition": {"StringEquals": {"iam:PassedToService": "backup.amazonaws.com"}}},
        {"Effect": "Allow", "Action": "ec2:RunInstances", "Resource": "*"}),
    "denied-outright": doc(json.loads(grant("iam:PutRolePolicy"))["Statement"][0],
                           {"Effect": "Deny", "Action": "iam:PutRolePolicy", "Resource": "*"}),
}


@pytest.mark.parametrize("name", sorted(ESCALATING))
def test_escalation_path_is_flagged(pack: PolicyPackProcess, name: str) -> None:
    role_ = app_role()
    found = violations(pack, [role_, role_policy("app", ESCALATING[name])],
                       "iam-no-privilege-escalation")
    assert [d.urn for d in found] == [role_.urn]
    # mandatory since the stack's own roles lost these paths (issue #15 point 0)
    assert found[0].enforcement == "mandatory"
    assert "can make itself administrator" in found[0].message


@pytest.mark.parametrize("name", sorted(NOT_ESCALATING))
def test_scoped_shape_is_not_an_escalation(pack: PolicyPackProcess, name: str) -> None:
    assert violations(pack, [app_role(), role_policy("app", NOT_ESCALATING[name])],
                      "iam-no-privilege-escalation") == []


def test_escalation_combines_policies_of_one_principal(pack: PolicyPackProcess) -> None:
    """PassRole in one policy, RunInstances in another: still a path."""
    role_ = app_role()
    pieces = [role_policy("app", PASS_ANY, "a"),
              role_policy("app", grant("ec2:RunInstances"), "b")]
    found = violations(pack, [role_, *pieces], "iam-no-privilege-escalation")
    assert [d.urn for d in found] == [role_.urn]
    assert "iam:PassRole on any role with ec2:RunInstances" in found[0].message
    # the other role's policy does not count for this one
    other = app_role("other")
    assert violations(pack, [role_, other, pieces[0], role_policy("other", grant(
        "ec2:RunInstances"))], "iam-no-privilege-escalation") == []


@pytest.mark.parametrize("policy", ["iam-no-public-trust", "iam-no-admin-actions",
                                    "iam-passrole-scoped", "iam-no-privilege-escalation",
                                    "iam-admin-not-trusted-outside", "iam-no-admin-user-keys"])
def test_iam_documents_unknown_during_preview_are_skipped(pack: PolicyPackProcess,
                                                          policy: str) -> None:
    """In `pulumi preview` a policy built from other new resources' ARNs is unknown: the
    IAM rules have nothing to judge, and must neither flag it nor fail."""
    unknown = [app_role(trust=UNKNOWN, inlinePolicies=[{"name": "x", "policy": UNKNOWN}]),
               role_policy("app", UNKNOWN), attach("app", "AdministratorAccess"),
               user("ops"), res("aws:iam/userPolicy:UserPolicy", "ops-inline",
                                {"user": "ops", "policy": UNKNOWN}), access_key("ops")]
    found = violations(pack, unknown, policy)
    assert found == [] or policy == "iam-no-admin-actions", found
    if policy == "iam-no-admin-actions":  # the attached AdministratorAccess is known
        assert [d.urn for d in found] == [unknown[2].urn]


def test_an_access_log_destination_must_be_sse_s3_not_kms(pack: PolicyPackProcess) -> None:
    """S3 delivers server access logs only into SSE-S3 buckets: there KMS loses the logs."""
    ok = bucket_set("ev") + access_log_bucket("ev")
    assert [d for d in violations(pack, ok, "s3-sse-kms") if "access" in d.urn] == []
    kms = bucket_set("ev") + access_log_bucket("ev", sse="aws:kms")
    found = violations(pack, kms, "s3-sse-kms")
    assert [d.urn for d in found] == ["urn:pulumi:test::proj::aws:s3/bucket:Bucket::access"]
    assert "SSE-S3" in found[0].message


def test_a_bucket_logging_into_itself_is_flagged(pack: PolicyPackProcess) -> None:
    looped = bucket_set("ev") + [res("aws:s3/bucketLogging:BucketLogging", "ev-logging",
                                     {"bucket": "ev", "targetBucket": "ev"})]
    found = violations(pack, looped, "s3-access-logging-log-buckets")
    assert any("into itself" in d.message for d in found)


def test_global_resource_types_recorded_twice_or_never_are_flagged(
    pack: PolicyPackProcess,
) -> None:
    def with_global(region: str, include: bool) -> list[AnalyzerResource]:
        return [res("aws:cfg/recorder:Recorder", f"cfg-{region}", {
                    "name": "ir-readiness", "recordingGroup": {
                        "allSupported": True, "includeGlobalResourceTypes": include}}, region),
                res("aws:cfg/recorderStatus:RecorderStatus", f"cfg-status-{region}",
                    {"name": "ir-readiness", "isEnabled": True}, region)]

    twice = with_global("eu-west-1", True) + with_global("us-east-1", True)
    assert any("recorded in 2 regions" in d.message
               for d in violations(pack, twice, "config-recorder-per-region"))
    never = with_global("eu-west-1", False) + with_global("us-east-1", False)
    assert any("records global resource types" in d.message
               for d in violations(pack, never, "config-recorder-per-region"))
    once = with_global("eu-west-1", True) + with_global("us-east-1", False)
    assert violations(pack, once, "config-recorder-per-region") == []


def test_quarantine_vpc_without_any_flow_log_is_flagged(pack: PolicyPackProcess) -> None:
    found = violations(pack, [isolation("vpc-1"), isolation("vpc-2"), flow_log("vpc-1")],
                       "flow-logs-quarantine-vpcs")
    assert len(found) == 1 and "quarantine VPC vpc-2 has no flow log" in found[0].message


def test_a_cis_alarm_that_notifies_nobody_is_flagged(pack: PolicyPackProcess) -> None:
    found = violations(pack, cis_monitoring(silent="cloudtrail-config-changes"),
                       "alerting-cis-alarms")
    assert len(found) == 1 and "CloudTrail configuration changes" in found[0].message


def test_cis_alarms_on_another_log_group_do_not_count(pack: PolicyPackProcess) -> None:
    elsewhere = [r for r in cis_monitoring(group_name="other")
                 if r.type != LOG_GROUP] + [res(LOG_GROUP, "trail-logs", {"name": "t"})]
    found = violations(pack, elsewhere, "alerting-cis-alarms")
    assert len(found) == 1 and "has no metric filter" in found[0].message


def test_a_dead_letter_alarm_to_the_failed_path_is_flagged(pack: PolicyPackProcess) -> None:
    found = violations(pack, alert_dlq(alarm_to=HIGH_TOPIC), "alerting-dead-letter-alarm")
    assert len(found) == 1 and "outside the failed path" in found[0].message


def test_a_dead_letter_alarm_that_waits_for_many_messages_is_flagged(
        pack: PolicyPackProcess) -> None:
    found = violations(pack, alert_dlq(threshold=10), "alerting-dead-letter-alarm")
    assert len(found) == 1


def test_a_restore_testing_plan_on_another_vault_or_region_does_not_count(
        pack: PolicyPackProcess) -> None:
    other = f"arn:aws:backup:{HOME_REGION}:{ACCOUNT}:backup-vault:elsewhere"
    assert violations(pack, restore_tested(include=(other,)), "backup-restore-testing")
    # '*' covers the vaults of the plan's own region only
    assert violations(pack, restore_tested(include=("*",)), "backup-restore-testing") == []
    assert violations(pack, restore_tested(include=("*",), plan_region="us-east-1"),
                      "backup-restore-testing")


def test_a_report_plan_in_another_region_does_not_cover_the_vault(
        pack: PolicyPackProcess) -> None:
    found = violations(pack, reports(region="us-east-1"), "backup-audit-reports")
    assert len(found) == 1
    assert "BACKUP_JOB_REPORT / RESTORE_JOB_REPORT" in found[0].message


def test_no_support_role_at_all_is_mandatory(pack: PolicyPackProcess) -> None:
    found = violations(pack, support_role(policy="arn:aws:iam::aws:policy/ReadOnlyAccess"),
                       "support-role-present")
    assert len(found) == 1 and "no role with AWSSupportAccess" in found[0].message
    assert found[0].enforcement == "mandatory"


def test_shield_without_the_response_team_role_is_flagged(pack: PolicyPackProcess) -> None:
    found = violations(pack, shield(association=False), "shield-response-team-access")
    assert len(found) == 1 and "DrtAccessRoleArnAssociation" in found[0].message
    # no protections: nothing to engage the team for
    assert violations(pack, [r for r in shield(association=False, contacts=False)
                             if "protection" not in r.type], "shield-response-team-access") == []
