"""AccountProtection: account-wide guard rails a responder relies on being there.

* **Account-level S3 Block Public Access** (all four settings; opt-out): a bucket made
  public during an incident, by mistake or by an intruder, stays private.
* **IAM Access Analyzer** in every covered region (analyzers are regional): findings for
  resources shared outside the account (`ACCOUNT`) or outside the organization
  (`ORGANIZATION`, in the delegated administrator's security stack), so "what does the
  intruder's account still reach?" has an answer.
* **GuardDuty Malware Protection for S3** (opt-in, billed per GB scanned): new objects
  of the evidence bucket and of the listed buckets (home region) are scanned and tagged
  with the result. One role for all plans trusts
  `malware-protection-plan.guardduty.amazonaws.com` for this account only; its
  permissions are those AWS documents for the service (the managed EventBridge rule,
  the buckets' notifications, reading and tagging their objects, decrypting through S3
  with the home key).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.regional_validation import check_region, invalid

TYPE = "ir-readiness:index:AccountProtection"
MALWARE_SERVICE = "malware-protection-plan.guardduty.amazonaws.com"
ANALYZER_TYPES = {"account": "ACCOUNT", "organization": "ORGANIZATION"}
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


@dataclass(frozen=True)
class AccountProtectionArgs:
    home_region: str
    """Region of the account-level settings and the malware protection plans."""
    providers: Mapping[str, aws.Provider]
    """One provider per covered region (an analyzer in each)."""
    account_id: pulumi.Input[str]
    """This account."""
    partition: str
    """ARN partition."""
    block_public_access: bool = True
    """Account-level S3 Block Public Access."""
    access_analyzer: str = "account"
    """account, organization or off."""
    analyzer_name: str = "ir-readiness"
    """Name of the analyzer in each region."""
    malware_scanned_buckets: Sequence[pulumi.Input[str]] = ()
    """Buckets (home region) whose new objects GuardDuty scans; empty: no plan."""
    malware_kms_key_arn: pulumi.Input[str] | None = None
    """Key encrypting the scanned buckets (the home key), decrypted through S3 only."""

    def __post_init__(self) -> None:
        check_region("home_region", self.home_region)
        if self.home_region not in self.providers:
            raise invalid("providers", sorted(self.providers), "include the home region")
        if self.access_analyzer not in (*ANALYZER_TYPES, "off"):
            raise invalid("access_analyzer", self.access_analyzer,
                          "one of account, organization, off")
        for bucket in self.malware_scanned_buckets:
            if isinstance(bucket, str) and not _BUCKET_RE.match(bucket):
                raise invalid("malware_scanned_buckets", bucket, "an S3 bucket name")
        if self.malware_scanned_buckets and self.malware_kms_key_arn is None:
            raise invalid("malware_kms_key_arn", None,
                          "give the key of the scanned buckets so GuardDuty can read them")


def malware_trust_policy(account_id: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "MalwareProtectionPlansOfThisAccount",
            "Effect": "Allow",
            "Principal": {"Service": MALWARE_SERVICE},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
        }],
    }


def malware_scan_policy(
    buckets: Sequence[str], account_id: str, partition: str, region: str, key_arn: str
) -> dict[str, Any]:
    """What AWS documents the plan's role needs, scoped to these buckets and key."""
    rule = f"arn:{partition}:events:{region}:{account_id}:rule/" \
           "DO-NOT-DELETE-AmazonGuardDutyMalwareProtectionS3*"
    bucket_arns = [f"arn:{partition}:s3:::{b}" for b in buckets]
    objects = [f"{arn}/*" for arn in bucket_arns]
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ManageTheManagedRule",
                "Effect": "Allow",
                "Action": ["events:PutRule", "events:DeleteRule", "events:PutTargets",
                           "events:RemoveTargets"],
                "Resource": rule,
                "Condition": {"StringLike": {"events:ManagedBy": MALWARE_SERVICE}},
            },
            {
                "Sid": "WatchTheManagedRule",
                "Effect": "Allow",
                "Action": ["events:DescribeRule", "events:ListTargetsByRule"],
                "Resource": rule,
            },
            {
                "Sid": "BucketEventsAndOwnership",
                "Effect": "Allow",
                "Action": ["s3:PutBucketNotification", "s3:GetBucketNotification",
                           "s3:ListBucket"],
                "Resource": bucket_arns,
            },
            {
                "Sid": "ScanAndTagObjects",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTagging",
                           "s3:GetObjectVersionTagging", "s3:PutObjectTagging",
                           "s3:PutObjectVersionTagging"],
                "Resource": objects,
            },
            {
                "Sid": "PutValidationObject",
                "Effect": "Allow",
                "Action": "s3:PutObject",
                "Resource": [f"{arn}/malware-protection-resource-validation-object"
                             for arn in bucket_arns],
            },
            {
                "Sid": "DecryptThroughS3",
                "Effect": "Allow",
                "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
                "Resource": key_arn,
                "Condition": {"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}},
            },
        ],
    }


class AccountProtection(pulumi.ComponentResource):
    """Account-level Block Public Access, Access Analyzers, S3 malware protection plans."""

    analyzer_arns: dict[str, pulumi.Output[str]]
    malware_plan_ids: list[pulumi.Output[str]]

    def __init__(self, name: str, args: AccountProtectionArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        if not isinstance(args, AccountProtectionArgs):
            raise TypeError("args must be an AccountProtectionArgs")
        super().__init__(TYPE, name, None, opts)
        home = pulumi.ResourceOptions(parent=self, provider=args.providers[args.home_region])
        if args.block_public_access:
            aws.s3.AccountPublicAccessBlock(
                f"{name}-s3-public-access",
                block_public_acls=True,
                block_public_policy=True,
                ignore_public_acls=True,
                restrict_public_buckets=True,
                opts=home,
            )
        self.analyzer_arns = {}
        if args.access_analyzer != "off":
            for region, provider in args.providers.items():
                analyzer = aws.accessanalyzer.Analyzer(
                    f"{name}-analyzer-{region}",
                    analyzer_name=args.analyzer_name,
                    type=ANALYZER_TYPES[args.access_analyzer],
                    opts=pulumi.ResourceOptions(parent=self, provider=provider),
                )
                self.analyzer_arns[region] = analyzer.arn
        self.malware_plan_ids = []
        if args.malware_scanned_buckets:
            role = aws.iam.Role(
                f"{name}-malware-scan-role",
                description="GuardDuty Malware Protection scans and tags new objects",
                assume_role_policy=pulumi.Output.from_input(args.account_id).apply(
                    lambda acct: json.dumps(malware_trust_policy(acct), sort_keys=True)),
                opts=home,
            )
            policy = aws.iam.RolePolicy(
                f"{name}-malware-scan-policy",
                role=role.id,
                policy=pulumi.Output.all(
                    args.account_id, args.malware_kms_key_arn, *args.malware_scanned_buckets
                ).apply(lambda v: json.dumps(malware_scan_policy(
                    list(v[2:]), v[0], args.partition, args.home_region, v[1]), sort_keys=True)),
                opts=home,
            )
            for i, bucket in enumerate(args.malware_scanned_buckets):
                label = bucket if isinstance(bucket, str) else f"bucket-{i}"
                plan = aws.guardduty.MalwareProtectionPlan(
                    f"{name}-malware-{label}",
                    role=role.arn,
                    protected_resource=aws.guardduty.MalwareProtectionPlanProtectedResourceArgs(
                        s3_bucket=aws.guardduty.MalwareProtectionPlanProtectedResourceS3BucketArgs(
                            bucket_name=bucket),
                    ),
                    # Tag every scanned object with its result (what responders filter on).
                    actions=[aws.guardduty.MalwareProtectionPlanActionArgs(
                        taggings=[aws.guardduty.MalwareProtectionPlanActionTaggingArgs(
                            status="ENABLED")])],
                    opts=pulumi.ResourceOptions(
                        parent=self, provider=args.providers[args.home_region],
                        depends_on=[policy]),
                )
                self.malware_plan_ids.append(plan.id)
        self.register_outputs({"analyzerArns": self.analyzer_arns})
