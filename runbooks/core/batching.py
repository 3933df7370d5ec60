"""One AWS call for many resources, from concurrent callers that each want one.

AWS batches some writes (`CreateTags` takes up to 1,000 resource ids) and meters every
call against the API's token bucket (`runbooks.core.pacing`), so N threads that each
tag one resource with the same tags spend N tokens where one would do. A `Coalescer`
joins them: callers `submit(key, item)` from any thread; callers with the same `key`
within `linger` seconds of the first one share one `call(key, items)` of at most `limit`
items. Each caller returns only once the call holding ITS item succeeded, and raises that
call's error if it failed: a failed batch fails every caller in it and no other, so the
runner's per-target outcome and rollback stay exact.

The first caller of a batch (its leader) waits for company up to `linger` (less when the
batch fills, or holds every caller there can be: `expected`), then makes the call in its
own thread: no background thread, nothing left running when the callers are gone, and a
lone caller is delayed by `linger` at most. The call goes through whatever client the
caller's `call` uses, so retries and client-side pacing apply to it as to any other call;
`call` must be safe to retry (idempotent), as botocore's retries may send it more than
once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")

DEFAULT_LIMIT = 100
"""Items per call: CreateTags takes up to 1,000 resource ids; AWS recommends smaller
batches, and a failing batch fails every caller in it."""
DEFAULT_LINGER = 0.05
"""Seconds the first caller of a batch waits for others before the call is made."""


class _Batch(Generic[T]):
    def __init__(self, item: T, limit: int) -> None:
        self.items = [item]
        self.limit = limit
        self.closed = False
        self.done = threading.Event()
        self.error: BaseException | None = None


class Coalescer(Generic[K, T]):
    """Concurrent `submit(key, item)` with one `key` -> one `call(key, items)` per batch
    of at most `limit` items (see the module docstring)."""

    def __init__(self, call: Callable[[K, list[T]], object], *, limit: int = DEFAULT_LIMIT,
                 linger: float = DEFAULT_LINGER) -> None:
        if limit < 1 or linger < 0:
            raise ValueError(f"limit {limit} must be at least 1 and linger {linger} at "
                             "least 0")
        self.call = call
        self.limit = limit
        self.linger = linger
        self._cond = threading.Condition()
        self._open: dict[K, _Batch[T]] = {}

    def submit(self, key: K, item: T, *, expected: int | None = None) -> int:
        """Block until the call holding `item` was made; return how many items it held.
        Raises that call's error (the same exception in every caller of the batch).

        `expected`: how many callers of `key` there can be at most (a run's targets), when
        the caller knows: a batch that holds them all is full, so it is called at once
        rather than after the linger (a lone target is never delayed). The first caller's
        value counts for its batch."""
        with self._cond:
            batch = self._open.get(key)
            leader = batch is None
            if batch is None:
                batch = self._open[key] = _Batch(item, min(self.limit, expected or self.limit))
            else:
                batch.items.append(item)
            if len(batch.items) >= batch.limit:
                self._close(key, batch)
            if leader:
                deadline = time.monotonic() + self.linger
                while not batch.closed:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        self._close(key, batch)
                        break
                    self._cond.wait(left)
        if leader:
            try:
                self.call(key, list(batch.items))
            except BaseException as err:
                batch.error = err
                raise
            finally:
                batch.done.set()
        else:
            batch.done.wait()
            if batch.error is not None:
                raise batch.error
        return len(batch.items)

    def _close(self, key: K, batch: _Batch[T]) -> None:
        """No more items for `batch` (held lock): later callers of `key` start another."""
        batch.closed = True
        if self._open.get(key) is batch:
            del self._open[key]
        self._cond.notify_all()
