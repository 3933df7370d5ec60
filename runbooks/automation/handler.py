"""The automation Lambda: a GuardDuty / Security Hub finding in, a playbook run out.

EventBridge delivers a finding (`GuardDuty Finding` or `Security Hub Findings -
Imported`); the handler

1. parses it with `runbooks.analysis.findings` (an unknown shape is logged and dropped
   with an `EventsDropped` metric; the handler returns normally so Lambda never retries
   it);
2. skips, with the reason in its result, log line and `EventsSkipped` metric: sample
   findings (`service.additionalInfo.sample`, ASFF `Sample`), archived ones
   (`service.archived`, ASFF `RecordState: ARCHIVED`), Security Hub workflow RESOLVED /
   SUPPRESSED / NOTIFIED, findings of another region, below the minimum severity, of a
   type outside the allow-list, on a resource no playbook handles yet (RDS, Lambda,
   EKS/Kubernetes, Runtime on an ECS task or container), or without an automated
   playbook (an instance that is the TARGET of an attack is a malicious-ip case, never
   isolated);
   a finding of another account than the manifest's is acted on only through the
   configured member responder role (`IR_AUTOMATION_MEMBER_ROLE_NAME`), whose account's
   own manifest must describe that account; without one it is refused (`OtherAccount`:
   status `refused`, an `EventsRefused` metric, a REFUSED message to the high topic);
3. derives the case id from the finding (`case_id_for`), so every delivery of one
   finding (EventBridge is at-least-once; GuardDuty re-sends updated findings; Security
   Hub re-imports GuardDuty's) lands in one case, and *claims* it in the evidence bucket
   with a conditional put (`If-None-Match: *`): a second delivery finds the claim and
   stops before any AWS call;
4. in `apply` mode, falls back to a plan when a target carries the opt-out tag or the
   hourly cap of automated containments is reached (both reported in the message);
5. runs the playbook's containment phase through the runner (`run_playbook`: audit log
   copied to the evidence bucket, rollback on failure, the playbook's own notification);
   the runner claims each target first (`runbooks.core.claims`, the same per-target claim
   `irctl` takes), so racing a responder the function waits, then plans against what the
   responder left (nothing to do: no change reported as its own); still held after the
   wait, the target is refused (exit code 2: reported, not retried);
6. posts a summary (the plan, or what was done) to the manifest's high topic; moves the
   Security Hub finding's workflow NEW -> NOTIFIED after a containment;
7. prints time-to-detect and time-to-contain in CloudWatch embedded metric format.

Configuration (environment, set by the ResponseAutomation component):
`IR_AUTOMATION_MODE` (`plan` default | `apply`), `IR_AUTOMATION_FINDING_TYPES` (comma
separated type prefixes, the allow-list; empty allows nothing),
`IR_AUTOMATION_MIN_SEVERITY` (GuardDuty scale, default 7), `IR_AUTOMATION_OPT_OUT_TAG`
(default `ir-readiness:automation`; value `off`, `false`, `no` or `disabled` opts a
resource out), `IR_AUTOMATION_MAX_ACTIONS_PER_HOUR` (default 10), `IR_CASE_DIR`,
`IR_AUTOMATION_MEMBER_ROLE_NAME` (the member accounts' responder role to act in another
account's findings through; unset: never act outside this account) and
`IR_AUTOMATION_EXTERNAL_ID` (the sts:ExternalId that role requires).

A failed containment (exit code 1 or 3 from the runner) releases the claim and raises,
so Lambda's retry policy and the dead-letter queue take over and the Errors alarm pages.
A refused one (exit code 2: unknown instance, no quarantine group) is reported and not
retried: retrying would not change the answer. Every refusal and failure carries its
reason (the runner's error for each target) in the result's `error`, the log line and the
SNS message, whose subject names the target (instance, role, key, bucket or CIDR).

Time budget: the handler reads `context.get_remaining_time_in_millis()` on arrival and
keeps `FINISH_CALLS` worst-case calls (`SessionFactory.hung_call_seconds()`) for its own
ending (claim, notification); the runner starts no change that could not finish, record
included, before that (`Context.deadline`). A change refused for time is recorded
`not-attempted` with the reason, the applied ones stay (exit code 3), the summary and
the notification say what was left, and Lambda's retry resumes (plans are empty for
what is done). Lambda never kills the function mid-change without a record, short of a
single call taking longer than its worst case (one throttled past its backoff).
Evidence queued locally (S3 could not take it) is reported too; the queue lives in the
sandbox's /tmp and is lost with it, so the notification says so.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from runbooks.analysis.playbooks import (
    COMPROMISED_EC2,
    COMPROMISED_IAM,
    EXPOSED_S3,
    MALICIOUS_IP,
)
from runbooks.core.audit import AuditLog
from runbooks.core.context import EVIDENCE_MAX_ATTEMPTS
from runbooks.core.errors import ActionFailed, InvalidInput, IrError, PreconditionFailed
from runbooks.core.evidence_queue import describe, is_queueable

if TYPE_CHECKING:
    from runbooks.analysis.findings import Finding
    from runbooks.core.context import SessionFactory
    from runbooks.core.runner import RunResult

LOG = logging.getLogger("runbooks.automation")

MODES = ("plan", "apply")
METRIC_NAMESPACE = "ir-readiness/automation"
DEFAULT_OPT_OUT_TAG = "ir-readiness:automation"
OPT_OUT_VALUES = frozenset({"off", "false", "no", "disabled", "opt-out"})
CLAIM_PREFIX = "automation/claims"
APPLIED_PREFIX = "automation/applied"
AUTOMATED_PHASES = ("containment",)
FINISH_CALLS = 2
"""Worst-case calls kept in reserve after the last change: the claim and the notification."""

# Playbooks automation may run. Ransomware needs a human-chosen restore point, and its
# containment disables a key that may be the only way to the data: never automated.
AUTOMATED_PLAYBOOKS: tuple[str, ...] = (COMPROMISED_EC2, COMPROMISED_IAM, EXPOSED_S3,
                                        MALICIOUS_IP)

# What the handler calls outside the playbooks' steps (the component adds these to the
# steps' declared actions): opt-out tags, Security Hub workflow, claims and the cap.
# Measured, not hand-kept: tests/runbooks/automation/test_handler_actions_measured.py.
HANDLER_ACTIONS: frozenset[str] = frozenset({
    "sts:GetCallerIdentity",
    "ssm:GetParameter",
    "ec2:DescribeInstances",
    "ec2:DescribeVpcs",
    "iam:ListUserTags",
    "iam:ListRoleTags",
    "s3:GetBucketTagging",
    "securityhub:GetFindings",
    "securityhub:BatchUpdateFindings",
    "sns:Publish",
    "s3:GetObject",
    "s3:PutObject",
    "s3:ListBucket",
    # the runner checks the case's audit log copy before appending to it
    # (`read_evidence_copy`): its versions, and the latest one on a retry
    "s3:ListBucketVersions",
    "s3:GetObjectVersion",
})


class AutomationFailed(ActionFailed):
    """The containment failed; raised so Lambda retries and the DLQ keeps the event."""


@dataclass(frozen=True)
class AutomationConfig:
    """The handler's settings, from the environment the component sets."""

    mode: str = "plan"
    finding_types: tuple[str, ...] = ()
    min_severity: float = 7.0
    opt_out_tag: str = DEFAULT_OPT_OUT_TAG
    max_actions_per_hour: int = 10
    member_role_name: str | None = None
    external_id: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AutomationConfig:
        env = os.environ if env is None else env
        mode = env.get("IR_AUTOMATION_MODE", "plan").strip().lower() or "plan"
        if mode not in MODES:
            raise InvalidInput(f"IR_AUTOMATION_MODE = {mode!r}: must be plan or apply")
        types = tuple(t.strip() for t in env.get("IR_AUTOMATION_FINDING_TYPES", "").split(",")
                      if t.strip())
        try:
            min_severity = float(env.get("IR_AUTOMATION_MIN_SEVERITY", "7"))
        except ValueError as err:
            raise InvalidInput("IR_AUTOMATION_MIN_SEVERITY = "
                               f"{env.get('IR_AUTOMATION_MIN_SEVERITY')!r}: must be a number "
                               "from 0 to 10") from err
        if not 0 <= min_severity <= 10:
            raise InvalidInput(f"IR_AUTOMATION_MIN_SEVERITY = {min_severity:g}: must be a "
                               "number from 0 to 10")
        raw_cap = env.get("IR_AUTOMATION_MAX_ACTIONS_PER_HOUR", "10")
        if not raw_cap.isdigit():
            raise InvalidInput(f"IR_AUTOMATION_MAX_ACTIONS_PER_HOUR = {raw_cap!r}: must be a "
                               "whole number (0 never acts)")
        tag = env.get("IR_AUTOMATION_OPT_OUT_TAG", DEFAULT_OPT_OUT_TAG).strip()
        role = env.get("IR_AUTOMATION_MEMBER_ROLE_NAME", "").strip() or None
        external_id = env.get("IR_AUTOMATION_EXTERNAL_ID", "").strip() or None
        if role is not None:
            from runbooks.core.accounts import ROLE_NAME

            if not ROLE_NAME.fullmatch(role):
                raise InvalidInput(f"IR_AUTOMATION_MEMBER_ROLE_NAME = {role!r}: must be an "
                                   "IAM role name (1-64 of letters, digits and +=,.@_-)")
        return cls(mode, types, min_severity, tag or DEFAULT_OPT_OUT_TAG, int(raw_cap),
                   role, external_id)

    def allows(self, finding_type: str | None) -> bool:
        return bool(finding_type) and any(
            str(finding_type).startswith(prefix) for prefix in self.finding_types)


# -- metrics (CloudWatch embedded metric format: one JSON object per line on stdout) ------


def emit_metrics(metrics: Mapping[str, tuple[float, str]], dimensions: Mapping[str, str],
                 **properties: Any) -> dict[str, Any]:
    """Print one EMF document; CloudWatch Logs turns it into metrics, no API call needed."""
    document: dict[str, Any] = {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [{
                "Namespace": METRIC_NAMESPACE,
                "Dimensions": [sorted(dimensions)],
                "Metrics": [{"Name": name, "Unit": unit}
                            for name, (_, unit) in sorted(metrics.items())],
            }],
        },
        **dict(dimensions),
        **{name: value for name, (value, _) in metrics.items()},
        **properties,
    }
    sys.stdout.write(json.dumps(document, default=str, sort_keys=True) + "\n")
    sys.stdout.flush()
    return document


def _skip(reason: str, finding: Finding | None, message: str) -> dict[str, Any]:
    LOG.warning("automation skipped (%s): %s", reason, message)
    emit_metrics({"EventsSkipped": (1, "Count")}, {"Reason": reason},
                 findingId=finding.id if finding else None,
                 findingType=finding.type if finding else None, detail=message)
    return {"status": "skipped", "reason": reason, "detail": message,
            "findingId": finding.id if finding else None}


def _refuse(reason: str, finding: Finding, playbook: str, params: Mapping[str, str],
            sessions: SessionFactory, manifest: Mapping[str, Any],
            message: str) -> dict[str, Any]:
    """A finding automation would have acted on, refused before any change: logged,
    counted, and posted to the high topic so a responder knows nothing was contained."""
    LOG.error("automation refused (%s): %s", reason, message)
    emit_metrics({"EventsRefused": (1, "Count")}, {"Reason": reason},
                 findingId=finding.id, findingType=finding.type, detail=message)
    target = target_name(playbook, params)
    sessions.client("sns").publish(
        TopicArn=manifest["topics"]["high"],
        Subject=f"[ir-automation] REFUSED {playbook} {target}"[:100],
        Message="\n".join([
            f"ir-readiness automation did NOT act on finding {finding.id}",
            f"type {finding.type}, severity {finding.severity} ({finding.severity_label}), "
            f"account {finding.account_id}, region {finding.region}",
            f"playbook {playbook} {json.dumps(dict(params))}", "",
            f"reason: {message}"]))
    return {"status": "refused", "reason": reason, "detail": message, "error": message,
            "findingId": finding.id, "playbook": playbook, "params": dict(params)}


def _drop(reason: str, message: str) -> dict[str, Any]:
    LOG.error("event dropped (%s): %s", reason, message)
    emit_metrics({"EventsDropped": (1, "Count")}, {"Reason": reason}, detail=message)
    return {"status": "dropped", "reason": reason, "detail": message}


# -- case ids and claims --------------------------------------------------------------


def case_id_for(finding: Finding) -> str:
    """A deterministic case id for a finding.

    A GuardDuty finding keeps its id across updates and reaches us both directly and
    through Security Hub (whose Id is the GuardDuty finding ARN): key on the GuardDuty id
    so all of them share one case. Other Security Hub findings: product ARN + Id.
    """
    gd_arn = finding.guardduty_arn
    if gd_arn is None and str(finding.product_arn).endswith("product/aws/guardduty"):
        gd_arn = finding.id  # GuardDuty's finding ARN, as Security Hub's Id
    if gd_arn and "/finding/" in gd_arn:
        key = "guardduty:" + gd_arn.rsplit("/finding/", 1)[-1]
    elif finding.source == "guardduty":
        key = f"guardduty:{finding.id}"
    else:
        key = f"securityhub:{finding.product_arn}|{finding.id}"
    return "ir-auto-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:20]


@dataclass
class Claim:
    """The evidence-bucket object that says a finding is being (or was) handled."""

    s3: Any
    bucket: str
    key: str
    etag: str | None = None

    unrecorded: str | None = None
    """Why the claim could not be written (the evidence bucket failing): the finding is
    acted on unclaimed, since containment never waits on evidence storage."""

    def write(self, document: Mapping[str, Any], **conditions: str) -> None:
        response = self.s3.put_object(
            Bucket=self.bucket, Key=self.key, ContentType="application/json",
            Body=json.dumps(document, default=str, sort_keys=True).encode("utf-8"),
            **conditions)
        self.etag = response.get("ETag")

    def record(self, document: Mapping[str, Any]) -> str | None:
        """Write the claim's outcome; when the bucket cannot take it, say so instead of
        failing a containment that was made (a redelivery then re-plans: nothing to do)."""
        from botocore.exceptions import BotoCoreError, ClientError

        from runbooks.core.evidence_queue import describe, is_queueable

        try:
            self.write(document)
        except (ClientError, BotoCoreError) as err:
            if not is_queueable(err):
                raise
            return f"claim {self.key} NOT recorded in the evidence bucket ({describe(err)})"
        return None


def claim_case(s3: Any, bucket: str, case_id: str, mode: str,
               document: Mapping[str, Any]) -> Claim | None:
    """Claim a case for `mode`; None when another delivery already has it.

    The put is conditional (`If-None-Match: *`), so of two concurrent deliveries exactly
    one wins. A claim left `failed` by an earlier attempt is taken over (`If-Match` its
    ETag), so Lambda's retry of a failed containment runs again.
    """
    from botocore.exceptions import ClientError

    claim = Claim(s3, bucket, f"{CLAIM_PREFIX}/{mode}/{case_id}.json")
    body = {**document, "status": "in-progress"}
    try:
        claim.write(body, IfNoneMatch="*")
        return claim
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") not in ("PreconditionFailed", "412"):
            raise
    try:
        existing = s3.get_object(Bucket=bucket, Key=claim.key)
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") != "InvalidObjectState":
            raise
        # Archived by a lifecycle rule (buckets deployed before claims were kept out of
        # the Glacier transition): the finding was claimed long ago. Raising would make
        # Lambda retry this delivery into the dead-letter queue and page; say what
        # happened and treat the case as handled instead.
        LOG.warning("claim s3://%s/%s is archived (%s, InvalidObjectState): case %s was "
                    "claimed before it was archived; not acting on it again. Restore the "
                    "object (aws s3api restore-object) to read its status.", bucket,
                    claim.key, err.response.get("Error", {}).get("StorageClass", "Glacier"),
                    case_id)
        return None
    previous = json.loads(existing["Body"].read() or b"{}")
    if previous.get("status") != "failed":
        return None
    try:
        claim.write({**body, "retryOf": previous.get("time")}, IfMatch=existing["ETag"])
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") in ("PreconditionFailed", "412"):
            return None  # another retry took it over first
        raise
    return claim


def actions_in_last_hour(s3: Any, bucket: str, now: datetime) -> int:
    """Automated containments recorded in the last hour (markers under APPLIED_PREFIX)."""
    since = now - timedelta(hours=1)
    count = 0
    paginator = s3.get_paginator("list_objects_v2")
    for hour in (since, now):
        prefix = f"{APPLIED_PREFIX}/{hour:%Y-%m-%dT%H}/"
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            count += sum(1 for obj in page.get("Contents", [])
                         if obj["LastModified"] >= since)
    return count


# -- from finding to playbook parameters ------------------------------------------------


def playbook_params(finding: Finding) -> dict[str, str]:
    """The playbook's parameters from the finding's resources; InvalidInput if absent."""
    kinds: dict[str, list[str]] = {}
    for resource in finding.resources:
        kinds.setdefault(resource.kind, []).append(resource.id)
    playbook = finding.playbook
    if playbook == COMPROMISED_EC2 and kinds.get("instance"):
        return {"instance_id": kinds["instance"][0]}
    if playbook == COMPROMISED_IAM:
        if kinds.get("access-key") and str(kinds["access-key"][0]).startswith("AKIA"):
            return {"credential_kind": "access-key", "access_key_id": kinds["access-key"][0],
                    "key_owner": "human"}
        if kinds.get("iam-role"):
            return {"credential_kind": "role", "role_name": kinds["iam-role"][0]}
    if playbook == EXPOSED_S3 and kinds.get("s3-bucket"):
        return {"bucket": kinds["s3-bucket"][0]}
    if playbook == MALICIOUS_IP and finding.remote_ips:
        vpc = _vpc_of(finding)
        if vpc:
            return {"cidr": f"{finding.remote_ips[0]}/32", "vpc_id": vpc}
    raise InvalidInput(
        f"finding {finding.id} ({finding.type}) names no target the {playbook} playbook can "
        f"act on (resources: {', '.join(sorted(kinds)) or 'none'})")


def _vpc_of(finding: Finding) -> str | None:
    raw = finding.raw
    interfaces = (((raw.get("resource") or {}).get("instanceDetails") or {})
                  .get("networkInterfaces") or [])
    for eni in interfaces:
        if isinstance(eni, Mapping) and eni.get("vpcId"):
            return str(eni["vpcId"])
    for resource in raw.get("Resources") or []:
        details = ((resource or {}).get("Details") or {}).get("AwsEc2Instance") or {}
        if details.get("VpcId"):
            return str(details["VpcId"])
    return None


def _opted_out(tags: Sequence[Mapping[str, Any]], tag_key: str) -> bool:
    for tag in tags:
        key = tag.get("Key", tag.get("key"))
        if key == tag_key:
            return str(tag.get("Value", tag.get("value", ""))).strip().lower() in OPT_OUT_VALUES
    return False


def opt_out_reason(sessions: SessionFactory, region: str, playbook: str,
                   params: Mapping[str, str], finding: Finding, tag_key: str) -> str | None:
    """Why automation must not act on this target (its opt-out tag), or None."""
    from botocore.exceptions import ClientError

    def missing(err: ClientError, *codes: str) -> bool:
        return err.response.get("Error", {}).get("Code") in codes

    if playbook == COMPROMISED_EC2:
        try:
            reservations = sessions.client("ec2", region).describe_instances(
                InstanceIds=[params["instance_id"]])["Reservations"]
        except ClientError as err:
            if missing(err, "InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed"):
                return None  # the runner refuses it with the clear error
            raise
        tags = [t for r in reservations for i in r["Instances"] for t in i.get("Tags", [])]
        where = f"instance {params['instance_id']}"
    elif playbook == COMPROMISED_IAM:
        iam = sessions.client("iam", region)
        try:
            if params.get("credential_kind") == "role":
                tags = iam.list_role_tags(RoleName=params["role_name"])["Tags"]
                where = f"role {params['role_name']}"
            else:
                users = [p.name for p in finding.principals if p.kind == "iam-user"]
                if not users:
                    return None
                tags = iam.list_user_tags(UserName=users[0])["Tags"]
                where = f"user {users[0]}"
        except ClientError as err:
            if missing(err, "NoSuchEntity"):
                return None
            raise
    elif playbook == EXPOSED_S3:
        try:
            tags = sessions.client("s3", region).get_bucket_tagging(
                Bucket=params["bucket"])["TagSet"]
        except ClientError as err:
            if missing(err, "NoSuchTagSet", "NoSuchBucket"):
                return None
            raise
        where = f"bucket {params['bucket']}"
    elif playbook == MALICIOUS_IP:
        try:
            vpcs = sessions.client("ec2", region).describe_vpcs(
                VpcIds=[params["vpc_id"]])["Vpcs"]
        except ClientError as err:
            if missing(err, "InvalidVpcID.NotFound"):
                return None
            raise
        tags = [t for v in vpcs for t in v.get("Tags", [])]
        where = f"VPC {params['vpc_id']}"
    else:
        return None
    if _opted_out(tags, tag_key):
        return f"{where} is tagged {tag_key}=off (opted out of automated containment)"
    return None


def member_sessions(sessions: SessionFactory, config: AutomationConfig, account: str,
                    region: str) -> tuple[SessionFactory, dict[str, Any]]:
    """Sessions acting in `account` through the configured member responder role, and
    that account's own manifest (refused unless it describes `account`)."""
    from runbooks.core.accounts import assumed_sessions, check_manifest_account
    from runbooks.core.manifest import load_manifest

    assert config.member_role_name is not None
    member = assumed_sessions(sessions, account, config.member_role_name, config.external_id,
                              region)
    manifest = load_manifest(member, region)
    check_manifest_account(manifest, account, f"SSM in {account}")
    return member, manifest


# -- the handler ------------------------------------------------------------------------

# One session factory per warm sandbox (made lazily, on the first event): its clients and
# loaded service models serve every later event, the documented Lambda practice. Keyed
# by the credentials and endpoint in the environment so a change of either is honoured.
_SESSIONS: dict[tuple[str, ...], SessionFactory] = {}


def session_factory(region: str) -> SessionFactory:
    from runbooks.core.context import SessionFactory

    key = (region, *(os.environ.get(name, "") for name in (
        "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SESSION_TOKEN", "AWS_PROFILE")))
    factory = _SESSIONS.get(key)
    if factory is None:
        factory = _SESSIONS[key] = SessionFactory(region=region)
    return factory


def reset_sessions() -> None:
    """Forget the cached session factories (tests switching emulators)."""
    _SESSIONS.clear()



@dataclass
class Outcome:
    case_id: str
    playbook: str
    params: dict[str, str]
    mode: str
    reasons: list[str] = field(default_factory=list)
    results: list[RunResult] = field(default_factory=list)
    stopped_at: str | None = None
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    """What this run could not do besides containment (evidence bucket failing)."""
    deadline: float | None = None
    """`time.monotonic()` the runner must start no change after (from the Lambda's
    remaining time, less the reserve for finishing)."""

    def changes(self, status: str | None = None) -> list[dict[str, Any]]:
        return [{"target": t.target, "step": c.change.step, "summary": c.change.summary,
                 "status": c.status, "error": c.error}
                for r in self.results if r.kind != "notify" for t in r.targets
                for c in t.changes if status is None or c.status == status]

    @property
    def exit_code(self) -> int:
        from runbooks.core.errors import combine_exit_codes

        return combine_exit_codes([r.exit_code for r in self.results])

    def evidence_queued(self) -> list[dict[str, Any]]:
        return list(self.results[-1].evidence_queued) if self.results else []


def lambda_deadline(context: Any) -> float | None:
    """`time.monotonic()` when Lambda stops the function, from its context (None outside
    Lambda, or a context without `get_remaining_time_in_millis`)."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is None:
        return None
    return time.monotonic() + float(remaining()) / 1000.0


def handler(event: Any, context: Any = None) -> dict[str, Any]:
    """Lambda entry point (`runbooks.automation.handler`)."""
    from runbooks.analysis.findings import parse_findings

    ends_at = lambda_deadline(context)
    received = datetime.now(timezone.utc)
    config = AutomationConfig.from_env()  # a bad deployment raises: alarm + DLQ
    try:
        findings = parse_findings(event, source="EventBridge event")
    except InvalidInput as err:
        return _drop("Malformed", str(err))
    except (TypeError, ValueError, AttributeError, KeyError) as err:
        return _drop("Malformed", f"unreadable finding ({type(err).__name__}: {err})")
    return {"status": "processed",
            "findings": [process_finding(f, config, received, ends_at) for f in findings]}


def process_finding(finding: Finding, config: AutomationConfig,
                    received: datetime, ends_at: float | None = None) -> dict[str, Any]:
    from runbooks.analysis.playbooks import unsupported_reason
    from runbooks.core.ids import check_identifier
    from runbooks.core.manifest import load_manifest

    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or ""
    inactive = finding.inactive_reason()
    if inactive:
        return _skip("Inactive", finding, f"not acting on finding {finding.id}: {inactive}")
    if finding.region != region:
        return _skip("OtherRegion", finding, f"finding of {finding.region} is handled by the "
                     f"function in that region, not {region}")
    if finding.severity < config.min_severity:
        return _skip("BelowSeverity", finding, f"severity {finding.severity} is below "
                     f"{config.min_severity}")
    unsupported = unsupported_reason(finding.type, finding.resource_type)
    if unsupported:
        names = ", ".join(f"{r.kind} {r.id}" for r in finding.resources) or "none named"
        return _skip("UnsupportedResource", finding, f"finding {finding.type} is about a "
                     f"{unsupported} (resources: {names})")
    if not config.allows(finding.type):
        return _skip("NotAllowed", finding, f"finding type {finding.type} is not in the "
                     "allow-list (ir:automation.findingTypes)")
    playbook = finding.playbook
    if playbook not in AUTOMATED_PLAYBOOKS:
        return _skip("NoPlaybook", finding, f"no automated playbook for {finding.type} "
                     f"(playbook: {playbook or 'none'})")
    assert playbook is not None
    try:
        params = playbook_params(finding)
        for key, value in params.items():
            # A finding's fields are attacker-influenced text: no id with a newline,
            # control or look-alike character reaches an AWS call or the claim's key.
            check_identifier(value, f"finding {finding.id}: {key}")
    except InvalidInput as err:
        return _skip("NoTarget", finding, str(err))

    sessions = session_factory(region)
    manifest = load_manifest(sessions, region)  # missing manifest: raise, it is a deploy bug
    member: str | None = None
    if finding.account_id != manifest["accountId"]:
        # An organisation's security account receives every member's findings: a role
        # or bucket name in account B must never be acted on in this account.
        reason = (f"finding is for account {finding.account_id}, this function acts in "
                  f"account {manifest['accountId']}")
        if not config.member_role_name:
            return _refuse("OtherAccount", finding, playbook, params, sessions, manifest, (
                f"{reason}; no cross-account responder role is configured "
                "(IR_AUTOMATION_MEMBER_ROLE_NAME), so nothing was done in either account. "
                f"Respond with `irctl --account {finding.account_id} ...`"))
        try:
            member_factory, member_manifest = member_sessions(
                sessions, config, finding.account_id, region)
        except PreconditionFailed as err:  # role not assumable, or wrong manifest there
            return _refuse("OtherAccount", finding, playbook, params, sessions, manifest,
                           f"{reason} and cannot act there: {err}")
        sessions, manifest = member_factory, member_manifest
        member = finding.account_id
    # The evidence client's short, bounded retry: a failing bucket must not hold up
    # containment (Lambda's own timeout is the budget).
    s3 = sessions.client("s3", region, max_attempts=EVIDENCE_MAX_ATTEMPTS)
    bucket = manifest["evidenceBucket"]
    case_id = case_id_for(finding)
    try:
        claim = claim_case(s3, bucket, case_id, config.mode, {
            "case": case_id, "findingId": finding.id, "findingType": finding.type,
            "playbook": playbook, "params": params, "mode": config.mode,
            "time": received.isoformat()})
    except (ClientError, BotoCoreError) as err:
        if not is_queueable(err):
            raise
        # Duplicate deliveries cannot be told apart now; they stay harmless (a contained
        # target plans nothing, per-target claims or not), while waiting would not be.
        claim = Claim(s3, bucket, f"{CLAIM_PREFIX}/{config.mode}/{case_id}.json",
                      unrecorded=f"the evidence bucket could not take the case claim "
                                 f"({describe(err)}); acting unclaimed")
    if claim is None:
        return _skip("Duplicate", finding, f"case {case_id} already handled in "
                     f"{config.mode} mode (at-least-once delivery)")
    deadline = (None if ends_at is None else
                ends_at - FINISH_CALLS * sessions.hung_call_seconds())
    try:
        outcome = _run(finding, config, sessions, manifest, region, case_id, playbook, params,
                       deadline, member)
        return _finish(finding, outcome, claim, sessions, manifest, received)
    except AutomationFailed:
        raise  # _finish recorded the failed claim with the run's summary
    except BaseException as err:
        # e.g. throttled past the retries, or the notification failed: let the retry run
        # again (the runner's plans are empty for what is already done)
        claim.record({"case": case_id, "status": "failed", "error": repr(err),
                      "time": received.isoformat()})
        raise


def _run(finding: Finding, config: AutomationConfig, sessions: SessionFactory,
         manifest: Mapping[str, Any], region: str, case_id: str, playbook: str,
         params: dict[str, str], deadline: float | None = None,
         member: str | None = None) -> Outcome:
    from runbooks.commands._shared import Settings, open_session
    from runbooks.commands.playbook import run_playbook

    outcome = Outcome(case_id, playbook, params, config.mode, deadline=deadline)
    evidence = sessions.client("s3", region, max_attempts=EVIDENCE_MAX_ATTEMPTS)
    try:
        # A retry in a fresh sandbox continues the case's chain from the bucket copy.
        AuditLog(case_id).seed_from_evidence(evidence, manifest["evidenceBucket"])
    except (ClientError, BotoCoreError) as err:
        if not is_queueable(err):
            raise
        outcome.warnings.append(f"the case's audit log could not be read from the evidence "
                                f"bucket ({describe(err)}); this run starts a local one")
    if config.mode == "apply":
        reason = opt_out_reason(sessions, region, playbook, params, finding,
                                config.opt_out_tag)
        if reason:
            outcome.reasons.append(reason)
            emit_metrics({"OptedOut": (1, "Count")}, {"Playbook": playbook}, case=case_id)
        else:
            try:
                done = actions_in_last_hour(evidence, manifest["evidenceBucket"],
                                            datetime.now(timezone.utc))
            except (ClientError, BotoCoreError) as err:
                if not is_queueable(err):
                    raise
                # The cap guards against runaway automation; it cannot be counted while
                # the bucket fails. Containment goes ahead and the message says so.
                done = 0
                outcome.warnings.append(
                    f"hourly cap NOT checked: the evidence bucket could not be read "
                    f"({describe(err)})")
            if done >= config.max_actions_per_hour:
                outcome.reasons.append(
                    f"hourly cap reached: {done} automated containment(s) in the last hour "
                    f"(ir:automation.maxActionsPerHour = {config.max_actions_per_hour})")
                emit_metrics({"CapReached": (1, "Count")}, {"Playbook": playbook},
                             case=case_id)
        if outcome.reasons:
            outcome.mode = "plan"
    settings = Settings(region=region, case_id=case_id, output="json",
                        apply=outcome.mode == "apply", account=member,
                        role_name=config.member_role_name if member else None)
    try:
        session = open_session(settings, sessions=sessions)
        session.ctx.deadline = deadline
        outcome.results, extra = run_playbook(settings, playbook, params, AUTOMATED_PHASES,
                                              session=session)
    except PreconditionFailed as err:  # e.g. wrong account for the manifest
        outcome.error = str(err)
        return outcome
    except InvalidInput as err:  # a finding value the playbook refuses
        outcome.error = str(err)
        return outcome
    outcome.stopped_at = extra.get("stoppedAt")
    # A target the runner refused or failed carries the reason only inside its result:
    # lift it, so the handler's result, log line and message all say why.
    errors = [f"{t.target}: {t.error}" for r in outcome.results for t in r.targets
              if t.error]
    if errors:
        outcome.error = "; ".join(errors)
    return outcome


def _finish(finding: Finding, outcome: Outcome, claim: Claim, sessions: SessionFactory,
            manifest: Mapping[str, Any], received: datetime) -> dict[str, Any]:
    from runbooks.core.errors import EXIT_BAD_INPUT, EXIT_OK

    now = datetime.now(timezone.utc)
    applied = outcome.changes("applied")
    warnings: list[str] = [w for r in outcome.results for w in r.warnings]
    if claim.unrecorded:
        warnings.append(claim.unrecorded)
    warnings += outcome.warnings
    if applied:
        try:
            claim.s3.put_object(
                Bucket=manifest["evidenceBucket"],
                Key=f"{APPLIED_PREFIX}/{now:%Y-%m-%dT%H}/{outcome.case_id}.json",
                Body=json.dumps({"case": outcome.case_id, "findingId": finding.id,
                                 "changes": len(applied)}).encode("utf-8"),
                ContentType="application/json")
        except (ClientError, BotoCoreError) as err:
            if not is_queueable(err):
                raise
            warnings.append(f"this containment is NOT counted towards the hourly cap: its "
                            f"marker could not be written ({describe(err)})")
        warning = _mark_notified(finding, outcome, sessions)
        if warning:
            warnings.append(warning)
    # An error raised before the runner produced results (wrong account for the
    # manifest, a parameter the playbook refuses) is a refusal; otherwise the runner's
    # own code says refused (2), failed (1) or partial (3).
    code = EXIT_BAD_INPUT if outcome.error and not outcome.results else outcome.exit_code
    left = outcome.changes("not-attempted")
    timed_out = [c for c in left if "time budget" in str(c["error"])]
    if timed_out:
        warnings.append(f"{len(timed_out)} change(s) NOT attempted: the function's time "
                        "budget ran out before them (recorded as not-attempted; Lambda's "
                        "retry resumes where this stopped)")
    queued = outcome.evidence_queued()
    for item in queued:
        warnings.append(f"evidence NOT in the evidence bucket: {item['s3Uri']} (sha256 "
                        f"{item['sha256'][:16]}...) is queued in this sandbox at "
                        f"{item['path']} and is lost when the sandbox is recycled; "
                        f"{item['error']}")
    _notify(finding, outcome, sessions, manifest, warnings, code)
    _emit_times(finding, outcome, received, now, bool(applied))
    status = ("contained" if applied and code == EXIT_OK else
              # another run (a responder, an earlier delivery) had contained it: say so
              # rather than claim this run did
              "already-contained" if code == EXIT_OK and outcome.mode == "apply" else
              "planned" if code == EXIT_OK else
              "refused" if code == EXIT_BAD_INPUT else "failed")
    summary = {"case": outcome.case_id, "findingId": finding.id, "playbook": outcome.playbook,
               "params": outcome.params, "mode": outcome.mode, "status": status,
               "reasons": outcome.reasons, "error": outcome.error, "exitCode": code,
               "changes": outcome.changes(), "warnings": warnings,
               "notAttempted": len(left), "evidenceQueued": queued,
               "time": now.isoformat()}
    log = LOG.error if status in ("failed", "refused") else LOG.info
    log("automation %s: %s %s, case %s%s", status, outcome.playbook, target_name(
        outcome.playbook, outcome.params), outcome.case_id,
        f": {outcome.error}" if outcome.error else "")
    if status == "failed":
        claim.record({**summary, "status": "failed"})
        raise AutomationFailed(
            f"automated {outcome.playbook} containment of case {outcome.case_id} failed "
            f"(exit code {code}): {outcome.error or 'see the audit log'}; see "
            f"`irctl case show {outcome.case_id} --from-evidence`")
    problem = claim.record(summary)
    if problem:
        summary["warnings"] = [*warnings, problem]
    return summary


def _mark_notified(finding: Finding, outcome: Outcome, sessions: SessionFactory) -> str | None:
    """Security Hub workflow NEW -> NOTIFIED, with a note naming the case.

    NOTIFIED (not RESOLVED): containment is not resolution, eradication and recovery are
    still to come and the finding must stay in everyone's open view. GuardDuty findings
    are not archived for the same reason (archiving hides them and their updates).
    """
    from botocore.exceptions import ClientError

    from runbooks.core.audit import AuditLog
    from runbooks.steps.securityhub import find_finding, update_workflow

    ident = finding.security_hub_identifier()
    client = sessions.client("securityhub")
    try:
        current = find_finding(client, ident["Id"], ident["ProductArn"])
        if current is None:
            return ("Security Hub has not imported the finding yet; its workflow was not "
                    "moved to NOTIFIED")
        status = str((current.get("Workflow") or {}).get("Status") or "NEW")
        if status != "NEW":
            return None
        update_workflow(client, ident["Id"], ident["ProductArn"], "NOTIFIED",
                        f"Contained automatically under case {outcome.case_id} "
                        f"({outcome.playbook}); see `irctl case show {outcome.case_id} "
                        "--from-evidence`",
                        f"ir-automation {outcome.case_id}")
    except ClientError as err:
        code = err.response.get("Error", {}).get("Code")
        if code in ("InvalidAccessException", "AccessDeniedException", "AccessDenied"):
            return f"Security Hub workflow not updated ({code})"
        raise
    except IrError as err:
        return str(err)
    AuditLog(outcome.case_id).append("workflow-updated", finding=ident, before=status,
                                     after="NOTIFIED")
    return None


def target_name(playbook: str, params: Mapping[str, str]) -> str:
    """What the playbook acts on, by name (not its kind): the instance id, the role or
    access key, the bucket, the CIDR."""
    for key in ("instance_id", "role_name", "access_key_id", "bucket", "cidr"):
        if params.get(key):
            return str(params[key])
    return next(iter(params.values()), playbook)


def _notify(finding: Finding, outcome: Outcome, sessions: SessionFactory,
            manifest: Mapping[str, Any], warnings: list[str], code: int) -> None:
    from runbooks.core.errors import EXIT_BAD_INPUT

    changes = outcome.changes()
    verb = {"apply": "CONTAINED", "plan": "PLAN"}[outcome.mode]
    if outcome.mode == "apply" and not outcome.changes("applied"):
        verb = "ALREADY CONTAINED"
    if code != 0:
        verb = "REFUSED" if code == EXIT_BAD_INPUT else "FAILED"
    target = target_name(outcome.playbook, outcome.params)
    lines = [
        f"ir-readiness automation ({outcome.mode} mode) for finding {finding.id}",
        f"type {finding.type}, severity {finding.severity} ({finding.severity_label}), "
        f"region {finding.region}",
        f"playbook {outcome.playbook} {json.dumps(outcome.params)}, case {outcome.case_id}",
        "",
    ]
    lines += [f"NOT ACTING: {reason}" for reason in outcome.reasons]
    if outcome.error:
        lines.append(f"{'reason' if verb == 'REFUSED' else 'error'}: {outcome.error}")
    elif code != 0:
        lines.append(f"error: exit code {code} with no recorded reason; see the audit log")
    if outcome.mode == "plan" and changes:
        lines.append("Planned changes (nothing was changed):")
    elif changes:
        lines.append("Changes:")
    lines += [f"  [{c['status']}] {c['step']}: {c['summary']}"
              + (f" ({c['error']})" if c["error"] else "") for c in changes]
    lines += [f"warning: {w}" for w in warnings]
    lines += ["", f"Review: irctl case show {outcome.case_id} --from-evidence"]
    if outcome.mode == "plan" and changes and not outcome.error:
        lines.append(f"Act: irctl playbook run {outcome.playbook} "
                     + " ".join(f"--param {k}={v}" for k, v in outcome.params.items())
                     + f" --phase containment --case {outcome.case_id} --apply")
    sessions.client("sns").publish(
        TopicArn=manifest["topics"]["high"],
        Subject=f"[ir-automation] {verb} {outcome.playbook} {target}"[:100],
        Message="\n".join(lines))


def _emit_times(finding: Finding, outcome: Outcome, received: datetime, now: datetime,
                contained: bool) -> None:
    from runbooks.analysis.findings import parse_time

    raw = finding.raw
    created = parse_time(raw.get("createdAt") or raw.get("CreatedAt")) or received
    metrics: dict[str, tuple[float, str]] = {"Runs": (1, "Count")}
    if finding.first_seen:
        metrics["TimeToDetect"] = ((created - finding.first_seen).total_seconds(), "Seconds")
    if contained:
        metrics["HandlerTimeToContain"] = ((now - received).total_seconds(), "Seconds")
        if finding.first_seen:
            metrics["TimeToContain"] = ((now - finding.first_seen).total_seconds(),
                                        "Seconds")
    emit_metrics(metrics, {"Playbook": outcome.playbook, "Mode": outcome.mode},
                 case=outcome.case_id, findingId=finding.id, findingType=finding.type)
