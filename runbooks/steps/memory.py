"""`ec2.capture-memory`: the instance's memory, through SSM Run Command, as evidence.

Order (docs/memory-capture.md): the network cut comes first and capture never delays it.
The step runs after `ec2.isolate`; for the capture only it attaches the VPC's
**forensic** group next to the isolation group on the instance's primary ENI (its egress
is HTTPS to the VPC endpoints only, so the SSM Agent and the upload to S3 work with no
route to the internet), sends the stack's command document (AVML on Linux, WinPmem on
Windows: the tool fetched from S3 and checked against its pinned SHA-256, the image
streamed to `s3://<evidence>/cases/<case>/memory/<instance>/` with SSE-KMS, its SHA-256
printed), waits at most the manifest's `memoryCapture.timeoutSeconds`, confirms the
object with HeadObject, and removes the forensic group again, whatever the outcome.

The upload credentials come from the stack's upload role, assumed with a session policy
that allows only PutObject (multipart included) under that one prefix, for a short
time; they are passed to the document and never recorded, printed or returned.

The forensic group's attachment is the recorded change (before: the isolation group
alone; after, while the capture runs: isolation + forensic): a run killed mid-capture
leaves an `applying` record that `release`, `verify case` and `case show` see, and
release (or the runner's rollback) puts the ENI back to exactly its isolation group.

An instance that cannot be captured is reported in the plan, not a containment failure:
SSM does not manage it, its platform is not one the document covers, or its VPC's
forensic group has no endpoint egress configured (or egress beyond HTTPS to endpoints).
A capture that fails or times out is recorded (`captured: false` with the command's
status) and never rolls the isolation back. A re-run does not capture twice: an image
of the instance already in the case's prefix (with its `.sha256`) plans nothing.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from typing import Annotated, Any

from botocore.exceptions import ClientError
from pydantic import Field

from runbooks.core.context import Context
from runbooks.core.errors import PreconditionFailed
from runbooks.core.ids import INSTANCE_ID, require_instance_id
from runbooks.core.scopes import (
    EVIDENCE_BUCKET,
    EVIDENCE_OBJECTS,
    MEMORY_CASE_INSTANCES,
    MEMORY_DOCUMENT,
    MEMORY_UPLOAD_ROLE,
)
from runbooks.core.step import Change, Check, StepParams, checked_by, register
from runbooks.steps.ec2 import InstanceStep, quarantine_groups
from runbooks.steps.ssm import managed_instances

PLATFORMS = {"Linux": "AVML", "Windows": "WinPmem"}
"""Platforms the stack's document covers, and the tool it runs on each."""
TERMINAL = frozenset({"Success", "Failed", "Cancelled", "TimedOut", "DeliveryTimedOut",
                      "Undeliverable", "Terminated", "InvalidPlatform", "AccessDenied"})
_RESULT = re.compile(r"^ir-memory-image key=(?P<key>\S+) sha256=(?P<sha256>[0-9a-f]{64}) "
                     r"bytes=(?P<bytes>[0-9]+)\s*$", re.MULTILINE)
"""The line the document prints when the image is uploaded."""
ENDPOINT_EGRESS = "tcp:443-443"


def memory_prefix(case: str, instance_id: str) -> str:
    return f"cases/{case}/memory/{instance_id}/"


def session_policy(partition: str, bucket: str, prefix: str) -> dict[str, Any]:
    """What the upload credentials may do: put (multipart included) under `prefix` of
    the evidence bucket only. Reading the capture tool and using the evidence key are
    left to the role's own policy (the tool objects, the stack's keys): a session policy
    only narrows the role's, and the bucket's default key differs by region."""
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "PutTheImageUnderTheCasePrefixOnly", "Effect": "Allow",
         "Action": ["s3:PutObject", "s3:AbortMultipartUpload",
                    "s3:ListMultipartUploadParts"],
         "Resource": f"arn:{partition}:s3:::{bucket}/{prefix}*"},
        {"Sid": "ReadTheCaptureTool", "Effect": "Allow", "Action": "s3:GetObject",
         "Resource": f"arn:{partition}:s3:::*/*"},
        {"Sid": "EncryptWithTheStackKeys", "Effect": "Allow",
         "Action": ["kms:GenerateDataKey", "kms:Decrypt"], "Resource": "*"}]}


def _check_timeout(value: Any) -> None:
    from runbooks.core.errors import InvalidInput

    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 3600:
        raise InvalidInput(f"timeout_seconds={value!r}: give 1 to 3600 seconds (default: "
                           "the manifest's memoryCapture.timeoutSeconds)")


class CaptureMemoryParams(StepParams):
    instance_id: Annotated[str, checked_by(require_instance_id),
                           Field(description="i- and 8 or 17 hex digits")]
    timeout_seconds: Annotated[int | None, checked_by(
        lambda v: v is None or _check_timeout(v)),
        Field(description="1-3600; default the manifest's memoryCapture.timeoutSeconds")] = None
    poll_seconds: Annotated[float, Field(gt=0, le=60,
                                         description="seconds between polls")] = 5.0


def _code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


def forensic_egress_problem(group: Mapping[str, Any] | None) -> str | None:
    """Why the forensic group cannot carry a capture (None when it can): it must have
    HTTPS egress to VPC-endpoint security groups / prefix lists, and nothing else out (a
    forensic group open to the internet would undo the isolation while attached)."""
    if group is None:
        return "the VPC's forensic group does not exist"
    endpoint, other = False, []
    for permission in group.get("IpPermissionsEgress", []):
        protocol = str(permission.get("IpProtocol"))
        ports = f"{protocol}:{permission.get('FromPort')}-{permission.get('ToPort')}"
        peers = ([p.get("GroupId") for p in permission.get("UserIdGroupPairs", [])]
                 + [p.get("PrefixListId") for p in permission.get("PrefixListIds", [])])
        cidrs = ([r.get("CidrIp") for r in permission.get("IpRanges", [])]
                 + [r.get("CidrIpv6") for r in permission.get("Ipv6Ranges", [])])
        if ports == ENDPOINT_EGRESS and peers:
            endpoint = True
        if cidrs or ports != ENDPOINT_EGRESS:
            other.append(f"{'all traffic' if protocol == '-1' else ports} "
                         f"{','.join(map(str, cidrs + peers))}")
    if other:
        return (f"the VPC's forensic group {group.get('GroupId')} allows egress beyond HTTPS "
                f"to VPC endpoints ({'; '.join(other)}): attaching it would open the "
                "isolated instance; restore it with `pulumi up`")
    if not endpoint:
        return (f"the VPC's forensic group {group.get('GroupId')} has no endpoint egress "
                "configured: set ir:forensicAccess.endpointSecurityGroupIds (the ssm, "
                "ssmmessages, ec2messages interface endpoints' groups) and "
                "endpointPrefixListIds (the S3 gateway endpoint's prefix list) for the VPC "
                "and `pulumi up`")
    return None


@register
class CaptureMemory(InstanceStep):
    name = "ec2.capture-memory"
    description = ("Capture memory through SSM Run Command to the evidence bucket (after "
                   "isolation; forensic group attached for the capture only)")
    Params = CaptureMemoryParams  # type: ignore[assignment]  # instance_id and more
    actions = frozenset({
        "ec2:DescribeInstances", "ec2:DescribeSecurityGroups",
        "ec2:DescribeNetworkInterfaces", "ec2:ModifyNetworkInterfaceAttribute",
        "ssm:DescribeInstanceInformation", "ssm:SendCommand", "ssm:GetCommandInvocation",
        "ssm:CancelCommand", "sts:AssumeRole",
        "s3:ListBucket",  # is an image of the instance already in the case's prefix?
        "s3:GetObject",  # HeadObject of the image and its .sha256 (and `ir:case` captures)
        "s3:GetObjectVersion",  # verify: the recorded version of the image
    })
    scopes = {"ssm:SendCommand": (MEMORY_DOCUMENT, MEMORY_CASE_INSTANCES),
              "sts:AssumeRole": MEMORY_UPLOAD_ROLE,
              "s3:ListBucket": EVIDENCE_BUCKET, "s3:GetObject": EVIDENCE_OBJECTS,
              "s3:GetObjectVersion": EVIDENCE_OBJECTS}
    multi_call = True  # a failed apply may have left the forensic group attached

    @classmethod
    def prefetch(cls, ctx: Context) -> None:
        if ctx.manifest.memory_capture is not None:
            _managed(ctx, "")

    # -- plan -----------------------------------------------------------------------

    def plan(self) -> list[Change]:
        capture = self.ctx.manifest.memory_capture
        if capture is None:
            return []  # the stack does not provision memory capture (docs/memory-capture.md)
        described = self.instance()
        iid = self.instance_id
        if self._held(self.ctx.case_id) or (
                (other := self.contained_by()) is not None and self._held(other)):
            return []  # captured once already: never twice
        primary = next((e for e in described.get("NetworkInterfaces", [])
                        if e.get("Attachment", {}).get("DeviceIndex") == 0), None)
        if primary is None:
            return []  # no network interface: nothing to reach it by
        vpc = str(primary.get("VpcId") or described.get("VpcId"))
        groups = quarantine_groups(self.ctx, vpc, iid)
        info = _managed(self.ctx, iid).get(iid)
        described_groups: dict[str, dict[str, Any]] = self.ctx.cache.get(
            "ec2.quarantine-groups", dict)
        forensic = described_groups.get(groups.forensic_security_group_id)
        reason = None
        if info is None:
            reason = (f"SSM does not manage {iid} (no registered SSM Agent in "
                      f"{self.ctx.region}); capture it by hand or give such instances an "
                      "instance profile with AmazonSSMManagedInstanceCore")
        elif info.get("PingStatus") != "Online":
            reason = f"the SSM Agent of {iid} is {info.get('PingStatus')}, not Online"
        elif info.get("PlatformType") not in PLATFORMS:
            reason = (f"platform {info.get('PlatformType')} is not one the capture document "
                      f"covers ({', '.join(sorted(PLATFORMS))})")
        else:
            reason = forensic_egress_problem(forensic)
        if reason:
            return [Change(self.name, iid, f"Memory NOT captured: {reason}",
                           after={"skipped": reason})]
        platform = str(info["PlatformType"]) if info else ""
        eni = str(primary["NetworkInterfaceId"])
        isolation, forensic_id = (groups.isolation_security_group_id,
                                  groups.forensic_security_group_id)
        prefix = memory_prefix(self.ctx.case_id, iid)
        timeout = self._timeout()
        return [Change(
            self.name, iid,
            f"Capture memory ({PLATFORMS[platform]} on {platform}, document "
            f"{capture.document_name}) to s3://{self.ctx.manifest.evidence_bucket}/{prefix} "
            f"within {timeout} s, with {forensic_id} next to {isolation} on {eni} for the "
            "capture only",
            before={"eni": eni, "groups": [isolation]},
            after={"eni": eni, "groups": sorted([isolation, forensic_id]),
                   "isolation": isolation, "forensic": forensic_id, "platform": platform,
                   "document": capture.document_name, "prefix": prefix,
                   "timeoutSeconds": timeout})]

    def _timeout(self) -> int:
        given = self.params.get("timeout_seconds")
        capture = self.ctx.manifest.memory_capture
        return int(given) if given is not None else int(capture.timeout_seconds
                                                        if capture else 900)

    def _held(self, case: str) -> bool:
        """An image of this instance (with its .sha256) is in `case`'s memory prefix."""
        try:
            listed = self.ctx.evidence_client().list_objects_v2(
                Bucket=self.ctx.manifest.evidence_bucket,
                Prefix=memory_prefix(case, self.instance_id),
                ExpectedBucketOwner=self.ctx.account_id)
        except ClientError as err:
            if _code(err) == "NoSuchBucket":
                return False
            raise
        keys = {o["Key"] for o in listed.get("Contents", [])}
        return any(k.endswith(".sha256") and k.removesuffix(".sha256") in keys for k in keys)

    # -- apply ----------------------------------------------------------------------

    def apply(self, change: Change) -> Mapping[str, Any]:
        if "skipped" in change.after:
            return {"captured": False, "reason": change.after["skipped"]}
        eni, isolation = str(change.after["eni"]), str(change.after["isolation"])
        ec2 = self.ctx.client("ec2")
        live = self._groups(eni)
        if live != [isolation]:
            # Never attach the forensic group to an ENI that is not isolated (isolation
            # failed, or someone changed it since): it would not be "next to isolation".
            raise PreconditionFailed(
                f"{eni} is in {','.join(live) or 'no group'}, not the isolation group "
                f"{isolation} alone; memory is captured only after `ec2.isolate` (re-run "
                "`irctl contain instance` to isolate it first)")
        try:
            ec2.modify_network_interface_attribute(NetworkInterfaceId=eni,
                                                   Groups=list(change.after["groups"]))
            return self._capture(change)
        except ClientError as err:
            # Evidence failed, not containment: recorded with its code and request id,
            # and never a reason to undo the isolation before it.
            operation = getattr(err, "operation_name", "a call")
            request = err.response.get("ResponseMetadata", {}).get("RequestId", "")
            return {"captured": False, "status": "Error",
                    "reason": f"{operation} failed: {_code(err)}"
                              + (f" (request id {request})" if request else "")}
        finally:
            # success, failure or timeout: the ENI goes back to its isolation group alone
            ec2.modify_network_interface_attribute(NetworkInterfaceId=eni, Groups=[isolation])

    def _capture(self, change: Change) -> dict[str, Any]:
        capture = self.ctx.manifest.memory_capture
        assert capture is not None  # planned only with it
        bucket, prefix = self.ctx.manifest.evidence_bucket, str(change.after["prefix"])
        timeout = int(change.after["timeoutSeconds"])
        partition = capture.upload_role_arn.split(":")[1]
        policy = session_policy(partition, bucket, prefix)
        credentials = self.ctx.client("sts").assume_role(
            RoleArn=capture.upload_role_arn,
            RoleSessionName=f"irctl-memory-{self.instance_id}"[:64],
            Policy=json.dumps(policy, separators=(",", ":")),
            DurationSeconds=min(3600, max(900, timeout + 300)))["Credentials"]
        ssm = self.ctx.client("ssm")
        image_key = f"{prefix}{self.ctx.now().strftime('%Y%m%dT%H%M%SZ')}.lime"
        command_id = ssm.send_command(
            InstanceIds=[self.instance_id], DocumentName=capture.document_name,
            Comment=f"irctl memory capture, case {self.ctx.case_id}"[:100],
            TimeoutSeconds=max(30, min(timeout, 2592000)),
            Parameters={
                "Bucket": [bucket], "ImageKey": [image_key],
                "KmsKeyId": [self.ctx.evidence_encryption().get("SSEKMSKeyId", "")],
                "ExecutionTimeout": [str(timeout)],
                # never recorded: the result below holds none of these
                "AccessKeyId": [credentials["AccessKeyId"]],
                "SecretAccessKey": [credentials["SecretAccessKey"]],
                "SessionToken": [credentials["SessionToken"]],
            })["Command"]["CommandId"]
        del credentials
        invocation = self._wait(ssm, command_id, timeout)
        status = str(invocation.get("Status", "TimedOut"))
        found = _RESULT.search(str(invocation.get("StandardOutputContent", "")))
        base = {"commandId": command_id, "status": status,
                "s3Uri": f"s3://{bucket}/{image_key}"}
        if status != "Success" or found is None or found["key"] != image_key:
            error = str(invocation.get("StandardErrorContent", "")).strip()[-300:]
            return {**base, "captured": False,
                    "reason": f"command {command_id} ended {status}"
                              + (f": {error}" if error else "")
                              + ("" if status != "Success" else
                                 ": no image line in its output")}
        try:
            head = self.ctx.evidence_client().head_object(
                Bucket=bucket, Key=image_key, ExpectedBucketOwner=self.ctx.account_id)
        except ClientError as err:
            if _code(err) not in ("404", "NoSuchKey", "NotFound"):
                raise
            return {**base, "captured": False,
                    "reason": f"command {command_id} reported an upload, but "
                              f"s3://{bucket}/{image_key} is not there"}
        if int(head["ContentLength"]) != int(found["bytes"]):
            return {**base, "captured": False,
                    "reason": f"the image is {head['ContentLength']} bytes, the document "
                              f"reported {found['bytes']}"}
        return {**base, "captured": True, "key": image_key, "sha256": found["sha256"],
                "bytes": int(found["bytes"]), "versionId": head.get("VersionId"),
                "etag": head.get("ETag")}

    def _wait(self, ssm: Any, command_id: str, timeout: int) -> dict[str, Any]:
        """The invocation once it ended, or after `timeout` seconds (then cancelled), or
        sooner when the run has a time budget (the automation Lambda): enough is kept to
        cancel and to take the forensic group off before the budget ends."""
        left = self.ctx.seconds_left()
        if left is not None:
            timeout = int(min(timeout, max(0.0, left - 3 * self.ctx.sessions.hung_call_seconds()
                                           - 5)))
        deadline = time.monotonic() + timeout
        poll = float(self.params.get("poll_seconds", 5.0))
        invocation: dict[str, Any] = {}
        while True:
            try:
                invocation = ssm.get_command_invocation(CommandId=command_id,
                                                        InstanceId=self.instance_id)
            except ClientError as err:
                if _code(err) != "InvocationDoesNotExist":  # not delivered yet
                    raise
            if invocation.get("Status") in TERMINAL:
                return invocation
            if time.monotonic() + poll > deadline:
                break
            time.sleep(poll)
        try:
            ssm.cancel_command(CommandId=command_id, InstanceIds=[self.instance_id])
        except ClientError as err:
            if _code(err) not in ("InvalidCommandId", "InvalidInstanceId"):
                raise
        return {**invocation, "Status": "TimedOut",
                "StandardErrorContent": f"no result within {timeout} s; command cancelled"}

    # -- rollback, release, verify ------------------------------------------------------

    def _groups(self, eni: str) -> list[str]:
        found = self.ctx.client("ec2").describe_network_interfaces(
            NetworkInterfaceIds=[eni])["NetworkInterfaces"]
        return sorted(g["GroupId"] for g in found[0].get("Groups", []))

    def rollback(self, change: Change, result: Mapping[str, Any]) -> None:
        if "skipped" in change.after:
            return  # nothing was changed
        self.ctx.client("ec2").modify_network_interface_attribute(
            NetworkInterfaceId=str(change.before["eni"]), Groups=list(change.before["groups"]))

    @classmethod
    def subject(cls, change: Change) -> str:
        return f"memory:{change.after.get('eni', change.target)}"

    def current(self, change: Change) -> Mapping[str, Any] | None:
        if "skipped" in change.after:
            return {}
        try:
            return {"groups": self._groups(str(change.after["eni"]))}
        except ClientError as err:
            if _code(err) != "InvalidNetworkInterfaceID.NotFound":
                raise
            return None

    def verify(self, change: Change, result: Mapping[str, Any]) -> Check:
        """The ENI is not left in the forensic group, and a captured image is still the
        recorded version with the recorded size and SHA-256 (its .sha256)."""
        if "skipped" in change.after:
            return Check("containment", change.target, "memory image", "not captured",
                         f"not captured: {change.after['skipped']}", True)
        forensic = str(change.after["forensic"])
        try:
            groups = self._groups(str(change.after["eni"]))
        except ClientError as err:
            if _code(err) != "InvalidNetworkInterfaceID.NotFound":
                raise
            groups = []
        problems = [f"{change.after['eni']} still in the forensic group {forensic}"] \
            if forensic in groups else []
        if result.get("captured"):
            problems += self._image_problems(result)
            expected = f"image sha256 {result.get('sha256')}; ENI without {forensic}"
        else:
            expected = f"ENI without {forensic}"
        actual = "; ".join(problems) or (
            expected if result.get("captured") or not result
            else f"{expected} (memory not captured: {result.get('reason')})")
        return Check("containment", change.target, "memory capture", expected, actual,
                     not problems)

    def _image_problems(self, result: Mapping[str, Any]) -> list[str]:
        s3, bucket, key = (self.ctx.evidence_client(), self.ctx.manifest.evidence_bucket,
                           str(result["key"]))
        try:
            version = {"VersionId": result["versionId"]} if result.get("versionId") else {}
            head = s3.head_object(Bucket=bucket, Key=key, **version)
            digest = s3.get_object(Bucket=bucket, Key=f"{key}.sha256")["Body"].read()
        except ClientError as err:
            if _code(err) not in ("404", "NoSuchKey", "NotFound", "NoSuchVersion"):
                raise
            return [f"s3://{bucket}/{key} (or its .sha256) is gone"]
        problems = []
        if int(head["ContentLength"]) != int(result["bytes"]):
            problems.append(f"image is {head['ContentLength']} bytes, recorded "
                            f"{result['bytes']}")
        if digest.decode(errors="replace").split()[0:1] != [result["sha256"]]:
            problems.append(f"{key}.sha256 does not hold the recorded SHA-256")
        return problems


def _managed(ctx: Context, instance_id: str) -> dict[str, dict[str, Any]]:
    """SSM's InstanceInformation of the run's instance targets (one batched read)."""
    targets = sorted({t for t in (*ctx.targets, instance_id) if INSTANCE_ID.match(t)})
    return ctx.cache.get("ssm.managed-instances", lambda: managed_instances(ctx, targets))
