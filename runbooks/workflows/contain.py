"""Containment: instances, IAM credentials, buckets and address ranges.

The steps and their order are the playbooks' containment phases (`procedures`), so a
command and `irctl playbook run` cannot drift apart; `contain ip` is one step per VPC.

Each workflow validates its targets before any AWS call, runs the pipelines in one
scope (`run_containment`) or across accounts and regions (`fleet.run_across`), and
tells the high topic what was applied. The adapter renders the `Outcome` and exits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from runbooks.core.errors import InvalidInput
from runbooks.workflows.fleet import run_across, split_targets
from runbooks.workflows.notify import containment_notice
from runbooks.workflows.procedures import (
    access_key_containment,
    bucket_containment,
    instance_containment,
    role_containment,
)
from runbooks.workflows.session import (
    SILENT,
    Feedback,
    Outcome,
    Session,
    Settings,
    make_runner,
    open_session,
)

if TYPE_CHECKING:
    from runbooks.core.runner import Runner, RunResult, StepCall

Pipelines = Mapping[str, Sequence["StepCall"]]

def run_containment(settings: Settings, kind: str, pipelines: Pipelines,
                    session: Session | None = None, *,
                    feedback: Feedback = SILENT) -> Outcome:
    """Plan (or apply) `pipelines` (target -> [StepCall]) in one scope, then notify the
    high topic when something was applied."""
    from runbooks.core.runner import APPLIED

    calls = {t: list(p) for t, p in pipelines.items()}
    session = session or open_session(settings, feedback=feedback)
    with feedback.progress(f"contain {kind}") as listener:
        runner = make_runner(session, listener)
        result = runner.run(kind, calls)
        results = [result]
        applied = any(c.status == APPLIED for t in result.targets for c in t.changes)
        if settings.apply and applied:
            results.append(runner.run("notify", containment_notice(
                session, kind, list(calls), results)))
    return Outcome(results)


def instance_pipelines(instance_ids: Sequence[str], stop: bool = False,
                       memory: bool = True) -> dict[str, list[StepCall]]:
    """Per instance, the EC2 playbook's containment phase (`procedures`)."""
    return {iid: instance_containment(iid, stop=stop, memory=memory)
            for iid in dict.fromkeys(instance_ids)}


def contain_instances(settings: Settings, instance_ids: Sequence[str], *, stop: bool = False,
                      feedback: Feedback = SILENT, memory: bool = True) -> Outcome:
    """Contain EC2 instances (`ACCOUNT:REGION:ID` targets across scopes)."""
    from runbooks.core.accounts import Scope, group_targets
    from runbooks.steps.ec2 import INSTANCE_ID

    # Validate ids before any AWS call (the runner validates again; this fails faster).
    default = Scope(settings.account, settings.region)
    groups = group_targets(instance_ids, default)
    bad = [i for ids in groups.values() for i in ids if not INSTANCE_ID.match(i)]
    if bad:
        raise InvalidInput(f"not EC2 instance ids: {', '.join(bad)} (expected i- followed "
                           "by 8 or 17 hex digits, optionally as ACCOUNT:REGION:ID)")
    if list(groups) == [default]:
        return run_containment(settings, "instance",
                               instance_pipelines(groups[default], stop=stop,
                                                  memory=memory),
                               feedback=feedback)
    return run_across(settings, "instance",
                      {scope: instance_pipelines(ids, stop=stop, memory=memory)
                       for scope, ids in groups.items()}, feedback=feedback)


def contain_access_keys(settings: Settings, key_ids: Sequence[str], *, days: int,
                        max_events: int, feedback: Feedback = SILENT) -> Outcome:
    """Contain access keys, then save each key's CloudTrail activity in a run of its own."""
    from runbooks.core.runner import StepCall
    from runbooks.steps.iam import validate_key_id

    groups, single = split_targets(settings, key_ids, account_only=True, what="access key")
    for ids in groups.values():
        for key_id in ids:
            validate_key_id(key_id)  # bad input fails before any AWS call

    def containment(ids: list[str]) -> dict[str, list[StepCall]]:
        return {key_id: access_key_containment(key_id) for key_id in ids}

    def evidence(ids: list[str]) -> dict[str, list[StepCall]]:
        return {key_id: [StepCall("cloudtrail.capture-key-activity", {
            "access_key_id": key_id, "days": days, "max_events": max_events})]
            for key_id in ids}

    if single:
        ids = next(iter(groups.values()))
        return _contain_then_capture(settings, containment(ids), evidence(ids), feedback)

    def capture(runner: Runner, contained: RunResult) -> list[RunResult]:
        planned = [t.target for t in contained.targets if t.error is None]
        return [runner.run("evidence", evidence(planned))] if planned else []

    return run_across(settings, "access-key",
                      {scope: containment(ids) for scope, ids in groups.items()},
                      after=capture, feedback=feedback)


def _contain_then_capture(settings: Settings, containment: dict[str, list[StepCall]],
                          evidence: dict[str, list[StepCall]],
                          feedback: Feedback) -> Outcome:
    """Contain first (CloudTrail keeps the events; the key must stop now), then save the
    evidence in a run of its own: an evidence failure is reported (exit 1) but never
    rolls the containment back. Then notify the high topic, as every contain does."""
    from runbooks.core.runner import APPLIED

    session = open_session(settings, feedback=feedback)
    with feedback.progress("contain access-key") as listener:
        runner = make_runner(session, listener)
        contained = runner.run("access-key", containment)
        results = [contained]
        planned_targets = [t.target for t in contained.targets if t.error is None]
        if planned_targets:
            results.append(runner.run("evidence", {t: evidence[t] for t in planned_targets}))
        applied = any(c.status == APPLIED for t in contained.targets for c in t.changes)
        if settings.apply and applied:
            results.append(runner.run("notify", containment_notice(
                session, "access-key", list(containment), results)))
    return Outcome(results)


def contain_roles(settings: Settings, role_names: Sequence[str], *,
                  feedback: Feedback = SILENT) -> Outcome:
    """Revoke the sessions of IAM roles issued before now."""
    from runbooks.steps.iam import validate_iam_name

    groups, single = split_targets(settings, role_names, account_only=True, what="role")
    for names in groups.values():
        for name in names:
            validate_iam_name("role", name)

    def pipelines(names: list[str]) -> dict[str, list[StepCall]]:
        return {name: role_containment(name) for name in names}

    if single:
        return run_containment(settings, "role", pipelines(next(iter(groups.values()))),
                               feedback=feedback)
    return run_across(settings, "role",
                      {scope: pipelines(names) for scope, names in groups.items()},
                      feedback=feedback)


def contain_buckets(settings: Settings, buckets: Sequence[str], *,
                    feedback: Feedback = SILENT) -> Outcome:
    """Close exposed S3 buckets to the public, keeping what was there."""
    from runbooks.steps.s3 import BucketStep

    groups, single = split_targets(settings, buckets, account_only=True, what="bucket")
    for names in groups.values():
        for name in names:
            BucketStep.validate_name(name)

    def pipelines(names: list[str]) -> dict[str, list[StepCall]]:
        return {name: bucket_containment(name) for name in names}

    if single:
        return run_containment(settings, "bucket", pipelines(next(iter(groups.values()))),
                               feedback=feedback)
    return run_across(settings, "bucket",
                      {scope: pipelines(names) for scope, names in groups.items()},
                      feedback=feedback)


def contain_cidr(settings: Settings, cidr: str, vpc_ids: Sequence[str], *,
                 acl_rule_limit: int, allow_broad: bool,
                 feedback: Feedback = SILENT) -> Outcome:
    """Deny an address range in every network ACL of the VPCs."""
    from runbooks.core.runner import StepCall
    from runbooks.steps.network import check_blockable, parse_cidr

    parsed = parse_cidr(cidr)
    check_blockable(parsed, allow_broad=allow_broad)  # before any AWS call
    network = str(parsed)  # canonical form: the target release knows it by
    params = [{"cidr": network, "vpc_id": vpc, "acl_rule_limit": acl_rule_limit,
               **({"allow_broad": True} if allow_broad else {})}
              for vpc in dict.fromkeys(vpc_ids)]
    return run_containment(settings, "ip", {network: [StepCall("network.deny-cidr", p)
                                                      for p in params]}, feedback=feedback)
