"""Fixtures for the step tests: moto in-process and a Context pointing at it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from moto import mock_aws

from runbooks.core.context import Context, SessionFactory
from runbooks.core.manifest_schema import Manifest
from runbooks.core.step import Change, Step
from runbooks.steps.iam import DENY_ALL_DOCUMENT

ACCOUNT = "123456789012"  # moto's default account
REGION = "us-east-1"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for var in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        yield


@pytest.fixture
def make_ctx(aws: None) -> Callable[..., Context]:
    """A Context on moto; `evidence=True` also creates the evidence bucket and KMS key."""

    def make(case_id: str | None = None, evidence: bool = False) -> Context:
        sessions = SessionFactory(region=REGION, max_attempts=2)
        # A complete manifest v1 (Context holds the parsed model); only the evidence
        # bucket, key and deny-all policy exist in moto, which is all the step tests use.
        manifest: dict[str, Any] = {
            "version": 1,
            "accountId": ACCOUNT,
            "region": REGION,
            "homeRegion": REGION,
            "evidenceBucket": f"evidence-{uuid.uuid4().hex[:12]}",
            "kmsKeyArn": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{uuid.uuid4()}",
            "trail": {"arn": f"arn:aws:cloudtrail:{REGION}:{ACCOUNT}:trail/ir",
                      "bucket": "ir-trail", "logGroup": "/ir-readiness/cloudtrail"},
            "topics": {s: f"arn:aws:sns:{REGION}:{ACCOUNT}:ir-{s}"
                       for s in ("critical", "high", "info")},
            "quarantine": {},
            "backup": {"vaultName": "ir-vault",
                       "vaultArn": f"arn:aws:backup:{REGION}:{ACCOUNT}:backup-vault:ir-vault",
                       "planId": "plan-1",
                       "restoreRoleArn": f"arn:aws:iam::{ACCOUNT}:role/ir-backup-restore"},
            "guardDutyDetectorId": uuid.uuid4().hex,
            "securityHubEnabled": False,
            "responderRoles": {"investigator": f"arn:aws:iam::{ACCOUNT}:role/ir-investigator",
                               "responder": f"arn:aws:iam::{ACCOUNT}:role/ir-responder"},
        }
        # The stack's managed deny-all policy, as ResponderAccess provisions it.
        manifest["containmentPolicies"] = {"denyAll": sessions.client("iam").create_policy(
            PolicyName=f"ir-deny-all-{uuid.uuid4().hex[:8]}",
            PolicyDocument=json.dumps(DENY_ALL_DOCUMENT))["Policy"]["Arn"]}
        if evidence:
            key = sessions.client("kms").create_key(Description="evidence")["KeyMetadata"]
            manifest["kmsKeyArn"] = key["Arn"]
            sessions.client("s3").create_bucket(Bucket=manifest["evidenceBucket"])
        return Context(sessions=sessions, manifest=Manifest.from_document(manifest),
                       case_id=case_id or f"ir-test-{uuid.uuid4().hex[:8]}",
                       account_id=ACCOUNT, region=REGION)

    return make


def apply_all(step: Step) -> list[tuple[Change, dict[str, Any]]]:
    """validate, plan and apply every planned change, as the runner does."""
    step.validate()
    done = []
    for change in step.plan():
        done.append((change, dict(step.apply(change))))
    return done


def roll_back(step: Step, done: list[tuple[Change, dict[str, Any]]]) -> None:
    for change, result in reversed(done):
        step.rollback(change, result)
