"""automation.count-containment (the automation's hourly-cap marker) against moto."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from botocore.exceptions import BotoCoreError

from runbooks.core.errors import InvalidInput
from runbooks.steps.automation import CountContainment, containments_since
from tests.runbooks.steps.conftest import apply_all


def test_marker_is_written_and_counted_for_the_hour(make_ctx) -> None:
    ctx = make_ctx(evidence=True)
    s3 = ctx.sessions.client("s3")
    bucket = ctx.manifest.evidence_bucket
    now = ctx.now()
    assert containments_since(s3, bucket, now) == 0

    [(change, result)] = apply_all(CountContainment(ctx, {"finding_id": "f-1", "changes": 3}))

    assert result["written"] is True
    key = f"automation/applied/{now:%Y-%m-%dT%H}/{ctx.case_id}.json"
    assert change.after == {"bucket": bucket, "key": key}
    body = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    assert body == {"case": ctx.case_id, "findingId": "f-1", "changes": 3}
    other = make_ctx()
    other.manifest = ctx.manifest  # a second case, same bucket
    apply_all(CountContainment(other, {"finding_id": "f-2", "changes": 1}))
    assert containments_since(s3, bucket, ctx.now()) == 2
    # an hour later the markers no longer count
    assert containments_since(s3, bucket, ctx.now() + timedelta(hours=2)) == 0


def test_unavailable_bucket_leaves_the_containment_uncounted_not_failed(make_ctx) -> None:
    ctx = make_ctx()  # its evidence bucket does not exist: NoSuchBucket

    [(_, result)] = apply_all(CountContainment(ctx, {"finding_id": "f-1", "changes": 1}))

    assert result["written"] is False and "NoSuchBucket" in result["error"]
    assert ctx.evidence_unavailable  # later writes of the session do not wait on it
    assert ctx.sessions.client("s3").list_buckets()["Buckets"] == []


def test_a_write_refused_for_another_reason_raises(make_ctx) -> None:
    ctx = make_ctx()
    # model_copy skips validation: a bucket name the manifest model would refuse, so that
    # botocore refuses the write before any call
    ctx.manifest = ctx.manifest.model_copy(update={"evidence_bucket": "not a bucket name"})

    step = CountContainment(ctx, {"finding_id": "f-1", "changes": 1})
    [change] = step.plan()
    with pytest.raises(BotoCoreError):
        step.apply(change)
    assert not ctx.evidence_unavailable


@pytest.mark.parametrize("params", [
    {"changes": 1},
    {"finding_id": "f\n1", "changes": 1},
    {"finding_id": "f-1", "changes": 0},
    {"finding_id": "f-1", "changes": True},
    {"finding_id": "f-1"},
    {"finding_id": "f-1", "changes": 1, "chnages": 2},
])
def test_bad_parameters_are_refused_before_any_call(make_ctx, params) -> None:
    with pytest.raises(InvalidInput, match="automation.count-containment"):
        CountContainment(make_ctx(), params).validate()
