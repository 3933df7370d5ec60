"""Which playbook handles a finding: a table of finding-type prefixes.

GuardDuty names its finding types `ThreatPurpose:ResourceTypeAffected/ThreatFamilyName.
DetectionMechanism!Artifact`. The most specific (longest) matching prefix wins, so
`Policy:S3/BucketBlockPublicAccessDisabled` can differ from `Policy:S3/` if it needs to.
A few types depend on which side of the traffic the resource was on (GuardDuty's
`service.resourceRole`): an instance that is the TARGET of SSH brute force is a
malicious-ip case, the same finding with the instance as ACTOR is a compromised
instance; any EC2 finding whose instance is the TARGET is a malicious-ip case. Macie
policy types and Security Hub control ids are mapped too, since they reach `irctl
triage` through Security Hub. Kubernetes and Runtime findings on EKS are routed by what
they name (`eks_playbook`): a pod, a node, or only the cluster.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

COMPROMISED_EC2 = "compromised-ec2-instance"
COMPROMISED_IAM = "compromised-iam-credentials"
EXPOSED_S3 = "exposed-s3-bucket"
RANSOMWARE = "ransomware-data-destruction"
MALICIOUS_IP = "malicious-ip"
COMPROMISED_LAMBDA = "compromised-lambda-function"
COMPROMISED_EKS_POD = "compromised-eks-pod"
COMPROMISED_EKS_NODE = "compromised-eks-node"
COMPROMISED_RDS = "compromised-rds-database"
COMPROMISED_SECRET_OR_KEY = "compromised-secret-or-key"  # noqa: S105 - a playbook name

PLAYBOOK_NAMES: frozenset[str] = frozenset(
    {COMPROMISED_EC2, COMPROMISED_IAM, EXPOSED_S3, RANSOMWARE, MALICIOUS_IP,
     COMPROMISED_LAMBDA, COMPROMISED_EKS_POD, COMPROMISED_EKS_NODE, COMPROMISED_RDS,
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
    # Kubernetes audit-log findings (EKS Protection): a workload (pod) doing or suffering
    # the harm; cluster-level ones (no workload: anonymous access, a user's API calls,
    # RBAC) have no playbook (`eks_playbook`).
    "Execution:Kubernetes/": COMPROMISED_EKS_POD,
    "PrivilegeEscalation:Kubernetes/": COMPROMISED_EKS_POD,
    "Persistence:Kubernetes/": COMPROMISED_EKS_POD,
    "Discovery:Kubernetes/": COMPROMISED_EKS_POD,
    "CredentialAccess:Kubernetes/": COMPROMISED_EKS_POD,
    "DefenseEvasion:Kubernetes/": COMPROMISED_EKS_POD,
    "Impact:Kubernetes/": COMPROMISED_EKS_POD,
    "Policy:Kubernetes/": COMPROMISED_EKS_POD,
    "Backdoor:Kubernetes/": COMPROMISED_EKS_POD,
    "CryptoCurrency:Kubernetes/": COMPROMISED_EKS_POD,
    "UnauthorizedAccess:Kubernetes/": COMPROMISED_EKS_POD,
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
    # GuardDuty RDS Protection: a login that should not have happened to a database
    # (anomalous, brute-forced, from Tor or a known-malicious address) or a probe from one.
    # Failed logins alone (`...FailedLogin`) stay unrouted: nobody got in.
    "CredentialAccess:RDS/AnomalousBehavior.SuccessfulLogin": COMPROMISED_RDS,
    "CredentialAccess:RDS/AnomalousBehavior.SuccessfulBruteForce": COMPROMISED_RDS,
    "CredentialAccess:RDS/TorIPCaller.SuccessfulLogin": COMPROMISED_RDS,
    "CredentialAccess:RDS/MaliciousIPCaller.SuccessfulLogin": COMPROMISED_RDS,
    "Discovery:RDS/": COMPROMISED_RDS,
    # Data destroyed, encrypted or mass-deleted.
    "Impact:S3/": RANSOMWARE,
    "AttackSequence:S3/": RANSOMWARE,
    # Lambda Protection: a function mining, calling C&C or a malicious address.
    "CryptoCurrency:Lambda/": COMPROMISED_LAMBDA,
    "Backdoor:Lambda/": COMPROMISED_LAMBDA,
    "Trojan:Lambda/": COMPROMISED_LAMBDA,
    "UnauthorizedAccess:Lambda/": COMPROMISED_LAMBDA,
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
# on an EC2 host, an EKS pod or node, or an ECS task: the EC2 host is an instance to
# isolate, EKS ones go to the EKS playbooks (`eks_playbook`), ECS ones have none.
UNSUPPORTED_RESOURCES: Mapping[str, str] = {
    "EKSCluster": "EKS cluster-level finding (it names no pod and no node): no playbook yet; "
                  "review the Kubernetes user's RBAC bindings and the cluster's access "
                  "entries, and contain the IAM principal behind it (irctl contain role)",
    "ECSCluster": "ECS task: no playbook yet; save its logs, then stop it (aws ecs stop-task). "
                  "An EC2-backed task whose container escaped: contain its container "
                  "instance (irctl contain instance ID, which cuts every task on it); on "
                  "Fargate the task is the boundary: stopping it is the containment",
    "Container": "container: no playbook yet; stop the container (keeping its logs) and "
                 "review its task or pod role",
}
_UNSUPPORTED_TYPES: Mapping[str, str] = {}

# What an EKS finding (`resource.resourceType` EKSCluster) names, from triage
# (`runbooks.analysis.findings`): a pod (kubernetesWorkloadDetails), else the node
# (instanceDetails of a Runtime finding), else only the cluster.
EKS_POD, EKS_NODE, EKS_CLUSTER = "pod", "node", "cluster"


def database_to_contain(resources: Iterable[tuple[str, str]]) -> str | None:
    """What `irctl contain database` takes for a finding's (kind, id) resources: the
    Aurora cluster when the instance is a member (the cluster holds its groups), else
    the DB instance."""
    found = dict(reversed(list(resources)))
    return found.get("rds-cluster") or found.get("rds-instance")


def eks_playbook(finding_type: str, resource_type: str | None,
                 eks_subject: str | None) -> str | None:
    """The EKS playbook for a Kubernetes or Runtime finding, or None when it is not an
    EKS finding (a Runtime finding on a plain instance stays the EC2 playbook's).

    Runtime on EKS and Kubernetes findings go to the pod playbook when they name a pod
    (or say nothing of what they name: a bare type), to the node playbook when they name
    only the node instance (a process on the host, outside any container); cluster-level
    findings get none (`unsupported_reason`). ECS and standalone containers have no
    playbook (UNSUPPORTED_RESOURCES says what to do)."""
    kubernetes = ":Kubernetes/" in finding_type
    if not kubernetes and not (":Runtime/" in finding_type and resource_type == "EKSCluster"):
        return None
    if eks_subject == EKS_NODE:
        return COMPROMISED_EKS_NODE
    if eks_subject == EKS_CLUSTER:
        return None
    return COMPROMISED_EKS_POD


def unsupported_reason(finding_type: str | None, resource_type: str | None,
                       eks_subject: str | None = None) -> str | None:
    """Why no playbook acts on this finding's resource (a cluster-level EKS finding, ECS,
    container), or None when the resource is one the playbooks handle.
    `eks_subject`: what an EKS finding names (EKS_POD, EKS_NODE, EKS_CLUSTER; None: not
    known, taken as a pod)."""
    if resource_type == "EKSCluster" or (finding_type and ":Kubernetes/" in finding_type):
        return UNSUPPORTED_RESOURCES["EKSCluster"] if eks_subject == EKS_CLUSTER else None
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
    eks_subject: str | None = None,
) -> str | None:
    """The playbook for a finding type, or None when no playbook handles it.

    `resource_type` (GuardDuty's `resource.resourceType`) and `eks_subject` (what an EKS
    finding names): a Runtime finding on an EKS pod goes to the pod playbook, on an EKS
    node to the node playbook (`eks_playbook`); one on an ECS task or container, and
    cluster-level Kubernetes findings, have no playbook (`unsupported_reason`
    says what to do instead).
    """
    if unsupported_reason(finding_type, resource_type, eks_subject):
        return None
    if finding_type:
        eks = eks_playbook(finding_type, resource_type, eks_subject)
        if eks or ":Kubernetes/" in finding_type:
            return eks
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


def containment_command(playbook: str | None, resources: Iterable[tuple[str, str]]) -> str | None:
    """The `irctl contain ...` command that runs `playbook`'s containment phase for the
    finding's (kind, id) resources, where one command is that phase's view."""
    resources = list(resources)
    found = dict(reversed(resources))  # the first of each kind
    if playbook == COMPROMISED_LAMBDA and found.get("lambda-function"):
        return f"irctl contain function {found['lambda-function']}"
    database = database_to_contain(resources)
    if playbook == COMPROMISED_RDS and database:
        return f"irctl contain database {database}"
    return None
