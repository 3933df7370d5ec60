"""Drill scenario `ransomware-data-destruction`: objects overwritten and deleted en masse
with a stolen key.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from rehearsal.scenarios._base import (
    Check,
    Incident,
    Scenario,
    attacker_user,
    check,
    key_details,
    scenario,
)

if TYPE_CHECKING:
    from rehearsal.world import World


@scenario
class Ransomware(Scenario):
    name = "ransomware-data-destruction"
    order = 70
    playbook = "ransomware-data-destruction"
    title = "Objects overwritten and deleted en masse with a stolen key"
    finding_type = "Impact:S3/AnomalousBehavior.Delete"
    follow_ups = ("restore-bucket",)
    objects = 12

    def prepare(self, world: World) -> dict[str, Any]:
        s3 = world.client("s3")
        bucket = f"drill-records-{world.run_id}"
        config = ({} if world.home_region == "us-east-1" else
                  {"CreateBucketConfiguration": {"LocationConstraint": world.home_region}})
        s3.create_bucket(Bucket=bucket, **config)
        s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [
            {"Key": "ir-readiness:drill", "Value": world.run_id}]})
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        originals = {f"records/{i:03d}.json": json.dumps({"record": i}).encode()
                     for i in range(self.objects)}
        for key, body in originals.items():
            s3.put_object(Bucket=bucket, Key=key, Body=body)
        import time

        time.sleep(1.1)  # S3 times have second precision: the attack must come strictly later
        good = datetime.now(timezone.utc)
        time.sleep(1.1)
        attacker = attacker_user(world, "etl")
        return {"bucket": bucket, "restore_to": good.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "originals": {k: v.decode() for k, v in originals.items()}, **attacker}

    def attack(self, world: World, victim: Mapping[str, Any]) -> None:
        import boto3

        s3 = boto3.session.Session(
            aws_access_key_id=victim["access_key_id"],
            aws_secret_access_key=victim["secret"]).client(
            "s3", region_name=world.home_region, endpoint_url=world.endpoint_url)
        keys = sorted(victim["originals"])
        for key in keys[: self.objects // 2]:
            s3.put_object(Bucket=victim["bucket"], Key=key, Body=b"\x00ENCRYPTED\x00")
        s3.delete_objects(Bucket=victim["bucket"], Delete={
            "Objects": [{"Key": k} for k in keys[self.objects // 2:]]})
        s3.put_object(Bucket=victim["bucket"], Key="READ_ME_TO_RECOVER.txt",
                      Body=b"Your data is encrypted.")

    def resource(self, world: World, victim: Mapping[str, Any]) -> dict[str, Any]:
        resource = key_details(victim, world.account_id)
        resource["S3BucketDetails"] = [{"Name": victim["bucket"],
                                        "Arn": f"arn:aws:s3:::{victim['bucket']}"}]
        return resource

    def params(self, world: World, victim: Mapping[str, Any]) -> dict[str, str]:
        return {"bucket": str(victim["bucket"]), "access_key_id": str(victim["access_key_id"]),
                "restore_to": str(victim["restore_to"])}

    def verify(self, world: World, incident: Incident, case: str) -> list[Check]:
        iam, s3 = world.client("iam"), world.client("s3")
        victim = incident.victim

        def key_inactive() -> tuple[bool, str]:
            keys = {k["AccessKeyId"]: k["Status"] for k in
                    iam.list_access_keys(UserName=victim["user"])["AccessKeyMetadata"]}
            key = victim["access_key_id"]
            return keys.get(key) == "Inactive", f"key {key}: {keys.get(key, 'deleted')}"

        def versioned() -> tuple[bool, str]:
            status = s3.get_bucket_versioning(Bucket=victim["bucket"]).get("Status")
            return status == "Enabled", f"versioning {status}"

        def restored() -> tuple[bool, str]:
            wrong = []
            for key, original in victim["originals"].items():
                body = s3.get_object(Bucket=victim["bucket"], Key=key)["Body"].read().decode()
                if body != original:
                    wrong.append(key)
            return not wrong, (f"all {len(victim['originals'])} objects equal their "
                               f"pre-attack content" if not wrong else
                               f"{len(wrong)} object(s) differ: {', '.join(wrong[:3])}")

        return [
            check("the destroying key is deactivated", key_inactive),
            check("versioning enabled", versioned),
            check("every object returned to its content before the attack", restored),
            *self.common_checks(world, incident, case, "critical", victim["bucket"]),
        ]
