"""Client-side pacing of EC2 calls (`runbooks.core.pacing`): a token bucket per EC2 API,
an isolation call never waiting behind new conversions, and, against a throttling model
of EC2 in front of moto, containment without a single `RequestLimitExceeded`."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import pytest

from runbooks.core.errors import InvalidInput
from runbooks.core.pacing import Ec2Pacer, default_limit, pacing_from_env, parse_limits
from tests.runbooks.conftest import Readiness, _error_response, launch_instances


class FakeClock:
    """Time that advances only when a waiter sleeps (no real waiting in the unit tests)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def paced(pacer: Ec2Pacer, clock: FakeClock) -> Ec2Pacer:
    # a Condition.wait that advances the fake clock by the timeout instead of sleeping
    class Cond:
        def __enter__(self) -> None:
            return None

        def __exit__(self, *_: Any) -> None:
            return None

        def wait(self, timeout: float) -> None:
            clock.now += timeout

    pacer._cond = Cond()  # type: ignore[assignment]
    return pacer


def test_calls_past_the_burst_are_spaced_at_the_refill_rate() -> None:
    clock = FakeClock()
    pacer = paced(Ec2Pacer({"ModifyInstanceAttribute": (3, 2)}, clock=clock), clock)
    times = []
    for _ in range(7):
        pacer.acquire("ModifyInstanceAttribute")
        times.append(round(clock.now, 3))
    # three at once (the burst), then one every 1/2 s
    assert times == [0, 0, 0, 0.5, 1.0, 1.5, 2.0]
    # another API has its own bucket, untouched by the first one's wait
    before = clock.now
    pacer.acquire("CreateTags")
    assert clock.now == before


def test_an_isolation_call_takes_its_reserved_token_ahead_of_new_conversions() -> None:
    clock = FakeClock()
    pacer = paced(Ec2Pacer({"ModifyNetworkInterfaceAttribute": (3, 1)}, dwell_bound=10,
                           clock=clock), clock)
    mnia = "ModifyNetworkInterfaceAttribute"
    pacer.acquire(mnia, "conversion", "eni-a")  # takes one token, reserves another
    assert clock.now == 0
    # a second conversion must wait for two free tokens: one of the two left is eni-a's
    pacer.acquire(mnia, "conversion", "eni-b")
    assert clock.now == 1.0
    # meanwhile a plain call (e.g. a rollback) finds no free token: both are reserved
    assert pacer.bucket(mnia).tokens == 2 and pacer.bucket(mnia).reserved == 2
    # eni-a's isolation call still finds its reserved token at once
    at = clock.now
    pacer.acquire(mnia, "isolation", "eni-a")
    assert clock.now == at


def test_a_reservation_whose_isolation_never_came_lapses() -> None:
    clock = FakeClock()
    pacer = paced(Ec2Pacer({"ModifyNetworkInterfaceAttribute": (2, 1)}, dwell_bound=2.0,
                           clock=clock), clock)
    mnia = "ModifyNetworkInterfaceAttribute"
    pacer.acquire(mnia, "conversion", "eni-a")  # its conversion call then fails
    clock.now = 2.5
    pacer.acquire(mnia, "plain")  # the lapsed reservation frees its token
    assert pacer.bucket(mnia).reserved == 0


def test_limits_come_from_the_guide_and_can_be_overridden(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert default_limit("ModifyNetworkInterfaceAttribute") == (100, 5)
    assert default_limit("ModifyInstanceAttribute") == (50, 5)
    assert default_limit("DescribeInstances") == (100, 20)
    assert default_limit("CreateTags") == (100, 10)
    monkeypatch.setenv("IR_EC2_LIMITS", "CreateTags=400/40, ModifyInstanceAttribute=60/6")
    assert pacing_from_env() == (True, {"CreateTags": (400, 40),
                                        "ModifyInstanceAttribute": (60, 6)})
    monkeypatch.setenv("IR_EC2_PACING", "off")
    assert pacing_from_env()[0] is False


@pytest.mark.parametrize("raw", ["CreateTags=100", "CreateTags=0/5", "Create Tags=1/1",
                                 "CreateTags=ten/1"])
def test_a_bad_limit_is_refused_naming_the_entry(raw: str) -> None:
    with pytest.raises(InvalidInput, match="IR_EC2_LIMITS") as err:
        parse_limits(raw)
    assert raw.split(",")[0] in str(err.value)


def test_a_bad_pacing_switch_exits_2_before_any_call(readiness: Readiness) -> None:
    run = readiness.irctl("contain", "instance", "i-0123456789abcdef0",
                          env={"IR_EC2_PACING": "fast"})
    assert run.returncode == 2, run.stderr
    assert "IR_EC2_PACING" in run.stderr


class Ec2Buckets:
    """A `before-send` hook modelling EC2's per-API token buckets in front of moto:
    an empty bucket answers 503 RequestLimitExceeded, as EC2 does."""

    def __init__(self, limits: Mapping[str, tuple[float, float]]) -> None:
        import time

        self.limits = dict(limits)
        self.tokens = {api: float(cap) for api, (cap, _) in limits.items()}
        self.updated = dict.fromkeys(limits, time.monotonic())
        self.throttled: dict[str, int] = {}
        self.calls: dict[str, int] = {}
        self.lock = threading.Lock()

    def __call__(self, request: Any, event_name: str = "", **_: Any) -> Any:
        import time

        service, operation = event_name.split(".")[1:3]
        if service != "ec2" or operation not in self.limits:
            return None
        with self.lock:
            now = time.monotonic()
            capacity, refill = self.limits[operation]
            self.calls[operation] = self.calls.get(operation, 0) + 1
            self.tokens[operation] = min(capacity, self.tokens[operation]
                                         + (now - self.updated[operation]) * refill)
            self.updated[operation] = now
            if self.tokens[operation] >= 1:
                self.tokens[operation] -= 1
                return None
            self.throttled[operation] = self.throttled.get(operation, 0) + 1
        url = request.url
        request.method, request.body, request.url = "GET", b"", url.split("?", 1)[0]
        return _error_response(url, "ec2", "RequestLimitExceeded", 503)


LIMITS = {"ModifyNetworkInterfaceAttribute": (3.0, 6.0), "ModifyInstanceAttribute": (2.0, 8.0),
          "CreateTags": (2.0, 8.0)}


def contain(readiness: Readiness, pacing: bool) -> tuple[Ec2Buckets, list[str], Any]:
    from runbooks.core.audit import AuditLog
    from runbooks.core.runner import Runner
    from runbooks.workflows.contain import instance_pipelines

    ids = launch_instances(readiness, 6, volumes=1)
    buckets = Ec2Buckets(LIMITS)
    ctx = readiness.context(event_hooks=[("before-send", buckets)],
                            ec2_pacing=(pacing, dict(LIMITS)), retry_mode="standard")
    result = Runner(ctx, AuditLog(ctx.case_id), apply=True, claim_targets=False).run(
        "instance", instance_pipelines(ids))
    return buckets, ids, result


def isolated_enis(readiness: Readiness, ids: list[str]) -> int:
    isolation = readiness.manifest["quarantine"][readiness.vpc_id]["isolationSecurityGroupId"]
    enis = readiness.client("ec2").describe_network_interfaces(Filters=[
        {"Name": "attachment.instance-id", "Values": ids}])["NetworkInterfaces"]
    return sum(1 for e in enis if [g["GroupId"] for g in e["Groups"]] == [isolation])


def test_paced_containment_meets_no_throttling_and_isolates_every_eni(
        readiness: Readiness) -> None:
    buckets, ids, result = contain(readiness, pacing=True)
    assert result.exit_code == 0, result.to_dict()
    assert isolated_enis(readiness, ids) == 6
    assert buckets.throttled == {}, buckets.throttled
    # every mutating call of the fleet went through the modelled buckets
    assert buckets.calls["ModifyNetworkInterfaceAttribute"] == 12


def test_unpaced_containment_bursts_into_the_same_buckets(readiness: Readiness) -> None:
    """The model does throttle: without pacing the same run meets RequestLimitExceeded."""
    buckets, ids, _ = contain(readiness, pacing=False)
    assert sum(buckets.throttled.values()) > 0


def test_the_client_hook_tells_a_conversion_call_from_an_isolation_call(
        readiness: Readiness) -> None:
    """The pacer hooked on a real EC2 client classifies `ec2.isolate`'s two calls by the
    manifest's conversion group: the conversion reserves, its isolation call uses it."""
    [iid] = launch_instances(readiness, 1, volumes=1)
    ctx = readiness.context(ec2_pacing=(True, {}))
    ec2 = ctx.client("ec2")
    pacer = ctx.sessions.pacer(ctx.region)
    assert pacer is not None
    quarantine = readiness.manifest["quarantine"][readiness.vpc_id]
    eni = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0][
        "NetworkInterfaces"][0]["NetworkInterfaceId"]
    mnia = "ModifyNetworkInterfaceAttribute"
    ec2.modify_network_interface_attribute(
        NetworkInterfaceId=eni, Groups=[quarantine["conversionSecurityGroupId"]])
    assert pacer.bucket(mnia).reserved == 1 and eni in pacer._reservations
    ec2.modify_network_interface_attribute(
        NetworkInterfaceId=eni, Groups=[quarantine["isolationSecurityGroupId"]])
    assert pacer.bucket(mnia).reserved == 0 and eni not in pacer._reservations
    assert pacer.bucket(mnia).tokens < pacer.bucket(mnia).capacity
