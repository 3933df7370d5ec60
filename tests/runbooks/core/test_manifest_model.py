"""The typed `Manifest` model and the manifest v1 JSON Schema are one contract.

Both are kept by hand, so this holds them together: they name the same keys at every
level, and they accept and refuse the same documents (a valid one and mutations of
every kind the schema checks: a missing key, an extra key, a wrong type, a pattern, a
minimum length, a constant).
"""

from __future__ import annotations

import copy
import json
from typing import Any, get_args, get_origin

import pytest
from pydantic import BaseModel, ValidationError

from runbooks.core.errors import ManifestError
from runbooks.core.manifest import validate_manifest
from runbooks.core.manifest_schema import Manifest, manifest_errors, manifest_schema

ARN = "arn:aws:sns:us-east-1:123456789012:ir-high"


def document() -> dict[str, Any]:
    return {
        "version": 1, "accountId": "123456789012", "region": "eu-west-1",
        "homeRegion": "us-east-1",
        "kmsKeyArn": "arn:aws:kms:eu-west-1:123456789012:key/1234",
        "evidenceBucket": "ir-evidence-123456789012",
        "trail": {"arn": "arn:aws:cloudtrail:us-east-1:123456789012:trail/ir",
                  "bucket": "ir-trail", "logGroup": "/ir-readiness/cloudtrail"},
        "topics": {s: f"arn:aws:sns:eu-west-1:123456789012:ir-{s}"
                   for s in ("critical", "high", "info")},
        "quarantine": {"vpc-0123456789abcdef0": {
            "isolationSecurityGroupId": "sg-0123456789abcdef0",
            "conversionSecurityGroupId": "sg-0123456789abcdef1",
            "forensicSecurityGroupId": "sg-0123456789abcdef2"}},
        "backup": {"vaultName": "ir-vault",
                   "vaultArn": "arn:aws:backup:eu-west-1:123456789012:backup-vault:ir-vault",
                   "planId": "plan-1",
                   "restoreRoleArn": "arn:aws:iam::123456789012:role/ir-restore"},
        "guardDutyDetectorId": "0123456789abcdef0123456789abcdef",
        "securityHubEnabled": True,
        "containmentPolicies": {"denyAll": "arn:aws:iam::123456789012:policy/ir-deny-all"},
        "memoryCapture": {"documentName": "ir-readiness-capture-memory",
                          "uploadRoleArn": "arn:aws:iam::123456789012:role/ir-readiness/"
                                           "memory-upload/ir-memory-upload",
                          "timeoutSeconds": 900},
        "responderRoles": {"investigator": "arn:aws:iam::123456789012:role/ir-investigator",
                           "responder": "arn:aws:iam::123456789012:role/ir-responder",
                           "support": "arn:aws:iam::123456789012:role/ir-support"},
    }


def _set(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    *parents, leaf = path.split("/")
    node = doc
    for key in parents:
        node = node[key]
    if value is _DELETE:
        del node[leaf]
    else:
        node[leaf] = value
    return doc


_DELETE = object()
VPC = "vpc-0123456789abcdef0"

# (path, value): one change to the valid document each.
MUTATIONS: list[tuple[str, Any]] = [
    *[(key, _DELETE) for key in document()],
    *[(f"trail/{k}", _DELETE) for k in ("arn", "bucket", "logGroup")],
    *[(f"topics/{k}", _DELETE) for k in ("critical", "high", "info")],
    *[(f"backup/{k}", _DELETE) for k in ("vaultName", "vaultArn", "planId", "restoreRoleArn")],
    *[(f"quarantine/{VPC}/{k}", _DELETE) for k in (
        "isolationSecurityGroupId", "conversionSecurityGroupId", "forensicSecurityGroupId")],
    *[(f"responderRoles/{k}", _DELETE) for k in ("investigator", "responder", "support")],
    ("containmentPolicies/denyAll", _DELETE),
    ("extra", 1), ("trail/extra", "x"), ("topics/medium", ARN), ("backup/extra", "x"),
    (f"quarantine/{VPC}/extra", "sg-0123456789abcdef3"), ("responderRoles/admin", ARN),
    ("containmentPolicies/other", ARN),
    *[(f"memoryCapture/{k}", _DELETE) for k in ("documentName", "uploadRoleArn",
                                                "timeoutSeconds")],
    ("memoryCapture/extra", 1), ("memoryCapture", None), ("memoryCapture", {}),
    ("memoryCapture/documentName", "a b"), ("memoryCapture/documentName", "ab"),
    ("memoryCapture/uploadRoleArn", "role/x"), ("memoryCapture/timeoutSeconds", 59),
    ("memoryCapture/timeoutSeconds", 3601), ("memoryCapture/timeoutSeconds", "900"),
    ("memoryCapture/timeoutSeconds", True), ("memoryCapture/timeoutSeconds", 3600),
    ("version", 2), ("version", "1"), ("version", True), ("version", 1.0),
    ("accountId", "12"), ("accountId", 123456789012), ("accountId", "123456789012\n"),
    ("accountId", "1234567890123"),
    ("region", "US-EAST-1"), ("region", "us-east"), ("homeRegion", None),
    ("kmsKeyArn", "key/1234"), ("kmsKeyArn", "arn:aws:kms:eu-west-1:1234567890123:key/1"),
    ("evidenceBucket", "Evidence"), ("evidenceBucket", "ab"), ("evidenceBucket", "a" * 64),
    ("trail/bucket", "ab"), ("trail/logGroup", ""), ("trail/arn", 1),
    ("topics/high", "not-an-arn"), ("topics", []),
    ("quarantine", {}), ("quarantine", {"vpc-1": document()["quarantine"][VPC]}),
    ("quarantine", {"subnet-0123456789abcdef0": document()["quarantine"][VPC]}),
    (f"quarantine/{VPC}/isolationSecurityGroupId", "sg-1"),
    (f"quarantine/{VPC}/forensicSecurityGroupId", "sg-0123456789ABCDEF0"),
    (f"quarantine/{VPC}", None),
    ("backup/vaultName", "v"), ("backup/planId", ""), ("backup/vaultArn", "vault"),
    ("guardDutyDetectorId", "not-a-detector"), ("guardDutyDetectorId", "0" * 31),
    ("securityHubEnabled", "true"), ("securityHubEnabled", 1), ("securityHubEnabled", None),
    ("containmentPolicies", None), ("containmentPolicies", {}),
    ("responderRoles/support", None), ("responderRoles/support", "role/ir-support"),
    ("responderRoles/investigator", "arn:aws-us-gov:iam::123456789012:role/ir-investigator"),
]


def _model_accepts(doc: Any) -> bool:
    try:
        Manifest.from_document(doc)
    except ValidationError:
        return False
    return True


def test_the_valid_document_round_trips_through_the_model() -> None:
    doc = document()
    assert manifest_errors(doc) == []
    manifest = Manifest.from_document(doc)
    assert manifest.to_dict() == doc
    assert manifest.quarantine[VPC].isolation_security_group_id == "sg-0123456789abcdef0"
    assert manifest.topics.arn("high") == "arn:aws:sns:eu-west-1:123456789012:ir-high"
    assert manifest.guard_duty_detector_id == doc["guardDutyDetectorId"]


def test_optional_keys_are_left_out_of_the_document_when_absent() -> None:
    doc = document()
    del doc["containmentPolicies"], doc["responderRoles"]["support"], doc["memoryCapture"]
    manifest = Manifest.from_document(doc)
    assert manifest.containment_policies is None and manifest.responder_roles.support is None
    assert manifest.memory_capture is None
    assert manifest.to_dict() == doc


@pytest.mark.parametrize(("path", "value"), MUTATIONS,
                         ids=[f"{p}={'<deleted>' if v is _DELETE else json.dumps(v)[:20]}"
                              for p, v in MUTATIONS])
def test_the_schema_and_the_model_agree(path: str, value: Any) -> None:
    doc = _set(copy.deepcopy(document()), path, value)
    schema_accepts = manifest_errors(doc) == []
    assert _model_accepts(doc) == schema_accepts, (
        f"schema {'accepts' if schema_accepts else 'refuses'} {path}={value!r}, "
        f"the model does not agree")


def test_the_mutations_exercise_both_verdicts() -> None:
    """A list of mutations that the schema all refused (or all accepted) would let the
    agreement test pass with a model that refuses (or accepts) everything."""
    verdicts = {manifest_errors(_set(copy.deepcopy(document()), p, v)) == []
                for p, v in MUTATIONS}
    assert verdicts == {True, False}


def _schema_keys(schema: dict[str, Any], prefix: str = "") -> set[str]:
    keys: set[str] = set()
    for name, sub in schema.get("properties", {}).items():
        keys.add(prefix + name)
        keys |= _schema_keys(sub, f"{prefix}{name}/")
    if isinstance(schema.get("additionalProperties"), dict):  # the quarantine map
        keys |= _schema_keys(schema["additionalProperties"], f"{prefix}*/")
    return keys


def _model_keys(model: type[BaseModel], prefix: str = "") -> set[str]:
    keys: set[str] = set()
    for name, field in model.model_fields.items():
        alias = field.alias or name
        keys.add(prefix + alias)
        annotation = field.annotation
        if get_origin(annotation) is dict:  # the quarantine map: VPC id -> groups
            keys |= _model_keys(get_args(annotation)[1], f"{prefix}{alias}/*/")
            continue
        for candidate in (annotation, *get_args(annotation)):  # X or X | None
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                keys |= _model_keys(candidate, f"{prefix}{alias}/")
    return keys


def test_the_model_and_the_schema_name_the_same_keys() -> None:
    assert _model_keys(Manifest) == _schema_keys(manifest_schema())


def test_required_keys_agree() -> None:
    required = {n for n, f in Manifest.model_fields.items() if f.is_required()}
    assert {Manifest.model_fields[n].alias for n in required} == set(
        manifest_schema()["required"])


def test_an_invalid_document_is_refused_with_the_schemas_messages() -> None:
    doc = _set(document(), "securityHubEnabled", "yes")
    with pytest.raises(ManifestError) as caught:
        validate_manifest(doc, "manifest.json")
    assert "securityHubEnabled: 'yes' is not of type 'boolean'" in str(caught.value)
    assert "Re-deploy the readiness stack" in str(caught.value)


def test_the_model_is_frozen() -> None:
    manifest = Manifest.from_document(document())
    with pytest.raises(ValidationError):
        manifest.evidence_bucket = "other"  # type: ignore[misc]
