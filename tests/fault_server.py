"""A fault-injecting WSGI layer in front of the emulator server (a test helper only).

Incidents are when things break, so the runbooks are tested against an AWS that fails the
way AWS does: a 500 or 503 on the Nth call of one operation, throttling, AccessDenied, a
connection reset, an endpoint that hangs, or a response held back while the test kills
the client that is waiting for it (a killed terminal mid-change). The layer sits between
the HTTP server and moto, so it works for every client: boto3 in the test process, the
`irctl` CLI as a subprocess, the automation handler.

    plan = FaultPlan()
    plan.fail("ModifyNetworkInterfaceAttribute", status=500, code="InternalError", calls={2})
    plan.throttle_mutating("ec2", every=3)
    hold = plan.hold("ModifyNetworkInterfaceAttribute", calls={1})
    with start_fault_server(plan) as server:   # server.endpoint_url
        ...

Call numbers are 1-based and count the requests a rule's selector matches from the
moment the rule was added (for a rule on one operation: that operation's calls, from all
clients). `calls=None` (the default) faults every matching call; `every=N` every Nth.
`plan.page(op)` answers with an HTML page instead of an AWS error (a bare moto server's
404 for an API it lacks, or a proxy).
`plan.seen[operation]` counts every request of that operation the layer saw, faulted or
not. Error bodies have each protocol's real shape (EC2 XML, query XML, JSON, REST-JSON,
S3 XML) with a request id, so botocore parses the code and the retry logic sees what it
would see from AWS.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from rehearsal.emulator.server import EmulatorServer, classify_request

READ_PREFIXES = ("Describe", "Get", "List", "Search", "Lookup")

Selector = Callable[[str, str], bool]
"""(service, operation) -> does the rule apply to this request?"""


def is_mutating(operation: str) -> bool:
    """EC2's own split: non-mutating actions are the Describe*/Get*/List* reads."""
    return not operation.startswith(READ_PREFIXES)


@dataclass
class Hold:
    """A response held back after moto has processed the request (the change is made)."""

    arrived: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)
    timeout: float = 120.0

    def release(self) -> None:
        self.released.set()


@dataclass
class Fault:
    kind: str  # error | throttle | deny | page | reset | hang | hold
    status: int = 500
    code: str = "InternalError"
    message: str = ""
    seconds: float = 0.0
    hold: Hold | None = None


@dataclass
class Rule:
    selector: Selector
    fault: Fault
    calls: set[int] | None = None
    every: int | None = None
    count: int = 0

    def fires(self) -> bool:
        """Count this matching request; does the fault apply to it?"""
        self.count += 1
        if self.every is not None:
            return self.count % self.every == 0
        return self.calls is None or self.count in self.calls


def _operation(name: str, service: str | None = None) -> Selector:
    return lambda svc, op: op == name and (service is None or svc == service)


class FaultPlan:
    """The rules the layer applies; shared between the test and the server thread."""

    def __init__(self) -> None:
        self.rules: list[Rule] = []
        self.seen: Counter[str] = Counter()
        self.faulted: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._stop = threading.Event()

    # -- adding rules -------------------------------------------------------------------

    def add(self, selector: Selector, fault: Fault, *, calls: Iterable[int] | None = None,
            every: int | None = None) -> FaultPlan:
        with self._lock:
            self.rules.append(Rule(selector, fault, set(calls) if calls is not None else None,
                                   every))
        return self

    def fail(self, operation: str, *, status: int = 500, code: str = "InternalError",
             message: str = "", calls: Iterable[int] | None = None, every: int | None = None,
             service: str | None = None) -> FaultPlan:
        """Answer with an AWS error of `status` and `code`."""
        return self.add(_operation(operation, service),
                        Fault("error", status, code, message or f"injected {code}"),
                        calls=calls, every=every)

    def throttle(self, operation: str, *, calls: Iterable[int] | None = None,
                 every: int | None = None, service: str | None = None) -> FaultPlan:
        """The service's own throttling answer (EC2: 503 RequestLimitExceeded)."""
        return self.add(_operation(operation, service), Fault("throttle"), calls=calls,
                        every=every)

    def throttle_mutating(self, service: str, *, every: int | None = None,
                          calls: Iterable[int] | None = None) -> FaultPlan:
        """Throttle `service`'s mutating calls, counted together (every Nth of them)."""
        return self.add(lambda svc, op: svc == service and is_mutating(op),
                        Fault("throttle"), calls=calls, every=every)

    def deny(self, operation: str, *, calls: Iterable[int] | None = None,
             every: int | None = None, service: str | None = None) -> FaultPlan:
        """403: AccessDenied / UnauthorizedOperation (EC2) / AccessDeniedException (JSON)."""
        return self.add(_operation(operation, service), Fault("deny"), calls=calls,
                        every=every)

    def page(self, operation: str, *, status: int = 404, calls: Iterable[int] | None = None,
             service: str | None = None) -> FaultPlan:
        """Answer with an HTML page, not an AWS error (a proxy, a wrong endpoint, or an
        emulator without the API): botocore hands the page over as the message."""
        return self.add(_operation(operation, service), Fault("page", status), calls=calls)

    def reset(self, operation: str, *, calls: Iterable[int] | None = None,
              every: int | None = None, service: str | None = None) -> FaultPlan:
        """Drop the connection without an answer (as a reset would); moto never sees the
        request."""
        return self.add(_operation(operation, service), Fault("reset"), calls=calls,
                        every=every)

    def hang(self, operation: str, seconds: float, *, calls: Iterable[int] | None = None,
             service: str | None = None) -> FaultPlan:
        """Answer nothing for `seconds` (then pass the request on, as a slow AWS would)."""
        return self.add(_operation(operation, service), Fault("hang", seconds=seconds),
                        calls=calls)

    def hold(self, operation: str, *, calls: Iterable[int] | None = None,
             service: str | None = None, timeout: float = 120.0) -> Hold:
        """Let moto process the request (the change is made), then hold its response until
        `release()` (or `timeout`): kill the client meanwhile to play a killed terminal."""
        held = Hold(timeout=timeout)
        self.add(_operation(operation, service), Fault("hold", hold=held),
                 calls=calls if calls is not None else {1})
        return held

    def clear(self) -> None:
        """Drop every rule and let every held or hanging request go."""
        with self._lock:
            for rule in self.rules:
                if rule.fault.hold is not None:
                    rule.fault.hold.release()
            self.rules.clear()
        self._stop.set()
        self._stop = threading.Event()

    # -- matching -----------------------------------------------------------------------

    def match(self, service: str, operation: str) -> Fault | None:
        with self._lock:
            self.seen[operation] += 1
            chosen = None
            for rule in self.rules:
                if rule.selector(service, operation) and rule.fires() and chosen is None:
                    chosen = rule.fault
            if chosen is not None:
                self.faulted[operation] += 1
            return chosen

    def sleep(self, seconds: float) -> None:
        """Sleep, cut short by `clear()` (so a test's teardown never waits on a hang)."""
        self._stop.wait(seconds)


# -- error bodies ------------------------------------------------------------------------


@cache
def _protocol(service: str) -> str:
    import botocore.session

    try:
        return str(botocore.session.get_session().get_service_model(service).protocol)
    except Exception:  # noqa: BLE001 - an unknown signing name: answer in JSON
        return "json"


_THROTTLE = {"ec2": (503, "RequestLimitExceeded"), "query": (400, "Throttling"),
             "rest-xml": (503, "SlowDown"), "json": (400, "ThrottlingException"),
             "rest-json": (429, "TooManyRequestsException")}
_DENY = {"ec2": (403, "UnauthorizedOperation"), "query": (403, "AccessDenied"),
         "rest-xml": (403, "AccessDenied"), "json": (400, "AccessDeniedException"),
         "rest-json": (403, "AccessDeniedException")}


def error_response(service: str, fault: Fault) -> tuple[int, list[tuple[str, str]], bytes]:
    """(status, headers, body) of an AWS error in `service`'s protocol."""
    if fault.kind == "page":  # werkzeug's own 404 page, as a bare moto server sends it
        page = ("<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found"
                "</h1>\n<p>The requested URL was not found on the server. If you entered the "
                "URL manually please check your spelling and try again.</p>\n")
        return fault.status, [("Content-Type", "text/html; charset=utf-8")], page.encode()
    protocol = _protocol(service)
    family = protocol if protocol in _THROTTLE else "json"
    status, code = fault.status, fault.code
    if fault.kind == "throttle":
        status, code = _THROTTLE[family]
    elif fault.kind == "deny":
        status, code = _DENY[family]
    message = fault.message or f"injected {code}"
    request_id = str(uuid.uuid4())
    if family == "ec2":
        body = (f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message>"
                f"</Error></Errors><RequestID>{request_id}</RequestID></Response>")
        headers = [("Content-Type", "text/xml")]
    elif family == "query":
        body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>"
                f"<Message>{message}</Message></Error><RequestId>{request_id}</RequestId>"
                "</ErrorResponse>")
        headers = [("Content-Type", "text/xml")]
    elif family == "rest-xml":
        body = (f"<Error><Code>{code}</Code><Message>{message}</Message>"
                f"<RequestId>{request_id}</RequestId></Error>")
        headers = [("Content-Type", "application/xml"), ("x-amz-request-id", request_id)]
    else:  # json, rest-json (and anything else: botocore reads the header first)
        body = json.dumps({"__type": code, "message": message})
        headers = [("Content-Type", "application/x-amz-json-1.1"),
                   ("x-amzn-ErrorType", code)]
    headers.append(("x-amzn-RequestId", request_id))
    return status, headers, body.encode()


# -- the WSGI layer ----------------------------------------------------------------------


class FaultMiddleware:
    """WSGI middleware: classify each AWS request, apply the plan's first firing rule."""

    def __init__(self, app: Callable[..., Any], plan: FaultPlan) -> None:
        self.app = app
        self.plan = plan

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/moto-api"):
            return self.app(environ, start_response)
        service, operation, _ = classify_request(environ)
        fault = self.plan.match(service, operation)
        if fault is None:
            return self.app(environ, start_response)
        if fault.kind == "reset":
            _reset(environ)
            raise ConnectionResetError(f"injected reset of {operation}")
        if fault.kind == "hang":
            self.plan.sleep(fault.seconds)
            return self.app(environ, start_response)
        if fault.kind == "hold":
            assert fault.hold is not None
            captured: dict[str, Any] = {}

            def capture(status: str, headers: list[tuple[str, str]],
                        exc_info: Any = None) -> Callable[[bytes], None]:
                captured["status"], captured["headers"] = status, headers
                return lambda data: None

            chunks = b"".join(self.app(environ, capture))
            fault.hold.arrived.set()
            fault.hold.released.wait(fault.hold.timeout)
            start_response(captured["status"], captured["headers"])
            return [chunks]
        status, headers, payload = error_response(service, fault)
        reason = {400: "Bad Request", 403: "Forbidden", 404: "Not Found",
                  429: "Too Many Requests", 500: "Internal Server Error",
                  503: "Service Unavailable"}.get(status, "Error")
        start_response(f"{status} {reason}", [*headers, ("Content-Length", str(len(payload)))])
        return [payload]


def _reset(environ: dict[str, Any]) -> None:
    """Drop the client's connection without an answer: the socket is shut down at once
    (the client reads end-of-stream mid-request) and closed with SO_LINGER 0 (a reset)."""
    sock = environ.get("werkzeug.socket")
    if sock is None:
        return
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # the client is gone already


def start_fault_server(plan: FaultPlan, latency_ms: float = 0) -> EmulatorServer:
    """The emulator server (moto + extensions) with `plan` applied to every request."""
    return EmulatorServer(latency_ms=latency_ms,
                          middleware=lambda app: FaultMiddleware(app, plan)).start()


def wait_until(predicate: Callable[[], bool], timeout: float = 30.0,
               interval: float = 0.05) -> bool:
    """Poll `predicate` until it holds or `timeout` runs out; returns whether it held."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
