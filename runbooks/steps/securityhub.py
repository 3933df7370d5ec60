"""Security Hub finding workflow.

`securityhub.notify-finding` moves a finding's workflow from NEW to NOTIFIED with a
note (BatchUpdateFindings), which tells everyone looking at Security Hub that a
responder has it. A finding already NOTIFIED, RESOLVED or SUPPRESSED is left alone.
Reversible: rollback and `irctl release` put the recorded status back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from botocore.exceptions import ClientError
from pydantic import Field

from runbooks.core.errors import ActionFailed, InvalidInput, PreconditionFailed
from runbooks.core.step import Change, Check, Step, StepParams, checked_by, register

NOTE_LIMIT = 512


def find_finding(client: Any, finding_id: str, product_arn: str) -> dict[str, Any] | None:
    """The Security Hub finding with this Id and ProductArn, or None."""
    response = client.get_findings(
        Filters={"Id": [{"Value": finding_id, "Comparison": "EQUALS"}],
                 "ProductArn": [{"Value": product_arn, "Comparison": "EQUALS"}]},
        MaxResults=10)
    for finding in response.get("Findings", []):
        if finding.get("Id") == finding_id and finding.get("ProductArn") == product_arn:
            return dict(finding)
    return None


def update_workflow(client: Any, finding_id: str, product_arn: str, status: str,
                    note: str, updated_by: str) -> None:
    response = client.batch_update_findings(
        FindingIdentifiers=[{"Id": finding_id, "ProductArn": product_arn}],
        Workflow={"Status": status},
        Note={"Text": note[:NOTE_LIMIT], "UpdatedBy": updated_by[:128]})
    unprocessed = response.get("UnprocessedFindings") or []
    if unprocessed:
        first = unprocessed[0]
        raise ActionFailed(
            f"Security Hub did not update finding {finding_id}: "
            f"{first.get('ErrorCode')}: {first.get('ErrorMessage')}")


def _needs(key: str) -> Any:
    def check(value: Any) -> None:
        if not isinstance(value, str) or not value:
            raise InvalidInput(f"securityhub.notify-finding needs {key}")
    return checked_by(check)


def _check_product_arn(value: Any) -> None:
    if not isinstance(value, str) or not value:
        raise InvalidInput("securityhub.notify-finding needs product_arn")
    if not value.startswith("arn:"):
        raise InvalidInput(f"product_arn {value!r} is not an ARN")


class NotifyFindingParams(StepParams):
    finding_id: Annotated[str, _needs("finding_id")]
    product_arn: Annotated[str, checked_by(_check_product_arn),
                           Field(description="the finding's ProductArn, arn:...")]
    note: Annotated[str, _needs("note")]


@register
class NotifyFinding(Step):
    name = "securityhub.notify-finding"
    description = "Set a Security Hub finding's workflow to NOTIFIED with a note"
    actions = frozenset({"securityhub:GetFindings", "securityhub:BatchUpdateFindings"})
    Params = NotifyFindingParams
    release_kind = "triage"  # as `irctl triage` records it

    def plan(self) -> list[Change]:
        finding_id = str(self.params["finding_id"])
        product_arn = str(self.params["product_arn"])
        finding = find_finding(self.ctx.client("securityhub"), finding_id, product_arn)
        if finding is None:
            raise PreconditionFailed(
                f"Security Hub in {self.ctx.region} has no finding {finding_id} "
                f"(product {product_arn}); it may not be imported yet: retry in a few "
                "minutes, or pass --no-notify")
        status = str((finding.get("Workflow") or {}).get("Status") or "NEW")
        if status != "NEW":
            return []
        return [Change(self.name, finding_id,
                       f"Set Security Hub workflow of {finding_id} NEW -> NOTIFIED",
                       before={"status": status, "productArn": product_arn},
                       after={"status": "NOTIFIED", "productArn": product_arn})]

    def apply(self, change: Change) -> Mapping[str, Any]:
        update_workflow(self.ctx.client("securityhub"), change.target,
                        str(change.after["productArn"]), "NOTIFIED",
                        str(self.params["note"]), f"irctl case {self.ctx.case_id}")
        return {"status": "NOTIFIED"}

    def rollback(self, change: Change, result: Mapping[str, Any]) -> None:
        update_workflow(self.ctx.client("securityhub"), change.target,
                        str(change.before["productArn"]), str(change.before["status"]),
                        f"irctl case {self.ctx.case_id}: workflow restored to "
                        f"{change.before['status']}", f"irctl case {self.ctx.case_id}")

    def verify(self, change: Change, result: Mapping[str, Any]) -> Check:
        """Someone has the finding: its workflow is no longer NEW (NOTIFIED, or since
        RESOLVED or SUPPRESSED by a responder)."""
        try:
            finding = find_finding(self.ctx.client("securityhub"), change.target,
                                   str(change.after["productArn"]))
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") != "InvalidAccessException":
                raise
            finding = None  # Security Hub disabled since: there is no workflow to hold
        if finding is None:
            return Check("containment", change.target, "Security Hub workflow",
                         "not NEW", "finding no longer exists", True)
        status = str((finding.get("Workflow") or {}).get("Status") or "NEW")
        return Check("containment", change.target, "Security Hub workflow", "not NEW",
                     status, status != "NEW")
