"""How a case's changes are checked against AWS: each through its registered step's own
`verify_all`, found by the step's name in the registry.

`irctl verify case` (runbooks.commands.verify) and the drill's registry checks
(rehearsal.verify) both check a case this way, so a step's check is written once, in
its step, and nothing beside the registry decides what a change must look like.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runbooks.core.context import Context
    from runbooks.core.step import Check


def in_place(records: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Records of the case's reversible changes not rolled back or released since, in
    order: the runner's state model (`recorded_changes`), so a change whose outcome is
    unknown (applying, failed part-way, rollback failed) is checked too, with `state`
    set. Changes that are not reversible (evidence, one-way measures) hold nothing."""
    from runbooks.core.runner import recorded_changes

    listed = list(records)
    own = next((str(r["account"]) for r in listed if r.get("account")), "")
    return sorted([{**e.record, "change": e.change.to_dict(), "state": e.state}
                   for e in recorded_changes(listed, own)],
                  key=lambda r: int(r.get("seq") or 0))


def one_way_in_force(records: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Applied changes of the one-way steps that have a `verify` (the session revocation
    of an instance's role): no release lifts them, so they must hold for the case's
    life. The latest of each step, account and subject, in order."""
    from runbooks.core.step import REGISTRY, Change, has_verify, load_all_steps

    load_all_steps()
    latest: dict[tuple[str, str, str], Mapping[str, Any]] = {}
    for record in records:
        cls = REGISTRY.get(str(record.get("step")))
        change = record.get("change")
        if (record.get("event") != "applied" or cls is None or cls.reversible
                or not has_verify(cls) or not isinstance(change, Mapping)):
            continue
        subject = cls.subject(Change.from_dict(change))
        latest[(str(record.get("account") or ""), cls.name, subject)] = record
    return sorted(latest.values(), key=lambda r: int(r.get("seq") or 0))


def check_record(ctx: Context, record: Mapping[str, Any]) -> list[Check]:
    """The registered step's own `verify` of one recorded change ([] for a step without
    one: evidence and most one-way measures have nothing to hold). A call of the
    check that AWS fails (denied, 5xx, throttled past the retries, no answer in time)
    makes this change's check `unknown`, naming the error code and request id; the
    caller goes on with the other checks."""
    from runbooks.analysis.sources import failure, read_errors
    from runbooks.core.step import REGISTRY, Change, Check, has_verify, load_all_steps

    load_all_steps()
    cls = REGISTRY.get(str(record.get("step")))
    if cls is None or not has_verify(cls):
        return []
    change = Change.from_dict(record.get("change") or {})
    step = cls(ctx, record.get("params") or {})
    try:
        checks = step.verify_all(change, record.get("result") or {})
    except read_errors() as err:
        # verify is read-only: a failed read degrades this one check, changes nothing
        source = f"{cls.name} check of {change.target} ({ctx.account_id})"
        failed = failure(source, err)
        checks = [Check("containment", change.target, f"{cls.name}: {change.summary}",
                        "still applied", f"cannot check: {failed.error.text()}", False,
                        ctx.account_id, failed)]
    state = record.get("state", "applied")
    if state != "applied":
        # outcome unknown: says so, so the responder reads the check in that light
        checks = [dataclasses.replace(c, what=f"{c.what} [recorded {state}]")
                  for c in checks]
    return checks


def case_checks(ctx: Context, records: Iterable[Mapping[str, Any]],
                ) -> list[tuple[str, Check]]:
    """Every registry check of one account's part of a case, with the name of the step
    that made it: each change still in place (`in_place`) and each one-way measure in
    force (`one_way_in_force`), through its step's `verify_all` (`check_record`), in the
    order the changes were made."""
    listed = list(records)
    checks: list[tuple[str, Check]] = []
    made: set[tuple[str, str, str]] = set()
    for record in in_place(listed) + one_way_in_force(listed):
        for check in check_record(ctx, record):
            # one instance's ENIs and quarantine groups are checked by each of its
            # isolated ENIs' changes: shown once
            key = (check.area, check.target, check.what)
            if key not in made:
                made.add(key)
                checks.append((str(record.get("step")), check))
    return checks
