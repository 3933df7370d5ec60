"""Bridge handlers for Security Hub: the account, standards, the finding aggregator.

=====================================================  ========================================
Type                                                   How
=====================================================  ========================================
aws:securityhub/account:Account                        API securityhub EnableSecurityHub
aws:securityhub/standardsSubscription:...              API securityhub BatchEnableStandards
                                                       (emulator extension)
aws:securityhub/findingAggregator:FindingAggregator    API securityhub CreateFindingAggregator
                                                       (emulator extension)
aws:securityhub/organizationAdminAccount:...           API securityhub
                                                       EnableOrganizationAdminAccount
aws:securityhub/organizationConfiguration:...          API securityhub
                                                       UpdateOrganizationConfiguration
aws:securityhub/configurationPolicy:...                API securityhub CreateConfigurationPolicy
                                                       (emulator extension)
aws:securityhub/configurationPolicyAssociation:...     API securityhub
                                                       StartConfigurationPolicyAssociation
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


@handles("aws:securityhub/organizationAdminAccount:OrganizationAdminAccount",
         api="securityhub:EnableOrganizationAdminAccount")
def _sh_admin(r: Request) -> tuple[str, dict[str, Any]]:
    account = str(r.get("adminAccountId"))
    r.client("securityhub").enable_organization_admin_account(AdminAccountId=account)
    return account, {}


@handles("aws:securityhub/organizationConfiguration:OrganizationConfiguration",
         api="securityhub:UpdateOrganizationConfiguration")
def _sh_org(r: Request) -> tuple[str, dict[str, Any]]:
    org = r.get("organizationConfiguration", {})
    kwargs = clean({
        "AutoEnable": bool(r.get("autoEnable", False)),
        "AutoEnableStandards": r.get("autoEnableStandards"),
        # AWS takes the configuration type alone (Status is what it answers); moto 5.2
        # rejects a request without a Status, so the one AWS reports is sent along.
        "OrganizationConfiguration": clean(
            {"ConfigurationType": org.get("configurationType"), "Status": "ENABLED"}
        ) if org.get("configurationType") else None,
    })
    r.client("securityhub").update_organization_configuration(**kwargs)
    return r.account, {}


@handles("aws:securityhub/configurationPolicy:ConfigurationPolicy",
         api="securityhub:CreateConfigurationPolicy (emulator)")
def _sh_policy(r: Request) -> tuple[str, dict[str, Any]]:
    policy = r.get("configurationPolicy", {})
    controls = policy.get("securityControlsConfiguration") or {}
    hub = clean({
        "ServiceEnabled": bool(policy.get("serviceEnabled")),
        "EnabledStandardIdentifiers": policy.get("enabledStandardArns") or [],
        "SecurityControlsConfiguration": clean({
            "DisabledSecurityControlIdentifiers":
                controls.get("disabledControlIdentifiers"),
            "EnabledSecurityControlIdentifiers":
                controls.get("enabledControlIdentifiers"),
        }) or None,
    })
    created = r.client("securityhub").create_configuration_policy(**clean({
        "Name": r.get("name"), "Description": r.get("description"),
        "ConfigurationPolicy": {"SecurityHub": hub}}))
    return created["Id"], {"arn": created["Arn"]}


@handles("aws:securityhub/configurationPolicyAssociation:ConfigurationPolicyAssociation",
         api="securityhub:StartConfigurationPolicyAssociation (emulator)")
def _sh_policy_association(r: Request) -> tuple[str, dict[str, Any]]:
    target = str(r.get("targetId"))
    if target.startswith("r-"):
        target_arg = {"RootId": target}
    elif target.startswith("ou-"):
        target_arg = {"OrganizationalUnitId": target}
    else:
        target_arg = {"AccountId": target}
    r.client("securityhub").start_configuration_policy_association(
        ConfigurationPolicyIdentifier=r.get("policyId"), Target=target_arg)
    return target, {}
