"""Per-target claims in the evidence bucket (moto): exclusive, waited for, taken over
when stale, never in the way when the bucket cannot be written."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from runbooks.core.claims import TargetClaims, claim_key
from tests.runbooks.conftest import ACCOUNT, REGION, Readiness


class FakeTime:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def one_by_one(fn: Callable[[str], None], targets: Sequence[str]) -> None:
    for target in targets:
        fn(target)


def claims(world: Readiness, case: str, time: FakeTime, **kwargs: Any) -> TargetClaims:
    return TargetClaims(world.client("s3"), world.manifest["evidenceBucket"], {}, ACCOUNT,
                        REGION, case, clock=time.clock, sleep=time.sleep, **kwargs)


def stored(world: Readiness, target: str) -> dict[str, Any]:
    body = world.client("s3").get_object(Bucket=world.manifest["evidenceBucket"],
                                         Key=claim_key(ACCOUNT, REGION, target))["Body"]
    document: dict[str, Any] = json.loads(body.read())
    return document


def test_a_held_target_is_waited_for_then_refused_naming_the_holder(
        readiness: Readiness) -> None:
    time = FakeTime()
    first = claims(readiness, "case-a", time)
    assert first.claim_all(["i-0123456789abcdef0"], one_by_one) == {}
    progress: list[str] = []
    second = claims(readiness, "case-b", time, wait=5,
                    listener=lambda target, message: progress.append(message))
    start = time.now
    refused = second.claim_all(["i-0123456789abcdef0", "i-0fedcba9876543210"], one_by_one)
    assert list(refused) == ["i-0123456789abcdef0"]
    assert "case case-a" in refused["i-0123456789abcdef0"]
    assert time.now - start >= 5 and progress  # it waited, saying so
    assert stored(readiness, "i-0123456789abcdef0")["token"] == first.token
    # the target it did get was given back when the other was refused
    assert stored(readiness, "i-0fedcba9876543210")["released"] is True
    assert second.held == {}


def test_a_claim_given_back_is_claimed_again(readiness: Readiness) -> None:
    time = FakeTime()
    first = claims(readiness, "case-a", time)
    assert first.claim_all(["203.0.113.7/32"], one_by_one) == {}
    assert claim_key(ACCOUNT, REGION, "203.0.113.7/32") == \
        f"locks/{ACCOUNT}/{REGION}/203.0.113.7%2F32.json"  # not under cases/ (lifecycle)
    first.release_all()
    second = claims(readiness, "case-b", time, wait=0)
    assert second.claim_all(["203.0.113.7/32"], one_by_one) == {}
    assert stored(readiness, "203.0.113.7/32")["case"] == "case-b"


def test_an_expired_claim_is_taken_over_and_its_holder_cannot_clobber_it(
        readiness: Readiness) -> None:
    time = FakeTime()
    stale = claims(readiness, "case-a", time, ttl=60)
    assert stale.claim_all(["i-0123456789abcdef0"], one_by_one) == {}
    time.now += 61
    fresh = claims(readiness, "case-b", time, wait=0)
    assert fresh.claim_all(["i-0123456789abcdef0"], one_by_one) == {}
    stale.release_all()  # If-Match on its old ETag fails: the new claim stays
    assert stored(readiness, "i-0123456789abcdef0")["token"] == fresh.token
    assert "released" not in stored(readiness, "i-0123456789abcdef0")


def test_an_unwritable_bucket_does_not_stand_in_the_way(readiness: Readiness) -> None:
    time = FakeTime()
    unclaimed = TargetClaims(readiness.client("s3"), "no-such-evidence-bucket", {}, ACCOUNT,
                             REGION, "case-a", clock=time.clock, sleep=time.sleep)
    assert unclaimed.claim_all(["i-0123456789abcdef0"], one_by_one) == {}
    assert unclaimed.held == {}
    assert "not claimed" in unclaimed.warnings[0]
