"""ResponderAccess: the investigator (read-only) and responder (containment) IAM roles.

Both are trusted only by the configured principals; IAM users (and account roots,
which stand for every user of that account) must have authenticated with MFA. Sessions
are short. The responder's permissions are exactly the actions the runbook steps
declare (`runbooks.core.permissions.responder_actions()`), never a `*` action, each on
the resource scope its step declares (`runbooks.core.scopes`), plus writing evidence;
explicit denies stop it from tampering with the evidence and log buckets or writing a
policy onto the stack's own or `ir:protected` principals. No generated role may create
credentials for another principal or write a policy document onto a user: users are
contained by attaching the stack's managed deny-all policy (this component creates it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from runbooks.core.permissions import CLI_READ_ACTIONS
from runbooks.core.scopes import PROTECTED_TAG, STACK_TAG, policy_statements
from runbooks.core.step import step_scopes
from runbooks.steps.iam import DENY_ALL_DOCUMENT

TYPE = "ir-readiness:index:ResponderAccess"

_ACTION = re.compile(r"^[a-z0-9-]+:[A-Za-z0-9]+$")
_PRINCIPAL = re.compile(r"^arn:aws[a-z-]*:iam::[0-9]{12}:(root|user/.+|role/.+)$")

INVESTIGATOR_MANAGED_POLICIES: tuple[str, ...] = (
    "iam::aws:policy/SecurityAudit",
    "iam::aws:policy/job-function/ViewOnlyAccess",
)

# Bucket-level changes that would weaken the evidence or log buckets.
_BUCKET_TAMPERING = (
    "s3:PutBucketPolicy",
    "s3:DeleteBucketPolicy",
    "s3:PutBucketAcl",
    "s3:PutBucketVersioning",
    "s3:PutBucketPublicAccessBlock",
    "s3:PutBucketObjectLockConfiguration",
    "s3:DeleteObjectVersion",
    "s3:BypassGovernanceRetention",
)
ROLE_TAMPERING = (
    "iam:PutRolePolicy",
    "iam:DeleteRolePolicy",
    "iam:AttachRolePolicy",
    "iam:DetachRolePolicy",
    "iam:UpdateAssumeRolePolicy",
    "iam:UpdateRole",
)
# What could widen a user (none of it is granted; denied again on protected users so a
# future step cannot grant it by accident). Narrowing a user (deactivating a key,
# removing the console password, attaching the deny-all) stays allowed on every user: a
# compromised administrator must be containable.
USER_TAMPERING = (
    "iam:PutUserPolicy",
    "iam:DeleteUserPolicy",
    "iam:CreateAccessKey",
    "iam:CreateLoginProfile",
    "iam:UpdateLoginProfile",
)

SECRET_VALUE_READS = ("secretsmanager:GetSecretValue", "secretsmanager:BatchGetSecretValue")
KEY_TAMPERING = (
    "kms:DisableKey",
    "kms:EnableKey",
    "kms:CancelKeyDeletion",
    "kms:ScheduleKeyDeletion",
    "kms:PutKeyPolicy",
)


def never_widen_statements(partition: str, account_id: str, role_name_prefix: str,
                           sid: str = "NeverWidenResponderRoles") -> list[dict[str, Any]]:
    """Denies every generated role carries: no policy written onto, attached to or
    removed from the stack's own roles (by name, and by the `ir-readiness:managed-by`
    tag every stack resource carries) or a role or user its owner tagged
    `ir:protected=true` (how an account marks its administrators: IAM has no condition
    key for "carries AdministratorAccess"). iam.revoke-role-sessions must write an
    inline document (its cutoff is a time) onto roles a finding names; these are the
    roles it must never write onto (it refuses them in its plan and names the
    administrator's command)."""
    roles = f"arn:{partition}:iam::{account_id}:role/*"
    users = f"arn:{partition}:iam::{account_id}:user/*"
    keys = f"arn:{partition}:kms:*:{account_id}:key/*"
    return [
        # secrets.deny-principal writes secret resource policies: no generated role may
        # read a secret value, so it cannot grant itself a read through one either (an
        # identity-policy Deny overrides a resource-policy Allow).
        {
            "Sid": "NeverReadSecretValues",
            "Effect": "Deny",
            "Action": list(SECRET_VALUE_READS),
            "Resource": "*",
        },
        # The kms steps' grants already exclude these keys by condition
        # (runbooks.steps.kms.UNPROTECTED_KEYS); denied again so that no future grant
        # can disable, re-key or delete the stack's own or an ir:protected key.
        {
            "Sid": "NeverTouchStackKeys",
            "Effect": "Deny",
            "Action": list(KEY_TAMPERING),
            "Resource": keys,
            "Condition": {"Null": {f"aws:ResourceTag/{STACK_TAG}": "false"}},
        },
        {
            "Sid": "NeverTouchProtectedKeys",
            "Effect": "Deny",
            "Action": list(KEY_TAMPERING),
            "Resource": keys,
            "Condition": {"StringEquals": {f"aws:ResourceTag/{PROTECTED_TAG}": "true"}},
        },
        {
            "Sid": sid,
            "Effect": "Deny",
            "Action": list(ROLE_TAMPERING),
            "Resource": f"arn:{partition}:iam::{account_id}:role/{role_name_prefix}-*",
        },
        {
            "Sid": "NeverTouchStackPrincipals",
            "Effect": "Deny",
            "Action": [*ROLE_TAMPERING, *USER_TAMPERING],
            "Resource": [roles, users],
            "Condition": {"Null": {f"aws:ResourceTag/{STACK_TAG}": "false"}},
        },
        {
            "Sid": "NeverTouchProtectedPrincipals",
            "Effect": "Deny",
            "Action": [*ROLE_TAMPERING, *USER_TAMPERING],
            "Resource": [roles, users],
            "Condition": {"StringEquals": {f"aws:ResourceTag/{PROTECTED_TAG}": "true"}},
        },
        # iam:PassRole to EC2 reaches any of the account's roles (the instance profile a
        # case recorded is only known at run time: runbooks.core.scopes.PASS_TO_EC2), but
        # never the stack's own roles (by name; the backup role, passed to AWS Backup
        # only, lives under its own path) nor an administrator's tagged ir:protected. The
        # role resource of PassRole carries aws:ResourceTag in the service authorization
        # reference; the name-prefix deny does not depend on it.
        {
            "Sid": "NeverPassStackRoles",
            "Effect": "Deny",
            "Action": "iam:PassRole",
            "Resource": f"arn:{partition}:iam::{account_id}:role/{role_name_prefix}-*",
        },
        {
            "Sid": "NeverPassProtectedRolesToEc2",
            "Effect": "Deny",
            "Action": "iam:PassRole",
            "Resource": roles,
            "Condition": {"StringEquals": {f"aws:ResourceTag/{PROTECTED_TAG}": "true",
                                           "iam:PassedToService": "ec2.amazonaws.com"}},
        },
        {
            "Sid": "NeverPassStackTaggedRolesToEc2",
            "Effect": "Deny",
            "Action": "iam:PassRole",
            "Resource": roles,
            "Condition": {"Null": {f"aws:ResourceTag/{STACK_TAG}": "false"},
                          "StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}},
        },
    ]


def runbook_statements(actions: Sequence[str], values: dict[str, Any]) -> list[dict[str, Any]]:
    """The runbook grants of a role, one statement per resource scope the steps declare
    (`runbooks.core.scopes`); `actions` not declared by any step are the CLI's or the
    handler's own calls, scoped by `NON_STEP_SCOPES` or left on `*`."""
    wanted = set(actions)
    declared = {a: s for a, s in step_scopes().items() if a in wanted}
    return policy_statements(declared, sorted(wanted - set(declared) | (wanted & CLI_READ_ACTIONS)),
                             values, sid_prefix="Runbook")


@dataclass(frozen=True)
class ResponderAccessArgs:
    account_id: pulumi.Input[str]
    """Account of the roles and buckets."""
    partition: pulumi.Input[str]
    """ARN partition."""
    role_name_prefix: str
    """Roles are named `<prefix>-investigator` and `<prefix>-responder`."""
    trusted_principals: Sequence[str]
    """IAM ARNs (account root, user or role) allowed to assume the roles."""
    responder_actions: Sequence[str]
    """Exactly the IAM actions the responder role is granted (from the runbook steps)."""
    evidence_bucket_arn: pulumi.Input[str]
    """Evidence bucket: investigators read it, responders read and write it."""
    trail_bucket_arn: pulumi.Input[str]
    """Trail log bucket: investigators read it; nobody here may weaken it."""
    trail_log_group_arn: pulumi.Input[str]
    """Trail's CloudWatch Logs group: investigators query it."""
    kms_key_arns: Sequence[pulumi.Input[str]]
    """Every regional readiness key (decrypt evidence, logs, alerts)."""
    regions: Sequence[str]
    """Covered regions (manifest parameters the roles may read)."""
    max_session_duration: int = 3600
    """Maximum session of both roles, seconds."""
    external_id: str | None = None
    """When set, every trust statement also requires this `sts:ExternalId` (member
    accounts of an organization: responders come from the security account)."""
    responder_role_name: str | None = None
    """Physical name of the responder role (default `<prefix>-responder`)."""

    def __post_init__(self) -> None:
        # Validated once, at construction, the same way as every other Args.
        if not self.trusted_principals:
            raise ValueError("ResponderAccessArgs.trusted_principals is empty; trust someone")
        for principal in self.trusted_principals:
            if not _PRINCIPAL.match(principal):
                raise ValueError(
                    f"ResponderAccessArgs.trusted_principals: {principal!r} is not an IAM "
                    "root, user or role ARN"
                )
        if not self.responder_actions:
            raise ValueError("ResponderAccessArgs.responder_actions is empty")
        for action in self.responder_actions:
            if not _ACTION.match(action):
                raise ValueError(
                    f"ResponderAccessArgs.responder_actions: {action!r} is not a single "
                    "service:Action (wildcards are not allowed)"
                )
        check_role_name_prefix(self.role_name_prefix)
        # IAM accepts 3600-43200; responders get at most 4 hours.
        if not 3600 <= self.max_session_duration <= 14400:
            raise ValueError(
                f"ResponderAccessArgs.max_session_duration = {self.max_session_duration}: "
                "must be between 3600 (IAM's minimum) and 14400 seconds"
            )


def check_role_name_prefix(prefix: str) -> None:
    """The roles' names fit IAM. Also called by the composition before it registers
    anything, since the prefix comes from the stack name, which the settings do not hold."""
    longest = f"{prefix}-investigator"
    if len(longest) > 64 or not re.match(r"^[\w+=,.@-]+$", longest):
        raise ValueError(
            f"ResponderAccessArgs.role_name_prefix = {prefix!r}: role "
            f"name {longest!r} must be at most 64 characters of letters, digits and "
            "+=,.@_- (use a shorter stack name)"
        )


def trust_policy(principals: Sequence[str], external_id: str | None = None) -> dict[str, Any]:
    """Roles and root principals in one statement each class; users must use MFA.

    With `external_id`, every statement also requires that `sts:ExternalId`."""
    needs_mfa = sorted(p for p in principals if ":user/" in p or p.endswith(":root"))
    roles = sorted(p for p in principals if ":role/" in p)
    statements: list[dict[str, Any]] = []
    if roles:
        statements.append(
            {
                "Sid": "TrustedRoles",
                "Effect": "Allow",
                "Principal": {"AWS": roles},
                "Action": "sts:AssumeRole",
            }
        )
    if needs_mfa:
        statements.append(
            {
                "Sid": "TrustedUsersWithMfa",
                "Effect": "Allow",
                "Principal": {"AWS": needs_mfa},
                "Action": "sts:AssumeRole",
                "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}},
            }
        )
    if external_id is not None:
        for statement in statements:
            condition = statement.setdefault("Condition", {})
            condition["StringEquals"] = {"sts:ExternalId": external_id}
    return {"Version": "2012-10-17", "Statement": statements}


def _evidence_read(bucket_arns: Sequence[str]) -> list[dict[str, Any]]:
    return [
        {
            "Sid": "ListEvidenceAndLogs",
            "Effect": "Allow",
            "Action": ["s3:ListBucket", "s3:ListBucketVersions", "s3:GetBucketLocation"],
            "Resource": list(bucket_arns),
        },
        {
            "Sid": "ReadEvidenceAndLogs",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectRetention"],
            "Resource": [f"{arn}/*" for arn in bucket_arns],
        },
    ]


def investigator_policy(
    *,
    partition: str,
    account_id: str,
    evidence_bucket_arn: str,
    trail_bucket_arn: str,
    log_group_arn: str,
    kms_key_arns: Sequence[str],
    regions: Sequence[str],
) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            *_evidence_read([evidence_bucket_arn, trail_bucket_arn]),
            {
                "Sid": "DecryptReadinessData",
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:DescribeKey"],
                "Resource": list(kms_key_arns),
            },
            {
                "Sid": "QueryTrailLogs",
                "Effect": "Allow",
                "Action": ["logs:FilterLogEvents", "logs:GetLogEvents", "logs:StartQuery"],
                "Resource": [log_group_arn, f"{log_group_arn}:log-stream:*"],
            },
            {
                "Sid": "ReadQueryResults",
                "Effect": "Allow",
                "Action": ["logs:GetQueryResults", "logs:StopQuery"],
                "Resource": "*",
            },
            {
                "Sid": "ReadManifest",
                "Effect": "Allow",
                "Action": "ssm:GetParameter",
                "Resource": [
                    f"arn:{partition}:ssm:{region}:{account_id}:parameter/ir-readiness/manifest"
                    for region in regions
                ],
            },
        ],
    }


def responder_policy(
    *,
    partition: str,
    account_id: str,
    actions: Sequence[str],
    evidence_bucket_arn: str,
    trail_bucket_arn: str,
    kms_key_arns: Sequence[str],
    role_name_prefix: str,
    deny_all_policy_arn: str = "",
) -> dict[str, Any]:
    protected_buckets = [evidence_bucket_arn, trail_bucket_arn]
    values = {"partition": partition, "account": account_id,
              "evidence_bucket_arn": evidence_bucket_arn, "trail_bucket_arn": trail_bucket_arn,
              "key_arns": list(kms_key_arns), "deny_all_policy": deny_all_policy_arn}
    return {
        "Version": "2012-10-17",
        "Statement": [
            *runbook_statements(actions, values),
            *_evidence_read([evidence_bucket_arn]),
            {
                "Sid": "WriteEvidence",
                "Effect": "Allow",
                "Action": ["s3:PutObject", "s3:PutObjectRetention", "s3:PutObjectLegalHold"],
                "Resource": f"{evidence_bucket_arn}/*",
            },
            {
                "Sid": "EncryptEvidence",
                "Effect": "Allow",
                "Action": ["kms:GenerateDataKey", "kms:Decrypt", "kms:DescribeKey"],
                "Resource": list(kms_key_arns),
            },
            {
                "Sid": "NeverWeakenEvidenceOrLogBuckets",
                "Effect": "Deny",
                "Action": list(_BUCKET_TAMPERING),
                "Resource": [
                    *protected_buckets,
                    *(f"{arn}/*" for arn in protected_buckets),
                ],
            },
            *never_widen_statements(partition, account_id, role_name_prefix),
        ],
    }


class ResponderAccess(pulumi.ComponentResource):
    """Investigator and responder roles."""

    investigator_role_arn: pulumi.Output[str]
    responder_role_arn: pulumi.Output[str]
    deny_all_policy_arn: pulumi.Output[str]
    """The stack's managed deny-all policy (manifest `containmentPolicies.denyAll`)."""

    def __init__(
        self, name: str, args: ResponderAccessArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        trust = json.dumps(trust_policy(args.trusted_principals, args.external_id),
                           sort_keys=True)

        investigator = aws.iam.Role(
            f"{name}-investigator",
            name=f"{args.role_name_prefix}-investigator",
            description="ir-readiness: read-only investigation (MFA for users)",
            assume_role_policy=trust,
            max_session_duration=args.max_session_duration,
            opts=child,
        )
        for managed in INVESTIGATOR_MANAGED_POLICIES:
            short = managed.rsplit("/", 1)[-1]
            aws.iam.RolePolicyAttachment(
                f"{name}-investigator-{short.lower()}",
                role=investigator.name,
                policy_arn=pulumi.Output.concat("arn:", args.partition, ":", managed),
                opts=child,
            )
        aws.iam.RolePolicy(
            f"{name}-investigator-read",
            role=investigator.id,
            policy=pulumi.Output.all(
                args.partition,
                args.account_id,
                args.evidence_bucket_arn,
                args.trail_bucket_arn,
                args.trail_log_group_arn,
                *args.kms_key_arns,
            ).apply(
                lambda v: json.dumps(
                    investigator_policy(
                        partition=v[0],
                        account_id=v[1],
                        evidence_bucket_arn=v[2],
                        trail_bucket_arn=v[3],
                        log_group_arn=v[4],
                        kms_key_arns=v[5:],
                        regions=args.regions,
                    ),
                    sort_keys=True,
                )
            ),
            opts=child,
        )

        # The one policy the roles may attach to a user (iam.deny-all-user): Deny-only,
        # so attaching it can widen nobody. Its ARN goes into every region's manifest.
        deny_all = aws.iam.Policy(
            f"{name}-deny-all",
            name=f"{args.role_name_prefix}-deny-all",
            description="ir-readiness: containment of a compromised IAM user (Deny * on *)",
            policy=json.dumps(DENY_ALL_DOCUMENT, sort_keys=True),
            opts=child,
        )
        responder = aws.iam.Role(
            f"{name}-responder",
            name=args.responder_role_name or f"{args.role_name_prefix}-responder",
            description="ir-readiness: containment and recovery actions of the runbooks",
            assume_role_policy=trust,
            max_session_duration=args.max_session_duration,
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-responder-actions",
            role=responder.id,
            policy=pulumi.Output.all(
                args.partition,
                args.account_id,
                args.evidence_bucket_arn,
                args.trail_bucket_arn,
                deny_all.arn,
                *args.kms_key_arns,
            ).apply(
                lambda v: json.dumps(
                    responder_policy(
                        partition=v[0],
                        account_id=v[1],
                        actions=args.responder_actions,
                        evidence_bucket_arn=v[2],
                        trail_bucket_arn=v[3],
                        deny_all_policy_arn=v[4],
                        kms_key_arns=v[5:],
                        role_name_prefix=args.role_name_prefix,
                    ),
                    sort_keys=True,
                )
            ),
            opts=child,
        )
        self.investigator_role_arn = investigator.arn
        self.responder_role_arn = responder.arn
        self.deny_all_policy_arn = deny_all.arn
        self.register_outputs(
            {
                "investigatorRoleArn": self.investigator_role_arn,
                "responderRoleArn": self.responder_role_arn,
                "denyAllPolicyArn": self.deny_all_policy_arn,
            }
        )
