"""evidence.write-case-file: content in the evidence bucket, encrypted, idempotent."""

from __future__ import annotations

import hashlib

import boto3
import pytest

from runbooks.core.errors import InvalidInput, PreconditionFailed
from runbooks.steps.evidence import WriteCaseFile
from tests.runbooks.steps.conftest import REGION, apply_all


def test_writes_once_and_refuses_a_file_changed_after_planning(make_ctx, tmp_path) -> None:
    ctx = make_ctx(evidence=True)
    path = tmp_path / "timeline.md"
    path.write_text("# timeline\n")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    params = {"name": "timeline.md", "path": str(path), "sha256": digest}
    [(_, result)] = apply_all(WriteCaseFile(ctx, params))
    s3 = boto3.client("s3", region_name=REGION)
    key = f"cases/{ctx.case_id}/timeline.md"
    head = s3.head_object(Bucket=ctx.manifest["evidenceBucket"], Key=key)
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["Metadata"]["sha256"] == digest == result["sha256"]
    assert WriteCaseFile(ctx, params).plan() == []

    path.write_text("# timeline, updated\n")
    new = {"name": "timeline.md", "path": str(path),
           "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    step = WriteCaseFile(ctx, new)
    [change] = step.plan()
    path.write_text("# tampered between plan and apply\n")
    with pytest.raises(PreconditionFailed, match="changed since it was planned"):
        step.apply(change)
    body = s3.get_object(Bucket=ctx.manifest["evidenceBucket"], Key=key)["Body"].read()
    assert body == b"# timeline\n"


@pytest.mark.parametrize("name", ["../escape.md", "", "a/b.json"])
def test_bad_names_are_refused(make_ctx, tmp_path, name: str) -> None:
    with pytest.raises(InvalidInput):
        WriteCaseFile(make_ctx(), {"name": name, "path": str(tmp_path),
                                   "sha256": "0" * 64}).validate()
