"""A readiness-provisioned account in moto (+ the emulator's extensions), for the
analysis, eradication and verify command tests: evidence bucket and KMS key, a trail
with its log bucket, a GuardDuty detector, Security Hub, and a manifest file."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner, Result
from moto import mock_aws

from runbooks.steps.iam import DENY_ALL_DOCUMENT

ACCOUNT = "123456789012"
REGION = "us-east-1"


@dataclass
class World:
    manifest_path: Path
    manifest: dict[str, Any]
    case_dir: Path

    @property
    def vpc_id(self) -> str:
        return next(iter(self.manifest["quarantine"]))

    def client(self, service: str, region: str = REGION) -> Any:
        return boto3.client(service, region_name=region)

    def irctl(self, *args: str, input: str | None = None) -> Result:
        from runbooks.cli import main

        return CliRunner().invoke(
            main, ["--manifest", str(self.manifest_path), "--region", REGION, *args],
            input=input, catch_exceptions=False)

    def irctl_json(self, *args: str, input: str | None = None) -> tuple[int, dict[str, Any]]:
        result = self.irctl(*args, "--output", "json", input=input)
        return result.exit_code, json.loads(result.stdout)

    def evidence(self, key: str) -> bytes:
        body: bytes = self.client("s3").get_object(
            Bucket=self.manifest["evidenceBucket"], Key=key)["Body"].read()
        return body

    def evidence_keys(self) -> list[str]:
        listed = self.client("s3").list_objects_v2(Bucket=self.manifest["evidenceBucket"])
        return sorted(o["Key"] for o in listed.get("Contents", []))


def build_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    for var in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("IR_CASE_DIR", str(tmp_path / "cases"))
    monkeypatch.setenv("COLUMNS", "240")  # rich tables unwrapped in text-output tests
    from rehearsal.emulator import install

    install()
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        suffix = uuid.uuid4().hex[:10]
        evidence, trail_bucket = f"ir-evidence-{suffix}", f"ir-trail-{suffix}"
        s3.create_bucket(Bucket=evidence)
        s3.put_bucket_versioning(Bucket=evidence,
                                 VersioningConfiguration={"Status": "Enabled"})
        s3.create_bucket(Bucket=trail_bucket)
        key_arn = boto3.client("kms", region_name=REGION).create_key()["KeyMetadata"]["Arn"]
        cloudtrail = boto3.client("cloudtrail", region_name=REGION)
        trail = cloudtrail.create_trail(Name=f"ir-{suffix}", S3BucketName=trail_bucket,
                                        S3KeyPrefix="ct", IsMultiRegionTrail=True)
        cloudtrail.start_logging(Name=trail["TrailARN"])
        detector = boto3.client("guardduty", region_name=REGION).create_detector(
            Enable=True)["DetectorId"]
        boto3.client("securityhub", region_name=REGION).enable_security_hub()
        ec2 = boto3.client("ec2", region_name=REGION)
        vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
        groups = {role: ec2.create_security_group(
            GroupName=f"ir-{role}-{suffix}", Description=f"ir {role}", VpcId=vpc)["GroupId"]
            for role in ("isolation", "conversion", "forensic")}
        # the stack's rules: isolation none at all, conversion all traffic in and out
        ec2.revoke_security_group_egress(GroupId=groups["isolation"], IpPermissions=[
            {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
        ec2.authorize_security_group_ingress(GroupId=groups["conversion"], IpPermissions=[
            {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
             "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}])
        ec2.authorize_security_group_egress(GroupId=groups["conversion"], IpPermissions=[
            {"IpProtocol": "-1", "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}])
        sns = boto3.client("sns", region_name=REGION)
        topics = {s: sns.create_topic(Name=f"ir-{s}-{suffix}")["TopicArn"]
                  for s in ("critical", "high", "info")}
        manifest = {
            "version": 1,
            "accountId": ACCOUNT,
            "region": REGION,
            "homeRegion": REGION,
            "kmsKeyArn": key_arn,
            "evidenceBucket": evidence,
            "trail": {"arn": trail["TrailARN"], "bucket": trail_bucket,
                      "logGroup": "/ir-readiness/cloudtrail"},
            "topics": topics,
            "quarantine": {vpc: {
                "isolationSecurityGroupId": groups["isolation"],
                "conversionSecurityGroupId": groups["conversion"],
                "forensicSecurityGroupId": groups["forensic"]}},
            "backup": {"vaultName": "ir-vault",
                       "vaultArn": f"arn:aws:backup:{REGION}:{ACCOUNT}:backup-vault:ir-vault",
                       "planId": "plan-1",
                       "restoreRoleArn": f"arn:aws:iam::{ACCOUNT}:role/ir-backup-restore"},
            "guardDutyDetectorId": detector,
            "securityHubEnabled": True,
            "responderRoles": {
                "investigator": f"arn:aws:iam::{ACCOUNT}:role/ir-investigator",
                "responder": f"arn:aws:iam::{ACCOUNT}:role/ir-responder"},
            # the stack's managed deny-all policy, as ResponderAccess provisions it
            "containmentPolicies": {"denyAll": boto3.client("iam").create_policy(
                PolicyName=f"ir-deny-all-{suffix}",
                PolicyDocument=json.dumps(DENY_ALL_DOCUMENT))["Policy"]["Arn"]},
        }
        path = tmp_path / "manifest.json"
        path.write_text(json.dumps(manifest))
        yield World(path, manifest, tmp_path / "cases")
