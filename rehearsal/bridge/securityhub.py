"""Bridge handlers for Security Hub: the account, standards, the finding aggregator.

=====================================================  ========================================
Type                                                   How
=====================================================  ========================================
aws:securityhub/account:Account                        API securityhub EnableSecurityHub
aws:securityhub/standardsSubscription:...              recorded only: moto has no
                                                       BatchEnableStandards
aws:securityhub/findingAggregator:FindingAggregator    recorded only: moto has no
                                                       CreateFindingAggregator
=====================================================  ========================================
"""

from __future__ import annotations

import uuid
from typing import Any

from rehearsal.bridge._core import (
    Request,
    clean,
    handles,
)


@handles("aws:securityhub/account:Account", api="securityhub:EnableSecurityHub")
def _securityhub_account(r: Request) -> tuple[str, dict[str, Any]]:
    kwargs = clean(
        {
            "EnableDefaultStandards": bool(r.get("enableDefaultStandards", True)),
            "ControlFindingGenerator": r.get("controlFindingGenerator"),
        }
    )
    r.client("securityhub").enable_security_hub(**kwargs)
    return r.account, {"arn": r.arn("securityhub", "hub/default")}


@handles(
    "aws:securityhub/standardsSubscription:StandardsSubscription",
    recorded_only="moto has no BatchEnableStandards",
)
def _standards_subscription(r: Request) -> tuple[str, dict[str, Any]]:
    standard = str(r.get("standardsArn"))
    suffix = standard.split(":", 5)[-1].replace("standards/", "subscription/", 1)
    return r.arn("securityhub", suffix), {}


@handles(
    "aws:securityhub/findingAggregator:FindingAggregator",
    recorded_only="moto has no CreateFindingAggregator",
)
def _finding_aggregator(r: Request) -> tuple[str, dict[str, Any]]:
    arn = r.arn("securityhub", f"finding-aggregator/{uuid.uuid4()}")
    return arn, {}
