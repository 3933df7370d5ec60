"""Drill scenario `compromised-ec2-instance`: an EC2 instance talking to a
command-and-control server.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from rehearsal.scenarios._base import (
    EC2_TRUST,
    Check,
    Incident,
    Scenario,
    check,
    image_id,
    scenario,
)
from runbooks.core.ids import CASE_TAG

if TYPE_CHECKING:
    from rehearsal.world import World


def _tags(resource: Mapping[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in resource.get("Tags", []) or []}


def _launch(world: World, launch: Mapping[str, Any]) -> dict[str, Any]:
    """run_instances; in a real account, wait out a new instance profile's propagation."""
    import time

    from botocore.exceptions import ClientError

    deadline = time.monotonic() + (0 if world.emulated else 60)
    while True:
        try:
            found: dict[str, Any] = world.client("ec2").run_instances(**launch)["Instances"][0]
            return found
        except ClientError as err:
            propagating = (err.response["Error"]["Code"] == "InvalidParameterValue"
                           and "iamInstanceProfile" in str(err))
            if not propagating or time.monotonic() >= deadline:
                raise
            time.sleep(5)


@scenario
class CompromisedInstance(Scenario):
    name = "compromised-ec2-instance"
    order = 10
    playbook = "compromised-ec2-instance"
    title = "EC2 instance talking to a command-and-control server"
    finding_type = "Backdoor:EC2/C&CActivity.B"
    follow_ups = ("share-snapshots",)

    def wants_follow_up(self, world: World, action_id: str) -> bool:
        # `case share-snapshots` needs the stack's forensic account (ir:forensicAccount):
        # the example config the emulated drill provisions names one.
        return action_id != "share-snapshots" or world.manifest.forensic_account is not None

    def prepare(self, world: World) -> dict[str, Any]:
        ec2, iam = world.client("ec2"), world.client("iam")
        run = world.run_id
        unique = f"{run}-{uuid.uuid4().hex[:6]}"  # several scenarios build such a victim
        app_sg = ec2.create_security_group(
            GroupName=f"drill-app-{unique}", Description="drill web tier",
            VpcId=world.workload_vpc_id,
            TagSpecifications=[{"ResourceType": "security-group",
                                "Tags": world.drill_tags("drill-app")}])["GroupId"]
        ec2.authorize_security_group_ingress(GroupId=app_sg, IpPermissions=[{
            "IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
            "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
        role = f"drill-app-{unique}"
        iam.create_role(RoleName=role, AssumeRolePolicyDocument=EC2_TRUST,
                        Tags=[{"Key": "ir-readiness:drill", "Value": run}])
        iam.create_instance_profile(InstanceProfileName=role,
                                    Tags=[{"Key": "ir-readiness:drill", "Value": run}])
        iam.add_role_to_instance_profile(InstanceProfileName=role, RoleName=role)
        # Groups on the ENI spec (not SecurityGroupIds): see the moto notes in the brief.
        # Volumes carry the run's tag too, so the playbook's snapshots (which copy the
        # volume's tags) can be recognised and deleted by the sandbox drill's cleanup.
        launch = {
            "ImageId": image_id(world), "MinCount": 1, "MaxCount": 1,
            "InstanceType": "t3.micro",
            "NetworkInterfaces": [{"DeviceIndex": 0, "SubnetId": world.workload_subnet_id,
                                   "Groups": [app_sg]}],
            "IamInstanceProfile": {"Name": role},
            "BlockDeviceMappings": [{"DeviceName": "/dev/sdf",
                                     "Ebs": {"VolumeSize": 8, "DeleteOnTermination": True}}],
            "TagSpecifications": [{"ResourceType": "instance",
                                   "Tags": world.drill_tags("drill-web-1")},
                                  {"ResourceType": "volume",
                                   "Tags": world.drill_tags("drill-web-1")}],
        }
        instance = _launch(world, launch)
        return {"instance_id": instance["InstanceId"], "app_sg": app_sg, "role": role}

    def resource(self, world: World, victim: Mapping[str, Any]) -> dict[str, Any]:
        return {"ResourceType": "Instance", "InstanceDetails": {
            "InstanceId": victim["instance_id"], "InstanceType": "t3.micro",
            "InstanceState": "running",
            "IamInstanceProfile": {"Arn": f"arn:aws:iam::{world.account_id}:instance-profile/"
                                          f"{victim['role']}"}}}

    def service_action(self, world: World, victim: Mapping[str, Any]) -> dict[str, Any]:
        return {"ActionType": "DNS_REQUEST",
                "DnsRequestAction": {"Domain": "c2.drill.example", "Protocol": "UDP",
                                     "Blocked": False}}

    def params(self, world: World, victim: Mapping[str, Any]) -> dict[str, str]:
        return {"instance_id": str(victim["instance_id"])}

    def verify(self, world: World, incident: Incident, case: str) -> list[Check]:
        ec2 = world.client("ec2")
        instance_id = incident.victim["instance_id"]
        quarantine = world.manifest.quarantine[world.workload_vpc_id]

        def described() -> dict[str, Any]:
            found: dict[str, Any] = ec2.describe_instances(InstanceIds=[instance_id])[
                "Reservations"][0]["Instances"][0]
            return found

        def isolated() -> tuple[bool, str]:
            enis = described()["NetworkInterfaces"]
            groups = {e["NetworkInterfaceId"]: [g["GroupId"] for g in e["Groups"]] for e in enis}
            ok = bool(enis) and all(g == [quarantine.isolation_security_group_id]
                                    for g in groups.values())
            return ok, f"ENI groups {groups}; isolation group " \
                       f"{quarantine.isolation_security_group_id}"

        def isolation_group_empty() -> tuple[bool, str]:
            group = ec2.describe_security_groups(
                GroupIds=[quarantine.isolation_security_group_id])["SecurityGroups"][0]
            rules = len(group["IpPermissions"]) + len(group["IpPermissionsEgress"])
            return rules == 0, f"isolation group has {rules} rule(s)"

        def no_profile() -> tuple[bool, str]:
            associations = [a for a in ec2.describe_iam_instance_profile_associations(
                Filters=[{"Name": "instance-id", "Values": [instance_id]}])[
                "IamInstanceProfileAssociations"] if a["State"] in ("associated", "associating")]
            return not associations, f"{len(associations)} active profile association(s)"

        def snapshots() -> tuple[bool, str]:
            volumes = {m["Ebs"]["VolumeId"] for m in described()["BlockDeviceMappings"]}
            snaps = ec2.describe_snapshots(OwnerIds=["self"], Filters=[
                {"Name": "tag:ir:case", "Values": [case]}])["Snapshots"]
            covered = {s["VolumeId"] for s in snaps}
            return bool(volumes) and volumes <= covered, \
                f"{len(volumes)} volume(s), snapshots with ir:case={case} for {len(covered)}"

        def protected() -> tuple[bool, str]:
            termination = ec2.describe_instance_attribute(
                InstanceId=instance_id, Attribute="disableApiTermination")[
                "DisableApiTermination"]["Value"]
            shutdown = ec2.describe_instance_attribute(
                InstanceId=instance_id, Attribute="instanceInitiatedShutdownBehavior")[
                "InstanceInitiatedShutdownBehavior"]["Value"]
            return termination and shutdown == "stop", \
                f"termination protection {termination}, shutdown behaviour {shutdown}"

        def tagged_and_running() -> tuple[bool, str]:
            instance = described()
            tag = _tags(instance).get(CASE_TAG)
            state = instance["State"]["Name"]
            return tag == case and state == "running", \
                f"ir:case={tag}, state {state} (kept running for memory forensics)"

        def metadata_evidence() -> tuple[bool, str]:
            keys = [k for k in self.evidence_keys(world, case) if instance_id in k]
            return bool(keys), f"{len(keys)} evidence object(s) for {instance_id}: " \
                               f"{', '.join(keys[:3])}"

        def evidence_holds() -> tuple[bool, str]:
            from runbooks.core.audit import AuditLog
            from runbooks.core.evidence_chain import check_object, evidence_objects

            objects = evidence_objects(AuditLog(case).records(), world.account_id)
            checks = [check_object(world.client("s3"), o, deep=True) for o in objects]
            bad = [p for c in checks for p in c.problems]
            return bool(checks) and not bad, (
                f"{len(checks)} evidence object(s) recorded with their SHA-256; S3's "
                f"checksum, metadata and bytes match" if not bad else "; ".join(bad[:3]))

        def operators_named() -> tuple[bool, str]:
            from runbooks.core.audit import AuditLog, operator_of

            records = AuditLog(case).records()
            unknown = [r["seq"] for r in records if operator_of(r)["arn"] == "unknown"]
            arns = sorted({operator_of(r)["arn"] for r in records})
            return bool(records) and not unknown, (
                f"{len(records)} records, operators {arns}" if not unknown
                else f"records {unknown[:5]} name no operator")

        def shared_with_forensics() -> tuple[bool, str]:
            account = world.manifest.forensic_account
            sources = [s for s in ec2.describe_snapshots(OwnerIds=["self"], Filters=[
                {"Name": "tag:ir:case", "Values": [case]}])["Snapshots"]
                if "ir:copy-of" not in _tags(s)]
            found = []
            for source in sources:
                copies = ec2.describe_snapshots(OwnerIds=["self"], Filters=[
                    {"Name": "tag:ir:copy-of", "Values": [source["SnapshotId"]]}])["Snapshots"]
                for copy in copies:
                    shared = [p.get("UserId") for p in ec2.describe_snapshot_attribute(
                        SnapshotId=copy["SnapshotId"], Attribute="createVolumePermission")[
                        "CreateVolumePermissions"]]
                    if copy.get("KmsKeyId") == world.manifest.kms_key_arn and \
                            shared == [account]:
                        found.append(copy["SnapshotId"])
            return bool(sources) and len(found) == len(sources), (
                f"{len(found)} of {len(sources)} case snapshot(s) copied with the stack key "
                f"and shared with {account} only")

        forensic = [check("case snapshots copied with the stack key and shared with the "
                          "forensic account", shared_with_forensics)] \
            if world.manifest.forensic_account is not None else []
        return [
            check("every ENI carries only the VPC's isolation group", isolated),
            check("the isolation group has no rules at all", isolation_group_empty),
            check("instance profile disassociated", no_profile),
            check("every volume has a snapshot tagged with the case", snapshots),
            check("termination protection on, shutdown behaviour stop", protected),
            check("instance tagged with the case and still running", tagged_and_running),
            check("instance metadata captured into the evidence bucket", metadata_evidence),
            check("every evidence object's SHA-256 in the audit log matches S3",
                  evidence_holds),
            check("every audit record names its operator", operators_named),
            *forensic,
            *self.common_checks(world, incident, case, "high", instance_id),
        ]
