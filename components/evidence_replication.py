"""EvidenceReplication: a replica of the evidence bucket in a second covered region
(`ir:evidence.replicationRegion`, off by default).

Evidence must outlive the loss of its region (or of the home KMS key's region) during a
long investigation; the seed's recovery plan asks for copies kept apart.

* The replica bucket, in the destination region (this component's provider), is the
  evidence bucket's shape (`locked_bucket`): Block Public Access, bucket-owner-enforced,
  versioned, TLS-only, SSE-KMS with **the destination region's** key, and Object Lock
  with the same mode and retention (replicated versions keep their own retention too,
  the role reads it with ``s3:GetObjectRetention``), the same archive rule.
* ``aws.s3.BucketReplicationConfig`` on the evidence bucket: every new object version
  (only SSE-KMS objects exist) replicated to the replica, re-encrypted with the
  destination key, storage class STANDARD. Delete markers are **not** replicated: a
  deletion in the home bucket never removes the replica.
* The replication role, trusted by ``s3.amazonaws.com`` for this account only, may do
  exactly: read the source's replication configuration and versions (with their ACL,
  tags, retention and legal hold), write replicas and tags into the replica bucket
  (``s3:ReplicateObject``, ``s3:ReplicateTags``; no ``s3:ReplicateDelete``), decrypt
  with the home key and encrypt with the destination key, each only through S3 in its
  region and only for objects of that bucket (``kms:EncryptionContext:aws:s3:arn``, the
  bucket ARN with S3 Bucket Keys, an object ARN without).

Cost: the replica's storage (as the evidence bucket's), replication requests per
object, and inter-region data transfer per GB.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.locked_bucket import locked_bucket
from components.regional_validation import check_region, invalid
from components.settings import ObjectLock

TYPE = "ir-readiness:index:EvidenceReplication"

SOURCE_READ_ACTIONS = (
    "s3:GetObjectVersionForReplication",
    "s3:GetObjectVersionAcl",
    "s3:GetObjectVersionTagging",
    "s3:GetObjectRetention",
    "s3:GetObjectLegalHold",
)
REPLICA_WRITE_ACTIONS = ("s3:ReplicateObject", "s3:ReplicateTags")


@dataclass(frozen=True)
class EvidenceReplicationArgs:
    source_region: str
    """The evidence bucket's region (home)."""
    destination_region: str
    """The replica's region (this component's provider)."""
    source_provider: pulumi.ProviderResource
    """Provider of the source region: the replication configuration and role use it."""
    account_id: pulumi.Input[str]
    """This account (the role's `aws:SourceAccount`)."""
    source_bucket_name: pulumi.Input[str]
    """The evidence bucket."""
    source_bucket_arn: pulumi.Input[str]
    """Its ARN."""
    source_kms_key_arn: pulumi.Input[str]
    """The home key encrypting the evidence bucket."""
    destination_kms_key_arn: pulumi.Input[str]
    """The destination region's key, which encrypts the replica."""
    object_lock: ObjectLock
    """The evidence bucket's Object Lock (the replica gets the same)."""
    archive_after_days: int = 90
    """As the evidence bucket."""
    archive_prefixes: Sequence[str] = ("guardduty/",)
    """As the evidence bucket (only these prefixes move to Glacier)."""
    source_depends_on: Sequence[pulumi.Resource] = ()
    """The evidence bucket's versioning (replication requires it) and configuration."""

    def __post_init__(self) -> None:
        check_region("source_region", self.source_region)
        check_region("destination_region", self.destination_region)
        if self.source_region == self.destination_region:
            raise invalid("destination_region", self.destination_region,
                          "another region than the evidence bucket's")
        if not isinstance(self.object_lock, ObjectLock):
            raise invalid("object_lock", self.object_lock, "an ObjectLock(mode, days)")


def replication_trust_policy(account_id: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "S3ReplicatesThisAccountsBucket",
            "Effect": "Allow",
            "Principal": {"Service": "s3.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
        }],
    }


def replication_policy(*, source_bucket_arn: str, replica_bucket_arn: str,
                       source_key_arn: str, replica_key_arn: str, source_region: str,
                       replica_region: str) -> dict[str, Any]:
    def via_s3(region: str, bucket_arn: str) -> dict[str, Any]:
        return {
            "StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"},
            "StringLike": {"kms:EncryptionContext:aws:s3:arn": [bucket_arn,
                                                                 f"{bucket_arn}/*"]},
        }

    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "ReadReplicationConfiguration", "Effect": "Allow",
             "Action": ["s3:GetReplicationConfiguration", "s3:ListBucket"],
             "Resource": source_bucket_arn},
            {"Sid": "ReadSourceVersions", "Effect": "Allow",
             "Action": list(SOURCE_READ_ACTIONS), "Resource": f"{source_bucket_arn}/*"},
            {"Sid": "WriteReplicas", "Effect": "Allow",
             "Action": list(REPLICA_WRITE_ACTIONS), "Resource": f"{replica_bucket_arn}/*"},
            {"Sid": "DecryptSource", "Effect": "Allow", "Action": "kms:Decrypt",
             "Resource": source_key_arn, "Condition": via_s3(source_region, source_bucket_arn)},
            {"Sid": "EncryptReplica", "Effect": "Allow",
             "Action": ["kms:Encrypt", "kms:GenerateDataKey"], "Resource": replica_key_arn,
             "Condition": via_s3(replica_region, replica_bucket_arn)},
        ],
    }


class EvidenceReplication(pulumi.ComponentResource):
    """The evidence bucket's replica in another region, and the replication feeding it."""

    bucket_name: pulumi.Output[str]
    bucket_arn: pulumi.Output[str]
    role_arn: pulumi.Output[str]

    def __init__(self, name: str, args: EvidenceReplicationArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        if not isinstance(args, EvidenceReplicationArgs):
            raise TypeError("EvidenceReplication needs EvidenceReplicationArgs")
        super().__init__(TYPE, name, None, opts)
        replica = locked_bucket(
            f"{name}-bucket",
            parent=self,
            kms_key_arn=args.destination_kms_key_arn,
            object_lock=args.object_lock,
            archive_after_days=args.archive_after_days,
            archive_prefixes=tuple(args.archive_prefixes),
        )
        at_source = pulumi.ResourceOptions(parent=self, provider=args.source_provider)
        role = aws.iam.Role(
            f"{name}-role",
            description="ir-readiness: S3 replicates the evidence bucket to its replica",
            assume_role_policy=pulumi.Output.from_input(args.account_id).apply(
                lambda acct: json.dumps(replication_trust_policy(acct), sort_keys=True)),
            opts=at_source,
        )
        policy = aws.iam.RolePolicy(
            f"{name}-role-policy",
            role=role.id,
            policy=pulumi.Output.all(
                args.source_bucket_arn, replica.bucket.arn, args.source_kms_key_arn,
                args.destination_kms_key_arn,
            ).apply(lambda v: json.dumps(replication_policy(
                source_bucket_arn=v[0], replica_bucket_arn=v[1], source_key_arn=v[2],
                replica_key_arn=v[3], source_region=args.source_region,
                replica_region=args.destination_region), sort_keys=True)),
            opts=at_source,
        )
        aws.s3.BucketReplicationConfig(
            f"{name}-configuration",
            bucket=args.source_bucket_name,
            role=role.arn,
            rules=[aws.s3.BucketReplicationConfigRuleArgs(
                id="evidence-replica",
                status="Enabled",
                priority=1,
                filter=aws.s3.BucketReplicationConfigRuleFilterArgs(prefix=""),
                # A deletion in the home bucket must never reach the replica.
                delete_marker_replication=(
                    aws.s3.BucketReplicationConfigRuleDeleteMarkerReplicationArgs(
                        status="Disabled")),
                source_selection_criteria=(
                    aws.s3.BucketReplicationConfigRuleSourceSelectionCriteriaArgs(
                        sse_kms_encrypted_objects=(
                            aws.s3.BucketReplicationConfigRuleSourceSelectionCriteriaSseKmsEncryptedObjectsArgs(  # noqa: E501
                                status="Enabled")))),
                destination=aws.s3.BucketReplicationConfigRuleDestinationArgs(
                    bucket=replica.bucket.arn,
                    storage_class="STANDARD",
                    encryption_configuration=(
                        aws.s3.BucketReplicationConfigRuleDestinationEncryptionConfigurationArgs(
                            replica_kms_key_id=args.destination_kms_key_arn)),
                ),
            )],
            opts=pulumi.ResourceOptions(
                parent=self, provider=args.source_provider,
                depends_on=[policy, *replica.ready, *args.source_depends_on]),
        )
        self.bucket_name = replica.bucket.bucket
        self.bucket_arn = replica.bucket.arn
        self.role_arn = role.arn
        self.register_outputs({"bucketName": self.bucket_name, "bucketArn": self.bucket_arn,
                               "roleArn": self.role_arn})
