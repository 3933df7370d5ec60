"""Bridge handlers for SSM parameters (the readiness manifest) and documents.

=====================================================  ========================================
Type                                                   How
=====================================================  ========================================
aws:ssm/parameter:Parameter                            API ssm PutParameter (the manifest)
aws:ssm/document:Document                              API ssm CreateDocument (memory capture)
=====================================================  ========================================
"""

from __future__ import annotations

from typing import Any

from rehearsal.bridge._core import (
    Request,
    clean,
    handles,
    tag_list,
)


@handles("aws:ssm/parameter:Parameter", api="ssm:PutParameter")
def _ssm_parameter(r: Request) -> tuple[str, dict[str, Any]]:
    name = r.autoname(max_len=2048)
    kwargs = clean(
        {
            "Name": name,
            "Value": str(r.get("value", r.get("insecureValue", ""))),
            "Type": r.get("type", "String"),
            "Description": r.get("description"),
            "Tier": r.get("tier"),
            "KeyId": r.get("keyId"),
            "DataType": r.get("dataType"),
            "Tags": tag_list(r.get("tags")) or None,
        }
    )
    version = r.client("ssm").put_parameter(**kwargs)["Version"]
    return name, {"arn": r.arn("ssm", f"parameter/{name.lstrip('/')}"), "name": name,
                  "version": version}


@handles("aws:ssm/document:Document", api="ssm:CreateDocument")
def _ssm_document(r: Request) -> tuple[str, dict[str, Any]]:
    name = r.autoname(max_len=128)
    kwargs = clean(
        {
            "Name": name,
            "Content": str(r.get("content")),
            "DocumentType": r.get("documentType"),
            "DocumentFormat": r.get("documentFormat", "JSON"),
            "TargetType": r.get("targetType"),
            "Tags": tag_list(r.get("tags")) or None,
        }
    )
    r.client("ssm").create_document(**kwargs)
    return name, {"arn": r.arn("ssm", f"document/{name}"), "name": name}
