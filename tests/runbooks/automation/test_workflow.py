"""Pieces of the automation's workflow that need no emulator."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from runbooks.automation.workflow import aws_error_code
from runbooks.core.errors import PreconditionFailed
from runbooks.core.runner import _describe_error


@pytest.mark.parametrize("code", ["InvalidAccessException", "AccessDenied",
                                  "KMS.DisabledException", "ThrottlingException"])
def test_the_error_code_is_read_back_from_the_runners_message(code: str) -> None:
    err = ClientError({"Error": {"Code": code, "Message": "no: you may not"}}, "GetFindings")
    message, _ = _describe_error(err)
    assert aws_error_code(message) == code


@pytest.mark.parametrize("err", [
    PreconditionFailed("Security Hub in us-east-1 has no finding x failed: y"),
    EndpointConnectionError(endpoint_url="https://securityhub.us-east-1.amazonaws.com"),
])
def test_errors_without_an_aws_code_have_none(err: Exception) -> None:
    message, _ = _describe_error(err)
    assert aws_error_code(message) is None
