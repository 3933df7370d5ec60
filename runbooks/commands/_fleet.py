"""Moved to `runbooks.workflows.fleet` (library code that must not exit); these names
stay importable from here until the other branches of this round import the workflow
layer (the lead removes this module at merge)."""

from runbooks.workflows.fleet import (
    MAX_SCOPES_IN_FLIGHT,
    open_sessions,
    run_across,
    scope_of,
    scoped_settings,
    split_targets,
)

__all__ = ["MAX_SCOPES_IN_FLIGHT", "open_sessions", "run_across", "scope_of",
           "scoped_settings", "split_targets"]
