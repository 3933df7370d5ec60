"""Which read errors degrade a source (its check `unknown`, the others still made) and
which propagate as bugs."""

from __future__ import annotations

import pytest
from botocore.exceptions import (
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

from runbooks.analysis.sources import failure, read_errors


@pytest.mark.parametrize("err", [
    EndpointConnectionError(endpoint_url="https://guardduty.eu-west-1.amazonaws.com"),
    ConnectTimeoutError(endpoint_url="https://guardduty.eu-west-1.amazonaws.com"),
    ReadTimeoutError(endpoint_url="https://guardduty.eu-west-1.amazonaws.com"),
])
def test_an_endpoint_that_never_answers_degrades_its_source(err: Exception) -> None:
    assert isinstance(err, read_errors())
    described = failure("GuardDuty", err, "ListFindings").text()
    assert described.startswith("GuardDuty: ListFindings failed")
    assert "guardduty.eu-west-1.amazonaws.com" in described


def test_missing_credentials_is_not_a_source_failure() -> None:
    # no credentials at all is the caller's setup, for every source: it propagates
    assert not isinstance(NoCredentialsError(), read_errors())
