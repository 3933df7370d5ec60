"""KMS: keys that rotate and that nobody outside the account can administer."""

from __future__ import annotations

from collections.abc import Iterator

from pulumi_policy import Severity

from ._util import (
    ResourceContext,
    actions,
    allows,
    is_wildcard_principal,
    parse_document,
    principals,
    resource_rule,
    statements,
)

AREA = "kms"
KEY = "aws:kms/key:Key"
KEY_POLICY = "aws:kms/keyPolicy:KeyPolicy"


@resource_rule(
    name="kms-key-rotation", area=AREA, severity=Severity.MEDIUM, mandatory=False, types=(KEY,),
    description="Symmetric customer-managed KMS keys must have automatic rotation enabled.",
    remediation="Set enable_key_rotation=True on the aws.kms.Key.",
)
def key_rotation(ctx: ResourceContext) -> Iterator[str]:
    spec = ctx.props.get("customerMasterKeySpec") or ctx.props.get("keySpec")
    if spec not in (None, "SYMMETRIC_DEFAULT"):
        return
    if ctx.props.get("enableKeyRotation") is not True:
        yield f"key {ctx.name!r} does not rotate"


@resource_rule(
    name="kms-no-wildcard-admin", area=AREA, severity=Severity.CRITICAL, mandatory=True,
    types=(KEY, KEY_POLICY),
    description="KMS key policies must not grant kms:* (or *) to a wildcard principal.",
    remediation="Grant kms:* only to the account root or named admin roles; give services "
                "only the actions they need, with aws:SourceAccount/aws:SourceArn conditions.",
)
def no_wildcard_admin(ctx: ResourceContext) -> Iterator[str]:
    for i, stmt in enumerate(statements(parse_document(ctx.props.get("policy")))):
        if not allows(stmt):
            continue
        broad = [a for a in actions(stmt) if a.lower() in ("kms:*", "*")]
        if broad and any(is_wildcard_principal(k, v) for k, v in principals(stmt)):
            label = stmt.get("Sid") or f"#{i}"
            yield f"{ctx.name!r} statement {label} grants {broad[0]} to principal '*'"
