"""Which findings automation acts on, with which playbook and parameters (no AWS calls).

`route()` is the whole refusal policy that needs nothing but the finding and the
configuration: sample, archived or closed findings, another region, below the minimum
severity, a resource no playbook handles yet, outside the allow-list, no automated
playbook, no target a playbook can act on. What needs AWS (the opt-out tag, the hourly
cap, another account's manifest) is decided in `runbooks.automation.workflow`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runbooks.analysis.playbooks import (
    COMPROMISED_EC2,
    COMPROMISED_IAM,
    COMPROMISED_LAMBDA,
    COMPROMISED_RDS,
    EXPOSED_S3,
    MALICIOUS_IP,
)
from runbooks.core.automation_contract import OPT_OUT_VALUES
from runbooks.core.errors import InvalidInput

if TYPE_CHECKING:
    from runbooks.analysis.findings import Finding
    from runbooks.automation.config import AutomationConfig

AUTOMATED_PHASES = ("containment",)

# Playbooks automation may run. Ransomware needs a human-chosen restore point, and its
# containment disables a key that may be the only way to the data: never automated.
AUTOMATED_PLAYBOOKS: tuple[str, ...] = (COMPROMISED_EC2, COMPROMISED_IAM, EXPOSED_S3,
                                        MALICIOUS_IP)
# Playbooks a person starts, and why automation does not.
NOT_AUTOMATED: Mapping[str, str] = {
    COMPROMISED_LAMBDA: "a function's reserved concurrency of 0 stops a production service "
                        "for every caller, and the automation's opt-out tag check reads no "
                        "Lambda tags: a responder runs `irctl contain function NAME`",
    COMPROMISED_RDS: (
        "containing a database cuts every client, the application's too, and replaces "
        "its master password one-way: a human weighs the outage (the playbook's "
        "application-outage decision) and runs `irctl contain database`; the automation "
        "role holds no RDS or Secrets Manager action"),
}


@dataclass(frozen=True)
class Skip:
    """A finding automation leaves alone: `reason` is the metric dimension."""

    reason: str
    message: str


@dataclass(frozen=True)
class Route:
    """A finding automation acts on: its playbook, parameters and case."""

    playbook: str
    params: dict[str, str]
    case_id: str


def route(finding: Finding, config: AutomationConfig, region: str) -> Route | Skip:
    """The playbook to run for `finding` in `region`, or why not."""
    from runbooks.analysis.playbooks import unsupported_reason
    from runbooks.core.ids import check_identifier

    inactive = finding.inactive_reason()
    if inactive:
        return Skip("Inactive", f"not acting on finding {finding.id}: {inactive}")
    if finding.region != region:
        return Skip("OtherRegion", f"finding of {finding.region} is handled by the function "
                    f"in that region, not {region}")
    if finding.severity < config.min_severity:
        return Skip("BelowSeverity", f"severity {finding.severity} is below "
                    f"{config.min_severity}")
    unsupported = unsupported_reason(finding.type, finding.resource_type,
                                     finding.kubernetes.subject if finding.kubernetes else None)
    if unsupported:
        names = ", ".join(f"{r.kind} {r.id}" for r in finding.resources) or "none named"
        return Skip("UnsupportedResource", f"finding {finding.type} is about a "
                    f"{unsupported} (resources: {names})")
    if not config.allows(finding.type):
        return Skip("NotAllowed", f"finding type {finding.type} is not in the allow-list "
                    "(ir:automation.findingTypes)")
    playbook = finding.playbook
    if playbook not in AUTOMATED_PLAYBOOKS:
        why = f": {NOT_AUTOMATED[playbook]}" if playbook and playbook in NOT_AUTOMATED else ""
        return Skip("NoPlaybook", f"no automated playbook for {finding.type} "
                    f"(playbook: {playbook or 'none'}){why}")
    assert playbook is not None
    try:
        params = playbook_params(finding)
        for key, value in params.items():
            # A finding's fields are attacker-influenced text: no id with a newline,
            # control or look-alike character reaches an AWS call or the claim's key.
            check_identifier(value, f"finding {finding.id}: {key}")
    except InvalidInput as err:
        return Skip("NoTarget", str(err))
    return Route(playbook, params, case_id_for(finding))


def case_id_for(finding: Finding) -> str:
    """A deterministic case id for a finding.

    A GuardDuty finding keeps its id across updates and reaches us both directly and
    through Security Hub (whose Id is the GuardDuty finding ARN): key on the GuardDuty id
    so all of them share one case. Other Security Hub findings: product ARN + Id.
    """
    gd_arn = finding.guardduty_arn
    if gd_arn is None and str(finding.product_arn).endswith("product/aws/guardduty"):
        gd_arn = finding.id  # GuardDuty's finding ARN, as Security Hub's Id
    if gd_arn and "/finding/" in gd_arn:
        key = "guardduty:" + gd_arn.rsplit("/finding/", 1)[-1]
    elif finding.source == "guardduty":
        key = f"guardduty:{finding.id}"
    else:
        key = f"securityhub:{finding.product_arn}|{finding.id}"
    return "ir-auto-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:20]


def playbook_params(finding: Finding) -> dict[str, str]:
    """The playbook's parameters from the finding's resources; InvalidInput if absent."""
    kinds: dict[str, list[str]] = {}
    for resource in finding.resources:
        kinds.setdefault(resource.kind, []).append(resource.id)
    playbook = finding.playbook
    if playbook == COMPROMISED_EC2 and kinds.get("instance"):
        # memory capture is a responder's (policy.HUMAN_ONLY_STEPS)
        return {"instance_id": kinds["instance"][0], "capture_memory": "false"}
    if playbook == COMPROMISED_IAM:
        if kinds.get("access-key") and str(kinds["access-key"][0]).startswith("AKIA"):
            return {"credential_kind": "access-key", "access_key_id": kinds["access-key"][0],
                    "key_owner": "human"}
        if kinds.get("iam-role"):
            return {"credential_kind": "role", "role_name": kinds["iam-role"][0]}
    if playbook == EXPOSED_S3 and kinds.get("s3-bucket"):
        return {"bucket": kinds["s3-bucket"][0]}
    if playbook == COMPROMISED_LAMBDA and kinds.get("lambda-function"):
        return {"function_name": kinds["lambda-function"][0]}
    if playbook == MALICIOUS_IP and finding.remote_ips:
        vpc = _vpc_of(finding)
        if vpc:
            return {"cidr": f"{finding.remote_ips[0]}/32", "vpc_id": vpc}
    raise InvalidInput(
        f"finding {finding.id} ({finding.type}) names no target the {playbook} playbook can "
        f"act on (resources: {', '.join(sorted(kinds)) or 'none'})")


def _vpc_of(finding: Finding) -> str | None:
    raw = finding.raw
    interfaces = (((raw.get("resource") or {}).get("instanceDetails") or {})
                  .get("networkInterfaces") or [])
    for eni in interfaces:
        if isinstance(eni, Mapping) and eni.get("vpcId"):
            return str(eni["vpcId"])
    for resource in raw.get("Resources") or []:
        details = ((resource or {}).get("Details") or {}).get("AwsEc2Instance") or {}
        if details.get("VpcId"):
            return str(details["VpcId"])
    return None


def opted_out(tags: Sequence[Mapping[str, Any]], tag_key: str) -> bool:
    """Whether `tags` (EC2/IAM `Key`/`Value`, or lower-case) opt their resource out."""
    for tag in tags:
        key = tag.get("Key", tag.get("key"))
        if key == tag_key:
            return str(tag.get("Value", tag.get("value", ""))).strip().lower() in OPT_OUT_VALUES
    return False


def target_name(playbook: str, params: Mapping[str, str]) -> str:
    """What the playbook acts on, by name (not its kind): the instance id, the role or
    access key, the bucket, the CIDR."""
    for key in ("instance_id", "role_name", "access_key_id", "bucket", "cidr",
                "function_name"):
        if params.get(key):
            return str(params[key])
    return next(iter(params.values()), playbook)
