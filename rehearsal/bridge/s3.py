"""Bridge handlers for S3: buckets, their configuration resources, and account-level Block
Public Access (S3 Control).

=====================================================  ========================================
Type                                                   How
=====================================================  ========================================
aws:s3/bucket:Bucket                                   API s3 CreateBucket (+ Object Lock, tags)
aws:s3/bucketVersioning:BucketVersioning               API s3 PutBucketVersioning
aws:s3/bucketServerSideEncryptionConfiguration:...     API s3 PutBucketEncryption
aws:s3/bucketObjectLockConfiguration:...               API s3 PutObjectLockConfiguration
aws:s3/bucketLifecycleConfiguration:...                API s3 PutBucketLifecycleConfiguration
aws:s3/bucketPublicAccessBlock:...                     API s3 PutPublicAccessBlock
aws:s3/bucketOwnershipControls:...                     API s3 PutBucketOwnershipControls
aws:s3/bucketPolicy:BucketPolicy                       API s3 PutBucketPolicy
aws:s3/bucketNotification:BucketNotification           API s3 PutBucketNotificationConfiguration
aws:s3/bucketLogging:BucketLogging                     API s3 PutBucketLogging
aws:s3/accountPublicAccessBlock:...                    API s3control PutPublicAccessBlock
aws:s3/bucketReplicationConfig:BucketReplicationConfig API s3 PutBucketReplication
=====================================================  ========================================
"""

from __future__ import annotations

from typing import Any

from rehearsal.bridge._core import (
    Request,
    clean,
    handles,
    pascal,
    policy_text,
    tag_list,
)


@handles("aws:s3/bucket:Bucket", api="s3:CreateBucket")
def _s3_bucket(r: Request) -> tuple[str, dict[str, Any]]:
    s3 = r.client("s3")
    name = r.autoname("bucket", lower=True)
    kwargs: dict[str, Any] = {"Bucket": name}
    if r.region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": r.region}
    if r.get("objectLockEnabled"):
        kwargs["ObjectLockEnabledForBucket"] = True
    s3.create_bucket(**kwargs)
    if r.get("tags"):
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": tag_list(r.get("tags"))})
    return name, {
        "bucket": name,
        "arn": f"arn:aws:s3:::{name}",
        "bucketDomainName": f"{name}.s3.amazonaws.com",
        "bucketRegionalDomainName": f"{name}.s3.{r.region}.amazonaws.com",
        "region": r.region,
    }


@handles("aws:s3/bucketVersioning:BucketVersioning", api="s3:PutBucketVersioning")
def _s3_versioning(r: Request) -> tuple[str, dict[str, Any]]:
    config = r.get("versioningConfiguration", {})
    r.client("s3").put_bucket_versioning(
        Bucket=r.get("bucket"), VersioningConfiguration={"Status": config.get("status")}
    )
    return str(r.get("bucket")), {}


@handles(
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    api="s3:PutBucketEncryption",
)
def _s3_encryption(r: Request) -> tuple[str, dict[str, Any]]:
    rules = []
    for rule in r.get("rules", []):
        default = rule.get("applyServerSideEncryptionByDefault") or {}
        api_rule: dict[str, Any] = {
            "ApplyServerSideEncryptionByDefault": clean(
                {
                    "SSEAlgorithm": default.get("sseAlgorithm"),
                    "KMSMasterKeyID": default.get("kmsMasterKeyId"),
                }
            )
        }
        if rule.get("bucketKeyEnabled") is not None:
            api_rule["BucketKeyEnabled"] = bool(rule["bucketKeyEnabled"])
        rules.append(api_rule)
    r.client("s3").put_bucket_encryption(
        Bucket=r.get("bucket"), ServerSideEncryptionConfiguration={"Rules": rules}
    )
    return str(r.get("bucket")), {}


@handles(
    "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration",
    api="s3:PutObjectLockConfiguration",
)
def _s3_object_lock(r: Request) -> tuple[str, dict[str, Any]]:
    config: dict[str, Any] = {"ObjectLockEnabled": r.get("objectLockEnabled", "Enabled")}
    rule = r.get("rule")
    if rule:
        config["Rule"] = pascal(rule)
    r.client("s3").put_object_lock_configuration(
        Bucket=r.get("bucket"), ObjectLockConfiguration=config
    )
    return str(r.get("bucket")), {}


@handles(
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
    api="s3:PutBucketLifecycleConfiguration",
)
def _s3_lifecycle(r: Request) -> tuple[str, dict[str, Any]]:
    rules = []
    for rule in r.get("rules", []):
        api_rule = pascal(rule)
        api_rule.setdefault("Filter", {"Prefix": ""})
        rules.append(api_rule)
    r.client("s3").put_bucket_lifecycle_configuration(
        Bucket=r.get("bucket"), LifecycleConfiguration={"Rules": rules}
    )
    return str(r.get("bucket")), {}


@handles(
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", api="s3:PutPublicAccessBlock"
)
def _s3_public_access_block(r: Request) -> tuple[str, dict[str, Any]]:
    keys = ("blockPublicAcls", "ignorePublicAcls", "blockPublicPolicy", "restrictPublicBuckets")
    config = {k[:1].upper() + k[1:]: bool(r.get(k, False)) for k in keys}
    r.client("s3").put_public_access_block(
        Bucket=r.get("bucket"), PublicAccessBlockConfiguration=config
    )
    return str(r.get("bucket")), {}


@handles(
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
    api="s3:PutBucketOwnershipControls",
)
def _s3_ownership(r: Request) -> tuple[str, dict[str, Any]]:
    rule = r.get("rule", {})
    r.client("s3").put_bucket_ownership_controls(
        Bucket=r.get("bucket"),
        OwnershipControls={"Rules": [{"ObjectOwnership": rule.get("objectOwnership")}]},
    )
    return str(r.get("bucket")), {}


@handles("aws:s3/bucketPolicy:BucketPolicy", api="s3:PutBucketPolicy")
def _s3_policy(r: Request) -> tuple[str, dict[str, Any]]:
    r.client("s3").put_bucket_policy(Bucket=r.get("bucket"), Policy=policy_text(r.get("policy")))
    return str(r.get("bucket")), {}


@handles(
    "aws:s3/bucketNotification:BucketNotification",
    api="s3:PutBucketNotificationConfiguration",
)
def _s3_notification(r: Request) -> tuple[str, dict[str, Any]]:
    config: dict[str, Any] = {}
    if r.get("eventbridge"):
        config["EventBridgeConfiguration"] = {}
    for src, dst, arn_key in (
        ("topics", "TopicConfigurations", "topicArn"),
        ("queues", "QueueConfigurations", "queueArn"),
        ("lambdaFunctions", "LambdaFunctionConfigurations", "lambdaFunctionArn"),
    ):
        items = r.get(src, [])
        if items:
            arn_name = arn_key[:1].upper() + arn_key[1:]
            config[dst] = [
                clean({arn_name: i.get(arn_key), "Events": i.get("events"), "Id": i.get("id")})
                for i in items
            ]
    r.client("s3").put_bucket_notification_configuration(
        Bucket=r.get("bucket"), NotificationConfiguration=config
    )
    return str(r.get("bucket")), {}


@handles("aws:s3/bucketLogging:BucketLogging", api="s3:PutBucketLogging")
def _s3_logging(r: Request) -> tuple[str, dict[str, Any]]:
    r.client("s3").put_bucket_logging(
        Bucket=r.get("bucket"),
        BucketLoggingStatus={
            "LoggingEnabled": {
                "TargetBucket": r.get("targetBucket"),
                "TargetPrefix": r.get("targetPrefix", ""),
            }
        },
    )
    return str(r.get("bucket")), {}


@handles("aws:s3/accountPublicAccessBlock:AccountPublicAccessBlock",
         api="s3control:PutPublicAccessBlock")
def _account_public_access_block(r: Request) -> tuple[str, dict[str, Any]]:
    account = str(r.get("accountId") or r.account)
    r.client("s3control").put_public_access_block(
        AccountId=account,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": bool(r.get("blockPublicAcls", False)),
            "IgnorePublicAcls": bool(r.get("ignorePublicAcls", False)),
            "BlockPublicPolicy": bool(r.get("blockPublicPolicy", False)),
            "RestrictPublicBuckets": bool(r.get("restrictPublicBuckets", False)),
        },
    )
    return account, {"accountId": account}


@handles("aws:s3/bucketReplicationConfig:BucketReplicationConfig", api="s3:PutBucketReplication")
def _s3_replication(r: Request) -> tuple[str, dict[str, Any]]:
    bucket = str(r.get("bucket"))
    rules = []
    for rule in r.get("rules", []):
        api_rule = pascal(rule)
        destination = api_rule.get("Destination", {})
        encryption = destination.get("EncryptionConfiguration")
        if encryption and "ReplicaKmsKeyId" in encryption:
            # The API spells it ReplicaKmsKeyID.
            encryption["ReplicaKmsKeyID"] = encryption.pop("ReplicaKmsKeyId")
        rules.append(api_rule)
    r.client("s3").put_bucket_replication(
        Bucket=bucket, ReplicationConfiguration={"Role": r.get("role"), "Rules": rules})
    return bucket, {}
