"""The IAM actions the responder role needs: the single list both halves use.

`components/responder_access.py` grants exactly `responder_actions()`; the runbook
toolkit derives it from the registered steps' declared actions (see
`runbooks.core.step`), and a test keeps the two equal.
"""

from __future__ import annotations

# Read-only calls the CLI itself makes outside any step (identity, manifest discovery,
# readiness checks in `irctl status`).
CLI_READ_ACTIONS: frozenset[str] = frozenset(
    {
        "sts:GetCallerIdentity",
        "ssm:GetParameter",
        "cloudtrail:GetTrailStatus",
        "cloudtrail:DescribeTrails",
        "guardduty:GetDetector",
        "securityhub:DescribeHub",
        "sns:GetTopicAttributes",
        # status: does each severity topic have a confirmed subscription?
        "sns:ListSubscriptionsByTopic",
        "sns:GetSubscriptionAttributes",
        "ec2:DescribeInstances",
        "ec2:DescribeSecurityGroups",
        # triage / investigate: findings and CloudTrail (API and the trail's log files)
        "guardduty:GetFindings",
        "guardduty:ListFindings",
        "securityhub:GetFindings",
        "cloudtrail:LookupEvents",
        "s3:ListBucket",
        "s3:GetObject",
        # case show --from-evidence, release, verify case: the audit log copy's versions
        "s3:ListBucketVersions",
        "s3:GetObjectVersion",
        # eradicate rotate-key, verify case: re-reading containment state
        "iam:ListAccessKeys",
        "iam:GetUserPolicy",
        "iam:ListAttachedUserPolicies",  # verify case: the deny-all is still attached
        "iam:GetRolePolicy",
        "iam:GetLoginProfile",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeIamInstanceProfileAssociations",
        "ec2:DescribeNetworkAcls",
        "s3:GetBucketPublicAccessBlock",
        "s3:GetBucketPolicy",
        "s3:GetBucketVersioning",
    }
)


def responder_actions() -> list[str]:
    """Sorted, de-duplicated IAM actions for the responder role."""
    from runbooks.core.step import declared_actions  # local: keep import light

    return sorted(CLI_READ_ACTIONS | declared_actions())
