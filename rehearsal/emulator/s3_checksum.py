"""S3 verifies a SHA-256 checksum sent with an object's bytes, as S3 does on arrival.

moto 5.2 stores the `x-amz-checksum-sha256` a client sends with PutObject (and returns it
with `ChecksumMode=ENABLED`) without comparing it with the body: its own source says
"TODO: AWS computes the provided value and verifies it's the same". S3 refuses such a
request with 400 `BadDigest` and stores nothing. irctl's evidence writer
(`runbooks.core.evidence_queue.put_evidence`) sends the SHA-256 of every evidence object
precisely so that S3 makes this check; this extension makes the emulator make it too.
Only a client-supplied SHA-256 header is checked (the other algorithms, and checksums
moto computes itself, are left as moto handles them). `install()` is idempotent.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from typing import Any

_lock = threading.Lock()
_original: Any = None

HEADER = "x-amz-checksum-sha256"


def sha256_matches(body: bytes, sent: str) -> bool:
    """Whether `sent` (base64, as S3 takes it) is the SHA-256 of `body`."""
    return base64.b64encode(hashlib.sha256(body).digest()).decode("ascii") == sent.strip()


def install() -> None:
    global _original
    from moto.s3.exceptions import S3ClientError
    from moto.s3.responses import S3Response

    with _lock:
        if _original is not None:
            return
        _original = S3Response._get_checksum

        def _get_checksum(self: Any, response_headers: dict[str, Any]) -> Any:
            sent = self.headers.get(HEADER)
            if sent and not sha256_matches(bytes(self.body or b""), str(sent)):
                raise S3ClientError("BadDigest", "The SHA256 you specified did not match "
                                                 "the calculated checksum.")
            return _original(self, response_headers)

        S3Response._get_checksum = _get_checksum  # type: ignore[method-assign]


def uninstall() -> None:
    global _original
    from moto.s3.responses import S3Response

    with _lock:
        if _original is None:
            return
        S3Response._get_checksum = _original  # type: ignore[method-assign]
        _original = None
