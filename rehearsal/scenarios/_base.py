"""What every drill scenario is made of: the `Scenario` base, checks, shared helpers.

A scenario creates its victim workload in the drill's world, injects the incident the
way AWS would deliver it (the GuardDuty finding stored in the detector the stack
provisioned, its EventBridge event put on the default bus, CloudTrail history for the
attacker's calls), and afterwards verifies every expected outcome by reading AWS state:
never the tool's own bookkeeping.
"""

from __future__ import annotations

import json
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timezone
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
    origin: str = "scenario"
    """"scenario": the scenario's own outcome; "registry": a step's verify of a change
    still in place (`rehearsal.registry_checks`)."""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "passed": self.passed, "detail": self.detail,
                "origin": self.origin}


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
    order: ClassVar[int]
    """Where a full drill runs it (ascending); every registered scenario sets its own."""

    def wants_follow_up(self, world: World, action_id: str) -> bool:
        """Whether the drill runs follow-up `action_id` in this world (e.g. only where
        the stack configures what the command needs)."""
        return True

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

    def responding(self, world: World) -> AbstractContextManager[object]:
        """Held while the scenario runs (victim, playbook, follow-ups, checks): what the
        drill puts in place of something it has no emulator for (the EKS scenarios'
        in-memory Kubernetes API behind irctl's Kubernetes interface). Default: nothing."""
        return nullcontext()

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
        detector = world.manifest.guard_duty_detector_id
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
            fetched = gd.get_findings(DetectorId=world.manifest.guard_duty_detector_id,
                                      FindingIds=[incident.finding["Id"]])["Findings"]
            document = {"Findings": fetched}
        findings = parse_findings(json.loads(json.dumps(document, default=str)), "drill")
        chosen = findings[0].playbook if findings else None
        return chosen == self.playbook, f"triage maps {self.finding_type} to {chosen}"

    def _routed(self, world: World, incident: Incident) -> tuple[bool, str]:
        events = world.client("events")
        topics = set(world.manifest.topics.by_severity().values())
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
        topics = {arn: name for name, arn in world.manifest.topics.by_severity().items()}
        hits = [m for m in world.inbox_messages() if finding_id in m.get("Message", "")]
        via = sorted({topics.get(m.get("TopicArn", ""), "?") for m in hits})
        text = hits[0]["Message"][:160] if hits else ""
        return bool(hits), (f"via the {', '.join(via)} topic: {text!r}" if hits else
                            f"no alert mentioning finding {finding_id} reached the inbox")

    def _told(self, world: World, topic: str, mention: str) -> tuple[bool, str]:
        arn = world.manifest.topics.arn(topic)
        messages = [m for m in world.inbox_messages() if m.get("TopicArn") == arn]
        hits = [m for m in messages if mention in m.get("Message", "")]
        return bool(hits), (f"{len(hits)} message(s) on {arn.rsplit(':', 1)[-1]} mention "
                            f"{mention}" if hits else f"{len(messages)} message(s) from the "
                            f"{topic} topic, none mentions {mention}")

    def _audit_uploaded(self, world: World, case: str) -> tuple[bool, str]:
        bucket = world.manifest.evidence_bucket
        key = f"cases/{case}/audit.jsonl"
        body = world.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
        records = [json.loads(line) for line in body.splitlines() if line.strip()]
        applied = sum(1 for r in records if r.get("event") == "applied")
        return applied > 0, f"s3://{bucket}/{key}: {len(records)} records, {applied} applied"

    def evidence_keys(self, world: World, case: str) -> list[str]:
        s3 = world.client("s3")
        keys: list[str] = []
        for page in s3.get_paginator("list_objects_v2").paginate(
                Bucket=world.manifest.evidence_bucket, Prefix=f"cases/{case}/"):
            keys += [o["Key"] for o in page.get("Contents", [])]
        return keys


REGISTERED: dict[str, Scenario] = {}
"""Every scenario by name, as the modules registered them (`rehearsal.scenarios` orders
them by `Scenario.order` into `SCENARIOS`)."""

T = TypeVar("T", bound=type[Scenario])


def scenario(cls: T) -> T:
    """Register a scenario class (one instance) under its `name`."""
    if "name" not in vars(cls) or "order" not in vars(cls):
        raise TypeError(f"{cls.__name__}: a registered scenario sets its own name and order")
    if cls.name in REGISTERED:
        raise TypeError(f"drill scenario {cls.name!r} registered twice")
    REGISTERED[cls.name] = cls()
    return cls


EC2_TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Action": "sts:AssumeRole",
    "Principal": {"Service": "ec2.amazonaws.com"}}]})


def image_id(world: World) -> str:
    # A narrow filter: listing every public AMI is slow (thousands in the emulator and AWS).
    images = world.client("ec2").describe_images(Owners=["amazon"], Filters=[
        {"Name": "name", "Values": ["amzn2-ami-hvm-*-x86_64-gp2"]},
        {"Name": "state", "Values": ["available"]}])["Images"]
    if not images:
        raise InvalidInput("no AMI available in the emulator to launch the victim from")
    return str(sorted(images, key=lambda i: i["ImageId"])[0]["ImageId"])


def attacker_user(world: World, label: str) -> dict[str, Any]:
    iam = world.client("iam")
    user = f"drill-{label}-{world.run_id}"
    iam.create_user(UserName=user, Tags=[{"Key": "ir-readiness:drill", "Value": world.run_id}])
    key = iam.create_access_key(UserName=user)["AccessKey"]
    return {"user": user, "access_key_id": key["AccessKeyId"],
            "secret": key["SecretAccessKey"]}


def key_details(user: Mapping[str, Any], account: str) -> dict[str, Any]:
    return {"ResourceType": "AccessKey", "AccessKeyDetails": {
        "AccessKeyId": user["access_key_id"], "PrincipalId": f"AIDA{user['user'][:12].upper()}",
        "UserName": user["user"], "UserType": "IAMUser"}}


def policy_statements(document: Any) -> list[dict[str, Any]]:
    if isinstance(document, str):
        document = json.loads(document)
    statements = document.get("Statement", [])
    return statements if isinstance(statements, list) else [statements]
