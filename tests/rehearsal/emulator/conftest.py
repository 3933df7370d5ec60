"""Every emulator test runs twice: moto in-process (`mock_aws`) and moto server over HTTP."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from rehearsal.emulator import install, start_server

REGION = "us-east-1"
ACCOUNT = "123456789012"


@pytest.fixture(params=["inprocess", "server"])
def client(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., Any]]:
    """`client("guardduty")` -> a plain boto3 client on the emulator, in either mode."""
    for var in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    if request.param == "inprocess":
        with mock_aws():
            install()
            yield lambda service, **kw: boto3.client(service, region_name=REGION, **kw)
    else:
        with start_server() as emu:
            emu.reset_state()
            yield lambda service, **kw: boto3.client(
                service, region_name=REGION, endpoint_url=emu.endpoint_url, **kw
            )
            emu.reset_state()
