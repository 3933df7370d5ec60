"""What the benchmarks that drive the real CLI against the emulator share: the child
process's environment and a seeded readiness world on the emulator's server."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from rehearsal.emulator.server import EmulatorServer
from tests.runbooks.conftest import REGION, Readiness, seed_readiness

REPO = Path(__file__).resolve().parents[1]


def environment(endpoint: str, case_dir: str) -> dict[str, str]:
    """The CLI subprocess's environment: fake credentials, the emulator as endpoint."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                "AWS_DEFAULT_REGION": REGION, "AWS_ENDPOINT_URL": endpoint,
                "IR_CASE_DIR": case_dir, "PYTHONPATH": str(REPO)})
    return env


def world_on(server: EmulatorServer) -> Readiness:
    """The readiness resources irctl reads (manifest in SSM included), on `server`."""
    import boto3

    def clients(service: str) -> Any:
        return boto3.client(service, region_name=REGION, endpoint_url=server.endpoint_url,
                            aws_access_key_id="bench", aws_secret_access_key="bench")

    world = seed_readiness(clients)
    world.endpoint_url = server.endpoint_url
    return world
