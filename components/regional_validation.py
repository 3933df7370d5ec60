"""Validation helpers shared by the regional components (ThreatDetection, SecurityFindings,
BackupProtection, QuarantineNetwork, AlertRouting).

Every check raises ``ValueError`` naming the Args field, the offending value and what is
allowed, so a bad setting fails before any child resource is registered. Values that are
still ``pulumi.Output`` (for example an ARN produced by another component) cannot be
inspected before deployment; they are skipped here and checked by AWS on create.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterable, Mapping
from typing import Any

import pulumi

ARN_RE = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):(?P<service>[a-z0-9-]+):(?P<region>[a-z0-9-]*):"
    r"(?P<account>[0-9]{12})?:(?P<resource>.+)$"
)
REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-[0-9]+$")
ACCOUNT_RE = re.compile(r"^[0-9]{12}$")
# Keys AWS reserves for itself; a user tag with this prefix is rejected by every service.
_RESERVED_TAG_PREFIX = "aws:"


def invalid(field: str, value: Any, allowed: str) -> ValueError:
    """The one error shape of every regional Args check."""
    return ValueError(f"{field}={value!r} is invalid: {allowed}")


def check_arn(field: str, value: Any, service: str, resource_prefix: str = "") -> None:
    """Check a plain-string ARN of ``service`` (skip Outputs, which resolve later)."""
    if not isinstance(value, str):
        return
    match = ARN_RE.match(value)
    if (
        match is None
        or match.group("service") != service
        or not match.group("resource").startswith(resource_prefix)
    ):
        raise invalid(
            field,
            value,
            f"expected an {service} ARN like arn:aws:{service}:<region>:<account>:"
            f"{resource_prefix or '<resource>'}...",
        )


def is_unresolved(value: Any) -> bool:
    """True for a value only the deployment knows (an Output or awaitable input)."""
    return isinstance(value, pulumi.Output) or inspect.isawaitable(value)


def check_id(field: str, value: Any, pattern: re.Pattern[str], example: str) -> None:
    """Check a plain AWS resource id against ``pattern``; Outputs pass through unchecked."""
    if is_unresolved(value):
        return
    if not isinstance(value, str) or not pattern.match(value):
        raise invalid(field, value, f"expected {example}")


def check_region(field: str, value: Any) -> None:
    if not isinstance(value, str) or not REGION_RE.match(value):
        raise invalid(field, value, "expected an AWS region name such as eu-west-1")


def check_account(field: str, value: Any) -> None:
    if isinstance(value, str) and not ACCOUNT_RE.match(value):
        raise invalid(field, value, "expected a 12-digit AWS account id")


def check_choices(field: str, values: Iterable[str], allowed: Iterable[str]) -> None:
    allowed_sorted = sorted(allowed)
    seen: set[str] = set()
    for value in values:
        if value not in allowed_sorted:
            raise invalid(field, value, f"allowed values are {', '.join(allowed_sorted)}")
        if value in seen:
            raise invalid(field, value, "listed twice")
        seen.add(value)


def check_tags(field: str, tags: Mapping[str, str]) -> None:
    """AWS tag rules: key 1-128 chars, value up to 256 chars, no ``aws:`` prefix."""
    for key, value in tags.items():
        if not isinstance(key, str) or not 1 <= len(key) <= 128:
            raise invalid(field, key, "tag keys are strings of 1 to 128 characters")
        if key.lower().startswith(_RESERVED_TAG_PREFIX):
            raise invalid(field, key, "tag keys starting with 'aws:' are reserved by AWS")
        if not isinstance(value, str) or len(value) > 256:
            raise invalid(
                f"{field}[{key!r}]", value, "tag values are strings of at most 256 characters"
            )
