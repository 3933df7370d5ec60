"""Eradication steps that are not containment: terminating an instance once its evidence
is safe.

`ec2.terminate-instance` refuses unless every EBS volume of the instance has a completed
snapshot tagged with the case (`ir:case`), whose id the case's audit log recorded when
`irctl contain instance` took it (the command passes those ids). It lifts the termination
protection containment set, then terminates. Not reversible.

No step creates credentials: a replacement access key (`irctl eradicate rotate-key
--create-new-key`) is created by the user's owner with the command irctl prints, since a
role that may mint keys for other users may mint them for an administrator.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any

from botocore.exceptions import ClientError
from pydantic import Field

from runbooks.core.errors import InvalidInput, PreconditionFailed
from runbooks.core.ids import CASE_TAG, require_instance_id
from runbooks.core.scopes import INSTANCE_PROTECTION_ATTRIBUTES
from runbooks.core.step import Change, Step, StepParams, checked_by, register

SNAPSHOT_ID = re.compile(r"^snap-[0-9a-f]{8}([0-9a-f]{9})?$")
IAM_NAME = re.compile(r"^[\w+=,.@-]{1,64}$")
KEYS_PER_USER = 2  # IAM's limit

def _code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


def _check_snapshots(recorded: Any) -> None:
    if not isinstance(recorded, Mapping) or not all(
            isinstance(s, str) and SNAPSHOT_ID.match(s) for s in recorded.values()):
        raise InvalidInput("recorded_snapshots must map volume ids to snapshot ids")


def _check_user(user: Any) -> None:
    if not isinstance(user, str) or not IAM_NAME.match(user):
        raise InvalidInput(f"user name {user!r} is malformed: 1-64 characters of "
                           "letters, digits and +=,.@_-")


def _check_handle(handle: Any) -> None:
    if not isinstance(handle, str):
        raise InvalidInput("iam.create-replacement-key needs a handle")


class TerminateInstanceParams(StepParams):
    instance_id: Annotated[str, checked_by(require_instance_id),
                           Field(description="i- and 8 or 17 hex digits")]
    recorded_snapshots: Annotated[dict[str, str], checked_by(_check_snapshots)] = {}


class CreateReplacementKeyParams(StepParams):
    user_name: Annotated[str, checked_by(_check_user)]
    handle: Annotated[str, checked_by(_check_handle),
                      Field(description="where the command claims the secret")]
    retiring: Annotated[list[str], Field(strict=False)] = []


@register
class TerminateInstance(Step):
    name = "ec2.terminate-instance"
    description = "Terminate an instance whose volumes' snapshot evidence is in the case"
    actions = frozenset({"ec2:DescribeInstances", "ec2:DescribeSnapshots",
                         "ec2:DescribeInstanceAttribute", "ec2:ModifyInstanceAttribute",
                         "ec2:TerminateInstances"})
    # lifts termination protection only (disableApiTermination), never user data
    scopes = {"ec2:ModifyInstanceAttribute": INSTANCE_PROTECTION_ATTRIBUTES}
    reversible = False
    Params = TerminateInstanceParams
    release_kind = "instance"

    def plan(self) -> list[Change]:
        instance_id = str(self.params["instance_id"])
        ec2 = self.ctx.client("ec2")
        try:
            reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
        except ClientError as err:
            if _code(err) in ("InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed"):
                raise PreconditionFailed(
                    f"instance {instance_id} not found in account {self.ctx.account_id} "
                    f"region {self.ctx.region}; check the id and --region") from err
            raise
        instance = reservations[0]["Instances"][0]
        state = instance["State"]["Name"]
        if state in ("terminated", "shutting-down"):
            return []
        volumes = {m["Ebs"]["VolumeId"]: m["Ebs"].get("DeleteOnTermination", False)
                   for m in instance.get("BlockDeviceMappings", []) if "Ebs" in m}
        recorded = {str(v): str(s) for v, s in dict(self.params.get("recorded_snapshots", {}))
                    .items()}
        evidence = self._completed_case_snapshots(sorted(set(recorded.values())))
        missing = sorted(v for v in volumes
                         if recorded.get(v) not in evidence
                         or evidence[recorded[v]]["VolumeId"] != v)
        if missing:
            raise PreconditionFailed(
                f"refusing to terminate {instance_id}: case {self.ctx.case_id} holds no "
                f"completed snapshot evidence for volume(s) {', '.join(missing)} "
                "(tagged with the case in EC2 and recorded in its audit log); capture it "
                f"first: irctl contain instance {instance_id} --case {self.ctx.case_id} "
                "--apply, wait for the snapshots to complete, then retry")
        protected = ec2.describe_instance_attribute(
            InstanceId=instance_id, Attribute="disableApiTermination"
        )["DisableApiTermination"]["Value"]
        deleted = sorted(v for v, delete in volumes.items() if delete)
        kept = sorted(v for v, delete in volumes.items() if not delete)
        summary = (f"Terminate {instance_id} ({state}); evidence: "
                   + ", ".join(f"{v}->{recorded[v]}" for v in sorted(volumes)))
        if kept:
            summary += f"; volumes kept: {', '.join(kept)}"
        if deleted:
            summary += f"; volumes deleted with it: {', '.join(deleted)}"
        if protected:
            summary += "; lifts termination protection first"
        return [Change(self.name, instance_id, summary,
                       before={"state": state, "terminationProtection": protected},
                       after={"state": "terminated",
                              "evidence": {v: recorded[v] for v in sorted(volumes)}})]

    def _completed_case_snapshots(self, snapshot_ids: list[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        ec2 = self.ctx.client("ec2")
        for snapshot_id in snapshot_ids:  # one by one: a deleted one must not hide the rest
            try:
                snapshots = ec2.describe_snapshots(SnapshotIds=[snapshot_id],
                                                   OwnerIds=["self"])["Snapshots"]
            except ClientError as err:
                if _code(err) == "InvalidSnapshot.NotFound":
                    continue
                raise
            for snap in snapshots:
                tags = {t["Key"]: t["Value"] for t in snap.get("Tags", [])}
                if snap.get("State") == "completed" and tags.get(CASE_TAG) == self.ctx.case_id:
                    found[snap["SnapshotId"]] = snap
        return found

    def apply(self, change: Change) -> Mapping[str, Any]:
        ec2 = self.ctx.client("ec2")
        if change.before.get("terminationProtection"):
            ec2.modify_instance_attribute(InstanceId=change.target,
                                          DisableApiTermination={"Value": False})
        response = ec2.terminate_instances(InstanceIds=[change.target])
        state = response["TerminatingInstances"][0]["CurrentState"]["Name"]
        return {"state": state, "evidence": dict(change.after["evidence"])}
