"""Forensic copies of a case's EBS snapshots, shared with the forensic account.

Forensic analysis happens in a separate account (`ir:forensicAccount`, the manifest's
`forensicAccount`). Snapshots encrypted with the default `aws/ebs` key cannot be shared,
so each case snapshot is copied first, re-encrypted with the stack key (whose key policy
lets the forensic account use it through EBS), and the copy is what is shared:

* `ec2.copy-snapshot` (target: one case snapshot): `CopySnapshot` with the stack key,
  tagged with the case, its source snapshot, volume and instance. The copy is evidence:
  not reversible. The command then waits (bounded, with progress: `wait_for_copies`).
* `ec2.record-snapshot-copy`: the copy's description file (source id, volume, instance,
  copy id, KMS keys, times) written to `cases/<case>/snapshots/<id>.json` through the
  evidence writer, so its SHA-256 is in the audit log. Not reversible.
* `ec2.share-snapshot`: `createVolumePermission` of the copy adds the forensic account.
  Reversible: release (`irctl release snapshot SNAPSHOT --case ID`) removes exactly that
  account again; the copies stay (evidence).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Annotated, Any

from pydantic import Field

from runbooks.core.context import Context
from runbooks.core.errors import InvalidInput, PreconditionFailed
from runbooks.core.evidence_queue import already_held, put_evidence
from runbooks.core.ids import CASE_TAG
from runbooks.core.scopes import (
    CASE_SNAPSHOTS_NEVER_PUBLIC,
    EVIDENCE_OBJECTS,
    STACK_KEY_GRANTS_FOR_AWS_RESOURCES,
    STACK_KEYS,
)
from runbooks.core.step import Change, Check, Step, StepParams, checked_by, register

COPY_OF_TAG = "ir:copy-of"
SOURCE_VOLUME_TAG = "ir:source-volume"
SOURCE_INSTANCE_TAG = "ir:source-instance"
NO_FORENSIC_ACCOUNT = (
    "no forensic account is configured: set it in the readiness stack "
    "(`pulumi config set ir:forensicAccount 123456789012`, the 12-digit id of the separate "
    "account forensic analysts work in) and `pulumi up`; the manifest then names it and "
    "the stack key lets that account use the copies")


def require_snapshot_id(value: Any) -> None:
    import re

    if not isinstance(value, str) or not re.fullmatch(r"snap-([0-9a-f]{8}|[0-9a-f]{17})",
                                                      value):
        raise InvalidInput(f"snapshot id {value!r} is invalid: expected snap- and 8 or 17 "
                           "hex digits")


def forensic_account(ctx: Context) -> str:
    """The manifest's forensic account; InvalidInput (exit 2) naming the setting when it
    is not configured, or when it is this account."""
    account = ctx.manifest.forensic_account
    if account is None:
        raise InvalidInput(NO_FORENSIC_ACCOUNT)
    if account == ctx.account_id:
        raise InvalidInput(f"the manifest's forensicAccount {account} is this account: "
                           "set ir:forensicAccount to the separate forensic account and "
                           "`pulumi up`")
    return account


def _tags(resource: Mapping[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in resource.get("Tags", [])}


def case_source_snapshots(ctx: Context) -> list[dict[str, Any]]:
    """The snapshots of this region tagged with the case (not forensic copies)."""
    found: list[dict[str, Any]] = []
    paginator = ctx.client("ec2").get_paginator("describe_snapshots")
    for page in paginator.paginate(OwnerIds=["self"], Filters=[
            {"Name": f"tag:{CASE_TAG}", "Values": [ctx.case_id]}]):
        found += [s for s in page["Snapshots"] if COPY_OF_TAG not in _tags(s)]
    return sorted(found, key=lambda s: str(s["SnapshotId"]))


def copy_of(ctx: Context, source_id: str) -> dict[str, Any] | None:
    """The case's forensic copy of `source_id` (read fresh), None when there is none;
    a copy that failed (state error) does not count."""
    response = ctx.client("ec2").describe_snapshots(OwnerIds=["self"], Filters=[
        {"Name": f"tag:{COPY_OF_TAG}", "Values": [source_id]},
        {"Name": f"tag:{CASE_TAG}", "Values": [ctx.case_id]}])
    copies = [s for s in response["Snapshots"] if s.get("State") != "error"]
    return sorted(copies, key=lambda s: str(s.get("StartTime")))[0] if copies else None


def description_key(case_id: str, source_id: str) -> str:
    return f"cases/{case_id}/snapshots/{source_id}.json"


def wait_for_copies(ctx: Context, source_ids: list[str],
                    on_progress: Callable[[float, str], None], poll_seconds: float,
                    timeout_seconds: float) -> dict[str, str]:
    """Poll the copies of `source_ids` until all are completed or the time is up (read
    only); the ones not completed, as source id -> "state progress"."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        pending: dict[str, str] = {}
        percents: list[float] = []
        for source in source_ids:
            copy = copy_of(ctx, source)
            if copy is None:
                pending[source] = "no copy"
                percents.append(0.0)
                continue
            progress = str(copy.get("Progress") or "0%").rstrip("%") or "0"
            done = 100.0 if copy.get("State") == "completed" else float(progress)
            percents.append(done)
            if copy.get("State") != "completed":
                pending[source] = f"{copy['SnapshotId']} {copy.get('State')} {progress}%"
        on_progress(sum(percents) / max(len(percents), 1),
                    "completed" if not pending else f"{len(pending)} pending")
        if not pending or time.monotonic() > deadline:
            return pending
        time.sleep(poll_seconds)


class SnapshotParams(StepParams):
    snapshot_id: Annotated[str, checked_by(require_snapshot_id),
                           Field(description="a snapshot of the case: snap- and 8 or 17 "
                                             "hex digits")]


class CaseSnapshotStep(Step):
    """A step whose target is one snapshot the case took (param `snapshot_id`)."""

    Params = SnapshotParams
    release_kind = "snapshot"

    @property
    def snapshot_id(self) -> str:
        return str(self.params["snapshot_id"])

    def source(self) -> dict[str, Any]:
        """The case snapshot (plans refuse one of another case, and a missing forensic
        account, exit 2; release and verify read only what the case recorded)."""
        from botocore.exceptions import ClientError

        try:
            [found] = self.ctx.client("ec2").describe_snapshots(
                SnapshotIds=[self.snapshot_id])["Snapshots"]
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") not in (
                    "InvalidSnapshot.NotFound", "InvalidSnapshotID.Malformed"):
                raise
            raise InvalidInput(f"snapshot {self.snapshot_id} is not in {self.ctx.region} "
                               "of this account; check the id and --region") from err
        tags = _tags(found)
        if tags.get(CASE_TAG) != self.ctx.case_id or COPY_OF_TAG in tags:
            raise InvalidInput(
                f"snapshot {self.snapshot_id} is not a snapshot of case {self.ctx.case_id} "
                f"(its {CASE_TAG} tag is {tags.get(CASE_TAG)!r}); only a case's own "
                "snapshots are copied and shared")
        return dict(found)

    def completed_copy(self) -> dict[str, Any]:
        copy = copy_of(self.ctx, self.snapshot_id)
        if copy is None:
            raise PreconditionFailed(
                f"snapshot {self.snapshot_id} has no forensic copy in case "
                f"{self.ctx.case_id}: `irctl case share-snapshots {self.ctx.case_id} "
                "--apply` copies it first")
        if copy.get("State") != "completed":
            raise PreconditionFailed(
                f"the copy {copy['SnapshotId']} of {self.snapshot_id} is still "
                f"{copy.get('State')} ({copy.get('Progress') or '0%'}); re-run when it has "
                "completed")
        return copy


@register
class CopySnapshot(CaseSnapshotStep):
    name = "ec2.copy-snapshot"
    description = ("Copy a case snapshot, re-encrypted with the stack key, for the forensic "
                   "account")
    actions = frozenset({
        "ec2:DescribeSnapshots", "ec2:CopySnapshot", "ec2:CreateTags",
        # EBS re-encrypts the copy with the stack key as the caller
        "kms:DescribeKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:Decrypt",
        "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:CreateGrant",
    })
    scopes = {"kms:DescribeKey": STACK_KEYS, "kms:GenerateDataKeyWithoutPlaintext": STACK_KEYS,
              "kms:Decrypt": STACK_KEYS, "kms:ReEncryptFrom": STACK_KEYS,
              "kms:ReEncryptTo": STACK_KEYS,
              "kms:CreateGrant": STACK_KEY_GRANTS_FOR_AWS_RESOURCES}
    reversible = False

    def plan(self) -> list[Change]:
        forensic_account(self.ctx)
        source = self.source()
        if copy_of(self.ctx, self.snapshot_id) is not None:
            return []  # copied already (a re-run); the copy is evidence, never remade
        key = self.ctx.manifest.kms_key_arn
        encrypted = (f"encrypted with {source['KmsKeyId']}" if source.get("Encrypted")
                     and source.get("KmsKeyId") else "unencrypted")
        return [Change(self.name, self.snapshot_id,
                       f"Copy {self.snapshot_id} ({source.get('VolumeId')}, "
                       f"{source.get('VolumeSize')} GiB, {encrypted}) re-encrypted with the "
                       f"stack key {key}, tagged with the case",
                       after={"kmsKeyId": key, "volumeId": source.get("VolumeId"),
                              "instanceId": _tags(source).get(SOURCE_INSTANCE_TAG)})]

    def apply(self, change: Change) -> Mapping[str, Any]:
        tags = [{"Key": CASE_TAG, "Value": self.ctx.case_id},
                {"Key": COPY_OF_TAG, "Value": self.snapshot_id}]
        for key, value in ((SOURCE_VOLUME_TAG, change.after.get("volumeId")),
                           (SOURCE_INSTANCE_TAG, change.after.get("instanceId"))):
            if value:
                tags.append({"Key": key, "Value": str(value)})
        response = self.ctx.client("ec2").copy_snapshot(
            SourceSnapshotId=self.snapshot_id, SourceRegion=self.ctx.region, Encrypted=True,
            KmsKeyId=str(change.after["kmsKeyId"]),
            Description=f"ir-readiness case {self.ctx.case_id}: forensic copy of "
                        f"{self.snapshot_id}",
            TagSpecifications=[{"ResourceType": "snapshot", "Tags": tags}])
        return {"copySnapshotId": response["SnapshotId"]}


@register
class RecordSnapshotCopy(CaseSnapshotStep):
    name = "ec2.record-snapshot-copy"
    description = ("Write a snapshot copy's description file (ids, volume, keys, times) as "
                   "evidence")
    actions = frozenset({"ec2:DescribeSnapshots", "s3:PutObject", "s3:GetObject",
                         "kms:GenerateDataKey"})
    scopes = {"s3:PutObject": EVIDENCE_OBJECTS, "s3:GetObject": EVIDENCE_OBJECTS,
              "kms:GenerateDataKey": STACK_KEYS}
    reversible = False

    def plan(self) -> list[Change]:
        forensic_account(self.ctx)
        self.source()
        copy = self.completed_copy()
        bucket = self.ctx.manifest.evidence_bucket
        key = description_key(self.ctx.case_id, self.snapshot_id)
        if already_held(self.ctx, bucket, key):
            return []
        return [Change(self.name, self.snapshot_id,
                       f"Write the description of copy {copy['SnapshotId']} of "
                       f"{self.snapshot_id} to s3://{bucket}/{key}",
                       after={"bucket": bucket, "key": key,
                              "copySnapshotId": copy["SnapshotId"]})]

    def apply(self, change: Change) -> Mapping[str, Any]:
        source = self.source()
        copy = self.completed_copy()
        document = {
            "case": self.ctx.case_id, "account": self.ctx.account_id,
            "region": self.ctx.region, "recordedAt": self.ctx.now().isoformat(),
            "forensicAccount": forensic_account(self.ctx),
            "source": {"snapshotId": source["SnapshotId"], "volumeId": source.get("VolumeId"),
                       "volumeSize": source.get("VolumeSize"),
                       "instanceId": _tags(source).get(SOURCE_INSTANCE_TAG),
                       "encrypted": source.get("Encrypted"),
                       "kmsKeyId": source.get("KmsKeyId"),
                       "startTime": source.get("StartTime"),
                       "description": source.get("Description"), "tags": _tags(source)},
            "copy": {"snapshotId": copy["SnapshotId"], "kmsKeyId": copy.get("KmsKeyId"),
                     "encrypted": copy.get("Encrypted"), "state": copy.get("State"),
                     "startTime": copy.get("StartTime"), "tags": _tags(copy)},
        }
        body = json.dumps(document, indent=2, sort_keys=True, default=str).encode("utf-8")
        written = put_evidence(self.ctx, change.after["bucket"], change.after["key"], body,
                               ContentType="application/json",
                               ExpectedBucketOwner=self.ctx.account_id,
                               **self.ctx.evidence_encryption())
        return {"s3Uri": f"s3://{change.after['bucket']}/{change.after['key']}",
                "copySnapshotId": copy["SnapshotId"], **written}


@register
class ShareSnapshot(CaseSnapshotStep):
    name = "ec2.share-snapshot"
    description = "Share a case snapshot's forensic copy with the forensic account"
    actions = frozenset({"ec2:DescribeSnapshots", "ec2:DescribeSnapshotAttribute",
                         "ec2:ModifySnapshotAttribute"})
    scopes = {"ec2:ModifySnapshotAttribute": CASE_SNAPSHOTS_NEVER_PUBLIC}

    def _shared_with(self, copy_id: str) -> list[str]:
        permissions = self.ctx.client("ec2").describe_snapshot_attribute(
            SnapshotId=copy_id, Attribute="createVolumePermission")["CreateVolumePermissions"]
        return sorted(str(p["UserId"]) for p in permissions if "UserId" in p) + sorted(
            f"group:{p['Group']}" for p in permissions if "Group" in p)

    def plan(self) -> list[Change]:
        self.source()
        copy = self.completed_copy()
        account = forensic_account(self.ctx)
        shared = self._shared_with(copy["SnapshotId"])
        if account in shared:
            return []
        return [Change(self.name, self.snapshot_id,
                       f"Share copy {copy['SnapshotId']} of {self.snapshot_id} with the "
                       f"forensic account {account} (createVolumePermission)",
                       before={"sharedWith": shared},
                       after={"sharedWith": sorted([*shared, account]),
                              "copySnapshotId": copy["SnapshotId"],
                              "forensicAccount": account})]

    def apply(self, change: Change) -> Mapping[str, Any]:
        self.ctx.client("ec2").modify_snapshot_attribute(
            SnapshotId=str(change.after["copySnapshotId"]), Attribute="createVolumePermission",
            OperationType="add", UserIds=[str(change.after["forensicAccount"])])
        return {"copySnapshotId": change.after["copySnapshotId"],
                "sharedWith": change.after["forensicAccount"]}

    def rollback(self, change: Change, result: Mapping[str, Any]) -> None:
        # Only the account this change added; the copy itself stays (evidence).
        self.ctx.client("ec2").modify_snapshot_attribute(
            SnapshotId=str(change.after["copySnapshotId"]), Attribute="createVolumePermission",
            OperationType="remove", UserIds=[str(change.after["forensicAccount"])])

    @classmethod
    def subject(cls, change: Change) -> str:
        return f"share:{change.after.get('copySnapshotId')}"

    def current(self, change: Change) -> Mapping[str, Any] | None:
        return {"sharedWith": self._shared_with(str(change.after["copySnapshotId"]))}

    def verify(self, change: Change, result: Mapping[str, Any]) -> Check:
        return self.verify_current(
            change, f"copy {change.after.get('copySnapshotId')} shared with the forensic "
                    "account")
