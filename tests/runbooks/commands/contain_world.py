"""A module-scoped emulator server (port 0) seeded with the readiness resources by the
shared `seed_readiness()` (manifest in SSM, found by irctl's discovery), for the
`contain access-key|role|ip|bucket` end-to-end tests. `world.irctl(...)` runs
`python -m runbooks` as a subprocess, the way a responder runs it."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.runbooks.conftest import REGION, Readiness, seed_readiness


def start(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Readiness]:
    from rehearsal.emulator import start_server

    with start_server() as emu:
        def clients(service: str) -> Any:
            return boto3.client(service, region_name=REGION, endpoint_url=emu.endpoint_url,
                                aws_access_key_id="testing", aws_secret_access_key="testing")

        world = seed_readiness(clients)
        world.endpoint_url = emu.endpoint_url
        world.case_dir = tmp_path_factory.mktemp("cases")
        yield world


def as_json(run: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(run.stdout)
    return document


def audit_events(case_dir: Path, case: str) -> list[dict[str, Any]]:
    lines = (case_dir / case / "audit.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]
