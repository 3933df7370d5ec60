"""Parse GuardDuty and Security Hub findings into one shape.

Accepted inputs (a JSON document, or a list of them):

- a GuardDuty finding as EventBridge delivers it: the whole event
  (`detail-type: GuardDuty Finding`) or just its `detail` (camelCase keys);
- a GuardDuty finding as `guardduty get-findings` returns it (PascalCase keys), or the
  whole response (`{"Findings": [...]}`);
- a Security Hub finding in ASFF, alone, as `securityhub get-findings` returns it, or
  as EventBridge delivers it (`detail-type: Security Hub Findings - Imported`,
  `detail.findings[]`).

Anything else is an `InvalidInput` that says which shapes are accepted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from runbooks.analysis.playbooks import (
    COMPROMISED_EKS_NODE,
    EKS_CLUSTER,
    EKS_NODE,
    EKS_POD,
    playbook_for,
)
from runbooks.core.errors import InvalidInput

ACCEPTED = (
    "a GuardDuty finding (EventBridge 'GuardDuty Finding' event, its detail, or "
    "get-findings output) or a Security Hub ASFF finding (EventBridge 'Security Hub "
    "Findings - Imported' event or get-findings output)"
)
ASFF_SCHEMA_VERSION = "2018-10-08"
_GD_TYPE = re.compile(r"^([A-Za-z]+):([A-Za-z0-9]+)[/.\-](.+)$")
_ACCOUNT_ID = re.compile(r"^[0-9]{12}$")


@dataclass(frozen=True)
class Resource:
    """An affected AWS resource. `kind` is one of: instance, access-key, iam-user,
    iam-role, s3-bucket, security-group, rds-instance, rds-cluster, lambda-function,
    execution-role (a Lambda function's), eks-cluster, kubernetes-workload,
    kubernetes-pod (NAMESPACE/POD), ecs-cluster, ecs-task, container, secret, kms-key,
    or (ASFF) the resource's Type."""

    kind: str
    id: str
    arn: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.id, "arn": self.arn}


@dataclass(frozen=True)
class Principal:
    """Who acted: an IAM user, a role (assumed), the root user, or an unknown caller."""

    kind: str
    name: str
    arn: str | None = None
    access_key_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "arn": self.arn,
            "accessKeyId": self.access_key_id,
        }


@dataclass(frozen=True)
class KubernetesContext:
    """What an EKS (audit-log or Runtime) finding names, for `triage` and the EKS
    playbooks: the cluster, the workload and, when it is a pod, the pod; its containers;
    the node instance (Runtime findings); the Kubernetes user (audit-log findings); the
    process (Runtime findings)."""

    cluster: str | None
    cluster_arn: str | None = None
    namespace: str | None = None
    workload: str | None = None
    workload_type: str | None = None
    pod: str | None = None
    containers: tuple[str, ...] = ()  # "name (image)"
    node_instance_id: str | None = None
    user: str | None = None
    user_groups: tuple[str, ...] = ()
    process: str | None = None

    @property
    def subject(self) -> str:
        """EKS_POD when it names a workload, EKS_NODE when only the node, else EKS_CLUSTER."""
        if self.workload:
            return EKS_POD
        return EKS_NODE if self.node_instance_id else EKS_CLUSTER

    def to_dict(self) -> dict[str, Any]:
        return {
            "cluster": self.cluster, "clusterArn": self.cluster_arn,
            "namespace": self.namespace, "workload": self.workload,
            "workloadType": self.workload_type, "pod": self.pod,
            "containers": list(self.containers), "node": self.node_instance_id,
            "user": self.user, "userGroups": list(self.user_groups),
            "process": self.process, "subject": self.subject,
            # A pod's node is contained with the node playbook when the pod escaped.
            "nodePlaybook": COMPROMISED_EKS_NODE if self.node_instance_id else None,
        }


@dataclass(frozen=True)
class Finding:
    source: str  # "guardduty" | "securityhub"
    id: str
    account_id: str
    region: str
    type: str | None
    title: str
    severity: float  # GuardDuty scale 0-10
    severity_label: str
    first_seen: datetime | None
    last_seen: datetime | None
    resources: tuple[Resource, ...]
    principals: tuple[Principal, ...]
    remote_ips: tuple[str, ...]
    playbook: str | None
    description: str = ""
    product_arn: str | None = None  # Security Hub: with `id`, identifies the finding
    guardduty_arn: str | None = None
    workflow_status: str | None = None
    resource_role: str | None = None
    sample: bool = False  # GuardDuty service.additionalInfo.sample / ASFF Sample
    archived: bool = False  # GuardDuty service.archived / ASFF RecordState ARCHIVED
    record_state: str | None = None  # ASFF RecordState (ACTIVE | ARCHIVED)
    resource_type: str | None = None  # GuardDuty resource.resourceType / first ASFF Type
    network_direction: str | None = None  # ASFF Network.Direction (IN | OUT)
    own_ips: tuple[str, ...] = ()  # the affected resource's own addresses, never remote
    kubernetes: KubernetesContext | None = None  # EKS findings: cluster, pod, node, user
    api_call: str | None = None  # GuardDuty service.action.awsApiCallAction.api
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def inactive_reason(self) -> str | None:
        """Why this finding describes nothing live to act on, or None.

        Sample findings are generated by `CreateSampleFindings` / the console and name
        made-up or real-looking resources; archived and RESOLVED / SUPPRESSED findings
        were closed by a person or a suppression rule; NOTIFIED means a responder (or an
        earlier automated run) already owns it.
        """
        if self.sample:
            return "it is a sample finding (service.additionalInfo.sample / Sample)"
        if self.archived:
            return ("it is archived (service.archived / RecordState ARCHIVED): someone "
                    "closed or suppressed it")
        status = (self.workflow_status or "").upper()
        if status in ("RESOLVED", "SUPPRESSED", "NOTIFIED"):
            return (f"its Security Hub workflow status is {status}: "
                    + ("a responder has already been told and owns it" if status == "NOTIFIED"
                       else "it was closed"))
        return None

    def security_hub_identifier(self) -> dict[str, str]:
        """The `FindingIdentifiers` entry of this finding in Security Hub.

        GuardDuty findings arrive in Security Hub with the GuardDuty finding ARN as Id
        under the regional GuardDuty product ARN.
        """
        if self.source == "securityhub" and self.product_arn:
            return {"Id": self.id, "ProductArn": self.product_arn}
        partition = (self.guardduty_arn or "arn:aws:").split(":")[1] or "aws"
        return {
            "Id": self.guardduty_arn or self.id,
            "ProductArn": f"arn:{partition}:securityhub:{self.region}::product/aws/guardduty",
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "id": self.id,
            "productArn": self.product_arn,
            "guardDutyArn": self.guardduty_arn,
            "accountId": self.account_id,
            "region": self.region,
            "type": self.type,
            "title": self.title,
            "description": self.description,
            "severity": self.severity,
            "severityLabel": self.severity_label,
            "firstSeen": _iso(self.first_seen),
            "lastSeen": _iso(self.last_seen),
            "resourceRole": self.resource_role,
            "resourceType": self.resource_type,
            "workflowStatus": self.workflow_status,
            "recordState": self.record_state,
            "sample": self.sample,
            "archived": self.archived,
            "networkDirection": self.network_direction,
            "inactive": self.inactive_reason(),
            "resources": [r.to_dict() for r in self.resources],
            "principals": [p.to_dict() for p in self.principals],
            "remoteIps": list(self.remote_ips),
            "playbook": self.playbook,
            "kubernetes": self.kubernetes.to_dict() if self.kubernetes else None,
            "apiCall": self.api_call,
            "apiCallCommands": self.api_call_commands(),
        }

    def api_call_commands(self) -> list[str]:
        """`irctl contain secret|key` for a finding whose API call touched a secret or a
        KMS key (GuardDuty has no finding family of its own for them)."""
        from runbooks.analysis.playbooks import api_call_commands

        principal = next((p.arn for p in self.principals if p.arn), None)
        return api_call_commands(
            self.api_call, [r.arn or r.id for r in self.resources if r.kind == "secret"],
            [r.arn or r.id for r in self.resources if r.kind == "kms-key"], principal)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 timestamp (as findings and CloudTrail write them), UTC-aware."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    text = str(value).strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def severity_label(score: float) -> str:
    """GuardDuty's bands: 1-3.9 LOW, 4-6.9 MEDIUM, 7-8.9 HIGH, 9-10 CRITICAL."""
    if score >= 9:
        return "CRITICAL"
    if score >= 7:
        return "HIGH"
    if score >= 4:
        return "MEDIUM"
    if score >= 1:
        return "LOW"
    return "INFORMATIONAL"


def _camel(value: Any) -> Any:
    """GuardDuty's EventBridge detail is camelCase, get-findings PascalCase: unify."""
    if isinstance(value, Mapping):
        return {(k[:1].lower() + k[1:]) if isinstance(k, str) else k: _camel(v)
                for k, v in value.items()}
    if isinstance(value, list):
        return [_camel(v) for v in value]
    return value


def _dig(doc: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(doc, Mapping):
            return None
        doc = doc.get(key)
    return doc


def _dedupe(items: Iterable[Any]) -> tuple[Any, ...]:
    seen: dict[Any, None] = {}
    for item in items:
        if item is not None and item not in seen:
            seen[item] = None
    return tuple(seen)


def _principal_from_key_details(
    details: Mapping[str, Any], account: str, partition: str
) -> Principal | None:
    user_type = str(details.get("userType") or details.get("principalType") or "")
    name = str(details.get("userName") or details.get("principalName") or "")
    key = details.get("accessKeyId") or None
    if not name and not key:
        return None
    iam = f"arn:{partition}:iam::{account}"
    if user_type == "IAMUser":
        return Principal("iam-user", name, f"{iam}:user/{name}", key)
    if user_type == "AssumedRole":
        return Principal("iam-role", name, f"{iam}:role/{name}", key)
    if user_type == "Root":
        return Principal("root", name or "root", f"{iam}:root", key)
    return Principal(user_type.lower() or "unknown", name, None, key)


def _truthy(value: Any) -> bool:
    """GuardDuty writes booleans; ProductFields and some exports write "true"."""
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return value is True


def _additional_info(service: Mapping[str, Any]) -> dict[str, Any]:
    """`service.additionalInfo`: get-findings gives an object (`{"sample": true}`),
    EventBridge a JSON string under `value` (`{"value": "{\"sample\":true}", ...}`)."""
    info = service.get("additionalInfo")
    if not isinstance(info, Mapping):
        return {}
    merged = dict(info)
    if isinstance(info.get("value"), str):
        try:
            decoded = json.loads(info["value"])
        except ValueError:
            decoded = None
        if isinstance(decoded, Mapping):
            merged.update(decoded)
    return merged


def _instance_addresses(instance: Mapping[str, Any]) -> tuple[str, ...]:
    """Every address an instance owns (GuardDuty instanceDetails.networkInterfaces)."""
    found: list[Any] = []
    for eni in instance.get("networkInterfaces") or []:
        if not isinstance(eni, Mapping):
            continue
        found += [eni.get("privateIpAddress"), eni.get("publicIp")]
        found += [p.get("privateIpAddress") for p in eni.get("privateIpAddresses") or []
                  if isinstance(p, Mapping)]
        found += [a for a in eni.get("ipv6Addresses") or [] if isinstance(a, str)]
    return tuple(str(a) for a in _dedupe(found) if a)


def _workload_resources(resource: Mapping[str, Any]) -> list[Resource]:
    """RDS, Lambda, EKS/Kubernetes and ECS/container resources of a GuardDuty finding."""
    out: list[Resource] = []
    rds = resource.get("rdsDbInstanceDetails") or {}
    if rds.get("dbInstanceIdentifier"):
        out.append(Resource("rds-instance", str(rds["dbInstanceIdentifier"]),
                            rds.get("dbInstanceArn")))
    if rds.get("dbClusterIdentifier"):
        out.append(Resource("rds-cluster", str(rds["dbClusterIdentifier"])))
    function = resource.get("lambdaDetails") or {}
    if function.get("functionName") or function.get("functionArn"):
        arn = function.get("functionArn")
        out.append(Resource("lambda-function",
                            str(function.get("functionName") or str(arn).rsplit(":", 1)[-1]),
                            arn))
        role = function.get("role")
        if isinstance(role, str) and ":role/" in role:
            # The execution role `contain function` revokes the sessions of.
            out.append(Resource("execution-role", role.rsplit("/", 1)[-1], role))
    eks = resource.get("eksClusterDetails") or {}
    if eks.get("name"):
        out.append(Resource("eks-cluster", str(eks["name"]), eks.get("arn")))
    workload = _dig(resource, "kubernetesDetails", "kubernetesWorkloadDetails") or {}
    if isinstance(workload, Mapping) and workload.get("name"):
        namespace = workload.get("namespace") or "default"
        kind = str(workload.get("type") or "workload").lower()
        out.append(Resource("kubernetes-workload", f"{namespace}/{kind}/{workload['name']}"))
    ecs = resource.get("ecsClusterDetails") or {}
    if ecs.get("name") or ecs.get("arn"):
        out.append(Resource("ecs-cluster", str(ecs.get("name") or ecs.get("arn")),
                            ecs.get("arn")))
    task = ecs.get("taskDetails") or {}
    if task.get("arn"):
        out.append(Resource("ecs-task", str(task["arn"]).rsplit("/", 1)[-1], task["arn"]))
    container = resource.get("containerDetails") or {}
    if container.get("name") or container.get("id"):
        image = f" ({container['image']})" if container.get("image") else ""
        out.append(Resource("container", f"{container.get('name') or container.get('id')}"
                            f"{image}"))
    return out


def _kubernetes_context(resource: Mapping[str, Any],
                        service: Mapping[str, Any]) -> KubernetesContext | None:
    """The EKS side of a GuardDuty finding (audit-log: eksClusterDetails,
    kubernetesDetails; Runtime: the same, plus instanceDetails of the node and
    service.runtimeDetails.process), or None when it names no EKS cluster."""
    eks = resource.get("eksClusterDetails") or {}
    details = resource.get("kubernetesDetails") or {}
    if not eks and not details:
        return None
    workload = details.get("kubernetesWorkloadDetails") or {}
    user = details.get("kubernetesUserDetails") or {}
    containers = list(workload.get("containers") or [])
    own = resource.get("containerDetails") or {}
    if own:
        containers.append(own)
    kind = str(workload.get("type") or "") or None
    name = str(workload.get("name") or "") or None
    process = _dig(service, "runtimeDetails", "process") or {}
    return KubernetesContext(
        cluster=str(eks.get("name") or "") or None,
        cluster_arn=eks.get("arn"),
        namespace=str(workload.get("namespace") or "") or None,
        workload=name,
        workload_type=kind,
        pod=name if kind and kind.lower() in ("pod", "pods") else None,
        containers=_dedupe(
            f"{c.get('name') or c.get('id')}" + (f" ({c['image']})" if c.get("image") else "")
            for c in containers if isinstance(c, Mapping) and (c.get("name") or c.get("id"))),
        node_instance_id=_dig(resource, "instanceDetails", "instanceId"),
        user=str(user.get("username") or "") or None,
        user_groups=tuple(str(g) for g in user.get("groups") or []),
        process=(str(process.get("executablePath") or process.get("name") or "") or None)
        if isinstance(process, Mapping) else None,
    )


def _is_guardduty(doc: Mapping[str, Any]) -> bool:
    lowered = {k[:1].lower() + k[1:] for k in doc if isinstance(k, str)}
    return {"type", "accountId", "resource", "service"} <= lowered


def _is_asff(doc: Mapping[str, Any]) -> bool:
    return "ProductArn" in doc and "AwsAccountId" in doc and "Resources" in doc


def parse_guardduty(doc: Mapping[str, Any]) -> Finding:
    gd = _camel(doc)
    account = str(gd.get("accountId", ""))
    arn = gd.get("arn")
    partition = str(gd.get("partition") or (arn.split(":")[1] if arn else "aws"))
    region = str(gd.get("region", ""))
    resource = gd.get("resource") or {}
    service = gd.get("service") or {}
    resources: list[Resource] = []
    principals: list[Principal] = []

    instance = resource.get("instanceDetails") or {}
    if instance.get("instanceId"):
        iid = instance["instanceId"]
        resources.append(
            Resource("instance", iid, f"arn:{partition}:ec2:{region}:{account}:instance/{iid}")
        )
        profile_arn = _dig(instance, "iamInstanceProfile", "arn")
        if isinstance(profile_arn, str) and profile_arn.startswith("arn:"):
            resources.append(Resource("instance-profile", profile_arn.rsplit("/", 1)[-1],
                                      profile_arn))
    key_details = resource.get("accessKeyDetails") or {}
    if key_details:
        principal = _principal_from_key_details(key_details, account, partition)
        if principal:
            principals.append(principal)
            if principal.access_key_id and principal.kind == "iam-user":
                resources.append(Resource("access-key", principal.access_key_id))
            if principal.kind == "iam-user":
                resources.append(Resource("iam-user", principal.name, principal.arn))
            elif principal.kind == "iam-role":
                resources.append(Resource("iam-role", principal.name, principal.arn))
    for bucket in resource.get("s3BucketDetails") or []:
        name = bucket.get("name")
        if name:
            resources.append(Resource("s3-bucket", name, bucket.get("arn")))
    resources += _workload_resources(resource)

    action = service.get("action") or {}
    resources += _api_call_resources(action)
    remote_ips: list[str] = []
    for section in action.values():
        if not isinstance(section, Mapping):
            continue
        ip = _dig(section, "remoteIpDetails", "ipAddressV4")
        if ip:
            remote_ips.append(ip)
        for probe in section.get("portProbeDetails") or []:
            ip = _dig(probe, "remoteIpDetails", "ipAddressV4")
            if ip:
                remote_ips.append(ip)
    anonymous = any(
        str(_dig(section, "remoteAccountDetails", "accountId") or "") == "ANONYMOUS_PRINCIPAL"
        or str(_dig(section, "userType") or "") == "AWSAccount"
        for section in action.values()
        if isinstance(section, Mapping)
    ) or str(key_details.get("userType", "")) == "Anonymous"

    severity = float(gd.get("severity") or 0)
    finding_type = gd.get("type")
    role = service.get("resourceRole")
    resource_type = resource.get("resourceType")
    own_ips = _instance_addresses(instance)
    kubernetes = _kubernetes_context(resource, service)
    if kubernetes and kubernetes.pod and kubernetes.namespace:
        resources.append(Resource("kubernetes-pod", f"{kubernetes.namespace}/{kubernetes.pod}"))
    if kubernetes:
        resources += [Resource("container", c) for c in kubernetes.containers]
    if kubernetes and kubernetes.user:
        principals.append(Principal("kubernetes-user", kubernetes.user))
    return Finding(
        source="guardduty",
        id=str(gd.get("id", "")),
        guardduty_arn=arn,
        account_id=account,
        region=region,
        type=finding_type,
        title=str(gd.get("title", "")),
        description=str(gd.get("description", "")),
        severity=severity,
        severity_label=severity_label(severity),
        first_seen=parse_time(service.get("eventFirstSeen") or gd.get("createdAt")),
        last_seen=parse_time(service.get("eventLastSeen") or gd.get("updatedAt")),
        resources=_dedupe(resources),
        principals=_dedupe(principals),
        remote_ips=tuple(ip for ip in _dedupe(remote_ips) if ip not in own_ips),
        playbook=playbook_for(finding_type, role, anonymous_caller=anonymous,
                              resource_type=resource_type,
                              eks_subject=kubernetes.subject if kubernetes else None),
        resource_role=role,
        sample=_truthy(_additional_info(service).get("sample")),
        archived=_truthy(service.get("archived")),
        resource_type=str(resource_type) if resource_type else None,
        own_ips=own_ips,
        kubernetes=kubernetes,
        api_call=str(_dig(action, "awsApiCallAction", "api") or "") or None,
        raw=doc,
    )


def _api_call_resources(action: Mapping[str, Any]) -> list[Resource]:
    """Secrets and KMS keys an API-call finding names (`awsApiCallAction.affectedResources`,
    a map of resource type to ARN): GuardDuty has no finding family for them."""
    affected = _dig(action, "awsApiCallAction", "affectedResources") or {}
    out: list[Resource] = []
    if not isinstance(affected, Mapping):
        return out
    for value in affected.values():
        arn = str(value)
        if ":secretsmanager:" in arn and ":secret:" in arn:
            out.append(Resource("secret", arn.rsplit(":", 1)[-1], arn))
        elif ":kms:" in arn and ":key/" in arn:
            out.append(Resource("kms-key", arn.rsplit("/", 1)[-1], arn))
    return out


def guardduty_type_from_asff(types: Iterable[str]) -> str | None:
    """Recover `Purpose:Resource/Family` from ASFF Types such as
    `TTPs/Command and Control/Backdoor:EC2-C&CActivity.B!DNS`."""
    for entry in types:
        last = entry.rsplit("/", 1)[-1] if "/" in entry else entry
        # Types keep the GuardDuty '/' only when the namespace is absent; try both.
        for candidate in (entry.split("/", 2)[-1] if entry.count("/") >= 2 else entry, last):
            match = _GD_TYPE.match(candidate)
            if match:
                return f"{match.group(1)}:{match.group(2)}/{match.group(3)}"
    return None


_ASFF_KINDS = {
    "AwsEc2Instance": "instance",
    "AwsIamAccessKey": "access-key",
    "AwsIamUser": "iam-user",
    "AwsIamRole": "iam-role",
    "AwsS3Bucket": "s3-bucket",
    "AwsEc2SecurityGroup": "security-group",
    "AwsRdsDbInstance": "rds-instance",
    "AwsRdsDbCluster": "rds-cluster",
    "AwsLambdaFunction": "lambda-function",
    "AwsEksCluster": "eks-cluster",
    "AwsEcsCluster": "ecs-cluster",
    "AwsEcsTask": "ecs-task",
    "Container": "container",
}

# ASFF resource types as GuardDuty's `resource.resourceType` names them (playbook choice).
_ASFF_RESOURCE_TYPES = {
    "AwsEc2Instance": "Instance", "AwsRdsDbInstance": "RDSDBInstance",
    "AwsRdsDbCluster": "RDSDBInstance", "AwsLambdaFunction": "Lambda",
    "AwsEksCluster": "EKSCluster", "AwsEcsCluster": "ECSCluster", "AwsEcsTask": "ECSCluster",
    "Container": "Container",
}


def _asff_resource(res: Mapping[str, Any]) -> Resource:
    rtype = str(res.get("Type", ""))
    rid = str(res.get("Id", ""))
    kind = _ASFF_KINDS.get(rtype, "other")
    arn = rid if rid.startswith("arn:") else None
    short = rid
    if arn:
        tail = arn.split(":", 5)[-1]
        short = tail.rsplit("/", 1)[-1] if "/" in tail else tail
    if kind == "access-key":
        # GuardDuty writes `AWS::IAM::AccessKey:<key id>`.
        short = rid.rsplit(":", 1)[-1]
        arn = None
    if rtype == "AwsS3Bucket" and arn:
        short = arn.split(":::", 1)[-1]
    if rtype in ("AwsRdsDbInstance", "AwsRdsDbCluster") and arn:
        short = arn.rsplit(":", 1)[-1]  # arn:aws:rds:REGION:ACCOUNT:db:NAME
    return Resource(kind if kind != "other" else rtype or "other", short, arn)


def parse_asff(doc: Mapping[str, Any]) -> Finding:
    account = str(doc.get("AwsAccountId", ""))
    product_arn = str(doc.get("ProductArn", ""))
    arn_parts = product_arn.split(":") if product_arn.startswith("arn:") else []
    region = str(doc.get("Region") or (arn_parts[3] if len(arn_parts) > 3 else ""))
    partition = arn_parts[1] if len(arn_parts) > 1 and arn_parts[1] else "aws"
    resources = [_asff_resource(r) for r in doc.get("Resources") or [] if isinstance(r, Mapping)]
    principals: list[Principal] = []
    for res in doc.get("Resources") or []:
        details = _dig(res, "Details", "AwsIamAccessKey")
        if isinstance(details, Mapping):
            key_id = _asff_resource(res).id
            principal = _principal_from_key_details(
                _camel(details) | {"accessKeyId": key_id}, account, partition
            )
            if principal:
                principals.append(principal)
                kind = {"iam-user": "iam-user", "iam-role": "iam-role"}.get(principal.kind)
                if kind:
                    resources.append(Resource(kind, principal.name, principal.arn))
    severity_doc = doc.get("Severity") or {}
    label = str(severity_doc.get("Label") or "").upper()
    if "Product" in severity_doc and "guardduty" in product_arn:
        score = float(severity_doc["Product"])
    elif "Normalized" in severity_doc:
        score = float(severity_doc["Normalized"]) / 10
    else:
        score = {"CRITICAL": 9.0, "HIGH": 7.0, "MEDIUM": 4.0, "LOW": 1.0}.get(label, 0.0)
    label = label or severity_label(score)
    fields = doc.get("ProductFields") or {}
    # Real product ARNs read arn:aws:securityhub:<region>::product/aws/guardduty.
    is_guardduty = product_arn.endswith(":product/aws/guardduty")
    finding_type = guardduty_type_from_asff(doc.get("Types") or [])
    role = fields.get("aws/guardduty/service/resourceRole") if is_guardduty else None
    remote_ips = [
        v for k, v in fields.items() if k.endswith("remoteIpDetails/ipAddressV4")
    ]
    # ASFF Network: Source is the remote side only for inbound traffic; outbound, the
    # source is our own resource and the remote side is the destination. Without a
    # direction neither address can be trusted to be the attacker's.
    network: Mapping[str, Any] = doc["Network"] if isinstance(doc.get("Network"),
                                                               Mapping) else {}
    direction = str(network.get("Direction") or "").upper() or None
    if direction == "IN" and network.get("SourceIpV4"):
        remote_ips.append(network["SourceIpV4"])
    elif direction == "OUT" and network.get("DestinationIpV4"):
        remote_ips.append(network["DestinationIpV4"])
    own_ips = tuple(str(a) for a in _dedupe(
        address for res in doc.get("Resources") or [] if isinstance(res, Mapping)
        for address in (_dig(res, "Details", "AwsEc2Instance", "IpV4Addresses") or [])
        + (_dig(res, "Details", "AwsEc2Instance", "IpV6Addresses") or [])))
    if direction == "OUT" and network.get("SourceIpV4"):
        own_ips += (str(network["SourceIpV4"]),)
    if direction == "IN" and network.get("DestinationIpV4"):
        own_ips += (str(network["DestinationIpV4"]),)
    first_type = next((str(r.get("Type")) for r in doc.get("Resources") or []
                       if isinstance(r, Mapping) and r.get("Type")), None)
    record_state = str(doc.get("RecordState") or "").upper() or None
    generator = str(doc.get("GeneratorId", ""))
    control_id = (
        str(_dig(doc, "Compliance", "SecurityControlId") or "")
        or (generator.rsplit("/", 1)[-1] if generator.startswith("security-control/") else "")
        or None
    )
    finding_id = str(doc.get("Id", ""))
    return Finding(
        source="securityhub",
        id=finding_id,
        product_arn=product_arn,
        guardduty_arn=finding_id if finding_id.startswith("arn:") and is_guardduty else None,
        account_id=account,
        region=region,
        type=finding_type or (f"control/{control_id}" if control_id else None),
        title=str(doc.get("Title", "")),
        description=str(doc.get("Description", "")),
        severity=score,
        severity_label=label,
        first_seen=parse_time(doc.get("FirstObservedAt") or doc.get("CreatedAt")),
        last_seen=parse_time(doc.get("LastObservedAt") or doc.get("UpdatedAt")),
        resources=_dedupe(resources),
        principals=_dedupe(principals),
        remote_ips=tuple(ip for ip in _dedupe(remote_ips) if ip not in own_ips),
        playbook=playbook_for(finding_type, role, control_id=control_id,
                              resource_type=_ASFF_RESOURCE_TYPES.get(first_type or "")),
        workflow_status=(str(_dig(doc, "Workflow", "Status") or doc.get("WorkflowState")
                             or "").upper() or None),
        resource_role=role,
        sample=_truthy(doc.get("Sample"))
        or _truthy(fields.get("aws/guardduty/service/additionalInfo/sample")),
        archived=record_state == "ARCHIVED"
        or _truthy(fields.get("aws/guardduty/service/archived")),
        record_state=record_state,
        resource_type=first_type,
        network_direction=direction,
        own_ips=own_ips,
        raw=doc,
    )


def parse_findings(document: Any, source: str = "input") -> list[Finding]:
    """Every finding in `document`; raises InvalidInput on an unknown shape."""
    raw = _unwrap(document, source)
    if not raw:
        raise InvalidInput(f"{source} holds no findings; expected {ACCEPTED}")
    findings = []
    for index, (kind, doc) in enumerate(raw):
        finding = parse_guardduty(doc) if kind == "guardduty" else parse_asff(doc)
        if not _ACCOUNT_ID.match(finding.account_id):
            raise InvalidInput(
                f"finding {index} in {source} has no valid account id "
                f"({finding.account_id!r}); expected a 12-digit AWS account id"
            )
        if not finding.region:
            raise InvalidInput(f"finding {index} in {source} names no region")
        findings.append(finding)
    return findings


def _unwrap(document: Any, source: str) -> list[tuple[str, Mapping[str, Any]]]:
    if isinstance(document, list):
        out: list[tuple[str, Mapping[str, Any]]] = []
        for item in document:
            out.extend(_unwrap(item, source))
        return out
    if not isinstance(document, Mapping):
        raise InvalidInput(f"{source} is not a JSON object or list; expected {ACCEPTED}")
    if "detail-type" in document or ("detail" in document and "source" in document):
        detail_type = document.get("detail-type")
        event_source = document.get("source")
        detail = document.get("detail")
        if event_source == "aws.guardduty" and isinstance(detail, Mapping):
            if _is_guardduty(detail):
                return [("guardduty", detail)]
        if event_source == "aws.securityhub" and isinstance(detail, Mapping):
            return _unwrap(detail.get("findings") or [], source)
        raise InvalidInput(
            f"{source} is an EventBridge event of type {detail_type!r} from "
            f"{event_source!r}, not a finding; expected {ACCEPTED}"
        )
    for key in ("Findings", "findings"):
        if isinstance(document.get(key), list):
            return _unwrap(document[key], source)
    if _is_asff(document):
        return [("securityhub", document)]
    if _is_guardduty(document):
        return [("guardduty", document)]
    keys = ", ".join(sorted(str(k) for k in document)[:8])
    raise InvalidInput(
        f"unknown finding format in {source} (top-level keys: {keys or 'none'}); "
        f"expected {ACCEPTED}"
    )
