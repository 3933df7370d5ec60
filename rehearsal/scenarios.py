"""Drill scenarios: a victim, an injected incident, the playbook's parameters, the checks.

Each scenario creates its victim workload in the drill's world, injects the incident
the way AWS would deliver it (the GuardDuty finding stored in the detector the stack
provisioned, its EventBridge event put on the default bus, CloudTrail history for the
attacker's calls), and afterwards verifies every expected outcome by reading AWS
state: never the tool's own bookkeeping.

Scenarios are registered by name; `SCENARIOS` keeps the order a full drill runs them.
"""

from __future__ import annotations

import json
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from runbooks.core.errors import InvalidInput

if TYPE_CHECKING:
    from rehearsal.world import World


@dataclass(frozen=True)
class Check:
    """One expected outcome, verified in AWS state."""

    name: str
    passed: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "passed": self.passed, "detail": self.detail}


@dataclass
class Incident:
    """What was injected: the finding, the playbook parameters, when it was detected."""

    finding: dict[str, Any]
    event: dict[str, Any]
    params: dict[str, str]
    detected_at: datetime
    notes: list[str] = field(default_factory=list)
    victim: dict[str, Any] = field(default_factory=dict)


def check(name: str, fn: Callable[[], tuple[bool, str]]) -> Check:
    """Run one verification; an AWS error reading state is a failed check, with the error."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        passed, detail = fn()
    except (ClientError, BotoCoreError, KeyError, IndexError) as err:
        return Check(name, False, f"could not verify: {err!r}")
    return Check(name, passed, detail)


def _camel(value: Any) -> Any:
    """GetFindings (PascalCase) -> EventBridge `detail` (camelCase), as GuardDuty sends it."""
    if isinstance(value, dict):
        return {k[:1].lower() + k[1:]: _camel(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_camel(v) for v in value]
    return value


def _pattern_matches(world: World, events: Any, pattern: str, event: Mapping[str, Any]) -> bool:
    """Does `event` match a rule's pattern? EventBridge's TestEventPattern in AWS.

    moto's TestEventPattern is a stub returning nothing, so in the emulator the pattern
    is evaluated by moto's own EventBridge matcher (the one its PutEvents routes with).
    """
    if world.emulated:
        from moto.events.models import EventPattern

        return bool(EventPattern.load(pattern).matches_event(json.loads(json.dumps(event))))
    return bool(events.test_event_pattern(EventPattern=pattern, Event=json.dumps(event))[
        "Result"])


def _tags(resource: Mapping[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in resource.get("Tags", []) or []}


class Scenario(ABC):
    name: ClassVar[str]
    playbook: ClassVar[str]
    title: ClassVar[str]
    finding_type: ClassVar[str]
    severity: ClassVar[float] = 8.0
    resource_role: ClassVar[str] = "ACTOR"
    phases: ClassVar[tuple[str, ...]] = ("analysis", "containment")
    follow_ups: ClassVar[tuple[str, ...]] = ()
    """Ids of the playbook's `command` actions the drill runs after the steps."""

    @abstractmethod
    def prepare(self, world: World) -> dict[str, Any]:
        """Create the victim workload; returns what the scenario needs to remember."""

    @abstractmethod
    def resource(self, world: World, victim: Mapping[str, Any]) -> dict[str, Any]:
        """The finding's Resource block (GetFindings shape)."""

    @abstractmethod
    def params(self, world: World, victim: Mapping[str, Any]) -> dict[str, str]:
        """The playbook parameters a responder would read off the finding."""

    def service_action(self, world: World, victim: Mapping[str, Any]) -> dict[str, Any]:
        return {}

    def history(self, world: World, victim: Mapping[str, Any]) -> list[dict[str, Any]]:
        """CloudTrail records of the attacker's calls to seed (trail S3 record shape)."""
        return []

    def attack(self, world: World, victim: Mapping[str, Any]) -> None:  # noqa: B027
        """Real calls the attacker makes against the emulator (optional)."""

    @abstractmethod
    def verify(self, world: World, incident: Incident, case: str) -> list[Check]:
        """The scenario's expected outcomes, read from AWS state."""

    # -- injection ---------------------------------------------------------------------
    def inject(self, world: World, victim: dict[str, Any]) -> Incident:
        self.attack(world, victim)
        detector = world.manifest["guardDutyDetectorId"]
        document = {
            "Type": self.finding_type,
            "Title": f"[drill {world.run_id}] {self.title}",
            "Description": f"Injected by irctl drill (scenario {self.name}).",
            "Severity": self.severity,
            "Resource": self.resource(world, victim),
            "Service": {"ResourceRole": self.resource_role,
                        "Action": self.service_action(world, victim)},
        }
        notes = []
        if world.emulated:
            from rehearsal.emulator import inject_events, inject_finding

            finding = inject_finding(document, detector, world.account_id, world.home_region)
            history = self.history(world, victim)
            if history:
                inject_events(history, account_id=world.account_id, region=world.home_region)
                notes.append(f"{len(history)} CloudTrail record(s) of the attacker seeded")
        else:  # a real account: findings cannot be injected, the drill acts on its victim
            finding = {**document, "Id": uuid.uuid4().hex, "AccountId": world.account_id,
                       "Region": world.home_region,
                       "CreatedAt": datetime.now(timezone.utc).isoformat()}
            notes.append("real account: finding not injected into GuardDuty (no API for it)")
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "GuardDuty Finding",
            "source": "aws.guardduty",
            "account": world.account_id,
            "time": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": world.home_region,
            "resources": [],
            "detail": _camel(finding),
        }
        if world.emulated:
            # As GuardDuty does: the finding's event on the default bus, where the stack's
            # rules route it to the alert topics (the emulator delivers to SNS targets).
            result = world.client("events").put_events(Entries=[{
                "Source": event["source"], "DetailType": event["detail-type"],
                "Detail": json.dumps(event["detail"]), "EventBusName": "default"}])
            entry = result["Entries"][0]
            notes.append(f"EventBridge event put on the default bus: "
                         f"{entry.get('EventId') or entry.get('ErrorMessage')}")
        return Incident(finding=finding, event=event, params=self.params(world, victim),
                        detected_at=datetime.now(timezone.utc), notes=notes, victim=victim)

    # -- checks every scenario shares ----------------------------------------------------
    def common_checks(self, world: World, incident: Incident, case: str,
                      topic: str, mention: str) -> list[Check]:
        if not world.emulated:
            # A real account: the drill has no subscription on the alert topics to read
            # what people were told, so those two checks are not made (the report says so).
            return [
                check("finding routes to this playbook",
                      lambda: self._triage(world, incident)),
                check("finding event matches a provisioned EventBridge rule targeting an "
                      "alert topic", lambda: self._routed(world, incident)),
                check("case audit log copied to the evidence bucket",
                      lambda: self._audit_uploaded(world, case)),
            ]
        return [
            check("finding fetched back from GuardDuty routes to this playbook",
                  lambda: self._triage(world, incident)),
            check("finding event matches a provisioned EventBridge rule targeting an alert topic",
                  lambda: self._routed(world, incident)),
            check("on-call inbox received the rule's readable alert for the finding",
                  lambda: self._alerted(world, incident)),
            check(f"on-call inbox received the {topic} topic's message about {mention}",
                  lambda: self._told(world, topic, mention)),
            check("case audit log copied to the evidence bucket",
                  lambda: self._audit_uploaded(world, case)),
        ]

    def _triage(self, world: World, incident: Incident) -> tuple[bool, str]:
        from runbooks.analysis.findings import parse_findings

        document: Any = incident.event
        if world.emulated:
            gd = world.client("guardduty")
            fetched = gd.get_findings(DetectorId=world.manifest["guardDutyDetectorId"],
                                      FindingIds=[incident.finding["Id"]])["Findings"]
            document = {"Findings": fetched}
        findings = parse_findings(json.loads(json.dumps(document, default=str)), "drill")
        chosen = findings[0].playbook if findings else None
        return chosen == self.playbook, f"triage maps {self.finding_type} to {chosen}"

    def _routed(self, world: World, incident: Incident) -> tuple[bool, str]:
        events = world.client("events")
        topics = set(world.manifest["topics"].values())
        matched = []
        for page in events.get_paginator("list_rules").paginate(EventBusName="default"):
            for rule in page["Rules"]:
                if not rule.get("EventPattern"):
                    continue
                if not _pattern_matches(world, events, rule["EventPattern"], incident.event):
                    continue
                targets = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
                matched += [f"{rule['Name']} -> {t['Arn'].rsplit(':', 1)[-1]}"
                            for t in targets if t["Arn"] in topics]
        return bool(matched), ", ".join(matched) or "no rule routes this finding to a topic"

    def _alerted(self, world: World, incident: Incident) -> tuple[bool, str]:
        if not world.emulated:
            return False, "not verifiable in a real account (no subscription of the drill)"
        finding_id = str(incident.finding["Id"])
        topics = {arn: name for name, arn in world.manifest["topics"].items()}
        hits = [m for m in world.inbox_messages() if finding_id in m.get("Message", "")]
        via = sorted({topics.get(m.get("TopicArn", ""), "?") for m in hits})
        text = hits[0]["Message"][:160] if hits else ""
        return bool(hits), (f"via the {', '.join(via)} topic: {text!r}" if hits else
                            f"no alert mentioning finding {finding_id} reached the inbox")

    def _told(self, world: World, topic: str, mention: str) -> tuple[bool, str]:
        arn = world.manifest["topics"][topic]
        messages = [m for m in world.inbox_messages() if m.get("TopicArn") == arn]
        hits = [m for m in messages if mention in m.get("Message", "")]
        return bool(hits), (f"{len(hits)} message(s) on {arn.rsplit(':', 1)[-1]} mention "
                            f"{mention}" if hits else f"{len(messages)} message(s) from the "
                            f"{topic} topic, none mentions {mention}")

    def _audit_uploaded(self, world: World, case: str) -> tuple[bool, str]:
        bucket = world.manifest["evidenceBucket"]
        key = f"cases/{case}/audit.jsonl"
        body = world.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
        records = [json.loads(line) for line in body.splitlines() if line.strip()]
        applied = sum(1 for r in records if r.get("event") == "applied")
        return applied > 0, f"s3://{bucket}/{key}: {len(records)} records, {applied} applied"

    def evidence_keys(self, world: World, case: str) -> list[str]:
        s3 = world.client("s3")
        keys: list[str] = []
        for page in s3.get_paginator("list_objects_v2").paginate(
                Bucket=world.manifest["evidenceBucket"], Prefix=f"cases/{case}/"):
            keys += [o["Key"] for o in page.get("Contents", [])]
        return keys


EC2_TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Action": "sts:AssumeRole",
    "Principal": {"Service": "ec2.amazonaws.com"}}]})

SCENARIOS: dict[str, Scenario] = {}

T = TypeVar("T", bound=type[Scenario])


def scenario(cls: T) -> T:
    SCENARIOS[cls.name] = cls()
    return cls


def get_scenarios(selection: str) -> list[Scenario]:
    """`all`, or one scenario name; a bad name lists the available ones."""
    if selection == "all":
        return list(SCENARIOS.values())
    if selection not in SCENARIOS:
        raise InvalidInput(f"no drill scenario {selection!r}; choose all or one of: "
                           f"{', '.join(SCENARIOS)}")
    return [SCENARIOS[selection]]


def _image_id(world: World) -> str:
    # A narrow filter: listing every public AMI is slow (thousands in the emulator and AWS).
    images = world.client("ec2").describe_images(Owners=["amazon"], Filters=[
        {"Name": "name", "Values": ["amzn2-ami-hvm-*-x86_64-gp2"]},
        {"Name": "state", "Values": ["available"]}])["Images"]
    if not images:
        raise InvalidInput("no AMI available in the emulator to launch the victim from")
    return str(sorted(images, key=lambda i: i["ImageId"])[0]["ImageId"])


def _attacker_user(world: World, label: str) -> dict[str, Any]:
    iam = world.client("iam")
    user = f"drill-{label}-{world.run_id}"
    iam.create_user(UserName=user, Tags=[{"Key": "ir-readiness:drill", "Value": world.run_id}])
    key = iam.create_access_key(UserName=user)["AccessKey"]
    return {"user": user, "access_key_id": key["AccessKeyId"],
            "secret": key["SecretAccessKey"]}


def _key_details(user: Mapping[str, Any], account: str) -> dict[str, Any]:
    return {"ResourceType": "AccessKey", "AccessKeyDetails": {
        "AccessKeyId": user["access_key_id"], "PrincipalId": f"AIDA{user['user'][:12].upper()}",
        "UserName": user["user"], "UserType": "IAMUser"}}


def _key_history(world: World, user: Mapping[str, Any], calls: list[tuple[str, str]],
                 ip: str) -> list[dict[str, Any]]:
    start = datetime.now(timezone.utc) - timedelta(minutes=30)
    return [{
        "eventTime": (start + timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": source, "eventName": name, "awsRegion": world.home_region,
        "sourceIPAddress": ip, "userAgent": "aws-cli/2.15.0",
        "userIdentity": {"type": "IAMUser", "accountId": world.account_id,
                         "accessKeyId": user["access_key_id"], "userName": user["user"],
                         "arn": f"arn:aws:iam::{world.account_id}:user/{user['user']}"},
        "requestParameters": {}, "readOnly": name.startswith(("List", "Get", "Describe")),
    } for i, (source, name) in enumerate(calls)]


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
    playbook = "compromised-ec2-instance"
    title = "EC2 instance talking to a command-and-control server"
    finding_type = "Backdoor:EC2/C&CActivity.B"

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
            "ImageId": _image_id(world), "MinCount": 1, "MaxCount": 1,
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
        quarantine = world.manifest["quarantine"][world.workload_vpc_id]

        def described() -> dict[str, Any]:
            found: dict[str, Any] = ec2.describe_instances(InstanceIds=[instance_id])[
                "Reservations"][0]["Instances"][0]
            return found

        def isolated() -> tuple[bool, str]:
            enis = described()["NetworkInterfaces"]
            groups = {e["NetworkInterfaceId"]: [g["GroupId"] for g in e["Groups"]] for e in enis}
            ok = bool(enis) and all(g == [quarantine["isolationSecurityGroupId"]]
                                    for g in groups.values())
            return ok, f"ENI groups {groups}; isolation group " \
                       f"{quarantine['isolationSecurityGroupId']}"

        def isolation_group_empty() -> tuple[bool, str]:
            group = ec2.describe_security_groups(
                GroupIds=[quarantine["isolationSecurityGroupId"]])["SecurityGroups"][0]
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
            tag = _tags(instance).get("ir:case")
            state = instance["State"]["Name"]
            return tag == case and state == "running", \
                f"ir:case={tag}, state {state} (kept running for memory forensics)"

        def metadata_evidence() -> tuple[bool, str]:
            keys = [k for k in self.evidence_keys(world, case) if instance_id in k]
            return bool(keys), f"{len(keys)} evidence object(s) for {instance_id}: " \
                               f"{', '.join(keys[:3])}"

        return [
            check("every ENI carries only the VPC's isolation group", isolated),
            check("the isolation group has no rules at all", isolation_group_empty),
            check("instance profile disassociated", no_profile),
            check("every volume has a snapshot tagged with the case", snapshots),
            check("termination protection on, shutdown behaviour stop", protected),
            check("instance tagged with the case and still running", tagged_and_running),
            check("instance metadata captured into the evidence bucket", metadata_evidence),
            *self.common_checks(world, incident, case, "high", instance_id),
        ]


@scenario
class CompromisedAutoScaledInstance(CompromisedInstance):
    """The decision point 'in an Auto Scaling group': detached, capacity kept."""

    name = "compromised-asg-instance"
    title = "Auto-scaled EC2 instance mining cryptocurrency"
    finding_type = "CryptoCurrency:EC2/BitcoinTool.B!DNS"

    def prepare(self, world: World) -> dict[str, Any]:
        victim = super().prepare(world)
        autoscaling, ec2 = world.client("autoscaling"), world.client("ec2")
        group = f"drill-web-{world.run_id}"
        template = ec2.create_launch_template(
            LaunchTemplateName=group, LaunchTemplateData={
                "ImageId": _image_id(world), "InstanceType": "t3.micro",
                "NetworkInterfaces": [{"DeviceIndex": 0, "SubnetId": world.workload_subnet_id,
                                       "Groups": [victim["app_sg"]]}]})
        autoscaling.create_auto_scaling_group(
            AutoScalingGroupName=group, MinSize=0, MaxSize=3, DesiredCapacity=0,
            LaunchTemplate={"LaunchTemplateId": template["LaunchTemplate"]["LaunchTemplateId"],
                            "Version": "$Latest"},
            VPCZoneIdentifier=world.workload_subnet_id,
            Tags=[{"Key": "ir-readiness:drill", "Value": world.run_id,
                   "PropagateAtLaunch": True}])
        autoscaling.attach_instances(InstanceIds=[victim["instance_id"]],
                                     AutoScalingGroupName=group)
        return {**victim, "group": group}

    def verify(self, world: World, incident: Incident, case: str) -> list[Check]:
        autoscaling = world.client("autoscaling")
        victim = incident.victim

        def detached_capacity_kept() -> tuple[bool, str]:
            group = autoscaling.describe_auto_scaling_groups(
                AutoScalingGroupNames=[victim["group"]])["AutoScalingGroups"][0]
            members = [i["InstanceId"] for i in group["Instances"]]
            ok = (victim["instance_id"] not in members and group["DesiredCapacity"] == 1
                  and len(members) == 1)
            return ok, (f"group {victim['group']}: desired {group['DesiredCapacity']}, "
                        f"members {members} (victim {victim['instance_id']} detached, "
                        "replacement launched)")

        return [check("detached from its Auto Scaling group, capacity kept",
                      detached_capacity_kept), *super().verify(world, incident, case)]


@scenario
class CompromisedAccessKey(Scenario):
    name = "compromised-iam-credentials"
    playbook = "compromised-iam-credentials"
    title = "A user's access key used from a known-malicious address"
    finding_type = "UnauthorizedAccess:IAMUser/MaliciousIPCaller"
    severity = 5.0

    def prepare(self, world: World) -> dict[str, Any]:
        user = _attacker_user(world, "alice")
        world.client("iam").create_login_profile(UserName=user["user"],
                                                 Password=f"Drill-{uuid.uuid4().hex}!")
        return user

    def resource(self, world: World, victim: Mapping[str, Any]) -> dict[str, Any]:
        return _key_details(victim, world.account_id)

    def service_action(self, world: World, victim: Mapping[str, Any]) -> dict[str, Any]:
        return {"ActionType": "AWS_API_CALL", "AwsApiCallAction": {
            "Api": "CreateUser", "ServiceName": "iam.amazonaws.com",
            "RemoteIpDetails": {"IpAddressV4": "198.51.100.23"}}}

    def history(self, world: World, victim: Mapping[str, Any]) -> list[dict[str, Any]]:
        return _key_history(world, victim, [
            ("sts.amazonaws.com", "GetCallerIdentity"), ("s3.amazonaws.com", "ListBuckets"),
            ("iam.amazonaws.com", "CreateUser"), ("iam.amazonaws.com", "CreateAccessKey")],
            "198.51.100.23")

    def params(self, world: World, victim: Mapping[str, Any]) -> dict[str, str]:
        return {"credential_kind": "access-key", "access_key_id": str(victim["access_key_id"]),
                "key_owner": "human"}

    def verify(self, world: World, incident: Incident, case: str) -> list[Check]:
        iam = world.client("iam")
        user, key_id = incident.victim["user"], incident.victim["access_key_id"]

        def key_inactive() -> tuple[bool, str]:
            keys = {k["AccessKeyId"]: k["Status"] for k in
                    iam.list_access_keys(UserName=user)["AccessKeyMetadata"]}
            return keys.get(key_id) == "Inactive", f"key {key_id}: {keys.get(key_id, 'deleted')}"

        def denied() -> tuple[bool, str]:
            inline = iam.list_user_policies(UserName=user)["PolicyNames"]
            documents = [iam.get_user_policy(UserName=user, PolicyName=p)["PolicyDocument"]
                         for p in inline]
            attached = [p["PolicyArn"] for p in
                        iam.list_attached_user_policies(UserName=user)["AttachedPolicies"]]
            for arn in attached:
                version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
                documents.append(iam.get_policy_version(PolicyArn=arn, VersionId=version)[
                    "PolicyVersion"]["Document"])
            deny_all = [d for d in documents for s in _statements(d)
                        if s.get("Effect") == "Deny" and s.get("Action") in ("*", ["*"])
                        and s.get("Resource") in ("*", ["*"])]
            return bool(deny_all), f"{len(inline)} inline, {len(attached)} attached; " \
                                   f"deny-all present: {bool(deny_all)}"

        def no_console() -> tuple[bool, str]:
            from botocore.exceptions import ClientError

            try:
                iam.get_login_profile(UserName=user)
            except ClientError as err:
                if err.response["Error"]["Code"] == "NoSuchEntity":
                    return True, "login profile removed"
                raise
            return False, "login profile still exists"

        def activity_evidence() -> tuple[bool, str]:
            s3 = world.client("s3")
            bucket = world.manifest["evidenceBucket"]
            for key in self.evidence_keys(world, case):
                if key.endswith("audit.jsonl"):
                    continue
                body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
                if b"CreateAccessKey" in body and key_id.encode() in body:
                    return True, f"s3://{bucket}/{key} holds the key's CreateAccessKey call"
            return False, "no evidence object holds the key's seeded activity"

        # In a real account no history can be injected: the activity check is emulator-only.
        activity = ([check("the key's CloudTrail activity saved as evidence",
                           activity_evidence)] if world.emulated else [])
        return [
            check("access key deactivated, not deleted", key_inactive),
            check("user carries a deny-all policy", denied),
            check("console password removed (human owner)", no_console),
            *activity,
            *self.common_checks(world, incident, case, "high", key_id),
        ]


@scenario
class CompromisedWorkloadKey(CompromisedAccessKey):
    """The decision point 'a workload's key': contained, console access left alone."""

    name = "compromised-workload-key"
    title = "A service user's access key used for reconnaissance"
    finding_type = "Discovery:IAMUser/AnomalousBehavior"

    def prepare(self, world: World) -> dict[str, Any]:
        user = _attacker_user(world, "etl-svc")
        # A login profile the workload branch must NOT touch (removing it is the human
        # branch), so the check below can tell the branches apart.
        world.client("iam").create_login_profile(UserName=user["user"],
                                                 Password=f"Drill-{uuid.uuid4().hex}!")
        return user

    def params(self, world: World, victim: Mapping[str, Any]) -> dict[str, str]:
        return {"credential_kind": "access-key", "access_key_id": str(victim["access_key_id"]),
                "key_owner": "workload"}

    def verify(self, world: World, incident: Incident, case: str) -> list[Check]:
        iam = world.client("iam")
        user = incident.victim["user"]

        def console_untouched() -> tuple[bool, str]:
            profile = iam.get_login_profile(UserName=user)["LoginProfile"]
            return profile["UserName"] == user, "login profile kept (workload branch)"

        inherited = [c for c in super().verify(world, incident, case)
                     if not c.name.startswith("console password removed")]
        return [check("console access left to the service owner (workload key)",
                      console_untouched), *inherited]


def _statements(document: Any) -> list[dict[str, Any]]:
    if isinstance(document, str):
        document = json.loads(document)
    statements = document.get("Statement", [])
    return statements if isinstance(statements, list) else [statements]


@scenario
class CompromisedRole(Scenario):
    name = "compromised-role-credentials"
    playbook = "compromised-iam-credentials"
    title = "Instance role credentials used outside AWS"
    finding_type = "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS"

    def prepare(self, world: World) -> dict[str, Any]:
        role = f"drill-worker-{world.run_id}"
        world.client("iam").create_role(
            RoleName=role, Tags=[{"Key": "ir-readiness:drill", "Value": world.run_id}],
            AssumeRolePolicyDocument=EC2_TRUST)
        return {"role": role}

    def resource(self, world: World, victim: Mapping[str, Any]) -> dict[str, Any]:
        return {"ResourceType": "AccessKey", "AccessKeyDetails": {
            "AccessKeyId": "ASIADRILL0000EXAMPLE", "PrincipalId": "AROADRILLEXAMPLE:i-0drill",
            "UserName": victim["role"], "UserType": "AssumedRole"}}

    def params(self, world: World, victim: Mapping[str, Any]) -> dict[str, str]:
        return {"credential_kind": "role", "role_name": str(victim["role"])}

    def verify(self, world: World, incident: Incident, case: str) -> list[Check]:
        iam = world.client("iam")
        role = incident.victim["role"]

        def revoked() -> tuple[bool, str]:
            for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
                document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
                for statement in _statements(document):
                    condition = statement.get("Condition", {}).get("DateLessThan", {})
                    if statement.get("Effect") == "Deny" and "aws:TokenIssueTime" in condition:
                        return True, f"{name}: deny for tokens issued before " \
                                     f"{condition['aws:TokenIssueTime']}"
            return False, "no policy denies sessions issued before containment"

        return [
            check("the role's older sessions are revoked", revoked),
            *self.common_checks(world, incident, case, "high", role),
        ]


@scenario
class ExposedBucket(Scenario):
    name = "exposed-s3-bucket"
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
            statements = _statements(policy)
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


@scenario
class Ransomware(Scenario):
    name = "ransomware-data-destruction"
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
        attacker = _attacker_user(world, "etl")
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
        resource = _key_details(victim, world.account_id)
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


@scenario
class MaliciousIp(Scenario):
    name = "malicious-ip"
    playbook = "malicious-ip"
    title = "A known-malicious address probing an exposed port"
    finding_type = "Recon:EC2/PortProbeUnprotectedPort"
    severity = 5.0  # Medium: GuardDuty's Low band is deliberately not paged
    resource_role = "TARGET"
    cidr = "203.0.113.66/32"

    def prepare(self, world: World) -> dict[str, Any]:
        ec2 = world.client("ec2")
        acl = ec2.create_network_acl(VpcId=world.workload_vpc_id, TagSpecifications=[{
            "ResourceType": "network-acl", "Tags": world.drill_tags("drill-app-acl")}])[
            "NetworkAcl"]["NetworkAclId"]
        ec2.create_network_acl_entry(NetworkAclId=acl, RuleNumber=100, Protocol="6",
                                     RuleAction="allow", Egress=False, CidrBlock="0.0.0.0/0",
                                     PortRange={"From": 443, "To": 443})
        before = self._entries(world)
        return {"vpc_id": world.workload_vpc_id, "acl": acl, "before": before}

    def _entries(self, world: World) -> dict[str, list[dict[str, Any]]]:
        acls = world.client("ec2").describe_network_acls(Filters=[
            {"Name": "vpc-id", "Values": [world.workload_vpc_id]}])["NetworkAcls"]
        return {a["NetworkAclId"]: sorted(a["Entries"], key=lambda e: (e["Egress"],
                                                                       e["RuleNumber"]))
                for a in acls}

    def resource(self, world: World, victim: Mapping[str, Any]) -> dict[str, Any]:
        return {"ResourceType": "Instance", "InstanceDetails": {
            "InstanceId": "i-0d0d0d0d0d0d0d0d0", "NetworkInterfaces": [
                {"VpcId": victim["vpc_id"], "SubnetId": world.workload_subnet_id}]}}

    def service_action(self, world: World, victim: Mapping[str, Any]) -> dict[str, Any]:
        probe = {"LocalPortDetails": {"Port": 22, "PortName": "SSH"},
                 "RemoteIpDetails": {"IpAddressV4": self.cidr.split("/")[0]}}
        return {"ActionType": "PORT_PROBE",
                "PortProbeAction": {"Blocked": False, "PortProbeDetails": [probe]}}

    def params(self, world: World, victim: Mapping[str, Any]) -> dict[str, str]:
        return {"cidr": self.cidr, "vpc_id": str(victim["vpc_id"])}

    def verify(self, world: World, incident: Incident, case: str) -> list[Check]:
        before: dict[str, list[dict[str, Any]]] = incident.victim["before"]

        def denied_both_ways() -> tuple[bool, str]:
            after = self._entries(world)
            missing = []
            for acl, entries in after.items():
                for egress in (False, True):
                    if not any(e["CidrBlock"] == self.cidr and e["RuleAction"] == "deny"
                               and e["Egress"] is egress for e in entries
                               if "CidrBlock" in e):
                        missing.append(f"{acl} {'egress' if egress else 'ingress'}")
            return bool(after) and not missing, \
                f"{len(after)} ACL(s); missing deny: {missing or 'none'}"

        def unchanged_otherwise() -> tuple[bool, str]:
            after = self._entries(world)
            changed = [acl for acl, entries in before.items()
                       if [e for e in after.get(acl, []) if e.get("CidrBlock") != self.cidr]
                       != [e for e in entries if e.get("CidrBlock") != self.cidr]]
            return not changed, f"pre-existing entries changed in: {changed or 'none'}"

        return [
            check("every network ACL of the VPC denies the address both ways", denied_both_ways),
            check("pre-existing ACL entries are unchanged", unchanged_otherwise),
            *self.common_checks(world, incident, case, "info", self.cidr),
        ]
