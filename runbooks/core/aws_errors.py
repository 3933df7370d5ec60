"""An AWS error in one line a responder can act on: the operation, the error code, the
request id (what AWS Support asks for) and the message.

Never the raw body of a page that is not an AWS error: a proxy, a wrong endpoint or an
emulator without the API answers with HTML (or XML botocore cannot parse), and botocore
then hands the whole page over as the error message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_MARKUP = re.compile(r"^\s*<(?:!doctype|\?xml|[a-z][\w:.-]*[\s/>])", re.IGNORECASE)
_PAGE = re.compile(r"<(?:!doctype|html|head|body|title)\b", re.IGNORECASE)
_HEADING = re.compile(r"<(title|h1)\b[^>]*>(.*?)</\1\s*>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]*>")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_MESSAGE = 300


@dataclass(frozen=True)
class AwsError:
    """What one failed AWS call said."""

    operation: str
    code: str
    request_id: str | None
    message: str
    http_status: int | None = None

    def text(self) -> str:
        request = f"request id {self.request_id}" if self.request_id else "no request id"
        message = f": {self.message}" if self.message else ""
        return f"{self.operation} failed: {self.code} ({request}){message}"

    def to_dict(self) -> dict[str, Any]:
        return {"operation": self.operation, "errorCode": self.code,
                "requestId": self.request_id, "httpStatus": self.http_status,
                "message": self.message}


def clean_message(text: str, http_status: int | None = None) -> str:
    """`text` on one line, without control characters, at most MAX_MESSAGE long; a page of
    HTML or XML becomes a sentence naming its title."""
    if _MARKUP.match(text) or _PAGE.search(text):
        heading = _HEADING.search(text)
        title = " ".join(_TAG.sub(" ", heading.group(2)).split()) if heading else ""
        shown = f" ({_CONTROL.sub('', title)[:80]})" if title else ""
        status = f" HTTP {http_status}" if http_status else ""
        return (f"the endpoint answered{status} with an HTML/XML page{shown}, not an AWS "
                "answer: check the region, the endpoint and the resource id")
    line = " ".join(_CONTROL.sub(" ", text).split())
    return line if len(line) <= MAX_MESSAGE else line[:MAX_MESSAGE - 3] + "..."


def describe_aws_error(err: BaseException, operation: str | None = None) -> AwsError:
    """A ClientError (AWS answered), a response botocore could not parse, or a botocore
    error (no answer: timeout, connection). `operation`: the call's name when the error
    does not carry it (a ClientError does)."""
    from botocore.exceptions import ClientError

    if isinstance(err, ClientError):
        response: dict[str, Any] = dict(err.response or {})
        error = response.get("Error") or {}
        meta = response.get("ResponseMetadata") or {}
        headers = meta.get("HTTPHeaders") or {}
        status = meta.get("HTTPStatusCode")
        request_id = (meta.get("RequestId") or headers.get("x-amzn-requestid")
                      or headers.get("x-amz-request-id"))
        code = str(error.get("Code") or status or "Unknown")
        return AwsError(err.operation_name or operation or "an AWS call",
                        clean_message(code, status)[:80],
                        str(request_id) if request_id else None,
                        clean_message(str(error.get("Message") or ""), status), status)
    from botocore.parsers import ResponseParserError

    if isinstance(err, ResponseParserError):
        # an XML service answered with something that is not XML (a page): botocore
        # raises this, with the page's bytes in the text, instead of a ClientError
        return AwsError(operation or "an AWS call", "UnparsableResponse", None,
                        clean_message(str(err)))
    return AwsError(operation or "an AWS call", type(err).__name__, None,
                    clean_message(str(err)))
