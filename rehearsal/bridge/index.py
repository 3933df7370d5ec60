"""Bridge answers to the provider-level invokes (`aws:index/...`): caller identity,
region, partition, availability zones.

Invokes answered: `getCallerIdentity`, `getRegion`, `getPartition`, `getAvailabilityZones`.
"""

from __future__ import annotations

from typing import Any

from rehearsal.bridge._core import (
    MotoBridge,
    answers,
)


@answers("aws:index/getCallerIdentity:getCallerIdentity")
def _inv_caller_identity(b: MotoBridge, region: str, args: dict[str, Any]) -> dict[str, Any]:
    ident = b.client("sts", region).get_caller_identity()
    return {
        "accountId": ident["Account"],
        "arn": ident["Arn"],
        "userId": ident["UserId"],
        "id": ident["Account"],
    }


@answers("aws:index/getRegion:getRegion")
def _inv_region(b: MotoBridge, region: str, args: dict[str, Any]) -> dict[str, Any]:
    name = args.get("name") or args.get("region") or region
    return {
        "name": name,
        "region": name,
        "id": name,
        "description": name,
        "endpoint": f"ec2.{name}.amazonaws.com",
    }


@answers("aws:index/getPartition:getPartition")
def _inv_partition(b: MotoBridge, region: str, args: dict[str, Any]) -> dict[str, Any]:
    return {
        "partition": "aws",
        "id": "aws",
        "dnsSuffix": "amazonaws.com",
        "reverseDnsPrefix": "com.amazonaws",
    }


@answers("aws:index/getAvailabilityZones:getAvailabilityZones")
def _inv_azs(b: MotoBridge, region: str, args: dict[str, Any]) -> dict[str, Any]:
    zones = b.client("ec2", region).describe_availability_zones()["AvailabilityZones"]
    return {
        "id": region,
        "names": [z["ZoneName"] for z in zones],
        "zoneIds": [z["ZoneId"] for z in zones],
        "groupNames": [region] * len(zones),
    }
