"""The errors irctl raises, each mapped to an exit code scripts can trust.

0 success or clean plan; 1 an action failed; 2 bad input or refused precondition;
3 partially applied (what was applied is recorded and reversible); 4 every change was
made but evidence is queued in the local case directory, not yet in the evidence bucket
(`irctl case sync CASE` uploads it). 1, 2 and 3 take precedence over 4 (`combine_exit_codes`).
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_ACTION_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_PARTIAL = 3
EXIT_EVIDENCE_QUEUED = 4


def combine_exit_codes(codes: list[int], evidence_queued: bool = False) -> int:
    """One exit code for several runs: 3 if anything is partially applied, else the
    highest of 0/1/2; 4 only when that is 0 and evidence is still queued locally."""
    failures = [c for c in codes if c != EXIT_EVIDENCE_QUEUED]
    if EXIT_PARTIAL in failures:
        return EXIT_PARTIAL
    code = max(failures, default=EXIT_OK)
    if code == EXIT_OK and (evidence_queued or EXIT_EVIDENCE_QUEUED in codes):
        return EXIT_EVIDENCE_QUEUED
    return code


class IrError(Exception):
    """Base class. `str(err)` is shown to the responder: say what is wrong and what to do."""

    exit_code: int = EXIT_ACTION_FAILED


class InvalidInput(IrError):
    """A parameter, config or file is malformed; nothing was called."""

    exit_code = EXIT_BAD_INPUT


class PreconditionFailed(IrError):
    """The world is not as the command needs (wrong account, no quarantine group, ...)."""

    exit_code = EXIT_BAD_INPUT


class ManifestError(PreconditionFailed):
    """The readiness manifest is missing, unreadable or invalid."""


class ActionFailed(IrError):
    """An AWS call that should have changed something failed."""

    exit_code = EXIT_ACTION_FAILED


class PartiallyApplied(IrError):
    """Some changes were applied and kept (recorded in the audit log, reversible)."""

    exit_code = EXIT_PARTIAL
