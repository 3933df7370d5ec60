"""Which sources an analysis read, and which of them failed.

`triage`, `investigate` and `verify case` read several independent sources (CloudTrail
LookupEvents per region, the trail's log files, GuardDuty, Security Hub). During an
incident one of them failing (a 500, throttling that outlasts the retries, a missing
permission, a timeout) must not hide what the others returned: the failure is kept as a
`SourceFailure` (the source, the call, its error code and request id), the command shows
the rest and exits with `EXIT_PARTIAL`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from runbooks.core.aws_errors import AwsError, describe_aws_error
from runbooks.core.errors import EXIT_EVIDENCE_QUEUED, EXIT_OK, EXIT_PARTIAL


@dataclass(frozen=True)
class SourceFailure:
    source: str
    error: AwsError

    def text(self) -> str:
        return f"{self.source}: {self.error.text()}"

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "status": "failed", **self.error.to_dict()}


def read_errors() -> tuple[type[BaseException], ...]:
    """The errors of a read that degrade its source: AWS answered with an error, with
    something that is not an AWS answer (a page), or never answered (connection,
    timeout). Anything else is a bug and propagates."""
    from botocore.exceptions import ClientError, HTTPClientError
    from botocore.exceptions import ConnectionError as EndpointUnreachable
    from botocore.parsers import ResponseParserError

    # HTTPClientError: the connection dropped or a read timed out; EndpointUnreachable
    # (EndpointConnectionError, ConnectTimeoutError): the endpoint never answered
    return (ClientError, HTTPClientError, EndpointUnreachable, ResponseParserError)


def failure(source: str, err: BaseException, operation: str | None = None) -> SourceFailure:
    return SourceFailure(source, describe_aws_error(err, operation))


def source_status(read: Iterable[str], failures: Iterable[SourceFailure]) -> list[dict[str, Any]]:
    """Every source, in order, `ok` or `failed` (with the error); a source that failed
    part-way is `failed` (what it returned before is still used)."""
    failed = list(failures)
    names = {f.source for f in failed}
    status: list[dict[str, Any]] = [{"source": s, "status": "ok"}
                                    for s in dict.fromkeys(read) if s not in names]
    return status + [f.to_dict() for f in failed]


def with_partial(code: int, failures: Iterable[SourceFailure]) -> int:
    """The exit code once a source failed: EXIT_PARTIAL, unless the command already
    failed or was refused (1, 2 and 3 stay); it takes precedence over 4 (evidence queued)."""
    if not list(failures) or code not in (EXIT_OK, EXIT_EVIDENCE_QUEUED):
        return code
    return EXIT_PARTIAL
