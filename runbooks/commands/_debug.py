"""`--debug` / `-v`: one line on stderr per AWS call, from botocore's own events on the
sessions the Context builds (`Settings.event_hooks` -> `SessionFactory.event_hooks`).

    aws ec2.ModifyNetworkInterfaceAttribute NetworkInterfaceId=eni-0a1b 212 ms 200 request-id 7c9e

Each line names the service, the operation, the call's target (the ids and names among
its parameters; never a policy document, a body or a secret), the duration, the HTTP
status or error code, and the request id AWS Support asks for. One line per call (its
retries are inside its duration).
"""

from __future__ import annotations

import time
from typing import Any

import click

from runbooks.workflows.session import Settings

# Parameters that name what a call acts on. Values of other parameters (documents,
# bodies, tokens, passwords) are never logged.
_TARGET_SUFFIXES = ("Id", "Ids", "Name", "Names", "Arn", "Arns", "Bucket", "Key")
_NEVER = frozenset({"SecretId", "AccessKeyId"})  # ids, but better not in a CI log
_MAX_TARGET = 200


def call_target(params: dict[str, Any]) -> str:
    """`Key=value` for each id- or name-like top-level parameter, in order."""
    parts: list[str] = []
    for key, value in params.items():
        if key == "Filters" and isinstance(value, list):
            # EC2's describe calls name their targets in filters (instance-id, vpc-id)
            shown = ",".join(f"{f.get('Name')}={'|'.join(map(str, f.get('Values', [])))}"
                             for f in value if isinstance(f, dict))
            parts.append(f"Filters={shown}")
            continue
        if key in _NEVER or not key.endswith(_TARGET_SUFFIXES):
            continue
        if isinstance(value, (list, tuple)):
            shown = ",".join(str(v) for v in value if isinstance(v, (str, int)))
        elif isinstance(value, (str, int)):
            shown = str(value)
        else:
            continue
        parts.append(f"{key}={shown}")
    text = " ".join(parts)
    return text if len(text) <= _MAX_TARGET else text[:_MAX_TARGET - 3] + "..."


def _parameters(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    # the API parameters as the caller gave them (before-call sees the serialised request)
    context["ir_debug_target"] = call_target(params or {})


def _before_call(context: dict[str, Any], **_: Any) -> None:
    context["ir_debug_started"] = time.monotonic()


def _after_call(http_response: Any, parsed: dict[str, Any], model: Any,
                context: dict[str, Any], **_: Any) -> None:
    started = context.get("ir_debug_started")
    millis = f"{(time.monotonic() - started) * 1000:.0f} ms" if started else "? ms"
    meta = (parsed or {}).get("ResponseMetadata") or {}
    headers = meta.get("HTTPHeaders") or {}
    request_id = (meta.get("RequestId") or headers.get("x-amzn-requestid")
                  or headers.get("x-amz-request-id") or "-")
    error = (parsed or {}).get("Error") or {}
    status = str(error.get("Code") or getattr(http_response, "status_code", "") or "-")
    service = model.service_model.endpoint_prefix
    target = context.get("ir_debug_target") or "-"
    click.echo(f"aws {service}.{model.name} {target} {millis} {status} "
               f"request-id {request_id}", err=True)


def _after_call_error(model: Any, context: dict[str, Any], exception: BaseException,
                      **_: Any) -> None:
    # no answer at all (timeout, connection refused): no status, no request id
    started = context.get("ir_debug_started")
    millis = f"{(time.monotonic() - started) * 1000:.0f} ms" if started else "? ms"
    target = context.get("ir_debug_target") or "-"
    click.echo(f"aws {model.service_model.endpoint_prefix}.{model.name} {target} {millis} "
               f"{type(exception).__name__} request-id -", err=True)


def enable_debug(settings: Settings) -> None:
    """Log every AWS call of the sessions made from `settings` (idempotent)."""
    if settings.debug:
        return
    settings.debug = True
    settings.event_hooks.extend([
        ("before-parameter-build", _parameters),
        ("before-call", _before_call),
        ("after-call", _after_call),
        ("after-call-error", _after_call_error),
    ])
