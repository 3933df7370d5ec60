"""The automation Lambda's count of its own containments (the hourly cap).

Every automated containment that applied something leaves one small marker object in
the evidence bucket, `automation/applied/<UTC hour>/<case>.json`; the Lambda counts the
markers of the last hour before it acts (`containments_since`) and falls back to a plan
past `IR_AUTOMATION_MAX_ACTIONS_PER_HOUR`. The marker lives under its own prefix (not
`cases/`), so listing one hour is one small LIST, whatever the number of cases.

`automation.count-containment` writes the marker. When the evidence bucket cannot take
it (throttled, 5xx, access denied, unreachable), the containment stands and the step's
result says the marker is missing (`written: false`): evidence storage never stands
between the function and containment, and a marker queued for later would count in the
wrong hour. Not reversible: the containment happened and counts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Annotated, Any

from runbooks.core.errors import InvalidInput
from runbooks.core.scopes import EVIDENCE_OBJECTS, STACK_KEYS
from runbooks.core.step import Change, Step, StepParams, checked_by, register

APPLIED_PREFIX = "automation/applied"
_FINDING_ID = re.compile(r"^[\x21-\x7e]{1,512}$")


def marker_key(case_id: str, when: datetime) -> str:
    return f"{APPLIED_PREFIX}/{when:%Y-%m-%dT%H}/{case_id}.json"


def containments_since(s3: Any, bucket: str, now: datetime) -> int:
    """Automated containments recorded in the hour before `now` (their markers)."""
    since = now - timedelta(hours=1)
    count = 0
    paginator = s3.get_paginator("list_objects_v2")
    for hour in (since, now):
        prefix = f"{APPLIED_PREFIX}/{hour:%Y-%m-%dT%H}/"
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            count += sum(1 for obj in page.get("Contents", [])
                         if obj["LastModified"] >= since)
    return count


def _check_finding_id(value: Any) -> None:
    if not isinstance(value, str) or not _FINDING_ID.match(value):
        raise InvalidInput(f"automation.count-containment: finding_id {value!r} must "
                           "be the finding's id (1-512 printable characters)")


def _check_changes(value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidInput(f"automation.count-containment: changes {value!r} must be "
                           "the number of changes applied (1 or more)")


class CountContainmentParams(StepParams):
    finding_id: Annotated[str, checked_by(_check_finding_id)]
    changes: Annotated[int, checked_by(_check_changes)]


@register
class CountContainment(Step):
    """Write the marker that counts this case's containment towards the hourly cap."""

    name = "automation.count-containment"
    description = "Count an automated containment towards the automation's hourly cap"
    actions = frozenset({"s3:PutObject", "kms:GenerateDataKey"})
    scopes = {"s3:PutObject": EVIDENCE_OBJECTS, "kms:GenerateDataKey": STACK_KEYS}
    reversible = False

    Params = CountContainmentParams

    def plan(self) -> list[Change]:
        bucket = self.ctx.manifest.evidence_bucket
        key = marker_key(self.ctx.case_id, self.ctx.now())
        return [Change(self.name, f"s3://{bucket}/{key}",
                       f"Count case {self.ctx.case_id} towards the hourly cap of automated "
                       "containments", after={"bucket": bucket, "key": key})]

    def apply(self, change: Change) -> Mapping[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError

        from runbooks.core.evidence_queue import describe, is_queueable

        body = {"case": self.ctx.case_id, "findingId": self.params["finding_id"],
                "changes": self.params["changes"]}
        try:
            self.ctx.evidence_client().put_object(
                Bucket=change.after["bucket"], Key=change.after["key"],
                Body=json.dumps(body).encode("utf-8"), ContentType="application/json")
        except (ClientError, BotoCoreError) as err:
            if not is_queueable(err):
                raise
            # The bucket is failing: later writes of this session do not wait on it again.
            self.ctx.evidence_unavailable = True
            return {"written": False, "error": describe(err)}
        return {"written": True, "key": change.after["key"]}
