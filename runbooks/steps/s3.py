"""S3 containment for an exposed bucket, in the order `irctl contain bucket` runs them:

    s3.remove-public-policy-statements   drop Allow statements open to everyone
    s3.remove-public-acl-grants          drop grants to AllUsers / AuthenticatedUsers
    s3.block-public-access               all four Block Public Access settings on
    s3.enable-versioning                 keep every overwritten or deleted object

Each records the original (policy text, full ACL, BPA configuration, versioning status)
so rollback and `irctl release bucket` restore it. Release undoes them in reverse order,
so Block Public Access is back to its original state before a public policy or ACL is
restored: S3 refuses a public policy or ACL while BlockPublicPolicy/BlockPublicAcls are
on, and those rollbacks refuse with a clear error in that case rather than a bare
AccessDenied. Any pipeline using these steps must therefore run the public-access block
AFTER the policy and ACL steps, or its release fails. Versioning cannot be turned off
once enabled, only suspended: rollback suspends it when it was not enabled before;
existing versions are kept.

"Public" follows S3's own definition: an Allow statement whose principal is `*` (or
`{"AWS": "*"}`, or NotPrincipal) is public unless a condition pins it to fixed values
(no wildcard or policy variable) of aws:SourceIp (a non-/0 CIDR), aws:SourceArn,
aws:SourceVpc, aws:SourceVpce, aws:SourceOwner, aws:SourceAccount, aws:PrincipalOrgID,
aws:PrincipalAccount, aws:PrincipalArn, s3:x-amz-server-side-encryption-aws-kms-key-id
or aws:userid outside `AROLEID:*`.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from typing import Annotated, Any

from botocore.exceptions import ClientError
from pydantic import Field

from runbooks.core.errors import ActionFailed, InvalidInput, PreconditionFailed
from runbooks.core.scopes import account_s3_scopes
from runbooks.core.step import Change, Check, Step, StepParams, checked_by, register

BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
PUBLIC_GROUPS = frozenset({
    "http://acs.amazonaws.com/groups/global/AllUsers",
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
})
ALL_BLOCKED = {"BlockPublicAcls": True, "IgnorePublicAcls": True,
               "BlockPublicPolicy": True, "RestrictPublicBuckets": True}
RESTRICTING_KEYS = frozenset(k.lower() for k in (
    "aws:SourceIp", "aws:SourceArn", "aws:SourceVpc", "aws:SourceVpce", "aws:SourceOwner",
    "aws:SourceAccount", "aws:PrincipalOrgID", "aws:PrincipalAccount", "aws:PrincipalArn",
    "s3:x-amz-server-side-encryption-aws-kms-key-id", "aws:userid"))
MATCHING_OPERATORS = frozenset(o.lower() for o in (
    "StringEquals", "StringEqualsIgnoreCase", "StringLike", "ArnEquals", "ArnLike",
    "IpAddress"))


def error_code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _is_fixed(key: str, value: Any, operator: str) -> bool:
    text = str(value)
    if "*" in text or "?" in text or "${" in text:
        return False
    if key == "aws:sourceip" or operator == "ipaddress":
        try:
            return ipaddress.ip_network(text, strict=False).prefixlen > 0
        except ValueError:
            return False
    return True


def _restricted(condition: Any) -> bool:
    """True when a condition pins the statement to fixed, non-public values."""
    if not isinstance(condition, dict):
        return False
    for operator, block in condition.items():
        op = str(operator).lower()
        if op.startswith("forallvalues:"):
            continue  # matches an empty set of values: never restricting
        op = op.removeprefix("foranyvalue:")
        if op not in MATCHING_OPERATORS or not isinstance(block, dict):
            continue
        for key, values in block.items():
            key = str(key).lower()
            if key in RESTRICTING_KEYS and all(_is_fixed(key, v, op) for v in _as_list(values)):
                return True
    return False


def is_public_statement(statement: Mapping[str, Any]) -> bool:
    if statement.get("Effect") != "Allow":
        return False
    if "NotPrincipal" in statement:
        everyone = True  # Allow to everyone except a few principals
    else:
        principal = statement.get("Principal")
        values: list[Any] = []
        if isinstance(principal, dict):
            for kind in ("AWS", "CanonicalUser"):
                values += _as_list(principal.get(kind, []))
        else:
            values = _as_list(principal)
        everyone = "*" in values
    return everyone and not _restricted(statement.get("Condition"))


def validate_bucket_name(bucket: Any) -> str:
    if not isinstance(bucket, str) or not BUCKET_NAME.match(bucket):
        raise InvalidInput(
            f"bucket name {bucket!r} is malformed: 3-63 lower-case letters, digits, "
            "'.' or '-', starting and ending with a letter or digit")
    return bucket


class BucketParams(StepParams):
    bucket: Annotated[str, checked_by(validate_bucket_name),
                      Field(description="the bucket's name, 3-63 characters")]


class BucketStep(Step):
    Params = BucketParams
    release_kind = "bucket"
    validate_name = staticmethod(validate_bucket_name)

    @property
    def bucket(self) -> str:
        return str(self.params["bucket"])

    def s3(self) -> Any:
        return self.ctx.client("s3")

    def require_bucket(self) -> None:
        try:
            self.s3().head_bucket(Bucket=self.bucket, ExpectedBucketOwner=self.ctx.account_id)
        except ClientError as err:
            code = error_code(err)
            if code in ("404", "NoSuchBucket", "NotFound"):
                raise PreconditionFailed(f"bucket {self.bucket} does not exist") from err
            if code in ("403", "AccessDenied", "Forbidden"):
                raise PreconditionFailed(
                    f"bucket {self.bucket} is not accessible as a bucket of account "
                    f"{self.ctx.account_id}: it belongs to another account or the responder "
                    "role is denied; contain it from the owning account") from err
            raise


    def refuse_while_blocked(self, setting: str, what: str) -> None:
        """S3 rejects restoring public access while Block Public Access forbids it (with a
        bare AccessDenied); say what to do instead."""
        try:
            current = self.s3().get_public_access_block(
                Bucket=self.bucket, ExpectedBucketOwner=self.ctx.account_id
            )["PublicAccessBlockConfiguration"]
        except ClientError as err:
            if error_code(err) == "NoSuchPublicAccessBlockConfiguration":
                return
            raise
        if current.get(setting):
            raise ActionFailed(
                f"cannot restore the {what} of bucket {self.bucket}: its Block Public Access "
                f"setting {setting} is on, and S3 refuses them; release the "
                "s3.block-public-access change first (release undoes changes newest first, "
                "so contain with the public-access block last)")


@register
class RemovePublicPolicyStatements(BucketStep):
    name = "s3.remove-public-policy-statements"
    description = "Remove statements granting access to everyone from a bucket policy"
    actions = frozenset({"s3:ListBucket", "s3:GetBucketPolicy", "s3:PutBucketPolicy",
                         "s3:DeleteBucketPolicy", "s3:GetBucketPublicAccessBlock"})
    scopes = account_s3_scopes(actions)

    def plan(self) -> list[Change]:
        self.require_bucket()
        try:
            text = self.s3().get_bucket_policy(
                Bucket=self.bucket, ExpectedBucketOwner=self.ctx.account_id)["Policy"]
        except ClientError as err:
            if error_code(err) == "NoSuchBucketPolicy":
                return []
            raise
        policy = json.loads(text)
        statements = _as_list(policy.get("Statement", []))
        public = [s for s in statements if is_public_statement(s)]
        if not public:
            return []
        kept = [s for s in statements if not is_public_statement(s)]
        new_policy = {**policy, "Statement": kept} if kept else None
        sids = ", ".join(str(s.get("Sid", f"#{statements.index(s)}")) for s in public)
        return [Change(self.name, f"bucket/{self.bucket}",
                       f"Remove {len(public)} public statement(s) ({sids}) from the policy of "
                       f"bucket {self.bucket}" + ("" if kept else " (deleting the policy)"),
                       before={"bucket": self.bucket, "policy": text},
                       after={"bucket": self.bucket, "removed": public,
                              "policy": json.dumps(new_policy) if new_policy else None})]

    def apply(self, change: Change) -> Mapping[str, Any]:
        if change.after["policy"] is None:
            self.s3().delete_bucket_policy(Bucket=self.bucket,
                                           ExpectedBucketOwner=self.ctx.account_id)
        else:
            self.s3().put_bucket_policy(Bucket=self.bucket, Policy=change.after["policy"],
                                        ExpectedBucketOwner=self.ctx.account_id)
        return {"removedStatements": len(change.after["removed"])}

    def rollback(self, change: Change, result: Mapping[str, Any]) -> None:
        self.refuse_while_blocked("BlockPublicPolicy", "public policy statements")
        self.s3().put_bucket_policy(Bucket=self.bucket, Policy=change.before["policy"],
                                    ExpectedBucketOwner=self.ctx.account_id)

    def verify(self, change: Change, result: Mapping[str, Any]) -> Check:
        bucket = change.after["bucket"]
        try:
            text = self.s3().get_bucket_policy(Bucket=bucket)["Policy"]
            statements = json.loads(text).get("Statement", [])
        except ClientError as err:
            if error_code(err) != "NoSuchBucketPolicy":
                raise
            statements = []
        public = [s for s in _as_list(statements) if is_public_statement(s)]
        return Check("containment", change.target, f"bucket policy of {bucket}",
                     "no public statement", f"{len(public)} public statement(s)", not public)


@register
class RemovePublicAclGrants(BucketStep):
    name = "s3.remove-public-acl-grants"
    description = "Remove bucket ACL grants to AllUsers and AuthenticatedUsers"
    actions = frozenset({"s3:ListBucket", "s3:GetBucketAcl", "s3:PutBucketAcl",
                         "s3:GetBucketPublicAccessBlock"})
    scopes = account_s3_scopes(actions)

    def plan(self) -> list[Change]:
        self.require_bucket()
        acl = self.s3().get_bucket_acl(Bucket=self.bucket,
                                       ExpectedBucketOwner=self.ctx.account_id)
        grants = acl.get("Grants", [])
        public = [g for g in grants if g.get("Grantee", {}).get("URI") in PUBLIC_GROUPS]
        if not public:
            return []
        kept = [g for g in grants if g not in public]
        summary = ", ".join(f"{g['Grantee']['URI'].rsplit('/', 1)[-1]}:{g['Permission']}"
                            for g in public)
        return [Change(self.name, f"bucket/{self.bucket}",
                       f"Remove public ACL grants ({summary}) from bucket {self.bucket}",
                       before={"bucket": self.bucket, "owner": acl["Owner"], "grants": grants},
                       after={"bucket": self.bucket, "owner": acl["Owner"], "grants": kept})]

    def _put(self, owner: Mapping[str, Any], grants: list[Any]) -> None:
        self.s3().put_bucket_acl(Bucket=self.bucket, ExpectedBucketOwner=self.ctx.account_id,
                                 AccessControlPolicy={"Owner": owner, "Grants": grants})

    def apply(self, change: Change) -> Mapping[str, Any]:
        self._put(change.after["owner"], list(change.after["grants"]))
        return {"removedGrants": len(change.before["grants"]) - len(change.after["grants"])}

    def rollback(self, change: Change, result: Mapping[str, Any]) -> None:
        self.refuse_while_blocked("BlockPublicAcls", "public ACL grants")
        self._put(change.before["owner"], list(change.before["grants"]))

    def verify(self, change: Change, result: Mapping[str, Any]) -> Check:
        bucket = change.after["bucket"]
        grants = self.s3().get_bucket_acl(Bucket=bucket).get("Grants", [])
        public = sorted(f"{g['Grantee']['URI'].rsplit('/', 1)[-1]}:{g['Permission']}"
                        for g in grants if g.get("Grantee", {}).get("URI") in PUBLIC_GROUPS)
        return Check("containment", change.target, f"ACL of {bucket}", "no public grant",
                     ", ".join(public) or "no public grant", not public)


@register
class BlockPublicAccess(BucketStep):
    name = "s3.block-public-access"
    description = "Turn on all four S3 Block Public Access settings of a bucket"
    actions = frozenset({"s3:ListBucket", "s3:GetBucketPublicAccessBlock",
                         "s3:PutBucketPublicAccessBlock"})
    scopes = account_s3_scopes(actions)

    def plan(self) -> list[Change]:
        self.require_bucket()
        try:
            current: dict[str, bool] | None = dict(self.s3().get_public_access_block(
                Bucket=self.bucket, ExpectedBucketOwner=self.ctx.account_id
            )["PublicAccessBlockConfiguration"])
        except ClientError as err:
            if error_code(err) != "NoSuchPublicAccessBlockConfiguration":
                raise
            current = None
        if current is not None and all(current.get(k) for k in ALL_BLOCKED):
            return []
        off = [k for k in ALL_BLOCKED if not (current or {}).get(k)]
        return [Change(self.name, f"bucket/{self.bucket}",
                       f"Turn on Block Public Access ({', '.join(off)}) for bucket {self.bucket}",
                       before={"bucket": self.bucket, "configuration": current},
                       after={"bucket": self.bucket, "configuration": ALL_BLOCKED})]

    def apply(self, change: Change) -> Mapping[str, Any]:
        self.s3().put_public_access_block(
            Bucket=self.bucket, ExpectedBucketOwner=self.ctx.account_id,
            PublicAccessBlockConfiguration=dict(change.after["configuration"]))
        return {"configuration": dict(change.after["configuration"])}

    def current(self, change: Change) -> Mapping[str, Any] | None:
        """The bucket's live Block Public Access settings (None: none set): rollback and
        release turn them back only while they are still the ones this change set."""
        try:
            live: dict[str, bool] | None = dict(self.s3().get_public_access_block(
                Bucket=self.bucket, ExpectedBucketOwner=self.ctx.account_id
            )["PublicAccessBlockConfiguration"])
        except ClientError as err:
            if error_code(err) != "NoSuchPublicAccessBlockConfiguration":
                raise
            live = None
        return {"configuration": live}

    def verify(self, change: Change, result: Mapping[str, Any]) -> Check:
        bucket = change.after["bucket"]
        try:
            current = self.s3().get_public_access_block(
                Bucket=bucket)["PublicAccessBlockConfiguration"]
        except ClientError as err:
            if error_code(err) != "NoSuchPublicAccessBlockConfiguration":
                raise
            current = {}
        off = sorted(k for k, v in dict(change.after["configuration"]).items()
                     if v and not current.get(k))
        return Check("containment", change.target, f"Block Public Access of {bucket}",
                     "all on", "all on" if not off else "off: " + ",".join(off), not off)

    def rollback(self, change: Change, result: Mapping[str, Any]) -> None:
        original = change.before["configuration"]
        if original is None:
            self.s3().delete_public_access_block(
                Bucket=self.bucket, ExpectedBucketOwner=self.ctx.account_id)
        else:
            self.s3().put_public_access_block(
                Bucket=self.bucket, ExpectedBucketOwner=self.ctx.account_id,
                PublicAccessBlockConfiguration=dict(original))


@register
class EnableVersioning(BucketStep):
    name = "s3.enable-versioning"
    description = "Enable bucket versioning (rollback can only suspend it)"
    actions = frozenset({"s3:ListBucket", "s3:GetBucketVersioning", "s3:PutBucketVersioning"})
    scopes = account_s3_scopes(actions)

    def plan(self) -> list[Change]:
        self.require_bucket()
        status = self.s3().get_bucket_versioning(
            Bucket=self.bucket, ExpectedBucketOwner=self.ctx.account_id).get("Status")
        if status == "Enabled":
            return []
        return [Change(self.name, f"bucket/{self.bucket}",
                       f"Enable versioning of bucket {self.bucket} (was "
                       f"{status or 'never enabled'}; release can only suspend it)",
                       before={"bucket": self.bucket, "status": status or "Unversioned"},
                       after={"bucket": self.bucket, "status": "Enabled"})]

    def apply(self, change: Change) -> Mapping[str, Any]:
        self.s3().put_bucket_versioning(Bucket=self.bucket,
                                        ExpectedBucketOwner=self.ctx.account_id,
                                        VersioningConfiguration={"Status": "Enabled"})
        return {"status": "Enabled"}

    def current(self, change: Change) -> Mapping[str, Any] | None:
        status = self.s3().get_bucket_versioning(
            Bucket=self.bucket, ExpectedBucketOwner=self.ctx.account_id).get("Status")
        return {"status": status or "Unversioned"}

    def verify(self, change: Change, result: Mapping[str, Any]) -> Check:
        status = self.s3().get_bucket_versioning(Bucket=change.after["bucket"]).get(
            "Status", "Unversioned")
        return Check("containment", change.target, f"versioning of {change.after['bucket']}",
                     "Enabled", status, status == "Enabled")

    def rollback(self, change: Change, result: Mapping[str, Any]) -> None:
        # An unversioned bucket cannot be made unversioned again: Suspended is the
        # closest state (new writes get the null version; old versions are kept).
        self.s3().put_bucket_versioning(Bucket=self.bucket,
                                        ExpectedBucketOwner=self.ctx.account_id,
                                        VersioningConfiguration={"Status": "Suspended"})
