"""The persistence sweep's kinds beyond IAM users and EC2 (#20 part 6): Lambda functions,
URLs and permissions, EventBridge rules and targets, Secrets Manager secrets, IAM groups,
identity providers, KMS grants, and roles created with an outside trust (remove that
trust, not `contain role`); plus the routing of secret / KMS API-call findings."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from runbooks.analysis.cloudtrail import TrailEvent
from runbooks.analysis.findings import parse_findings
from runbooks.analysis.persistence import persistence
from runbooks.analysis.playbooks import (
    COMPROMISED_IAM,
    COMPROMISED_SECRET_OR_KEY,
    playbook_for,
)
from tests.runbooks.analysis.trail_logs import ACCOUNT, record

T0 = datetime(2026, 11, 27, 22, 0, tzinfo=timezone.utc)
SECRET_ARN = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:prod/db-AbCdEf"
KEY_ARN = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def _found(*records: dict) -> dict[str, object]:
    events = [e for r in records if (e := TrailEvent.from_record(r, "test")) is not None]
    return {p.event_name: p for p in persistence(events, ACCOUNT)}


def _at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_lambda_eventbridge_secret_group_provider_and_grant_each_get_their_undo() -> None:
    found = _found(
        record("CreateFunction20150331", _at(0), source="lambda.amazonaws.com",
               request={"functionName": "exfil"},
               response={"functionArn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:exfil"}),
        record("CreateFunctionUrlConfig20211031", _at(1), source="lambda.amazonaws.com",
               request={"functionName": "exfil", "authType": "NONE"}),
        record("AddPermission20150331v2", _at(2), source="lambda.amazonaws.com",
               request={"functionName": "exfil", "statementId": "anyone",
                        "principal": "*"}),
        record("PutRule", _at(3), source="events.amazonaws.com",
               request={"name": "every-5-min", "scheduleExpression": "rate(5 minutes)"}),
        record("PutTargets", _at(4), source="events.amazonaws.com",
               request={"rule": "every-5-min", "targets": [
                   {"id": "t1", "arn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:exfil"}]}),
        record("CreateSecret", _at(5), source="secretsmanager.amazonaws.com",
               request={"name": "prod/db"}, response={"aRN": SECRET_ARN}),
        record("CreateGroup", _at(6), source="iam.amazonaws.com",
               request={"groupName": "shadow-admins"}),
        record("AttachGroupPolicy", _at(7), source="iam.amazonaws.com",
               request={"groupName": "shadow-admins",
                        "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}),
        record("CreateSAMLProvider", _at(8), source="iam.amazonaws.com",
               request={"name": "evil-idp"},
               response={"sAMLProviderArn": f"arn:aws:iam::{ACCOUNT}:saml-provider/evil-idp"}),
        record("CreateOpenIDConnectProvider", _at(9), source="iam.amazonaws.com",
               request={"url": "https://token.actions.example"},
               response={"openIDConnectProviderArn":
                         f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.example"}),
        record("CreateGrant", _at(10), source="kms.amazonaws.com",
               request={"keyId": KEY_ARN, "granteePrincipal": "arn:aws:iam::999988887777:root",
                        "operations": ["Decrypt"]},
               response={"grantId": "g-0123"}),
        # A failed call leaves nothing behind.
        record("CreateSecret", _at(11), source="secretsmanager.amazonaws.com",
               request={"name": "denied"}, error="AccessDeniedException"),
    )
    assert list(found) == [
        "CreateFunction20150331", "CreateFunctionUrlConfig20211031", "AddPermission20150331v2",
        "PutRule", "PutTargets", "CreateSecret", "CreateGroup", "AttachGroupPolicy",
        "CreateSAMLProvider", "CreateOpenIDConnectProvider", "CreateGrant"]
    rec = {name: p.recommendation for name, p in found.items()}  # type: ignore[attr-defined]
    assert rec["CreateFunction20150331"].startswith(
        "aws lambda put-function-concurrency --function-name exfil "
        "--reserved-concurrent-executions 0")
    assert rec["CreateFunctionUrlConfig20211031"] == \
        "aws lambda delete-function-url-config --function-name exfil"
    assert "public" in found["CreateFunctionUrlConfig20211031"].summary  # type: ignore[attr-defined]
    assert rec["AddPermission20150331v2"] == \
        "aws lambda remove-permission --function-name exfil --statement-id anyone"
    assert rec["PutRule"].startswith("aws events disable-rule --name every-5-min")
    assert rec["PutTargets"] == "aws events remove-targets --rule every-5-min --ids t1"
    assert rec["CreateSecret"].startswith(f"irctl contain secret {SECRET_ARN} --principal")
    assert rec["CreateGroup"].endswith("aws iam delete-group --group-name shadow-admins")
    assert rec["AttachGroupPolicy"] == (
        "aws iam detach-group-policy --group-name shadow-admins "
        "--policy-arn arn:aws:iam::aws:policy/AdministratorAccess")
    assert rec["CreateSAMLProvider"].startswith(
        f"aws iam delete-saml-provider --saml-provider-arn "
        f"arn:aws:iam::{ACCOUNT}:saml-provider/evil-idp")
    assert rec["CreateOpenIDConnectProvider"].startswith(
        "aws iam delete-open-id-connect-provider --open-id-connect-provider-arn "
        f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.example")
    assert rec["CreateGrant"] == f"aws kms revoke-grant --key-id {KEY_ARN} --grant-id g-0123"


def test_a_role_created_with_outside_trust_gets_the_trust_removed_not_contain_role() -> None:
    trust = {"Version": "2012-10-17", "Statement": [
        {"Sid": "Ec2", "Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
         "Action": "sts:AssumeRole"},
        {"Sid": "Outside", "Effect": "Allow",
         "Principal": {"AWS": "arn:aws:iam::999988887777:root"}, "Action": "sts:AssumeRole"}]}
    only_outside = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Federated": "accounts.google.com"},
         "Action": "sts:AssumeRoleWithWebIdentity"}]}
    inside = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
         "Action": "sts:AssumeRole"}]}
    found = _found(
        record("CreateRole", _at(0), source="iam.amazonaws.com",
               request={"roleName": "backup-helper",
                        "assumeRolePolicyDocument": json.dumps(trust)}),
        record("UpdateAssumeRolePolicy", _at(1), source="iam.amazonaws.com",
               request={"roleName": "web-login", "policyDocument": json.dumps(only_outside)}),
    )
    created = found["CreateRole"]
    assert "999988887777" in created.summary  # type: ignore[attr-defined]
    recommendation = created.recommendation  # type: ignore[attr-defined]
    assert "irctl contain role" not in recommendation.replace("not `irctl contain role`", "")
    assert "aws iam update-assume-role-policy --role-name backup-helper --policy-document" \
        in recommendation
    document = json.loads(recommendation.split("--policy-document ", 1)[1].strip("'"))
    assert document["Statement"] == [trust["Statement"][0]]
    updated = found["UpdateAssumeRolePolicy"]
    assert "accounts.google.com" in updated.summary  # type: ignore[attr-defined]
    assert "aws iam delete-role --role-name web-login" in \
        updated.recommendation  # type: ignore[attr-defined]

    # A role trusting only its own account is still contained with `contain role`.
    own = _found(record("CreateRole", _at(2), source="iam.amazonaws.com",
                        request={"roleName": "ops", "assumeRolePolicyDocument":
                                 json.dumps(inside)}))
    assert own["CreateRole"].recommendation == "irctl contain role ops --apply"  # type: ignore[attr-defined]


def _finding(finding_type: str, api: str, affected: dict[str, str]) -> dict:
    return {"SchemaVersion": "2.0", "AccountId": ACCOUNT, "Region": "us-east-1",
            "Id": "f1", "Arn": f"arn:aws:guardduty:us-east-1:{ACCOUNT}:detector/d/finding/f1",
            "Type": finding_type, "Title": "anomaly", "Severity": 8,
            "Resource": {"ResourceType": "AccessKey", "AccessKeyDetails": {
                "AccessKeyId": "AKIAIOSFODNN7EXAMPLE", "UserName": "ci-deploy",
                "UserType": "IAMUser"}},
            "Service": {"ServiceName": "guardduty", "Action": {
                "ActionType": "AWS_API_CALL", "AwsApiCallAction": {
                    "Api": api, "AffectedResources": affected}}}}


def test_triage_names_the_secret_or_key_and_the_command_from_the_api_call() -> None:
    [read] = parse_findings({"Findings": [_finding(
        "CredentialAccess:IAMUser/AnomalousBehavior", "GetSecretValue",
        {"AWS::SecretsManager::Secret": SECRET_ARN})]})
    assert read.playbook == COMPROMISED_IAM  # the principal is contained first
    assert read.api_call == "GetSecretValue"
    assert ("secret", "prod/db-AbCdEf", SECRET_ARN) in [
        (r.kind, r.id, r.arn) for r in read.resources]
    assert read.api_call_commands() == [
        f"irctl contain secret {SECRET_ARN} --principal "
        f"arn:aws:iam::{ACCOUNT}:user/ci-deploy"]
    assert read.to_dict()["apiCallCommands"] == read.api_call_commands()

    [scheduled] = parse_findings({"Findings": [_finding(
        "Impact:IAMUser/AnomalousBehavior", "ScheduleKeyDeletion", {"AWS::KMS::Key": KEY_ARN})]})
    assert scheduled.api_call_commands() == [f"irctl contain key {KEY_ARN} --keep"]
    [decrypt] = parse_findings({"Findings": [_finding(
        "Exfiltration:IAMUser/AnomalousBehavior", "Decrypt", {})]})
    assert decrypt.api_call_commands() == ["irctl contain key KEY_ARN"]
    [other] = parse_findings({"Findings": [_finding(
        "Discovery:IAMUser/AnomalousBehavior", "ListBuckets", {})]})
    assert other.api_call_commands() == []


def test_security_hub_control_kms3_routes_to_the_secret_or_key_playbook() -> None:
    assert playbook_for(None, control_id="KMS.3") == COMPROMISED_SECRET_OR_KEY
