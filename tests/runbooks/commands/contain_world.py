"""An emulator server on loopback, a readiness manifest for it, and `irctl` run as a
subprocess the way a responder runs it (for the contain access-key/role/ip/bucket
end-to-end tests)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

ACCOUNT = "123456789012"
REGION = "us-east-1"
ROOT = Path(__file__).resolve().parents[3]


@dataclass
class Server:
    endpoint_url: str
    manifest: dict[str, Any]
    manifest_path: Path

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=REGION, endpoint_url=self.endpoint_url,
                            aws_access_key_id="testing", aws_secret_access_key="testing")


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    def json(self) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(self.stdout)
        return document


def start(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Module-scoped: one emulator server (port 0) with the readiness resources."""
    from runbooks.drill.emulator import start_server

    with start_server() as emu:
        url = emu.endpoint_url
        server = Server(url, {}, Path())
        suffix = uuid.uuid4().hex[:10]
        evidence = f"ir-evidence-{suffix}"
        server.client("s3").create_bucket(Bucket=evidence)
        key_arn = server.client("kms").create_key()["KeyMetadata"]["Arn"]
        topics = {s: server.client("sns").create_topic(Name=f"ir-{s}-{suffix}")["TopicArn"]
                  for s in ("critical", "high", "info")}
        server.manifest = {
            "version": 1, "accountId": ACCOUNT, "region": REGION, "homeRegion": REGION,
            "kmsKeyArn": key_arn, "evidenceBucket": evidence,
            "trail": {"arn": f"arn:aws:cloudtrail:{REGION}:{ACCOUNT}:trail/ir",
                      "bucket": f"ir-trail-{suffix}", "logGroup": "/ir-readiness/cloudtrail"},
            "topics": topics, "quarantine": {},
            "backup": {"vaultName": "ir-vault",
                       "vaultArn": f"arn:aws:backup:{REGION}:{ACCOUNT}:backup-vault:ir-vault",
                       "planId": "plan-1",
                       "restoreRoleArn": f"arn:aws:iam::{ACCOUNT}:role/ir-backup-restore"},
            "guardDutyDetectorId": "0" * 32, "securityHubEnabled": True,
            "responderRoles": {"investigator": f"arn:aws:iam::{ACCOUNT}:role/ir-investigator",
                               "responder": f"arn:aws:iam::{ACCOUNT}:role/ir-responder"},
        }
        server.manifest_path = tmp_path_factory.mktemp("manifest") / "manifest.json"
        server.manifest_path.write_text(json.dumps(server.manifest))
        yield server


def irctl(server: Server, case_dir: Path, *args: str) -> Run:
    """`python -m runbooks --manifest M ARGS...` against the server, as a user runs it."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("AWS_") and k != "IR_CASE_DIR"}
    env.update(AWS_ENDPOINT_URL=server.endpoint_url, AWS_ACCESS_KEY_ID="testing",
               AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION=REGION,
               IR_CASE_DIR=str(case_dir), PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-m", "runbooks", "--manifest", str(server.manifest_path), *args],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=180)
    return Run(done.returncode, done.stdout, done.stderr)


def audit_events(case_dir: Path, case: str) -> list[dict[str, Any]]:
    lines = (case_dir / case / "audit.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]
