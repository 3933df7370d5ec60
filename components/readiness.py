"""IncidentResponseReadiness: composes every readiness component for one account.

Global parts (multi-region trail, evidence bucket, responder roles) are created once,
in the home region; regional parts (KMS key, alert routing, GuardDuty, Security Hub,
backups, quarantine groups, manifest) once per covered region, each through an explicit
`aws.Provider` for that region whose default tags carry `ir:tags`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.encryption_key import EncryptionKey, EncryptionKeyArgs
from components.settings import DISCOVER, Settings

TYPE = "ir-readiness:index:IncidentResponseReadiness"

BASE_TAGS = {"ir-readiness:managed-by": "pulumi"}


@dataclass(frozen=True)
class IncidentResponseReadinessArgs:
    settings: Settings
    """Validated stack settings (see `components.settings`)."""


class IncidentResponseReadiness(pulumi.ComponentResource):
    """Readiness for one account: global parts in the home region, regional parts per region."""

    kms_key_arns: dict[str, pulumi.Output[str]]
    manifests: dict[str, pulumi.Output[Any]]

    def __init__(
        self,
        name: str,
        args: IncidentResponseReadinessArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        settings = args.settings
        super().__init__(TYPE, name, None, opts)
        stack = pulumi.get_stack()
        tags = {**BASE_TAGS, "ir-readiness:stack": stack, **settings.tags}

        self.providers: dict[str, aws.Provider] = {
            region: aws.Provider(
                f"aws-{region}",
                region=region,
                default_tags=aws.ProviderDefaultTagsArgs(tags=tags),
                opts=pulumi.ResourceOptions(parent=self),
            )
            for region in settings.regions
        }
        home = settings.home_region
        home_invoke = pulumi.InvokeOutputOptions(provider=self.providers[home])
        identity = aws.get_caller_identity_output(opts=home_invoke)
        partition = aws.get_partition_output(opts=home_invoke)
        account_id = identity.account_id
        partition_name = partition.partition

        log_group_prefix = f"/ir-readiness/{stack}"
        trail_name = f"ir-readiness-{stack}"
        trail_arn = pulumi.Output.concat(
            "arn:", partition_name, ":cloudtrail:", home, ":", account_id, ":trail/", trail_name
        )

        self.keys: dict[str, EncryptionKey] = {}
        for region in settings.regions:
            regional = pulumi.ResourceOptions(parent=self, provider=self.providers[region])
            self.keys[region] = EncryptionKey(
                f"kms-{region}",
                EncryptionKeyArgs(
                    region=region,
                    account_id=account_id,
                    partition=partition_name,
                    log_group_prefix=log_group_prefix,
                    trail_arn=trail_arn if region == home else None,
                ),
                opts=regional,
            )

        self.vpc_ids: dict[str, tuple[str, ...]] = {
            region: self._vpcs(settings, region) for region in settings.regions
        }
        self.kms_key_arns = {region: key.key_arn for region, key in self.keys.items()}
        self.manifests = {}
        self.register_outputs({"kmsKeyArns": self.kms_key_arns, "manifests": self.manifests})

    def _vpcs(self, settings: Settings, region: str) -> tuple[str, ...]:
        """VPC ids to quarantine in `region`: explicit, or discovered by a (blocking) invoke.

        Discovery must be synchronous: one QuarantineNetwork per VPC is created, and
        resources are never created inside an apply.
        """
        wanted = settings.vpcs_for(region)
        if wanted != DISCOVER:
            return tuple(wanted)
        result = aws.ec2.get_vpcs(opts=pulumi.InvokeOptions(provider=self.providers[region]))
        return tuple(sorted(result.ids))
