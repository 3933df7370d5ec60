"""Drill scenario `compromised-rds-database`: a public PostgreSQL instance in the drill's
workload VPC, behind the application's security group, that GuardDuty RDS Protection saw
an anomalous successful login to.

Emulator only (not in `SANDBOX_SCENARIOS`): the sandbox cleanup knows no RDS resource,
and contained databases keep deletion protection on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from rehearsal.scenarios._base import Check, Incident, Scenario, check, scenario
from runbooks.core.ids import CASE_TAG

if TYPE_CHECKING:
    from rehearsal.world import World


@scenario
class CompromisedDatabase(Scenario):
    name = "compromised-rds-database"
    order = 90
    playbook = "compromised-rds-database"
    title = "Anomalous successful login to an RDS database"
    finding_type = "CredentialAccess:RDS/AnomalousBehavior.SuccessfulLogin"
    severity = 8.0

    def prepare(self, world: World) -> dict[str, Any]:
        ec2, rds = world.client("ec2"), world.client("rds")
        run = world.run_id
        vpc = world.workload_vpc_id
        zones = [z["ZoneName"] for z in ec2.describe_availability_zones()[
            "AvailabilityZones"]][:2]
        # A DB subnet group spans two zones: the workload subnet plus one of ours.
        second = ec2.create_subnet(VpcId=vpc, CidrBlock="10.42.90.0/24",
                                   AvailabilityZone=zones[-1])["Subnet"]["SubnetId"]
        subnet_group = f"drill-db-{run}"
        rds.create_db_subnet_group(
            DBSubnetGroupName=subnet_group, DBSubnetGroupDescription="drill database",
            SubnetIds=[world.workload_subnet_id, second])
        app_group = ec2.create_security_group(
            GroupName=f"drill-db-app-{run}", Description="application to database",
            VpcId=vpc)["GroupId"]
        ec2.authorize_security_group_ingress(GroupId=app_group, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432,
             "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
        database = f"drill-orders-{run}"
        rds.create_db_instance(
            DBInstanceIdentifier=database, Engine="postgres", DBInstanceClass="db.t3.micro",
            AllocatedStorage=20, MasterUsername="app_admin",
            MasterUserPassword="drill-password-1", DBSubnetGroupName=subnet_group,
            VpcSecurityGroupIds=[app_group], PubliclyAccessible=True,
            DeletionProtection=False,
            Tags=[{"Key": "ir-readiness:drill", "Value": run}])
        return {"database": database, "app_group": app_group,
                "arn": f"arn:aws:rds:{world.home_region}:{world.account_id}:db:{database}"}

    def resource(self, world: World, victim: Mapping[str, Any]) -> dict[str, Any]:
        return {"ResourceType": "RDSDBInstance", "RdsDbInstanceDetails": {
            "DbInstanceIdentifier": victim["database"], "Engine": "postgres",
            "EngineVersion": "15.4", "DbInstanceArn": victim["arn"]},
            "RdsDbUserDetails": {"User": "app_admin", "Application": "psql",
                                 "Database": "orders", "Ssl": "true",
                                 "AuthMethod": "PASSWORD"}}

    def service_action(self, world: World, victim: Mapping[str, Any]) -> dict[str, Any]:
        return {"ActionType": "RDS_LOGIN_ATTEMPT", "RdsLoginAttemptAction": {
            "RemoteIpDetails": {"IpAddressV4": "198.51.100.23"},
            "LoginAttributes": [{"User": "app_admin", "Application": "psql",
                                 "SuccessfulLoginAttempts": 1,
                                 "FailedLoginAttempts": 0}]}}

    def params(self, world: World, victim: Mapping[str, Any]) -> dict[str, str]:
        return {"database": str(victim["database"])}

    def verify(self, world: World, incident: Incident, case: str) -> list[Check]:
        rds = world.client("rds")
        database = str(incident.victim["database"])
        isolation = world.manifest.quarantine[world.workload_vpc_id] \
            .isolation_security_group_id

        def described() -> dict[str, Any]:
            found: dict[str, Any] = rds.describe_db_instances(
                DBInstanceIdentifier=database)["DBInstances"][0]
            return found

        def private() -> tuple[bool, str]:
            public = described().get("PubliclyAccessible")
            return public is False, f"PubliclyAccessible {public}"

        def isolated() -> tuple[bool, str]:
            groups = sorted(g["VpcSecurityGroupId"] for g in described()["VpcSecurityGroups"])
            return groups == [isolation], f"groups {groups} (isolation group {isolation})"

        def protected() -> tuple[bool, str]:
            on = described().get("DeletionProtection")
            return on is True, f"DeletionProtection {on}"

        def snapshot() -> tuple[bool, str]:
            snapshots = rds.describe_db_snapshots(DBInstanceIdentifier=database)["DBSnapshots"]
            tagged = [s["DBSnapshotIdentifier"] for s in snapshots
                      if {"Key": CASE_TAG, "Value": case} in rds.list_tags_for_resource(
                          ResourceName=s["DBSnapshotArn"])["TagList"]]
            return bool(tagged), f"snapshots tagged {CASE_TAG}={case}: {tagged}"

        def password() -> tuple[bool, str]:
            secret = described().get("MasterUserSecret") or {}
            arn = secret.get("SecretArn")
            return bool(arn), f"master password managed by {arn or 'nobody'}"

        return [
            check("public access off", private),
            check("security groups swapped to the VPC's isolation group", isolated),
            check("deletion protection on", protected),
            check("snapshot tagged with the case", snapshot),
            check("master password managed by Secrets Manager", password),
            *self.common_checks(world, incident, case, "high", database),
        ]
