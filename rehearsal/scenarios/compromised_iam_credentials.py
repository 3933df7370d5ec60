"""Drill scenario `compromised-iam-credentials`: a user's access key used from a
known-malicious address.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from rehearsal.scenarios._base import (
    Check,
    Incident,
    Scenario,
    attacker_user,
    check,
    key_details,
    policy_statements,
    scenario,
)

if TYPE_CHECKING:
    from rehearsal.world import World


def _key_history(world: World, user: Mapping[str, Any], calls: list[tuple[str, str]],
                 ip: str) -> list[dict[str, Any]]:
    start = datetime.now(timezone.utc) - timedelta(minutes=30)
    return [{
        "eventTime": (start + timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": source, "eventName": name, "awsRegion": world.home_region,
        "sourceIPAddress": ip, "userAgent": "aws-cli/2.15.0",
        "userIdentity": {"type": "IAMUser", "accountId": world.account_id,
                         "accessKeyId": user["access_key_id"], "userName": user["user"],
                         "arn": f"arn:aws:iam::{world.account_id}:user/{user['user']}"},
        "requestParameters": {}, "readOnly": name.startswith(("List", "Get", "Describe")),
    } for i, (source, name) in enumerate(calls)]


@scenario
class CompromisedAccessKey(Scenario):
    name = "compromised-iam-credentials"
    order = 30
    playbook = "compromised-iam-credentials"
    title = "A user's access key used from a known-malicious address"
    finding_type = "UnauthorizedAccess:IAMUser/MaliciousIPCaller"
    severity = 5.0

    def prepare(self, world: World) -> dict[str, Any]:
        user = attacker_user(world, "alice")
        world.client("iam").create_login_profile(UserName=user["user"],
                                                 Password=f"Drill-{uuid.uuid4().hex}!")
        return user

    def resource(self, world: World, victim: Mapping[str, Any]) -> dict[str, Any]:
        return key_details(victim, world.account_id)

    def service_action(self, world: World, victim: Mapping[str, Any]) -> dict[str, Any]:
        return {"ActionType": "AWS_API_CALL", "AwsApiCallAction": {
            "Api": "CreateUser", "ServiceName": "iam.amazonaws.com",
            "RemoteIpDetails": {"IpAddressV4": "198.51.100.23"}}}

    def history(self, world: World, victim: Mapping[str, Any]) -> list[dict[str, Any]]:
        return _key_history(world, victim, [
            ("sts.amazonaws.com", "GetCallerIdentity"), ("s3.amazonaws.com", "ListBuckets"),
            ("iam.amazonaws.com", "CreateUser"), ("iam.amazonaws.com", "CreateAccessKey")],
            "198.51.100.23")

    def params(self, world: World, victim: Mapping[str, Any]) -> dict[str, str]:
        return {"credential_kind": "access-key", "access_key_id": str(victim["access_key_id"]),
                "key_owner": "human"}

    def verify(self, world: World, incident: Incident, case: str) -> list[Check]:
        iam = world.client("iam")
        user, key_id = incident.victim["user"], incident.victim["access_key_id"]

        def key_inactive() -> tuple[bool, str]:
            keys = {k["AccessKeyId"]: k["Status"] for k in
                    iam.list_access_keys(UserName=user)["AccessKeyMetadata"]}
            return keys.get(key_id) == "Inactive", f"key {key_id}: {keys.get(key_id, 'deleted')}"

        def denied() -> tuple[bool, str]:
            inline = iam.list_user_policies(UserName=user)["PolicyNames"]
            documents = [iam.get_user_policy(UserName=user, PolicyName=p)["PolicyDocument"]
                         for p in inline]
            attached = [p["PolicyArn"] for p in
                        iam.list_attached_user_policies(UserName=user)["AttachedPolicies"]]
            for arn in attached:
                version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
                documents.append(iam.get_policy_version(PolicyArn=arn, VersionId=version)[
                    "PolicyVersion"]["Document"])
            deny_all = [d for d in documents for s in policy_statements(d)
                        if s.get("Effect") == "Deny" and s.get("Action") in ("*", ["*"])
                        and s.get("Resource") in ("*", ["*"])]
            return bool(deny_all), f"{len(inline)} inline, {len(attached)} attached; " \
                                   f"deny-all present: {bool(deny_all)}"

        def no_console() -> tuple[bool, str]:
            from botocore.exceptions import ClientError

            try:
                iam.get_login_profile(UserName=user)
            except ClientError as err:
                if err.response["Error"]["Code"] == "NoSuchEntity":
                    return True, "login profile removed"
                raise
            return False, "login profile still exists"

        def activity_evidence() -> tuple[bool, str]:
            s3 = world.client("s3")
            bucket = world.manifest.evidence_bucket
            for key in self.evidence_keys(world, case):
                if key.endswith("audit.jsonl"):
                    continue
                body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
                if b"CreateAccessKey" in body and key_id.encode() in body:
                    return True, f"s3://{bucket}/{key} holds the key's CreateAccessKey call"
            return False, "no evidence object holds the key's seeded activity"

        # In a real account no history can be injected: the activity check is emulator-only.
        activity = ([check("the key's CloudTrail activity saved as evidence",
                           activity_evidence)] if world.emulated else [])
        return [
            check("access key deactivated, not deleted", key_inactive),
            check("user carries a deny-all policy", denied),
            check("console password removed (human owner)", no_console),
            *activity,
            *self.common_checks(world, incident, case, "high", key_id),
        ]
