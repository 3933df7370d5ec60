"""The session factory's client configuration: timeouts, bounded attempts, retry mode."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from runbooks.core.context import EVIDENCE_MAX_ATTEMPTS, SessionFactory
from runbooks.core.errors import InvalidInput
from tests.runbooks.conftest import Readiness


def test_clients_have_connect_and_read_timeouts_and_bounded_attempts(
        fake_aws_env: Path) -> None:
    sessions = SessionFactory(region="us-east-1")
    config = sessions.client("ec2").meta.config
    assert (config.connect_timeout, config.read_timeout) == (5.0, 15.0)
    assert config.retries == {"mode": "adaptive", "total_max_attempts": 10}
    # a hung endpoint: 2 timed-out attempts x (5 + 15) s, under a minute per call
    assert sessions.hung_call_seconds() == pytest.approx(40.5)
    evidence = sessions.client("s3", max_attempts=EVIDENCE_MAX_ATTEMPTS).meta.config
    assert evidence.retries["total_max_attempts"] == 3
    assert sessions.client("s3") is not sessions.client("s3", max_attempts=3)


def test_timeouts_and_retry_mode_come_from_the_environment(
        fake_aws_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IR_AWS_CONNECT_TIMEOUT", "2")
    monkeypatch.setenv("IR_AWS_READ_TIMEOUT", "7.5")
    monkeypatch.setenv("AWS_RETRY_MODE", "standard")
    monkeypatch.setenv("IR_AWS_MAX_ATTEMPTS", "3")
    sessions = SessionFactory(region="us-east-1")
    config = sessions.client("sts").meta.config
    assert (config.connect_timeout, config.read_timeout) == (2.0, 7.5)
    assert config.retries == {"mode": "standard", "total_max_attempts": 3}
    # the evidence writer's bound still applies, the lower of the two
    assert sessions.client("s3", max_attempts=EVIDENCE_MAX_ATTEMPTS).meta.config.retries[
        "total_max_attempts"] == 3
    monkeypatch.setenv("IR_AWS_MAX_ATTEMPTS", "2")
    evidence = SessionFactory(region="us-east-1").client("s3", max_attempts=3).meta.config
    assert evidence.retries["total_max_attempts"] == 2


@pytest.mark.parametrize(("name", "value", "expected"), [
    ("IR_AWS_READ_TIMEOUT", "soon", "must be a number of seconds"),
    ("IR_AWS_CONNECT_TIMEOUT", "0", "more than 0 and at most 300"),
    ("IR_AWS_READ_TIMEOUT", "900", "more than 0 and at most 300"),
    ("AWS_RETRY_MODE", "legacy", "standard or adaptive"),
    ("IR_AWS_MAX_ATTEMPTS", "0", "whole number from 1 to 10"),
    ("IR_AWS_MAX_ATTEMPTS", "11", "whole number from 1 to 10"),
    ("IR_AWS_MAX_ATTEMPTS", "three", "whole number from 1 to 10"),
])
def test_a_bad_setting_names_the_variable_and_what_is_allowed(
        fake_aws_env: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str,
        expected: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(InvalidInput, match=expected) as raised:
        SessionFactory(region="us-east-1")
    assert name in str(raised.value)


def test_run_time_is_one_time_for_every_thread_of_a_run(readiness: Readiness) -> None:
    from concurrent.futures import ThreadPoolExecutor

    ctx = readiness.context()
    with ThreadPoolExecutor(max_workers=8) as pool:
        asked = list(pool.map(lambda _: ctx.run_time(), range(32)))
    assert len(set(asked)) == 1 and asked[0].tzinfo is not None
    time.sleep(0.01)

    ctx.cache.clear()  # what the runner does when the next run starts

    assert ctx.run_time() > asked[0]
