"""SSM: DescribeInstanceInformation, and SendCommand only to managed instances.

moto 5.2 has no DescribeInstanceInformation and runs a command on any instance id. In
AWS an instance is managed (listed, and a valid SendCommand target) once its SSM Agent
has registered, which needs the instance running with an instance profile whose role
lets the agent talk to SSM (AWS's AmazonSSMManagedInstanceCore policy). The emulator
models exactly that: a running moto instance whose associated instance profile has a
role with AmazonSSMManagedInstanceCore attached is `Online`; SendCommand naming any
other instance fails with InvalidInstanceId, as in AWS.

Also fixes moto sending a command to every instance when it names instance ids only.

Added by the analysis engineer (issue 5, `irctl eradicate patch`); hook `install()` into
`rehearsal.emulator.install()` with the other services.

Memory capture (issue 20, `ec2.capture-memory`): moto's Run Command runs nothing. A
SendCommand of a *memory document* (one declaring the parameters `MEMORY_PARAMETERS`,
as `components/memory_capture.py` provisions it) on a managed instance acts as the SSM
Agent running it would: it reads the tool named by the document's default for the
instance's platform (`ToolUriLinux` / `ToolUriWindows`) and checks its pinned SHA-256
(`ToolSha256Linux` / `ToolSha256Windows`), then writes a deterministic image and its
`.sha256` to `s3://Bucket/ImageKey` with SSE-KMS, each call authorised as IAM would
authorise it for the credentials passed in the parameters (an assumed role: the role's
policies AND the session policy must allow it; moto itself ignores session policies), and
reports `ir-memory-image key=... sha256=... bytes=...` on stdout. Any refusal ends the
invocation `Failed` with the error on stderr, as the agent's script would. A rehearsal
marks an instance whose capture never finishes with the tag `HANG_TAG` (read only here):
its invocation stays `InProgress` until CancelCommand (also added) cancels it. Windows
is reported for instances whose AMI platform is `windows`.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote

from moto.core.responses import ActionResult
from moto.ssm.responses import SimpleSystemManagerResponse

from rehearsal.emulator._util import reroute, service_error

SSM_AGENT_POLICY = "AmazonSSMManagedInstanceCore"
MEMORY_PARAMETERS = frozenset({"Bucket", "ImageKey", "KmsKeyId", "AccessKeyId",
                               "SecretAccessKey", "SessionToken"})
HANG_TAG = "ir-rehearsal:memory-capture"
"""Value `hang`: the emulated capture of this instance never finishes."""
IMAGE_BYTES = 64 * 1024
AGENT_ACTION = "ssm:updateinstanceinformation"


def _allows_agent(documents: Iterable[Any]) -> bool:
    for document in documents:
        if isinstance(document, str):
            try:
                document = json.loads(unquote(document))
            except ValueError:
                continue
        statements = document.get("Statement", []) if isinstance(document, dict) else []
        for statement in statements if isinstance(statements, list) else [statements]:
            if statement.get("Effect") != "Allow":
                continue
            actions = statement.get("Action", [])
            for action in [actions] if isinstance(actions, str) else actions:
                if fnmatch.fnmatch(AGENT_ACTION, str(action).lower()):
                    return True
    return False


def _role_can_register(role: Any) -> bool:
    names = {arn.rsplit("/", 1)[-1] for arn in role.managed_policies}
    if SSM_AGENT_POLICY in names:
        return True
    documents = [
        p.default_version.document if hasattr(p, "default_version") else p.document
        for p in role.managed_policies.values()
    ]
    documents += list(role.policies.values())
    return _allows_agent(documents)


def _managed_instances(account_id: str, region: str) -> dict[str, dict[str, Any]]:
    """InstanceInformation of every instance whose SSM Agent could register."""
    from moto.ec2.models import ec2_backends
    from moto.iam.models import iam_backends

    ec2 = ec2_backends[account_id][region]
    iam = iam_backends[account_id]["global"]
    managed: dict[str, dict[str, Any]] = {}
    for instance_id, association in ec2.iam_instance_profile_associations.items():
        instance = association.instance
        if instance.state != "running" or association.state != "associated":
            continue
        profile = next((p for p in iam.instance_profiles.values()
                        if p.name == association.iam_instance_profile.name), None)
        if profile is None:  # deleted since: the agent cannot register
            continue
        if not any(_role_can_register(role) for role in profile.roles):
            continue
        managed[instance_id] = {
            "InstanceId": instance_id,
            "PingStatus": "Online",
            "LastPingDateTime": instance.launch_time,
            "AgentVersion": "3.3.1142.0",
            "IsLatestVersion": True,
            **({"PlatformType": "Windows", "PlatformName": "Microsoft Windows Server 2022",
                "PlatformVersion": "10.0.20348"}
               if getattr(instance, "platform", None) == "windows" else
               {"PlatformType": "Linux", "PlatformName": "Amazon Linux",
                "PlatformVersion": "2023"}),
            "ResourceType": "EC2Instance",
            "IPAddress": instance.private_ip,
            "ComputerName": f"ip-{str(instance.private_ip).replace('.', '-')}.ec2.internal",
            "AssociationStatus": "Success",
            "SourceId": instance_id,
            "SourceType": "AWS::EC2::Instance",
        }
    return managed


class EmulatedSSMResponse(SimpleSystemManagerResponse):
    def describe_instance_information(self) -> ActionResult:
        managed = _managed_instances(self.current_account, self.region)
        wanted: set[str] | None = None
        pings: set[str] | None = None
        filters = (self._get_param("Filters") or []) + [
            {"Key": f.get("key"), "Values": f.get("valueSet")}
            for f in self._get_param("InstanceInformationFilterList") or []
        ]
        for item in filters:
            key, values = item.get("Key"), set(item.get("Values") or [])
            if key in ("InstanceIds", "InstanceIds".lower()):
                wanted = values if wanted is None else wanted & values
            elif key == "PingStatus":
                pings = values
            else:
                raise service_error(
                    "InvalidInstanceInformationFilterValue", f"Unsupported filter key {key}"
                )
        rows = [
            info
            for iid, info in sorted(managed.items())
            if (wanted is None or iid in wanted) and (pings is None or info["PingStatus"] in pings)
        ]
        limit = int(self._get_param("MaxResults") or 50)
        if not 5 <= limit <= 50:
            raise service_error("ValidationException", "MaxResults must be between 5 and 50")
        offset = 0
        token = self._get_param("NextToken")
        if token:
            try:
                offset = int(json.loads(base64.b64decode(token))["offset"])
            except (ValueError, KeyError, TypeError) as err:
                raise service_error("InvalidNextToken", "The token is not valid") from err
        result: dict[str, Any] = {"InstanceInformationList": rows[offset : offset + limit]}
        if offset + limit < len(rows):
            result["NextToken"] = base64.b64encode(
                json.dumps({"offset": offset + limit}).encode()
            ).decode()
        return ActionResult(result)

    def send_command(self) -> ActionResult:
        requested = self._get_param("InstanceIds") or []
        managed = _managed_instances(self.current_account, self.region)
        unmanaged = [iid for iid in requested if iid not in managed]
        if unmanaged:
            raise service_error(
                "InvalidInstanceId",
                f"Instances {unmanaged} not in a valid state for account {self.current_account}",
            )
        result = super().send_command()
        document = _memory_document(self.ssm_backend, self._get_param("DocumentName"))
        if document is not None:
            command_id = result.result["Command"]["CommandId"]  # type: ignore[index]
            command = self.ssm_backend.get_command_by_id(command_id)
            for invocation in command.invocations:
                iid = invocation["InstanceId"]
                _run_memory_capture(self.current_account, self.region, document,
                                    command.parameters, managed[iid], invocation)
        return result

    def cancel_command(self) -> ActionResult:
        command = self.ssm_backend.get_command_by_id(self._get_param("CommandId"))
        wanted = set(self._get_param("InstanceIds") or [])
        for invocation in command.invocations:
            if (not wanted or invocation["InstanceId"] in wanted) and \
                    invocation["Status"] in ("Pending", "InProgress", "Delayed"):
                invocation.update(Status="Cancelled", StatusDetails="Cancelled",
                                  ResponseCode=-1)
        return ActionResult({})


def _memory_document(backend: Any, name: str | None) -> dict[str, Any] | None:
    """The content of document `name` when it is a memory-capture document."""
    documents = backend._documents.get(name or "")
    if documents is None:
        return None
    latest = documents.get_default_version()
    try:
        content = json.loads(latest.content)
    except ValueError:
        import yaml

        content = yaml.safe_load(latest.content)
    parameters = content.get("parameters", {}) if isinstance(content, dict) else {}
    return content if MEMORY_PARAMETERS <= set(parameters) else None


def _allowed(account_id: str, access_key_id: str, session_token: str, action: str,
             resource: str) -> str | None:
    """None when IAM would allow `action` on `resource` for these credentials; else why
    not. An assumed role's session: the role's policies and the session policy must both
    allow it (moto's own enforcement ignores session policies)."""
    from moto.iam.access_control import IAMPolicy, PermissionResult
    from moto.iam.models import iam_backends
    from moto.sts.models import sts_backends

    assumed = next((r for r in sts_backends[account_id]["aws"].assumed_roles
                    if r.access_key_id == access_key_id), None)
    if assumed is None or assumed.session_token != session_token:
        return "InvalidAccessKeyId: the credentials passed are not a session of a role"
    from moto.core.utils import utcnow

    if assumed.expiration <= utcnow():
        return "ExpiredToken: the credentials passed have expired"
    iam = iam_backends[account_id]["aws"]
    role = iam.get_role_by_arn(assumed.role_arn)
    documents: list[Any] = [
        p.default_version.document if hasattr(p, "default_version")
        else getattr(p, "document", "{}") for p in role.managed_policies.values()]
    documents += list(role.policies.values())
    verdicts = [IAMPolicy(d if isinstance(d, str) else json.dumps(d)).is_action_permitted(
        action, resource) for d in documents]
    if PermissionResult.DENIED in verdicts or PermissionResult.PERMITTED not in verdicts:
        return f"AccessDenied: {assumed.role_arn} may not {action} on {resource}"
    if assumed.policy:
        session = IAMPolicy(assumed.policy).is_action_permitted(action, resource)
        if session != PermissionResult.PERMITTED:
            return (f"AccessDenied: the session policy does not allow {action} on "
                    f"{resource}")
    return None


def _run_memory_capture(account_id: str, region: str, document: dict[str, Any],
                        parameters: dict[str, list[str]], info: dict[str, Any],
                        invocation: dict[str, Any]) -> None:
    """What the SSM Agent running the memory document on the instance would do."""
    from moto.ec2.models import ec2_backends
    from moto.s3.models import s3_backends

    iid = invocation["InstanceId"]
    platform = info["PlatformType"]
    invocation["PluginName"] = ("aws:runPowerShellScript" if platform == "Windows"
                                else "aws:runShellScript")
    instance = ec2_backends[account_id][region].get_instance(iid)
    tags = {t["key"]: t["value"] for t in instance.get_tags()}
    if tags.get(HANG_TAG) == "hang":
        invocation.update(Status="InProgress", StatusDetails="InProgress", ResponseCode=-1,
                          StandardOutputContent="", StandardErrorContent="")
        return
    defaults = {k: str(v.get("default", "")) for k, v in document["parameters"].items()}
    given = {k: str((v or [""])[0]) for k, v in parameters.items()}
    value = {**defaults, **given}
    s3 = s3_backends[account_id]["aws"]

    def fail(message: str) -> None:
        invocation.update(Status="Failed", StatusDetails="Failed", ResponseCode=1,
                          StandardOutputContent="", StandardErrorContent=message)

    creds = (value["AccessKeyId"], value["SessionToken"])
    tool_uri, tool_sha = value.get(f"ToolUri{platform}", ""), value.get(
        f"ToolSha256{platform}", "")
    if not tool_uri.startswith("s3://"):
        return fail(f"no tool configured for {platform} (ToolUri{platform})")
    tool_bucket, _, tool_key = tool_uri.removeprefix("s3://").partition("/")
    refused = _allowed(account_id, creds[0], creds[1], "s3:GetObject",
                       f"arn:aws:s3:::{tool_bucket}/{tool_key}")
    if refused:
        return fail(f"fetching {tool_uri}: {refused}")
    try:
        tool = s3.get_object(tool_bucket, tool_key)
    except Exception as err:  # noqa: BLE001 - the agent's script reports any fetch failure
        return fail(f"fetching {tool_uri}: {type(err).__name__}")
    if tool is None or hashlib.sha256(tool.value).hexdigest() != tool_sha:
        return fail(f"{tool_uri}: SHA-256 does not match the pinned {tool_sha}; not run")
    bucket, key = value["Bucket"], value["ImageKey"]
    image = (f"EMULATED {platform} MEMORY IMAGE {iid}\n".encode()
             + hashlib.sha256(iid.encode()).digest() * (IMAGE_BYTES // 32))
    digest = hashlib.sha256(image).hexdigest()
    for object_key in (key, f"{key}.sha256"):
        refused = _allowed(account_id, creds[0], creds[1], "s3:PutObject",
                           f"arn:aws:s3:::{bucket}/{object_key}")
        if refused:
            return fail(f"uploading s3://{bucket}/{object_key}: {refused}")
    s3.put_object(bucket, key, image, encryption="aws:kms", kms_key_id=value["KmsKeyId"])
    s3.put_object(bucket, f"{key}.sha256", f"{digest}  {key.rsplit('/', 1)[-1]}\n".encode(),
                  encryption="aws:kms", kms_key_id=value["KmsKeyId"])
    invocation.update(
        Status="Success", StatusDetails="Success", ResponseCode=0, StandardErrorContent="",
        StandardOutputContent=f"ir-memory-image key={key} sha256={digest} "
                              f"bytes={len(image)}\n")


def install() -> None:
    import moto.ssm.urls as urls
    from moto.ssm import models

    reroute(urls, SimpleSystemManagerResponse, EmulatedSSMResponse)
    # moto resolves an empty Targets list to *every* instance of the region, so a
    # command sent to one instance id lands on all of them; AWS targets only the ids.
    resolve = models.Command._get_instance_ids_from_targets
    if not getattr(resolve, "_ir_emulator", False):
        def only_when_targeted(self: Any) -> list[str]:
            return resolve(self) if self.targets else []

        only_when_targeted._ir_emulator = True  # type: ignore[attr-defined]
        models.Command._get_instance_ids_from_targets = (  # type: ignore[method-assign]
            only_when_targeted)
