"""Case files in the evidence bucket.

`evidence.write-case-file` copies a file the command prepared in the local case
directory (a timeline, an investigation report) to `s3://<evidence bucket>/cases/<case>/
<name>`, encrypted with the manifest's KMS key, with its SHA-256 as object metadata and
in the audit log. The plan is empty when the bucket already holds the same content, so
re-runs write nothing. Evidence is never deleted or rewritten in place (the bucket's
versioning and Object Lock keep every version): not reversible.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

from runbooks.core.errors import InvalidInput, PreconditionFailed
from runbooks.core.evidence_queue import already_held, put_evidence
from runbooks.core.scopes import EVIDENCE_OBJECTS, STACK_KEYS
from runbooks.core.step import Change, Step, StepParams, checked_by, register

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
CONTENT_TYPES = {".md": "text/markdown; charset=utf-8", ".json": "application/json"}


def case_file_key(case_id: str, name: str) -> str:
    return f"cases/{case_id}/{name}"


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _check_name(name: Any) -> None:
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidInput(f"case file name {name!r}: use letters, digits, '.', '_', '-'")


def _check_path(path: Any) -> None:
    if not isinstance(path, str) or not path:
        raise InvalidInput("case file path is missing")


def _check_digest(digest: Any) -> None:
    if not isinstance(digest, str) or not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise InvalidInput(f"sha256 {digest!r} is not a hex SHA-256 digest")


class WriteCaseFileParams(StepParams):
    name: Annotated[str, checked_by(_check_name)]
    path: Annotated[str, checked_by(_check_path)]
    sha256: Annotated[str, checked_by(_check_digest)]


@register
class WriteCaseFile(Step):
    name = "evidence.write-case-file"
    description = "Copy a case file (timeline, report) to the evidence bucket"
    actions = frozenset({"s3:PutObject", "s3:GetObject", "kms:GenerateDataKey"})
    scopes = {"s3:GetObject": EVIDENCE_OBJECTS, "s3:PutObject": EVIDENCE_OBJECTS,
              "kms:GenerateDataKey": STACK_KEYS}
    reversible = False
    Params = WriteCaseFileParams

    def plan(self) -> list[Change]:
        bucket = self.ctx.manifest.evidence_bucket
        key = case_file_key(self.ctx.case_id, str(self.params["name"]))
        digest = str(self.params["sha256"])
        if already_held(self.ctx, bucket, key, digest):
            return []
        size = Path(str(self.params["path"])).stat().st_size
        return [Change(self.name, f"s3://{bucket}/{key}",
                       f"Write {self.params['name']} ({size} bytes, sha256 {digest[:12]}...) "
                       f"to s3://{bucket}/{key}",
                       after={"bucket": bucket, "key": key, "sha256": digest})]

    def apply(self, change: Change) -> Mapping[str, Any]:
        path = Path(str(self.params["path"]))
        body = path.read_bytes()
        digest = hashlib.sha256(body).hexdigest()
        if digest != change.after["sha256"]:
            raise PreconditionFailed(
                f"{path} changed since it was planned (sha256 {digest} != "
                f"{change.after['sha256']}); re-run the command")
        written = put_evidence(
            self.ctx, change.after["bucket"], change.after["key"], body,
            ContentType=CONTENT_TYPES.get(path.suffix, "application/octet-stream"),
            Metadata={"sha256": digest, "case": self.ctx.case_id},
            ExpectedBucketOwner=self.ctx.account_id, **self.ctx.evidence_encryption())
        return {"s3Uri": change.target, **written}
