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
"""

from __future__ import annotations

import base64
import fnmatch
import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote

from moto.core.responses import ActionResult
from moto.ssm.responses import SimpleSystemManagerResponse

from rehearsal.emulator._util import reroute, service_error

SSM_AGENT_POLICY = "AmazonSSMManagedInstanceCore"
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
            "PlatformType": "Linux",
            "PlatformName": "Amazon Linux",
            "PlatformVersion": "2023",
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
        return super().send_command()


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
