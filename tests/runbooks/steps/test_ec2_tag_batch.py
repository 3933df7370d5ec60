"""`ec2.tag-contained` for many instances: one CreateTags call tags the instances of a run
together (issue #21: batch what AWS batches), every instance carries `ir:case` and one
`ir:contained-at` afterwards, and per-instance outcome, rollback, release and `verify`
stay exact. Against moto in-process; CreateTags calls counted before they reach it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from runbooks.core.audit import AuditLog
from runbooks.core.errors import EXIT_ACTION_FAILED, EXIT_OK
from runbooks.steps import ec2 as ec2_steps
from runbooks.workflows.verify import case_checks
from tests.runbooks.conftest import FaultInjector, Readiness, launch_instances
from tests.runbooks.steps.test_ec2 import (
    contain,
    describe,
    eni_groups,
    make_profile,
    release,
    tags,
)


@pytest.fixture(autouse=True)
def patient_batches(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A linger long enough that a loaded test machine cannot split a run's batch (a batch
    holding every target of the run is called at once anyway, so nothing waits for it)."""
    monkeypatch.setattr(ec2_steps.TAG_BATCHES, "linger", 2.0)
    yield


def isolation(world: Readiness) -> str:
    found: str = world.manifest["quarantine"][world.vpc_id]["isolationSecurityGroupId"]
    return found


def tag_results(result: Any) -> list[dict[str, Any]]:
    return [c.result for t in result.targets for c in t.changes
            if c.change.step == "ec2.tag-contained"]


def test_one_create_tags_call_tags_every_instance_of_the_run(readiness: Readiness) -> None:
    ids = launch_instances(readiness, 5, volumes=1)
    calls = FaultInjector()  # no faults: counts the calls

    result, audit = contain(readiness, ids, injector=calls)

    assert result.exit_code == EXIT_OK, result.to_dict()
    assert calls.seen["CreateTags"] < len(ids), calls.seen
    stamped = {tags(describe(readiness, i))["ir:contained-at"] for i in ids}
    assert len(stamped) == 1  # one time for the run, so one call can tag them all
    for iid in ids:
        found = tags(describe(readiness, iid))
        assert found["ir:case"] == audit.case_id and "ir:pre-action" not in found
        assert eni_groups(readiness, iid) == [[isolation(readiness)]]
    assert sum(1 for r in tag_results(result) if r["instancesPerCall"] > 1) >= 2


def test_a_batched_run_verifies_and_releases_per_instance(readiness: Readiness) -> None:
    ids = launch_instances(readiness, 3, volumes=1)
    original = {i: eni_groups(readiness, i) for i in ids}
    result, audit = contain(readiness, ids, injector=FaultInjector())
    assert result.exit_code == EXIT_OK, result.to_dict()

    checks = case_checks(readiness.context(audit.case_id), AuditLog(audit.case_id).records())
    tagged = [c for step, c in checks if step == "ec2.tag-contained"]
    assert sorted(c.target for c in tagged) == sorted(ids)
    assert all(c.status == "holds" for _, c in checks), [c for _, c in checks if not c.holds]

    done = release(readiness, audit.case_id, ids[0])

    assert done.exit_code == EXIT_OK, done.to_dict()
    assert eni_groups(readiness, ids[0]) == original[ids[0]]
    assert "ir:case" not in tags(describe(readiness, ids[0]))
    for other in ids[1:]:  # released one by one: the others stay contained and tagged
        assert tags(describe(readiness, other))["ir:case"] == audit.case_id
        assert eni_groups(readiness, other) == [[isolation(readiness)]]


def test_a_later_failure_rolls_back_only_that_instances_tags(readiness: Readiness) -> None:
    profile_arn, _ = make_profile(readiness)
    plain = launch_instances(readiness, 2, volumes=1)
    [with_profile] = launch_instances(readiness, 1, volumes=1, profile_arn=profile_arn)
    app = eni_groups(readiness, with_profile)
    calls = FaultInjector().add("DisassociateIamInstanceProfile", "UnauthorizedOperation",
                                status=403)

    result, audit = contain(readiness, [*plain, with_profile], injector=calls)

    assert result.exit_code == EXIT_ACTION_FAILED, result.to_dict()
    assert calls.seen["CreateTags"] < 3, calls.seen
    assert {t.target: t.status for t in result.targets} == {
        plain[0]: "done", plain[1]: "done", with_profile: "rolled-back"}
    assert "ir:case" not in tags(describe(readiness, with_profile))
    assert eni_groups(readiness, with_profile) == app
    for iid in plain:
        assert tags(describe(readiness, iid))["ir:case"] == audit.case_id


def test_a_throttled_batch_is_retried_once_for_all_its_instances(
        readiness: Readiness) -> None:
    ids = launch_instances(readiness, 4, volumes=1)
    calls = FaultInjector().add("CreateTags", "RequestLimitExceeded", status=503, calls={1})

    result, audit = contain(readiness, ids, injector=calls)

    assert result.exit_code == EXIT_OK, result.to_dict()
    # the throttled attempt and its retry: not one call per instance
    assert calls.seen["CreateTags"] < len(ids) + 1, calls.seen
    for iid in ids:
        assert tags(describe(readiness, iid))["ir:case"] == audit.case_id


def test_an_answer_about_one_instance_does_not_fail_the_others_of_its_batch(
        readiness: Readiness) -> None:
    """CreateTags refuses the whole call when one of its instances is gone (or a tag
    condition denies one): each instance of that batch then tries alone."""
    ids = launch_instances(readiness, 3, volumes=1)
    calls = FaultInjector().add("CreateTags", "InvalidInstanceID.NotFound", calls={1})

    result, audit = contain(readiness, ids, injector=calls)

    assert result.exit_code == EXIT_OK, result.to_dict()
    assert calls.seen["CreateTags"] == 1 + len(ids), calls.seen
    for iid in ids:
        assert tags(describe(readiness, iid))["ir:case"] == audit.case_id
        assert eni_groups(readiness, iid) == [[isolation(readiness)]]


def test_a_failed_batch_fails_each_of_its_instances_and_is_rolled_back(
        readiness: Readiness) -> None:
    ids = launch_instances(readiness, 3, volumes=1)
    original = {i: eni_groups(readiness, i) for i in ids}
    calls = FaultInjector().add("CreateTags", "InvalidParameterValue")

    result, _ = contain(readiness, ids, injector=calls)

    assert result.exit_code == EXIT_ACTION_FAILED, result.to_dict()
    assert calls.seen["CreateTags"] < len(ids), calls.seen
    assert {t.status for t in result.targets} == {"failed"}
    for iid in ids:  # tagging precedes the cut: nothing isolated, nothing tagged
        assert eni_groups(readiness, iid) == original[iid]
        assert "ir:case" not in tags(describe(readiness, iid))
