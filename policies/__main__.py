"""Entry point of the ir-readiness CrossGuard policy pack: assembles, defines nothing.

The Pulumi CLI runs this file with `python -m pulumi.policy <engine> .` from this directory
(see README, "Code review: policy pack and credential-free preview").
"""

from pulumi_policy import PolicyPack
from rules import POLICIES

PolicyPack(
    name="ir-readiness",
    description="Incident-response readiness invariants for pulumi-aws v7 stacks: CloudTrail, "
                "S3, GuardDuty, Security Hub, Backup, quarantine, SNS, KMS, IAM, CloudWatch Logs.",
    display_name="IR readiness",
    provider="aws",
    tags=["aws", "security", "incident-response"],
    policies=list(POLICIES),
)
