"""Recovery proven before it is needed and the AWS side of the engagement protocol (issue
19, sections 5 and 6), plus what section 4 left for organization modes, asserted under
mocks for the example stack and every organization example config:

- restore testing plans and selections over every backup vault, Backup Audit Manager
  report plans into the log bucket, with the bucket and key grants they need;
- the opt-in evidence replica (its own region's key, Object Lock, least-privilege role);
- the AWS Support role (CIS 1.17) trusted by the responders, in the manifest and outputs;
- opt-in Shield Advanced: subscription, protections, SRT role, proactive engagement;
- Config recorders in member and management stacks; Inspector for existing members.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import pytest

from components.backup_protection import REPORTS_ROLE_NAME
from components.evidence_replication import REPLICA_WRITE_ACTIONS, SOURCE_READ_ACTIONS
from components.mockrun import (
    PROJECT_ROOT,
    Evaluation,
    RegisteredResource,
    evaluate,
    load_stack_config,
)
from components.settings import Settings, SettingsError, parse_config_value
from tests.components.conftest import as_list, by_sid, statements

EXAMPLES = sorted(p.name for p in PROJECT_ROOT.glob("Pulumi.*example.yaml"))
ACCOUNT = "123456789012"
VAULT = "aws:backup/vault:Vault"
RESTORE_PLAN = "aws:backup/restoreTestingPlan:RestoreTestingPlan"
RESTORE_SELECTION = "aws:backup/restoreTestingSelection:RestoreTestingSelection"
REPORT_PLAN = "aws:backup/reportPlan:ReportPlan"
SELECTION = "aws:backup/selection:Selection"
NOTIFICATIONS = "aws:backup/vaultNotifications:VaultNotifications"
ROLE = "aws:iam/role:Role"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
BUCKET = "aws:s3/bucket:Bucket"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
KEY = "aws:kms/key:Key"
PARAMETER = "aws:ssm/parameter:Parameter"
RECORDER = "aws:cfg/recorder:Recorder"
CHANNEL = "aws:cfg/deliveryChannel:DeliveryChannel"
STATUS = "aws:cfg/recorderStatus:RecorderStatus"
REPORTS_ROLE = (f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/reports.backup.amazonaws.com/"
                f"{REPORTS_ROLE_NAME}")
REPLICA_REGION = "eu-central-1"
DISTRIBUTION = "arn:aws:cloudfront::123456789012:distribution/E1EXAMPLE"


def _config(example: str, **overrides: Any) -> dict[str, str]:
    config = load_stack_config(PROJECT_ROOT / example)
    config.update({k: json.dumps(v) for k, v in overrides.items()})
    return config


@cache
def _evaluated(example: str, overrides: str = "{}") -> Evaluation:
    return evaluate(_config(example, **json.loads(overrides)))


def stack(example: str, **overrides: Any) -> Evaluation:
    return _evaluated(example, json.dumps(overrides, sort_keys=True))


def settings_of(example: str) -> Settings:
    values = {k: parse_config_value(k, v) for k, v in _config(example).items()
              if k.startswith("ir:")}
    return Settings.from_mapping(values)


def _mode(example: str) -> str:
    return settings_of(example).organization.mode


def referenced(ev: Evaluation, res: RegisteredResource, key: str) -> RegisteredResource:
    urns = res.property_dependencies.get(key, ())
    found = [r for r in ev.resources if r.urn in urns and r.custom]
    assert len(found) == 1, f"{res.name}.{key} references {urns}"
    return found[0]


def _doc(value: Any) -> dict[str, Any]:
    return json.loads(value) if isinstance(value, str) else dict(value)


# ------------------------------------------------------------------ restore testing


@pytest.mark.parametrize("example", EXAMPLES)
def test_every_vault_has_a_restore_testing_plan_with_a_selection_per_type(example: str) -> None:
    ev = stack(example)
    vaults = ev.of_type(VAULT)
    plans = ev.of_type(RESTORE_PLAN)
    if _mode(example) == "management":
        assert vaults == [] and plans == []  # nothing backed up in the management account
        return
    testing = settings_of(example).backup.restore_testing
    tag = settings_of(example).backup.selection_tag
    assert vaults and len(plans) == len(vaults)
    for plan in plans:
        vault = referenced(ev, plan, "recoveryPointSelection")
        assert vault.type == VAULT and vault.region == plan.region
        selection = plan.inputs["recoveryPointSelection"]
        assert selection["includeVaults"] == [vault.outputs["arn"]]
        assert selection["recoveryPointTypes"] == ["SNAPSHOT"]
        assert selection["algorithm"] == "LATEST_WITHIN_WINDOW"
        assert selection["selectionWindowDays"] == testing.selection_window_days
        assert plan.inputs["scheduleExpression"] == testing.schedule
        selections = [s for s in ev.of_type(RESTORE_SELECTION)
                      if plan.urn in s.property_dependencies.get("restoreTestingPlanName", ())]
        assert sorted(s.inputs["protectedResourceType"] for s in selections) == sorted(
            testing.resource_types)
        # the backup selection's role restores; the backup selection's tag is tested
        backup_selection = next(s for s in ev.of_type(SELECTION) if s.region == plan.region)
        for s in selections:
            assert s.inputs["iamRoleArn"] == backup_selection.inputs["iamRoleArn"]
            assert s.inputs["protectedResourceConditions"]["stringEquals"] == [
                {"key": f"aws:ResourceTag/{tag.key}", "value": tag.value}]
            # the restored copy is deleted when the validation window ends
            assert s.inputs["validationWindowHours"] == testing.validation_window_hours
        # results reach the info topic as restore job completions
        notes = next(n for n in ev.of_type(NOTIFICATIONS) if n.region == plan.region)
        assert "RESTORE_JOB_COMPLETED" in notes.inputs["backupVaultEvents"]
        assert notes.inputs["snsTopicArn"].endswith(":ir-readiness-info")


def test_restore_testing_can_be_turned_off_and_validates_its_settings() -> None:
    off = stack("Pulumi.example.yaml", **{"ir:backup": {"restoreTesting": {"enabled": False}}})
    assert off.of_type(RESTORE_PLAN) == [] and off.of_type(RESTORE_SELECTION) == []
    with pytest.raises(SettingsError) as err:
        Settings.from_mapping({"regions": ["eu-west-1"],
                               "responderPrincipals": [f"arn:aws:iam::{ACCOUNT}:role/r"],
                               "backup": {"restoreTesting": {"resourceTypes": ["Redshift"],
                                                             "validationWindowHours": 500}}})
    text = str(err.value)
    assert "ir:backup.restoreTesting.resourceTypes[0]" in text and "EBS" in text
    assert "ir:backup.restoreTesting.validationWindowHours = 500" in text


# ------------------------------------------------------------------ audit reports


def _report_bucket(ev: Evaluation, example: str) -> RegisteredResource:
    mode = _mode(example)
    name = "evidence-bucket" if mode == "member" else "audit-logs"
    found = [b for b in ev.of_type(BUCKET) if b.name.endswith(name)]
    assert len(found) == 1, [b.name for b in ev.of_type(BUCKET)]
    return found[0]


@pytest.mark.parametrize("example", EXAMPLES)
def test_backup_and_restore_job_reports_go_to_the_log_bucket(example: str) -> None:
    ev = stack(example)
    reports = ev.of_type(REPORT_PLAN)
    if _mode(example) == "management":
        assert reports == []
        return
    regions = {v.region for v in ev.of_type(VAULT)}
    bucket = _report_bucket(ev, example)
    by_region: dict[str | None, set[str]] = {}
    for plan in reports:
        channel = plan.inputs["reportDeliveryChannel"]
        assert referenced(ev, plan, "reportDeliveryChannel").urn == bucket.urn
        assert channel["s3KeyPrefix"] == "backup-reports"
        assert set(channel["formats"]) == {"CSV", "JSON"}
        by_region.setdefault(plan.region, set()).add(plan.inputs["reportSetting"]["reportTemplate"])
    assert by_region == {r: {"BACKUP_JOB_REPORT", "RESTORE_JOB_REPORT"} for r in regions}
    # the bucket admits Backup Audit Manager's service-linked role, under backup-reports/ only
    policy = next(p for p in ev.of_type(BUCKET_POLICY) if referenced(ev, p, "bucket") == bucket)
    grant = by_sid(policy.inputs["policy"])["BackupAuditManagerDeliversReports"]
    assert grant["Action"] == "s3:PutObject"
    assert grant["Resource"] == f"arn:aws:s3:::{bucket.outputs['bucket']}/backup-reports/*"
    assert grant["Condition"]["StringEquals"]["aws:PrincipalArn"] == REPORTS_ROLE
    assert grant["Condition"]["StringEquals"]["aws:PrincipalAccount"] == ACCOUNT
    # ... and the key encrypting that bucket lets the role encrypt, through S3 only
    encryption = next(e for e in ev.of_type(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
        if referenced(ev, e, "bucket") == bucket)
    key = referenced(ev, encryption, "rules")
    kms = by_sid(key.inputs["policy"])["BackupAuditManagerEncryptsReports"]
    assert kms["Action"] == "kms:GenerateDataKey"
    assert kms["Condition"]["StringEquals"] == {
        "aws:PrincipalArn": REPORTS_ROLE, "kms:CallerAccount": ACCOUNT,
        "kms:ViaService": f"s3.{key.region}.amazonaws.com"}
    # the report plans wait for those grants
    for plan in reports:
        assert policy.urn in plan.dependencies and key.urn in plan.dependencies


def test_no_report_grants_without_audit_reports() -> None:
    ev = stack("Pulumi.example.yaml", **{"ir:backup": {"auditReports": False}})
    assert ev.of_type(REPORT_PLAN) == []
    for doc in [*(p.inputs["policy"] for p in ev.of_type(BUCKET_POLICY)),
                *(k.inputs["policy"] for k in ev.of_type(KEY))]:
        assert REPORTS_ROLE_NAME not in json.dumps(doc)


# ------------------------------------------------------------------ support role


def _support_role(ev: Evaluation) -> RegisteredResource:
    attached = [a for a in ev.of_type(ATTACHMENT)
                if a.inputs["policyArn"] == "arn:aws:iam::aws:policy/AWSSupportAccess"]
    assert len(attached) == 1, [a.name for a in attached]
    return referenced(ev, attached[0], "role")


@pytest.mark.parametrize("example", EXAMPLES)
def test_support_role_is_trusted_by_the_responders_only(example: str) -> None:
    ev = stack(example)
    settings = settings_of(example)
    role = _support_role(ev)
    assert role.inputs["name"].endswith("-support")
    trusted: list[str] = []
    for stmt in statements(role.inputs["assumeRolePolicy"]):
        assert stmt["Effect"] == "Allow" and stmt["Action"] == "sts:AssumeRole"
        assert set(stmt["Principal"]) == {"AWS"}
        principals = as_list(stmt["Principal"]["AWS"])
        trusted += principals
        if any(":user/" in p or p.endswith(":root") for p in principals):
            assert stmt["Condition"]["Bool"]["aws:MultiFactorAuthPresent"] == "true"
        if _mode(example) == "member":
            # as the member responder roles: only with the organization's external id
            assert stmt["Condition"]["StringEquals"]["sts:ExternalId"] == (
                settings.organization.external_id)
    assert sorted(trusted) == sorted(settings.responder_principals)
    # nothing but AWSSupportAccess on it
    assert [p for p in ev.of_type(ROLE_POLICY) if referenced(ev, p, "role") == role] == []
    assert ev.outputs["supportRoleArn"] == role.outputs["arn"]
    # and the manifests name it (management stacks write none)
    for parameter in ev.of_type(PARAMETER):
        manifest = json.loads(parameter.inputs["value"])
        assert manifest["responderRoles"]["support"] == role.outputs["arn"]


# ------------------------------------------------------------------ evidence replica


REPLICATED = {"ir:evidence": {"objectLock": {"mode": "COMPLIANCE", "retentionDays": 365},
                              "archiveAfterDays": 90, "replicationRegion": REPLICA_REGION}}


def test_evidence_replica_is_locked_encrypted_in_its_region_and_fed_by_a_narrow_role() -> None:
    ev = stack("Pulumi.example.yaml", **REPLICATED)
    replica = next(b for b in ev.of_type(BUCKET) if b.name == "evidence-replica-bucket")
    source = next(b for b in ev.of_type(BUCKET) if b.name == "evidence-bucket")
    assert replica.region == REPLICA_REGION and source.region == "eu-west-1"
    assert replica.inputs["objectLockEnabled"] is True

    def configuration(type_: str) -> RegisteredResource:
        return next(r for r in ev.of_type(type_) if referenced(ev, r, "bucket") == replica)

    lock = configuration(
        "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration")
    assert lock.inputs["rule"]["defaultRetention"] == {"mode": "COMPLIANCE", "days": 365}
    versioning = configuration("aws:s3/bucketVersioning:BucketVersioning")
    assert versioning.inputs["versioningConfiguration"]["status"] == "Enabled"
    encryption = configuration("aws:s3/bucketServerSideEncryptionConfiguration:"
                               "BucketServerSideEncryptionConfiguration")
    replica_key = referenced(ev, encryption, "rules")
    assert replica_key.region == REPLICA_REGION
    access = configuration("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    assert all(access.inputs[k] is True for k in ("blockPublicAcls", "blockPublicPolicy",
                                                  "ignorePublicAcls", "restrictPublicBuckets"))
    assert "DenyInsecureTransport" in by_sid(configuration(BUCKET_POLICY).inputs["policy"])

    config = ev.of_type("aws:s3/bucketReplicationConfig:BucketReplicationConfig")
    assert len(config) == 1 and config[0].region == "eu-west-1"
    assert referenced(ev, config[0], "bucket") == source
    (rule,) = config[0].inputs["rules"]
    assert rule["status"] == "Enabled"
    assert rule["deleteMarkerReplication"] == {"status": "Disabled"}
    assert rule["sourceSelectionCriteria"]["sseKmsEncryptedObjects"]["status"] == "Enabled"
    assert rule["destination"]["bucket"] == replica.outputs["arn"]
    assert rule["destination"]["encryptionConfiguration"]["replicaKmsKeyId"] == (
        replica_key.outputs["arn"])
    # replication needs versioning on both sides before it is configured
    source_versioning = next(
        r for r in ev.of_type("aws:s3/bucketVersioning:BucketVersioning")
        if referenced(ev, r, "bucket") == source)
    assert {versioning.urn, source_versioning.urn} <= set(config[0].dependencies)

    role = referenced(ev, config[0], "role")
    (trust,) = statements(role.inputs["assumeRolePolicy"])
    assert trust["Principal"] == {"Service": "s3.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}
    policy = next(p for p in ev.of_type(ROLE_POLICY) if referenced(ev, p, "role") == role)
    sids = by_sid(policy.inputs["policy"])
    source_arn, replica_arn = source.outputs["arn"], replica.outputs["arn"]
    assert sids["ReadSourceVersions"]["Resource"] == f"{source_arn}/*"
    assert set(sids["ReadSourceVersions"]["Action"]) == set(SOURCE_READ_ACTIONS)
    assert sids["WriteReplicas"]["Resource"] == f"{replica_arn}/*"
    assert set(sids["WriteReplicas"]["Action"]) == set(REPLICA_WRITE_ACTIONS)
    every_action = {a for s in sids.values() for a in as_list(s["Action"])}
    assert "s3:ReplicateDelete" not in every_action and not any("*" in a for a in every_action)
    home_key = referenced(ev, next(
        r for r in ev.of_type("aws:s3/bucketServerSideEncryptionConfiguration:"
                              "BucketServerSideEncryptionConfiguration")
        if referenced(ev, r, "bucket") == source), "rules")
    assert sids["DecryptSource"]["Resource"] == home_key.outputs["arn"]
    assert sids["DecryptSource"]["Condition"]["StringEquals"] == {
        "kms:ViaService": "s3.eu-west-1.amazonaws.com"}
    assert sids["EncryptReplica"]["Resource"] == replica_key.outputs["arn"]
    assert sids["EncryptReplica"]["Condition"]["StringLike"] == {
        "kms:EncryptionContext:aws:s3:arn": [replica_arn, f"{replica_arn}/*"]}
    assert ev.outputs["evidenceReplicaBucket"] == replica.outputs["bucket"]


def test_replica_off_by_default_and_its_region_is_checked() -> None:
    assert stack("Pulumi.example.yaml").of_type(
        "aws:s3/bucketReplicationConfig:BucketReplicationConfig") == []
    base = {"regions": ["eu-west-1", "us-east-1"],
            "responderPrincipals": [f"arn:aws:iam::{ACCOUNT}:role/r"]}
    for region, says in (("eu-west-1", "must differ from the home region"),
                         ("ap-south-1", "must be a covered region")):
        with pytest.raises(SettingsError) as err:
            Settings.from_mapping({**base, "evidence": {"replicationRegion": region}})
        assert f'ir:evidence.replicationRegion = "{region}"' in str(err.value)
        assert says in str(err.value)


# ------------------------------------------------------------------ shield


SHIELD = {"ir:shield": {"advanced": True, "acceptSubscriptionCost": True,
                        "protectedResourceArns": [DISTRIBUTION],
                        "emergencyContacts": [{"emailAddress": "soc@example.com",
                                               "phoneNumber": "+4915112345678",
                                               "contactNotes": "24/7 SOC"}]}}


def test_shield_advanced_protects_engages_and_lets_the_response_team_in() -> None:
    ev = stack("Pulumi.example.yaml", **SHIELD)
    (subscription,) = ev.of_type("aws:shield/subscription:Subscription")
    assert subscription.inputs["autoRenew"] == "ENABLED"
    assert subscription.inputs["skipDestroy"] is True
    (protection,) = ev.of_type("aws:shield/protection:Protection")
    assert protection.inputs["resourceArn"] == DISTRIBUTION
    assert subscription.urn in protection.dependencies
    (association,) = ev.of_type(
        "aws:shield/drtAccessRoleArnAssociation:DrtAccessRoleArnAssociation")
    role = referenced(ev, association, "roleArn")
    (trust,) = statements(role.inputs["assumeRolePolicy"])
    assert trust["Principal"] == {"Service": "drt.shield.amazonaws.com"}
    attached = [a.inputs["policyArn"] for a in ev.of_type(ATTACHMENT)
                if referenced(ev, a, "role") == role]
    assert attached == ["arn:aws:iam::aws:policy/service-role/AWSShieldDRTAccessPolicy"]
    (engagement,) = ev.of_type("aws:shield/proactiveEngagement:ProactiveEngagement")
    assert engagement.inputs["enabled"] is True
    assert engagement.inputs["emergencyContacts"] == [
        {"emailAddress": "soc@example.com", "phoneNumber": "+4915112345678",
         "contactNotes": "24/7 SOC"}]
    assert association.urn in engagement.dependencies
    # Shield's API is global, served from us-east-1
    shield = [r for r in ev.resources if r.type.startswith("aws:shield/")]
    assert {r.region for r in shield} == {"us-east-1"}
    assert ev.outputs["shieldSrtRoleArn"] == role.outputs["arn"]


def test_shield_is_off_by_default_and_needs_the_cost_accepted() -> None:
    assert [r for r in stack("Pulumi.example.yaml").resources
            if r.type.startswith("aws:shield/")] == []
    base = {"regions": ["eu-west-1"], "responderPrincipals": [f"arn:aws:iam::{ACCOUNT}:role/r"]}
    with pytest.raises(SettingsError) as err:
        Settings.from_mapping({**base, "shield": {"advanced": True}})
    assert "ir:shield.acceptSubscriptionCost = false" in str(err.value)
    assert "3,000 a month" in str(err.value)
    with pytest.raises(SettingsError) as err:
        Settings.from_mapping({**base, "shield": {"protectedResourceArns": [DISTRIBUTION]}})
    assert "applies only with shield.advanced true" in str(err.value)
    with pytest.raises(SettingsError) as err:
        Settings.from_mapping({**base, "shield": {
            "advanced": True, "acceptSubscriptionCost": True,
            "protectedResourceArns": ["arn:aws:s3:::a-bucket"]}})
    assert "ir:shield.protectedResourceArns[0]" in str(err.value)


def test_a_stack_outside_us_east_1_gets_its_own_shield_provider() -> None:
    config = {"ir:regions": ["eu-west-1"], **SHIELD, "ir:backup": {"copyToRegion": None},
              "ir:quarantineVpcs": {"eu-west-1": []}}
    ev = stack("Pulumi.example.yaml", **config)
    shield = [r for r in ev.resources if r.type.startswith("aws:shield/")]
    assert shield and {r.region for r in shield} == {"us-east-1"}


# ------------------------------------------------------------------ organization leftovers


@pytest.mark.parametrize("example", [e for e in EXAMPLES if "member" in e or "management" in e])
def test_member_and_management_stacks_record_config_in_every_region(example: str) -> None:
    ev = stack(example)
    settings = settings_of(example)
    recorders = ev.of_type(RECORDER)
    assert sorted(r.region for r in recorders) == sorted(settings.regions)
    for recorder in recorders:
        group = recorder.inputs["recordingGroup"]
        assert group["allSupported"] is True
        assert group["includeGlobalResourceTypes"] is (recorder.region == settings.home_region)
    statuses = ev.of_type(STATUS)
    assert sorted(s.region for s in statuses) == sorted(settings.regions)
    assert all(s.inputs["isEnabled"] is True for s in statuses)
    for channel in ev.of_type(CHANNEL):
        bucket = referenced(ev, channel, "s3BucketName")
        assert channel.inputs["s3KeyPrefix"] == "config"
        if _mode(example) == "member":
            assert bucket.name.endswith("evidence-bucket")  # the member's own bucket
        else:
            assert bucket.inputs["bucket"].startswith("ir-readiness-org-trail-")
    if _mode(example) == "management":
        # the organization trail's bucket and key (log-archive account) admit the
        # management account's Config role, under config/AWSLogs/<management>/ only
        management = settings.organization.management_account_id
        trail_bucket = next(b for b in ev.of_type(BUCKET)
                            if b.inputs.get("bucket", "").startswith("ir-readiness-org-trail-"))
        policy = next(p for p in ev.of_type(BUCKET_POLICY)
                      if referenced(ev, p, "bucket") == trail_bucket)
        sids = by_sid(policy.inputs["policy"])
        assert sids["ManagementConfigDelivers"]["Principal"] == {
            "AWS": f"arn:aws:iam::{management}:root"}
        assert sids["ManagementConfigDelivers"]["Resource"].endswith(
            f"/config/AWSLogs/{management}/*")
        key = next(k for k in ev.of_type(KEY) if k.name == "ir-org-trail-key")
        grant = by_sid(key.inputs["policy"])["ManagementConfigEncryptsThroughS3"]
        assert grant["Condition"]["StringEquals"]["kms:ViaService"].startswith("s3.")


def test_security_stack_activates_inspector_for_existing_members() -> None:
    example = "Pulumi.org-security.example.yaml"
    ev = stack(example)
    settings = settings_of(example)
    members = sorted(settings.organization.member_account_ids)
    assert members, "the security example lists existing members"
    for region in settings.regions:
        associations = [a for a in ev.of_type("aws:inspector2/memberAssociation:MemberAssociation")
                        if a.region == region]
        assert sorted(a.inputs["accountId"] for a in associations) == members
        enablers = [e for e in ev.of_type("aws:inspector2/enabler:Enabler")
                    if e.region == region and e.inputs["accountIds"] == members]
        assert len(enablers) == 1
        assert set(enablers[0].inputs["resourceTypes"]) == {"EC2", "ECR", "LAMBDA"}
        assert {a.urn for a in associations} <= set(enablers[0].dependencies)


def test_member_account_ids_only_in_security_mode() -> None:
    values = {k: parse_config_value(k, v)
              for k, v in _config("Pulumi.org-member.example.yaml").items() if k.startswith("ir:")}
    values["ir:organization"] = {**values["ir:organization"], "memberAccountIds": ["444444444444"]}
    with pytest.raises(SettingsError) as err:
        Settings.from_mapping(values)
    assert "ir:organization.memberAccountIds" in str(err.value)
    assert "only applies in security mode" in str(err.value)


# ------------------------------------------------------------------ Args checks


def test_component_args_refuse_what_would_fail_at_apply() -> None:
    import pulumi

    from components.delegated_security_admin import DelegatedSecurityAdminArgs
    from components.evidence_replication import EvidenceReplicationArgs
    from components.settings import ObjectLock
    from components.shield_protection import EmergencyContact, ShieldProtectionArgs
    from components.support_access import SupportAccessArgs

    role = f"arn:aws:iam::{ACCOUNT}:role/OnCall"
    with pytest.raises(ValueError, match="trusted_principals is empty"):
        SupportAccessArgs(name_prefix="ir", trusted_principals=())
    with pytest.raises(ValueError, match="not an IAM ARN"):
        SupportAccessArgs(name_prefix="ir", trusted_principals=("*",))
    with pytest.raises(ValueError, match="at most 64"):
        SupportAccessArgs(name_prefix="x" * 60, trusted_principals=(role,))
    with pytest.raises(ValueError, match="protected_resource_arns='arn:aws:s3:::b'"):
        ShieldProtectionArgs(name_prefix="ir", protected_resource_arns=("arn:aws:s3:::b",))
    with pytest.raises(ValueError, match="needs the SRT access role"):
        ShieldProtectionArgs(name_prefix="ir", srt_access=False,
                             emergency_contacts=(EmergencyContact("soc@example.com"),))
    provider: Any = object()  # never used: the checks run before any resource
    with pytest.raises(ValueError, match="destination_region='eu-west-1'"):
        EvidenceReplicationArgs(
            source_region="eu-west-1", destination_region="eu-west-1",
            source_provider=provider, account_id=ACCOUNT, source_bucket_name="b",
            source_bucket_arn="arn:aws:s3:::b", source_kms_key_arn="k",
            destination_kms_key_arn="k", object_lock=ObjectLock("COMPLIANCE", 1))
    providers: dict[str, pulumi.ProviderResource] = {"eu-west-1": provider}
    with pytest.raises(ValueError, match="only applies on the security side"):
        DelegatedSecurityAdminArgs(side="management", security_account_id="222222222222",
                                   regions=("eu-west-1",), providers=providers,
                                   inspector=True, member_account_ids=("444444444444",))
    with pytest.raises(ValueError, match="not the security account"):
        DelegatedSecurityAdminArgs(side="security", security_account_id="222222222222",
                                   regions=("eu-west-1",), providers=providers,
                                   detector_ids={"eu-west-1": "d"}, root_id="r-ab12",
                                   standards=("cis-aws-foundations-benchmark/v/3.0.0",),
                                   inspector=True, member_account_ids=("222222222222",))


def test_member_stacks_replicate_evidence_and_protect_with_shield_too() -> None:
    example = "Pulumi.org-member.example.yaml"
    settings = settings_of(example)
    second = settings.regions[1]
    evidence = {"objectLock": {"mode": "COMPLIANCE", "retentionDays": 365},
                "replicationRegion": second}
    ev = stack(example, **{"ir:evidence": evidence, **SHIELD})
    (config,) = ev.of_type("aws:s3/bucketReplicationConfig:BucketReplicationConfig")
    source = referenced(ev, config, "bucket")
    assert source.name.endswith("evidence-bucket") and source.region == settings.home_region
    replica = next(b for b in ev.of_type(BUCKET) if b.name.endswith("evidence-replica-bucket"))
    assert replica.region == second
    (protection,) = ev.of_type("aws:shield/protection:Protection")
    assert protection.region == "us-east-1"
    (association,) = ev.of_type(
        "aws:shield/drtAccessRoleArnAssociation:DrtAccessRoleArnAssociation")
    role = referenced(ev, association, "roleArn")
    # under the member prefix, so the member responder role's deny on <prefix>-* covers it
    prefix = settings.organization.member_role_name.removesuffix("-responder")
    assert role.inputs["name"] == f"{prefix}-shield-srt"


def test_management_stacks_refuse_replication_and_shield() -> None:
    values = {k: parse_config_value(k, v)
              for k, v in _config("Pulumi.org-management.example.yaml").items()
              if k.startswith("ir:")}
    values["ir:shield"] = {"advanced": True, "acceptSubscriptionCost": True}
    values["ir:evidence"] = {"replicationRegion": values["ir:regions"][1]}
    with pytest.raises(SettingsError) as err:
        Settings.from_mapping(values)
    text = str(err.value)
    assert "ir:shield.advanced = true: does not apply in ir:organization.mode management" in text
    assert "ir:evidence.replicationRegion" in text and "no evidence bucket there" in text
