"""Manifest discovery: SSM, manifest files, `pulumi stack output --json` files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runbooks.core.errors import EXIT_BAD_INPUT, ManifestError
from runbooks.core.manifest import load_manifest
from runbooks.core.manifest_schema import MANIFEST_PARAMETER
from tests.runbooks.conftest import REGION, Readiness


def test_reads_and_validates_the_ssm_parameter(readiness: Readiness) -> None:
    assert load_manifest(readiness.sessions(), REGION).to_dict() == readiness.manifest


def test_missing_parameter_names_the_parameter_and_the_fix(readiness: Readiness) -> None:
    readiness.client("ssm").delete_parameter(Name=MANIFEST_PARAMETER)
    with pytest.raises(ManifestError) as caught:
        load_manifest(readiness.sessions(), REGION)
    assert MANIFEST_PARAMETER in str(caught.value) and "--manifest" in str(caught.value)
    assert caught.value.exit_code == EXIT_BAD_INPUT


def test_invalid_parameter_lists_each_problem(readiness: Readiness) -> None:
    bad = dict(readiness.manifest, accountId="12", quarantine={"vpc-1": {}})
    readiness.client("ssm").put_parameter(Name=MANIFEST_PARAMETER, Value=json.dumps(bad),
                                          Type="String", Overwrite=True)
    with pytest.raises(ManifestError) as caught:
        load_manifest(readiness.sessions(), REGION)
    assert "accountId" in str(caught.value) and "quarantine" in str(caught.value)


@pytest.mark.parametrize("shape", ["plain", "manifests-object", "manifests-string", "manifest"])
def test_file_shapes(readiness: Readiness, tmp_path: Path, shape: str) -> None:
    m = readiness.manifest
    document = {
        "plain": m,
        "manifests-object": {"manifests": {REGION: m, "eu-west-1": dict(m, region="eu-west-1")},
                             "other": 1},
        "manifests-string": {"manifests": {REGION: json.dumps(m)}},
        "manifest": {"manifest": json.dumps(m)},
    }[shape]
    path = readiness.write_manifest_file(tmp_path / "m.json", document)
    assert load_manifest(readiness.sessions(), REGION, path).to_dict() == m
    if shape != "manifests-object":
        # the region is taken from the file
        assert load_manifest(readiness.sessions(), None, path).to_dict() == m


@pytest.mark.parametrize(("document", "message"), [
    ({"manifests": {"eu-west-1": {}}}, "no manifest for region us-east-1"),
    ({"manifest": "[secret]"}, "--show-secrets"),
    ({"outputs": 1}, "neither a manifest"),
    ([1, 2], "JSON object"),
])
def test_file_errors(readiness: Readiness, tmp_path: Path, document: object,
                     message: str) -> None:
    path = readiness.write_manifest_file(tmp_path / "m.json", document)
    with pytest.raises(ManifestError, match=message.replace("-", r"\-")):
        load_manifest(readiness.sessions(), REGION, path)


def test_wrong_region_and_unreadable_file(readiness: Readiness, tmp_path: Path) -> None:
    path = readiness.write_manifest_file(tmp_path / "m.json")
    with pytest.raises(ManifestError, match="not eu-west-1"):
        load_manifest(readiness.sessions(), "eu-west-1", path)
    with pytest.raises(ManifestError, match="cannot read"):
        load_manifest(readiness.sessions(), REGION, tmp_path / "absent.json")
    (tmp_path / "junk.json").write_text("{not json")
    with pytest.raises(ManifestError, match="not valid JSON"):
        load_manifest(readiness.sessions(), REGION, tmp_path / "junk.json")
