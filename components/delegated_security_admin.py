"""DelegatedSecurityAdmin: GuardDuty and Security Hub administered for the whole
organization by the security account.

Two sides, one component (``Args.side``):

* ``management`` (in the management account): in every covered region, GuardDuty
  ``OrganizationAdminAccount`` and Security Hub ``OrganizationAdminAccount`` set to the
  security account.
* ``security`` (in the delegated administrator, the security account): in every covered
  region, GuardDuty ``OrganizationConfiguration`` auto-enabling ``ALL`` accounts (current
  and future) and one ``OrganizationConfigurationFeature`` per configured protection plan,
  also ``ALL`` (runtime monitoring with its agent management). Security Hub **central
  configuration** from the home (aggregation) region: ``OrganizationConfiguration`` with
  ``configuration_type = CENTRAL`` (which requires local auto-enable off and
  ``auto_enable_standards = NONE``), a ``ConfigurationPolicy`` enabling Security Hub with
  the configured standards in every account and linked region, and a
  ``ConfigurationPolicyAssociation`` with the organization root. Central configuration is
  an organization-wide setting managed from the home region; it covers every region the
  finding aggregator links (the security account's own readiness stack creates that
  aggregator, passed in ``security_hub_depends_on``).

With ``inspector`` on, Amazon Inspector the same way: ``inspector2.DelegatedAdminAccount``
(management side) and ``inspector2.OrganizationConfiguration`` auto-enabling EC2, ECR and
Lambda scanning for members that join later (security side), in every covered region;
the members that already existed (``member_account_ids``, ``ir:organization.memberAccountIds``)
are associated (``inspector2.MemberAssociation``) and their scanning activated
(``inspector2.Enabler`` for those accounts).

Each region's resources use that region's provider from ``Args.providers``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import pulumi
import pulumi_aws as aws

from components.security_findings import STANDARDS, standards_arn
from components.threat_detection import ALL_FEATURES, RUNTIME_AGENT_MANAGEMENT

TYPE = "ir-readiness:index:DelegatedSecurityAdmin"

_ACCOUNT = re.compile(r"^[0-9]{12}$")
_ROOT = re.compile(r"^r-[0-9a-z]{4,32}$")
# What auto-enable turns on for new members; existing members get the same.
INSPECTOR_MEMBER_TYPES = ("EC2", "ECR", "LAMBDA")


@dataclass(frozen=True)
class DelegatedSecurityAdminArgs:
    side: Literal["management", "security"]
    """Which account this stack runs in (see the module docstring)."""
    security_account_id: str
    """The delegated administrator of GuardDuty and Security Hub."""
    regions: Sequence[str]
    """Covered regions, home region first."""
    providers: Mapping[str, pulumi.ProviderResource]
    """An explicit provider per covered region."""
    detector_ids: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """security side: the security account's GuardDuty detector per region."""
    guardduty_features: Sequence[str] = ()
    """security side: protection plans auto-enabled for every member."""
    root_id: str | None = None
    """security side: organization root (r-...) the Security Hub policy is associated with."""
    standards: Sequence[str] = ()
    """security side: Security Hub standards the central policy enables."""
    partition: str = "aws"
    """ARN partition."""
    security_hub_depends_on: Sequence[pulumi.Resource] = ()
    """security side: the finding aggregator (central configuration requires it)."""
    inspector: bool = False
    """Amazon Inspector administered by the security account too: delegated (management
    side) and auto-enabled for every member's EC2, ECR and Lambda (security side)."""
    member_account_ids: Sequence[str] = ()
    """security side, with ``inspector``: members that existed before the delegation.
    Auto-enable reaches only accounts that join later; these are associated and their
    scanning activated by the administrator."""

    def __post_init__(self) -> None:
        if self.side not in ("management", "security"):
            raise ValueError(f"DelegatedSecurityAdminArgs.side = {self.side!r}: must be "
                             "management or security")
        if not _ACCOUNT.match(self.security_account_id or ""):
            raise ValueError("DelegatedSecurityAdminArgs.security_account_id = "
                             f"{self.security_account_id!r}: must be a 12-digit account id")
        if not self.regions:
            raise ValueError("DelegatedSecurityAdminArgs.regions is empty")
        missing = [r for r in self.regions if r not in self.providers]
        if missing:
            raise ValueError(f"DelegatedSecurityAdminArgs.providers has no provider for "
                             f"{', '.join(missing)}")
        if self.side == "security":
            no_detector = [r for r in self.regions if r not in self.detector_ids]
            if no_detector:
                raise ValueError("DelegatedSecurityAdminArgs.detector_ids: no detector for "
                                 f"{', '.join(no_detector)} (the security account's own "
                                 "GuardDuty detector in every covered region)")
            if not _ROOT.match(self.root_id or ""):
                raise ValueError(f"DelegatedSecurityAdminArgs.root_id = {self.root_id!r}: the "
                                 "security side needs the organization root id (r-...)")
            unknown = sorted(set(self.guardduty_features) - set(ALL_FEATURES))
            if unknown:
                raise ValueError(f"DelegatedSecurityAdminArgs.guardduty_features: unknown "
                                 f"{unknown}; allowed: {', '.join(ALL_FEATURES)}")
            bad = sorted(set(self.standards) - set(STANDARDS))
            if bad:
                raise ValueError(f"DelegatedSecurityAdminArgs.standards: unknown {bad}")
            if not self.standards:
                raise ValueError("DelegatedSecurityAdminArgs.standards is empty: a central "
                                 "policy that enables Security Hub must enable a standard")
        for member in self.member_account_ids:
            if not _ACCOUNT.match(member) or member == self.security_account_id:
                raise ValueError(f"DelegatedSecurityAdminArgs.member_account_ids: {member!r} "
                                 "must be a 12-digit member account id (not the security "
                                 "account, which enables its own scanning)")
        if self.member_account_ids and (self.side != "security" or not self.inspector):
            raise ValueError("DelegatedSecurityAdminArgs.member_account_ids only applies on "
                             "the security side with inspector on")


class DelegatedSecurityAdmin(pulumi.ComponentResource):
    """Delegated GuardDuty / Security Hub administration (management or security side)."""

    configuration_policy_id: pulumi.Output[str] | None

    def __init__(self, name: str, args: DelegatedSecurityAdminArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        if not isinstance(args, DelegatedSecurityAdminArgs):
            raise TypeError("DelegatedSecurityAdmin needs DelegatedSecurityAdminArgs")
        super().__init__(TYPE, name, None, opts)
        self.configuration_policy_id = None
        if args.side == "management":
            self._management(name, args)
        else:
            self._security(name, args)
        self.register_outputs({"configurationPolicyId": self.configuration_policy_id})

    def _in(self, args: DelegatedSecurityAdminArgs, region: str,
            depends_on: Sequence[pulumi.Resource] = ()) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, provider=args.providers[region],
                                      depends_on=list(depends_on))

    def _management(self, name: str, args: DelegatedSecurityAdminArgs) -> None:
        for region in args.regions:
            aws.guardduty.OrganizationAdminAccount(
                f"{name}-guardduty-{region}", admin_account_id=args.security_account_id,
                opts=self._in(args, region))
            aws.securityhub.OrganizationAdminAccount(
                f"{name}-securityhub-{region}", admin_account_id=args.security_account_id,
                opts=self._in(args, region))
            if args.inspector:
                aws.inspector2.DelegatedAdminAccount(
                    f"{name}-inspector-{region}", account_id=args.security_account_id,
                    opts=self._in(args, region))

    def _existing_members(self, name: str, args: DelegatedSecurityAdminArgs, region: str,
                          configuration: pulumi.Resource) -> None:
        """Auto-enable covers accounts that join later: the members that were already there
        are associated with the administrator and their scanning activated."""
        members = sorted(args.member_account_ids)
        if not members:
            return
        associations = [
            aws.inspector2.MemberAssociation(
                f"{name}-inspector-{region}-member-{member}", account_id=member,
                opts=self._in(args, region, [configuration]))
            for member in members
        ]
        aws.inspector2.Enabler(
            f"{name}-inspector-{region}-members",
            account_ids=members,
            resource_types=list(INSPECTOR_MEMBER_TYPES),
            opts=self._in(args, region, associations))

    def _security(self, name: str, args: DelegatedSecurityAdminArgs) -> None:
        for region in args.regions:
            detector = args.detector_ids[region]
            config = aws.guardduty.OrganizationConfiguration(
                f"{name}-guardduty-{region}",
                detector_id=detector,
                auto_enable_organization_members="ALL",
                opts=self._in(args, region))
            for feature in args.guardduty_features:
                additional = None
                if feature in ("RUNTIME_MONITORING", "EKS_RUNTIME_MONITORING"):
                    agents = (RUNTIME_AGENT_MANAGEMENT if feature == "RUNTIME_MONITORING"
                              else ("EKS_ADDON_MANAGEMENT",))
                    additional = [
                        aws.guardduty.OrganizationConfigurationFeatureAdditionalConfigurationArgs(
                            name=agent, auto_enable="ALL")
                        for agent in agents
                    ]
                aws.guardduty.OrganizationConfigurationFeature(
                    f"{name}-guardduty-{region}-{feature.lower().replace('_', '-')}",
                    detector_id=detector,
                    name=feature,
                    auto_enable="ALL",
                    additional_configurations=additional,
                    opts=self._in(args, region, [config]))

            if args.inspector:
                # New members are enabled on joining; the readiness stack of the security
                # account enables its own scanning (ThreatDetection's Enabler).
                inspector = aws.inspector2.OrganizationConfiguration(
                    f"{name}-inspector-{region}",
                    auto_enable=aws.inspector2.OrganizationConfigurationAutoEnableArgs(
                        ec2=True, ecr=True, lambda_=True),
                    opts=self._in(args, region))
                self._existing_members(name, args, region, inspector)

        home = args.regions[0]
        central = aws.securityhub.OrganizationConfiguration(
            f"{name}-securityhub-central",
            auto_enable=False,
            auto_enable_standards="NONE",
            organization_configuration=(
                aws.securityhub.OrganizationConfigurationOrganizationConfigurationArgs(
                    configuration_type="CENTRAL")),
            opts=self._in(args, home, args.security_hub_depends_on))
        policy = aws.securityhub.ConfigurationPolicy(
            f"{name}-securityhub-policy",
            name="ir-readiness-organization",
            description="ir-readiness: Security Hub on, with these standards, in every "
                        "account and linked region",
            configuration_policy=aws.securityhub.ConfigurationPolicyConfigurationPolicyArgs(
                service_enabled=True,
                enabled_standard_arns=[standards_arn(s, home, args.partition)
                                       for s in args.standards],
                security_controls_configuration=(
                    aws.securityhub.ConfigurationPolicyConfigurationPolicySecurityControlsConfigurationArgs(  # noqa: E501
                        disabled_control_identifiers=[])),
            ),
            opts=self._in(args, home, [central]))
        aws.securityhub.ConfigurationPolicyAssociation(
            f"{name}-securityhub-root",
            policy_id=policy.id,
            target_id=str(args.root_id),
            opts=self._in(args, home))
        self.configuration_policy_id = policy.id
