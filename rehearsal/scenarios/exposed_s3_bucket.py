"""Drill scenario `exposed-s3-bucket`: a bucket opened to anonymous access.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from rehearsal.scenarios._base import (
    Check,
    Incident,
    Scenario,
    check,
    policy_statements,
    scenario,
)

if TYPE_CHECKING:
    from rehearsal.world import World


@scenario
class ExposedBucket(Scenario):
    name = "exposed-s3-bucket"
    order = 60
    playbook = "exposed-s3-bucket"
    title = "A bucket opened to anonymous access"
    finding_type = "Policy:S3/BucketAnonymousAccessGranted"
    severity = 5.0

    def prepare(self, world: World) -> dict[str, Any]:
        s3 = world.client("s3")
        bucket = f"drill-exports-{world.run_id}"
        config = ({} if world.home_region == "us-east-1" else
                  {"CreateBucketConfiguration": {"LocationConstraint": world.home_region}})
        s3.create_bucket(Bucket=bucket, **config)
        s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [
            {"Key": "ir-readiness:drill", "Value": world.run_id}]})
        s3.put_object(Bucket=bucket, Key="exports/customers.csv", Body=b"id,name\n1,Ada\n")
        s3.put_bucket_acl(Bucket=bucket, ACL="public-read")
        s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({
            "Version": "2012-10-17", "Statement": [
                {"Sid": "PublicRead", "Effect": "Allow", "Principal": "*",
                 "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"},
                {"Sid": "Ops", "Effect": "Allow",
                 "Principal": {"AWS": f"arn:aws:iam::{world.account_id}:root"},
                 "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{bucket}"}]}))
        return {"bucket": bucket}

    def resource(self, world: World, victim: Mapping[str, Any]) -> dict[str, Any]:
        return {"ResourceType": "S3Bucket", "S3BucketDetails": [{
            "Name": victim["bucket"], "Arn": f"arn:aws:s3:::{victim['bucket']}",
            "Type": "Destination",
            "PublicAccess": {"EffectivePermission": "PUBLIC"}}],
            "AccessKeyDetails": {"AccessKeyId": "AKIADRILLOPS0EXAMPLE", "UserName": "ops",
                                 "UserType": "IAMUser"}}

    def params(self, world: World, victim: Mapping[str, Any]) -> dict[str, str]:
        return {"bucket": str(victim["bucket"])}

    def verify(self, world: World, incident: Incident, case: str) -> list[Check]:
        s3 = world.client("s3")
        bucket = incident.victim["bucket"]

        def bpa() -> tuple[bool, str]:
            config = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
            return all(config.values()) and len(config) == 4, f"{config}"

        def policy_private() -> tuple[bool, str]:
            from botocore.exceptions import ClientError

            try:
                policy = s3.get_bucket_policy(Bucket=bucket)["Policy"]
            except ClientError as err:
                if err.response["Error"]["Code"] == "NoSuchBucketPolicy":
                    return True, "no bucket policy left"
                raise
            statements = policy_statements(policy)
            public = [s.get("Sid") for s in statements
                      if s.get("Principal") in ("*", {"AWS": "*"})]
            kept = [s.get("Sid") for s in statements if s not in public]
            return not public and "Ops" in kept, f"public statements {public}; kept {kept}"

        def acl_private() -> tuple[bool, str]:
            grants = s3.get_bucket_acl(Bucket=bucket)["Grants"]
            public = [g for g in grants if g["Grantee"].get("URI", "").endswith(
                ("/AllUsers", "/AuthenticatedUsers"))]
            return not public, f"{len(public)} public grant(s) of {len(grants)}"

        def versioned() -> tuple[bool, str]:
            status = s3.get_bucket_versioning(Bucket=bucket).get("Status")
            return status == "Enabled", f"versioning {status}"

        def data_kept() -> tuple[bool, str]:
            body = s3.get_object(Bucket=bucket, Key="exports/customers.csv")["Body"].read()
            return body == b"id,name\n1,Ada\n", "the bucket's objects are untouched"

        return [
            check("all four Block Public Access settings on", bpa),
            check("public policy statement removed, others kept", policy_private),
            check("no public ACL grant", acl_private),
            check("versioning enabled", versioned),
            check("objects untouched by containment", data_kept),
            *self.common_checks(world, incident, case, "high", bucket),
        ]
