"""`runbooks.core.batching.Coalescer`: concurrent callers with one key share one call of
at most `limit` items; a failed call fails its own callers only; a lone caller waits no
longer than the linger."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from runbooks.core.batching import Coalescer


class Recorder:
    """The batched call: records (key, items) of every call, fails a batch holding `bad`."""

    def __init__(self, bad: str | None = None) -> None:
        self.calls: list[tuple[str, list[str]]] = []
        self.bad = bad
        self._lock = threading.Lock()

    def __call__(self, key: str, items: list[str]) -> None:
        with self._lock:
            self.calls.append((key, list(items)))
        if self.bad is not None and self.bad in items:
            raise RuntimeError(f"batch {sorted(items)} failed")


def submitting(coalescer: Coalescer[str, str], key: str, item: str,
               expected: int | None = None) -> Callable[[], int]:
    return lambda: coalescer.submit(key, item, expected=expected)


def run_together(submits: list[Callable[[], int]]) -> list[int | BaseException]:
    """Start every submit at once (one thread each); their results or errors, in order."""
    results: list[int | BaseException] = [0] * len(submits)
    start = threading.Barrier(len(submits))

    def worker(index: int) -> None:
        start.wait()
        try:
            results[index] = submits[index]()
        except BaseException as err:  # noqa: BLE001 - the test inspects what each got
            results[index] = err

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(submits))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(t.is_alive() for t in threads)
    return results


def test_concurrent_callers_with_one_key_share_one_call() -> None:
    call = Recorder()
    coalescer: Coalescer[str, str] = Coalescer(call, limit=100, linger=1.0)
    items = [f"i-{n}" for n in range(12)]

    results = run_together([submitting(coalescer, "tags", i) for i in items])

    assert results == [12] * 12
    assert len(call.calls) == 1
    assert call.calls[0][0] == "tags" and sorted(call.calls[0][1]) == sorted(items)


def test_different_keys_never_share_a_call() -> None:
    call = Recorder()
    coalescer: Coalescer[str, str] = Coalescer(call, linger=0.5)

    run_together([submitting(coalescer, f"case-{n % 2}", f"i-{n}") for n in range(6)])

    assert sorted((k, sorted(v)) for k, v in call.calls) == [
        ("case-0", ["i-0", "i-2", "i-4"]), ("case-1", ["i-1", "i-3", "i-5"])]


def test_no_call_holds_more_than_the_limit_and_a_full_batch_does_not_linger() -> None:
    call = Recorder()
    coalescer: Coalescer[str, str] = Coalescer(call, limit=10, linger=5.0)
    started = time.monotonic()

    results = run_together([submitting(coalescer, "tags", f"i-{n}")
                            for n in range(20)])

    # two full batches, each called as soon as it filled (not after the 5 s linger)
    assert time.monotonic() - started < 4.0
    assert sorted(len(items) for _, items in call.calls) == [10, 10]
    assert sorted(i for _, items in call.calls for i in items) == sorted(
        f"i-{n}" for n in range(20))
    assert results == [10] * 20


def test_a_partial_batch_is_called_after_the_linger() -> None:
    call = Recorder()
    coalescer: Coalescer[str, str] = Coalescer(call, limit=4, linger=0.3)

    results = run_together([submitting(coalescer, "tags", f"i-{n}")
                            for n in range(6)])

    assert sorted(len(items) for _, items in call.calls) == [2, 4]
    assert sorted(r for r in results if isinstance(r, int)) == [2, 2, 4, 4, 4, 4]


def test_a_failed_call_raises_in_every_caller_of_its_batch_and_only_those() -> None:
    call = Recorder(bad="i-bad")
    coalescer: Coalescer[str, str] = Coalescer(call, limit=3, linger=1.0)
    items = ["i-bad", *(f"i-{n}" for n in range(8))]

    results = dict(zip(items, run_together(
        [submitting(coalescer, "tags", i) for i in items]), strict=True))

    failed = next(batch for _, batch in call.calls if "i-bad" in batch)
    assert len(call.calls) == 3 and len(failed) == 3
    for item, outcome in results.items():
        if item in failed:
            assert isinstance(outcome, RuntimeError), (item, outcome)
            assert str(outcome) == f"batch {sorted(failed)} failed"
        else:
            assert outcome == 3, (item, outcome)
    # the same error object in every caller of the failed batch
    assert len({id(results[i]) for i in failed}) == 1


def test_a_failed_call_leaves_the_key_usable() -> None:
    call = Recorder(bad="i-bad")
    coalescer: Coalescer[str, str] = Coalescer(call, linger=0.0)

    with pytest.raises(RuntimeError):
        coalescer.submit("tags", "i-bad")
    assert coalescer.submit("tags", "i-good") == 1
    assert call.calls == [("tags", ["i-bad"]), ("tags", ["i-good"])]


@pytest.mark.parametrize("linger", [0.0, 0.2])
def test_a_lone_caller_waits_no_longer_than_the_linger(linger: float) -> None:
    call = Recorder()
    coalescer: Coalescer[str, str] = Coalescer(call, linger=linger)
    started = time.monotonic()

    assert coalescer.submit("tags", "i-alone") == 1

    elapsed = time.monotonic() - started
    assert linger <= elapsed < linger + 0.1, elapsed
    assert call.calls == [("tags", ["i-alone"])]


def test_a_batch_holding_every_expected_caller_is_called_at_once() -> None:
    call = Recorder()
    coalescer: Coalescer[str, str] = Coalescer(call, limit=100, linger=5.0)
    started = time.monotonic()

    assert coalescer.submit("alone", "i-alone", expected=1) == 1
    results = run_together([submitting(coalescer, "three", f"i-{n}", expected=3)
                            for n in range(3)])

    assert time.monotonic() - started < 2.0  # neither waited for the 5 s linger
    assert results == [3, 3, 3]
    assert sorted((k, len(v)) for k, v in call.calls) == [("alone", 1), ("three", 3)]


def test_limit_and_linger_are_checked() -> None:
    with pytest.raises(ValueError, match="limit 0"):
        Coalescer(Recorder(), limit=0)
    with pytest.raises(ValueError, match="linger -1"):
        Coalescer(Recorder(), linger=-1)
