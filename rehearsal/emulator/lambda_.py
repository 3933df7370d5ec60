"""Lambda: a code location a client can download from, and ListEventSourceMappings by
function name or ARN.

moto 5.2 answers GetFunction with `Code.Location` pointing at
`https://awslambda-<region>-tasks.s3.<region>.amazonaws.com/...`, which nothing serves,
so a client cannot download the package the way it does from AWS (a presigned S3 URL,
no AWS credentials needed). The emulator answers with a URL on the emulator itself,
`<scheme>://<host>/lambda_<region>/ir-emulator/code/<account>/<function>`, which serves
the function's package bytes (the ones moto hashed into CodeSha256). An unsigned GET is
routed by moto server from the `lambda_<region>` path prefix, as moto routes requests to
itself. In-process (`mock_aws`, which intercepts botocore only) the URL's host is
`IN_PROCESS_HOST`, which a urllib handler installed here answers from moto's backend;
every other URL goes out as before.

moto also matches ListEventSourceMappings' FunctionName against the text the mapping was
created with (a name does not find a mapping created with the function's ARN, and vice
versa); AWS resolves both to the function. The emulator compares the resolved ARNs.
"""

from __future__ import annotations

import email.message
import io
import json
import urllib.error
import urllib.request
import urllib.response
from typing import Any
from urllib.parse import unquote, urlsplit

from moto.awslambda.responses import LambdaResponse

from rehearsal.emulator._util import add_url_paths, reroute

CODE_PATH = "/lambda_{region}/ir-emulator/code/{account}/{function}"
IN_PROCESS_HOST = "lambda-code.ir-emulator.invalid"


def code_url(host_url: str, region: str, account: str, function: str) -> str:
    parts = urlsplit(host_url)
    base = (f"http://{IN_PROCESS_HOST}" if parts.netloc.endswith("amazonaws.com")
            else f"{parts.scheme}://{parts.netloc}")
    return base + CODE_PATH.format(region=region, account=account, function=function)


def _backend(account: str, region: str) -> Any:
    from moto.awslambda.models import lambda_backends

    return lambda_backends[account][region]


class EmulatedLambdaResponse(LambdaResponse):
    def get_function(self) -> str:
        body = json.loads(super().get_function())
        code = body.get("Code")
        if isinstance(code, dict) and code.get("RepositoryType") == "S3":
            name = body["Configuration"]["FunctionName"]
            code["Location"] = code_url(self.uri, self.region, self.current_account, name)
        return json.dumps(body)

    def list_event_source_mappings(self) -> str:
        source = self.querystring.get("EventSourceArn", [None])[0]
        function = self.querystring.get("FunctionName", [None])[0]
        backend = self.backend
        arn = None
        if function:
            arn = backend.get_function(unquote(function)).function_arn
        mappings = [m for m in backend._event_source_mappings.values()
                    if (not source or m.event_source_arn == source)
                    and (arn is None or m.function_arn.split(":$LATEST")[0] == arn)]
        return json.dumps({"EventSourceMappings": [m.get_configuration() for m in mappings]})


DENIED = b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"


def _package(path: str) -> bytes | None:
    try:
        prefix, _, _, account, function = path.strip("/").split("/")
        region = prefix.removeprefix("lambda_")
        code: bytes = _backend(account, region).get_function(unquote(function)).code_bytes
    except Exception:  # noqa: BLE001 - a malformed path or unknown function: S3's 403
        return None
    return code


def serve_code(request: Any, full_url: str, headers: Any) -> tuple[int, dict[str, str], bytes]:
    """GET of a code location: the function's package bytes, as S3 would serve them."""
    body = _package(urlsplit(full_url).path)
    if body is None:
        return 403, {"Content-Type": "application/xml"}, DENIED
    return 200, {"Content-Type": "application/zip", "Content-Length": str(len(body))}, body


class InProcessCodeHandler(urllib.request.HTTPHandler):
    """urllib's http handler, answering `IN_PROCESS_HOST` from moto's backend."""

    def http_open(self, req: urllib.request.Request) -> Any:
        if req.host != IN_PROCESS_HOST:
            return super().http_open(req)
        body = _package(urlsplit(req.full_url).path)
        if body is None:
            raise urllib.error.HTTPError(req.full_url, 403, "Forbidden",
                                         email.message.Message(), io.BytesIO(DENIED))
        headers = email.message.Message()
        headers["Content-Type"] = "application/zip"
        headers["Content-Length"] = str(len(body))
        answer = urllib.response.addinfourl(io.BytesIO(body), headers, req.full_url, 200)
        answer.msg = "OK"  # type: ignore[attr-defined]  # urllib's error processor reads it
        return answer


def install() -> None:
    import moto.awslambda.urls as urls

    reroute(urls, LambdaResponse, EmulatedLambdaResponse)
    add_url_paths(urls, serve_code, [
        r"{0}/lambda_(?P<region>[a-z0-9-]+)/ir-emulator/code/(?P<account>[0-9]{{12}})/"
        r"(?P<function>[^/]+)$"])
    urllib.request.install_opener(urllib.request.build_opener(InProcessCodeHandler))
