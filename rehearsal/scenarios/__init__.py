"""Drill scenarios: a victim, an injected incident, the playbook's parameters, the checks.

One module per scenario, named after it (`compromised-ec2-instance` lives in
`compromised_ec2_instance.py`): a `Scenario` subclass decorated with `@scenario`, which
registers it under its `name`. Every module of this package is loaded here, so adding a
scenario is adding one file; `SCENARIOS` keeps the order a full drill runs them in
(`Scenario.order`). What all scenarios share (injection, the common checks, helpers) is
in `_base.py`.
"""

from __future__ import annotations

import importlib
import pkgutil

from rehearsal.scenarios._base import (
    REGISTERED,
    Check,
    Incident,
    Scenario,
    check,
    scenario,
)
from runbooks.core.errors import InvalidInput

__all__ = ["SCENARIOS", "Check", "Incident", "Scenario", "check", "get_scenarios",
           "scenario"]

for _module in pkgutil.iter_modules(__path__):
    if not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")

SCENARIOS: dict[str, Scenario] = dict(sorted(REGISTERED.items(),
                                             key=lambda item: item[1].order))
"""Every scenario by name, in the order a full drill runs them."""


def get_scenarios(selection: str) -> list[Scenario]:
    """`all`, or one scenario name; a bad name lists the available ones."""
    if selection == "all":
        return list(SCENARIOS.values())
    if selection not in SCENARIOS:
        raise InvalidInput(f"no drill scenario {selection!r}; choose all or one of: "
                           f"{', '.join(SCENARIOS)}")
    return [SCENARIOS[selection]]
