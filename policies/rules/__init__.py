"""The ir-readiness rules. Importing this package registers every rule once.

`POLICIES` holds the pulumi_policy objects the pack serves; `REGISTRY` the metadata
(area, severity, enforcement, remediation, config schema) that docs, SARIF and tests use.

Another pack composes them as it would AWSGuard's (public API, see README "Using it as
a library")::

    from pulumi_policy import PolicyPack
    from policies.rules import select

    PolicyPack("acme-baseline", policies=[
        *select(areas=["cloudtrail", "s3"], levels={"all": "mandatory",
                                                    "s3-tls-only": "advisory"},
                settings={"logs-retention": {"minRetentionDays": 365}}),
        my_own_policy,
    ])
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pulumi_policy import EnforcementLevel

from . import (  # noqa: F401  (each import registers its module's rules)
    alerting,
    backup,
    cloudtrail,
    guardduty,
    iam,
    iam_stack,
    kms,
    logs,
    quarantine,
    recording,
    s3,
    securityhub,
    sns,
    stack,
    support,
)
from ._util import POLICIES, REGISTRY, Policy, RuleInfo, schema_problem

__all__ = ["AREAS", "POLICIES", "REGISTRY", "Policy", "RuleInfo", "schema_problem", "select"]

#: Rule areas (each rule's `area`, also its policy tag), in registration order.
AREAS: tuple[str, ...] = tuple(dict.fromkeys(info.area for info in REGISTRY.values()))

_LEVELS = {level.value: level for level in EnforcementLevel}


def select(
    *,
    areas: Iterable[str] | None = None,
    names: Iterable[str] | None = None,
    exclude: Iterable[str] = (),
    levels: Mapping[str, str] | None = None,
    settings: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[Policy]:
    """New policy objects for the chosen rules, to put in another `PolicyPack`.

    - `areas` / `names`: which rules (both None: all); a rule is chosen when its area is
      in `areas` or its name in `names`; `exclude` removes names again.
    - `levels`: enforcement per rule name, `"all"` for every chosen rule first
      (`advisory`, `mandatory`, `remediate`, `disabled`).
    - `settings`: per rule name, values that replace the defaults of its config schema
      (a stack's `--policy-pack-config` still overrides them, under the same names).

    Each call builds fresh objects, so two packs in one process never share state.
    Anything unknown (area, name, level, setting) raises ValueError naming what is allowed.
    """
    from ._util import BUILDERS

    def known(kind: str, given: Iterable[str], allowed: Iterable[str]) -> set[str]:
        chosen, allowed = set(given), set(allowed)
        unknown = sorted(chosen - allowed)
        if unknown:
            raise ValueError(f"unknown {kind} {', '.join(unknown)}; known: "
                             f"{', '.join(sorted(allowed))}")
        return chosen

    area_set = known("area", areas or (), AREAS)
    name_set = known("policy", names or (), REGISTRY)
    excluded = known("policy", exclude, REGISTRY)
    level_map = dict(levels or {})
    known("policy", (k for k in level_map if k != "all"), REGISTRY)
    known("policy", (settings or {}).keys(), REGISTRY)
    for name, level in level_map.items():
        if level not in _LEVELS:
            raise ValueError(f"enforcement level {level!r} for {name} is not one of "
                             f"{', '.join(sorted(_LEVELS))}")
    everything = areas is None and names is None
    out: list[Policy] = []
    for name, info in REGISTRY.items():
        if name in excluded or not (everything or info.area in area_set or name in name_set):
            continue
        level = level_map.get(name, level_map.get("all", info.enforcement))
        out.append(BUILDERS[name](_LEVELS[level], (settings or {}).get(name, {})))
    return out
