"""RDS / Aurora containment, in the order `irctl contain database` runs them:

    rds.disable-public-access     PubliclyAccessible off (each instance; Aurora: each member)
    rds.isolate                   VPC security groups -> the VPC's isolation group
                                  (instance; Aurora: the cluster's groups)
    rds.protect                   DeletionProtection on
    rds.snapshot                  a DB (cluster) snapshot tagged ir:case, kept as evidence
    rds.manage-master-password    the master password replaced by one Secrets Manager
                                  manages (ManageMasterUserPassword), or rotated now when
                                  it already is; one-way

A target is one database: a DB instance identifier (a standalone instance) or an Aurora
DB cluster identifier, or either's ARN in this account and region. An Aurora member
instance is refused, naming its cluster: the cluster holds the groups, and release needs
one target. Network first: the public flag and the groups are what an attacker reaches the
database through; the snapshot copies storage that containment never changes, so taking
it after the cut loses nothing. Every modification is made with ApplyImmediately=True and
waited for (bounded, `wait_seconds`): RDS applies it asynchronously. The isolation group
is used alone (no conversion group as for EC2: opening a database to all traffic, even
for seconds, is worse than letting an established session live until the password
rotation and the session kill the playbook prescribes).

Release restores, newest first, deletion protection as it was, the recorded groups and
the public flag. The snapshot is evidence and stays; the password is not given back (the
old one is what was compromised): its owner retrieves the new one from Secrets Manager.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from typing import Annotated, Any

from botocore.exceptions import ClientError
from pydantic import Field

from runbooks.core.errors import InvalidInput, PreconditionFailed
from runbooks.core.ids import CASE_TAG
from runbooks.core.quarantine import group_drift
from runbooks.core.scopes import STACK_KEYS, Scope
from runbooks.core.step import Change, Check, Step, StepParams, checked_by, register

# RDS identifiers: 1-63 letters, digits or hyphens, starting with a letter, no trailing
# hyphen and no two consecutive hyphens (instances and clusters alike).
IDENTIFIER = re.compile(r"^[A-Za-z](?!.*--)[A-Za-z0-9-]{0,62}(?<!-)$")
ARN = re.compile(r"^arn:aws[a-z-]*:rds:([a-z0-9-]+):(\d{12}):(db|cluster):(.+)$")
DEFAULT_WAIT_SECONDS = 600
POLL_SECONDS = 5.0

DB_INSTANCES = Scope("AccountDbInstances", ("arn:{partition}:rds:*:{account}:db:*",))
DB_CLUSTERS = Scope("AccountDbClusters", ("arn:{partition}:rds:*:{account}:cluster:*",))
DB_SUBNET_GROUPS = Scope("AccountDbSubnetGroups",
                         ("arn:{partition}:rds:*:{account}:subgrp:*",))
DB_INSTANCE_SNAPSHOTS = Scope(
    "AccountDbInstancesAndTheirSnapshots",
    ("arn:{partition}:rds:*:{account}:db:*", "arn:{partition}:rds:*:{account}:snapshot:*"))
DB_CLUSTER_SNAPSHOTS = Scope(
    "AccountDbClustersAndTheirSnapshots",
    ("arn:{partition}:rds:*:{account}:cluster:*",
     "arn:{partition}:rds:*:{account}:cluster-snapshot:*"))
DB_SNAPSHOTS_TAGGED = Scope(
    "TagOnlyDbSnapshots", ("arn:{partition}:rds:*:{account}:snapshot:*",
                           "arn:{partition}:rds:*:{account}:cluster-snapshot:*"))
# The secret RDS creates for a managed master password is always named `rds!db-...` or
# `rds!cluster-...`: the grant reaches no other secret, and never reads one.
RDS_MANAGED_SECRETS = Scope(
    "OnlyRdsManagedSecrets", ("arn:{partition}:secretsmanager:*:{account}:secret:rds!*",))


def validate_database(value: Any) -> str:
    if isinstance(value, str) and (IDENTIFIER.match(value) or ARN.match(value)):
        return value
    raise InvalidInput(
        f"database {value!r} is malformed: a DB instance or Aurora cluster identifier "
        "(1-63 letters, digits or hyphens, starting with a letter, no '--', no trailing "
        "'-') or its ARN (arn:aws:rds:REGION:ACCOUNT:db:NAME or ...:cluster:NAME)")


class DatabaseParams(StepParams):
    database: Annotated[str, checked_by(validate_database), Field(
        description="a DB instance or Aurora DB cluster identifier, or its ARN")]
    wait_seconds: Annotated[int, Field(
        ge=0, le=3600, description="how long to wait for RDS to apply a modification, "
                                   "0-3600 seconds (default 600)")] = DEFAULT_WAIT_SECONDS


class PasswordParams(DatabaseParams):
    stack_key: Annotated[bool, Field(
        description="encrypt the managed secret with the stack's KMS key (true, the "
                    "default) or Secrets Manager's AWS-managed key (false)")] = True


def _code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


class DatabaseStep(Step):
    """Resolves the target to a DB instance or an Aurora cluster, in this scope."""

    Params = DatabaseParams
    release_kind = "database"
    validate_name = staticmethod(validate_database)

    @property
    def identifier(self) -> str:
        text = str(self.params["database"])
        found = ARN.match(text)
        return found.group(4) if found else text

    def rds(self) -> Any:
        return self.ctx.client("rds")

    def check_scope(self) -> None:
        found = ARN.match(str(self.params["database"]))
        if found and (found.group(1), found.group(2)) != (self.ctx.region,
                                                          self.ctx.account_id):
            raise PreconditionFailed(
                f"database {self.params['database']} is in account {found.group(2)} "
                f"region {found.group(1)}, not this session's ({self.ctx.account_id} "
                f"{self.ctx.region}); run with --account {found.group(2)} --region "
                f"{found.group(1)}, or name it ACCOUNT:REGION:{found.group(4)}")

    def resolve(self) -> tuple[str, dict[str, Any]]:
        """("instance" | "cluster", its live description); PreconditionFailed when it is
        unknown here, an Aurora member, or being deleted."""
        self.check_scope()
        try:
            found = self.rds().describe_db_instances(
                DBInstanceIdentifier=self.identifier)["DBInstances"]
        except ClientError as err:
            if _code(err) != "DBInstanceNotFound":
                raise
            found = []
        if found:
            described = dict(found[0])
            cluster = described.get("DBClusterIdentifier")
            if cluster:
                raise PreconditionFailed(
                    f"DB instance {self.identifier} is a member of Aurora cluster {cluster}, "
                    "whose security groups and deletion protection belong to the cluster: "
                    f"contain the cluster (`irctl contain database {cluster}`)")
            kind = "instance"
        else:
            try:
                clusters = self.rds().describe_db_clusters(
                    DBClusterIdentifier=self.identifier)["DBClusters"]
            except ClientError as err:
                if _code(err) != "DBClusterNotFoundFault":
                    raise
                clusters = []
            if not clusters:
                raise PreconditionFailed(
                    f"database {self.identifier} not found in account {self.ctx.account_id} "
                    f"region {self.ctx.region} (neither a DB instance nor an Aurora "
                    "cluster); check the identifier and --region")
            described, kind = dict(clusters[0]), "cluster"
        status = str(described.get("DBInstanceStatus") or described.get("Status") or "")
        if status in ("deleting", "deleted", "failed"):
            raise PreconditionFailed(
                f"database {self.identifier} is {status}; there is nothing left to contain "
                "(its automated backups and snapshots may survive: check RDS snapshots)")
        return kind, described

    def live(self, kind: str) -> dict[str, Any]:
        """The instance or cluster as it is now (not cached): for current() and verify."""
        if kind == "instance":
            return dict(self.rds().describe_db_instances(
                DBInstanceIdentifier=self.identifier)["DBInstances"][0])
        return dict(self.rds().describe_db_clusters(
            DBClusterIdentifier=self.identifier)["DBClusters"][0])

    def members(self) -> list[dict[str, Any]]:
        """The Aurora cluster's member instances, live."""
        return [dict(i) for i in self.rds().describe_db_instances(Filters=[
            {"Name": "db-cluster-id", "Values": [self.identifier]}])["DBInstances"]]

    def modify(self, kind: str, ident: str, **changes: Any) -> None:
        call = self.rds().modify_db_instance if kind == "instance" \
            else self.rds().modify_db_cluster
        key = "DBInstanceIdentifier" if kind == "instance" else "DBClusterIdentifier"
        call(**{key: ident}, ApplyImmediately=True, **changes)

    def wait_for(self, what: str, settled: Callable[[], bool]) -> dict[str, Any]:
        """Poll until `settled()` or `wait_seconds` (bounded further by the run's deadline)
        have passed: RDS applies a modification asynchronously. Never raises on timeout:
        the modification was accepted and RDS will finish it; the result says it had not
        settled, and `irctl verify case` checks it later."""
        bound = float(self.params.get("wait_seconds", DEFAULT_WAIT_SECONDS))
        left = self.ctx.seconds_left()
        if left is not None:
            bound = max(0.0, min(bound, left - 5))
        start = time.monotonic()
        while True:
            if settled():
                return {"settled": True, "waitedSeconds": round(time.monotonic() - start, 1)}
            if time.monotonic() - start >= bound:
                return {"settled": False, "waitedSeconds": round(time.monotonic() - start, 1),
                        "note": f"{what} not yet shown by RDS after {int(bound)} s; RDS "
                                "applies it (ApplyImmediately); `irctl verify case` checks it"}
            time.sleep(min(POLL_SECONDS, max(0.1, bound / 20)))


def available(described: Mapping[str, Any]) -> bool:
    """RDS takes the next modification or snapshot of an instance or cluster once its
    status is back to `available` (a modification in flight answers
    InvalidDBInstanceState / InvalidDBClusterStateFault)."""
    return (described.get("DBInstanceStatus") or described.get("Status")) == "available"


def group_ids(described: Mapping[str, Any]) -> list[str]:
    return sorted(g["VpcSecurityGroupId"] for g in described.get("VpcSecurityGroups", [])
                  if g.get("Status", "active") not in ("removing", "revoking"))


@register
class DisablePublicAccess(DatabaseStep):
    name = "rds.disable-public-access"
    description = ("Turn PubliclyAccessible off on the DB instance (Aurora: on every member "
                   "instance); release restores it")
    actions = frozenset({"rds:DescribeDBInstances", "rds:DescribeDBClusters",
                         "rds:ModifyDBInstance"})
    scopes = {"rds:DescribeDBInstances": DB_INSTANCES, "rds:DescribeDBClusters": DB_CLUSTERS,
              "rds:ModifyDBInstance": DB_INSTANCES}

    def plan(self) -> list[Change]:
        kind, described = self.resolve()
        instances = [described] if kind == "instance" else self.members()
        public = sorted(i["DBInstanceIdentifier"] for i in instances
                        if i.get("PubliclyAccessible"))
        return [Change(self.name, f"db/{ident}",
                       f"Turn public access off for DB instance {ident}"
                       + ("" if kind == "instance" else f" (Aurora cluster {self.identifier})"),
                       before={"instance": ident, "publiclyAccessible": True},
                       after={"instance": ident, "publiclyAccessible": False})
                for ident in public]

    def apply(self, change: Change) -> Mapping[str, Any]:
        ident = str(change.after["instance"])
        self.rds().modify_db_instance(DBInstanceIdentifier=ident, ApplyImmediately=True,
                                      PubliclyAccessible=False)
        return self.wait_for(f"public access off for {ident}",
                             lambda: self._settled_private(ident))

    def _described(self, ident: str) -> dict[str, Any]:
        return dict(self.rds().describe_db_instances(DBInstanceIdentifier=ident)[
            "DBInstances"][0])

    def _settled_private(self, ident: str) -> bool:
        described = self._described(ident)
        return not described.get("PubliclyAccessible") and available(described)

    def _public(self, ident: str) -> bool:
        return bool(self._described(ident).get("PubliclyAccessible"))

    def rollback(self, change: Change, result: Mapping[str, Any]) -> None:
        ident = str(change.before["instance"])
        self.wait_for(f"{ident} available", lambda: available(self._described(ident)))
        self.rds().modify_db_instance(DBInstanceIdentifier=ident,
                                      ApplyImmediately=True,
                                      PubliclyAccessible=bool(change.before["publiclyAccessible"]))

    @classmethod
    def subject(cls, change: Change) -> str:
        return f"public:{change.after['instance']}"

    def current(self, change: Change) -> Mapping[str, Any] | None:
        return {"publiclyAccessible": self._public(str(change.after["instance"]))}

    def verify(self, change: Change, result: Mapping[str, Any]) -> Check:
        return self.verify_current(change, f"public access of DB instance "
                                           f"{change.after['instance']}")


@register
class Isolate(DatabaseStep):
    name = "rds.isolate"
    description = ("Swap the database's VPC security groups to its VPC's isolation group "
                   "(Aurora: the cluster's); release restores the recorded groups")
    actions = frozenset({"rds:DescribeDBInstances", "rds:DescribeDBClusters",
                         "rds:DescribeDBSubnetGroups", "rds:ModifyDBInstance",
                         "rds:ModifyDBCluster", "ec2:DescribeSecurityGroups"})
    scopes = {"rds:DescribeDBInstances": DB_INSTANCES, "rds:DescribeDBClusters": DB_CLUSTERS,
              "rds:DescribeDBSubnetGroups": DB_SUBNET_GROUPS,
              "rds:ModifyDBInstance": DB_INSTANCES, "rds:ModifyDBCluster": DB_CLUSTERS}

    def vpc_of(self, kind: str, described: Mapping[str, Any]) -> str:
        subnet_group = described.get("DBSubnetGroup")
        if isinstance(subnet_group, Mapping) and subnet_group.get("VpcId"):
            return str(subnet_group["VpcId"])
        name = subnet_group if isinstance(subnet_group, str) else None
        if name:
            groups = self.rds().describe_db_subnet_groups(DBSubnetGroupName=name)[
                "DBSubnetGroups"]
            if groups and groups[0].get("VpcId"):
                return str(groups[0]["VpcId"])
        raise PreconditionFailed(
            f"database {self.identifier} is in no VPC that RDS reports (DB subnet group "
            f"{name or 'none'}); it cannot be isolated by security group")

    def isolation_group(self, vpc_id: str) -> str:
        groups = self.ctx.manifest.quarantine.get(vpc_id)
        if groups is None:
            raise PreconditionFailed(
                f"database {self.identifier} is in VPC {vpc_id}, which has no quarantine "
                "security group in the readiness manifest; add the VPC to the stack's "
                "quarantine settings and `pulumi up`, then retry (nothing was changed)")
        group_id = groups.isolation_security_group_id
        found = self.ctx.client("ec2").describe_security_groups(
            Filters=[{"Name": "group-id", "Values": [group_id]}])["SecurityGroups"]
        if not found:
            raise PreconditionFailed(
                f"isolation group {group_id} of VPC {vpc_id} named by the manifest does not "
                "exist; re-deploy the readiness stack (`pulumi up`)")
        drift = group_drift("isolationSecurityGroupId", found[0])
        if drift:
            raise PreconditionFailed(
                f"refusing to isolate database {self.identifier} into VPC {vpc_id}'s "
                f"isolation group {group_id}: its rules drifted from the readiness stack's "
                f"({'; '.join(drift)}); restore them (`pulumi up`), then retry (nothing "
                "was changed)")
        return group_id

    def plan(self) -> list[Change]:
        kind, described = self.resolve()
        isolation = self.isolation_group(self.vpc_of(kind, described))
        current = group_ids(described)
        if current == [isolation]:
            return []
        return [Change(self.name, f"{'db' if kind == 'instance' else 'cluster'}/"
                                  f"{self.identifier}",
                       f"Swap the security groups of {kind} {self.identifier} "
                       f"({', '.join(current) or 'none'}) to isolation group {isolation}",
                       before={"kind": kind, "database": self.identifier, "groups": current},
                       after={"kind": kind, "database": self.identifier,
                              "groups": [isolation]})]

    def apply(self, change: Change) -> Mapping[str, Any]:
        kind, wanted = str(change.after["kind"]), list(change.after["groups"])
        self.modify(kind, self.identifier, VpcSecurityGroupIds=wanted)
        return self.wait_for(f"isolation group on {self.identifier}",
                             lambda: self._settled(kind, sorted(wanted)))

    def _settled(self, kind: str, wanted: list[str]) -> bool:
        live = self.live(kind)
        return group_ids(live) == wanted and available(live)

    def rollback(self, change: Change, result: Mapping[str, Any]) -> None:
        kind = str(change.before["kind"])
        self.wait_for(f"{self.identifier} available", lambda: available(self.live(kind)))
        self.modify(kind, self.identifier, VpcSecurityGroupIds=list(change.before["groups"]))

    @classmethod
    def subject(cls, change: Change) -> str:
        return f"groups:{change.after['database']}"

    def with_before(self, change: Change, before: Mapping[str, Any]) -> Change:
        return Change(change.step, change.target,
                      f"Swap the security groups of {before['kind']} {before['database']} "
                      f"(recorded: {', '.join(before['groups']) or 'none'}) to "
                      f"isolation group {change.after['groups'][0]}",
                      dict(before), change.after)

    def current(self, change: Change) -> Mapping[str, Any] | None:
        return {"groups": group_ids(self.live(str(change.after["kind"])))}

    def verify(self, change: Change, result: Mapping[str, Any]) -> Check:
        return self.verify_current(change, f"security groups of {change.after['kind']} "
                                           f"{change.after['database']}")


@register
class Protect(DatabaseStep):
    name = "rds.protect"
    description = "Turn deletion protection on (release restores it as it was)"
    actions = frozenset({"rds:DescribeDBInstances", "rds:DescribeDBClusters",
                         "rds:ModifyDBInstance", "rds:ModifyDBCluster"})
    scopes = {"rds:DescribeDBInstances": DB_INSTANCES, "rds:DescribeDBClusters": DB_CLUSTERS,
              "rds:ModifyDBInstance": DB_INSTANCES, "rds:ModifyDBCluster": DB_CLUSTERS}

    def plan(self) -> list[Change]:
        kind, described = self.resolve()
        if described.get("DeletionProtection"):
            return []
        return [Change(self.name, f"{'db' if kind == 'instance' else 'cluster'}/"
                                  f"{self.identifier}",
                       f"Turn deletion protection on for {kind} {self.identifier}",
                       before={"kind": kind, "database": self.identifier,
                               "deletionProtection": False},
                       after={"kind": kind, "database": self.identifier,
                              "deletionProtection": True})]

    def apply(self, change: Change) -> Mapping[str, Any]:
        kind = str(change.after["kind"])
        self.modify(kind, self.identifier, DeletionProtection=True)
        return self.wait_for(f"deletion protection on {self.identifier}",
                             lambda: self._settled(kind))

    def _settled(self, kind: str) -> bool:
        live = self.live(kind)
        return bool(live.get("DeletionProtection")) and available(live)

    def rollback(self, change: Change, result: Mapping[str, Any]) -> None:
        kind = str(change.before["kind"])
        self.wait_for(f"{self.identifier} available", lambda: available(self.live(kind)))
        self.modify(kind, self.identifier,
                    DeletionProtection=bool(change.before["deletionProtection"]))

    @classmethod
    def subject(cls, change: Change) -> str:
        return f"deletion-protection:{change.after['database']}"

    def current(self, change: Change) -> Mapping[str, Any] | None:
        live = self.live(str(change.after["kind"]))
        return {"deletionProtection": bool(live.get("DeletionProtection"))}

    def verify(self, change: Change, result: Mapping[str, Any]) -> Check:
        return self.verify_current(change, f"deletion protection of {change.after['kind']} "
                                           f"{change.after['database']}")


def snapshot_id(case_id: str, database: str) -> str:
    """A valid snapshot identifier naming the case and the database (max 255)."""
    text = re.sub(r"[^A-Za-z0-9-]", "-", f"{case_id}-{database}")
    text = re.sub(r"-{2,}", "-", text).strip("-")[:255].rstrip("-")
    return text if text[:1].isalpha() else f"ir-{text}"[:255].rstrip("-")


@register
class Snapshot(DatabaseStep):
    name = "rds.snapshot"
    description = ("Take a DB snapshot (Aurora: a cluster snapshot) tagged with the case, "
                   "kept as evidence")
    actions = frozenset({"rds:DescribeDBInstances", "rds:DescribeDBClusters",
                         "rds:DescribeDBSnapshots", "rds:DescribeDBClusterSnapshots",
                         "rds:CreateDBSnapshot", "rds:CreateDBClusterSnapshot",
                         "rds:AddTagsToResource"})
    scopes = {"rds:DescribeDBInstances": DB_INSTANCES, "rds:DescribeDBClusters": DB_CLUSTERS,
              "rds:DescribeDBSnapshots": DB_INSTANCE_SNAPSHOTS,
              "rds:DescribeDBClusterSnapshots": DB_CLUSTER_SNAPSHOTS,
              "rds:CreateDBSnapshot": DB_INSTANCE_SNAPSHOTS,
              "rds:CreateDBClusterSnapshot": DB_CLUSTER_SNAPSHOTS,
              "rds:AddTagsToResource": DB_SNAPSHOTS_TAGGED}
    reversible = False  # evidence: never rolled back or released

    def existing(self, kind: str, name: str) -> dict[str, Any] | None:
        try:
            if kind == "instance":
                found = self.rds().describe_db_snapshots(DBSnapshotIdentifier=name)[
                    "DBSnapshots"]
            else:
                found = self.rds().describe_db_cluster_snapshots(
                    DBClusterSnapshotIdentifier=name)["DBClusterSnapshots"]
        except ClientError as err:
            if _code(err) not in ("DBSnapshotNotFound", "DBClusterSnapshotNotFoundFault"):
                raise
            return None
        return dict(found[0]) if found else None

    def plan(self) -> list[Change]:
        kind, _ = self.resolve()
        name = snapshot_id(self.ctx.case_id, self.identifier)
        if self.existing(kind, name) is not None:
            return []  # this case already took it (a re-run)
        what = "DB snapshot" if kind == "instance" else "DB cluster snapshot"
        return [Change(self.name, f"{'db' if kind == 'instance' else 'cluster'}/"
                                  f"{self.identifier}",
                       f"Take {what} {name} of {self.identifier}, tagged "
                       f"{CASE_TAG}={self.ctx.case_id} (evidence, kept)",
                       after={"kind": kind, "database": self.identifier, "snapshot": name})]

    def apply(self, change: Change) -> Mapping[str, Any]:
        name = str(change.after["snapshot"])
        tags = [{"Key": CASE_TAG, "Value": self.ctx.case_id}]
        if change.after["kind"] == "instance":
            made = self.rds().create_db_snapshot(
                DBSnapshotIdentifier=name, DBInstanceIdentifier=self.identifier,
                Tags=tags)["DBSnapshot"]
            return {"snapshot": name, "snapshotArn": made.get("DBSnapshotArn"),
                    "status": made.get("Status")}
        made = self.rds().create_db_cluster_snapshot(
            DBClusterSnapshotIdentifier=name, DBClusterIdentifier=self.identifier,
            Tags=tags)["DBClusterSnapshot"]
        return {"snapshot": name, "snapshotArn": made.get("DBClusterSnapshotArn"),
                "status": made.get("Status")}

    def verify(self, change: Change, result: Mapping[str, Any]) -> Check:
        name = str(change.after["snapshot"])
        found = self.existing(str(change.after["kind"]), name)
        status = str(found.get("Status")) if found else "missing"
        return Check("containment", change.target, f"snapshot {name}",
                     "available (or creating)", status,
                     status in ("available", "creating"))


@register
class ManageMasterPassword(DatabaseStep):
    """Replace the master password by one Secrets Manager manages, or rotate it now.

    One-way: the old password is what was compromised, so neither rollback nor release
    gives it back; the database's owner reads the new one from the secret RDS names in
    the result (`MasterUserSecret.SecretArn`). The responder role may create and rotate
    only secrets named `rds!...` (RDS's own) and never read one. Established sessions
    survive a password change: the playbook ends them (reboot or the engine's own kill).
    A re-run plans the rotation again (RDS cannot say whether this case already rotated
    it); rotating twice is harmless, the secret always holds the current password.
    """

    Params = PasswordParams
    name = "rds.manage-master-password"
    description = ("Rotate the master password to one Secrets Manager manages (one-way: "
                   "the owner reads it from the secret)")
    actions = frozenset({"rds:DescribeDBInstances", "rds:DescribeDBClusters",
                         "rds:ModifyDBInstance", "rds:ModifyDBCluster",
                         # RDS creates, tags and rotates the secret as the caller
                         "secretsmanager:CreateSecret", "secretsmanager:TagResource",
                         "secretsmanager:RotateSecret",
                         # and encrypts it with the stack's key, as the caller
                         "kms:DescribeKey", "kms:GenerateDataKey", "kms:Decrypt"})
    scopes = {"rds:DescribeDBInstances": DB_INSTANCES, "rds:DescribeDBClusters": DB_CLUSTERS,
              "rds:ModifyDBInstance": DB_INSTANCES, "rds:ModifyDBCluster": DB_CLUSTERS,
              "secretsmanager:CreateSecret": RDS_MANAGED_SECRETS,
              "secretsmanager:TagResource": RDS_MANAGED_SECRETS,
              "secretsmanager:RotateSecret": RDS_MANAGED_SECRETS,
              "kms:DescribeKey": STACK_KEYS, "kms:GenerateDataKey": STACK_KEYS,
              "kms:Decrypt": STACK_KEYS}
    reversible = False

    def plan(self) -> list[Change]:
        kind, described = self.resolve()
        secret = described.get("MasterUserSecret") or {}
        managed = bool(secret.get("SecretArn"))
        stack_key = bool(self.params.get("stack_key", True))
        how = ("rotate its Secrets Manager-managed master password now" if managed else
               "replace its master password by one Secrets Manager manages, encrypted "
               f"with {'the stack' if stack_key else 'the AWS-managed'} key")
        return [Change(self.name, f"{'db' if kind == 'instance' else 'cluster'}/"
                                  f"{self.identifier}",
                       f"{kind.capitalize()} {self.identifier}: {how} (one-way: the old "
                       "password is not restored; its owner reads the new one from the "
                       "secret)",
                       before={"kind": kind, "database": self.identifier,
                               "managed": managed},
                       after={"kind": kind, "database": self.identifier, "managed": True,
                              "rotated": managed, "stackKey": stack_key and not managed})]

    def apply(self, change: Change) -> Mapping[str, Any]:
        kind = str(change.after["kind"])
        # the snapshot before it leaves the database `backing-up` for a while (bounded;
        # past the bound RDS answers for itself)
        waited = self.wait_for(f"{self.identifier} available after its snapshot",
                               lambda: available(self.live(kind)))
        if change.after["rotated"]:
            self.modify(kind, self.identifier, RotateMasterUserPassword=True)
        else:
            key = ({"MasterUserSecretKmsKeyId": self.ctx.manifest.kms_key_arn}
                   if change.after.get("stackKey") else {})
            self.modify(kind, self.identifier, ManageMasterUserPassword=True, **key)
        secret = self.live(kind).get("MasterUserSecret") or {}
        return {"secretArn": secret.get("SecretArn"), "waitedSeconds": waited["waitedSeconds"],
                "handOff": f"the new master password is in Secrets Manager secret "
                           f"{secret.get('SecretArn')}; its owner reads it there"}

    def verify(self, change: Change, result: Mapping[str, Any]) -> Check:
        secret = self.live(str(change.after["kind"])).get("MasterUserSecret") or {}
        arn = secret.get("SecretArn")
        return Check("containment", change.target,
                     f"master password of {change.after['kind']} {change.after['database']}",
                     "managed by Secrets Manager", str(arn or "not managed"), bool(arn))
