"""Release: restore a target's pre-action state recorded in a case's audit log."""

from __future__ import annotations

from runbooks.core.errors import PreconditionFailed
from runbooks.workflows.fleet import scope_of
from runbooks.workflows.session import (
    SILENT,
    Feedback,
    Outcome,
    Settings,
    make_runner,
    open_session,
)

ACCOUNT_WIDE_KINDS = ("bucket", "role", "access-key")
"""Kinds whose targets may be written ACCOUNT:ID; regional ones need their region."""


def canonical_target(kind: str, target: str) -> str:
    """The form a kind's targets are recorded in, so `release ip 203.0.113.7` finds the
    `203.0.113.7/32` that `contain ip 203.0.113.7` recorded."""
    if kind == "ip":
        from runbooks.steps.network import parse_cidr

        return str(parse_cidr(target))  # the same canonical form contain ip records
    return target


def release_target(settings: Settings, kind: str, target: str, *, force: bool = False,
                   feedback: Feedback = SILENT) -> Outcome:
    """Restore, newest first, every change of `settings.case_id` still in place for
    KIND/TARGET, in the account and region the target names; refuses a case whose audit
    log is not whole, or that has nothing in place for the target."""
    if not settings.case_id:
        raise PreconditionFailed("release needs --case ID: the case whose log recorded "
                                 "the containment (see `irctl case show ID`)")
    scoped, target = scope_of(settings, target, account_only=kind in ACCOUNT_WIDE_KINDS)
    target = canonical_target(kind, target)
    session = open_session(scoped, new_case=False, feedback=feedback)
    if not session.audit.exists():
        raise PreconditionFailed(f"no audit log for case {settings.case_id} at "
                                 f"{session.audit.path}; set IR_CASE_DIR or check the id")
    session.audit.require_intact(session.ctx.client("s3"), session.ctx.manifest.evidence_bucket)
    with feedback.progress(f"release {kind}") as listener:
        runner = make_runner(session, listener)
        if not runner.in_place_changes(kind, target):
            raise PreconditionFailed(
                f"case {settings.case_id} has no change still in place for {kind} {target}; "
                "nothing to release (see `irctl case show`)")
        result = runner.release(kind, target, force=force)
    return Outcome([result])
