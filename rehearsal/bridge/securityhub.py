"""Bridge handlers for Security Hub: the account, standards, the finding aggregator.

=====================================================  ========================================
Type                                                   How
=====================================================  ========================================
aws:securityhub/account:Account                        API securityhub EnableSecurityHub
aws:securityhub/standardsSubscription:...              API securityhub BatchEnableStandards
                                                       (emulator extension)
aws:securityhub/findingAggregator:FindingAggregator    API securityhub CreateFindingAggregator
                                                       (emulator extension)
=====================================================  ========================================
"""

from __future__ import annotations

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
    api="securityhub:BatchEnableStandards (emulator)",
)
def _standards_subscription(r: Request) -> tuple[str, dict[str, Any]]:
    (subscription,) = r.client("securityhub").batch_enable_standards(
        StandardsSubscriptionRequests=[{"StandardsArn": str(r.get("standardsArn"))}]
    )["StandardsSubscriptions"]
    return subscription["StandardsSubscriptionArn"], {}


@handles(
    "aws:securityhub/findingAggregator:FindingAggregator",
    api="securityhub:CreateFindingAggregator (emulator)",
)
def _finding_aggregator(r: Request) -> tuple[str, dict[str, Any]]:
    kwargs = clean({"RegionLinkingMode": r.get("linkingMode"),
                    "Regions": r.get("specifiedRegions") or None})
    created = r.client("securityhub").create_finding_aggregator(**kwargs)
    return created["FindingAggregatorArn"], {}
