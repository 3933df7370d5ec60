"""Security Hub: GetFindings that honours filters, and BatchUpdateFindings.

moto 5.2 stores imported findings but its GetFindings ignores `Filters` and it has no
BatchUpdateFindings. Both require the hub to be enabled, as in AWS (InvalidAccessException).
Filter semantics follow the API reference: several string filters on one field are
OR'd for positive comparisons (EQUALS, PREFIX, CONTAINS) and AND'd for negative ones;
different fields are AND'd.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from moto.core.responses import ActionResult
from moto.securityhub.responses import SecurityHubResponse

from rehearsal.emulator import securityhub_config
from rehearsal.emulator._util import add_url_paths, reroute, service_error, sort_key

WORKFLOW_STATUSES = {"NEW", "NOTIFIED", "RESOLVED", "SUPPRESSED"}
SEVERITY_LABELS = {"INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL"}
VERIFICATION_STATES = {"UNKNOWN", "TRUE_POSITIVE", "FALSE_POSITIVE", "BENIGN_POSITIVE"}


def _defaults(finding: Mapping[str, Any]) -> dict[str, Any]:
    """What Security Hub fills in on import when the provider did not."""
    doc = copy.deepcopy(dict(finding))
    doc.setdefault("Workflow", {"Status": "NEW"})
    doc.setdefault("WorkflowState", "NEW")
    doc.setdefault("RecordState", "ACTIVE")
    return doc


def _values(finding: Mapping[str, Any], field: str) -> list[Any]:
    extractors: dict[str, Callable[[Mapping[str, Any]], list[Any]]] = {
        "WorkflowStatus": lambda f: [f.get("Workflow", {}).get("Status")],
        "SeverityLabel": lambda f: [f.get("Severity", {}).get("Label")],
        "SeverityNormalized": lambda f: [f.get("Severity", {}).get("Normalized")],
        "ResourceId": lambda f: [r.get("Id") for r in f.get("Resources", [])],
        "ResourceType": lambda f: [r.get("Type") for r in f.get("Resources", [])],
        "ResourceRegion": lambda f: [r.get("Region") for r in f.get("Resources", [])],
        "ResourceTags": lambda f: [r.get("Tags", {}) for r in f.get("Resources", [])],
        "Type": lambda f: list(f.get("Types", [])),
        "ComplianceStatus": lambda f: [f.get("Compliance", {}).get("Status")],
        "VerificationState": lambda f: [f.get("VerificationState")],
        "NoteText": lambda f: [f.get("Note", {}).get("Text")],
        "ProductName": lambda f: [f.get("ProductName")],
        "CompanyName": lambda f: [f.get("CompanyName")],
        "UserDefinedFields": lambda f: [f.get("UserDefinedFields", {})],
    }
    extractor = extractors.get(field)
    if extractor is not None:
        return [v for v in extractor(finding) if v is not None]
    value = finding.get(field)
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _string_ok(values: list[Any], comparison: str, wanted: str) -> bool:
    texts = [str(v) for v in values]
    tests = {
        "EQUALS": lambda t: t == wanted,
        "NOT_EQUALS": lambda t: t == wanted,
        "PREFIX": lambda t: t.startswith(wanted),
        "PREFIX_NOT_EQUALS": lambda t: t.startswith(wanted),
        "CONTAINS": lambda t: wanted in t,
        "NOT_CONTAINS": lambda t: wanted in t,
    }
    if comparison not in tests:
        raise service_error(
            "InvalidInputException", f"Invalid StringFilter Comparison: {comparison}"
        )
    hit = any(tests[comparison](t) for t in texts)
    return not hit if comparison.startswith("NOT_") or comparison.endswith("NOT_EQUALS") else hit


def _parse_time(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _field_ok(finding: Mapping[str, Any], field: str, criteria: list[Mapping[str, Any]]) -> bool:
    values = _values(finding, field)
    positive: list[bool] = []
    negative: list[bool] = []
    for criterion in criteria:
        if "Comparison" in criterion and "Key" in criterion:  # map filter
            maps = [v for v in values if isinstance(v, Mapping)]
            got = [m.get(criterion["Key"]) for m in maps if criterion["Key"] in m]
            ok = _string_ok(got, criterion["Comparison"], str(criterion.get("Value", "")))
            (negative if criterion["Comparison"].startswith("NOT") else positive).append(ok)
        elif "Comparison" in criterion:  # string filter
            comparison = criterion["Comparison"]
            ok = _string_ok(values, comparison, str(criterion.get("Value", "")))
            is_negative = comparison.startswith("NOT_") or comparison == "PREFIX_NOT_EQUALS"
            (negative if is_negative else positive).append(ok)
        elif {"Start", "End", "DateRange"} & set(criterion):  # date filter
            times = [_parse_time(v) for v in values]
            start = _parse_time(criterion["Start"]) if criterion.get("Start") else None
            end = _parse_time(criterion["End"]) if criterion.get("End") else None
            if criterion.get("DateRange"):
                end = datetime.now(timezone.utc)
                start = end - timedelta(days=int(criterion["DateRange"]["Value"]))
            positive.append(
                any((start is None or t >= start) and (end is None or t <= end) for t in times)
            )
        elif {"Gte", "Lte", "Eq", "Gt", "Lt"} & set(criterion):  # number filter
            numbers = [float(v) for v in values]
            checks = {
                "Gte": lambda n, b: n >= b,
                "Lte": lambda n, b: n <= b,
                "Eq": lambda n, b: n == b,
                "Gt": lambda n, b: n > b,
                "Lt": lambda n, b: n < b,
            }
            positive.append(
                any(
                    all(
                        check(n, float(criterion[k]))
                        for k, check in checks.items()
                        if k in criterion
                    )
                    for n in numbers
                )
            )
        elif "Value" in criterion and isinstance(criterion["Value"], bool):  # boolean filter
            positive.append(any(v is criterion["Value"] for v in values))
        else:
            raise service_error("InvalidInputException", f"Invalid filter for {field}: {criterion}")
    return (not positive or any(positive)) and all(negative)


def _require_enabled(response: SecurityHubResponse) -> None:
    if not response.securityhub_backend.enabled:
        raise service_error(
            "InvalidAccessException",
            f"Account {response.current_account} is not subscribed to AWS Security Hub",
        )


class EmulatedSecurityHubResponse(securityhub_config.SecurityHubConfigMixin, SecurityHubResponse):
    def get_findings(self) -> ActionResult:  # type: ignore[override]
        _require_enabled(self)
        self.parse_parameters(self.normalized_request)
        params = self.params
        max_results = int(params.get("MaxResults") or 100)
        if not 1 <= max_results <= 100:
            raise service_error("InvalidInputException", "MaxResults must be between 1 and 100")
        filters: Mapping[str, list[Mapping[str, Any]]] = params.get("Filters") or {}
        findings = [_defaults(f.data) for f in self.securityhub_backend.findings]
        matching = [
            f for f in findings if all(_field_ok(f, k, crit) for k, crit in filters.items() if crit)
        ]
        for sort in reversed(params.get("SortCriteria") or []):
            sort_field = str(sort.get("Field"))

            def by_field(
                finding: Mapping[str, Any], field: str = sort_field
            ) -> tuple[int, float, str]:
                return sort_key((_values(finding, field) or [None])[0])

            matching.sort(key=by_field, reverse=sort.get("SortOrder") == "desc")
        offset = 0
        if params.get("NextToken"):
            try:
                offset = int(json.loads(base64.b64decode(params["NextToken"]))["offset"])
            except (ValueError, KeyError, TypeError) as err:
                raise service_error("InvalidInputException", "Invalid NextToken") from err
        page = matching[offset : offset + max_results]
        result: dict[str, Any] = {"Findings": page}
        if offset + max_results < len(matching):
            result["NextToken"] = base64.b64encode(
                json.dumps({"offset": offset + max_results}).encode()
            ).decode()
        return ActionResult(result)

    def batch_update_findings(self) -> ActionResult:
        _require_enabled(self)
        self.parse_parameters(self.normalized_request)
        params = self.params
        identifiers = params.get("FindingIdentifiers") or []
        if not 1 <= len(identifiers) <= 100:
            raise service_error(
                "InvalidInputException", "FindingIdentifiers must contain 1 to 100 items"
            )
        status = (params.get("Workflow") or {}).get("Status")
        if status is not None and status not in WORKFLOW_STATUSES:
            raise service_error("InvalidInputException", f"Invalid Workflow.Status: {status}")
        label = (params.get("Severity") or {}).get("Label")
        if label is not None and label not in SEVERITY_LABELS:
            raise service_error("InvalidInputException", f"Invalid Severity.Label: {label}")
        verification = params.get("VerificationState")
        if verification is not None and verification not in VERIFICATION_STATES:
            raise service_error(
                "InvalidInputException", f"Invalid VerificationState: {verification}"
            )
        note = params.get("Note")
        if note is not None and not (note.get("Text") and note.get("UpdatedBy")):
            raise service_error("InvalidInputException", "Note requires Text and UpdatedBy")
        by_key = {
            (f.data.get("Id"), f.data.get("ProductArn")): f
            for f in self.securityhub_backend.findings
        }
        processed: list[dict[str, Any]] = []
        unprocessed: list[dict[str, Any]] = []
        now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        for ident in identifiers:
            finding = by_key.get((ident.get("Id"), ident.get("ProductArn")))
            if finding is None:
                unprocessed.append(
                    {
                        "FindingIdentifier": ident,
                        "ErrorCode": "FindingNotFound",
                        "ErrorMessage": "Finding Not Found",
                    }
                )
                continue
            data = finding.data
            if status is not None:
                data["Workflow"] = {"Status": status}
                data["WorkflowState"] = {"NOTIFIED": "ASSIGNED"}.get(status, status)
            if note is not None:
                data["Note"] = {
                    "Text": note["Text"],
                    "UpdatedBy": note["UpdatedBy"],
                    "UpdatedAt": now,
                }
            if params.get("Severity"):
                data.setdefault("Severity", {}).update(params["Severity"])
            if verification is not None:
                data["VerificationState"] = verification
            for key in (
                "Confidence",
                "Criticality",
                "Types",
                "UserDefinedFields",
                "RelatedFindings",
            ):
                if key in params:
                    data[key] = params[key]
            processed.append({"Id": ident["Id"], "ProductArn": ident["ProductArn"]})
        return ActionResult({"ProcessedFindings": processed, "UnprocessedFindings": unprocessed})


def install() -> None:
    import moto.securityhub.urls as urls

    reroute(urls, SecurityHubResponse, EmulatedSecurityHubResponse)
    add_url_paths(urls, EmulatedSecurityHubResponse.dispatch,
                  ["{0}/findings/batchupdate$", *securityhub_config.ROUTES])
