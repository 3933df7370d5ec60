"""Which playbook handles a finding: a table of finding-type prefixes.

GuardDuty names its finding types `ThreatPurpose:ResourceTypeAffected/ThreatFamilyName.
DetectionMechanism!Artifact`. The most specific (longest) matching prefix wins, so
`Policy:S3/BucketBlockPublicAccessDisabled` can differ from `Policy:S3/` if it needs to.
A few types depend on which side of the traffic the resource was on (GuardDuty's
`service.resourceRole`): an instance that is the TARGET of SSH brute force is a
malicious-ip case, the same finding with the instance as ACTOR is a compromised
instance; any EC2 finding whose instance is the TARGET is a malicious-ip case. Macie
policy types and Security Hub control ids are mapped too, since they reach `irctl
triage` through Security Hub.
"""

from __future__ import annotations

from collections.abc import Mapping

COMPROMISED_EC2 = "compromised-ec2-instance"
COMPROMISED_IAM = "compromised-iam-credentials"
EXPOSED_S3 = "exposed-s3-bucket"
RANSOMWARE = "ransomware-data-destruction"
MALICIOUS_IP = "malicious-ip"
COMPROMISED_SECRET_OR_KEY = "compromised-secret-or-key"  # noqa: S105 - a playbook name

PLAYBOOK_NAMES: frozenset[str] = frozenset(
    {COMPROMISED_EC2, COMPROMISED_IAM, EXPOSED_S3, RANSOMWARE, MALICIOUS_IP,
     COMPROMISED_SECRET_OR_KEY}
)

TYPE_PREFIXES: Mapping[str, str] = {
    # An instance doing the harm: mining, C&C, malware, outbound attacks.
    "CryptoCurrency:EC2/": COMPROMISED_EC2,
    "Backdoor:EC2/": COMPROMISED_EC2,
    "Trojan:EC2/": COMPROMISED_EC2,
    "Execution:EC2/": COMPROMISED_EC2,
    "DefenseEvasion:EC2/": COMPROMISED_EC2,
    "Impact:EC2/": COMPROMISED_EC2,
    "UnauthorizedAccess:EC2/": COMPROMISED_EC2,
    "Recon:EC2/Portscan": COMPROMISED_EC2,
    "Behavior:EC2/": COMPROMISED_EC2,
    # Runtime Monitoring findings on EC2 hosts.
    "CryptoCurrency:Runtime/": COMPROMISED_EC2,
    "Backdoor:Runtime/": COMPROMISED_EC2,
    "Trojan:Runtime/": COMPROMISED_EC2,
    "Execution:Runtime/": COMPROMISED_EC2,
    "DefenseEvasion:Runtime/": COMPROMISED_EC2,
    "Discovery:Runtime/": COMPROMISED_EC2,
    "Impact:Runtime/": COMPROMISED_EC2,
    "Persistence:Runtime/": COMPROMISED_EC2,
    "PrivilegeEscalation:Runtime/": COMPROMISED_EC2,
    "UnauthorizedAccess:Runtime/": COMPROMISED_EC2,
    # Someone from outside knocking: block the address.
    "Recon:EC2/PortProbeUnprotectedPort": MALICIOUS_IP,
    "Recon:EC2/PortProbeEMRUnprotectedPort": MALICIOUS_IP,
    # Credentials used by someone else.
    "UnauthorizedAccess:IAMUser/": COMPROMISED_IAM,
    "CredentialAccess:IAMUser/": COMPROMISED_IAM,
    "DefenseEvasion:IAMUser/": COMPROMISED_IAM,
    "Discovery:IAMUser/": COMPROMISED_IAM,
    "Exfiltration:IAMUser/": COMPROMISED_IAM,
    "Impact:IAMUser/": COMPROMISED_IAM,
    "InitialAccess:IAMUser/": COMPROMISED_IAM,
    "Persistence:IAMUser/": COMPROMISED_IAM,
    "PrivilegeEscalation:IAMUser/": COMPROMISED_IAM,
    "Recon:IAMUser/": COMPROMISED_IAM,
    "Stealth:IAMUser/": COMPROMISED_IAM,
    "PenTest:IAMUser/": COMPROMISED_IAM,
    "Policy:IAMUser/RootCredentialUsage": COMPROMISED_IAM,
    "AttackSequence:IAM/": COMPROMISED_IAM,
    # S3 data read or listed with someone's credentials.
    "Exfiltration:S3/": COMPROMISED_IAM,
    "Discovery:S3/": COMPROMISED_IAM,
    "UnauthorizedAccess:S3/": COMPROMISED_IAM,
    "PenTest:S3/": COMPROMISED_IAM,
    # A bucket opened up.
    "Policy:S3/": EXPOSED_S3,
    "Policy:S3/BucketBlockPublicAccessDisabled": EXPOSED_S3,
    "Stealth:S3/": EXPOSED_S3,
    "Policy:IAMUser/S3BlockPublicAccessDisabled": EXPOSED_S3,  # Macie
    "Policy:IAMUser/S3BucketPublic": EXPOSED_S3,  # Macie
    "Policy:IAMUser/S3BucketSharedExternally": EXPOSED_S3,  # Macie
    "Policy:IAMUser/S3BucketReplicatedExternally": EXPOSED_S3,  # Macie
    # Data destroyed, encrypted or mass-deleted.
    "Impact:S3/": RANSOMWARE,
    "AttackSequence:S3/": RANSOMWARE,
}

# Inbound-only findings: the playbook depends on whether the resource was the target.
_TARGET_IS_VICTIM = (
    "UnauthorizedAccess:EC2/SSHBruteForce",
    "UnauthorizedAccess:EC2/RDPBruteForce",
    "UnauthorizedAccess:EC2/MaliciousIPCaller.Custom",
    "Impact:EC2/WinRMBruteForce",
)

# Security Hub control ids (consolidated `security-control/<id>` generator ids).
CONTROL_IDS: Mapping[str, str] = {
    "S3.1": EXPOSED_S3,
    "S3.2": EXPOSED_S3,
    "S3.3": EXPOSED_S3,
    "S3.8": EXPOSED_S3,
    "S3.19": EXPOSED_S3,
    "IAM.4": COMPROMISED_IAM,
    "EC2.19": MALICIOUS_IP,
    "KMS.3": COMPROMISED_SECRET_OR_KEY,  # a customer-managed key scheduled for deletion
}

# GuardDuty has no Secrets Manager or KMS finding family. Its IAM anomaly findings
# (CredentialAccess:/Impact:IAMUser/AnomalousBehavior, routed to the credentials
# playbook: the principal is contained first) name the call in
# `service.action.awsApiCallAction.api`; when it is one of these, triage also names the
# secret or key (from `affectedResources`, when GuardDuty lists it) and the command.
SECRET_API_CALLS: frozenset[str] = frozenset({
    "GetSecretValue", "BatchGetSecretValue", "PutSecretValue", "UpdateSecret",
    "DeleteSecret", "PutResourcePolicy", "RestoreSecret"})
KEY_API_CALLS: frozenset[str] = frozenset({
    "ScheduleKeyDeletion", "DisableKey", "PutKeyPolicy", "CreateGrant", "Decrypt",
    "ReEncrypt", "GenerateDataKey", "ImportKeyMaterial", "DeleteImportedKeyMaterial"})
# Calls that sabotage the key (its data becomes unreadable): keep it; the others misuse it.
KEY_SABOTAGE_CALLS: frozenset[str] = frozenset({
    "ScheduleKeyDeletion", "DisableKey", "DeleteImportedKeyMaterial"})
API_CALL_PLAYBOOKS: Mapping[str, str] = {
    **{api: COMPROMISED_SECRET_OR_KEY for api in SECRET_API_CALLS | KEY_API_CALLS}}


def api_call_commands(api: str | None, secrets: list[str], keys: list[str],
                      principal_arn: str | None) -> list[str]:
    """The `irctl contain secret|key` commands for a finding whose API call touched a
    secret or a KMS key (placeholders where the finding does not name it: look it up in
    CloudTrail, requestParameters.secretId / keyId)."""
    if not api:
        return []
    principal = principal_arn or "PRINCIPAL_ARN"
    if api in SECRET_API_CALLS:
        return [f"irctl contain secret {secret} --principal {principal}"
                for secret in secrets or ["SECRET_ARN"]]
    if api in KEY_API_CALLS:
        keep = " --keep" if api in KEY_SABOTAGE_CALLS else ""
        return [f"irctl contain key {key}{keep}" for key in keys or ["KEY_ARN"]]
    return []


# GuardDuty resource types (`resource.resourceType`) no playbook acts on yet, and what a
# responder does instead. Runtime Monitoring findings carry the same `...:Runtime/` type
# on an EC2 host, an EKS pod or an ECS task: only the EC2 host is an instance to isolate.
UNSUPPORTED_RESOURCES: Mapping[str, str] = {
    "RDSDBInstance": "database (RDS/Aurora): no playbook yet; rotate the database user's "
                     "credentials and restrict the DB security group by hand",
    "Lambda": "Lambda function: no playbook yet; set its reserved concurrency to 0 and "
              "review its code, role and triggers by hand",
    "EKSCluster": "EKS cluster / Kubernetes workload: no playbook yet; cordon the node, "
                  "isolate the pod with a NetworkPolicy and revoke its service account",
    "ECSCluster": "ECS task: no playbook yet; stop the task (keeping its logs) and review "
                  "its task role",
    "Container": "container: no playbook yet; stop the container (keeping its logs) and "
                 "review its task or pod role",
}
_UNSUPPORTED_TYPES: Mapping[str, str] = {
    ":RDS/": "RDSDBInstance", ":Lambda/": "Lambda", ":Kubernetes/": "EKSCluster",
}


def unsupported_reason(finding_type: str | None, resource_type: str | None) -> str | None:
    """Why no playbook acts on this finding's resource (RDS, Lambda, EKS, ECS,
    container), or None when the resource is one the playbooks handle."""
    if resource_type in UNSUPPORTED_RESOURCES:
        return UNSUPPORTED_RESOURCES[str(resource_type)]
    for marker, kind in _UNSUPPORTED_TYPES.items():
        if finding_type and marker in finding_type:
            return UNSUPPORTED_RESOURCES[kind]
    return None


def playbook_for(
    finding_type: str | None,
    resource_role: str | None = None,
    control_id: str | None = None,
    anonymous_caller: bool = False,
    resource_type: str | None = None,
) -> str | None:
    """The playbook for a finding type, or None when no playbook handles it.

    `resource_type` (GuardDuty's `resource.resourceType`): a Runtime finding on an EKS
    pod, ECS task or container, and RDS / Lambda / Kubernetes findings, have no playbook
    (`unsupported_reason` says what to do instead).
    """
    if unsupported_reason(finding_type, resource_type):
        return None
    if finding_type:
        if resource_role and resource_role.upper() == "TARGET" and finding_type.startswith(
            _TARGET_IS_VICTIM
        ):
            return MALICIOUS_IP
        matches = [prefix for prefix in TYPE_PREFIXES if finding_type.startswith(prefix)]
        if matches:
            playbook = TYPE_PREFIXES[max(matches, key=len)]
            # An instance GuardDuty names as the TARGET was attacked, it did not attack:
            # isolating the victim helps the attacker; block where the traffic came from.
            if (playbook == COMPROMISED_EC2 and resource_role
                    and resource_role.upper() == "TARGET"):
                return MALICIOUS_IP
            # Data taken by nobody in particular means the bucket itself is open.
            if anonymous_caller and playbook == COMPROMISED_IAM and ":S3/" in finding_type:
                return EXPOSED_S3
            return playbook
    if control_id:
        return CONTROL_IDS.get(control_id)
    return None
