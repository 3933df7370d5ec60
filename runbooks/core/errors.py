"""The errors irctl raises, each mapped to an exit code scripts can trust.

0 success or clean plan; 1 an action failed; 2 bad input or refused precondition;
3 partially applied (what was applied is recorded and reversible).
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_ACTION_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_PARTIAL = 3


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
