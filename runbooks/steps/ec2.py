"""EC2 instance containment steps (`irctl contain instance`).

Order in the pipeline matters and is set by `runbooks.commands.contain`: capture
evidence, protect, tag, leave the Auto Scaling group and target groups (so health checks
cannot replace or kill it once isolated), swap security groups, cut the instance role,
snapshot, optionally stop. Reads are batched over all targets of the run through
`ctx.cache` (one DescribeInstances for up to 200 instances, and so on).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any

from botocore.exceptions import ClientError
from pydantic import Field

from runbooks.core.batching import DEFAULT_LINGER, Coalescer
from runbooks.core.context import Context
from runbooks.core.errors import InvalidInput, PreconditionFailed
from runbooks.core.evidence_queue import put_evidence, read_evidence
from runbooks.core.ids import CASE_TAG, INSTANCE_ID, require_instance_id
from runbooks.core.manifest_schema import QuarantineGroups
from runbooks.core.quarantine import ROLE_NAMES, check_quarantine_groups, group_drift
from runbooks.core.scopes import (
    ACCOUNT_INSTANCE_PROFILES,
    ACCOUNT_ROLES,
    EVIDENCE_OBJECTS,
    INSTANCE_PROTECTION_ATTRIBUTES,
    PASS_TO_EC2,
    STACK_KEYS,
)
from runbooks.core.step import Change, Check, Step, StepParams, checked_by, register

CONTAINED_AT_TAG = "ir:contained-at"
SOURCE_INSTANCE_TAG = "ir:source-instance"
BATCH = 200
UNKNOWN_BEFORE = " (pre-action groups unknown: release will not restore them)"


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _instance_targets(ctx: Context) -> list[str]:
    return sorted({t for t in ctx.targets if INSTANCE_ID.match(t)})


def all_instances(ctx: Context) -> dict[str, dict[str, Any]]:
    """DescribeInstances for every target of the run, batched (unknown ids are absent)."""

    def load() -> dict[str, dict[str, Any]]:
        ec2 = ctx.client("ec2")
        found: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(_instance_targets(ctx), BATCH):
            paginator = ec2.get_paginator("describe_instances")
            for page in paginator.paginate(Filters=[{"Name": "instance-id", "Values": chunk}]):
                for reservation in page["Reservations"]:
                    for instance in reservation["Instances"]:
                        found[instance["InstanceId"]] = instance
        return found

    return ctx.cache.get("ec2.instances", load)


def instance(ctx: Context, instance_id: str) -> dict[str, Any]:
    """The target instance's description; PreconditionFailed when unknown or terminated."""
    found = all_instances(ctx).get(instance_id)
    if found is None:
        raise PreconditionFailed(
            f"instance {instance_id} not found in account {ctx.account_id} region "
            f"{ctx.region}; check the id and --region"
        )
    state = found["State"]["Name"]
    if state in ("terminated", "shutting-down"):
        raise PreconditionFailed(
            f"instance {instance_id} is {state}; there is nothing left to contain "
            "(its volumes may survive if DeleteOnTermination was off: check EBS)"
        )
    return found


def tags_of(resource: Mapping[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in resource.get("Tags", [])}


def quarantine_groups(ctx: Context, vpc_id: str, instance_id: str) -> QuarantineGroups:
    """The manifest's quarantine groups of `vpc_id`, checked to exist (batched)."""
    groups = ctx.manifest.quarantine.get(vpc_id)
    if groups is None:
        raise PreconditionFailed(
            f"instance {instance_id} is in VPC {vpc_id}, which has no quarantine security "
            "group in the readiness manifest; add the VPC to the stack's quarantine "
            "settings and `pulumi up`, then retry"
        )

    def load() -> dict[str, dict[str, Any]]:
        wanted = sorted({g for q in ctx.manifest.quarantine.values()
                         for g in q.group_ids()})
        ec2 = ctx.client("ec2")
        found: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(wanted, BATCH):
            response = ec2.describe_security_groups(
                Filters=[{"Name": "group-id", "Values": chunk}])
            found |= {g["GroupId"]: g for g in response["SecurityGroups"]}
        return found

    # exist, and hold exactly the stack's rules (a drifted group is refused)
    check_quarantine_groups(vpc_id, groups, ctx.cache.get("ec2.quarantine-groups", load))
    return groups


def _code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


def live_instance(ctx: Context, instance_id: str) -> dict[str, Any]:
    """The instance as it is now (not the run's cached read): rollback and release compare
    against it."""
    reservations = ctx.client("ec2").describe_instances(InstanceIds=[instance_id])
    return dict(reservations["Reservations"][0]["Instances"][0])


def live_association(ctx: Context, instance_id: str) -> dict[str, Any] | None:
    associations = ctx.client("ec2").describe_iam_instance_profile_associations(Filters=[
        {"Name": "instance-id", "Values": [instance_id]},
        {"Name": "state", "Values": ["associated", "associating"]}])
    found = associations["IamInstanceProfileAssociations"]
    return dict(found[0]) if found else None


class InstanceParams(StepParams):
    instance_id: Annotated[str, checked_by(require_instance_id),
                           Field(description="i- and 8 or 17 hex digits")]


class InstanceStep(Step):
    """A step whose target is one instance id (param `instance_id`)."""

    Params = InstanceParams
    release_kind = "instance"

    @property
    def instance_id(self) -> str:
        return str(self.params["instance_id"])

    def instance(self) -> dict[str, Any]:
        return instance(self.ctx, self.instance_id)

    def contained_by(self) -> str | None:
        """The case that already contained this instance, when its `ir:case` tag can be
        trusted; None otherwise. Anyone with ec2:CreateTags can write the tag (an attacker
        hiding an instance from capture, or a case that was released): it is believed only
        when that case's metadata capture of this instance is in the evidence bucket (or
        this case's local queue), which irctl writes before it tags, and every ENI is
        still in its VPC's quarantine groups."""
        return self.ctx.cache.get(f"ec2.contained-by.{self.instance_id}", self._contained_by)

    def _contained_by(self) -> str | None:
        from runbooks.core.audit import validate_case_id
        from runbooks.core.evidence_queue import already_held

        described = self.instance()
        case = tags_of(described).get(CASE_TAG)
        if not case:
            return None
        try:
            validate_case_id(case)
        except InvalidInput:
            return None  # not a case id irctl would write
        quarantine = self.ctx.manifest.quarantine
        for eni in described.get("NetworkInterfaces", []):
            vpc = quarantine.get(str(eni.get("VpcId") or described.get("VpcId")))
            ours = ({vpc.isolation_security_group_id, vpc.conversion_security_group_id}
                    if vpc is not None else set())
            groups = {g["GroupId"] for g in eni.get("Groups", [])}
            if not groups or not groups <= ours:
                return None  # not (or no longer) quarantined: released, or never was
        return case if already_held(self.ctx, self.ctx.manifest.evidence_bucket,
                                    capture_key(case, self.instance_id)) else None

    def held_capture(self) -> Mapping[str, Any] | None:
        """The metadata capture `contained_by()` found held (that case's capture of this
        instance, in the evidence bucket or this case's local queue), read once per run;
        None when no case contained it, or the capture cannot be read or is not a whole
        irctl capture of this instance by that case (its SHA-256 differs from the one it
        was written with, it names another instance or case)."""
        return self.ctx.cache.get(f"ec2.held-capture.{self.instance_id}",
                                  self._held_capture)

    def _held_capture(self) -> Mapping[str, Any] | None:
        case = self.contained_by()
        if case is None:
            return None
        body = read_evidence(self.ctx, self.ctx.manifest.evidence_bucket,
                             capture_key(case, self.instance_id))
        try:
            document = json.loads(body) if body is not None else None
        except ValueError:
            return None
        if not isinstance(document, dict) or document.get("case") != case or \
                (document.get("instance") or {}).get("InstanceId") != self.instance_id:
            return None
        return document


def capture_key(case: str, instance_id: str) -> str:
    """Where `ec2.capture-metadata` of `case` keeps the instance's capture."""
    return f"cases/{case}/instances/{instance_id}/metadata.json"


@register
class CaptureMetadata(InstanceStep):
    name = "ec2.capture-metadata"
    description = "Save the instance's description, ENIs, volumes, profile, tags, console"
    actions = frozenset({
        "ec2:DescribeInstances", "ec2:DescribeVolumes", "ec2:GetConsoleOutput",
        "ec2:DescribeIamInstanceProfileAssociations", "s3:PutObject", "kms:GenerateDataKey",
        "s3:GetObject",  # HeadObject: is an `ir:case` tag's capture really there?
    })
    scopes = {"s3:PutObject": EVIDENCE_OBJECTS, "s3:GetObject": EVIDENCE_OBJECTS,
              "kms:GenerateDataKey": STACK_KEYS}
    reversible = False

    @classmethod
    def prefetch(cls, ctx: Context) -> None:
        all_instances(ctx)
        volumes_of(ctx, [])

    def plan(self) -> list[Change]:
        if self.contained_by():
            return []  # captured before it was tagged, in the case named by its tag
        key = capture_key(self.ctx.case_id, self.instance_id)
        return [Change(self.name, self.instance_id,
                       f"Save metadata and console output to s3://"
                       f"{self.ctx.manifest.evidence_bucket}/{key}", after={"key": key})]

    def apply(self, change: Change) -> Mapping[str, Any]:
        ec2 = self.ctx.client("ec2")
        described = self.instance()
        volume_ids = [m["Ebs"]["VolumeId"] for m in described.get("BlockDeviceMappings", [])
                      if "Ebs" in m]
        volumes = volumes_of(self.ctx, volume_ids)
        console = ec2.get_console_output(InstanceId=self.instance_id).get("Output", "")
        document = {
            "capturedAt": self.ctx.now().isoformat(), "case": self.ctx.case_id,
            "account": self.ctx.account_id, "region": self.ctx.region,
            "instance": described, "networkInterfaces": described.get("NetworkInterfaces", []),
            "volumes": volumes, "instanceProfile": described.get("IamInstanceProfile"),
            "profileAssociation": profile_association(self.ctx, self.instance_id),
            "tags": tags_of(described), "consoleOutputBase64": console,
        }
        body = json.dumps(document, indent=2, default=str).encode()
        # S3 failing must not hold up the cut that follows: queued locally if it does
        return put_evidence(self.ctx, self.ctx.manifest.evidence_bucket,
                            change.after["key"], body, ContentType="application/json",
                            **self.ctx.evidence_encryption())


def volumes_of(ctx: Context, volume_ids: list[str]) -> list[dict[str, Any]]:
    def load() -> dict[str, dict[str, Any]]:
        wanted = sorted({m["Ebs"]["VolumeId"] for i in all_instances(ctx).values()
                         for m in i.get("BlockDeviceMappings", []) if "Ebs" in m})
        found: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(wanted, BATCH):
            response = ctx.client("ec2").describe_volumes(
                Filters=[{"Name": "volume-id", "Values": chunk}])
            found |= {v["VolumeId"]: v for v in response["Volumes"]}
        return found

    volumes = ctx.cache.get("ec2.volumes", load)
    return [volumes[v] for v in volume_ids if v in volumes]


def profile_association(ctx: Context, instance_id: str) -> dict[str, Any] | None:
    def load() -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(_instance_targets(ctx), BATCH):
            paginator = ctx.client("ec2").get_paginator(
                "describe_iam_instance_profile_associations")
            for page in paginator.paginate(Filters=[
                    {"Name": "instance-id", "Values": chunk},
                    {"Name": "state", "Values": ["associated", "associating"]}]):
                for association in page["IamInstanceProfileAssociations"]:
                    found[association["InstanceId"]] = association
        return found

    return ctx.cache.get("ec2.profile-associations", load).get(instance_id)


@register
class ProtectInstance(InstanceStep):
    name = "ec2.protect"
    description = "Termination protection on, shutdown behaviour stop, keep volumes"
    actions = frozenset({"ec2:DescribeInstances", "ec2:DescribeInstanceAttribute",
                         "ec2:ModifyInstanceAttribute"})
    # never user data and the like: with a restart that would run code as the
    # instance's role (see runbooks.core.scopes)
    scopes = {"ec2:ModifyInstanceAttribute": INSTANCE_PROTECTION_ATTRIBUTES}

    def plan(self) -> list[Change]:
        ec2, iid, changes = self.ctx.client("ec2"), self.instance_id, []
        described = self.instance()
        protected = ec2.describe_instance_attribute(
            InstanceId=iid, Attribute="disableApiTermination")["DisableApiTermination"]["Value"]
        if not protected:
            changes.append(Change(self.name, iid, "Enable termination protection",
                                  {"disableApiTermination": False},
                                  {"disableApiTermination": True}))
        behaviour = ec2.describe_instance_attribute(
            InstanceId=iid, Attribute="instanceInitiatedShutdownBehavior"
        )["InstanceInitiatedShutdownBehavior"]["Value"]
        if behaviour != "stop":
            changes.append(Change(self.name, iid, "Set shutdown behaviour to stop",
                                  {"shutdownBehavior": behaviour}, {"shutdownBehavior": "stop"}))
        deleting = {m["DeviceName"]: True for m in described.get("BlockDeviceMappings", [])
                    if m.get("Ebs", {}).get("DeleteOnTermination")}
        if deleting:
            changes.append(Change(self.name, iid, "Keep volumes on termination: "
                                  + ", ".join(sorted(deleting)),
                                  {"deleteOnTermination": deleting},
                                  {"deleteOnTermination": dict.fromkeys(deleting, False)}))
        return changes

    def _set(self, state: Mapping[str, Any]) -> None:
        ec2, iid = self.ctx.client("ec2"), self.instance_id
        if "disableApiTermination" in state:
            ec2.modify_instance_attribute(
                InstanceId=iid, DisableApiTermination={"Value": state["disableApiTermination"]})
        if "shutdownBehavior" in state:
            ec2.modify_instance_attribute(
                InstanceId=iid,
                InstanceInitiatedShutdownBehavior={"Value": state["shutdownBehavior"]})
        if "deleteOnTermination" in state:
            ec2.modify_instance_attribute(InstanceId=iid, BlockDeviceMappings=[
                {"DeviceName": d, "Ebs": {"DeleteOnTermination": v}}
                for d, v in state["deleteOnTermination"].items()])

    def apply(self, change: Change) -> Mapping[str, Any]:
        self._set(change.after)
        return {}

    def rollback(self, change: Change, result: Mapping[str, Any]) -> None:
        self._set(change.before)

    @classmethod
    def subject(cls, change: Change) -> str:
        return ",".join(sorted(change.after))  # one attribute per change

    def verify(self, change: Change, result: Mapping[str, Any]) -> Check:
        labels = {"disableApiTermination": "termination protection",
                  "shutdownBehavior": "shutdown behaviour",
                  "deleteOnTermination": "delete volumes on termination"}
        return self.verify_current(change, ", ".join(labels.get(k, k) for k in change.after))

    def current(self, change: Change) -> Mapping[str, Any] | None:
        ec2, iid = self.ctx.client("ec2"), self.instance_id
        live: dict[str, Any] = {}
        if "disableApiTermination" in change.after:
            live["disableApiTermination"] = ec2.describe_instance_attribute(
                InstanceId=iid, Attribute="disableApiTermination"
            )["DisableApiTermination"]["Value"]
        if "shutdownBehavior" in change.after:
            live["shutdownBehavior"] = ec2.describe_instance_attribute(
                InstanceId=iid, Attribute="instanceInitiatedShutdownBehavior"
            )["InstanceInitiatedShutdownBehavior"]["Value"]
        if "deleteOnTermination" in change.after:
            devices = {m["DeviceName"]: bool(m.get("Ebs", {}).get("DeleteOnTermination"))
                       for m in live_instance(self.ctx, iid).get("BlockDeviceMappings", [])}
            live["deleteOnTermination"] = {d: devices.get(d)
                                           for d in change.after["deleteOnTermination"]}
        return live


TagKey = tuple[Any, tuple[tuple[str, str], ...]]
"""(EC2 client, tags): what one CreateTags call sets, on as many instances as share it."""

CREATE_TAGS_BATCH = 100
"""Instances per CreateTags (AWS takes up to 1,000 resource ids and recommends fewer)."""
# Answers about one of a batch's resources (gone since the plan, or denied by a tag
# condition): every other instance of the batch retries alone, so it cannot fail them.
PER_RESOURCE_CODES = frozenset({"InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed",
                                "InvalidID", "UnauthorizedOperation"})


def _create_tags(key: TagKey, instance_ids: list[str]) -> None:
    client, tags = key
    client.create_tags(Resources=instance_ids,
                       Tags=[{"Key": k, "Value": v} for k, v in tags])


TAG_BATCHES: Coalescer[TagKey, str] = Coalescer(_create_tags, limit=CREATE_TAGS_BATCH,
                                                linger=DEFAULT_LINGER)
"""Every run's `ec2.tag-contained` applies, from any worker thread: one CreateTags per
batch of instances getting the same tags through the same client (one account, region,
case and run)."""


@register
class TagInstance(InstanceStep):
    """Tag the instance `ir:case` and `ir:contained-at`, the same values for every instance
    of the run (`Context.run_time()`), so concurrent applies share one CreateTags of up to
    `CREATE_TAGS_BATCH` instances (`TAG_BATCHES`; EC2 meters CreateTags at 100 burst, 10
    per second). No pre-action state goes into a tag: anyone with ec2:CreateTags could
    rewrite it; the case's metadata capture, held in the evidence bucket, records every
    ENI's groups (`IsolateInstance._pre_action_groups`). An `ir:pre-action` tag left by an
    older version is ignored."""

    name = "ec2.tag-contained"
    description = "Tag the instance with the case and when it was contained"
    actions = frozenset({"ec2:DescribeInstances", "ec2:CreateTags", "ec2:DeleteTags"})
    # every instance of a run tagged in one pass before its other steps, so the calls
    # meet in TAG_BATCHES (one by one, they would arrive at the cuts' pace)
    applied_together = CREATE_TAGS_BATCH

    def plan(self) -> list[Change]:
        tags = tags_of(self.instance())
        if self.contained_by():
            return []  # the case that contained it tagged it
        new = {CASE_TAG: self.ctx.case_id,
               CONTAINED_AT_TAG: self.ctx.run_time().strftime("%Y-%m-%dT%H:%M:%SZ")}
        return [Change(self.name, self.instance_id,
                       f"Tag {CASE_TAG}={self.ctx.case_id}, {CONTAINED_AT_TAG}="
                       f"{new[CONTAINED_AT_TAG]}",
                       before={"tags": {k: tags.get(k) for k in new}}, after={"tags": new})]

    def apply(self, change: Change) -> Mapping[str, Any]:
        ec2 = self.ctx.client("ec2")
        key: TagKey = (ec2, tuple(sorted(change.after["tags"].items())))
        try:
            shared = TAG_BATCHES.submit(key, self.instance_id,
                                        expected=len(_instance_targets(self.ctx)))
        except ClientError as err:
            if _code(err) not in PER_RESOURCE_CODES:
                raise
            # maybe about another instance of the batch: this instance's own answer counts
            _create_tags(key, [self.instance_id])
            shared = 1
        return {"instancesPerCall": shared}

    def rollback(self, change: Change, result: Mapping[str, Any]) -> None:
        ec2 = self.ctx.client("ec2")
        before = change.before["tags"]
        restore = [{"Key": k, "Value": v} for k, v in before.items() if v is not None]
        remove = [{"Key": k} for k, v in before.items() if v is None]
        if remove:
            ec2.delete_tags(Resources=[self.instance_id], Tags=remove)
        if restore:
            ec2.create_tags(Resources=[self.instance_id], Tags=restore)

    @classmethod
    def subject(cls, change: Change) -> str:
        return "tags"

    def current(self, change: Change) -> Mapping[str, Any] | None:
        tags = tags_of(live_instance(self.ctx, self.instance_id))
        return {"tags": {k: tags.get(k) for k in change.after["tags"]}}

    def verify(self, change: Change, result: Mapping[str, Any]) -> Check:
        return self.verify_current(change, f"tags {', '.join(sorted(change.after['tags']))}")


@register
class IsolateInstance(InstanceStep):
    """Per ENI: conversion group (turns tracked flows untracked), then isolation group."""

    name = "ec2.isolate"
    description = "Swap every ENI's security groups to the VPC's quarantine groups"
    actions = frozenset({"ec2:DescribeInstances", "ec2:DescribeSecurityGroups",
                         "ec2:ModifyNetworkInterfaceAttribute",
                         "ec2:DescribeNetworkInterfaces",
                         # HeadObject, then GetObject (SSE-KMS: Decrypt) when an ENI is
                         # already quarantined: the `ir:case` tag's capture, its groups
                         "s3:GetObject", "kms:Decrypt"})
    scopes = {"s3:GetObject": EVIDENCE_OBJECTS, "kms:Decrypt": STACK_KEYS}
    multi_call = True  # a failed isolation swap may have left the conversion group on
    cuts_network = True  # a target's later steps start only after it (see Step.cuts_network)

    @classmethod
    def prefetch(cls, ctx: Context) -> None:
        for vpc in ctx.manifest.quarantine:
            quarantine_groups(ctx, vpc, "-")
            break  # one batched call covers every VPC's groups

    def plan(self) -> list[Change]:
        described = self.instance()
        changes = []
        for eni in described.get("NetworkInterfaces", []):
            vpc = str(eni.get("VpcId") or described.get("VpcId"))
            groups = quarantine_groups(self.ctx, vpc, self.instance_id)
            current = [g["GroupId"] for g in eni.get("Groups", [])]
            if current == [groups.isolation_security_group_id]:
                continue
            before, unknown = current, ""
            if set(current) & self._quarantine_ids():
                # Already in a quarantine group: half-applied by a run that crashed, or put
                # there by someone else. The live groups are no pre-action state; the
                # runner substitutes this case's own earlier record when there is one, the
                # held capture of the case that contained it is believed as
                # `_pre_action_groups` says, and otherwise none is recorded (empty):
                # release refuses for this ENI.
                before = self._pre_action_groups(eni["NetworkInterfaceId"]) or []
                unknown = "" if before else UNKNOWN_BEFORE
            changes.append(Change(
                self.name, self.instance_id,
                f"{eni['NetworkInterfaceId']}: security groups {','.join(current) or '-'} -> "
                f"{groups.conversion_security_group_id} -> {groups.isolation_security_group_id}"
                + unknown,
                before={"eni": eni["NetworkInterfaceId"], "groups": before},
                after={"eni": eni["NetworkInterfaceId"],
                       "conversion": groups.conversion_security_group_id,
                       "groups": [groups.isolation_security_group_id]}))
        return changes

    def with_before(self, change: Change, before: Mapping[str, Any]) -> Change:
        # this case recorded the pre-action groups earlier: they are known after all
        return Change(change.step, change.target, change.summary.removesuffix(UNKNOWN_BEFORE),
                      dict(before), change.after)

    def _quarantine_ids(self) -> set[str]:
        """Every quarantine group of every VPC in the manifest."""
        return {g for q in self.ctx.manifest.quarantine.values() for g in q.group_ids()}

    def _pre_action_groups(self, eni: str) -> list[str] | None:
        """ENI `eni`'s groups before containment, as the metadata capture of the case that
        contained the instance records them (`held_capture`: that case's capture, taken
        before any change, held in the evidence bucket; believed only when the instance's
        `ir:case` tag is, see `contained_by`), and never when they name a quarantine
        group (a capture of an ENI someone had already moved into the allow-all
        conversion group). None otherwise: no tag is believed for this, since anyone with
        ec2:CreateTags can write one."""
        capture = self.held_capture()
        interfaces = capture.get("networkInterfaces") if capture is not None else None
        if not isinstance(interfaces, list):
            return None
        for interface in interfaces:
            if isinstance(interface, dict) and interface.get("NetworkInterfaceId") == eni:
                named = [str(g.get("GroupId")) for g in interface.get("Groups") or []
                         if isinstance(g, dict) and g.get("GroupId")]
                if named and not set(named) & self._quarantine_ids():
                    return named
                return None
        return None

    def apply(self, change: Change) -> Mapping[str, Any]:
        ec2, eni = self.ctx.client("ec2"), change.after["eni"]
        ec2.modify_network_interface_attribute(
            NetworkInterfaceId=eni, Groups=[change.after["conversion"]])
        ec2.modify_network_interface_attribute(NetworkInterfaceId=eni,
                                               Groups=list(change.after["groups"]))
        return {}

    def rollback(self, change: Change, result: Mapping[str, Any]) -> None:
        groups = list(change.before["groups"])
        eni = change.before["eni"]
        quarantine = {str(change.after["conversion"]), *map(str, change.after["groups"])}
        if not groups or set(groups) & quarantine:
            # Never "restore" an ENI into a quarantine group (the conversion group allows
            # all traffic), nor guess groups nobody trustworthy recorded.
            found = (f"the recorded pre-action groups {','.join(groups)} include a "
                     "quarantine group (recorded from a state already quarantined)"
                     if groups else "it was already in a quarantine group when this case "
                     "isolated it, and no record this tool trusts (the case's audit log, "
                     "or a held capture of the case named by the instance's ir:case tag) "
                     "names its groups before that")
            raise PreconditionFailed(
                f"{eni}: not restored: {found}; release needs the recorded state: set the "
                f"ENI's original groups by hand (`aws ec2 modify-network-interface-attribute "
                f"--network-interface-id {eni} --groups ...`), taken from the metadata "
                "capture of the case that first contained the instance or from CloudTrail's "
                "ModifyNetworkInterfaceAttribute events for the ENI")
        self.ctx.client("ec2").modify_network_interface_attribute(
            NetworkInterfaceId=eni, Groups=groups)

    @classmethod
    def subject(cls, change: Change) -> str:
        return str(change.after["eni"])

    def current(self, change: Change) -> Mapping[str, Any] | None:
        eni = change.after["eni"]
        found = self.ctx.client("ec2").describe_network_interfaces(
            NetworkInterfaceIds=[eni])["NetworkInterfaces"]
        return {"groups": sorted(g["GroupId"] for g in found[0].get("Groups", []))}

    def ours(self, change: Change) -> list[Mapping[str, Any]]:
        # after the first call only, the ENI is in the conversion group; while
        # ec2.capture-memory runs (or after it was killed), the VPC's forensic group is
        # next to the isolation group: both are states containment leaves
        forensic = [q.forensic_security_group_id for q in self.ctx.manifest.quarantine.values()
                    if q.isolation_security_group_id in change.after["groups"]]
        return [change.after, {"groups": [change.after["conversion"]]},
                *({"groups": sorted([*change.after["groups"], f])} for f in forensic)]

    def verify(self, change: Change, result: Mapping[str, Any]) -> Check:
        """The recorded ENI is still in the isolation group only."""
        eni, wanted = change.after["eni"], sorted(change.after["groups"])
        what = f"{eni} security groups"
        try:
            found = self.ctx.client("ec2").describe_network_interfaces(
                NetworkInterfaceIds=[eni])["NetworkInterfaces"]
        except ClientError as err:
            if _code(err) != "InvalidNetworkInterfaceID.NotFound":
                raise
            # a deleted ENI carries no traffic: the isolation holds
            return Check("containment", change.target, what, ",".join(wanted),
                         "ENI no longer exists", True)
        groups = sorted(g["GroupId"] for g in found[0].get("Groups", []))
        return Check("containment", change.target, what, ",".join(wanted),
                     ",".join(groups) or "-", groups == wanted)

    def verify_all(self, change: Change, result: Mapping[str, Any]) -> list[Check]:
        """The recorded ENI's check; every other ENI the instance has now is in the
        isolation group only too (one attached since containment carries traffic around
        the isolation); and the isolation and conversion groups still have the stack's
        rules (an isolation group opened to 0.0.0.0/0 isolates nothing)."""
        checks = [self.verify(change, result)]
        wanted = sorted(change.after["groups"])
        attached = self.ctx.client("ec2").describe_network_interfaces(Filters=[
            {"Name": "attachment.instance-id", "Values": [change.target]}])["NetworkInterfaces"]
        for interface in attached:
            if interface["NetworkInterfaceId"] == change.after["eni"]:
                continue
            groups = sorted(g["GroupId"] for g in interface.get("Groups", []))
            # the same `what` as the check of the change that isolated it (when one did):
            # verify case shows it once
            checks.append(Check("containment", change.target,
                                f"{interface['NetworkInterfaceId']} security groups",
                                ",".join(wanted), ",".join(groups) or "-", groups == wanted))
        return checks + self._group_rule_checks(change)

    def _group_rule_checks(self, change: Change) -> list[Check]:
        """The isolation group (none in or out) and the conversion group (all traffic
        only) against the stack's rules: `core.quarantine.group_drift`."""
        roles = {"isolationSecurityGroupId": str(change.after["groups"][0]),
                 "conversionSecurityGroupId": str(change.after["conversion"])}
        described = {g["GroupId"]: g for g in self.ctx.client("ec2").describe_security_groups(
            Filters=[{"Name": "group-id", "Values": sorted(roles.values())}])["SecurityGroups"]}
        checks = []
        for role, group_id in roles.items():
            name = ROLE_NAMES[role]
            expected = ("no rule in or out" if role == "isolationSecurityGroupId"
                        else "all traffic in and out only")
            group = described.get(group_id)
            drift = ["group deleted"] if group is None else group_drift(role, group)
            checks.append(Check("containment", group_id, f"{name} group rules", expected,
                                "; ".join(drift) or expected, not drift))
        return checks


def instance_addresses(ctx: Context) -> dict[str, list[dict[str, Any]]]:
    """instance id -> the Elastic IPs associated with it, for every target (batched)."""

    def load() -> dict[str, list[dict[str, Any]]]:
        found: dict[str, list[dict[str, Any]]] = {}
        for chunk in _chunks(_instance_targets(ctx), BATCH):
            response = ctx.client("ec2").describe_addresses(
                Filters=[{"Name": "instance-id", "Values": chunk}])
            for address in response["Addresses"]:
                found.setdefault(str(address.get("InstanceId")), []).append(address)
        return found

    return ctx.cache.get("ec2.addresses", load)


@register
class DisassociateAddress(InstanceStep):
    """Take the instance's Elastic IPs off it, keeping each allocation in the account.

    An Elastic IP is the public address the attacker (and every DNS record) knows the
    instance by; left attached, it reaches the instance again as soon as anything
    loosens the isolation (a forensic group opened to investigators, a release of the
    security groups before the host is rebuilt). The allocation is never released (it
    stays the account's, so nobody else can claim the address): release re-associates
    the same allocation with the same ENI and private IP, so the address comes back
    exactly where it was."""

    name = "ec2.disassociate-address"
    description = "Disassociate the instance's Elastic IPs (allocations kept for release)"
    actions = frozenset({"ec2:DescribeInstances", "ec2:DescribeAddresses",
                         "ec2:DisassociateAddress", "ec2:AssociateAddress"})

    @classmethod
    def prefetch(cls, ctx: Context) -> None:
        instance_addresses(ctx)

    def plan(self) -> list[Change]:
        self.instance()
        changes = []
        for address in instance_addresses(self.ctx).get(self.instance_id, []):
            if not address.get("AssociationId") or not address.get("AllocationId"):
                continue  # EC2-Classic addresses are gone; nothing else lacks these
            changes.append(Change(
                self.name, self.instance_id,
                f"Disassociate Elastic IP {address['PublicIp']} ({address['AllocationId']}) "
                f"from {address.get('NetworkInterfaceId')} (allocation kept)",
                before={"allocationId": address["AllocationId"],
                        "publicIp": address["PublicIp"],
                        "associationId": address["AssociationId"],
                        "networkInterfaceId": address.get("NetworkInterfaceId"),
                        "privateIpAddress": address.get("PrivateIpAddress")},
                after={"allocationId": address["AllocationId"],
                       "networkInterfaceId": None}))
        return changes

    def apply(self, change: Change) -> Mapping[str, Any]:
        try:
            self.ctx.client("ec2").disassociate_address(
                AssociationId=change.before["associationId"])
        except ClientError as err:
            # Already disassociated (a retry whose answer was lost): done.
            if _code(err) != "InvalidAssociationID.NotFound":
                raise
            return {"alreadyDone": True}
        return {}

    def rollback(self, change: Change, result: Mapping[str, Any]) -> None:
        # The runner and release call this only while the address is still unassociated
        # (current() == after), so AllowReassociation stays off: never steal it back.
        try:
            self.ctx.client("ec2").associate_address(
                AllocationId=change.before["allocationId"],
                NetworkInterfaceId=change.before["networkInterfaceId"],
                PrivateIpAddress=change.before["privateIpAddress"],
                AllowReassociation=False)
        except ClientError as err:
            if _code(err) not in ("InvalidAllocationID.NotFound", "InvalidAddress.NotFound"):
                raise
            raise PreconditionFailed(
                f"Elastic IP {change.before['publicIp']} ({change.before['allocationId']}) "
                "was released from the account since containment, so it cannot be put "
                "back; allocate a new address and update whatever named the old one"
            ) from err

    @classmethod
    def subject(cls, change: Change) -> str:
        return str(change.after["allocationId"])

    def with_before(self, change: Change, before: Mapping[str, Any]) -> Change:
        # apply disassociates the live association: keep its id
        return Change(change.step, change.target, change.summary,
                      {**before, "associationId": change.before["associationId"]},
                      change.after)

    def _live(self, allocation: str) -> dict[str, Any] | None:
        try:
            found = self.ctx.client("ec2").describe_addresses(
                AllocationIds=[allocation])["Addresses"]
        except ClientError as err:
            if _code(err) not in ("InvalidAllocationID.NotFound", "InvalidAddress.NotFound"):
                raise
            return None  # released from the account since
        return dict(found[0]) if found else None

    def current(self, change: Change) -> Mapping[str, Any] | None:
        live = self._live(str(change.after["allocationId"]))
        # an unassociated address may be reported with an empty ENI id
        return {"networkInterfaceId": (live or {}).get("NetworkInterfaceId") or None}

    def verify(self, change: Change, result: Mapping[str, Any]) -> Check:
        eni, ip = change.before["networkInterfaceId"], change.before["publicIp"]
        live = self._live(str(change.after["allocationId"]))
        where = None if live is None else live.get("NetworkInterfaceId") or None
        actual = ("released from the account" if live is None
                  else f"on {where}" if where else "unassociated")
        # Holds while the address does not reach this instance's ENI again.
        return Check("containment", change.target, f"Elastic IP {ip}", f"not on {eni}",
                     actual, where != eni)


@register
class DetachInstanceProfile(InstanceStep):
    name = "ec2.detach-instance-profile"
    description = "Disassociate the instance profile (its role's credentials stop renewing)"
    actions = frozenset({"ec2:DescribeInstances", "ec2:DescribeIamInstanceProfileAssociations",
                         "ec2:DisassociateIamInstanceProfile",
                         "ec2:AssociateIamInstanceProfile", "iam:PassRole"})
    scopes = {"iam:PassRole": PASS_TO_EC2}

    @classmethod
    def prefetch(cls, ctx: Context) -> None:
        profile_association(ctx, "-")

    def plan(self) -> list[Change]:
        self.instance()
        association = profile_association(self.ctx, self.instance_id)
        if association is None:
            return []
        arn = association["IamInstanceProfile"]["Arn"]
        return [Change(self.name, self.instance_id, f"Disassociate instance profile {arn}",
                       before={"profileArn": arn, "associationId": association["AssociationId"]},
                       after={"profileArn": None})]

    def apply(self, change: Change) -> Mapping[str, Any]:
        try:
            self.ctx.client("ec2").disassociate_iam_instance_profile(
                AssociationId=change.before["associationId"])
        except ClientError as err:
            # Already disassociated (by a retry whose answer was lost, or another run):
            # done, provided no other association took its place.
            if _code(err) != "InvalidAssociationID.NotFound":
                raise
            other = live_association(self.ctx, self.instance_id)
            if other is not None:
                raise PreconditionFailed(
                    f"{self.instance_id}: association {change.before['associationId']} is "
                    f"gone but {other['IamInstanceProfile']['Arn']} is associated "
                    f"({other['AssociationId']}); re-run to plan against it") from err
            return {"alreadyDone": True}
        return {}

    def rollback(self, change: Change, result: Mapping[str, Any]) -> None:
        try:
            self.ctx.client("ec2").associate_iam_instance_profile(
                IamInstanceProfile={"Arn": change.before["profileArn"]},
                InstanceId=self.instance_id)
        except ClientError as err:
            # "There is an existing association": done when it is the same profile.
            if _code(err) != "IncorrectState":
                raise
            other = live_association(self.ctx, self.instance_id)
            if other is None or other["IamInstanceProfile"]["Arn"] != \
                    change.before["profileArn"]:
                raise

    @classmethod
    def subject(cls, change: Change) -> str:
        return "profile"

    def with_before(self, change: Change, before: Mapping[str, Any]) -> Change:
        # apply disassociates the live association: keep its id
        return Change(change.step, change.target, change.summary,
                      {**before, "associationId": change.before["associationId"]},
                      change.after)

    def current(self, change: Change) -> Mapping[str, Any] | None:
        association = live_association(self.ctx, self.instance_id)
        return {"profileArn": association["IamInstanceProfile"]["Arn"]
                if association else None}

    def verify(self, change: Change, result: Mapping[str, Any]) -> Check:
        associations = self.ctx.client("ec2").describe_iam_instance_profile_associations(
            Filters=[{"Name": "instance-id", "Values": [change.target]}]
        )["IamInstanceProfileAssociations"]
        live = [a["IamInstanceProfile"]["Arn"] for a in associations
                if a.get("State") in ("associating", "associated")]
        return Check("containment", change.target, "instance profile", "none",
                     ",".join(live) or "none", not live)


@register
class RevokeInstanceRoleSessions(InstanceStep):
    """Revoke the sessions of the instance profile's role: the credentials already on the
    instance (or stolen from its metadata service) stop working. Delegates to
    `iam.revoke-role-sessions`; planned once per role when several targets share it.

    One-way on purpose: neither rollback nor release lifts the revocation, since that
    would revive credentials stolen from the instance; sessions issued after the cutoff
    (e.g. once release re-associates the profile) are unaffected."""

    name = "ec2.revoke-instance-role-sessions"
    description = "Revoke older sessions of the instance profile's role"
    reversible = False
    actions = frozenset({"ec2:DescribeInstances", "ec2:DescribeIamInstanceProfileAssociations",
                         "iam:GetInstanceProfile", "iam:GetRole", "iam:GetRolePolicy",
                         "iam:PutRolePolicy", "iam:DeleteRolePolicy", "sts:GetCallerIdentity"})
    scopes = {"iam:GetInstanceProfile": ACCOUNT_INSTANCE_PROFILES,
              **{a: ACCOUNT_ROLES for a in ("iam:GetRole", "iam:GetRolePolicy",
                                            "iam:PutRolePolicy", "iam:DeleteRolePolicy")}}

    def _delegate(self, role: str) -> Step:
        from runbooks.core.step import REGISTRY, load_all_steps

        load_all_steps()
        return REGISTRY["iam.revoke-role-sessions"](self.ctx, {"role_name": role})

    def plan(self) -> list[Change]:
        self.instance()
        association = profile_association(self.ctx, self.instance_id)
        if association is None:
            return []
        profile = association["IamInstanceProfile"]["Arn"].split("/")[-1]

        def roles() -> list[str]:
            try:
                found = self.ctx.client("iam").get_instance_profile(InstanceProfileName=profile)
            except ClientError as err:
                if err.response["Error"]["Code"] == "NoSuchEntity":
                    return []
                raise
            return [r["RoleName"] for r in found["InstanceProfile"]["Roles"]]

        changes = []
        for role in self.ctx.cache.get(f"iam.profile-roles:{profile}", roles):
            if self.ctx.cache.get(f"iam.revoke-owner:{role}", lambda: self.instance_id) \
                    != self.instance_id:
                continue  # another target of this run revokes it
            changes += [Change(self.name, self.instance_id, c.summary, c.before, c.after)
                        for c in self._delegate(role).plan()]
        return changes

    def apply(self, change: Change) -> Mapping[str, Any]:
        # The cutoff is taken now, after the profile was disassociated (the step before),
        # so credentials the instance fetched in between are revoked too.
        cutoff = self.ctx.now().strftime("%Y-%m-%dT%H:%M:%SZ")
        current = self._with_cutoff(change, cutoff)
        return {**self._delegate(change.after["role"]).apply(current), "cutoff": cutoff}

    @staticmethod
    def _with_cutoff(change: Change, cutoff: str) -> Change:
        """`change` with its document's cutoff replaced (planned, then taken at apply)."""
        import copy

        document = copy.deepcopy(dict(change.after["document"]))
        for statement in document.get("Statement", []):
            condition = statement.get("Condition", {}).get("DateLessThan", {})
            if "aws:TokenIssueTime" in condition:
                condition["aws:TokenIssueTime"] = cutoff
        return Change(change.step, change.target, change.summary, change.before,
                      {**change.after, "document": document})

    def rollback(self, change: Change, result: Mapping[str, Any]) -> None:
        self._delegate(change.before["role"]).rollback(change, result)

    def verify(self, change: Change, result: Mapping[str, Any]) -> Check:
        """One-way, so it must hold for the case's life (`verify case` checks it though
        no release lifts it): the role's revocation is the document apply wrote, with
        the cutoff taken then (`result["cutoff"]`), or a later revocation's."""
        cutoff = result.get("cutoff")
        applied = self._with_cutoff(change, str(cutoff)) if cutoff else change
        return self._delegate(change.after["role"]).verify(applied, result)


@register
class SnapshotVolumes(InstanceStep):
    name = "ec2.snapshot-volumes"
    description = "Crash-consistent snapshots of all the instance's volumes"
    actions = frozenset({"ec2:DescribeInstances", "ec2:DescribeSnapshots", "ec2:CreateSnapshots",
                         "ec2:CreateTags"})
    reversible = False

    @classmethod
    def prefetch(cls, ctx: Context) -> None:
        case_snapshots(ctx)

    def plan(self) -> list[Change]:
        described = self.instance()
        volumes = sorted(m["Ebs"]["VolumeId"] for m in described.get("BlockDeviceMappings", [])
                         if "Ebs" in m)
        case = self.contained_by() or self.ctx.case_id
        done = {s["VolumeId"] for s in case_snapshots(self.ctx)
                if s["State"] != "error" and tags_of(s).get(CASE_TAG) in (case, self.ctx.case_id)
                and tags_of(s).get(SOURCE_INSTANCE_TAG) == self.instance_id}
        if not volumes or set(volumes) <= done:
            return []
        return [Change(self.name, self.instance_id,
                       f"Snapshot {len(volumes)} volume(s) together: {', '.join(volumes)}",
                       after={"volumes": volumes})]

    def apply(self, change: Change) -> Mapping[str, Any]:
        now = self.ctx.now().strftime("%Y-%m-%dT%H:%M:%SZ")
        response = self.ctx.client("ec2").create_snapshots(
            InstanceSpecification={"InstanceId": self.instance_id, "ExcludeBootVolume": False},
            Description=f"ir-readiness case {self.ctx.case_id}: {self.instance_id} at {now}",
            CopyTagsFromSource="volume",
            TagSpecifications=[{"ResourceType": "snapshot", "Tags": [
                {"Key": CASE_TAG, "Value": self.ctx.case_id},
                {"Key": SOURCE_INSTANCE_TAG, "Value": self.instance_id},
                {"Key": "ir:captured-at", "Value": now}]}])
        return {"snapshots": {s["VolumeId"]: s["SnapshotId"] for s in response["Snapshots"]}}


def case_snapshots(ctx: Context) -> list[dict[str, Any]]:
    """Snapshots taken by earlier containments of the run's targets (batched)."""

    def load() -> list[dict[str, Any]]:
        found = []
        paginator = ctx.client("ec2").get_paginator("describe_snapshots")
        for chunk in _chunks(_instance_targets(ctx), BATCH):
            for page in paginator.paginate(OwnerIds=["self"], Filters=[
                    {"Name": f"tag:{SOURCE_INSTANCE_TAG}", "Values": chunk}]):
                found += page["Snapshots"]
        return found

    return ctx.cache.get("ec2.case-snapshots", load)


def start_command(instance_id: str) -> str:
    """What the instance's owner runs to start it again once the case allows."""
    return f"aws ec2 start-instances --instance-ids {instance_id}"


@register
class StopInstance(InstanceStep):
    """Stop the instance (after evidence capture; memory is lost).

    One-way for irctl, like the console password: no role the stack generates may start
    an instance. Stop, start and ec2:ModifyInstanceAttribute together let whoever holds
    the role put a script in any instance's user data and restart it, running code as
    that instance's role (a privilege-escalation path). Starting it again is its owner's
    decision once the case allows: the plan and the result name the command
    (`start_command`), and releasing the instance leaves it stopped.
    """

    name = "ec2.stop"
    description = ("Stop the instance (after evidence capture; memory is lost; one-way: its "
                   "owner starts it)")
    actions = frozenset({"ec2:DescribeInstances", "ec2:StopInstances"})
    reversible = False

    def plan(self) -> list[Change]:
        state = self.instance()["State"]["Name"]
        if state in ("stopped", "stopping"):
            return []
        hand_off = start_command(self.instance_id)
        return [Change(self.name, self.instance_id,
                       f"Stop the instance (now {state}; one-way: to start it again its "
                       f"owner runs `{hand_off}`)",
                       before={"state": state}, after={"state": "stopped",
                                                       "handOff": hand_off})]

    def apply(self, change: Change) -> Mapping[str, Any]:
        self.ctx.client("ec2").stop_instances(InstanceIds=[self.instance_id])
        return {"handOff": change.after["handOff"]}

    @classmethod
    def subject(cls, change: Change) -> str:
        return "state"

    def current(self, change: Change) -> Mapping[str, Any] | None:
        state = live_instance(self.ctx, self.instance_id)["State"]["Name"]
        # on its way there counts as there
        return {"state": {"stopping": "stopped", "pending": "running"}.get(state, state)}

    def verify(self, change: Change, result: Mapping[str, Any]) -> Check:
        return self.verify_current(change, "instance state")
