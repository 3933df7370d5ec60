"""AWS Backup selections, vault notifications and policies, restore testing: stored and
read back as AWS does, with AWS's existence checks."""

from __future__ import annotations

import json
import uuid

import pytest
from botocore.exceptions import ClientError

REGION = "us-east-1"


@pytest.fixture
def vault_plan_role(client):  # type: ignore[no-untyped-def]
    backup, iam = client("backup"), client("iam")
    role = iam.create_role(RoleName=f"backup-{uuid.uuid4().hex[:8]}",
                           AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    vault = f"vault-{uuid.uuid4().hex[:8]}"
    vault_arn = backup.create_backup_vault(BackupVaultName=vault)["BackupVaultArn"]
    plan_id = backup.create_backup_plan(BackupPlan={
        "BackupPlanName": f"plan-{uuid.uuid4().hex[:8]}",
        "Rules": [{"RuleName": "daily", "TargetBackupVaultName": vault}]})["BackupPlanId"]
    return backup, vault, vault_arn, plan_id, role


def test_a_backup_selection_is_stored_with_its_tags_and_role(vault_plan_role) -> None:  # type: ignore[no-untyped-def]
    backup, _, _, plan_id, role = vault_plan_role
    tags = [{"ConditionType": "STRINGEQUALS", "ConditionKey": "backup", "ConditionValue": "ir"}]
    selection_id = backup.create_backup_selection(BackupPlanId=plan_id, BackupSelection={
        "SelectionName": "tagged", "IamRoleArn": role, "ListOfTags": tags})["SelectionId"]
    got = backup.get_backup_selection(BackupPlanId=plan_id, SelectionId=selection_id)
    assert got["BackupSelection"]["ListOfTags"] == tags
    assert got["BackupSelection"]["IamRoleArn"] == role
    listed = backup.list_backup_selections(BackupPlanId=plan_id)["BackupSelectionsList"]
    assert [(s["SelectionId"], s["SelectionName"]) for s in listed] == [(selection_id, "tagged")]
    with pytest.raises(ClientError) as err:
        backup.create_backup_selection(BackupPlanId=plan_id, BackupSelection={
            "SelectionName": "tagged", "IamRoleArn": role})
    assert err.value.response["Error"]["Code"] == "AlreadyExistsException"


def test_a_selection_needs_an_existing_plan_and_role(vault_plan_role) -> None:  # type: ignore[no-untyped-def]
    backup, _, _, plan_id, role = vault_plan_role
    with pytest.raises(ClientError) as err:
        backup.create_backup_selection(BackupPlanId=str(uuid.uuid4()), BackupSelection={
            "SelectionName": "x", "IamRoleArn": role})
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as err:
        backup.create_backup_selection(BackupPlanId=plan_id, BackupSelection={
            "SelectionName": "x", "IamRoleArn": role.replace("backup-", "missing-")})
    assert err.value.response["Error"]["Code"] == "InvalidParameterValueException"


def test_vault_notifications_and_access_policy_read_back(vault_plan_role) -> None:  # type: ignore[no-untyped-def]
    backup, vault, vault_arn, _, _ = vault_plan_role
    with pytest.raises(ClientError) as err:
        backup.get_backup_vault_notifications(BackupVaultName=vault)
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"
    topic = f"arn:aws:sns:{REGION}:123456789012:info"
    backup.put_backup_vault_notifications(
        BackupVaultName=vault, SNSTopicArn=topic,
        BackupVaultEvents=["BACKUP_JOB_COMPLETED", "RESTORE_JOB_COMPLETED"])
    got = backup.get_backup_vault_notifications(BackupVaultName=vault)
    assert (got["SNSTopicArn"], got["BackupVaultArn"]) == (topic, vault_arn)
    assert got["BackupVaultEvents"] == ["BACKUP_JOB_COMPLETED", "RESTORE_JOB_COMPLETED"]
    with pytest.raises(ClientError) as err:
        backup.put_backup_vault_notifications(BackupVaultName=vault, SNSTopicArn=topic,
                                              BackupVaultEvents=["NOT_AN_EVENT"])
    assert err.value.response["Error"]["Code"] == "InvalidParameterValueException"

    policy = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Principal": "*", "Action": "backup:DeleteRecoveryPoint",
        "Resource": "*"}]})
    backup.put_backup_vault_access_policy(BackupVaultName=vault, Policy=policy)
    assert json.loads(backup.get_backup_vault_access_policy(
        BackupVaultName=vault)["Policy"]) == json.loads(policy)
    with pytest.raises(ClientError) as err:
        backup.put_backup_vault_access_policy(BackupVaultName="no-such-vault", Policy=policy)
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_restore_testing_plan_and_selection_read_back(vault_plan_role) -> None:  # type: ignore[no-untyped-def]
    backup, _, vault_arn, _, role = vault_plan_role
    name = f"test_{uuid.uuid4().hex[:8]}"
    selection = {"Algorithm": "LATEST_WITHIN_WINDOW", "IncludeVaults": [vault_arn],
                 "RecoveryPointTypes": ["SNAPSHOT"], "SelectionWindowDays": 7}
    created = backup.create_restore_testing_plan(RestoreTestingPlan={
        "RestoreTestingPlanName": name, "ScheduleExpression": "cron(0 6 ? * MON *)",
        "StartWindowHours": 24, "RecoveryPointSelection": selection})
    assert created["RestoreTestingPlanArn"].startswith(
        f"arn:aws:backup:{REGION}:123456789012:restore-testing-plan:{name}")
    plan = backup.get_restore_testing_plan(RestoreTestingPlanName=name)["RestoreTestingPlan"]
    assert plan["RecoveryPointSelection"] == selection
    assert plan["ScheduleExpression"] == "cron(0 6 ? * MON *)"

    conditions = {"StringEquals": [{"Key": "aws:ResourceTag/backup", "Value": "ir"}]}
    backup.create_restore_testing_selection(RestoreTestingPlanName=name, RestoreTestingSelection={
        "RestoreTestingSelectionName": "tagged_ebs", "ProtectedResourceType": "EBS",
        "IamRoleArn": role, "ProtectedResourceConditions": conditions,
        "ValidationWindowHours": 1})
    got = backup.get_restore_testing_selection(
        RestoreTestingPlanName=name, RestoreTestingSelectionName="tagged_ebs")[
        "RestoreTestingSelection"]
    assert got["ProtectedResourceConditions"] == conditions
    assert (got["ProtectedResourceType"], got["ValidationWindowHours"]) == ("EBS", 1)
    listed = backup.list_restore_testing_selections(RestoreTestingPlanName=name)[
        "RestoreTestingSelections"]
    assert [s["RestoreTestingSelectionName"] for s in listed] == ["tagged_ebs"]


def test_restore_testing_rejects_unknown_plans_vaults_and_types(vault_plan_role) -> None:  # type: ignore[no-untyped-def]
    backup, _, vault_arn, _, role = vault_plan_role
    with pytest.raises(ClientError) as err:
        backup.create_restore_testing_selection(
            RestoreTestingPlanName="no_such_plan", RestoreTestingSelection={
                "RestoreTestingSelectionName": "s", "ProtectedResourceType": "EBS",
                "IamRoleArn": role})
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as err:
        backup.create_restore_testing_plan(RestoreTestingPlan={
            "RestoreTestingPlanName": "p", "ScheduleExpression": "cron(0 6 ? * MON *)",
            "RecoveryPointSelection": {"IncludeVaults": [vault_arn + "-gone"]}})
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"
