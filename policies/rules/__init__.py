"""The ir-readiness rules. Importing this package registers every rule once.

`POLICIES` holds the pulumi_policy objects the pack serves; `REGISTRY` the metadata
(area, severity, enforcement, remediation, config schema) that docs, SARIF and tests use.
"""

from __future__ import annotations

from . import (  # noqa: F401  (each import registers its module's rules)
    backup,
    cloudtrail,
    guardduty,
    iam,
    iam_stack,
    kms,
    logs,
    quarantine,
    s3,
    securityhub,
    sns,
    stack,
)
from ._util import POLICIES, REGISTRY, RuleInfo

__all__ = ["POLICIES", "REGISTRY", "RuleInfo"]
