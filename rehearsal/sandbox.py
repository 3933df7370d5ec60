"""Guard for running the drill against a real sandbox account.

By default the drill needs no AWS account at all (embedded emulator). Against a real
account it may only run when the operator says so explicitly, types the account id
back, and the credentials really are for that account; and it only ever touches
resources it created itself (tagged `ir-readiness:drill=<run id>`). The readiness
stack must already be deployed there (`pulumi up`): the drill reads its manifest and
never provisions or changes the stack's own resources beyond what the playbook's
containment does to the drill's victims.

    irctl drill --sandbox --confirm-account 123456789012 --scenario compromised-ec2-instance
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from runbooks.core.errors import InvalidInput, PreconditionFailed

if TYPE_CHECKING:
    from rehearsal.world import World

DRILL_TAG = "ir-readiness:drill"
ACCOUNT_ID = re.compile(r"^[0-9]{12}$")

# Scenarios safe in a real account: every resource they create or contain is the
# drill's own (a t3.micro with its group, role and profile; an IAM user and its key; a
# role), and none needs state a real account cannot be given. Refused: the exposed
# bucket (it would really open a bucket to the internet, and account-level Block Public
# Access refuses it anyway), malicious-ip (it adds deny entries to EVERY network ACL of
# a pre-existing VPC), the Auto Scaling decision (the group launches replacements), and
# ransomware (its restore needs AWS Backup recovery points and injected history).
SANDBOX_SCENARIOS = frozenset(
    {"compromised-ec2-instance", "compromised-iam-credentials", "compromised-workload-key",
     "compromised-role-credentials"}
)


@dataclass(frozen=True)
class SandboxGuard:
    """Decides, before anything is created, whether a real-account drill may run."""

    confirmed_account: str
    caller_account: str
    caller_arn: str
    run_id: str

    @classmethod
    def check(
        cls, *, sandbox: bool, confirm_account: str | None, identity: Mapping[str, str],
        run_id: str, scenarios: list[str],
    ) -> SandboxGuard:
        """Raise unless every condition for a real-account drill holds."""
        if not sandbox:
            raise InvalidInput("a real-account drill needs --sandbox (the default drill uses "
                               "the embedded emulator and no account)")
        if not confirm_account:
            raise InvalidInput(
                "--sandbox needs --confirm-account ACCOUNT_ID: type the sandbox account's id "
                "back to confirm that the drill may create and contain resources there")
        if not ACCOUNT_ID.match(confirm_account):
            raise InvalidInput(f"--confirm-account {confirm_account!r} is not a 12-digit "
                               "AWS account id")
        caller = str(identity.get("Account", ""))
        if caller != confirm_account:
            raise PreconditionFailed(
                f"refusing the sandbox drill: your credentials are for account {caller} "
                f"({identity.get('Arn', '?')}), not the confirmed {confirm_account}; switch "
                "to the sandbox account's profile")
        refused = sorted(set(scenarios) - SANDBOX_SCENARIOS)
        if refused:
            raise PreconditionFailed(
                f"scenario(s) {', '.join(refused)} cannot run against a real account (they "
                "would touch resources the drill did not create, or need injected state); "
                "choose from "
                f"{', '.join(sorted(SANDBOX_SCENARIOS))}")
        return cls(confirm_account, caller, str(identity.get("Arn", "")), run_id)

    def assert_owned(self, resource: str, tags: Mapping[str, str]) -> None:
        """Refuse to touch `resource` unless this drill run created it."""
        owner = tags.get(DRILL_TAG)
        if owner != self.run_id:
            raise PreconditionFailed(
                f"refusing to touch {resource}: it is not tagged {DRILL_TAG}={self.run_id} "
                f"(found {owner!r}), so this drill run did not create it")

    def assert_region_of_account(self, arn: str) -> None:
        """Refuse ARNs of another account (e.g. a manifest copied from elsewhere)."""
        parts = arn.split(":")
        if len(parts) > 4 and parts[4] and parts[4] != self.caller_account:
            raise PreconditionFailed(
                f"refusing {arn}: it belongs to account {parts[4]}, the drill runs in "
                f"{self.caller_account}")


# -- the sandbox world and its cleanup -------------------------------------------------


def sandbox_world(sessions: Any, guard: SandboxGuard, region: str | None,
                  endpoint_url: str | None) -> World:
    """The drill's world in a real account: everything read from the deployed manifest.

    Nothing is provisioned: the readiness stack must have been deployed there with
    `pulumi up`. The victims go into a subnet of a VPC the stack covers with quarantine
    groups (launching into a subnet does not change the subnet).
    """
    from rehearsal.world import World
    from runbooks.core.manifest import load_manifest

    if not region:
        raise InvalidInput("the sandbox drill needs a region: pass --region (the readiness "
                           "stack's home region) or set AWS_REGION")
    manifest = load_manifest(sessions, region, None)  # ManifestError names the fix
    if manifest.account_id != guard.caller_account:
        raise PreconditionFailed(
            f"the manifest in {region} describes account {manifest.account_id}, the "
            f"drill runs in {guard.caller_account}; re-deploy the readiness stack there")
    for arn in manifest.topics.by_severity().values():
        guard.assert_region_of_account(arn)
    ec2 = sessions.client("ec2", region)
    chosen: tuple[str, str] | None = None
    for vpc_id in sorted(manifest.quarantine):
        subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])[
            "Subnets"]
        if subnets:
            chosen = (vpc_id, sorted(s["SubnetId"] for s in subnets)[0])
            break
    if chosen is None:
        raise PreconditionFailed(
            f"no VPC with a subnet among the manifest's quarantine VPCs "
            f"({', '.join(manifest.quarantine) or 'none'}) in {region}: the victim "
            "instance needs one; add a subnet or set ir:quarantineVpcs and re-deploy")
    world = World(endpoint_url=endpoint_url, account_id=guard.caller_account,
                  home_region=region, regions=[region], manifest=manifest,
                  workload_vpc_id=chosen[0], workload_subnet_id=chosen[1],
                  inbox_queue_url="", run_id=guard.run_id, emulated=False)
    world._session = sessions.session()  # the operator's profile, not the default chain
    return world


def _client_error_code(err: Exception) -> str:
    response = getattr(err, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def _tag_map(tags: Any) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in tags or []}


@dataclass
class Cleanup:
    """Remove everything one drill run created, and nothing else.

    Resources are found by the run's tag (EC2) or by the run id in their name (IAM),
    and every single delete/terminate first goes through `SandboxGuard.assert_owned`
    with the resource's tags as read from AWS just before: a resource without
    `ir-readiness:drill=<run id>` is refused and listed, never touched.
    """

    guard: SandboxGuard
    ec2: Any
    iam: Any
    wait_seconds: float = 300.0
    cases: list[str] = field(default_factory=list)
    """The run's case ids: the playbook's snapshots are tagged with them."""
    removed: list[str] = field(default_factory=list)
    adopted: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def _owned(self, resource: str, tags: Mapping[str, str]) -> bool:
        try:
            self.guard.assert_owned(resource, tags)
        except PreconditionFailed as err:
            self.refused.append(str(err))
            return False
        return True

    def _try(self, resource: str, action: Callable[..., object], **kwargs: Any) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            action(**kwargs)
        except (ClientError, BotoCoreError) as err:
            self.errors.append(f"{resource}: {err}")
        else:
            self.removed.append(resource)

    def run(self) -> dict[str, Any]:
        """Remove, in dependency order; then list what is still there."""
        self.adopt_case_snapshots()
        self.instances()
        self.snapshots_and_volumes()
        self.security_groups()
        self.instance_profiles()
        self.roles()
        self.users()
        return {"removed": self.removed, "adopted": self.adopted, "refused": self.refused,
                "errors": self.errors, "leftovers": self.leftovers()}

    def _case_snapshots(self) -> list[dict[str, Any]]:
        if not self.cases:
            return []
        found: list[dict[str, Any]] = []
        for page in self.ec2.get_paginator("describe_snapshots").paginate(
                OwnerIds=["self"], Filters=[{"Name": "tag:ir:case", "Values": self.cases}]):
            found += page["Snapshots"]
        return found

    def adopt_case_snapshots(self) -> None:
        """Tag the playbook's snapshots of this run's victims with the run's tag.

        They copy the volume's tags where EC2 honours CopyTagsFromSource; where it does
        not, a snapshot of one of this run's cases whose source instance is this run's
        (checked with `assert_owned` on the instance's own tags) is tagged here, so the
        delete below goes through the same ownership check as everything else.
        """
        for snap in self._case_snapshots():
            tags = _tag_map(snap.get("Tags"))
            if tags.get(DRILL_TAG) == self.guard.run_id:
                continue
            source = tags.get("ir:source-instance", "")
            reservations = self.ec2.describe_instances(Filters=[
                {"Name": "instance-id", "Values": [source or "none"]}])["Reservations"]
            instance_tags = {k: v for r in reservations for i in r["Instances"]
                             for k, v in _tag_map(i.get("Tags")).items()}
            if not self._owned(f"snapshot {snap['SnapshotId']} (source instance "
                               f"{source or 'unknown'})", instance_tags):
                continue
            self.ec2.create_tags(Resources=[snap["SnapshotId"]],
                                 Tags=[{"Key": DRILL_TAG, "Value": self.guard.run_id}])
            self.adopted.append(f"snapshot {snap['SnapshotId']}")

    # -- EC2 ------------------------------------------------------------------------
    def _tagged(self) -> list[dict[str, Any]]:
        return [{"Name": f"tag:{DRILL_TAG}", "Values": [self.guard.run_id]}]

    def _instances(self) -> list[dict[str, Any]]:
        found = []
        for page in self.ec2.get_paginator("describe_instances").paginate(
                Filters=self._tagged()):
            for reservation in page["Reservations"]:
                found += [i for i in reservation["Instances"]
                          if i["State"]["Name"] != "terminated"]
        return found

    def instances(self) -> None:
        terminating = []
        for instance in self._instances():
            iid = instance["InstanceId"]
            if not self._owned(f"instance {iid}", _tag_map(instance.get("Tags"))):
                continue
            # Containment turned termination protection on: release it (ours only).
            self._try(f"instance {iid} termination protection",
                      self.ec2.modify_instance_attribute, InstanceId=iid,
                      DisableApiTermination={"Value": False})
            self._try(f"instance {iid}", self.ec2.terminate_instances, InstanceIds=[iid])
            terminating.append(iid)
        if terminating:
            from botocore.exceptions import BotoCoreError, ClientError, WaiterError

            try:
                self.ec2.get_waiter("instance_terminated").wait(
                    InstanceIds=terminating,
                    WaiterConfig={"Delay": 5, "MaxAttempts": max(1, int(self.wait_seconds / 5))})
            except (WaiterError, ClientError, BotoCoreError) as err:
                self.errors.append(f"instances {', '.join(terminating)} did not terminate: {err}")

    def snapshots_and_volumes(self) -> None:
        # The playbook's snapshots copy the volume's tags, so they carry the run's tag.
        from botocore.exceptions import BotoCoreError, ClientError, WaiterError

        owned = []
        for page in self.ec2.get_paginator("describe_snapshots").paginate(
                OwnerIds=["self"], Filters=self._tagged()):
            owned += [snap["SnapshotId"] for snap in page["Snapshots"]
                      if self._owned(f"snapshot {snap['SnapshotId']}",
                                     _tag_map(snap.get("Tags")))]
        if owned:  # a snapshot still being taken is deleted once it is complete
            try:
                self.ec2.get_waiter("snapshot_completed").wait(
                    SnapshotIds=owned,
                    WaiterConfig={"Delay": 10, "MaxAttempts": max(1, int(self.wait_seconds / 10))})
            except (WaiterError, ClientError, BotoCoreError) as err:
                self.errors.append(f"snapshots {', '.join(owned)} not completed: {err}")
        for sid in owned:
            self._try(f"snapshot {sid}", self.ec2.delete_snapshot, SnapshotId=sid)
        for page in self.ec2.get_paginator("describe_volumes").paginate(
                Filters=self._tagged()):
            for volume in page["Volumes"]:
                vid = volume["VolumeId"]
                if volume["State"] == "available" and self._owned(
                        f"volume {vid}", _tag_map(volume.get("Tags"))):
                    self._try(f"volume {vid}",
                              self.ec2.delete_volume, VolumeId=vid)

    def security_groups(self) -> None:
        import time

        groups = self.ec2.describe_security_groups(Filters=self._tagged())["SecurityGroups"]
        for group in groups:
            gid = group["GroupId"]
            if not self._owned(f"security group {gid}", _tag_map(group.get("Tags"))):
                continue
            deadline = time.monotonic() + self.wait_seconds
            while True:  # a terminated instance's ENI lets go of the group with a delay
                try:
                    self.ec2.delete_security_group(GroupId=gid)
                except Exception as err:  # noqa: BLE001 - narrowed by code just below
                    if (_client_error_code(err) == "DependencyViolation"
                            and time.monotonic() < deadline):
                        time.sleep(5)
                        continue
                    self.errors.append(f"security group {gid}: {err}")
                else:
                    self.removed.append(f"security group {gid}")
                break

    # -- IAM (names carry the run id; tags read before every delete) ----------------
    def _names(self, operation: str, key: str, field_: str) -> list[str]:
        names = []
        for page in self.iam.get_paginator(operation).paginate():
            names += [r[field_] for r in page[key] if self.guard.run_id in r[field_]]
        return names

    def instance_profiles(self) -> None:
        for name in self._names("list_instance_profiles", "InstanceProfiles",
                                "InstanceProfileName"):
            profile = self.iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]
            if not self._owned(f"instance profile {name}", _tag_map(profile.get("Tags"))):
                continue
            for role in profile.get("Roles", []):
                self.iam.remove_role_from_instance_profile(InstanceProfileName=name,
                                                           RoleName=role["RoleName"])
            self._try(f"instance profile {name}", self.iam.delete_instance_profile,
                      InstanceProfileName=name)

    def roles(self) -> None:
        for name in self._names("list_roles", "Roles", "RoleName"):
            tags = _tag_map(self.iam.list_role_tags(RoleName=name)["Tags"])
            if not self._owned(f"role {name}", tags):
                continue
            for policy in self.iam.list_role_policies(RoleName=name)["PolicyNames"]:
                self.iam.delete_role_policy(RoleName=name, PolicyName=policy)
            for attached in self.iam.list_attached_role_policies(RoleName=name)[
                    "AttachedPolicies"]:
                self.iam.detach_role_policy(RoleName=name, PolicyArn=attached["PolicyArn"])
            self._try(f"role {name}", self.iam.delete_role, RoleName=name)

    def users(self) -> None:
        from botocore.exceptions import ClientError

        for name in self._names("list_users", "Users", "UserName"):
            tags = _tag_map(self.iam.list_user_tags(UserName=name)["Tags"])
            if not self._owned(f"user {name}", tags):
                continue
            for key in self.iam.list_access_keys(UserName=name)["AccessKeyMetadata"]:
                self.iam.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
            try:
                self.iam.delete_login_profile(UserName=name)
            except ClientError as err:
                if err.response["Error"]["Code"] != "NoSuchEntity":
                    raise
            for policy in self.iam.list_user_policies(UserName=name)["PolicyNames"]:
                self.iam.delete_user_policy(UserName=name, PolicyName=policy)
            for attached in self.iam.list_attached_user_policies(UserName=name)[
                    "AttachedPolicies"]:
                self.iam.detach_user_policy(UserName=name, PolicyArn=attached["PolicyArn"])
            for group in self.iam.list_groups_for_user(UserName=name)["Groups"]:
                self.iam.remove_user_from_group(UserName=name, GroupName=group["GroupName"])
            self._try(f"user {name}", self.iam.delete_user, UserName=name)

    def leftovers(self) -> list[str]:
        """Everything of this run still present (terminated instances excluded)."""
        left = [f"instance {i['InstanceId']}" for i in self._instances()]
        snaps = {s["SnapshotId"] for s in self.ec2.describe_snapshots(
            OwnerIds=["self"], Filters=self._tagged())["Snapshots"]}
        snaps |= {s["SnapshotId"] for s in self._case_snapshots()}
        left += [f"snapshot {s}" for s in sorted(snaps)]
        left += [f"volume {v['VolumeId']}" for v in self.ec2.describe_volumes(
            Filters=self._tagged())["Volumes"]]
        left += [f"security group {g['GroupId']}" for g in self.ec2.describe_security_groups(
            Filters=self._tagged())["SecurityGroups"]]
        left += [f"instance profile {n}" for n in self._names(
            "list_instance_profiles", "InstanceProfiles", "InstanceProfileName")]
        left += [f"role {n}" for n in self._names("list_roles", "Roles", "RoleName")]
        left += [f"user {n}" for n in self._names("list_users", "Users", "UserName")]
        return left
