"""The IAM actions the responder role needs: the single list both halves use.

`components/responder_access.py` grants exactly `responder_actions()`; the runbook
toolkit derives it from the registered steps' declared actions (see
`runbooks.core.step`), and a test keeps the two equal.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# Read-only calls the CLI itself makes outside any step (identity, manifest discovery,
# readiness checks in `irctl status`). Not kept by hand: `tests/runbooks/core/
# test_cli_actions_measured.py` runs the commands against moto with every call recorded
# and fails on a call outside steps that is not here (nor on the evidence bucket), and on
# an entry here that no command calls.
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
        # case share-snapshots: the case's snapshots, and waiting for their copies
        "ec2:DescribeSnapshots",
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
        # backup now / recover: the newest recovery point before a time, and waiting for
        # the job the step started
        "backup:ListRecoveryPointsByResource",
        "backup:DescribeBackupJob",
        "backup:DescribeRestoreJob",
    }
)


def responder_actions() -> list[str]:
    """Sorted, de-duplicated IAM actions for the responder role."""
    from runbooks.core.step import declared_actions  # local: keep import light

    return sorted(CLI_READ_ACTIONS | declared_actions())


# --- From an API call to the IAM actions that authorise it -------------------------------
#
# Most calls are authorised by the IAM action `<service prefix>:<operation>`, the prefix
# being the botocore signing name. The exceptions below are from the Service Authorization
# Reference; each is explicit so a call the table does not know reads as what it is.

# Signing names whose IAM service prefix differs.
_IAM_PREFIX: dict[str, str] = {
    "monitoring": "cloudwatch",  # CloudWatch signs as `monitoring`, IAM says `cloudwatch`
}

# Operations authorised by an action of another name.
_RENAMED: dict[tuple[str, str], str] = {
    # S3 names most bucket-level actions after the sub-resource, not the operation.
    ("s3", "ListObjects"): "s3:ListBucket",
    ("s3", "ListObjectsV2"): "s3:ListBucket",
    ("s3", "HeadBucket"): "s3:ListBucket",
    ("s3", "ListObjectVersions"): "s3:ListBucketVersions",
    ("s3", "HeadObject"): "s3:GetObject",
    ("s3", "DeleteObjects"): "s3:DeleteObject",
    ("s3", "CopyObject"): "s3:PutObject",  # plus reading the source, see below
    ("s3", "CreateMultipartUpload"): "s3:PutObject",
    ("s3", "UploadPart"): "s3:PutObject",
    ("s3", "CompleteMultipartUpload"): "s3:PutObject",
    ("s3", "GetPublicAccessBlock"): "s3:GetBucketPublicAccessBlock",
    ("s3", "PutPublicAccessBlock"): "s3:PutBucketPublicAccessBlock",
    ("s3", "DeletePublicAccessBlock"): "s3:PutBucketPublicAccessBlock",
    ("s3", "GetBucketEncryption"): "s3:GetEncryptionConfiguration",
    ("s3", "PutBucketEncryption"): "s3:PutEncryptionConfiguration",
    ("s3", "GetObjectLockConfiguration"): "s3:GetBucketObjectLockConfiguration",
    ("s3", "PutObjectLockConfiguration"): "s3:PutBucketObjectLockConfiguration",
    ("s3", "GetBucketLifecycleConfiguration"): "s3:GetLifecycleConfiguration",
    ("s3", "PutBucketLifecycleConfiguration"): "s3:PutLifecycleConfiguration",
    ("s3", "GetBucketNotificationConfiguration"): "s3:GetBucketNotification",
    ("s3", "GetBucketReplication"): "s3:GetReplicationConfiguration",
    ("lambda", "Invoke"): "lambda:InvokeFunction",
}

# S3 object operations that, given a `VersionId`, need the version's own action.
_S3_VERSIONED: dict[str, str] = {
    "GetObject": "s3:GetObjectVersion",
    "HeadObject": "s3:GetObjectVersion",
    "DeleteObject": "s3:DeleteObjectVersion",
    "GetObjectTagging": "s3:GetObjectVersionTagging",
    "PutObjectTagging": "s3:PutObjectVersionTagging",
    "GetObjectAcl": "s3:GetObjectVersionAcl",
}

# Calls that pass an IAM role to the service (an instance profile's role, a job's role):
# the caller needs iam:PassRole on it too.
_PASSES_ROLE: dict[tuple[str, str], str] = {
    ("ec2", "AssociateIamInstanceProfile"): "IamInstanceProfile",
    ("ec2", "ReplaceIamInstanceProfileAssociation"): "IamInstanceProfile",
    ("ec2", "RunInstances"): "IamInstanceProfile",
    ("backup", "StartBackupJob"): "IamRoleArn",
    ("backup", "StartRestoreJob"): "IamRoleArn",
}


def iam_actions(service: str, operation: str,
                params: Mapping[str, Any] | None = None) -> frozenset[str]:
    """The IAM actions one call needs: `service` is the client's signing name (botocore's
    `service_model.signing_name`), `operation` the API operation, `params` its arguments
    (some actions depend on them: an S3 object version, a role passed along, tags set on
    create). Actions AWS checks on the caller's behalf inside the service (KMS for an
    encrypted object or topic) are not derived here; steps declare them."""
    params = params or {}
    prefix = _IAM_PREFIX.get(service, service)
    actions = {_RENAMED.get((service, operation), f"{prefix}:{operation}")}
    if service == "s3":
        if params.get("VersionId") and operation in _S3_VERSIONED:
            actions = {_S3_VERSIONED[operation]}
        if operation == "DeleteObjects" and any(
                o.get("VersionId") for o in params.get("Delete", {}).get("Objects", [])):
            actions.add("s3:DeleteObjectVersion")
        if operation == "CopyObject":
            source = params.get("CopySource")
            versioned = (isinstance(source, Mapping) and source.get("VersionId")) or (
                isinstance(source, str) and "versionId=" in source)
            actions.add("s3:GetObjectVersion" if versioned else "s3:GetObject")
        if operation in ("PutObject", "CopyObject", "CreateMultipartUpload") and \
                params.get("ServerSideEncryption") == "aws:kms":
            # S3 asks KMS for a data key as the caller
            actions.add("kms:GenerateDataKey")
    if (service, operation) in _PASSES_ROLE and params.get(_PASSES_ROLE[service, operation]):
        actions.add("iam:PassRole")
    if service == "ec2" and params.get("TagSpecifications"):
        actions.add("ec2:CreateTags")  # tags set on create are authorised as CreateTags
    return frozenset(actions)


# --- When AWS says no: name the permission and the role that has it ---------------------

DENIED_CODES = frozenset({
    "AccessDenied", "AccessDeniedException", "UnauthorizedOperation",
    "AuthorizationError", "AuthorizationErrorException", "UnauthorizedAccess",
})
# IAM's denial message, which most services pass on (S3 says only "Access Denied").
_DENIED = re.compile(r"not authorized to perform:? (?P<action>[a-z0-9-]+:[A-Za-z0-9]+)"
                     r"(?: on resource:? (?P<resource>[^\s,;]+))?")
# The services irctl calls: where to look an operation up when the message names no action.
RUNBOOK_SERVICES = ("s3", "ec2", "iam", "sts", "ssm", "sns", "backup", "securityhub",
                    "guardduty", "cloudtrail", "autoscaling", "elbv2", "kms", "logs")
# What the responder role grants on the evidence bucket and keys only, beside
# `responder_actions()` (components/responder_access.py: read, write and encrypt evidence).
RESPONDER_EVIDENCE_ACTIONS = frozenset({
    "s3:ListBucket", "s3:ListBucketVersions", "s3:GetBucketLocation", "s3:GetObject",
    "s3:GetObjectVersion", "s3:GetObjectRetention", "s3:PutObject", "s3:PutObjectRetention",
    "s3:PutObjectLegalHold", "kms:GenerateDataKey", "kms:Decrypt", "kms:DescribeKey",
})


def _actions_of_operation(operation: str) -> list[str]:
    """IAM actions of `operation` in every service irctl calls that has it (S3's denial
    names none; an operation two services share, e.g. GetFindings, gives both)."""
    import botocore.session

    session = botocore.session.get_session()
    found: set[str] = set()
    for service in RUNBOOK_SERVICES:
        model = session.get_service_model(service)
        if operation in model.operation_names:
            found |= iam_actions(model.signing_name, operation)
    return sorted(found)


def denied(err: Any) -> tuple[list[str], str | None] | None:
    """For an AWS denial (a botocore ClientError with an access-denied code): the IAM
    action(s) the call needed and the resource, when AWS named it; None for other errors."""
    response = getattr(err, "response", {})
    error = response.get("Error", {})
    match = _DENIED.search(str(error.get("Message", "")))
    # A 403 whose body botocore could not parse (an XML error to a JSON API: proxies,
    # emulators) keeps the status as its code; IAM's sentence in it still names the action.
    unparsed = response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 403 and match
    if error.get("Code") not in DENIED_CODES and not unparsed:
        return None
    if match:
        return [match["action"]], match["resource"]
    return _actions_of_operation(str(getattr(err, "operation_name", ""))), None


def denied_hint(err: Any) -> str | None:
    """What a responder reads when AWS denied a call: the permission it needs, on what,
    and which role the stack generates has it. None when `err` is no denial."""
    found = denied(err)
    if found is None:
        return None
    actions, resource = found
    if not actions:
        return ("AWS denied the call; the caller lacks its permission: run the command as "
                "the responder role (responderRoles.responder in the manifest)")
    needs = " or ".join(actions) + (f" on {resource}" if resource else "")
    granted = set(responder_actions()) | RESPONDER_EVIDENCE_ACTIONS
    if granted & set(actions):
        return (f"needs {needs}; this command runs as the responder role "
                "(responderRoles.responder in the manifest), which grants it (the "
                "investigator role only reads): assume it and re-run, a run resumes. Already "
                "the responder? Then its grant does not cover this resource")
    return (f"needs {needs}, which no role the stack generates grants: report it as an "
            "ir-readiness bug (the responder role must hold every action irctl calls)")
