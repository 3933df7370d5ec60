"""The automation Lambda: a GuardDuty / Security Hub finding in, a playbook run out.

A thin adapter (the Lambda's `runbooks.automation.handler`): it parses the EventBridge
event, hands each finding to the automation's workflow and renders what came back: a log
line, CloudWatch embedded-metric documents on stdout and the return value. It makes no
AWS call of its own.

EventBridge delivers a finding (`GuardDuty Finding` or `Security Hub Findings -
Imported`); the handler

1. parses it with `runbooks.analysis.findings` (an unknown shape is logged and dropped
   with an `EventsDropped` metric; the handler returns normally so Lambda never retries
   it);
2. routes it (`runbooks.automation.routing.route`): skipped, with the reason in its
   result, log line and `EventsSkipped` metric, are sample, archived or closed findings,
   findings of another region, below the minimum severity, of a type outside the
   allow-list, on a resource no playbook handles yet, or without an automated playbook
   (an instance that is the TARGET of an attack is a malicious-ip case, never isolated);
3. responds (`runbooks.automation.workflow.respond`): a finding of another account is
   acted on only through the configured member responder role, else refused
   (`OtherAccount`: status `refused`, an `EventsRefused` metric, a REFUSED message to
   the high topic); the case (`case_id_for`) is claimed in the evidence bucket so a
   second delivery stops before any AWS call (`Duplicate`); in `apply` mode the opt-out
   tag and the hourly cap fall back to a plan; the playbook's containment phase runs
   through the runner, and so do the automation's own writes (the cap's marker, the
   Security Hub workflow NEW -> NOTIFIED, the summary to the high topic);
4. prints time-to-detect and time-to-contain in CloudWatch embedded metric format.

Configuration (environment, set by the ResponseAutomation component; see
`runbooks.automation.config`): `IR_AUTOMATION_MODE` (`plan` default | `apply`),
`IR_AUTOMATION_FINDING_TYPES` (comma separated type prefixes, the allow-list; empty
allows nothing), `IR_AUTOMATION_MIN_SEVERITY` (GuardDuty scale, default 7),
`IR_AUTOMATION_OPT_OUT_TAG` (default `ir-readiness:automation`; value `off`, `false`,
`no` or `disabled` opts a resource out), `IR_AUTOMATION_MAX_ACTIONS_PER_HOUR` (default
10), `IR_CASE_DIR`, `IR_AUTOMATION_MEMBER_ROLE_NAME` (the member accounts' responder role
to act in another account's findings through; unset: never act outside this account) and
`IR_AUTOMATION_EXTERNAL_ID` (the sts:ExternalId that role requires).

A failed containment (exit code 1 or 3 from the runner) records the claim `failed` and
raises, so Lambda's retry policy and the dead-letter queue take over and the Errors alarm
pages; so does a write that failed after it (the summary, the cap's marker, Security Hub
past its retries). A refused one (exit code 2: unknown instance, no quarantine group) is
reported and not retried: retrying would not change the answer. Every refusal and failure
carries its reason (the runner's error for each target) in the result's `error`, the log
line and the SNS message, whose subject names the target (instance, role, key, bucket or
CIDR).

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

import json
import logging
import os
import sys
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from runbooks.automation.config import AutomationConfig
from runbooks.automation.routing import Skip, route, target_name
from runbooks.automation.workflow import Finished, Refused, respond
from runbooks.core.errors import InvalidInput

if TYPE_CHECKING:
    from runbooks.analysis.findings import Finding
    from runbooks.core.context import SessionFactory

from runbooks.automation.policy import HANDLER_ACTIONS as HANDLER_ACTIONS

LOG = logging.getLogger("runbooks.automation")

METRIC_NAMESPACE = "ir-readiness/automation"

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


# -- rendering what the workflow decided --------------------------------------------------


def _skip(skip: Skip, finding: Finding | None) -> dict[str, Any]:
    LOG.warning("automation skipped (%s): %s", skip.reason, skip.message)
    emit_metrics({"EventsSkipped": (1, "Count")}, {"Reason": skip.reason},
                 findingId=finding.id if finding else None,
                 findingType=finding.type if finding else None, detail=skip.message)
    return {"status": "skipped", "reason": skip.reason, "detail": skip.message,
            "findingId": finding.id if finding else None}


def _refused(refusal: Refused, finding: Finding) -> dict[str, Any]:
    LOG.error("automation refused (%s): %s", refusal.reason, refusal.message)
    emit_metrics({"EventsRefused": (1, "Count")}, {"Reason": refusal.reason},
                 findingId=finding.id, findingType=finding.type, detail=refusal.message)
    return {"status": "refused", "reason": refusal.reason, "detail": refusal.message,
            "error": refusal.message, "findingId": finding.id, "playbook": refusal.playbook,
            "params": refusal.params}


def _finished(finished: Finished) -> dict[str, Any]:
    for metrics, dimensions, properties in finished.metrics:
        emit_metrics(metrics, dimensions, **properties)
    summary = finished.summary
    status, error = summary["status"], summary["error"]
    log = LOG.error if status in ("failed", "refused") else LOG.info
    log("automation %s: %s %s, case %s%s", status, summary["playbook"], target_name(
        summary["playbook"], summary["params"]), summary["case"],
        f": {error}" if error else "")
    if finished.failure is not None:
        raise finished.failure  # Lambda retries; the claim says `failed`
    return summary


def _drop(reason: str, message: str) -> dict[str, Any]:
    LOG.error("event dropped (%s): %s", reason, message)
    emit_metrics({"EventsDropped": (1, "Count")}, {"Reason": reason}, detail=message)
    return {"status": "dropped", "reason": reason, "detail": message}


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
    """Route one finding, respond to it, and render the response."""
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or ""
    routed = route(finding, config, region)
    if isinstance(routed, Skip):
        return _skip(routed, finding)
    response = respond(finding, routed, config, session_factory(region), region, received,
                       ends_at)
    if isinstance(response, Skip):
        return _skip(response, finding)
    if isinstance(response, Refused):
        return _refused(response, finding)
    return _finished(response)
