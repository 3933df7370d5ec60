"""Find and validate the readiness manifest irctl acts from.

Discovery order: `--manifest FILE` when given, else the SSM parameter
`/ir-readiness/manifest` in the target region. FILE is either a manifest v1 document
or the JSON of `pulumi stack output --json` (a `manifests` map region -> manifest, or a
single `manifest` key; values may be objects or JSON strings). Every failure is a
`ManifestError` that says what is wrong and what to do.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from runbooks.core.errors import ManifestError
from runbooks.core.manifest_schema import MANIFEST_PARAMETER, Manifest, manifest_errors

if TYPE_CHECKING:
    from runbooks.core.context import SessionFactory

_DEPLOY_HINT = (
    "deploy the readiness stack to this account and region (`pulumi up`), "
    "or pass --manifest FILE (the JSON of `pulumi stack output --json --show-secrets`)"
)


def validate_manifest(document: Any, source: str) -> Manifest:
    """`document` parsed as a manifest v1, else a ManifestError naming every problem.

    The schema reports the problems (its messages name the key and the value); the model
    is parsed only from a document the schema accepts, and a test keeps the two agreeing.
    """
    if not isinstance(document, dict):
        raise ManifestError(
            f"manifest from {source} is not a JSON object; expected a manifest v1 document"
        )
    errors = manifest_errors(document)
    if errors:
        listed = "\n  ".join(errors[:20])
        raise ManifestError(
            f"manifest from {source} is invalid ({len(errors)} problem(s)):\n  {listed}\n"
            "Re-deploy the readiness stack (it writes a valid manifest), or fix the file."
        )
    try:
        return Manifest.from_document(document)
    except ValidationError as err:  # the schema and the model disagree: a defect, say so
        raise ManifestError(
            f"manifest from {source} passes the v1 schema but not the Manifest model "
            f"(report this as a bug of ir-readiness): {err}"
        ) from err


def _decode(value: Any, source: str) -> Any:
    if value == "[secret]":
        raise ManifestError(
            f"manifest in {source} is masked as [secret]; "
            "re-export it with `pulumi stack output --json --show-secrets`"
        )
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError as err:
            raise ManifestError(f"manifest in {source} is a string but not JSON: {err}") from err
    return value


def select_manifest(document: Any, region: str | None, source: str) -> Manifest:
    """Pick the manifest for `region` out of a file's JSON and validate it."""
    if not isinstance(document, dict):
        raise ManifestError(f"{source} does not hold a JSON object")
    if "version" in document:
        chosen = document
    elif "manifests" in document:
        manifests = _decode(document["manifests"], source)
        if not isinstance(manifests, Mapping) or not manifests:
            raise ManifestError(f"`manifests` in {source} is not a non-empty region map")
        if region is None:
            if len(manifests) != 1:
                raise ManifestError(
                    f"{source} holds manifests for {', '.join(sorted(manifests))}; "
                    "choose one with --region"
                )
            region = next(iter(manifests))
        if region not in manifests:
            raise ManifestError(
                f"{source} has no manifest for region {region} "
                f"(it has: {', '.join(sorted(manifests))}); pass --region with one of those"
            )
        chosen = _decode(manifests[region], source)
    elif "manifest" in document:
        chosen = _decode(document["manifest"], source)
    else:
        raise ManifestError(
            f"{source} is neither a manifest v1 document nor `pulumi stack output --json` "
            "with a `manifests` or `manifest` output"
        )
    manifest = validate_manifest(chosen, source)
    if region is not None and manifest.region != region:
        raise ManifestError(
            f"manifest from {source} is for region {manifest.region}, not {region}; "
            f"pass --region {manifest.region} or the manifest of {region}"
        )
    return manifest


def load_manifest_file(path: str | Path, region: str | None) -> Manifest:
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise ManifestError(f"cannot read manifest file {source}: {err.strerror}") from err
    try:
        document = json.loads(text)
    except json.JSONDecodeError as err:
        raise ManifestError(f"manifest file {source} is not valid JSON: {err}") from err
    return select_manifest(document, region, source)


def fetch_manifest(sessions: SessionFactory, region: str) -> Manifest:
    """Read and validate the SSM parameter in `region`."""
    from botocore.exceptions import ClientError

    source = f"SSM parameter {MANIFEST_PARAMETER} in {region}"
    try:
        response = sessions.client("ssm", region).get_parameter(
            Name=MANIFEST_PARAMETER, WithDecryption=True
        )
    except ClientError as err:
        code = err.response.get("Error", {}).get("Code", "")
        if code == "ParameterNotFound":
            raise ManifestError(f"no readiness manifest: {source} does not exist; "
                                f"{_DEPLOY_HINT}") from err
        if code in ("AccessDeniedException", "AccessDenied", "UnrecognizedClientException"):
            raise ManifestError(
                f"not allowed to read {source} ({code}); use the responder role "
                "(it grants ssm:GetParameter on the manifest) or pass --manifest FILE"
            ) from err
        raise
    try:
        document = json.loads(response["Parameter"]["Value"])
    except json.JSONDecodeError as err:
        raise ManifestError(f"{source} is not valid JSON: {err}; {_DEPLOY_HINT}") from err
    manifest = validate_manifest(document, source)
    if manifest.region != region:
        raise ManifestError(
            f"{source} describes region {manifest.region}; re-deploy the readiness stack"
        )
    return manifest


def load_manifest(
    sessions: SessionFactory, region: str | None, path: str | Path | None = None
) -> Manifest:
    """The manifest for `region`: from `path` when given, else from SSM."""
    if path is not None:
        return load_manifest_file(path, region)
    if region is None:
        raise ManifestError(
            "no region: pass --region or set AWS_REGION, or pass --manifest FILE"
        )
    return fetch_manifest(sessions, region)
