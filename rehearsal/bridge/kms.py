"""Bridge handlers for KMS keys, aliases and key policies.

=====================================================  ========================================
Type                                                   How
=====================================================  ========================================
aws:kms/key:Key                                        API kms CreateKey (+ EnableKeyRotation)
aws:kms/alias:Alias                                    API kms CreateAlias
aws:kms/keyPolicy:KeyPolicy                            API kms PutKeyPolicy
=====================================================  ========================================
"""

from __future__ import annotations

from typing import Any

from rehearsal.bridge._core import (
    Request,
    handles,
    policy_text,
    tag_list,
)


@handles("aws:kms/key:Key", api="kms:CreateKey")
def _kms_key(r: Request) -> tuple[str, dict[str, Any]]:
    kms = r.client("kms")
    kwargs: dict[str, Any] = {
        "Description": r.get("description", ""),
        "KeyUsage": r.get("keyUsage", "ENCRYPT_DECRYPT"),
        "KeySpec": r.get("customerMasterKeySpec", r.get("keySpec", "SYMMETRIC_DEFAULT")),
        "MultiRegion": bool(r.get("multiRegion", False)),
        "Tags": tag_list(r.get("tags"), "TagKey", "TagValue"),
    }
    if r.get("policy"):
        kwargs["Policy"] = policy_text(r.get("policy"))
    meta = kms.create_key(**kwargs)["KeyMetadata"]
    if r.get("enableKeyRotation"):
        kms.enable_key_rotation(KeyId=meta["KeyId"])
    return meta["KeyId"], {"arn": meta["Arn"], "keyId": meta["KeyId"]}


@handles("aws:kms/alias:Alias", api="kms:CreateAlias")
def _kms_alias(r: Request) -> tuple[str, dict[str, Any]]:
    name = r.get("name") or f"alias/{r.autoname()}"
    r.client("kms").create_alias(AliasName=name, TargetKeyId=r.get("targetKeyId"))
    return name, {"name": name, "arn": r.arn("kms", name)}


@handles("aws:kms/keyPolicy:KeyPolicy", api="kms:PutKeyPolicy")
def _kms_key_policy(r: Request) -> tuple[str, dict[str, Any]]:
    r.client("kms").put_key_policy(
        KeyId=r.get("keyId"), PolicyName="default", Policy=policy_text(r.get("policy"))
    )
    return str(r.get("keyId")), {}
