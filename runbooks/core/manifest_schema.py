"""The readiness manifest v1 contract, shared by the Pulumi program and irctl.

Two definitions that a test keeps equivalent (`tests/runbooks/core/test_manifest_model.py`
feeds both the same valid and broken documents): the JSON Schema next to this file, whose
error messages name the key and the offending value, and `Manifest`, the typed, frozen
model both halves use (the stack builds one before writing the SSM parameter, irctl parses
one after reading it and carries it on `Context.manifest`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Annotated, Any, Literal

import jsonschema
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

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


# The same patterns as the `$defs` of manifest.v1.schema.json.
Arn = Annotated[str, StringConstraints(
    pattern=r"^arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:[0-9]{0,12}:.+$")]
Region = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}(-[a-z]+)+-[0-9]+$")]
SecurityGroupId = Annotated[str, StringConstraints(pattern=r"^sg-[0-9a-f]{8,17}$")]
VpcId = Annotated[str, StringConstraints(pattern=r"^vpc-[0-9a-f]{8,17}$")]


class _Part(BaseModel):
    # strict: a JSON document's "true" string is not a boolean, nor 1 a string, exactly as
    # the schema; extra="forbid": the schema's additionalProperties false; python-re: the
    # patterns match as jsonschema matches them (`re.search`, where `$` also matches before
    # a final newline), so the model and the schema accept the same strings.
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True,
                              alias_generator=to_camel, populate_by_name=True,
                              regex_engine="python-re")

    @model_validator(mode="before")
    @classmethod
    def _optional_keys_are_absent_not_null(cls, data: Any) -> Any:
        # The schema lets an optional key be left out but never be null; `X | None = None`
        # alone would accept an explicit null.
        if isinstance(data, Mapping):
            for name, field in cls.model_fields.items():
                key = field.alias or name
                if not field.is_required() and key in data and data[key] is None:
                    raise ValueError(f"{key}: None is not allowed (leave the key out)")
        return data


class Trail(_Part):
    arn: Arn
    bucket: Annotated[str, StringConstraints(min_length=3)]
    log_group: Annotated[str, StringConstraints(min_length=1)]


class Topics(_Part):
    """The region's alert topic ARN per severity."""

    critical: Arn
    high: Arn
    info: Arn

    def by_severity(self) -> dict[str, str]:
        """Severity -> topic ARN, in the order critical, high, info."""
        return {"critical": self.critical, "high": self.high, "info": self.info}

    def arn(self, severity: str) -> str:
        """The topic of `severity`; KeyError for a severity the manifest has no topic for."""
        return self.by_severity()[severity]


class QuarantineGroups(_Part):
    """The security groups containment uses in one VPC."""

    isolation_security_group_id: SecurityGroupId
    conversion_security_group_id: SecurityGroupId
    forensic_security_group_id: SecurityGroupId

    def group_ids(self) -> tuple[str, str, str]:
        return (self.isolation_security_group_id, self.conversion_security_group_id,
                self.forensic_security_group_id)


class Backup(_Part):
    vault_name: Annotated[str, StringConstraints(min_length=2)]
    vault_arn: Arn
    plan_id: Annotated[str, StringConstraints(min_length=1)]
    restore_role_arn: Arn


class ContainmentPolicies(_Part):
    """Managed policies the stack provisions for containment."""

    deny_all: Arn


class MemoryCapture(_Part):
    """Memory capture through SSM Run Command (`ec2.capture-memory`)."""

    document_name: Annotated[str, StringConstraints(pattern=r"^[a-zA-Z0-9_.-]{3,128}$")]
    """The stack's SSM Command document (AVML on Linux, WinPmem on Windows)."""
    upload_role_arn: Arn
    """Role the step assumes, with a session policy naming one case's memory prefix, for
    the credentials the document uploads the image with."""
    timeout_seconds: Annotated[int, Field(ge=60, le=3600)]
    """Bound on one capture (the document's executionTimeout and the step's wait)."""


class ResponderRoles(_Part):
    investigator: Arn
    responder: Arn
    support: Arn | None = None
    """The AWS Support role (CIS 1.17), when the stack has one."""


class Manifest(_Part):
    """Manifest v1: what the readiness stack provisioned in one account and region.

    Field names are the snake_case of the document's camelCase keys
    (`guard_duty_detector_id` is `guardDutyDetectorId`).
    """

    version: Literal[1]

    @field_validator("version", mode="before")
    @classmethod
    def _version_is_a_number(cls, value: Any) -> Any:
        # True == 1 in Python, so Literal[1] alone accepts it; the schema's const does not.
        if isinstance(value, bool):
            raise ValueError("version must be the number 1, not a boolean")
        return value
    account_id: Annotated[str, StringConstraints(pattern=r"^[0-9]{12}$")]
    region: Region
    home_region: Region
    kms_key_arn: Arn
    evidence_bucket: Annotated[str, StringConstraints(
        pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")]
    trail: Trail
    topics: Topics
    quarantine: dict[VpcId, QuarantineGroups]
    backup: Backup
    guard_duty_detector_id: Annotated[str, StringConstraints(pattern=r"^[0-9a-z]{32}$")]
    security_hub_enabled: bool
    containment_policies: ContainmentPolicies | None = None
    memory_capture: MemoryCapture | None = None
    responder_roles: ResponderRoles
    forensic_account: Annotated[str, StringConstraints(pattern=r"^[0-9]{12}$")] | None = None
    """The forensic account case snapshots are copied and shared to
    (`irctl case share-snapshots`), when the stack names one (`ir:forensicAccount`)."""

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> Manifest:
        """Parse a manifest v1 document (camelCase keys); pydantic ValidationError if invalid.

        Callers that report to a person validate with `manifest_errors` first: its
        messages are the ones irctl and the stack show.
        """
        return cls.model_validate(document, by_alias=True, by_name=False)

    def to_dict(self) -> dict[str, Any]:
        """The manifest v1 document (camelCase keys; absent optional keys left out)."""
        return self.model_dump(by_alias=True, exclude_none=True)
