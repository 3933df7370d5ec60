"""Resource scopes of IAM actions: where a step's action may act, and under what condition.

A step declares, beside `actions`, `scopes = {action: SCOPE}` for every action that AWS
lets a policy narrow (service authorization reference: the action lists resource types
or condition keys); an action it does not list is granted on `*`, and `UNSCOPED_WHY`
must say why for each such action (a test holds every generated role to it). The roles
(`components/responder_access.py`, `components/response_automation.py`) render these
scopes into one statement per (scope, actions) with `policy_statements()`, so the step
is the one place that says what an action may touch.

Templates in resources and condition values are filled at deployment:
`{partition}`, `{account}`, `{deny_all_policy}` (the stack's managed deny policy),
`{evidence_bucket_arn}`, `{trail_bucket_arn}`, and `{key_arns}` (one resource per stack key).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# The tag cases put on what they touch (defined once, in runbooks.core.ids) and the one
# command document the runbooks send (runbooks.steps.ssm.PATCH_DOCUMENT); steps import
# these from here (core sits below steps).
from runbooks.core.ids import CASE_TAG as CASE_TAG

PATCH_DOCUMENT = "AWS-RunPatchBaseline"

# Tags that mark an IAM principal no runbook may write a policy onto: every resource the
# stack creates carries `ir-readiness:managed-by` (the providers' default tags), and an
# account owner tags their administrator roles and users `ir:protected=true` (IAM has
# no condition key for "this role carries AdministratorAccess").
STACK_TAG = "ir-readiness:managed-by"
PROTECTED_TAG = "ir:protected"


@dataclass(frozen=True, eq=False)  # module constants: compared and hashed by identity
class Scope:
    """Resources (and an optional condition) one or more actions are granted on."""

    name: str
    """Statement id stem, e.g. `AccountUsers`."""
    resources: tuple[str, ...]
    """Resource ARN templates."""
    condition: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Condition block template (values may be templates)."""

    def render(self, values: Mapping[str, str | Sequence[str]]) -> tuple[list[str],
                                                                         dict[str, Any]]:
        resources: list[str] = []
        for template in self.resources:
            if template == "{key_arns}":
                resources += sorted(set(values["key_arns"]))
            else:
                resources.append(template.format_map(_Strict(values)))
        condition = {op: {key: _fill(value, values) for key, value in block.items()}
                     for op, block in self.condition.items()}
        return resources, condition


class _Strict(dict[str, Any]):
    """format_map source that fails loudly on a template the role cannot fill."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        super().__init__(values)

    def __missing__(self, key: str) -> str:
        raise KeyError(f"scope template {{{key}}} has no value for this role")


def _fill(value: Any, values: Mapping[str, Any]) -> Any:
    if isinstance(value, str):
        return value.format_map(_Strict(values))
    if isinstance(value, list):
        return [_fill(v, values) for v in value]
    return value


ANY = Scope("AnyResource", ("*",))

_ACCOUNT_RESOURCE = {"StringEquals": {"aws:ResourceAccount": "{account}"}}

ACCOUNT_USERS = Scope("AccountUsers", ("arn:{partition}:iam::{account}:user/*",))
ACCOUNT_ROLES = Scope("AccountRoles", ("arn:{partition}:iam::{account}:role/*",))
# Reads of the account's managed policies (verify case checks the deny-all policy's
# document is still the stack's): read-only, widens nobody.
ACCOUNT_POLICIES = Scope("AccountPolicies", ("arn:{partition}:iam::{account}:policy/*",))
ACCOUNT_INSTANCE_PROFILES = Scope(
    "AccountInstanceProfiles", ("arn:{partition}:iam::{account}:instance-profile/*",))
# Attach/Detach of the stack's deny-all policy only: attaching a Deny-only policy grants
# nothing, so the holder cannot widen any principal with it.
DENY_ALL_ON_USERS = Scope(
    "AttachOnlyTheStackDenyAll", ("arn:{partition}:iam::{account}:user/*",),
    {"ArnEquals": {"iam:PolicyARN": ["{deny_all_policy}"]}})
# The instance's own profile role back to EC2 (release of ec2.detach-instance-profile, and
# the profile of an instance AWS Backup restores): which role that is is only known when a
# case records it, so no deploy-time list can name it. Any of the account's roles, but
# only to EC2, which runs nothing with it unless the holder may launch an instance with a
# profile (RUN_WITHOUT_PROFILE forbids that), and never the stack's own roles or roles
# tagged ir:protected (`PASS_ROLE_DENIES`).
PASS_TO_EC2 = Scope(
    "PassRolesOnlyToEc2", ("arn:{partition}:iam::{account}:role/*",),
    {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}})
# The one role the runbooks pass to AWS Backup is the stack's backup role (manifest
# `backup.restoreRoleArn`), one per covered region. BackupProtection creates it under
# this IAM path, so the grant names exactly those roles without knowing their generated
# names, and a role outside the path (an administrator's) cannot be passed to Backup.
BACKUP_ROLE_PATH = "/ir-readiness/backup/"
PASS_TO_BACKUP = Scope(
    "PassOnlyTheStackBackupRoleToBackup",
    (f"arn:{{partition}}:iam::{{account}}:role{BACKUP_ROLE_PATH}*",),
    {"StringEquals": {"iam:PassedToService": "backup.amazonaws.com"}})
# ec2:RunInstances (AWS Backup's EC2 restore) with no instance profile: with PassRole it
# could otherwise start an instance as any role (cloudsplaining's CreateEC2WithExistingIP).
RUN_WITHOUT_PROFILE = Scope(
    "RunInstancesWithoutAProfile", ("arn:{partition}:ec2:*:*:*",),
    {"Null": {"ec2:InstanceProfile": "true"}})
# SendCommand authorises the document and each instance separately: only the patch
# baseline (AWS-owned; `*` matches the empty account of an AWS document ARN, and nobody
# else can own an `AWS-` document), and only on instances a case has tagged.
PATCH_BASELINE_DOCUMENT = Scope(
    "SendOnlyThePatchBaseline", (f"arn:{{partition}}:ssm:*:*:document/{PATCH_DOCUMENT}",))
# (The document is listed again so the statement names the action's required resource
# type; under the tag condition it matches only through the statement above.)
CASE_INSTANCES = Scope(
    "OnlyInstancesTaggedByACase", (f"arn:{{partition}}:ssm:*:*:document/{PATCH_DOCUMENT}",
                                   "arn:{partition}:ec2:*:{account}:instance/*"),
    {"StringLike": {f"ssm:resourceTag/{CASE_TAG}": "*"}})
# Memory capture (ec2.capture-memory): only the stack's document (components/
# memory_capture.py names it), only on instances a case has tagged (ec2.tag-contained runs
# before it); the upload role is assumed only under its IAM path, with a session policy.
MEMORY_DOCUMENT_NAME = "ir-readiness-capture-memory"
MEMORY_DOCUMENT = Scope(
    "SendOnlyTheMemoryDocument",
    (f"arn:{{partition}}:ssm:*:{{account}}:document/{MEMORY_DOCUMENT_NAME}",))
MEMORY_CASE_INSTANCES = Scope(
    "MemoryCaptureOnlyOnInstancesTaggedByACase",
    (f"arn:{{partition}}:ssm:*:{{account}}:document/{MEMORY_DOCUMENT_NAME}",
     "arn:{partition}:ec2:*:{account}:instance/*"),
    {"StringLike": {f"ssm:resourceTag/{CASE_TAG}": "*"}})
MEMORY_UPLOAD_ROLE_PATH = "/ir-readiness/memory-upload/"
MEMORY_UPLOAD_ROLE = Scope(
    "AssumeOnlyTheMemoryUploadRole",
    (f"arn:{{partition}}:iam::{{account}}:role{MEMORY_UPLOAD_ROLE_PATH}*",))
# ec2:ModifyInstanceAttribute only for the attributes the steps set (ec2.protect:
# disableApiTermination, instanceInitiatedShutdownBehavior, blockDeviceMapping;
# ec2.terminate-instance: disableApiTermination), never user data, the kernel/ramdisk,
# the instance type or the security groups. The service authorization reference
# ("Actions, resources, and condition keys for Amazon EC2", ModifyInstanceAttribute,
# resource type instance*) lists the condition keys `ec2:Attribute` ("Filters access by
# an attribute of a resource") and `ec2:Attribute/${AttributeName}` ("Filters access by
# an attribute being set on a resource"); the latter carries the attribute the request
# sets, keyed by its name. It does not spell the names out, so both the API's attribute
# names and, where they differ, its parameter names are listed (condition key names are
# case-insensitive). The test is "none of these is in the request" (Null true, and
# StringNotEqualsIgnoreCase on `ec2:Attribute`), so a key AWS leaves absent never denies
# what the steps need: the closure of the user-data path does not rest on it. That is
# the missing StartInstances: no generated role can start an instance (ec2.stop hands
# the restart to the instance's owner), so user data changed on a stopped instance
# cannot be run by the role's holder (cloudsplaining's ModifyEC2InstanceUserDataThenRestart).
INSTANCE_ATTRIBUTES_NEVER_SET = (
    "userData", "kernel", "ramdisk", "instanceType", "groupSet", "groups",
    "sourceDestCheck", "ebsOptimized", "sriovNetSupport", "enaSupport", "enclaveOptions",
    "disableApiStop", "rootDeviceName", "productCodes")
INSTANCE_PROTECTION_ATTRIBUTES = Scope(
    "OnlyProtectionAttributesOfInstances", ("arn:{partition}:ec2:*:{account}:instance/*",),
    {"Null": {f"ec2:Attribute/{name}": "true" for name in INSTANCE_ATTRIBUTES_NEVER_SET},
     "StringNotEqualsIgnoreCase": {"ec2:Attribute": list(INSTANCE_ATTRIBUTES_NEVER_SET)}})
ACCOUNT_BUCKETS = Scope("AccountBuckets", ("arn:{partition}:s3:::*",), _ACCOUNT_RESOURCE)
ACCOUNT_OBJECTS = Scope("AccountObjects", ("arn:{partition}:s3:::*/*",), _ACCOUNT_RESOURCE)
EVIDENCE_OBJECTS = Scope("EvidenceObjects", ("{evidence_bucket_arn}/*",))
EVIDENCE_BUCKET = Scope("EvidenceBucket", ("{evidence_bucket_arn}",))
EVIDENCE_AND_TRAIL_BUCKETS = Scope(
    "EvidenceAndTrailBuckets", ("{evidence_bucket_arn}", "{trail_bucket_arn}"))
EVIDENCE_AND_TRAIL_OBJECTS = Scope(
    "EvidenceAndTrailObjects", ("{evidence_bucket_arn}/*", "{trail_bucket_arn}/*"))
STACK_KEYS = Scope("StackKeys", ("{key_arns}",))
# CopySnapshot re-encrypting with a stack key: EBS creates a grant on the key for the
# new snapshot; only grants for AWS resources, never one a principal could use directly.
STACK_KEY_GRANTS_FOR_AWS_RESOURCES = Scope(
    "StackKeyGrantsForAwsResources", ("{key_arns}",),
    {"Bool": {"kms:GrantIsForAWSResource": "true"}})
# Sharing (createVolumePermission) only the snapshots a case tagged, and never with the
# group `all` (public): ec2:Add/group must be absent from the request.
CASE_SNAPSHOTS_NEVER_PUBLIC = Scope(
    "ShareOnlyCaseSnapshotsNeverPublic", ("arn:{partition}:ec2:*::snapshot/*",),
    {"StringLike": {f"aws:ResourceTag/{CASE_TAG}": "*"},
     "Null": {"ec2:Add/group": "true"}})
ACCOUNT_TOPICS = Scope("AccountTopics", ("arn:{partition}:sns:*:{account}:*",))
MANIFEST_PARAMETERS = Scope(
    "ManifestParameters", ("arn:{partition}:ssm:*:{account}:parameter/ir-readiness/*",))


def account_s3_scopes(actions: Iterable[str]) -> dict[str, Scope]:
    """S3 steps act on whatever bucket a finding names, in this account only
    (aws:ResourceAccount): object actions on its objects, the rest on the bucket."""
    return {a: ACCOUNT_OBJECTS if "Object" in a else ACCOUNT_BUCKETS
            for a in actions if a.startswith("s3:")}


# Why an action stays on `*`: _NO_RESOURCE where the service authorization reference
# lists no resource type for it (a test checks that against the IAM action catalogue);
# otherwise it could be narrowed and is not yet, for the reason given.
_NO_RESOURCE = "AWS supports no resource-level permission for this action"
UNSCOPED_WHY: dict[str, str] = {
    **{a: _NO_RESOURCE for a in (
        "sts:GetCallerIdentity", "sts:GetAccessKeyInfo",
        "ec2:DescribeInstances", "ec2:DescribeSecurityGroups", "ec2:DescribeVolumes",
        "ec2:DescribeSnapshots", "ec2:DescribeIamInstanceProfileAssociations",
        "ec2:DescribeNetworkAcls", "ec2:DescribeVpcs",
        "ec2:DescribeSubnets", "ec2:DescribeTags", "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeAddresses", "backup:DescribeBackupJob", "backup:DescribeRestoreJob",
        "backup:ListRecoveryPointsByResource",
        "autoscaling:DescribeAutoScalingInstances",
        "elasticloadbalancing:DescribeTargetGroups",
        "elasticloadbalancing:DescribeTargetHealth",
        "cloudtrail:LookupEvents", "cloudtrail:DescribeTrails",
        "ssm:DescribeInstanceInformation",
        "guardduty:ListFindings",
        "s3:ListAllMyBuckets",
        "lambda:ListEventSourceMappings",
        "secretsmanager:GetRandomPassword",
    )},
    # Resource-level permission exists, but these act on whatever instance, ENI, volume
    # or ACL a finding names: EC2 has no resource policies, so an account-ARN scope would
    # exclude nothing `*` reaches, and a case-tag condition would refuse the steps that
    # run before ec2.tag-contained tags the instance. Named here so the choice is visible.
    **{a: "acts on the EC2 resource a finding names; EC2 has no resource policies, so "
          "an account scope narrows nothing and a case-tag condition would refuse steps "
          "that run before the tag (issue #15 item 1 follow-up)"
       for a in ("ec2:ModifyNetworkInterfaceAttribute", "ec2:AssociateAddress",
                 "ec2:DisassociateAddress", "ec2:StopInstances", "ec2:TerminateInstances",
                 "ec2:CreateSnapshots", "ec2:CreateTags", "ec2:DeleteTags",
                 "ec2:CreateVolume", "ec2:AssociateIamInstanceProfile",
                 "ec2:DisassociateIamInstanceProfile", "ec2:GetConsoleOutput",
                 "ec2:CreateNetworkAclEntry", "ec2:DeleteNetworkAclEntry")},
    **{a: "acts on the Auto Scaling group / target group the instance is in (no "
          "resource policies: an account scope narrows nothing; issue #15 item 1 "
          "follow-up)"
       for a in ("autoscaling:AttachInstances", "autoscaling:DetachInstances",
                 "elasticloadbalancing:DeregisterTargets",
                 "elasticloadbalancing:RegisterTargets")},
    **{a: "the manifest's vault and its recovery points in any covered region; could "
          "be narrowed to the stack's vaults, not yet (issue #15 item 1 follow-up)"
       for a in ("backup:DescribeBackupVault", "backup:StartBackupJob",
                 "backup:DescribeRecoveryPoint", "backup:StartRestoreJob",
                 "backup:GetRecoveryPointRestoreMetadata")},
    "ec2:DescribeInstanceAttribute": "read-only; any instance a finding names",
    "ec2:DescribeSnapshotAttribute": "read-only; the case snapshot copies' permissions",
    "ec2:CopySnapshot": ("copies the case's snapshots (tagged ir:case, found by that tag); "
                         "the copy is a new, case-tagged snapshot of this account, "
                         "re-encrypted with the stack key"),
    **{a: "the Security Hub hub of the finding's region; not narrowed yet"
       for a in ("securityhub:GetFindings", "securityhub:BatchUpdateFindings")},
    "ssm:GetCommandInvocation": "the command id is only known at run time; read-only",
    "ssm:CancelCommand": "the command id is only known at run time; it only stops a "
                         "command (ec2.capture-memory's, at its timeout)",
    "cloudtrail:GetTrailStatus": "read-only readiness check of the trail the manifest names",
    "guardduty:GetDetector": "read-only readiness check",
    "guardduty:GetFindings": "read-only; any detector of the account",
    "securityhub:DescribeHub": "read-only readiness check",
    "sns:GetTopicAttributes": "read-only readiness check of the alert topics",
    "sns:ListSubscriptionsByTopic": "read-only readiness check of the alert topics",
    "sns:GetSubscriptionAttributes": "read-only readiness check of the alert topics",
}

# Actions the CLI and the automation handler call outside any step: their scopes.
NON_STEP_SCOPES: dict[str, Scope] = {
    "s3:ListBucket": EVIDENCE_AND_TRAIL_BUCKETS,
    "s3:ListBucketVersions": EVIDENCE_AND_TRAIL_BUCKETS,
    "s3:GetObject": EVIDENCE_AND_TRAIL_OBJECTS,
    "s3:GetObjectVersion": EVIDENCE_AND_TRAIL_OBJECTS,
    "s3:PutObject": EVIDENCE_OBJECTS,
    "s3:GetBucketPublicAccessBlock": ACCOUNT_BUCKETS,
    "s3:GetBucketPolicy": ACCOUNT_BUCKETS,
    "s3:GetBucketVersioning": ACCOUNT_BUCKETS,
    "s3:GetBucketTagging": ACCOUNT_BUCKETS,
    "ssm:GetParameter": MANIFEST_PARAMETERS,
    "iam:ListAccessKeys": ACCOUNT_USERS,
    "iam:GetUserPolicy": ACCOUNT_USERS,
    "iam:ListAttachedUserPolicies": ACCOUNT_USERS,
    "iam:GetLoginProfile": ACCOUNT_USERS,
    "iam:ListUserTags": ACCOUNT_USERS,
    "iam:ListRoleTags": ACCOUNT_ROLES,
    "iam:GetRolePolicy": ACCOUNT_ROLES,
    "sns:Publish": ACCOUNT_TOPICS,
}

# The automation handler reads and writes only the evidence bucket (claims, cap markers,
# audit logs), never the trail's.
HANDLER_SCOPES: dict[str, Scope] = {
    **NON_STEP_SCOPES,
    "s3:ListBucket": EVIDENCE_BUCKET,
    "s3:GetObject": EVIDENCE_OBJECTS,
    # the runner's check of the case's audit copy (read_evidence_copy)
    "s3:ListBucketVersions": EVIDENCE_BUCKET,
    "s3:GetObjectVersion": EVIDENCE_OBJECTS,
}


def scoped_grants(step_scopes: Mapping[str, Iterable[Scope]],
                  non_step_actions: Iterable[str] = (),
                  non_step_scopes: Mapping[str, Scope] = NON_STEP_SCOPES,
                  ) -> dict[Scope, set[str]]:
    """Scope -> actions. An action gets the scopes its steps declare, plus its
    `NON_STEP_SCOPES` entry when the CLI or the handler also calls it outside a step
    (`*` when that has none); `*` among them makes the others redundant."""
    wanted: dict[str, set[Scope]] = {a: set(s) for a, s in step_scopes.items()}
    for action in non_step_actions:
        wanted.setdefault(action, set()).add(non_step_scopes.get(action, ANY))
    grants: dict[Scope, set[str]] = {}
    for action, scopes in wanted.items():
        for scope in ({ANY} if ANY in scopes or not scopes else scopes):
            grants.setdefault(scope, set()).add(action)
    return grants


def policy_statements(step_scopes: Mapping[str, Iterable[Scope]],
                      non_step_actions: Iterable[str],
                      values: Mapping[str, str | Sequence[str]],
                      sid_prefix: str = "",
                      non_step_scopes: Mapping[str, Scope] = NON_STEP_SCOPES,
                      ) -> list[dict[str, Any]]:
    """One Allow statement per scope, actions sorted, statements sorted by Sid."""
    statements = []
    for scope, granted in scoped_grants(step_scopes, non_step_actions,
                                        non_step_scopes).items():
        resources, condition = scope.render(values)
        statement: dict[str, Any] = {
            "Sid": f"{sid_prefix}{scope.name}",
            "Effect": "Allow",
            "Action": sorted(granted),
            "Resource": resources[0] if len(resources) == 1 else resources,
        }
        if condition:
            statement["Condition"] = condition
        statements.append(statement)
    return sorted(statements, key=lambda s: str(s["Sid"]))
