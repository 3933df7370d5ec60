"""Bridge handlers for Inspector.

=====================================================  ========================================
Type                                                   How
=====================================================  ========================================
aws:inspector2/enabler:Enabler                         API inspector2 Enable
=====================================================  ========================================
"""

from __future__ import annotations

from typing import Any

from rehearsal.bridge._core import (
    Request,
    handles,
)


@handles("aws:inspector2/enabler:Enabler", api="inspector2:Enable")
def _inspector_enabler(r: Request) -> tuple[str, dict[str, Any]]:
    accounts = list(r.get("accountIds", [r.account]))
    resource_types = list(r.get("resourceTypes", []))
    r.client("inspector2").enable(accountIds=accounts, resourceTypes=resource_types)
    return f"{','.join(accounts)}-{','.join(resource_types)}", {}
