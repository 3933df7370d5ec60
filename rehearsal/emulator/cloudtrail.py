"""CloudTrail `LookupEvents` answering from the management calls the emulator served.

Every call that passes through moto's action dispatch (in-process or server) is recorded
as a CloudTrail management event of the caller's account and region, the way event
history would show it; `inject_events` seeds history (e.g. an attacker's activity
before the drill started). `LookupEvents` honours one LookupAttribute (as AWS does),
StartTime/EndTime, MaxResults and NextToken, newest first, with AWS's error codes.
"""

from __future__ import annotations

import base64
import bisect
import functools
import json
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs
from xml.etree import ElementTree as ET  # noqa: N817 - parses moto's own responses

from moto.cloudtrail.responses import CloudTrailResponse
from moto.core.responses import ActionResult

from rehearsal.emulator._util import backend_state, reroute, service_error

MAX_EVENTS_PER_REGION = 200_000
READ_ONLY_PREFIXES = ("Get", "List", "Describe", "Lookup", "Head", "Search", "BatchGet")
LOOKUP_KEYS = {
    "EventId",
    "EventName",
    "ReadOnly",
    "Username",
    "ResourceType",
    "ResourceName",
    "EventSource",
    "AccessKeyId",
}
GLOBAL_SERVICES = {"iam": "us-east-1"}
EVENT_SOURCE = {"elbv2": "elasticloadbalancing", "elb": "elasticloadbalancing"}

# Request parameter -> CloudTrail resource type.
RESOURCE_PARAMS = {
    "InstanceId": "AWS::EC2::Instance",
    "InstanceIds": "AWS::EC2::Instance",
    "VolumeId": "AWS::EC2::Volume",
    "SnapshotId": "AWS::EC2::Snapshot",
    "GroupId": "AWS::EC2::SecurityGroup",
    "SecurityGroupId": "AWS::EC2::SecurityGroup",
    "NetworkInterfaceId": "AWS::EC2::NetworkInterface",
    "ImageId": "AWS::EC2::Ami",
    "NetworkAclId": "AWS::EC2::NetworkAcl",
    "VpcId": "AWS::EC2::VPC",
    "SubnetId": "AWS::EC2::Subnet",
    "UserName": "AWS::IAM::User",
    "RoleName": "AWS::IAM::Role",
    "RoleArn": "AWS::IAM::Role",
    "PolicyArn": "AWS::IAM::Policy",
    "AccessKeyId": "AWS::IAM::AccessKey",
    "InstanceProfileName": "AWS::IAM::InstanceProfile",
    "Bucket": "AWS::S3::Bucket",
    "BucketName": "AWS::S3::Bucket",
    "TopicArn": "AWS::SNS::Topic",
    "DetectorId": "AWS::GuardDuty::Detector",
    "TrailName": "AWS::CloudTrail::Trail",
    "Name": "",
}
# Ids a write call created, found in its response (e.g. RunInstances -> i-...).
CREATED_ID_PATTERNS = {
    "AWS::EC2::Instance": re.compile(r"<instanceId>(i-[0-9a-f]+)</instanceId>"),
    "AWS::EC2::Volume": re.compile(r"<volumeId>(vol-[0-9a-f]+)</volumeId>"),
    "AWS::EC2::Snapshot": re.compile(r"<snapshotId>(snap-[0-9a-f]+)</snapshotId>"),
    "AWS::EC2::SecurityGroup": re.compile(r"<groupId>(sg-[0-9a-f]+)</groupId>"),
    "AWS::EC2::Ami": re.compile(r"<imageId>(ami-[0-9a-f]+)</imageId>"),
    "AWS::IAM::AccessKey": re.compile(r"<AccessKeyId>([A-Z0-9]{16,128})</AccessKeyId>"),
}
# Any EC2 id in the request names a resource of the type its prefix says (CreateTags'
# ResourceId.N, ModifyInstanceAttribute's InstanceId, ...).
EC2_ID = re.compile(r"^(i|vol|snap|sg|ami|eni|vpc|subnet|acl)-[0-9a-f]{8,17}$")
EC2_PREFIX_TYPE = {
    "i": "AWS::EC2::Instance",
    "vol": "AWS::EC2::Volume",
    "snap": "AWS::EC2::Snapshot",
    "sg": "AWS::EC2::SecurityGroup",
    "ami": "AWS::EC2::Ami",
    "eni": "AWS::EC2::NetworkInterface",
    "vpc": "AWS::EC2::VPC",
    "subnet": "AWS::EC2::Subnet",
    "acl": "AWS::EC2::NetworkAcl",
}
# EC2 lists of ids as CloudTrail names them (InstanceId.N -> instancesSet.items[].instanceId).
EC2_ID_SETS = {"instanceId": "instancesSet", "resourceId": "resourcesSet", "groupId": "groupSet"}
SENSITIVE = "HIDDEN_DUE_TO_SECURITY_REASONS"
# Secrets a response carries that CloudTrail never writes into responseElements.
SECRET_RESPONSE_KEYS = {"secretAccessKey", "keyMaterial", "password", "sessionToken"}
ERROR_CODE = re.compile(r'<Code>([^<]+)</Code>|"__type"\s*:\s*"(?:[^"#]*#)?([^"]+)"')


@dataclass(order=True)
class _Event:
    time: datetime
    seq: int
    data: dict[str, Any] = field(compare=False)


class EventStore:
    """Events of one account and region, kept sorted by time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[_Event] = []
        self._seq = 0

    def add(self, event: dict[str, Any]) -> None:
        with self._lock:
            self._seq += 1
            bisect.insort(self._events, _Event(event["EventTime"], self._seq, event))
            if len(self._events) > MAX_EVENTS_PER_REGION:
                del self._events[: len(self._events) - MAX_EVENTS_PER_REGION]

    def newest_first(self) -> list[dict[str, Any]]:
        with self._lock:
            return [e.data for e in reversed(self._events)]


def _store(account_id: str, region: str) -> EventStore:
    from moto.cloudtrail.models import cloudtrail_backends

    return backend_state(cloudtrail_backends[account_id][region], "events", EventStore)


def _identity(account_id: str, access_key: str) -> dict[str, Any]:
    """userIdentity for an access key, resolved as moto's STS resolves callers."""
    from moto.iam.models import iam_backends
    from moto.sts.models import sts_backends

    sts = sts_backends[account_id]["global"]
    role = sts.get_assumed_role_from_access_key(access_key)
    if role is not None:
        return {
            "type": "AssumedRole",
            "principalId": role.user_id,
            "arn": role.arn,
            "accountId": account_id,
            "accessKeyId": access_key,
            "userName": role.session_name,
        }
    user = iam_backends[account_id]["aws"].get_user_from_access_key_id(access_key)
    if user is not None:
        return {
            "type": "IAMUser",
            "principalId": user.id,
            "arn": user.arn,
            "accountId": account_id,
            "accessKeyId": access_key,
            "userName": user.name,
        }
    return {
        "type": "IAMUser",
        "principalId": "AKIAIOSFODNN7EXAMPLE",
        "arn": f"arn:aws:sts::{account_id}:user/moto",
        "accountId": account_id,
        "accessKeyId": access_key,
        "userName": "moto",
    }


def _lower_camel(key: str) -> str:
    """CloudTrail's key for a parameter: the member name with its first letter lowered."""
    return key[:1].lower() + key[1:]


@functools.lru_cache(maxsize=64)
def _service_model(service: str) -> Any:
    import botocore.session

    try:
        return botocore.session.get_session().get_service_model(service)
    except Exception:  # noqa: BLE001 - a service botocore does not know: no model
        return None


def _operation(service: str, action: str) -> Any:
    model = _service_model(service)
    if model is None or action not in model.operation_names:
        return None
    return model.operation_model(action)


def _tree(flat: Mapping[str, Any]) -> dict[str, Any]:
    """`IpPermissions.1.IpRanges.1.CidrIp=...` -> nested dicts keyed by the dotted parts."""
    root: dict[str, Any] = {}
    for key, value in flat.items():
        parts = key.split(".")
        node = root
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[parts[-1]] = value
    return root


def _indexed(node: Any) -> list[Any]:
    if isinstance(node, dict):
        return [node[k] for k in sorted((k for k in node if k.isdigit()), key=int)]
    return node if isinstance(node, list) else [node]


def _scalar(value: Any, shape: Any) -> Any:
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if shape.serialization.get("sensitive") or getattr(shape, "metadata", {}).get("sensitive"):
        return SENSITIVE
    if shape.type_name == "blob":
        return "<sensitiveDataRemoved>"
    if not isinstance(value, str):
        return value
    try:
        if shape.type_name in ("integer", "long"):
            return int(value)
        if shape.type_name in ("float", "double"):
            return float(value)
    except ValueError:
        return value
    if shape.type_name == "boolean":
        return value.lower() == "true"
    return value


def _from_query(node: Any, shape: Any, ec2: bool) -> Any:
    """A query/EC2-protocol request, parsed back with the operation's model into the
    structure CloudTrail records (lowerCamel keys, EC2 lists as {"items": [...]})."""
    if shape.type_name == "structure":
        if not isinstance(node, dict):
            return None
        out: dict[str, Any] = {}
        for name, member in shape.members.items():
            location = member.serialization.get("name")
            if ec2:
                wire = member.serialization.get("queryName") or (
                    location[:1].upper() + location[1:] if location else name)
            else:
                wire = location or name
            if wire not in node:
                continue
            key = _lower_camel(location or name)
            value = _from_query(node[wire], member, ec2)
            if ec2 and member.type_name == "list" and member.member.type_name != "structure":
                single = key[:-1] if key.endswith("s") and key[:-1] in EC2_ID_SETS else key
                key = EC2_ID_SETS.get(single, single + "Set")
                value = {"items": [{single: v} for v in value["items"]]}
            out[key] = value
        return out
    if shape.type_name == "list":
        if not ec2 and not shape.serialization.get("flattened") and isinstance(node, dict):
            node = node.get("member", {})
        items = [_from_query(item, shape.member, ec2) for item in _indexed(node)]
        return {"items": items} if ec2 else items
    if shape.type_name == "map":
        entries = node.get("entry", node) if isinstance(node, dict) else {}
        key_name = shape.key.serialization.get("name", "key")
        value_name = shape.value.serialization.get("name", "value")
        return {
            str(entry.get(key_name)): _from_query(entry.get(value_name), shape.value, ec2)
            for entry in _indexed(entries)
            if isinstance(entry, dict)
        }
    return _scalar(node, shape)


def _from_json(value: Any, shape: Any) -> Any:
    """A JSON body with CloudTrail's lowerCamel keys; map keys are data and kept."""
    if isinstance(value, dict):
        if shape is not None and shape.type_name == "map":
            return {k: _from_json(v, shape.value) for k, v in value.items()}
        members = shape.members if shape is not None and shape.type_name == "structure" else {}
        by_wire = {m.serialization.get("name", n): n for n, m in members.items()}
        out: dict[str, Any] = {}
        for key, item in value.items():
            name = key if key in members else by_wire.get(key)
            member = members.get(name) if name else None
            if member is not None and (
                member.serialization.get("sensitive") or member.metadata.get("sensitive")
            ):
                out[_lower_camel(key)] = SENSITIVE
            else:
                out[_lower_camel(key)] = _from_json(item, member)
        return out
    if isinstance(value, list):
        inner = shape.member if shape is not None and shape.type_name == "list" else None
        return [_from_json(item, inner) for item in value]
    return value


def _generic(node: Any) -> Any:
    """No model for the call: nested, lowerCamel keys, numbered parts as lists."""
    if isinstance(node, dict):
        if node and all(k.isdigit() for k in node):
            return [_generic(v) for v in _indexed(node)]
        if set(node) == {"member"}:
            return _generic(node["member"])
        return {_lower_camel(k): _generic(v) for k, v in node.items()}
    return node


def _request_parameters(response: Any, service: str, action: str) -> dict[str, Any] | None:
    """requestParameters as CloudTrail writes them for the call."""
    flat: dict[str, Any] = {}
    for key, values in parse_qs(response.parsed_url.query).items():
        flat[key] = values[0] if len(values) == 1 else values
    body = response.body
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    content_type = response.headers.get("Content-Type", "") or ""
    decoded: Any = None
    if content_type.startswith("application/x-www-form-urlencoded"):
        # moto has already parsed the form (and consumed the body) into querystring.
        for key, values in (response.querystring or {}).items():
            if isinstance(values, list):
                flat[key] = values[0] if len(values) == 1 else values
    elif body:
        try:
            decoded = json.loads(body)
        except ValueError:
            decoded = None
    for noise in ("Action", "Version"):
        flat.pop(noise, None)
    operation = _operation(service, action)
    shape = operation.input_shape if operation is not None else None
    params: dict[str, Any] = {}
    if flat:
        if shape is not None and operation.metadata["protocol"] in ("query", "ec2"):
            params.update(_from_query(_tree(flat), shape, operation.metadata["protocol"] == "ec2"))
        else:
            params.update(_from_json(_generic(_tree(flat)), shape))
    if isinstance(decoded, dict):
        params.update(_from_json(decoded, shape))
    params.update(_from_json(dict(response.uri_match or {}), shape))
    return params or None


def _element(node: ET.Element) -> Any:
    children = list(node)
    if not children:
        return node.text
    tags = {child.tag.rsplit("}", 1)[-1] for child in children}
    if tags == {"item"}:
        return {"items": [_element(child) for child in children]}
    if tags == {"member"}:
        return [_element(child) for child in children]
    out: dict[str, Any] = {}
    for child in children:
        key = _lower_camel(child.tag.rsplit("}", 1)[-1])
        if key not in SECRET_RESPONSE_KEYS:
            out[key] = _element(child)
    return out


def _response_elements(text: str, service: str, action: str) -> dict[str, Any] | None:
    """responseElements of a successful write call, as CloudTrail records them."""
    text = text.strip()
    if not text:
        return None
    if text.startswith("<"):
        try:
            root = ET.fromstring(text)  # noqa: S314 - moto's own response, not input
        except ET.ParseError:
            return None
        result = next((c for c in root if c.tag.endswith("Result")), root)
        value = _element(result)
        if not isinstance(value, dict):
            return None
        for noise in ("requestId", "responseMetadata"):
            value.pop(noise, None)
        return value or None
    try:
        decoded = json.loads(text)
    except ValueError:
        return None
    if not isinstance(decoded, dict):
        return None
    operation = _operation(service, action)
    value = _from_json(decoded, operation.output_shape if operation is not None else None)
    for key in SECRET_RESPONSE_KEYS & set(value):
        del value[key]
    return value or None


def _recorded(build: Callable[[], dict[str, Any] | None]) -> dict[str, Any] | None:
    """A part of the record; a request the model cannot parse back is recorded without
    it rather than failing the call it records."""
    try:
        return build()
    except (TypeError, AttributeError, KeyError, ValueError, IndexError):
        return None


def _walk(value: Any, key: str = "") -> Iterable[tuple[str, str]]:
    if isinstance(value, Mapping):
        for child_key, child in value.items():
            yield from _walk(child, child_key)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item, key)
    elif isinstance(value, str) and value:
        yield key, value


def _resources(params: Mapping[str, Any], response_body: str, read_only: bool) -> list[dict]:
    """The `Resources` LookupEvents lists for a call: identifiers in its parameters
    (at any depth, lowerCamel as recorded or PascalCase) and, for a write call, the ids it
    created."""
    found: dict[tuple[str, str], None] = {}
    for raw_key, item in _walk(params):
        key = re.sub(r"(\.\d+)+$", "", raw_key).split(".")[-1]
        rtype = RESOURCE_PARAMS.get(key[:1].upper() + key[1:])
        ec2_id = EC2_ID.match(item)
        if ec2_id:
            found[(EC2_PREFIX_TYPE[ec2_id.group(1)], item)] = None
        elif rtype:
            found[(rtype, item)] = None
    if not read_only and response_body:
        for rtype, pattern in CREATED_ID_PATTERNS.items():
            for match in pattern.findall(response_body):
                found[(rtype, match)] = None
    return [{"ResourceType": t, "ResourceName": n} for t, n in found]


# Bucket-level S3 operations CloudTrail logs as data events, not management events.
S3_DATA_EVENTS = {
    "ListObjects",
    "ListObjectsV2",
    "ListObjectVersions",
    "DeleteObjects",
    "PostObject",
    "HeadBucket",
}


def record_s3_bucket_call(response: Any, request: Any, status: int, body: Any) -> None:
    """Record a bucket-level S3 call (PutBucketPolicy, PutBucketAcl, ...) as AWS does.

    moto's S3 bypasses the common action dispatch, so the operation is resolved from
    the request with botocore's model, as the server's call counter does.
    """
    from moto.core.routing import get_service_router

    try:
        operation, _ = get_service_router("s3").match(request)
    except Exception:  # noqa: BLE001 - an unroutable call is simply not recorded
        return
    if operation.name in S3_DATA_EVENTS or not getattr(response, "bucket_name", None):
        return
    record_call(
        response,
        status,
        body,
        action=str(operation.name),
        service="s3",
        params={"bucketName": response.bucket_name},
    )


def record_call(
    response: Any,
    status: int,
    body: Any,
    action: str | None = None,
    service: str | None = None,
    params: dict[str, Any] | None = None,
) -> None:
    """Record one served call as a management event (called from moto's dispatch)."""
    service = service or response.service_name or ""
    if action is None:
        try:
            action = response._get_action()
        except Exception:  # noqa: BLE001 - an unroutable call is simply not recorded
            return
    if not action or not service or (service == "cloudtrail" and action == "LookupEvents"):
        return
    account_id = response.current_account
    region = GLOBAL_SERVICES.get(service, response.region)
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body or "")
    read_only = action.startswith(READ_ONLY_PREFIXES)
    request = params if params is not None else _recorded(
        lambda: _request_parameters(response, service, action))
    response_elements = (
        _recorded(lambda: _response_elements(text, service, action))
        if status < 400 and not read_only
        else None
    )
    source = f"{EVENT_SOURCE.get(service, service)}.amazonaws.com"
    error_code = None
    if status >= 400:
        match = ERROR_CODE.search(text)
        error_code = (match.group(1) or match.group(2)) if match else str(status)
    now = datetime.now(timezone.utc)
    record = {
        "eventVersion": "1.09",
        "userIdentity": _identity(account_id, response.access_key),
        "eventTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": source,
        "eventName": action,
        "awsRegion": region,
        "sourceIPAddress": "127.0.0.1",
        "userAgent": response.headers.get("User-Agent", ""),
        "requestParameters": request or None,
        "responseElements": response_elements,
        "requestID": str(uuid.uuid4()),
        "eventID": str(uuid.uuid4()),
        "readOnly": read_only,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": account_id,
        "eventCategory": "Management",
    }
    if error_code:
        record["errorCode"] = error_code
    inject_events([record], account_id=account_id, region=region, _resources_from=text)


def _lookup_event_from_record(record: Mapping[str, Any], resources: list[dict]) -> dict[str, Any]:
    identity = record.get("userIdentity") or {}
    time = record["eventTime"]
    if isinstance(time, str):
        time = datetime.fromisoformat(time.replace("Z", "+00:00"))
    if time.tzinfo is None:
        time = time.replace(tzinfo=timezone.utc)
    username = identity.get("userName") or identity.get("sessionContext", {}).get(
        "sessionIssuer", {}
    ).get("userName")
    if identity.get("type") == "Root":
        username = "root"
    event = {
        "EventId": record.get("eventID") or str(uuid.uuid4()),
        "EventName": record["eventName"],
        "ReadOnly": "true" if record.get("readOnly") else "false",
        "AccessKeyId": identity.get("accessKeyId"),
        "EventTime": time,
        "EventSource": record["eventSource"],
        "Username": username,
        "Resources": resources,
        "CloudTrailEvent": json.dumps(dict(record), default=str),
    }
    return {k: v for k, v in event.items() if v is not None}


def inject_events(
    events: Iterable[Mapping[str, Any]],
    account_id: str = "123456789012",
    region: str = "us-east-1",
    _resources_from: str = "",
) -> None:
    """Seed event history. Each item is a CloudTrail log record (as in the trail's S3
    files: eventTime, eventName, eventSource, userIdentity, requestParameters, ...) or a
    `LookupEvents` event (EventName, EventTime, ...)."""
    store = _store(account_id, region)
    for item in events:
        if "EventName" in item:
            event = dict(item)
            if isinstance(event.get("EventTime"), str):
                event["EventTime"] = datetime.fromisoformat(
                    event["EventTime"].replace("Z", "+00:00")
                )
            if event["EventTime"].tzinfo is None:
                event["EventTime"] = event["EventTime"].replace(tzinfo=timezone.utc)
            event.setdefault("EventId", str(uuid.uuid4()))
            event.setdefault("ReadOnly", "false")
            event.setdefault("Resources", [])
            event.setdefault("CloudTrailEvent", json.dumps(event, default=str))
        else:
            record = dict(item)
            record.setdefault("eventID", str(uuid.uuid4()))
            record.setdefault("awsRegion", region)
            record.setdefault("recipientAccountId", account_id)
            read_only = bool(record.get("readOnly"))
            resources = [
                {"ResourceType": r.get("type", ""), "ResourceName": r.get("ARN", "")}
                for r in record.get("resources") or []
            ]
            resources += _resources(
                record.get("requestParameters") or {}, _resources_from, read_only
            )
            unique = {(r["ResourceType"], r["ResourceName"]): r for r in resources}
            resources = list(unique.values())
            event = _lookup_event_from_record(record, resources)
        store.add(event)


def _matches(event: Mapping[str, Any], key: str, value: str) -> bool:
    if key == "ResourceName":
        return any(r.get("ResourceName") == value for r in event.get("Resources", []))
    if key == "ResourceType":
        return any(r.get("ResourceType") == value for r in event.get("Resources", []))
    return bool(event.get(key) == value)


def _as_datetime(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    return datetime.fromtimestamp(float(value), tz=timezone.utc)


class EmulatedCloudTrailResponse(CloudTrailResponse):
    def lookup_events(self) -> ActionResult:
        self.parse_parameters(self.normalized_request)
        params = self.params
        attributes = params.get("LookupAttributes") or []
        if len(attributes) > 1:
            raise service_error(
                "InvalidLookupAttributesException",
                "You cannot specify more than one lookup attribute.",
            )
        for attribute in attributes:
            if attribute.get("AttributeKey") not in LOOKUP_KEYS:
                raise service_error(
                    "InvalidLookupAttributesException",
                    f"Invalid AttributeKey: {attribute.get('AttributeKey')}",
                )
        max_results = params.get("MaxResults")
        if max_results is not None and not 1 <= int(max_results) <= 50:
            raise service_error(
                "InvalidMaxResultsException", "MaxResults must be between 1 and 50."
            )
        now = datetime.now(timezone.utc)
        start = _as_datetime(params.get("StartTime")) or now - timedelta(days=90)
        end = _as_datetime(params.get("EndTime")) or now
        if start > end:
            raise service_error("InvalidTimeRangeException", "Start time must be before end time.")
        if params.get("EventCategory") == "insight":
            return ActionResult({"Events": []})
        events = [
            e
            for e in _store(self.current_account, self.region).newest_first()
            if start <= e["EventTime"] <= end
            and all(_matches(e, a["AttributeKey"], a["AttributeValue"]) for a in attributes)
        ]
        offset = 0
        token = params.get("NextToken")
        if token:
            try:
                offset = int(json.loads(base64.b64decode(token))["offset"])
            except (ValueError, KeyError, TypeError) as err:
                raise service_error("InvalidNextTokenException", "Invalid NextToken.") from err
        limit = int(max_results or 50)
        page = events[offset : offset + limit]
        result: dict[str, Any] = {"Events": page}
        if offset + limit < len(events):
            result["NextToken"] = base64.b64encode(
                json.dumps({"offset": offset + limit}).encode()
            ).decode()
        return ActionResult(result)


def install() -> None:
    import moto.cloudtrail.urls as urls

    reroute(urls, CloudTrailResponse, EmulatedCloudTrailResponse)
