"""`irctl contain database`: RDS DB instances and Aurora clusters.

The steps and their order are the `compromised-rds-database` playbook's containment phase
(`procedures.database_containment`); identifiers are checked before any AWS call, then
the pipelines run in one scope (`run_containment`) or across accounts and regions
(`fleet.run_across`, targets written ACCOUNT:REGION:ID).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from runbooks.workflows.contain import run_containment
from runbooks.workflows.fleet import run_across, split_targets
from runbooks.workflows.procedures import database_containment
from runbooks.workflows.session import SILENT, Feedback, Outcome, Settings

if TYPE_CHECKING:
    from runbooks.core.runner import StepCall


def database_pipelines(databases: Sequence[str]) -> dict[str, list[StepCall]]:
    """Per database, the RDS playbook's containment phase."""
    return {db: database_containment(db) for db in dict.fromkeys(databases)}


def contain_databases(settings: Settings, databases: Sequence[str], *,
                      feedback: Feedback = SILENT) -> Outcome:
    """Contain RDS DB instances / Aurora clusters (`ACCOUNT:REGION:ID` across scopes)."""
    from runbooks.steps.rds import DatabaseStep

    groups, single = split_targets(settings, databases, what="database")
    for names in groups.values():
        for name in names:
            DatabaseStep.validate_name(name)  # bad input fails before any AWS call
    if single:
        return run_containment(settings, "database",
                               database_pipelines(next(iter(groups.values()))),
                               feedback=feedback)
    return run_across(settings, "database",
                      {scope: database_pipelines(names) for scope, names in groups.items()},
                      feedback=feedback)
