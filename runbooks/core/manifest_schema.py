"""The readiness manifest v1 contract, shared by the Pulumi program and irctl.

The JSON Schema next to this file is the single definition; both halves validate
against it (the stack before writing the SSM parameter, irctl after reading it).
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

import jsonschema

MANIFEST_PARAMETER = "/ir-readiness/manifest"
MANIFEST_VERSION = 1


@cache
def manifest_schema() -> dict[str, Any]:
    text = resources.files("runbooks.core").joinpath("manifest.v1.schema.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


def manifest_errors(document: Any) -> list[str]:
    """Every schema violation of `document`, each as 'path: message'; empty when valid."""
    validator = jsonschema.Draft202012Validator(manifest_schema())
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    return [f"{'/'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}" for e in errors]
