"""The drill checks the step registry gives: every change of a case still in place is
checked through its registered step's own `verify_all`, exactly as `irctl verify case`
checks it (`runbooks.workflows.verify.case_checks`).

A scenario's own checks cover what no step can know (the Auto Scaling group kept its
capacity, the attacker's calls are in the timeline); what each change must look like
in AWS is written once, in its step, and never again here (issue #17, principle 1).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from rehearsal.scenarios._base import Check

if TYPE_CHECKING:
    from rehearsal.world import World
    from runbooks.core.step import Check as StepCheck

ORIGIN = "registry"
"""`Check.origin` of the checks made here (a scenario's own are "scenario")."""


def drill_check(step: str, check: StepCheck) -> Check:
    """One step's verify verdict as a drill check: holds passes; broken, and unknown
    (its read failed), fail with what was expected and what AWS has."""
    detail = f"{check.status}: {check.target}: expected {check.expected}, actual {check.actual}"
    return Check(f"step {step}: {check.what}", check.status == "holds", detail, ORIGIN)


def registry_checks(world: World, case: str,
                    records: Iterable[Mapping[str, Any]] | None = None) -> list[Check]:
    """Check every change of `case` still in place (and every one-way measure in force)
    through its step's `verify_all`, against the world's AWS. `records` default to the
    case's audit log. A change made in an account the drill does not act in cannot be
    checked here: it is a failed check naming that account, never skipped silently."""
    from runbooks.core.audit import AuditLog
    from runbooks.core.context import Context, SessionFactory
    from runbooks.workflows.verify import case_checks

    listed = list(AuditLog(case).records() if records is None else records)
    foreign = sorted({str(r["account"]) for r in listed
                      if r.get("account") and str(r["account"]) != world.account_id})
    checks = [Check(f"changes of the case in account {account} checked", False,
                    f"the drill acts in account {world.account_id} only; account "
                    f"{account}'s changes cannot be checked here", ORIGIN)
              for account in foreign]
    own = [r for r in listed if str(r.get("account") or world.account_id) == world.account_id]
    sessions = SessionFactory(region=world.home_region, endpoint_url=world.endpoint_url)
    ctx = Context(sessions=sessions, manifest=world.manifest, case_id=case,
                  account_id=world.account_id, region=world.home_region)
    return checks + [drill_check(step, c) for step, c in case_checks(ctx, own)]
