"""Memory capture through SSM Run Command: the document and the upload role.

`irctl`'s step `ec2.capture-memory` (runbooks/steps/memory.py, docs/memory-capture.md)
sends **MemoryCaptureDocument** (one per covered region, the name
`runbooks.core.scopes.MEMORY_DOCUMENT_NAME`, the only document the generated roles may
send for it) to an isolated instance while the VPC's forensic group lets it reach the
VPC endpoints. The document:

* on Linux (`aws:runShellScript`) fetches AVML, on Windows (`aws:runPowerShellScript`)
  WinPmem, from the evidence bucket's `tools/` prefix or a configured `s3://` URI, and
  refuses to run it unless its SHA-256 is the pinned one (`ir:memoryCapture.linuxTool` /
  `windowsTool`);
* streams the image (Linux: AVML -> FIFO -> `aws s3 cp -`, no copy on the instance's
  disk; Windows: WinPmem writes a local file first, which it deletes after the upload)
  to `s3://<evidence>/<ImageKey>` with SSE-KMS, computes its SHA-256 on the way, writes
  `<ImageKey>.sha256` and prints `ir-memory-image key=... sha256=... bytes=...`;
* is bounded by `executionTimeout` (the `ExecutionTimeout` parameter, default
  `ir:memoryCapture.timeoutSeconds`).

The upload credentials are passed as parameters: the step assumes **MemoryUploadRole**
with a session policy naming the one case's memory prefix, for at most an hour. The
role itself may only put objects under `cases/*/memory/*` of the evidence bucket, read
the configured tools and use the stack's keys for them; it is trusted by the account
(the generated responder and automation roles may assume it, under its IAM path only).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from runbooks.core.scopes import MEMORY_DOCUMENT_NAME, MEMORY_UPLOAD_ROLE_PATH

DOCUMENT_TYPE = "ir-readiness:index:MemoryCaptureDocument"
ROLE_TYPE = "ir-readiness:index:MemoryUploadRole"


@dataclass(frozen=True)
class Tool:
    """A memory acquisition tool: where it is and its pinned SHA-256."""

    uri: str
    """`tools/<name>` (in the evidence bucket) or `s3://bucket/key`."""
    sha256: str
    """Lowercase hex SHA-256; a tool that differs is never run."""

    def s3_uri(self, evidence_bucket: str) -> str:
        return self.uri if self.uri.startswith("s3://") else f"s3://{evidence_bucket}/{self.uri}"

    def object_arn(self, partition: str, evidence_bucket: str) -> str:
        return f"arn:{partition}:s3:::{self.s3_uri(evidence_bucket).removeprefix('s3://')}"


@dataclass(frozen=True)
class MemoryCaptureDocumentArgs:
    evidence_bucket: pulumi.Input[str]
    """The evidence bucket (where `tools/` URIs resolve)."""
    linux_tool: Tool | None
    """AVML for Linux instances (None: the Linux step fails, naming the setting)."""
    windows_tool: Tool | None
    """WinPmem for Windows instances."""
    timeout_seconds: int
    """Default `ExecutionTimeout` of the document's steps."""

    def __post_init__(self) -> None:
        if self.linux_tool is None and self.windows_tool is None:
            raise ValueError("MemoryCaptureDocumentArgs: give linux_tool and/or windows_tool")
        if not 60 <= self.timeout_seconds <= 3600:
            raise ValueError(f"MemoryCaptureDocumentArgs.timeout_seconds="
                             f"{self.timeout_seconds}: give 60 to 3600")


_LINUX = [
    "set -euo pipefail",
    "if [ -z '{{ToolUriLinux}}' ]; then echo 'no Linux tool configured "
    "(ir:memoryCapture.linuxTool)' >&2; exit 1; fi",
    "export AWS_ACCESS_KEY_ID='{{AccessKeyId}}' AWS_SECRET_ACCESS_KEY='{{SecretAccessKey}}' "
    "AWS_SESSION_TOKEN='{{SessionToken}}'",
    "sse=(--sse aws:kms); if [ -n '{{KmsKeyId}}' ]; then sse+=(--sse-kms-key-id "
    "'{{KmsKeyId}}'); fi",
    "work=$(mktemp -d); trap 'rm -rf \"$work\"' EXIT",
    "aws s3 cp '{{ToolUriLinux}}' \"$work/avml\" --only-show-errors",
    "echo '{{ToolSha256Linux}}  '\"$work/avml\" | sha256sum -c --status || "
    "{ echo 'AVML SHA-256 differs from the pinned one: not run' >&2; exit 1; }",
    "chmod 700 \"$work/avml\"; mkfifo -m 600 \"$work/image\"",
    "\"$work/avml\" \"$work/image\" & avml=$!",
    "tee >(sha256sum | cut -d' ' -f1 > \"$work/sha256\") >(wc -c > \"$work/bytes\") "
    "< \"$work/image\" | aws s3 cp - 's3://{{Bucket}}/{{ImageKey}}' \"${sse[@]}\" "
    "--expected-size 1099511627776 --only-show-errors",
    "wait $avml; sleep 1",
    "sha=$(cat \"$work/sha256\"); bytes=$(tr -d ' ' < \"$work/bytes\")",
    "printf '%s  %s\\n' \"$sha\" \"$(basename '{{ImageKey}}')\" | aws s3 cp - "
    "'s3://{{Bucket}}/{{ImageKey}}.sha256' \"${sse[@]}\" --only-show-errors",
    "echo \"ir-memory-image key={{ImageKey}} sha256=$sha bytes=$bytes\"",
]
_WINDOWS = [
    "$ErrorActionPreference = 'Stop'",
    "if (-not '{{ToolUriWindows}}') { throw 'no Windows tool configured "
    "(ir:memoryCapture.windowsTool)' }",
    "$env:AWS_ACCESS_KEY_ID = '{{AccessKeyId}}'; $env:AWS_SECRET_ACCESS_KEY = "
    "'{{SecretAccessKey}}'; $env:AWS_SESSION_TOKEN = '{{SessionToken}}'",
    "$sse = @('--sse', 'aws:kms'); if ('{{KmsKeyId}}') { $sse += @('--sse-kms-key-id', "
    "'{{KmsKeyId}}') }",
    "$work = New-Item -ItemType Directory -Path (Join-Path $env:TEMP "
    "([guid]::NewGuid().ToString()))",
    "try {",
    "  aws s3 cp '{{ToolUriWindows}}' \"$work\\winpmem.exe\" --only-show-errors",
    "  if ((Get-FileHash \"$work\\winpmem.exe\" -Algorithm SHA256).Hash.ToLower() -ne "
    "'{{ToolSha256Windows}}') { throw 'WinPmem SHA-256 differs from the pinned one: not run' }",
    "  & \"$work\\winpmem.exe\" \"$work\\memory.raw\"",
    "  $sha = (Get-FileHash \"$work\\memory.raw\" -Algorithm SHA256).Hash.ToLower()",
    "  $bytes = (Get-Item \"$work\\memory.raw\").Length",
    "  aws s3 cp \"$work\\memory.raw\" 's3://{{Bucket}}/{{ImageKey}}' @sse --only-show-errors",
    "  \"$sha  $(Split-Path '{{ImageKey}}' -Leaf)\" | aws s3 cp - "
    "'s3://{{Bucket}}/{{ImageKey}}.sha256' @sse --only-show-errors",
    "  Write-Output \"ir-memory-image key={{ImageKey}} sha256=$sha bytes=$bytes\"",
    "} finally { Remove-Item -Recurse -Force $work }",
]


def document_content(evidence_bucket: str, linux: Tool | None, windows: Tool | None,
                     timeout_seconds: int) -> dict[str, Any]:
    """The SSM Command document (schema 2.2) the step sends."""

    def text(description: str, default: str | None = None,
             pattern: str | None = None) -> dict[str, Any]:
        parameter: dict[str, Any] = {"type": "String", "description": description}
        if default is not None:
            parameter["default"] = default
        if pattern is not None:
            parameter["allowedPattern"] = pattern
        return parameter

    parameters = {
        "Bucket": text("Evidence bucket", pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"),
        "ImageKey": text("Object key of the image (cases/<case>/memory/<instance>/...)",
                         pattern=r"^cases/[A-Za-z0-9._-]+/memory/i-[0-9a-f]+/[A-Za-z0-9._-]+$"),
        "KmsKeyId": text("KMS key for SSE-KMS (empty: the bucket's default key)", default="",
                         pattern=r"^(arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[a-f0-9-]+)?$"),
        "AccessKeyId": text("Upload session credentials (never logged by irctl)",
                            pattern=r"^[A-Z0-9]{16,128}$"),
        "SecretAccessKey": text("Upload session credentials", pattern=r"^[A-Za-z0-9/+=]{16,128}$"),
        "SessionToken": text("Upload session credentials", pattern=r"^[A-Za-z0-9/+=]{16,4096}$"),
        "ExecutionTimeout": text("Seconds the capture may take", default=str(timeout_seconds),
                                 pattern=r"^[0-9]{1,4}$"),
        "ToolUriLinux": text("AVML", default=linux.s3_uri(evidence_bucket) if linux else ""),
        "ToolSha256Linux": text("AVML's pinned SHA-256", default=linux.sha256 if linux else ""),
        "ToolUriWindows": text("WinPmem",
                               default=windows.s3_uri(evidence_bucket) if windows else ""),
        "ToolSha256Windows": text("WinPmem's pinned SHA-256",
                                  default=windows.sha256 if windows else ""),
    }
    return {
        "schemaVersion": "2.2",
        "description": "ir-readiness memory capture (irctl ec2.capture-memory): AVML on "
                       "Linux, WinPmem on Windows, streamed to the evidence bucket with "
                       "SSE-KMS; prints the image's SHA-256",
        "parameters": parameters,
        "mainSteps": [
            {"action": "aws:runShellScript", "name": "captureLinux",
             "precondition": {"StringEquals": ["platformType", "Linux"]},
             "inputs": {"timeoutSeconds": "{{ExecutionTimeout}}", "runCommand": _LINUX}},
            {"action": "aws:runPowerShellScript", "name": "captureWindows",
             "precondition": {"StringEquals": ["platformType", "Windows"]},
             "inputs": {"timeoutSeconds": "{{ExecutionTimeout}}", "runCommand": _WINDOWS}},
        ],
    }


class MemoryCaptureDocument(pulumi.ComponentResource):
    """The region's memory capture Command document."""

    document_name: pulumi.Output[str]

    def __init__(self, name: str, args: MemoryCaptureDocumentArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        if not isinstance(args, MemoryCaptureDocumentArgs):
            raise TypeError("args must be a MemoryCaptureDocumentArgs")
        super().__init__(DOCUMENT_TYPE, name, None, opts)
        content = pulumi.Output.from_input(args.evidence_bucket).apply(
            lambda bucket: json.dumps(document_content(
                bucket, args.linux_tool, args.windows_tool, args.timeout_seconds),
                indent=1, sort_keys=True))
        document = aws.ssm.Document(
            f"{name}-document",
            name=MEMORY_DOCUMENT_NAME,
            document_type="Command",
            document_format="JSON",
            target_type="/AWS::EC2::Instance",
            content=content,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.document_name = document.name
        self.register_outputs({"document_name": self.document_name})


@dataclass(frozen=True)
class MemoryUploadRoleArgs:
    account_id: pulumi.Input[str]
    """The account (trusted to assume the role; its generated roles may, by path)."""
    partition: str
    """aws, aws-us-gov, aws-cn."""
    role_name_prefix: str
    """Prefix of the role's name."""
    evidence_bucket: pulumi.Input[str]
    """The evidence bucket."""
    kms_key_arns: Sequence[pulumi.Input[str]]
    """The stack's keys (the evidence bucket's among them)."""
    tools: Sequence[Tool]
    """The tools the document fetches (read access to exactly these objects)."""


def upload_role_policy(partition: str, evidence_bucket: str, key_arns: Sequence[str],
                       tools: Sequence[Tool]) -> dict[str, Any]:
    """The upload role's own policy (a session narrows it to one case's prefix)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "PutMemoryImagesOnly", "Effect": "Allow",
             "Action": ["s3:AbortMultipartUpload", "s3:ListMultipartUploadParts",
                        "s3:PutObject"],
             "Resource": f"arn:{partition}:s3:::{evidence_bucket}/cases/*/memory/*"},
            {"Sid": "ReadTheCaptureTools", "Effect": "Allow", "Action": "s3:GetObject",
             "Resource": sorted({t.object_arn(partition, evidence_bucket) for t in tools})},
            {"Sid": "EncryptWithTheStackKeys", "Effect": "Allow",
             "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
             "Resource": sorted(set(key_arns))},
        ]}


class MemoryUploadRole(pulumi.ComponentResource):
    """The role whose session (narrowed to one case's prefix) uploads a memory image."""

    role_arn: pulumi.Output[str]

    def __init__(self, name: str, args: MemoryUploadRoleArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        if not isinstance(args, MemoryUploadRoleArgs):
            raise TypeError("args must be a MemoryUploadRoleArgs")
        if not args.tools:
            raise ValueError("MemoryUploadRoleArgs.tools: give at least one tool")
        super().__init__(ROLE_TYPE, name, None, opts)
        partition = args.partition
        trust = pulumi.Output.from_input(args.account_id).apply(lambda account: json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Sid": "TheAccountsGeneratedRolesByPath", "Effect": "Allow",
                           "Principal": {"AWS": f"arn:{partition}:iam::{account}:root"},
                           "Action": "sts:AssumeRole"}]}))
        role = aws.iam.Role(
            f"{name}-role",
            name=f"{args.role_name_prefix}-memory-upload"[:64],
            path=MEMORY_UPLOAD_ROLE_PATH,
            description="ir-readiness: uploads one memory image (session policy per case)",
            assume_role_policy=trust,
            max_session_duration=3600,
            opts=pulumi.ResourceOptions(parent=self),
        )
        policy = pulumi.Output.all(
            pulumi.Output.from_input(args.evidence_bucket),
            pulumi.Output.all(*args.kms_key_arns),
        ).apply(lambda values: json.dumps(upload_role_policy(
            partition, values[0], values[1], args.tools)))
        aws.iam.RolePolicy(f"{name}-policy", role=role.id, name="memory-upload",
                           policy=policy, opts=pulumi.ResourceOptions(parent=self))
        self.role_arn = role.arn
        self.register_outputs({"role_arn": self.role_arn})
