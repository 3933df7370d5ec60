"""Bridge handlers for IAM roles, policies, attachments, instance profiles; the
policy-document invoke.

=====================================================  ========================================
Type                                                   How
=====================================================  ========================================
aws:iam/role:Role                                      API iam CreateRole (+ inline/managed)
aws:iam/rolePolicy:RolePolicy                          API iam PutRolePolicy
aws:iam/rolePolicyAttachment:RolePolicyAttachment      API iam AttachRolePolicy
aws:iam/policy:Policy                                  API iam CreatePolicy
aws:iam/instanceProfile:InstanceProfile                API iam CreateInstanceProfile, AddRole...
=====================================================  ========================================

Invokes answered: `getPolicyDocument` (rendered locally: it is a pure function).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from typing import Any

from rehearsal.bridge._core import (
    MotoBridge,
    Request,
    answers,
    clean,
    handles,
    policy_text,
    tag_list,
)


@handles("aws:iam/role:Role", api="iam:CreateRole")
def _iam_role(r: Request) -> tuple[str, dict[str, Any]]:
    iam = r.client("iam")
    name = r.autoname(max_len=64)
    kwargs = clean(
        {
            "RoleName": name,
            "Path": r.get("path", "/"),
            "AssumeRolePolicyDocument": policy_text(r.get("assumeRolePolicy")),
            "Description": r.get("description"),
            "MaxSessionDuration": int(r.get("maxSessionDuration", 3600)),
            "PermissionsBoundary": r.get("permissionsBoundary"),
            "Tags": tag_list(r.get("tags")) or None,
        }
    )
    role = iam.create_role(**kwargs)["Role"]
    for inline in r.get("inlinePolicies", []):
        if inline.get("name") and inline.get("policy"):
            iam.put_role_policy(
                RoleName=name,
                PolicyName=inline["name"],
                PolicyDocument=policy_text(inline["policy"]),
            )
    for policy_arn in r.get("managedPolicyArns", []):
        iam.attach_role_policy(RoleName=name, PolicyArn=policy_arn)
    return name, {"arn": role["Arn"], "name": name, "uniqueId": role["RoleId"]}


@handles("aws:iam/rolePolicy:RolePolicy", api="iam:PutRolePolicy")
def _iam_role_policy(r: Request) -> tuple[str, dict[str, Any]]:
    name = r.autoname(max_len=128)
    r.client("iam").put_role_policy(
        RoleName=r.get("role"), PolicyName=name, PolicyDocument=policy_text(r.get("policy"))
    )
    return f"{r.get('role')}:{name}", {"name": name}


AWS_MANAGED_POLICY = re.compile(r"^arn:aws[a-z-]*:iam::aws:policy/")


@handles("aws:iam/rolePolicyAttachment:RolePolicyAttachment", api="iam:AttachRolePolicy")
def _iam_attachment(r: Request) -> tuple[str, dict[str, Any]]:
    from botocore.exceptions import ClientError

    policy_arn = str(r.get("policyArn"))
    try:
        r.client("iam").attach_role_policy(RoleName=r.get("role"), PolicyArn=policy_arn)
    except ClientError as err:
        # moto ships a fixed snapshot of AWS managed policies; newer ones (e.g.
        # job-function/ViewOnlyAccess, AWSBackupServiceRolePolicyForS3Restore) are
        # missing. Those attachments are recorded, visibly, instead of failing the drill.
        if err.response["Error"]["Code"] != "NoSuchEntity" or not AWS_MANAGED_POLICY.match(
            policy_arn
        ):
            raise
        r.note(f"recorded only: moto's AWS managed policy catalogue lacks {policy_arn}")
    return f"{r.get('role')}-{uuid.uuid4().hex[:8]}", {}


@handles("aws:iam/policy:Policy", api="iam:CreatePolicy")
def _iam_policy(r: Request) -> tuple[str, dict[str, Any]]:
    name = r.autoname(max_len=128)
    kwargs = clean(
        {
            "PolicyName": name,
            "Path": r.get("path", "/"),
            "PolicyDocument": policy_text(r.get("policy")),
            "Description": r.get("description"),
            "Tags": tag_list(r.get("tags")) or None,
        }
    )
    policy = r.client("iam").create_policy(**kwargs)["Policy"]
    return policy["Arn"], {"arn": policy["Arn"], "name": name, "policyId": policy["PolicyId"]}


@handles("aws:iam/instanceProfile:InstanceProfile", api="iam:CreateInstanceProfile")
def _iam_instance_profile(r: Request) -> tuple[str, dict[str, Any]]:
    iam = r.client("iam")
    name = r.autoname(max_len=128)
    profile = iam.create_instance_profile(InstanceProfileName=name, Path=r.get("path", "/"))
    if r.get("role"):
        iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=r.get("role"))
    arn = profile["InstanceProfile"]["Arn"]
    return name, {"arn": arn, "name": name}


def _policy_statement(st: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if st.get("sid"):
        out["Sid"] = st["sid"]
    out["Effect"] = st.get("effect") or "Allow"
    for src, dst in (
        ("actions", "Action"),
        ("notActions", "NotAction"),
        ("resources", "Resource"),
        ("notResources", "NotResource"),
    ):
        values = st.get(src)
        if values:
            out[dst] = values[0] if len(values) == 1 else sorted(values)
    for src, dst in (("principals", "Principal"), ("notPrincipals", "NotPrincipal")):
        principals = st.get(src)
        if principals:
            merged: dict[str, Any] = {}
            for p in principals:
                ids = p.get("identifiers") or []
                merged[p["type"]] = ids[0] if len(ids) == 1 else sorted(ids)
            out[dst] = "*" if merged == {"*": "*"} else merged
    conditions = st.get("conditions")
    if conditions:
        cond: dict[str, dict[str, Any]] = {}
        for c in conditions:
            values = c.get("values") or []
            cond.setdefault(c["test"], {})[c["variable"]] = (
                values[0] if len(values) == 1 else values
            )
        out["Condition"] = cond
    return out


@answers("aws:iam/getPolicyDocument:getPolicyDocument")
def _inv_policy_document(b: MotoBridge, region: str, args: dict[str, Any]) -> dict[str, Any]:
    statements = [_policy_statement(s) for s in args.get("statements") or []]
    document = {"Version": args.get("version") or "2012-10-17", "Statement": statements}
    text = json.dumps(document, indent=2)
    return {"json": text, "minifiedJson": json.dumps(document, separators=(",", ":")),
            "id": str(abs(hash(text)))}
