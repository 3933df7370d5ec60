"""The emulator's extensions installed into moto in this process (`install`), and the
helpers that stage data through them. Re-exported by `rehearsal.emulator`; the server
imports this module, not the package, so the two do not import each other."""

from __future__ import annotations

import threading
from typing import Any

_install_lock = threading.Lock()
_installed = False


def install() -> None:
    """Extend moto in this process (both `mock_aws` and moto server). Idempotent."""
    global _installed
    with _install_lock:
        if _installed:
            return
        from rehearsal.emulator import (
            accessanalyzer,
            backup,
            cloudtrail,
            guardduty,
            lambda_,
            s3_checksum,
            securityhub,
            shield,
            ssm,
        )

        for module in (cloudtrail, guardduty, securityhub, backup, ssm, accessanalyzer,
                       shield, lambda_):
            module.install()
        s3_checksum.install()  # S3 verifies a sent SHA-256 (the evidence writer's)
        _hook_dispatch()
        _installed = True


def _hook_dispatch() -> None:
    """Record every call moto dispatches as a CloudTrail management event."""
    from moto.core.responses import BaseResponse
    from moto.s3.responses import S3Response

    from rehearsal.emulator.cloudtrail import record_call, record_s3_bucket_call

    original = BaseResponse.call_action

    def call_action(self: Any) -> Any:
        status, headers, body = original(self)
        try:
            record_call(self, int(status), body)
        except (KeyError, ValueError, AttributeError):
            # A call moto served in a region or partition CloudTrail's backend does not
            # know (e.g. a made-up region): not recorded, and the call itself unaffected.
            pass
        return status, headers, body

    BaseResponse.call_action = call_action  # type: ignore[method-assign]

    # S3 has its own dispatch; its bucket-level calls are management events too.
    original_bucket_response = S3Response.bucket_response

    def bucket_response(self: Any, request: Any, full_url: str, headers: Any) -> Any:
        status, out_headers, body = original_bucket_response(self, request, full_url, headers)
        try:
            record_s3_bucket_call(self, request, int(status), body)
        except (KeyError, ValueError, AttributeError):
            pass  # as above: recording never changes the call's outcome
        return status, out_headers, body

    S3Response.bucket_response = bucket_response  # type: ignore[method-assign]


def inject_events(*args: Any, **kwargs: Any) -> None:
    """See `rehearsal.emulator.cloudtrail.inject_events`."""
    install()
    from rehearsal.emulator.cloudtrail import inject_events as inject

    inject(*args, **kwargs)


def inject_finding(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """See `rehearsal.emulator.guardduty.inject_finding`."""
    install()
    from rehearsal.emulator.guardduty import inject_finding as inject

    return inject(*args, **kwargs)
