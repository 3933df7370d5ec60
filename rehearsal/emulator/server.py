"""moto server on loopback with the emulator's extensions, per-call latency and counters.

moto answers in a few milliseconds, which hides what batching and concurrency are worth;
`latency_ms` adds a fixed delay to every AWS call to model a real round trip. Every call
is counted by (service, operation), resolved from the request the same way AWS does
(X-Amz-Target, the Query `Action`, or the REST path matched against botocore's model).
"""

from __future__ import annotations

import io
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs

# Signing names (from the SigV4 credential scope) whose botocore model has another name.
_SIGNING_TO_MODEL = {
    "monitoring": "cloudwatch",
    "email": "ses",
    "states": "stepfunctions",
    "eventbridge": "events",
}


def _service_from_auth(environ: dict[str, Any]) -> str | None:
    auth = environ.get("HTTP_AUTHORIZATION", "")
    try:
        scope = auth.split(",")[0].split()[1]
        _, _, _, service, _ = scope.split("/")
    except (IndexError, ValueError):
        return None
    return service.lower()


def classify(environ: dict[str, Any], body: bytes) -> tuple[str, str]:
    """(service, operation) of one AWS request, as the botocore model names them."""
    service = _service_from_auth(environ) or "unknown"
    model_name = _SIGNING_TO_MODEL.get(service, service)
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return model_name, target.split(".")[-1]
    content_type = environ.get("CONTENT_TYPE", "")
    if body and content_type.startswith("application/x-www-form-urlencoded"):
        form = parse_qs(body.decode("utf-8", "replace"))
        if "Action" in form:
            if model_name == "elasticloadbalancing":
                version = form.get("Version", [""])[0]
                model_name = "elbv2" if version == "2015-12-01" else "elb"
            return model_name, form["Action"][0]
    query = parse_qs(environ.get("QUERY_STRING", ""))
    if "Action" in query:
        return model_name, query["Action"][0]
    return model_name, _rest_operation(model_name, environ, body)


def classify_request(environ: dict[str, Any]) -> tuple[str, str, bytes]:
    """(service, operation, body) of a WSGI request, leaving the body readable again for
    the app behind (every layer in front of moto reads it to classify the call)."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    environ["wsgi.input"] = io.BytesIO(body)
    service, operation = classify(environ, body)
    environ["wsgi.input"] = io.BytesIO(body)
    return service, operation, body


def _rest_operation(model_name: str, environ: dict[str, Any], body: bytes) -> str:
    from moto.core.request import Request
    from moto.core.routing import get_service_router

    probe = dict(environ)
    probe["wsgi.input"] = io.BytesIO(body)
    try:
        operation, _ = get_service_router(model_name).match(Request(probe))
    except Exception:  # noqa: BLE001 - any unroutable request is counted, not failed
        return f"{environ.get('REQUEST_METHOD', '?')} {environ.get('PATH_INFO', '')}"
    return str(operation.name)


class CallRecorder:
    """Thread-safe counter of AWS calls by (service, operation)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: Counter[tuple[str, str]] = Counter()

    def add(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._calls[key] += 1

    def snapshot(self) -> Counter[tuple[str, str]]:
        with self._lock:
            return Counter(self._calls)

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()


class LatencyAndCountMiddleware:
    """WSGI middleware in front of moto: count each AWS call, then delay it."""

    def __init__(self, app: Callable[..., Any], recorder: CallRecorder, latency_ms: float) -> None:
        self.app = app
        self.recorder = recorder
        self.latency_ms = latency_ms

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/moto-api") or path == "/favicon.ico":
            return self.app(environ, start_response)
        service, operation, _ = classify_request(environ)
        self.recorder.add((service, operation))
        if self.latency_ms > 0:
            time.sleep(self.latency_ms / 1000.0)
        return self.app(environ, start_response)


def _quiet_handler() -> type:
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    class QuietRequestHandler(MotoRequestHandler):
        """No access log line per request: benchmarks make tens of thousands of calls."""

        def log_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    return QuietRequestHandler


class EmulatorServer:
    """A moto server on 127.0.0.1 with the emulator installed. Use as a context manager."""

    def __init__(self, latency_ms: float = 0, port: int = 0,
                 middleware: Callable[[Callable[..., Any]], Callable[..., Any]] | None = None,
                 ) -> None:
        """`middleware` wraps the WSGI app in front of moto (outermost, before the latency
        and counting layer): tests inject faults with it, benchmarks model rate limits."""
        if latency_ms < 0:
            raise ValueError(f"latency_ms must be >= 0, got {latency_ms}")
        self._port = port
        self._wrap = middleware
        self._recorder = CallRecorder()
        self._middleware: LatencyAndCountMiddleware | None = None
        self._latency_ms = latency_ms
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def latency_ms(self) -> float:
        return self._latency_ms

    @latency_ms.setter
    def latency_ms(self, value: float) -> None:
        """Change the modelled round trip, e.g. seed fast, then measure at 100 ms."""
        if value < 0:
            raise ValueError(f"latency_ms must be >= 0, got {value}")
        self._latency_ms = value
        if self._middleware is not None:
            self._middleware.latency_ms = value

    def start(self) -> EmulatorServer:
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        from rehearsal.emulator.extensions import install

        install()
        app = DomainDispatcherApplication(create_backend_app)
        self._middleware = LatencyAndCountMiddleware(app, self._recorder, self._latency_ms)
        served: Callable[..., Any] = self._middleware
        if self._wrap is not None:
            served = self._wrap(served)
        self._server = make_server(
            "127.0.0.1",
            self._port,
            served,
            threaded=True,
            request_handler=_quiet_handler(),
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="ir-emulator", daemon=True
        )
        self._thread.start()
        return self

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the emulator server is not running; call start() first")
        return int(self._server.server_address[1])

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def calls(self) -> Counter[tuple[str, str]]:
        """AWS calls served so far, by (service, operation)."""
        return self._recorder.snapshot()

    def reset_calls(self) -> None:
        self._recorder.reset()

    def reset_state(self) -> None:
        """Wipe every moto backend (and the emulator's state stored on them)."""
        from moto.moto_api._internal.models import moto_api_backend

        moto_api_backend.reset()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = None
        self._thread = None

    def __enter__(self) -> EmulatorServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_server(latency_ms: float = 0, port: int = 0) -> EmulatorServer:
    """Start a moto server with the emulator's extensions on 127.0.0.1 (port 0 = free port).

    >>> with start_server(latency_ms=0) as emu:   # doctest: +SKIP
    ...     boto3.client("guardduty", endpoint_url=emu.endpoint_url, region_name="us-east-1")
    """
    return EmulatorServer(latency_ms=latency_ms, port=port).start()


def iter_calls(calls: Counter[tuple[str, str]], service: str) -> Iterable[tuple[str, int]]:
    """(operation, count) for one service, most frequent first."""
    return ((op, n) for (svc, op), n in calls.most_common() if svc == service)
