"""Pulumi mocks -> moto bridge: provision the readiness program into an emulator.

`MotoBridge` is a `pulumi.runtime.Mocks` whose `new_resource` creates every `aws:*`
resource the program declares *for real* in a moto server (boto3 with `endpoint_url`)
and hands back the real ids and ARNs as the resource's outputs, and whose `call` answers
the program's invokes from the same server. The program itself runs unmodified under
Pulumi's official mock monitor (`pulumi.runtime.set_mocks`, `preview=False`), so what
lands in the emulator is exactly what the program declared: the drill then acts on the
same security groups, topics, detector and vault a real `pulumi up` would have made.

Every type is handled consciously. A custom resource whose type is not in `HANDLERS`
raises `UnhandledResourceType` naming the type: never a silent pass. Where moto has no
API for a type, the entry says so ("recorded only") and the bridge keeps the inputs in
`MotoBridge.records` so the drill report can show what was declared but not emulated.

Regions: an explicit `aws.Provider` carries a `region` input; resources reference it
through `args.provider` (`<urn>::<id>`); a v7 per-resource `region` input wins over
the provider; resources on the default provider use `default_region`.

Resource types and how each is provisioned (API = moto call made):

=====================================================  ========================================
Type                                                   How
=====================================================  ========================================
pulumi:providers:aws                                   region remembered for its resources
aws:kms/key:Key                                        API kms CreateKey (+ EnableKeyRotation)
aws:kms/alias:Alias                                    API kms CreateAlias
aws:kms/keyPolicy:KeyPolicy                            API kms PutKeyPolicy
aws:s3/bucket:Bucket                                   API s3 CreateBucket (+ Object Lock, tags)
aws:s3/bucketVersioning:BucketVersioning               API s3 PutBucketVersioning
aws:s3/bucketServerSideEncryptionConfiguration:...     API s3 PutBucketEncryption
aws:s3/bucketObjectLockConfiguration:...               API s3 PutObjectLockConfiguration
aws:s3/bucketLifecycleConfiguration:...                API s3 PutBucketLifecycleConfiguration
aws:s3/bucketPublicAccessBlock:...                     API s3 PutPublicAccessBlock
aws:s3/bucketOwnershipControls:...                     API s3 PutBucketOwnershipControls
aws:s3/bucketPolicy:BucketPolicy                       API s3 PutBucketPolicy
aws:s3/bucketNotification:BucketNotification           API s3 PutBucketNotificationConfiguration
aws:s3/bucketLogging:BucketLogging                     API s3 PutBucketLogging
aws:cloudtrail/trail:Trail                             API cloudtrail CreateTrail, StartLogging,
                                                       PutEventSelectors, PutInsightSelectors
aws:cloudwatch/logGroup:LogGroup                       API logs CreateLogGroup, PutRetentionPolicy
aws:cloudwatch/logMetricFilter:LogMetricFilter         API logs PutMetricFilter
aws:cloudwatch/logResourcePolicy:LogResourcePolicy     API logs PutResourcePolicy
aws:cloudwatch/metricAlarm:MetricAlarm                 API cloudwatch PutMetricAlarm
aws:cloudwatch/eventRule:EventRule                     API events PutRule
aws:cloudwatch/eventTarget:EventTarget                 API events PutTargets
aws:iam/role:Role                                      API iam CreateRole (+ inline/managed)
aws:iam/rolePolicy:RolePolicy                          API iam PutRolePolicy
aws:iam/rolePolicyAttachment:RolePolicyAttachment      API iam AttachRolePolicy
aws:iam/policy:Policy                                  API iam CreatePolicy
aws:iam/instanceProfile:InstanceProfile                API iam CreateInstanceProfile, AddRole...
aws:guardduty/detector:Detector                        API guardduty CreateDetector
aws:guardduty/detectorFeature:DetectorFeature          API guardduty UpdateDetector (features
                                                       merged with the detector's current ones)
aws:guardduty/publishingDestination:...                recorded only: moto has no
                                                       CreatePublishingDestination
aws:inspector2/enabler:Enabler                         API inspector2 Enable
aws:securityhub/account:Account                        API securityhub EnableSecurityHub
aws:securityhub/standardsSubscription:...              recorded only: moto has no
                                                       BatchEnableStandards
aws:securityhub/findingAggregator:FindingAggregator    recorded only: moto has no
                                                       CreateFindingAggregator
aws:backup/vault:Vault                                 API backup CreateBackupVault
aws:backup/vaultLockConfiguration:...                  API backup PutBackupVaultLockConfiguration
aws:backup/plan:Plan                                   API backup CreateBackupPlan
aws:backup/selection:Selection                         recorded only: moto has no
                                                       CreateBackupSelection
aws:backup/vaultNotifications:VaultNotifications       recorded only: moto has no
                                                       PutBackupVaultNotifications
aws:backup/vaultPolicy:VaultPolicy                     recorded only: moto has no
                                                       PutBackupVaultAccessPolicy
aws:ec2/flowLog:FlowLog                                API ec2 CreateFlowLogs
aws:cfg/recorder:Recorder                              API config PutConfigurationRecorder
aws:cfg/deliveryChannel:DeliveryChannel                API config PutDeliveryChannel
aws:cfg/recorderStatus:RecorderStatus                  API config StartConfigurationRecorder
aws:s3/accountPublicAccessBlock:...                    API s3control PutPublicAccessBlock
aws:route53/resolverQueryLogConfig:...                API route53resolver
                                                       CreateResolverQueryLogConfig
aws:route53/resolverQueryLogConfigAssociation:...     API route53resolver
                                                       AssociateResolverQueryLogConfig
aws:accessanalyzer/analyzer:Analyzer                   recorded only: moto has no CreateAnalyzer
aws:guardduty/malwareProtectionPlan:...                recorded only: moto has no
                                                       CreateMalwareProtectionPlan
aws:ec2/securityGroup:SecurityGroup                    API ec2 CreateSecurityGroup, default egress
                                                       revoked (as the provider does), rules
                                                       authorized from ingress/egress inputs
aws:ec2/securityGroupRule:SecurityGroupRule            API ec2 AuthorizeSecurityGroup{In,E}gress
aws:vpc/securityGroupIngressRule:...                   API ec2 AuthorizeSecurityGroupIngress
aws:vpc/securityGroupEgressRule:...                    API ec2 AuthorizeSecurityGroupEgress
aws:sns/topic:Topic                                    API sns CreateTopic (KMS, policy, tags)
aws:sns/topicPolicy:TopicPolicy                        API sns SetTopicAttributes(Policy)
aws:sns/topicSubscription:TopicSubscription            API sns Subscribe
aws:sqs/queue:Queue                                    API sqs CreateQueue
aws:sqs/queuePolicy:QueuePolicy                        API sqs SetQueueAttributes(Policy)
aws:ssm/parameter:Parameter                            API ssm PutParameter (the manifest)
aws:lambda/layerVersion:LayerVersion                   API lambda PublishLayerVersion
aws:lambda/function:Function                           API lambda CreateFunction (archive zipped)
aws:lambda/permission:Permission                       API lambda AddPermission
aws:lambda/functionEventInvokeConfig:...               API lambda PutFunctionEventInvokeConfig
=====================================================  ========================================

Invokes answered by `call` (from moto where state is involved): getCallerIdentity,
getRegion, getPartition, getAvailabilityZones, ec2 getVpcs, ec2 getVpc,
iam getPolicyDocument (rendered locally: it is a pure function). Any other invoke
raises `UnhandledInvoke`.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi

from components.mockrun import plain
from runbooks.core.errors import IrError

PROVIDER_TYPE = "pulumi:providers:aws"


class BridgeError(IrError):
    """Provisioning a declared resource into the emulator failed."""


class UnhandledResourceType(BridgeError):
    """The program declared a resource type the bridge does not know how to provision."""


class UnhandledInvoke(BridgeError):
    """The program called a provider function the bridge does not answer."""


@dataclass(frozen=True)
class TypeHandler:
    """How one resource type is provisioned. `api` empty means recorded only."""

    fn: Callable[[_Request], tuple[str, dict[str, Any]]]
    api: str
    note: str = ""

    @property
    def recorded_only(self) -> bool:
        return not self.api


HANDLERS: dict[str, TypeHandler] = {}


def handles(
    type_token: str, api: str = "", recorded_only: str = ""
) -> Callable[
    [Callable[[_Request], tuple[str, dict[str, Any]]]],
    Callable[[_Request], tuple[str, dict[str, Any]]],
]:
    """Register the provisioning function of one type; exactly one of `api`/`recorded_only`."""
    if bool(api) == bool(recorded_only):
        raise TypeError(f"{type_token}: give either api= or recorded_only=")

    def decorate(
        fn: Callable[[_Request], tuple[str, dict[str, Any]]],
    ) -> Callable[[_Request], tuple[str, dict[str, Any]]]:
        if type_token in HANDLERS:
            raise TypeError(f"{type_token} handled twice")
        HANDLERS[type_token] = TypeHandler(fn=fn, api=api, note=recorded_only)
        return fn

    return decorate


@dataclass(frozen=True)
class Record:
    """One resource the bridge handled: what, where, the real id, and how."""

    type: str
    name: str
    region: str
    id: str
    how: str
    recorded_only: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "name": self.name,
            "region": self.region,
            "id": self.id,
            "how": self.how,
            "recordedOnly": self.recorded_only,
        }


@dataclass
class _Request:
    """What a handler gets: the bridge (clients, account), the region, name and inputs."""

    bridge: MotoBridge
    type: str
    name: str
    region: str
    inputs: dict[str, Any]

    notes: list[str] = field(default_factory=list)

    def client(self, service: str) -> Any:
        return self.bridge.client(service, self.region)

    def note(self, text: str) -> None:
        """Record a per-resource deviation (shown in the record's `how`)."""
        self.notes.append(text)

    @property
    def account(self) -> str:
        return self.bridge.account_id

    def get(self, key: str, default: Any = None) -> Any:
        value = self.inputs.get(key)
        return default if value is None else value

    def autoname(self, key: str = "name", max_len: int = 63, lower: bool = False) -> str:
        """The explicit name input, else `<prefix or logical name>-<7 hex>` like Pulumi."""
        explicit = self.inputs.get(key)
        if explicit:
            return str(explicit)
        prefix = self.inputs.get(f"{key}Prefix") or f"{self.name}-"
        name = f"{prefix}{uuid.uuid4().hex[:7]}"
        if lower:
            name = re.sub(r"[^a-z0-9.-]", "-", name.lower())
        if len(name) > max_len:
            name = name[: max_len - 8] + "-" + uuid.uuid4().hex[:7]
        return name

    def arn(self, service: str, resource: str, region: str | None = None) -> str:
        reg = self.region if region is None else region
        return f"arn:aws:{service}:{reg}:{self.account}:{resource}"


def _unsecret(value: Any) -> Any:
    """Plain values: secret envelopes unwrapped, integral numbers as int.

    Secrets are unwrapped where every Mocks of the project unwraps them
    (`components.mockrun.plain`). Pulumi sends every number as a double (365 arrives as
    365.0); the AWS APIs validate integers, so integral floats become ints (float
    parameters such as an alarm threshold are converted back with float() by their
    handler).
    """
    return _integral(plain(value))


def _integral(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral(v) for v in value]
    return value


def _clean(value: Any) -> Any:
    """Drop None values recursively (the API rejects explicit nulls)."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_clean(v) for v in value if v is not None]
    return value


_PASCAL_SPECIAL = {"id": "ID", "kmsMasterKeyId": "KMSMasterKeyID"}


def _pascal(value: Any) -> Any:
    """Pulumi camelCase input shapes -> AWS API PascalCase shapes (S3/Backup style)."""
    if isinstance(value, dict):
        return {
            _PASCAL_SPECIAL.get(k, k[:1].upper() + k[1:]): _pascal(v)
            for k, v in value.items()
            if v is not None
        }
    if isinstance(value, list):
        return [_pascal(v) for v in value if v is not None]
    return value


def _tag_list(tags: Mapping[str, str] | None, key: str = "Key", val: str = "Value") -> list[Any]:
    return [{key: k, val: v} for k, v in (tags or {}).items()]


def _policy_text(policy: Any) -> str:
    return policy if isinstance(policy, str) else json.dumps(policy)


def _account_host_stripped(request: Any, **_: Any) -> None:
    request.url = re.sub(r"^(https?://)[0-9]{12}\.", r"\1", request.url)


class MotoBridge(pulumi.runtime.Mocks):
    """Pulumi mocks that provision every declared `aws:*` resource into a moto server."""

    def __init__(
        self,
        endpoint_url: str,
        default_region: str,
        *,
        access_key: str = "testing",
        secret_key: str = "testing",  # noqa: S107 - the emulator's dummy credentials
    ) -> None:
        self.endpoint_url = endpoint_url
        self.default_region = default_region
        self._access_key = access_key
        self._secret_key = secret_key
        self._lock = threading.RLock()
        self._clients: dict[tuple[str, str], Any] = {}
        self._session: Any = None
        self._provider_regions: dict[str, str] = {}
        self._keyed_locks: dict[str, threading.Lock] = {}
        self._account_id: str | None = None
        self.records: list[Record] = []
        self.errors: list[BridgeError] = []
        self.state: dict[str, dict[str, Any]] = {}
        """Per resource type: {logical name: outputs} for tests and the drill."""

    # -- clients -------------------------------------------------------------------
    def client(self, service: str, region: str) -> Any:
        with self._lock:
            key = (service, region)
            if key not in self._clients:
                if self._session is None:
                    import boto3

                    # One session: it caches the service models, so each new client is cheap.
                    self._session = boto3.session.Session(
                        aws_access_key_id=self._access_key,
                        aws_secret_access_key=self._secret_key,
                    )
                self._clients[key] = self._session.client(
                    service, region_name=region, endpoint_url=self.endpoint_url
                )
                if service == "s3control":
                    # S3 Control's endpoint rules put the account id in front of the
                    # host (`<account>.<endpoint>`), which an emulator's address is not.
                    self._clients[key].meta.events.register(
                        "before-sign.s3-control.*", _account_host_stripped)
            return self._clients[key]

    def keyed_lock(self, key: str) -> threading.Lock:
        """A lock for read-modify-write handlers on one AWS object (e.g. a detector)."""
        with self._lock:
            return self._keyed_locks.setdefault(key, threading.Lock())

    @property
    def account_id(self) -> str:
        with self._lock:
            if self._account_id is None:
                ident = self.client("sts", self.default_region).get_caller_identity()
                self._account_id = str(ident["Account"])
            return self._account_id

    # -- regions -------------------------------------------------------------------
    def _region_of(self, provider_ref: str | None, inputs: Mapping[str, Any]) -> str:
        explicit = inputs.get("region")
        if isinstance(explicit, str) and explicit:
            return explicit
        if provider_ref:
            provider_id = provider_ref.rsplit("::", 1)[-1]
            if provider_id in self._provider_regions:
                return self._provider_regions[provider_id]
        return self.default_region

    # -- Mocks interface -----------------------------------------------------------
    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict]:
        # Not serialised: boto3 clients are thread-safe and the engine only registers a
        # resource once its inputs (its dependencies' outputs) are known.
        try:
            return self._new_resource(args)
        except BridgeError as err:
            with self._lock:
                self.errors.append(err)
            raise

    def _new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict]:
        if args.typ == PROVIDER_TYPE:
            region = str(args.inputs.get("region") or self.default_region)
            provider_id = f"{args.name}-{uuid.uuid4().hex[:12]}"
            with self._lock:
                self._provider_regions[provider_id] = region
                self.records.append(
                    Record(args.typ, args.name, region, provider_id, "provider region", False)
                )
            return provider_id, dict(args.inputs)
        if not args.custom:
            # A component resource: nothing to provision, its children are.
            return f"{args.name}-component", {}
        handler = HANDLERS.get(args.typ)
        if handler is None:
            raise UnhandledResourceType(
                f"the drill bridge does not handle resource type {args.typ} "
                f"(resource {args.name!r}); add it to HANDLERS in rehearsal/bridge.py "
                "with the moto API that provisions it, or an explicit recorded-only entry"
            )
        region = self._region_of(args.provider, args.inputs)
        inputs = {k: _unsecret(v) for k, v in args.inputs.items() if k != "region"}
        request = _Request(self, args.typ, args.name, region, inputs)
        from botocore.exceptions import ClientError, ParamValidationError

        try:
            resource_id, outputs = handler.fn(request)
        except (ClientError, ParamValidationError) as err:
            detail = " ".join(str(err).split())
            raise BridgeError(
                f"provisioning {args.typ} {args.name!r} in {region} into the emulator "
                f"failed: {detail}"
            ) from err
        state = {**args.inputs, **outputs}
        if "tags" in args.inputs:
            state.setdefault("tagsAll", args.inputs["tags"])
        how = handler.api or f"recorded only: {handler.note}"
        if request.notes:
            how = "; ".join(request.notes)
        with self._lock:
            self.records.append(
                Record(args.typ, args.name, region, resource_id, how,
                       handler.recorded_only or bool(request.notes))
            )
            self.state.setdefault(args.typ, {})[args.name] = {"id": resource_id, **state}
        return resource_id, state

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict:  # type: ignore[override]
        answer = INVOKES.get(args.token)
        if answer is None:
            err = UnhandledInvoke(
                f"the drill bridge does not answer invoke {args.token}; add it to INVOKES "
                "in rehearsal/bridge.py"
            )
            with self._lock:
                self.errors.append(err)
            raise err
        call_args = _unsecret(dict(args.args))
        region = self._region_of(args.provider, call_args)
        return answer(self, region, call_args)

    # -- for callers -----------------------------------------------------------------
    def outputs_of(self, type_token: str) -> dict[str, dict[str, Any]]:
        return dict(self.state.get(type_token, {}))

    def handled_types(self) -> set[str]:
        return {r.type for r in self.records}


# ---------------------------------------------------------------------------------
# KMS
@handles("aws:kms/key:Key", api="kms:CreateKey")
def _kms_key(r: _Request) -> tuple[str, dict[str, Any]]:
    kms = r.client("kms")
    kwargs: dict[str, Any] = {
        "Description": r.get("description", ""),
        "KeyUsage": r.get("keyUsage", "ENCRYPT_DECRYPT"),
        "KeySpec": r.get("customerMasterKeySpec", r.get("keySpec", "SYMMETRIC_DEFAULT")),
        "MultiRegion": bool(r.get("multiRegion", False)),
        "Tags": _tag_list(r.get("tags"), "TagKey", "TagValue"),
    }
    if r.get("policy"):
        kwargs["Policy"] = _policy_text(r.get("policy"))
    meta = kms.create_key(**kwargs)["KeyMetadata"]
    if r.get("enableKeyRotation"):
        kms.enable_key_rotation(KeyId=meta["KeyId"])
    return meta["KeyId"], {"arn": meta["Arn"], "keyId": meta["KeyId"]}


@handles("aws:kms/alias:Alias", api="kms:CreateAlias")
def _kms_alias(r: _Request) -> tuple[str, dict[str, Any]]:
    name = r.get("name") or f"alias/{r.autoname()}"
    r.client("kms").create_alias(AliasName=name, TargetKeyId=r.get("targetKeyId"))
    return name, {"name": name, "arn": r.arn("kms", name)}


@handles("aws:kms/keyPolicy:KeyPolicy", api="kms:PutKeyPolicy")
def _kms_key_policy(r: _Request) -> tuple[str, dict[str, Any]]:
    r.client("kms").put_key_policy(
        KeyId=r.get("keyId"), PolicyName="default", Policy=_policy_text(r.get("policy"))
    )
    return str(r.get("keyId")), {}


# ---------------------------------------------------------------------------------
# S3
@handles("aws:s3/bucket:Bucket", api="s3:CreateBucket")
def _s3_bucket(r: _Request) -> tuple[str, dict[str, Any]]:
    s3 = r.client("s3")
    name = r.autoname("bucket", lower=True)
    kwargs: dict[str, Any] = {"Bucket": name}
    if r.region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": r.region}
    if r.get("objectLockEnabled"):
        kwargs["ObjectLockEnabledForBucket"] = True
    s3.create_bucket(**kwargs)
    if r.get("tags"):
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": _tag_list(r.get("tags"))})
    return name, {
        "bucket": name,
        "arn": f"arn:aws:s3:::{name}",
        "bucketDomainName": f"{name}.s3.amazonaws.com",
        "bucketRegionalDomainName": f"{name}.s3.{r.region}.amazonaws.com",
        "region": r.region,
    }


@handles("aws:s3/bucketVersioning:BucketVersioning", api="s3:PutBucketVersioning")
def _s3_versioning(r: _Request) -> tuple[str, dict[str, Any]]:
    config = r.get("versioningConfiguration", {})
    r.client("s3").put_bucket_versioning(
        Bucket=r.get("bucket"), VersioningConfiguration={"Status": config.get("status")}
    )
    return str(r.get("bucket")), {}


@handles(
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    api="s3:PutBucketEncryption",
)
def _s3_encryption(r: _Request) -> tuple[str, dict[str, Any]]:
    rules = []
    for rule in r.get("rules", []):
        default = rule.get("applyServerSideEncryptionByDefault") or {}
        api_rule: dict[str, Any] = {
            "ApplyServerSideEncryptionByDefault": _clean(
                {
                    "SSEAlgorithm": default.get("sseAlgorithm"),
                    "KMSMasterKeyID": default.get("kmsMasterKeyId"),
                }
            )
        }
        if rule.get("bucketKeyEnabled") is not None:
            api_rule["BucketKeyEnabled"] = bool(rule["bucketKeyEnabled"])
        rules.append(api_rule)
    r.client("s3").put_bucket_encryption(
        Bucket=r.get("bucket"), ServerSideEncryptionConfiguration={"Rules": rules}
    )
    return str(r.get("bucket")), {}


@handles(
    "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration",
    api="s3:PutObjectLockConfiguration",
)
def _s3_object_lock(r: _Request) -> tuple[str, dict[str, Any]]:
    config: dict[str, Any] = {"ObjectLockEnabled": r.get("objectLockEnabled", "Enabled")}
    rule = r.get("rule")
    if rule:
        config["Rule"] = _pascal(rule)
    r.client("s3").put_object_lock_configuration(
        Bucket=r.get("bucket"), ObjectLockConfiguration=config
    )
    return str(r.get("bucket")), {}


@handles(
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
    api="s3:PutBucketLifecycleConfiguration",
)
def _s3_lifecycle(r: _Request) -> tuple[str, dict[str, Any]]:
    rules = []
    for rule in r.get("rules", []):
        api_rule = _pascal(rule)
        api_rule.setdefault("Filter", {"Prefix": ""})
        rules.append(api_rule)
    r.client("s3").put_bucket_lifecycle_configuration(
        Bucket=r.get("bucket"), LifecycleConfiguration={"Rules": rules}
    )
    return str(r.get("bucket")), {}


@handles(
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", api="s3:PutPublicAccessBlock"
)
def _s3_public_access_block(r: _Request) -> tuple[str, dict[str, Any]]:
    keys = ("blockPublicAcls", "ignorePublicAcls", "blockPublicPolicy", "restrictPublicBuckets")
    config = {k[:1].upper() + k[1:]: bool(r.get(k, False)) for k in keys}
    r.client("s3").put_public_access_block(
        Bucket=r.get("bucket"), PublicAccessBlockConfiguration=config
    )
    return str(r.get("bucket")), {}


@handles(
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
    api="s3:PutBucketOwnershipControls",
)
def _s3_ownership(r: _Request) -> tuple[str, dict[str, Any]]:
    rule = r.get("rule", {})
    r.client("s3").put_bucket_ownership_controls(
        Bucket=r.get("bucket"),
        OwnershipControls={"Rules": [{"ObjectOwnership": rule.get("objectOwnership")}]},
    )
    return str(r.get("bucket")), {}


@handles("aws:s3/bucketPolicy:BucketPolicy", api="s3:PutBucketPolicy")
def _s3_policy(r: _Request) -> tuple[str, dict[str, Any]]:
    r.client("s3").put_bucket_policy(Bucket=r.get("bucket"), Policy=_policy_text(r.get("policy")))
    return str(r.get("bucket")), {}


@handles(
    "aws:s3/bucketNotification:BucketNotification",
    api="s3:PutBucketNotificationConfiguration",
)
def _s3_notification(r: _Request) -> tuple[str, dict[str, Any]]:
    config: dict[str, Any] = {}
    if r.get("eventbridge"):
        config["EventBridgeConfiguration"] = {}
    for src, dst, arn_key in (
        ("topics", "TopicConfigurations", "topicArn"),
        ("queues", "QueueConfigurations", "queueArn"),
        ("lambdaFunctions", "LambdaFunctionConfigurations", "lambdaFunctionArn"),
    ):
        items = r.get(src, [])
        if items:
            arn_name = arn_key[:1].upper() + arn_key[1:]
            config[dst] = [
                _clean({arn_name: i.get(arn_key), "Events": i.get("events"), "Id": i.get("id")})
                for i in items
            ]
    r.client("s3").put_bucket_notification_configuration(
        Bucket=r.get("bucket"), NotificationConfiguration=config
    )
    return str(r.get("bucket")), {}


@handles("aws:s3/bucketLogging:BucketLogging", api="s3:PutBucketLogging")
def _s3_logging(r: _Request) -> tuple[str, dict[str, Any]]:
    r.client("s3").put_bucket_logging(
        Bucket=r.get("bucket"),
        BucketLoggingStatus={
            "LoggingEnabled": {
                "TargetBucket": r.get("targetBucket"),
                "TargetPrefix": r.get("targetPrefix", ""),
            }
        },
    )
    return str(r.get("bucket")), {}


# ---------------------------------------------------------------------------------
# CloudTrail, CloudWatch Logs, CloudWatch, EventBridge
@handles("aws:cloudtrail/trail:Trail", api="cloudtrail:CreateTrail")
def _trail(r: _Request) -> tuple[str, dict[str, Any]]:
    ct = r.client("cloudtrail")
    name = r.autoname(max_len=128)
    kwargs: dict[str, Any] = _clean(
        {
            "Name": name,
            "S3BucketName": r.get("s3BucketName"),
            "S3KeyPrefix": r.get("s3KeyPrefix"),
            "SnsTopicName": r.get("snsTopicName"),
            "IncludeGlobalServiceEvents": r.get("includeGlobalServiceEvents", True),
            "IsMultiRegionTrail": r.get("isMultiRegionTrail", False),
            "EnableLogFileValidation": r.get("enableLogFileValidation", False),
            "CloudWatchLogsLogGroupArn": r.get("cloudWatchLogsGroupArn"),
            "CloudWatchLogsRoleArn": r.get("cloudWatchLogsRoleArn"),
            "KmsKeyId": r.get("kmsKeyId"),
            "IsOrganizationTrail": r.get("isOrganizationTrail"),
            "TagsList": _tag_list(r.get("tags")) or None,
        }
    )
    trail = ct.create_trail(**kwargs)
    arn = trail["TrailARN"]
    if r.get("enableLogging", True):
        ct.start_logging(Name=arn)
    if r.get("advancedEventSelectors"):
        ct.put_event_selectors(
            TrailName=arn,
            AdvancedEventSelectors=_advanced_selectors(r.get("advancedEventSelectors")),
        )
    elif r.get("eventSelectors"):
        ct.put_event_selectors(TrailName=arn, EventSelectors=_pascal(r.get("eventSelectors")))
    if r.get("insightSelectors"):
        ct.put_insight_selectors(
            TrailName=arn, InsightSelectors=_pascal(r.get("insightSelectors"))
        )
    return arn, {"arn": arn, "name": name, "homeRegion": r.region}


# Pulumi names the operator lists of a field selector in the plural (`startsWiths`,
# `notStartsWiths`, ...); the CloudTrail API names them in the singular (`StartsWith`,
# `NotStartsWith`, ...), and rejects the plural as an unknown parameter.
_FIELD_SELECTOR_KEYS = {
    "field": "Field", "equals": "Equals", "notEquals": "NotEquals",
    "startsWiths": "StartsWith", "notStartsWiths": "NotStartsWith",
    "endsWiths": "EndsWith", "notEndsWiths": "NotEndsWith",
}


def _advanced_selectors(selectors: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Pulumi advanced event selectors -> the PutEventSelectors shape."""
    converted: list[dict[str, Any]] = []
    for selector in selectors:
        fields = []
        for field_selector in selector.get("fieldSelectors") or []:
            unknown = set(field_selector) - set(_FIELD_SELECTOR_KEYS)
            if unknown:
                raise BridgeError(
                    f"advanced event selector field keys {sorted(unknown)} are not mapped "
                    "to the CloudTrail API; add them to _FIELD_SELECTOR_KEYS"
                )
            fields.append({
                _FIELD_SELECTOR_KEYS[k]: v for k, v in field_selector.items()
                if v is not None and v != []
            })
        converted.append(_clean({"Name": selector.get("name"), "FieldSelectors": fields}))
    return converted


@handles("aws:cloudwatch/logGroup:LogGroup", api="logs:CreateLogGroup")
def _log_group(r: _Request) -> tuple[str, dict[str, Any]]:
    logs = r.client("logs")
    name = r.autoname(max_len=512)
    kwargs: dict[str, Any] = {"logGroupName": name}
    if r.get("kmsKeyId"):
        kwargs["kmsKeyId"] = r.get("kmsKeyId")
    if r.get("tags"):
        kwargs["tags"] = dict(r.get("tags"))
    logs.create_log_group(**kwargs)
    if r.get("retentionInDays"):
        logs.put_retention_policy(logGroupName=name, retentionInDays=int(r.get("retentionInDays")))
    return name, {"name": name, "arn": r.arn("logs", f"log-group:{name}")}


@handles("aws:cloudwatch/logMetricFilter:LogMetricFilter", api="logs:PutMetricFilter")
def _metric_filter(r: _Request) -> tuple[str, dict[str, Any]]:
    mt = r.get("metricTransformation", {})
    transformation = _clean(
        {
            "metricName": mt.get("name"),
            "metricNamespace": mt.get("namespace"),
            "metricValue": mt.get("value"),
            "defaultValue": float(mt["defaultValue"]) if mt.get("defaultValue") else None,
            "unit": mt.get("unit"),
        }
    )
    name = str(r.get("name"))
    r.client("logs").put_metric_filter(
        logGroupName=r.get("logGroupName"),
        filterName=name,
        filterPattern=r.get("pattern", ""),
        metricTransformations=[transformation],
    )
    return name, {}


@handles("aws:cloudwatch/logResourcePolicy:LogResourcePolicy", api="logs:PutResourcePolicy")
def _log_resource_policy(r: _Request) -> tuple[str, dict[str, Any]]:
    name = str(r.get("policyName"))
    r.client("logs").put_resource_policy(
        policyName=name, policyDocument=_policy_text(r.get("policyDocument"))
    )
    return name, {}


@handles("aws:cloudwatch/metricAlarm:MetricAlarm", api="cloudwatch:PutMetricAlarm")
def _metric_alarm(r: _Request) -> tuple[str, dict[str, Any]]:
    name = r.autoname(max_len=255)
    kwargs = _clean(
        {
            "AlarmName": name,
            "AlarmDescription": r.get("alarmDescription"),
            "ActionsEnabled": r.get("actionsEnabled", True),
            "AlarmActions": r.get("alarmActions"),
            "OKActions": r.get("okActions"),
            "InsufficientDataActions": r.get("insufficientDataActions"),
            "MetricName": r.get("metricName"),
            "Namespace": r.get("namespace"),
            "Statistic": r.get("statistic"),
            "Period": int(r.get("period")) if r.get("period") else None,
            "EvaluationPeriods": int(r.get("evaluationPeriods", 1)),
            "DatapointsToAlarm": r.get("datapointsToAlarm"),
            "Threshold": float(r.get("threshold", 0)),
            "ComparisonOperator": r.get("comparisonOperator"),
            "TreatMissingData": r.get("treatMissingData"),
            "Dimensions": [{"Name": k, "Value": v} for k, v in r.get("dimensions", {}).items()]
            or None,
            "Tags": _tag_list(r.get("tags")) or None,
        }
    )
    r.client("cloudwatch").put_metric_alarm(**kwargs)
    return name, {"arn": r.arn("cloudwatch", f"alarm:{name}"), "alarmName": name}


@handles("aws:cloudwatch/eventRule:EventRule", api="events:PutRule")
def _event_rule(r: _Request) -> tuple[str, dict[str, Any]]:
    name = r.autoname(max_len=64)
    state = r.get("state") or ("DISABLED" if r.get("isEnabled") is False else "ENABLED")
    kwargs = _clean(
        {
            "Name": name,
            "EventPattern": r.get("eventPattern"),
            "ScheduleExpression": r.get("scheduleExpression"),
            "Description": r.get("description"),
            "State": state,
            "RoleArn": r.get("roleArn"),
            "EventBusName": r.get("eventBusName"),
            "Tags": _tag_list(r.get("tags")) or None,
        }
    )
    arn = r.client("events").put_rule(**kwargs)["RuleArn"]
    bus = r.get("eventBusName", "default")
    rule_id = name if bus == "default" else f"{bus}/{name}"
    return rule_id, {"arn": arn, "name": name}


@handles("aws:cloudwatch/eventTarget:EventTarget", api="events:PutTargets")
def _event_target(r: _Request) -> tuple[str, dict[str, Any]]:
    target_id = r.get("targetId") or r.autoname()
    transformer = r.get("inputTransformer")
    target = _clean(
        {
            "Id": target_id,
            "Arn": r.get("arn"),
            "RoleArn": r.get("roleArn"),
            "Input": r.get("input"),
            "InputPath": r.get("inputPath"),
            "InputTransformer": (
                _clean(
                    {
                        "InputPathsMap": transformer.get("inputPaths"),
                        "InputTemplate": transformer.get("inputTemplate"),
                    }
                )
                if transformer
                else None
            ),
            "DeadLetterConfig": (
                {"Arn": r.get("deadLetterConfig")["arn"]} if r.get("deadLetterConfig") else None
            ),
            "RetryPolicy": _pascal(r.get("retryPolicy")) if r.get("retryPolicy") else None,
        }
    )
    kwargs = _clean(
        {"Rule": r.get("rule"), "EventBusName": r.get("eventBusName"), "Targets": [target]}
    )
    result = r.client("events").put_targets(**kwargs)
    if result.get("FailedEntryCount"):
        raise BridgeError(f"events PutTargets failed for {r.name}: {result['FailedEntries']}")
    return f"{r.get('rule')}-{target_id}", {"targetId": target_id}


# ---------------------------------------------------------------------------------
# Recording: VPC Flow Logs, AWS Config, Route 53 Resolver query logs, account guard rails
@handles("aws:ec2/flowLog:FlowLog", api="ec2:CreateFlowLogs")
def _flow_log(r: _Request) -> tuple[str, dict[str, Any]]:
    resource_id = r.get("vpcId") or r.get("subnetId") or r.get("eniId")
    kind = "VPC" if r.get("vpcId") else "Subnet" if r.get("subnetId") else "NetworkInterface"
    kwargs = _clean({
        "ResourceIds": [resource_id],
        "ResourceType": kind,
        "TrafficType": r.get("trafficType"),
        "LogDestinationType": r.get("logDestinationType", "cloud-watch-logs"),
        "LogDestination": r.get("logDestination"),
        "DeliverLogsPermissionArn": r.get("iamRoleArn"),
        "MaxAggregationInterval": r.get("maxAggregationInterval"),
        "TagSpecifications": [{"ResourceType": "vpc-flow-log",
                               "Tags": _tag_list(r.get("tags"))}] if r.get("tags") else None,
    })
    result = r.client("ec2").create_flow_logs(**kwargs)
    if result.get("Unsuccessful"):
        raise BridgeError(f"ec2 CreateFlowLogs failed for {r.name}: {result['Unsuccessful']}")
    flow_log_id = result["FlowLogIds"][0]
    return flow_log_id, {"arn": r.arn("ec2", f"vpc-flow-log/{flow_log_id}")}


@handles("aws:cfg/recorder:Recorder", api="config:PutConfigurationRecorder")
def _config_recorder(r: _Request) -> tuple[str, dict[str, Any]]:
    name = r.get("name", "default")
    group = r.get("recordingGroup") or {}
    r.client("config").put_configuration_recorder(ConfigurationRecorder=_clean({
        "name": name,
        "roleARN": r.get("roleArn"),
        "recordingGroup": _clean({
            "allSupported": group.get("allSupported", True),
            "includeGlobalResourceTypes": group.get("includeGlobalResourceTypes", False),
            "resourceTypes": group.get("resourceTypes"),
        }),
    }))
    return str(name), {"name": name}


@handles("aws:cfg/deliveryChannel:DeliveryChannel", api="config:PutDeliveryChannel")
def _config_delivery_channel(r: _Request) -> tuple[str, dict[str, Any]]:
    name = r.get("name", "default")
    snapshot = r.get("snapshotDeliveryProperties") or {}
    r.client("config").put_delivery_channel(DeliveryChannel=_clean({
        "name": name,
        "s3BucketName": r.get("s3BucketName"),
        "s3KeyPrefix": r.get("s3KeyPrefix"),
        "s3KmsKeyArn": r.get("s3KmsKeyArn"),
        "snsTopicARN": r.get("snsTopicArn"),
        "configSnapshotDeliveryProperties": _clean(
            {"deliveryFrequency": snapshot.get("deliveryFrequency")}) or None,
    }))
    return str(name), {"name": name}


@handles("aws:cfg/recorderStatus:RecorderStatus", api="config:StartConfigurationRecorder")
def _config_recorder_status(r: _Request) -> tuple[str, dict[str, Any]]:
    name = str(r.get("name"))
    config = r.client("config")
    if r.get("isEnabled"):
        config.start_configuration_recorder(ConfigurationRecorderName=name)
    else:
        config.stop_configuration_recorder(ConfigurationRecorderName=name)
    return name, {}


@handles("aws:s3/accountPublicAccessBlock:AccountPublicAccessBlock",
         api="s3control:PutPublicAccessBlock")
def _account_public_access_block(r: _Request) -> tuple[str, dict[str, Any]]:
    account = str(r.get("accountId") or r.account)
    r.client("s3control").put_public_access_block(
        AccountId=account,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": bool(r.get("blockPublicAcls", False)),
            "IgnorePublicAcls": bool(r.get("ignorePublicAcls", False)),
            "BlockPublicPolicy": bool(r.get("blockPublicPolicy", False)),
            "RestrictPublicBuckets": bool(r.get("restrictPublicBuckets", False)),
        },
    )
    return account, {"accountId": account}


@handles("aws:route53/resolverQueryLogConfig:ResolverQueryLogConfig",
         api="route53resolver:CreateResolverQueryLogConfig")
def _resolver_query_log_config(r: _Request) -> tuple[str, dict[str, Any]]:
    config = r.client("route53resolver").create_resolver_query_log_config(**_clean({
        "Name": r.autoname(max_len=64),
        "DestinationArn": r.get("destinationArn"),
        "CreatorRequestId": uuid.uuid4().hex,
        "Tags": _tag_list(r.get("tags")) or None,
    }))["ResolverQueryLogConfig"]
    return str(config["Id"]), {"arn": config["Arn"], "name": config["Name"]}


@handles("aws:route53/resolverQueryLogConfigAssociation:ResolverQueryLogConfigAssociation",
         api="route53resolver:AssociateResolverQueryLogConfig")
def _resolver_query_log_association(r: _Request) -> tuple[str, dict[str, Any]]:
    association = r.client("route53resolver").associate_resolver_query_log_config(
        ResolverQueryLogConfigId=r.get("resolverQueryLogConfigId"),
        ResourceId=r.get("resourceId"),
    )["ResolverQueryLogConfigAssociation"]
    return str(association["Id"]), {}


@handles("aws:accessanalyzer/analyzer:Analyzer", recorded_only="moto has no CreateAnalyzer")
def _access_analyzer(r: _Request) -> tuple[str, dict[str, Any]]:
    name = r.autoname("analyzerName", max_len=255)
    return name, {"arn": r.arn("access-analyzer", f"analyzer/{name}")}


@handles("aws:guardduty/malwareProtectionPlan:MalwareProtectionPlan",
         recorded_only="moto has no CreateMalwareProtectionPlan")
def _malware_protection_plan(r: _Request) -> tuple[str, dict[str, Any]]:
    plan_id = uuid.uuid4().hex[:20]
    return plan_id, {"arn": r.arn("guardduty", f"malware-protection-plan/{plan_id}")}


# ---------------------------------------------------------------------------------
# IAM
@handles("aws:iam/role:Role", api="iam:CreateRole")
def _iam_role(r: _Request) -> tuple[str, dict[str, Any]]:
    iam = r.client("iam")
    name = r.autoname(max_len=64)
    kwargs = _clean(
        {
            "RoleName": name,
            "Path": r.get("path", "/"),
            "AssumeRolePolicyDocument": _policy_text(r.get("assumeRolePolicy")),
            "Description": r.get("description"),
            "MaxSessionDuration": int(r.get("maxSessionDuration", 3600)),
            "PermissionsBoundary": r.get("permissionsBoundary"),
            "Tags": _tag_list(r.get("tags")) or None,
        }
    )
    role = iam.create_role(**kwargs)["Role"]
    for inline in r.get("inlinePolicies", []):
        if inline.get("name") and inline.get("policy"):
            iam.put_role_policy(
                RoleName=name,
                PolicyName=inline["name"],
                PolicyDocument=_policy_text(inline["policy"]),
            )
    for policy_arn in r.get("managedPolicyArns", []):
        iam.attach_role_policy(RoleName=name, PolicyArn=policy_arn)
    return name, {"arn": role["Arn"], "name": name, "uniqueId": role["RoleId"]}


@handles("aws:iam/rolePolicy:RolePolicy", api="iam:PutRolePolicy")
def _iam_role_policy(r: _Request) -> tuple[str, dict[str, Any]]:
    name = r.autoname(max_len=128)
    r.client("iam").put_role_policy(
        RoleName=r.get("role"), PolicyName=name, PolicyDocument=_policy_text(r.get("policy"))
    )
    return f"{r.get('role')}:{name}", {"name": name}


AWS_MANAGED_POLICY = re.compile(r"^arn:aws[a-z-]*:iam::aws:policy/")


@handles("aws:iam/rolePolicyAttachment:RolePolicyAttachment", api="iam:AttachRolePolicy")
def _iam_attachment(r: _Request) -> tuple[str, dict[str, Any]]:
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
def _iam_policy(r: _Request) -> tuple[str, dict[str, Any]]:
    name = r.autoname(max_len=128)
    kwargs = _clean(
        {
            "PolicyName": name,
            "Path": r.get("path", "/"),
            "PolicyDocument": _policy_text(r.get("policy")),
            "Description": r.get("description"),
            "Tags": _tag_list(r.get("tags")) or None,
        }
    )
    policy = r.client("iam").create_policy(**kwargs)["Policy"]
    return policy["Arn"], {"arn": policy["Arn"], "name": name, "policyId": policy["PolicyId"]}


@handles("aws:iam/instanceProfile:InstanceProfile", api="iam:CreateInstanceProfile")
def _iam_instance_profile(r: _Request) -> tuple[str, dict[str, Any]]:
    iam = r.client("iam")
    name = r.autoname(max_len=128)
    profile = iam.create_instance_profile(InstanceProfileName=name, Path=r.get("path", "/"))
    if r.get("role"):
        iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=r.get("role"))
    arn = profile["InstanceProfile"]["Arn"]
    return name, {"arn": arn, "name": name}


# ---------------------------------------------------------------------------------
# GuardDuty, Inspector, Security Hub
@handles("aws:guardduty/detector:Detector", api="guardduty:CreateDetector")
def _detector(r: _Request) -> tuple[str, dict[str, Any]]:
    kwargs = _clean(
        {
            "Enable": bool(r.get("enable", True)),
            "FindingPublishingFrequency": r.get("findingPublishingFrequency"),
            "Tags": dict(r.get("tags", {})) or None,
        }
    )
    detector_id = r.client("guardduty").create_detector(**kwargs)["DetectorId"]
    return detector_id, {
        "accountId": r.account,
        "arn": r.arn("guardduty", f"detector/{detector_id}"),
    }


@handles(
    "aws:guardduty/detectorFeature:DetectorFeature",
    api="guardduty:UpdateDetector(Features)",
)
def _detector_feature(r: _Request) -> tuple[str, dict[str, Any]]:
    gd = r.client("guardduty")
    detector_id = r.get("detectorId")
    with r.bridge.keyed_lock(f"guardduty-detector:{detector_id}"):
        _merge_feature(r, gd, detector_id)
    return f"{detector_id}/{r.get('name')}", {}


def _merge_feature(r: _Request, gd: Any, detector_id: str) -> None:
    current = gd.get_detector(DetectorId=detector_id).get("Features", [])
    feature = _clean(
        {
            "Name": r.get("name"),
            "Status": r.get("status"),
            "AdditionalConfiguration": [
                {"Name": c.get("name"), "Status": c.get("status")}
                for c in r.get("additionalConfigurations", [])
            ]
            or None,
        }
    )
    merged = [
        {"Name": f["Name"], "Status": f["Status"]}
        for f in current
        if f.get("Name") != feature["Name"]
    ]
    merged.append(feature)
    gd.update_detector(DetectorId=detector_id, Features=merged)


@handles(
    "aws:guardduty/publishingDestination:PublishingDestination",
    recorded_only="moto has no CreatePublishingDestination",
)
def _publishing_destination(r: _Request) -> tuple[str, dict[str, Any]]:
    return f"{r.get('detectorId')}:{uuid.uuid4().hex}", {}


@handles("aws:inspector2/enabler:Enabler", api="inspector2:Enable")
def _inspector_enabler(r: _Request) -> tuple[str, dict[str, Any]]:
    accounts = list(r.get("accountIds", [r.account]))
    resource_types = list(r.get("resourceTypes", []))
    r.client("inspector2").enable(accountIds=accounts, resourceTypes=resource_types)
    return f"{','.join(accounts)}-{','.join(resource_types)}", {}


@handles("aws:securityhub/account:Account", api="securityhub:EnableSecurityHub")
def _securityhub_account(r: _Request) -> tuple[str, dict[str, Any]]:
    kwargs = _clean(
        {
            "EnableDefaultStandards": bool(r.get("enableDefaultStandards", True)),
            "ControlFindingGenerator": r.get("controlFindingGenerator"),
        }
    )
    r.client("securityhub").enable_security_hub(**kwargs)
    return r.account, {"arn": r.arn("securityhub", "hub/default")}


@handles(
    "aws:securityhub/standardsSubscription:StandardsSubscription",
    recorded_only="moto has no BatchEnableStandards",
)
def _standards_subscription(r: _Request) -> tuple[str, dict[str, Any]]:
    standard = str(r.get("standardsArn"))
    suffix = standard.split(":", 5)[-1].replace("standards/", "subscription/", 1)
    return r.arn("securityhub", suffix), {}


@handles(
    "aws:securityhub/findingAggregator:FindingAggregator",
    recorded_only="moto has no CreateFindingAggregator",
)
def _finding_aggregator(r: _Request) -> tuple[str, dict[str, Any]]:
    arn = r.arn("securityhub", f"finding-aggregator/{uuid.uuid4()}")
    return arn, {}


# ---------------------------------------------------------------------------------
# Backup
@handles("aws:backup/vault:Vault", api="backup:CreateBackupVault")
def _backup_vault(r: _Request) -> tuple[str, dict[str, Any]]:
    name = r.autoname(max_len=50)
    kwargs = _clean(
        {
            "BackupVaultName": name,
            "EncryptionKeyArn": r.get("kmsKeyArn"),
            "BackupVaultTags": dict(r.get("tags", {})) or None,
        }
    )
    vault = r.client("backup").create_backup_vault(**kwargs)
    return name, {"arn": vault["BackupVaultArn"], "name": name, "recoveryPoints": 0}


@handles(
    "aws:backup/vaultLockConfiguration:VaultLockConfiguration",
    api="backup:PutBackupVaultLockConfiguration",
)
def _backup_vault_lock(r: _Request) -> tuple[str, dict[str, Any]]:
    vault = str(r.get("backupVaultName"))
    kwargs = _clean(
        {
            "BackupVaultName": vault,
            "MinRetentionDays": r.get("minRetentionDays"),
            "MaxRetentionDays": r.get("maxRetentionDays"),
            "ChangeableForDays": r.get("changeableForDays"),
        }
    )
    r.client("backup").put_backup_vault_lock_configuration(**kwargs)
    return vault, {"backupVaultArn": r.arn("backup", f"backup-vault:{vault}")}


def _backup_lifecycle(lifecycle: Mapping[str, Any]) -> dict[str, Any]:
    return _clean({
        "MoveToColdStorageAfterDays": lifecycle.get("coldStorageAfter"),
        "DeleteAfterDays": lifecycle.get("deleteAfter"),
        "OptInToArchiveForSupportedResources": lifecycle.get(
            "optInToArchiveForSupportedResources"),
    })


@handles("aws:backup/plan:Plan", api="backup:CreateBackupPlan")
def _backup_plan(r: _Request) -> tuple[str, dict[str, Any]]:
    name = r.autoname(max_len=50)
    rules = []
    for rule in r.get("rules", []):
        api_rule = _clean({
            "RuleName": rule.get("ruleName"),
            "TargetBackupVaultName": rule.get("targetVaultName"),
            "ScheduleExpression": rule.get("schedule"),
            "ScheduleExpressionTimezone": rule.get("scheduleExpressionTimezone"),
            "StartWindowMinutes": rule.get("startWindow"),
            "CompletionWindowMinutes": rule.get("completionWindow"),
            "EnableContinuousBackup": rule.get("enableContinuousBackup"),
            "RecoveryPointTags": dict(rule["recoveryPointTags"])
            if rule.get("recoveryPointTags") else None,
            "Lifecycle": _backup_lifecycle(rule["lifecycle"]) if rule.get("lifecycle")
            else None,
            "CopyActions": [
                _clean({
                    "DestinationBackupVaultArn": c.get("destinationVaultArn"),
                    "Lifecycle": _backup_lifecycle(c["lifecycle"]) if c.get("lifecycle")
                    else None,
                })
                for c in rule.get("copyActions") or []
            ] or None,
        })
        rules.append(api_rule)
    kwargs = _clean(
        {
            "BackupPlan": {"BackupPlanName": name, "Rules": rules},
            "BackupPlanTags": dict(r.get("tags", {})) or None,
        }
    )
    plan = r.client("backup").create_backup_plan(**kwargs)
    return plan["BackupPlanId"], {
        "arn": plan["BackupPlanArn"],
        "name": name,
        "version": plan["VersionId"],
    }


@handles("aws:backup/selection:Selection", recorded_only="moto has no CreateBackupSelection")
def _backup_selection(r: _Request) -> tuple[str, dict[str, Any]]:
    return uuid.uuid4().hex, {}


@handles(
    "aws:backup/vaultNotifications:VaultNotifications",
    recorded_only="moto has no PutBackupVaultNotifications",
)
def _backup_notifications(r: _Request) -> tuple[str, dict[str, Any]]:
    vault = str(r.get("backupVaultName"))
    return vault, {"backupVaultArn": r.arn("backup", f"backup-vault:{vault}")}


@handles(
    "aws:backup/vaultPolicy:VaultPolicy", recorded_only="moto has no PutBackupVaultAccessPolicy"
)
def _backup_vault_policy(r: _Request) -> tuple[str, dict[str, Any]]:
    vault = str(r.get("backupVaultName"))
    return vault, {"backupVaultArn": r.arn("backup", f"backup-vault:{vault}")}


# ---------------------------------------------------------------------------------
# EC2 security groups
def _ip_permissions(rules: list[Mapping[str, Any]], self_group: str) -> list[dict[str, Any]]:
    perms = []
    for rule in rules:
        groups = [{"GroupId": g} for g in rule.get("securityGroups") or []]
        if rule.get("self"):
            groups.append({"GroupId": self_group})
        perms.append(
            _clean(
                {
                    "IpProtocol": str(rule.get("protocol", "-1")),
                    "FromPort": int(rule.get("fromPort", 0)),
                    "ToPort": int(rule.get("toPort", 0)),
                    "IpRanges": [
                        {"CidrIp": c, **({"Description": rule["description"]} if rule.get(
                            "description") else {})}
                        for c in rule.get("cidrBlocks") or []
                    ]
                    or None,
                    "Ipv6Ranges": [{"CidrIpv6": c} for c in rule.get("ipv6CidrBlocks") or []]
                    or None,
                    "UserIdGroupPairs": groups or None,
                    "PrefixListIds": [
                        {"PrefixListId": p} for p in rule.get("prefixListIds") or []
                    ]
                    or None,
                }
            )
        )
    return perms


@handles("aws:ec2/securityGroup:SecurityGroup", api="ec2:CreateSecurityGroup")
def _security_group(r: _Request) -> tuple[str, dict[str, Any]]:
    ec2 = r.client("ec2")
    name = r.autoname(max_len=255)
    kwargs = _clean(
        {
            "GroupName": name,
            "Description": r.get("description", "Managed by Pulumi"),
            "VpcId": r.get("vpcId"),
            "TagSpecifications": (
                [{"ResourceType": "security-group", "Tags": _tag_list(r.get("tags"))}]
                if r.get("tags")
                else None
            ),
        }
    )
    group_id = ec2.create_security_group(**kwargs)["GroupId"]
    # The provider removes the egress rule AWS adds to every new VPC group, so that only
    # the declared rules exist (an isolation group declares none).
    group = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"][0]
    if group.get("IpPermissionsEgress"):
        ec2.revoke_security_group_egress(
            GroupId=group_id, IpPermissions=group["IpPermissionsEgress"]
        )
    if r.get("ingress"):
        ec2.authorize_security_group_ingress(
            GroupId=group_id, IpPermissions=_ip_permissions(r.get("ingress"), group_id)
        )
    if r.get("egress"):
        ec2.authorize_security_group_egress(
            GroupId=group_id, IpPermissions=_ip_permissions(r.get("egress"), group_id)
        )
    return group_id, {
        "arn": r.arn("ec2", f"security-group/{group_id}"),
        "name": name,
        "ownerId": r.account,
    }


@handles(
    "aws:ec2/securityGroupRule:SecurityGroupRule",
    api="ec2:AuthorizeSecurityGroupIngress/Egress",
)
def _security_group_rule(r: _Request) -> tuple[str, dict[str, Any]]:
    group_id = str(r.get("securityGroupId"))
    rule = dict(r.inputs)
    if r.get("sourceSecurityGroupId"):
        rule["securityGroups"] = [r.get("sourceSecurityGroupId")]
    perms = _ip_permissions([rule], group_id)
    ec2 = r.client("ec2")
    if r.get("type") == "egress":
        ec2.authorize_security_group_egress(GroupId=group_id, IpPermissions=perms)
    else:
        ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=perms)
    return f"sgrule-{uuid.uuid4().int % 10**10}", {}


def _vpc_rule(r: _Request, egress: bool) -> tuple[str, dict[str, Any]]:
    group_id = str(r.get("securityGroupId"))
    perm: dict[str, Any] = {"IpProtocol": str(r.get("ipProtocol", "-1"))}
    if r.get("fromPort") is not None:
        perm["FromPort"] = int(r.get("fromPort"))
    if r.get("toPort") is not None:
        perm["ToPort"] = int(r.get("toPort"))
    if r.get("cidrIpv4"):
        perm["IpRanges"] = [{"CidrIp": r.get("cidrIpv4")}]
    if r.get("cidrIpv6"):
        perm["Ipv6Ranges"] = [{"CidrIpv6": r.get("cidrIpv6")}]
    if r.get("referencedSecurityGroupId"):
        perm["UserIdGroupPairs"] = [{"GroupId": r.get("referencedSecurityGroupId")}]
    if r.get("prefixListId"):
        perm["PrefixListIds"] = [{"PrefixListId": r.get("prefixListId")}]
    ec2 = r.client("ec2")
    call = ec2.authorize_security_group_egress if egress else ec2.authorize_security_group_ingress
    result = call(GroupId=group_id, IpPermissions=[perm])
    rules = result.get("SecurityGroupRules") or []
    rule_id = rules[0]["SecurityGroupRuleId"] if rules else f"sgr-{uuid.uuid4().hex[:17]}"
    return rule_id, {
        "securityGroupRuleId": rule_id,
        "arn": r.arn("ec2", f"security-group-rule/{rule_id}"),
    }


@handles(
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
    api="ec2:AuthorizeSecurityGroupIngress",
)
def _vpc_ingress(r: _Request) -> tuple[str, dict[str, Any]]:
    return _vpc_rule(r, egress=False)


@handles(
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
    api="ec2:AuthorizeSecurityGroupEgress",
)
def _vpc_egress(r: _Request) -> tuple[str, dict[str, Any]]:
    return _vpc_rule(r, egress=True)


# ---------------------------------------------------------------------------------
# SNS, SQS, SSM
@handles("aws:sns/topic:Topic", api="sns:CreateTopic")
def _sns_topic(r: _Request) -> tuple[str, dict[str, Any]]:
    name = r.autoname(max_len=256)
    if r.get("fifoTopic") and not name.endswith(".fifo"):
        name += ".fifo"
    attributes = _clean(
        {
            "KmsMasterKeyId": r.get("kmsMasterKeyId"),
            "Policy": _policy_text(r.get("policy")) if r.get("policy") else None,
            "DisplayName": r.get("displayName"),
            "FifoTopic": "true" if r.get("fifoTopic") else None,
        }
    )
    kwargs = _clean(
        {"Name": name, "Attributes": attributes, "Tags": _tag_list(r.get("tags")) or None}
    )
    arn = r.client("sns").create_topic(**kwargs)["TopicArn"]
    return arn, {"arn": arn, "name": name}


@handles("aws:sns/topicPolicy:TopicPolicy", api="sns:SetTopicAttributes")
def _sns_topic_policy(r: _Request) -> tuple[str, dict[str, Any]]:
    r.client("sns").set_topic_attributes(
        TopicArn=r.get("arn"), AttributeName="Policy", AttributeValue=_policy_text(r.get("policy"))
    )
    return str(r.get("arn")), {"owner": r.account}


@handles("aws:sns/topicSubscription:TopicSubscription", api="sns:Subscribe")
def _sns_subscription(r: _Request) -> tuple[str, dict[str, Any]]:
    attributes = _clean(
        {
            "RawMessageDelivery": "true" if r.get("rawMessageDelivery") else None,
            "RedrivePolicy": r.get("redrivePolicy"),
            "FilterPolicy": r.get("filterPolicy"),
        }
    )
    kwargs = _clean(
        {
            "TopicArn": r.get("topic"),
            "Protocol": r.get("protocol"),
            "Endpoint": r.get("endpoint"),
            "Attributes": attributes or None,
            "ReturnSubscriptionArn": True,
        }
    )
    arn = r.client("sns").subscribe(**kwargs)["SubscriptionArn"]
    return arn, {"arn": arn}


@handles("aws:sqs/queue:Queue", api="sqs:CreateQueue")
def _sqs_queue(r: _Request) -> tuple[str, dict[str, Any]]:
    name = r.autoname(max_len=80)
    if r.get("fifoQueue") and not name.endswith(".fifo"):
        name += ".fifo"
    attributes = {
        k: str(v).lower() if isinstance(v, bool) else str(v)
        for k, v in _clean(
            {
                "KmsMasterKeyId": r.get("kmsMasterKeyId"),
                "SqsManagedSseEnabled": r.get("sqsManagedSseEnabled"),
                "MessageRetentionPeriod": r.get("messageRetentionSeconds"),
                "VisibilityTimeout": r.get("visibilityTimeoutSeconds"),
                "Policy": _policy_text(r.get("policy")) if r.get("policy") else None,
                "FifoQueue": r.get("fifoQueue") or None,
            }
        ).items()
    }
    sqs = r.client("sqs")
    kwargs: dict[str, Any] = {"QueueName": name, "Attributes": attributes}
    if r.get("tags"):
        kwargs["tags"] = dict(r.get("tags"))
    url = sqs.create_queue(**kwargs)["QueueUrl"]
    arn = r.arn("sqs", name)
    return url, {"arn": arn, "url": url, "name": name}


@handles("aws:sqs/queuePolicy:QueuePolicy", api="sqs:SetQueueAttributes")
def _sqs_queue_policy(r: _Request) -> tuple[str, dict[str, Any]]:
    r.client("sqs").set_queue_attributes(
        QueueUrl=r.get("queueUrl"), Attributes={"Policy": _policy_text(r.get("policy"))}
    )
    return str(r.get("queueUrl")), {}


@handles("aws:ssm/parameter:Parameter", api="ssm:PutParameter")
def _ssm_parameter(r: _Request) -> tuple[str, dict[str, Any]]:
    name = r.autoname(max_len=2048)
    kwargs = _clean(
        {
            "Name": name,
            "Value": str(r.get("value", r.get("insecureValue", ""))),
            "Type": r.get("type", "String"),
            "Description": r.get("description"),
            "Tier": r.get("tier"),
            "KeyId": r.get("keyId"),
            "DataType": r.get("dataType"),
            "Tags": _tag_list(r.get("tags")) or None,
        }
    )
    version = r.client("ssm").put_parameter(**kwargs)["Version"]
    return name, {"arn": r.arn("ssm", f"parameter/{name.lstrip('/')}"), "name": name,
                  "version": version}


# ---------------------------------------------------------------------------------
# Lambda (the opt-in ResponseAutomation component)
def _zip_bytes(archive: Any) -> bytes:
    """A Pulumi FileArchive (directory or .zip) or AssetArchive, as zip bytes."""
    import io
    import zipfile
    from pathlib import Path

    def add_dir(zf: zipfile.ZipFile, root: Path, prefix: str) -> None:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                zf.write(path, f"{prefix}{path.relative_to(root).as_posix()}")

    def add(zf: zipfile.ZipFile, name: str, item: Any) -> None:
        if isinstance(item, pulumi.StringAsset):
            zf.writestr(name, item.text)
        elif isinstance(item, (pulumi.FileAsset, pulumi.FileArchive)):
            path = Path(item.path)
            if not path.exists():
                raise BridgeError(f"archive member {name!r}: {path} does not exist")
            if path.is_dir():
                add_dir(zf, path, f"{name.rstrip('/')}/" if name else "")
            else:
                zf.write(path, name or path.name)
        elif isinstance(item, pulumi.AssetArchive):
            for member, asset in sorted(item.assets.items()):
                add(zf, f"{name}/{member}" if name else member, asset)
        else:
            raise BridgeError(f"archive member {name!r} of type {type(item).__name__} is not "
                              "supported by the drill bridge")

    if isinstance(archive, pulumi.FileArchive) and str(archive.path).endswith(".zip"):
        return Path(archive.path).read_bytes()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        add(zf, "", archive)
    return buffer.getvalue()


@handles("aws:lambda/layerVersion:LayerVersion", api="lambda:PublishLayerVersion")
def _lambda_layer(r: _Request) -> tuple[str, dict[str, Any]]:
    kwargs = _clean({
        "LayerName": r.get("layerName"),
        "Description": r.get("description"),
        "Content": {"ZipFile": _zip_bytes(r.get("code"))},
        "CompatibleRuntimes": r.get("compatibleRuntimes"),
        "CompatibleArchitectures": r.get("compatibleArchitectures"),
    })
    layer = r.client("lambda").publish_layer_version(**kwargs)
    arn = layer["LayerVersionArn"]
    return arn, {"arn": arn, "layerArn": layer["LayerArn"], "version": str(layer["Version"])}


@handles("aws:lambda/function:Function", api="lambda:CreateFunction")
def _lambda_function(r: _Request) -> tuple[str, dict[str, Any]]:
    name = r.autoname(max_len=64)
    environment = (r.get("environment") or {}).get("variables")
    kwargs = _clean({
        "FunctionName": name,
        "Role": r.get("role"),
        "Runtime": r.get("runtime"),
        "Handler": r.get("handler"),
        "Code": {"ZipFile": _zip_bytes(r.get("code"))},
        "Description": r.get("description"),
        "Timeout": r.get("timeout"),
        "MemorySize": r.get("memorySize"),
        "Architectures": r.get("architectures"),
        "Layers": r.get("layers"),
        "KMSKeyArn": r.get("kmsKeyArn"),
        "Environment": {"Variables": dict(environment)} if environment else None,
        "DeadLetterConfig": {"TargetArn": r.get("deadLetterConfig")["targetArn"]}
        if r.get("deadLetterConfig") else None,
        "Tags": dict(r.get("tags", {})) or None,
    })
    lam = r.client("lambda")
    function = lam.create_function(**kwargs)
    if r.get("reservedConcurrentExecutions") not in (None, -1):
        lam.put_function_concurrency(
            FunctionName=name,
            ReservedConcurrentExecutions=int(r.get("reservedConcurrentExecutions")))
    return name, {"arn": function["FunctionArn"], "name": name,
                  "invokeArn": f"arn:aws:apigateway:{r.region}:lambda:path/2015-03-31/"
                               f"functions/{function['FunctionArn']}/invocations",
                  "qualifiedArn": f"{function['FunctionArn']}:$LATEST",
                  "version": "$LATEST"}


@handles("aws:lambda/permission:Permission", api="lambda:AddPermission")
def _lambda_permission(r: _Request) -> tuple[str, dict[str, Any]]:
    statement_id = r.get("statementId") or r.autoname("statementId", max_len=100)
    kwargs = _clean({
        "FunctionName": r.get("function"),
        "StatementId": statement_id,
        "Action": r.get("action"),
        "Principal": r.get("principal"),
        "SourceArn": r.get("sourceArn"),
        "SourceAccount": r.get("sourceAccount"),
    })
    r.client("lambda").add_permission(**kwargs)
    return str(statement_id), {"statementId": statement_id}


@handles(
    "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig",
    api="lambda:PutFunctionEventInvokeConfig",
)
def _lambda_invoke_config(r: _Request) -> tuple[str, dict[str, Any]]:
    kwargs = _clean({
        "FunctionName": r.get("functionName"),
        "MaximumRetryAttempts": r.get("maximumRetryAttempts"),
        "MaximumEventAgeInSeconds": r.get("maximumEventAgeInSeconds"),
    })
    r.client("lambda").put_function_event_invoke_config(**kwargs)
    return str(r.get("functionName")), {}


# ---------------------------------------------------------------------------------
# Invokes
def _inv_caller_identity(b: MotoBridge, region: str, args: dict[str, Any]) -> dict[str, Any]:
    ident = b.client("sts", region).get_caller_identity()
    return {
        "accountId": ident["Account"],
        "arn": ident["Arn"],
        "userId": ident["UserId"],
        "id": ident["Account"],
    }


def _inv_region(b: MotoBridge, region: str, args: dict[str, Any]) -> dict[str, Any]:
    name = args.get("name") or args.get("region") or region
    return {
        "name": name,
        "region": name,
        "id": name,
        "description": name,
        "endpoint": f"ec2.{name}.amazonaws.com",
    }


def _inv_partition(b: MotoBridge, region: str, args: dict[str, Any]) -> dict[str, Any]:
    return {
        "partition": "aws",
        "id": "aws",
        "dnsSuffix": "amazonaws.com",
        "reverseDnsPrefix": "com.amazonaws",
    }


def _inv_azs(b: MotoBridge, region: str, args: dict[str, Any]) -> dict[str, Any]:
    zones = b.client("ec2", region).describe_availability_zones()["AvailabilityZones"]
    return {
        "id": region,
        "names": [z["ZoneName"] for z in zones],
        "zoneIds": [z["ZoneId"] for z in zones],
        "groupNames": [region] * len(zones),
    }


def _vpc_filters(args: dict[str, Any]) -> list[dict[str, Any]]:
    filters = [
        {"Name": f["name"], "Values": list(f["values"])} for f in args.get("filters") or []
    ]
    for key, value in (args.get("tags") or {}).items():
        filters.append({"Name": f"tag:{key}", "Values": [value]})
    return filters


def _inv_vpcs(b: MotoBridge, region: str, args: dict[str, Any]) -> dict[str, Any]:
    vpcs = b.client("ec2", region).describe_vpcs(Filters=_vpc_filters(args))["Vpcs"]
    return {"id": region, "ids": sorted(v["VpcId"] for v in vpcs)}


def _inv_vpc(b: MotoBridge, region: str, args: dict[str, Any]) -> dict[str, Any]:
    ec2 = b.client("ec2", region)
    filters = _vpc_filters(args)
    if args.get("default"):
        filters.append({"Name": "is-default", "Values": ["true"]})
    kwargs: dict[str, Any] = {"Filters": filters}
    if args.get("id"):
        kwargs["VpcIds"] = [args["id"]]
    vpcs = ec2.describe_vpcs(**kwargs)["Vpcs"]
    if len(vpcs) != 1:
        raise BridgeError(f"getVpc in {region} matched {len(vpcs)} VPCs, expected exactly 1")
    vpc = vpcs[0]
    return {
        "id": vpc["VpcId"],
        "arn": f"arn:aws:ec2:{region}:{b.account_id}:vpc/{vpc['VpcId']}",
        "cidrBlock": vpc["CidrBlock"],
        "default": vpc.get("IsDefault", False),
        "ownerId": vpc.get("OwnerId", b.account_id),
        "state": vpc.get("State", "available"),
        "tags": {t["Key"]: t["Value"] for t in vpc.get("Tags", [])},
    }


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


def _inv_policy_document(b: MotoBridge, region: str, args: dict[str, Any]) -> dict[str, Any]:
    statements = [_policy_statement(s) for s in args.get("statements") or []]
    document = {"Version": args.get("version") or "2012-10-17", "Statement": statements}
    text = json.dumps(document, indent=2)
    return {"json": text, "minifiedJson": json.dumps(document, separators=(",", ":")),
            "id": str(abs(hash(text)))}


INVOKES: dict[str, Callable[[MotoBridge, str, dict[str, Any]], dict[str, Any]]] = {
    "aws:index/getCallerIdentity:getCallerIdentity": _inv_caller_identity,
    "aws:index/getRegion:getRegion": _inv_region,
    "aws:index/getPartition:getPartition": _inv_partition,
    "aws:index/getAvailabilityZones:getAvailabilityZones": _inv_azs,
    "aws:ec2/getVpcs:getVpcs": _inv_vpcs,
    "aws:ec2/getVpc:getVpc": _inv_vpc,
    "aws:iam/getPolicyDocument:getPolicyDocument": _inv_policy_document,
}
