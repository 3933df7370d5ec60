"""GuardDuty findings: CreateSampleFindings, ListFindings, GetFindings, (Un)ArchiveFindings.

Findings live on their detector, in the detector's account and region. `inject_finding`
stores a full finding document (as GetFindings returns it, or as EventBridge delivers
it in `detail`) so a drill can stage a realistic incident.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from moto.core.responses import ActionResult
from moto.guardduty.responses import GuardDutyResponse

from rehearsal.emulator import guardduty_config
from rehearsal.emulator._util import (
    add_url_paths,
    backend_state,
    reroute,
    service_error,
    sort_key,
)

DEFAULT_SAMPLE_TYPES = (
    "UnauthorizedAccess:EC2/SSHBruteForce",
    "Recon:IAMUser/MaliciousIPCaller",
    "Backdoor:EC2/C&CActivity.B!DNS",
)
MAX_IDS = 50


def _now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _findings(account_id: str, region: str, detector_id: str) -> dict[str, dict[str, Any]]:
    from moto.guardduty.models import guardduty_backends

    backend = guardduty_backends[account_id][region]
    backend.get_detector(detector_id)  # BadRequestException for a detector not owned here
    per_detector: dict[str, dict[str, dict[str, Any]]] = backend_state(backend, "findings", dict)
    return per_detector.setdefault(detector_id, {})


def _complete(doc: Mapping[str, Any], account_id: str, region: str, detector_id: str) -> dict:
    finding = copy.deepcopy(dict(doc))
    finding_id = finding.get("Id") or uuid.uuid4().hex
    now = _now_iso()
    finding.update(
        {
            "Id": finding_id,
            "AccountId": finding.get("AccountId", account_id),
            "Region": finding.get("Region", region),
            "Partition": finding.get("Partition", "aws"),
            "Arn": finding.get("Arn")
            or f"arn:aws:guardduty:{region}:{account_id}:detector/{detector_id}"
            f"/finding/{finding_id}",
            "CreatedAt": finding.get("CreatedAt", now),
            "UpdatedAt": finding.get("UpdatedAt", now),
            "SchemaVersion": finding.get("SchemaVersion", "2.0"),
            "Severity": float(finding.get("Severity", 5.0)),
        }
    )
    finding.setdefault("Type", DEFAULT_SAMPLE_TYPES[0])
    finding.setdefault("Title", finding["Type"])
    finding.setdefault("Description", finding["Title"])
    finding.setdefault("Confidence", 5.0)
    finding.setdefault("Resource", {"ResourceType": "Instance"})
    service = finding.setdefault("Service", {})
    service.setdefault("ServiceName", "guardduty")
    service["DetectorId"] = detector_id
    service.setdefault("Archived", False)
    service.setdefault("Count", 1)
    service.setdefault("EventFirstSeen", finding["CreatedAt"])
    service.setdefault("EventLastSeen", finding["UpdatedAt"])
    service.setdefault("ResourceRole", "TARGET")
    return finding


def _sample(finding_type: str) -> dict[str, Any]:
    if "IAMUser" in finding_type:
        resource: dict[str, Any] = {
            "ResourceType": "AccessKey",
            "AccessKeyDetails": {
                "AccessKeyId": "GeneratedFindingAccessKeyId",
                "PrincipalId": "GeneratedFindingPrincipalId",
                "UserName": "GeneratedFindingUserName",
                "UserType": "IAMUser",
            },
        }
    else:
        resource = {
            "ResourceType": "Instance",
            "InstanceDetails": {
                "InstanceId": "i-99999999",
                "InstanceType": "m3.xlarge",
                "InstanceState": "running",
                "AvailabilityZone": "GeneratedFindingInstanceAvailabilityZone",
            },
        }
    return {
        "Type": finding_type,
        "Title": f"Sample finding of type {finding_type}",
        "Description": f"This is a sample finding of type {finding_type}.",
        "Severity": 8.0 if finding_type.startswith("Backdoor") else 5.0,
        "Resource": resource,
        "Service": {"AdditionalInfo": {"Value": '{"sample":true}', "Type": "default"}},
    }


def _to_api_shape(value: Any, shape: Any) -> Any:
    """Keys as the model's member names, whatever the document used: the wire's
    (and EventBridge `detail`'s) camelCase locationNames or the members' PascalCase.
    Keys the model does not know are kept as they are."""
    if shape is None:
        return value
    if shape.type_name == "structure" and isinstance(value, Mapping):
        by_wire = {m.serialization.get("name", n): n for n, m in shape.members.items()}
        out: dict[str, Any] = {}
        for key, item in value.items():
            name = key if key in shape.members else by_wire.get(key)
            if name is None:
                out[key] = item
            else:
                out[name] = _to_api_shape(item, shape.members[name])
        return out
    if shape.type_name == "list" and isinstance(value, list):
        return [_to_api_shape(item, shape.member) for item in value]
    if shape.type_name == "map" and isinstance(value, Mapping):
        return {k: _to_api_shape(v, shape.value) for k, v in value.items()}
    return value


def _finding_shape() -> Any:
    import botocore.session

    return botocore.session.get_session().get_service_model("guardduty").shape_for("Finding")


def inject_finding(
    document: Mapping[str, Any],
    detector_id: str,
    account_id: str = "123456789012",
    region: str = "us-east-1",
) -> dict[str, Any]:
    """Store a full finding; returns it (GetFindings shape) with defaults filled in.

    `document` is a finding as GetFindings returns it (boto3's PascalCase), as it is on
    the wire and in an EventBridge event's `detail` (camelCase), or the whole EventBridge
    event (its `detail` is taken).
    """
    if "detail" in document and "detail-type" in document:
        document = document["detail"]
    finding = _complete(_to_api_shape(document, _finding_shape()), account_id, region,
                        detector_id)
    _findings(account_id, region, detector_id)[finding["Id"]] = finding
    return finding


def _path_value(doc: Any, dotted: str) -> Any:
    """`service.archived` -> doc["Service"]["Archived"] (the API's criteria are camelCase)."""
    value = doc
    for part in dotted.split("."):
        if not isinstance(value, Mapping):
            return None
        key = part[:1].upper() + part[1:]
        value = value.get(key, value.get(part))
    return value


def _iso_to_ms(value: Any) -> float:
    if isinstance(value, str):
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000
    return float(value)


def _criterion_ok(doc: Mapping[str, Any], field: str, condition: Mapping[str, Any]) -> bool:
    actual = _path_value(doc, field)
    values = actual if isinstance(actual, list) else [actual]
    as_text = {str(v).lower() for v in values if v is not None}
    for key in ("Eq", "Equals"):
        if condition.get(key) and not as_text & {str(v).lower() for v in condition[key]}:
            return False
    for key in ("Neq", "NotEquals"):
        if condition.get(key) and as_text & {str(v).lower() for v in condition[key]}:
            return False
    numeric = [v for v in values if v is not None]
    comparisons = {
        "Gt": lambda a, b: a > b,
        "GreaterThan": lambda a, b: a > b,
        "Gte": lambda a, b: a >= b,
        "GreaterThanOrEqual": lambda a, b: a >= b,
        "Lt": lambda a, b: a < b,
        "LessThan": lambda a, b: a < b,
        "Lte": lambda a, b: a <= b,
        "LessThanOrEqual": lambda a, b: a <= b,
    }
    for key, compare in comparisons.items():
        if condition.get(key) is None:
            continue
        bound = float(condition[key])
        is_time = field.endswith("At") or field.endswith("Seen")
        if not any(compare(_iso_to_ms(v) if is_time else float(v), bound) for v in numeric):
            return False
    return True


class EmulatedGuardDutyResponse(guardduty_config.GuardDutyConfigMixin, GuardDutyResponse):
    def _params(self) -> dict[str, Any]:
        self.parse_parameters(self.normalized_request)
        return dict(self.params)

    def _ids(self, params: Mapping[str, Any]) -> list[str]:
        ids = list(params.get("FindingIds") or [])
        if len(ids) > MAX_IDS:
            raise service_error(
                "BadRequestException",
                f"The request is rejected because the findingIds list exceeds {MAX_IDS} items.",
            )
        return ids

    def create_sample_findings(self) -> ActionResult:
        params = self._params()
        detector_id = params["DetectorId"]
        store = _findings(self.current_account, self.region, detector_id)
        for finding_type in params.get("FindingTypes") or DEFAULT_SAMPLE_TYPES:
            finding = _complete(
                _sample(finding_type), self.current_account, self.region, detector_id
            )
            store[finding["Id"]] = finding
        return ActionResult({})

    def list_findings(self) -> ActionResult:
        params = self._params()
        store = _findings(self.current_account, self.region, params["DetectorId"])
        max_results = int(params.get("MaxResults") or 50)
        if not 1 <= max_results <= 50:
            raise service_error(
                "BadRequestException", "The request is rejected because maxResults is invalid."
            )
        criteria = (params.get("FindingCriteria") or {}).get("Criterion") or {}
        matching = [
            f
            for f in store.values()
            if all(_criterion_ok(f, field, cond) for field, cond in criteria.items())
        ]
        sort = params.get("SortCriteria") or {}
        if sort.get("AttributeName"):
            matching.sort(
                key=lambda f: sort_key(_path_value(f, sort["AttributeName"])),
                reverse=sort.get("OrderBy") == "DESC",
            )
        token = str(params.get("NextToken") or "0")
        if not token.isdigit():
            raise service_error(
                "BadRequestException", "The request is rejected because nextToken is invalid."
            )
        start = int(token)
        page = matching[start : start + max_results]
        result: dict[str, Any] = {"FindingIds": [f["Id"] for f in page]}
        if start + max_results < len(matching):
            result["NextToken"] = str(start + max_results)
        return ActionResult(result)

    def get_findings(self) -> ActionResult:
        params = self._params()
        store = _findings(self.current_account, self.region, params["DetectorId"])
        found = [copy.deepcopy(store[i]) for i in self._ids(params) if i in store]
        return ActionResult({"Findings": found})

    def _set_archived(self, archived: bool) -> ActionResult:
        params = self._params()
        store = _findings(self.current_account, self.region, params["DetectorId"])
        for finding_id in self._ids(params):
            if finding_id in store:
                store[finding_id]["Service"]["Archived"] = archived
                store[finding_id]["UpdatedAt"] = _now_iso()
        return ActionResult({})

    def archive_findings(self) -> ActionResult:
        return self._set_archived(True)

    def unarchive_findings(self) -> ActionResult:
        return self._set_archived(False)


def install() -> None:
    import moto.guardduty.urls as urls

    reroute(urls, GuardDutyResponse, EmulatedGuardDutyResponse)
    add_url_paths(
        urls,
        EmulatedGuardDutyResponse.dispatch,
        [
            "{0}/detector/(?P<detector_id>[^/]+)/findings$",
            "{0}/detector/(?P<detector_id>[^/]+)/findings/create$",
            "{0}/detector/(?P<detector_id>[^/]+)/findings/get$",
            "{0}/detector/(?P<detector_id>[^/]+)/findings/archive$",
            "{0}/detector/(?P<detector_id>[^/]+)/findings/unarchive$",
            *guardduty_config.ROUTES,
        ],
    )
