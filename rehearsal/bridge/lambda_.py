"""Bridge handlers for Lambda: layers, functions, permissions and event-invoke configs
(the opt-in ResponseAutomation component).

=====================================================  ========================================
Type                                                   How
=====================================================  ========================================
aws:lambda/layerVersion:LayerVersion                   API lambda PublishLayerVersion
aws:lambda/function:Function                           API lambda CreateFunction (archive zipped)
aws:lambda/permission:Permission                       API lambda AddPermission
aws:lambda/functionEventInvokeConfig:...               API lambda PutFunctionEventInvokeConfig
=====================================================  ========================================
"""

from __future__ import annotations

from typing import Any

import pulumi

from rehearsal.bridge._core import (
    BridgeError,
    Request,
    clean,
    handles,
)


def _zip_bytes(archive: Any) -> bytes:
    """A Pulumi FileArchive (directory or .zip) or AssetArchive, as zip bytes."""
    import io
    import zipfile
    from pathlib import Path

    def add_dir(zf: zipfile.ZipFile, root: Path, prefix: str) -> None:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                zf.write(path, f"{prefix}{path.relative_to(root).as_posix()}")

    def add(zf: zipfile.ZipFile, name: str, item: Any) -> None:
        if isinstance(item, pulumi.StringAsset):
            zf.writestr(name, item.text)
        elif isinstance(item, (pulumi.FileAsset, pulumi.FileArchive)):
            path = Path(item.path)
            if not path.exists():
                raise BridgeError(f"archive member {name!r}: {path} does not exist")
            if path.is_dir():
                add_dir(zf, path, f"{name.rstrip('/')}/" if name else "")
            else:
                zf.write(path, name or path.name)
        elif isinstance(item, pulumi.AssetArchive):
            for member, asset in sorted(item.assets.items()):
                add(zf, f"{name}/{member}" if name else member, asset)
        else:
            raise BridgeError(f"archive member {name!r} of type {type(item).__name__} is not "
                              "supported by the drill bridge")

    if isinstance(archive, pulumi.FileArchive) and str(archive.path).endswith(".zip"):
        return Path(archive.path).read_bytes()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        add(zf, "", archive)
    return buffer.getvalue()


@handles("aws:lambda/layerVersion:LayerVersion", api="lambda:PublishLayerVersion")
def _lambda_layer(r: Request) -> tuple[str, dict[str, Any]]:
    kwargs = clean({
        "LayerName": r.get("layerName"),
        "Description": r.get("description"),
        "Content": {"ZipFile": _zip_bytes(r.get("code"))},
        "CompatibleRuntimes": r.get("compatibleRuntimes"),
        "CompatibleArchitectures": r.get("compatibleArchitectures"),
    })
    layer = r.client("lambda").publish_layer_version(**kwargs)
    arn = layer["LayerVersionArn"]
    return arn, {"arn": arn, "layerArn": layer["LayerArn"], "version": str(layer["Version"])}


@handles("aws:lambda/function:Function", api="lambda:CreateFunction")
def _lambda_function(r: Request) -> tuple[str, dict[str, Any]]:
    name = r.autoname(max_len=64)
    environment = (r.get("environment") or {}).get("variables")
    kwargs = clean({
        "FunctionName": name,
        "Role": r.get("role"),
        "Runtime": r.get("runtime"),
        "Handler": r.get("handler"),
        "Code": {"ZipFile": _zip_bytes(r.get("code"))},
        "Description": r.get("description"),
        "Timeout": r.get("timeout"),
        "MemorySize": r.get("memorySize"),
        "Architectures": r.get("architectures"),
        "Layers": r.get("layers"),
        "KMSKeyArn": r.get("kmsKeyArn"),
        "Environment": {"Variables": dict(environment)} if environment else None,
        "DeadLetterConfig": {"TargetArn": r.get("deadLetterConfig")["targetArn"]}
        if r.get("deadLetterConfig") else None,
        "Tags": dict(r.get("tags", {})) or None,
    })
    lam = r.client("lambda")
    function = lam.create_function(**kwargs)
    if r.get("reservedConcurrentExecutions") not in (None, -1):
        lam.put_function_concurrency(
            FunctionName=name,
            ReservedConcurrentExecutions=int(r.get("reservedConcurrentExecutions")))
    return name, {"arn": function["FunctionArn"], "name": name,
                  "invokeArn": f"arn:aws:apigateway:{r.region}:lambda:path/2015-03-31/"
                               f"functions/{function['FunctionArn']}/invocations",
                  "qualifiedArn": f"{function['FunctionArn']}:$LATEST",
                  "version": "$LATEST"}


@handles("aws:lambda/permission:Permission", api="lambda:AddPermission")
def _lambda_permission(r: Request) -> tuple[str, dict[str, Any]]:
    statement_id = r.get("statementId") or r.autoname("statementId", max_len=100)
    kwargs = clean({
        "FunctionName": r.get("function"),
        "StatementId": statement_id,
        "Action": r.get("action"),
        "Principal": r.get("principal"),
        "SourceArn": r.get("sourceArn"),
        "SourceAccount": r.get("sourceAccount"),
    })
    r.client("lambda").add_permission(**kwargs)
    return str(statement_id), {"statementId": statement_id}


@handles(
    "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig",
    api="lambda:PutFunctionEventInvokeConfig",
)
def _lambda_invoke_config(r: Request) -> tuple[str, dict[str, Any]]:
    kwargs = clean({
        "FunctionName": r.get("functionName"),
        "MaximumRetryAttempts": r.get("maximumRetryAttempts"),
        "MaximumEventAgeInSeconds": r.get("maximumEventAgeInSeconds"),
    })
    r.client("lambda").put_function_event_invoke_config(**kwargs)
    return str(r.get("functionName")), {}
