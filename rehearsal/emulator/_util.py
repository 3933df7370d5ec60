"""Small helpers shared by the emulator's service extensions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def backend_state(backend: Any, key: str, factory: Callable[[], T]) -> T:
    """Per-account, per-region state stored on moto's own backend object.

    Keeping it on the backend (rather than in a module-level dict) means moto's reset
    (a new `mock_aws`, or `POST /moto-api/reset`) wipes it together with everything
    else, so tests never see each other's findings or recovery points.
    """
    store: dict[str, Any] = backend.__dict__.setdefault("_ir_emulator", {})
    if key not in store:
        store[key] = factory()
    value: T = store[key]
    return value


def service_error(code: str, message: str) -> Exception:
    """An error serialised by moto from the service's botocore model (right HTTP status).

    The class lives outside the `moto` package on purpose: moto then looks the code up
    in the model of the service being called instead of guessing one from the module.
    """
    from moto.core.exceptions import ServiceException

    class EmulatorServiceError(ServiceException):
        pass

    return EmulatorServiceError(code, message)


def add_url_paths(urls_module: Any, handler: Any, patterns: list[str]) -> None:
    """Route extra URL patterns of a moto service to `handler` (idempotent).

    moto reads `url_paths` each time it builds its URL map (in-process on every request,
    in server mode when the service's app is first created), so adding here is enough.
    """
    for pattern in patterns:
        urls_module.url_paths[pattern] = handler


def reroute(urls_module: Any, original: type, replacement: Any) -> None:
    """Point every existing route of `original` at `replacement` (a subclass)."""
    for pattern, handler in list(urls_module.url_paths.items()):
        owner = getattr(handler, "__self__", None)
        if owner is original or isinstance(owner, original):
            urls_module.url_paths[pattern] = replacement.dispatch


def sort_key(value: Any) -> tuple[int, float, str]:
    """Numbers sort as numbers (severity 10 after 5), everything else as text."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, float(value), "")
    return (1, 0.0, "" if value is None else str(value))
