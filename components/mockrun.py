"""Evaluate the Pulumi program under Pulumi's official mocks, without CLI or credentials.

Used by the component tests, the benchmark (`bench/stack_eval.py`), the policy pack's
credential-free preview (`make preview`) and the drill. It runs the real program
(`__main__.py` at the project root, or any callable) with `pulumi.runtime.set_mocks`
(`preview=False`) and a given stack config, and returns every resource the program
registered: type, logical name, URN, parent URN, provider reference, inputs and the
mocked outputs.

Example::

    from components.mockrun import evaluate_program, load_stack_config

    config = load_stack_config("Pulumi.example.yaml")
    resources = evaluate_program(config)
    trails = [r for r in resources if r.type == "aws:cloudtrail/trail:Trail"]
    assert trails[0].inputs["isMultiRegionTrail"] is True

`evaluate(config)` additionally returns the resolved stack outputs. The mocks answer
the invokes the program makes (`aws:index/getCallerIdentity`, `aws:index/getPartition`,
`aws:index/getRegion`, `aws:ec2/getVpcs`) and fail loudly on any other invoke, so a new
invoke cannot silently return nothing. A program error (e.g. a `SettingsError` for a bad
config value) propagates to the caller.

This is the project's one mock harness: every other `pulumi.runtime.Mocks` (the drill's
`rehearsal.bridge.MotoBridge`, a test's counting mocks) is passed to `evaluate` as
`mocks=` and runs under the same recording monitor; secrets are unwrapped in one place
(`plain`).

Pulumi's runtime keeps global state, so evaluations in one process run one at a time
(a lock serialises them); separate processes (pytest-xdist) are independent.
"""

from __future__ import annotations

import gc
import hashlib
import importlib
import json
import runpy
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PROGRAM = PROJECT_ROOT / "__main__.py"
PROJECT_NAME = "ir-readiness"

MOCK_ACCOUNT_ID = "123456789012"
MOCK_PARTITION = "aws"

# Services whose ARNs carry no region.
_GLOBAL_SERVICES = frozenset({"iam", "organizations", "cloudfront", "route53", "s3"})

_EVALUATION_LOCK = threading.Lock()

# pulumi_aws submodules the program uses. They are imported (lazily, on first use) by
# the program anyway; importing them before the evaluation lets `_quiet_gc` move their
# very large object graphs out of the garbage collector's way.
_AWS_MODULES = (
    "backup", "cloudtrail", "cloudwatch", "ec2", "guardduty", "iam", "inspector2", "kms",
    "s3", "securityhub", "sns", "sqs", "ssm",
)


@dataclass(frozen=True)
class RegisteredResource:
    """One resource the program registered, as the engine would have seen it."""

    type: str
    """Type token, e.g. `aws:s3/bucket:Bucket` or `ir-readiness:index:EvidenceStore`."""
    name: str
    """Logical name."""
    urn: str
    """URN (stack `mock`, project `ir-readiness`)."""
    parent: str
    """URN of the parent resource ('' for the stack itself)."""
    custom: bool
    """True for provider-managed (custom) resources, False for components."""
    inputs: Mapping[str, Any]
    """Inputs as sent to the engine (camelCase keys, plain values)."""
    outputs: Mapping[str, Any]
    """State: the inputs plus what the mocks computed (id, arn, name, ...)."""
    provider: str = ""
    """Provider reference `urn::id` for custom resources ('' when default/none)."""
    id: str = ""
    """Physical id the mocks assigned."""
    region: str | None = None
    """Region of the provider a custom resource uses (None for components)."""
    secret_inputs: frozenset[str] = frozenset()
    """Top-level input keys the program marked secret (their values are unwrapped)."""
    dependencies: tuple[str, ...] = ()
    """URNs this resource depends on (explicit `depends_on` and input dependencies)."""
    property_dependencies: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Per input key, the URNs whose outputs flowed into it."""


@dataclass
class Evaluation:
    """What one mocked evaluation produced."""

    resources: list[RegisteredResource]
    """Every registered resource in `canonical_order`: the same for the same program and
    config, whatever order the registrations arrived in."""
    outputs: dict[str, Any] = field(default_factory=dict)
    """The stack outputs (`pulumi.export`), resolved."""
    result: Any = None
    """What a callable program returned, resolved (Outputs inside it awaited)."""

    def of_type(self, type_token: str) -> list[RegisteredResource]:
        return [r for r in self.resources if r.type == type_token]

    def by_urn(self) -> dict[str, RegisteredResource]:
        return {r.urn: r for r in self.resources}


def _digest(*parts: str, length: int = 32) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:length]


def _uuid(*parts: str) -> str:
    h = _digest(*parts)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


class ReadinessMocks(pulumi.runtime.Mocks):
    """Plausible AWS ids/ARNs for every resource, answers for the invokes we make.

    `vpcs_per_region` VPC ids are returned by `aws:ec2/getVpcs` in every region.
    """

    def __init__(
        self,
        account_id: str = MOCK_ACCOUNT_ID,
        vpcs_per_region: int = 2,
        default_region: str = "us-east-1",
    ) -> None:
        self.account_id = account_id
        self.vpcs_per_region = vpcs_per_region
        self.default_region = default_region
        self._provider_regions: dict[str, str] = {}
        self._lock = threading.Lock()

    # -- helpers

    def region_of(self, provider_ref: str | None) -> str:
        if provider_ref:
            provider_id = provider_ref.rsplit("::", 1)[-1]
            with self._lock:
                region = self._provider_regions.get(provider_id)
            if region:
                return region
        return self.default_region

    def vpc_ids(self, region: str) -> list[str]:
        return [
            f"vpc-{_digest('vpc', region, str(i), length=17)}"
            for i in range(self.vpcs_per_region)
        ]

    # -- pulumi.runtime.Mocks

    def call(
        self, args: pulumi.runtime.MockCallArgs
    ) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        region = self.region_of(args.provider)
        function = args.token
        if function == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": self.account_id,
                "arn": f"arn:{MOCK_PARTITION}:iam::{self.account_id}:user/mock-deployer",
                "userId": "AIDAMOCKDEPLOYER",
                "id": self.account_id,
            }, []
        if function == "aws:index/getPartition:getPartition":
            return {
                "partition": MOCK_PARTITION,
                "dnsSuffix": "amazonaws.com",
                "reverseDnsPrefix": "com.amazonaws",
                "id": MOCK_PARTITION,
            }, []
        if function == "aws:index/getRegion:getRegion":
            return {
                "name": region,
                "region": region,
                "id": region,
                "endpoint": f"ec2.{region}.amazonaws.com",
                "description": region,
            }, []
        if function == "aws:ec2/getVpcs:getVpcs":
            return {"ids": self.vpc_ids(region), "id": region}, []
        if function == "aws:guardduty/getDetector:getDetector":
            # Organization member mode: the detector the delegated administrator enabled.
            detector = _digest("auto-enabled-detector", self.account_id, region)
            return {"id": detector, "status": "ENABLED",
                    "findingPublishingFrequency": "SIX_HOURS",
                    "serviceRoleArn": f"arn:{MOCK_PARTITION}:iam::{self.account_id}:role/"
                                      "aws-service-role/guardduty.amazonaws.com/"
                                      "AWSServiceRoleForAmazonGuardDuty"}, []
        raise NotImplementedError(
            f"ReadinessMocks has no answer for invoke {function!r}; add one to "
            "components/mockrun.py so the evaluation stays faithful"
        )

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict]:
        typ, name, inputs = args.typ, args.name, dict(args.inputs)
        if typ.startswith("pulumi:providers:"):
            region = str(inputs.get("region") or self.default_region)
            provider_id = f"provider-{region}-{_digest(name, length=8)}"
            with self._lock:
                self._provider_regions[provider_id] = region
            return provider_id, {}
        if not args.custom:
            return f"{name}-component", {}
        region = self.region_of(args.provider)
        return self._custom_resource(typ, name, inputs, region)

    def _custom_resource(
        self, typ: str, name: str, inputs: dict[str, Any], region: str
    ) -> tuple[str, dict[str, Any]]:
        acct = self.account_id
        module = typ.split(":")[1].split("/")[0]
        kind = typ.rsplit(":", 1)[-1]
        arn_region = "" if module in _GLOBAL_SERVICES else region
        physical = str(inputs.get("name") or f"{name}-{_digest(typ, name, region, length=7)}")
        # Only computed values: for every input the provider does not return, the SDK
        # keeps the input's value (as the engine's state would), so echoing the inputs
        # back would only be serialised and translated a second time.
        out: dict[str, Any] = {}
        rid = physical
        arn: str | None = f"arn:aws:{module}:{arn_region}:{acct}:{kind.lower()}/{physical}"
        if typ == "aws:s3/bucket:Bucket":
            physical = str(inputs.get("bucket") or physical.lower())
            rid, arn = physical, f"arn:aws:s3:::{physical}"
            out.update(bucket=physical, bucketDomainName=f"{physical}.s3.amazonaws.com",
                       bucketRegionalDomainName=f"{physical}.s3.{region}.amazonaws.com")
        elif module == "s3":
            rid, arn = str(inputs.get("bucket") or physical), None
        elif typ == "aws:kms/key:Key":
            rid = _uuid(typ, name, region)
            arn = f"arn:aws:kms:{region}:{acct}:key/{rid}"
            out["keyId"] = rid
        elif typ == "aws:kms/alias:Alias":
            arn = f"arn:aws:kms:{region}:{acct}:{physical}"
        elif typ == "aws:cloudtrail/trail:Trail":
            arn = f"arn:aws:cloudtrail:{region}:{acct}:trail/{physical}"
            rid = arn
            out["homeRegion"] = region
        elif typ == "aws:cloudwatch/logGroup:LogGroup":
            arn = f"arn:aws:logs:{region}:{acct}:log-group:{physical}"
        elif typ == "aws:cloudwatch/metricAlarm:MetricAlarm":
            arn = f"arn:aws:cloudwatch:{region}:{acct}:alarm:{physical}"
        elif module == "iam" and kind in ("Role", "Policy", "User", "Group"):
            arn = f"arn:aws:iam::{acct}:{kind.lower()}/{physical}"
            out["uniqueId"] = "AROA" + _digest(typ, name, length=17).upper()
        elif typ == "aws:sns/topic:Topic":
            arn = f"arn:aws:sns:{region}:{acct}:{physical}"
            rid = arn
        elif typ == "aws:sqs/queue:Queue":
            arn = f"arn:aws:sqs:{region}:{acct}:{physical}"
            rid = f"https://sqs.{region}.amazonaws.com/{acct}/{physical}"
            out["url"] = rid
        elif typ == "aws:guardduty/detector:Detector":
            rid = _digest(typ, name, region)
            arn = f"arn:aws:guardduty:{region}:{acct}:detector/{rid}"
            out["accountId"] = acct
        elif typ == "aws:securityhub/account:Account":
            rid, arn = acct, f"arn:aws:securityhub:{region}:{acct}:hub/default"
        elif typ == "aws:backup/vault:Vault":
            arn = f"arn:aws:backup:{region}:{acct}:backup-vault:{physical}"
        elif typ == "aws:backup/plan:Plan":
            rid = _uuid(typ, name, region)
            arn = f"arn:aws:backup:{region}:{acct}:backup-plan:{rid}"
            out["version"] = _digest(typ, name, "v", length=24)
        elif typ == "aws:ec2/vpc:Vpc":
            rid = f"vpc-{_digest(typ, name, region, length=17)}"
            arn = f"arn:aws:ec2:{region}:{acct}:vpc/{rid}"
            out["ownerId"] = acct
        elif typ == "aws:ec2/securityGroup:SecurityGroup":
            rid = f"sg-{_digest(typ, name, region, length=17)}"
            arn = f"arn:aws:ec2:{region}:{acct}:security-group/{rid}"
            out["ownerId"] = acct
        elif typ == "aws:ssm/parameter:Parameter":
            arn = f"arn:aws:ssm:{region}:{acct}:parameter{physical}"
        elif typ in ("aws:cloudwatch/eventRule:EventRule", "aws:events/rule:Rule"):
            # EventBridge ARNs are in the `events` service; a rule on a custom bus is named
            # in its ARN under that bus, as in AWS.
            bus = str(inputs.get("eventBusName") or "default").rsplit("event-bus/", 1)[-1]
            path = physical if bus == "default" else f"{bus}/{physical}"
            arn = f"arn:aws:events:{region}:{acct}:rule/{path}"
        elif typ == "aws:cloudwatch/eventBus:EventBus":
            arn = f"arn:aws:events:{region}:{acct}:event-bus/{physical}"
        if "name" not in inputs and module not in ("s3",):
            out["name"] = physical
        if arn is not None:
            out["arn"] = arn
        # Inputs the program gave win over invented values (an EventTarget's `arn` is
        # the target it delivers to, not an ARN of its own): the provider echoes them.
        out = {k: v for k, v in out.items() if k not in inputs}
        out["id"] = rid
        return rid, out


class _CapturingMocks(pulumi.runtime.Mocks):
    """Delegates to the real mocks and keeps, per thread, the inputs of the registration
    in flight, so the monitor records them without deserialising them a second time."""

    def __init__(self, inner: pulumi.runtime.Mocks) -> None:
        self.inner = inner
        self.local = threading.local()

    def call(self, args: pulumi.runtime.MockCallArgs) -> Any:
        return self.inner.call(args)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict]:
        self.local.inputs = args.inputs
        return self.inner.new_resource(args)


class _RecordingMonitor(pulumi_mocks.MockMonitor):
    """MockMonitor that also records each registration's parent, provider and inputs."""

    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        self.capture = _CapturingMocks(mocks)
        super().__init__(self.capture)
        self.recorded: list[RegisteredResource] = []
        self._record_lock = threading.Lock()

    def _region_of(self, request: Any, resource_id: str) -> str | None:
        inner = self.capture.inner
        if not request.custom or not isinstance(inner, ReadinessMocks):
            return None
        if request.type.startswith("pulumi:providers:"):
            return inner.region_of("::" + resource_id)
        return inner.region_of(request.provider)

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            return response
        urn = response.urn
        registration = self.resources[urn]
        inputs, secret_keys = _unwrap_secrets(self.capture.local.inputs)
        record = RegisteredResource(
            type=request.type,
            name=request.name,
            urn=urn,
            parent=request.parent,
            custom=bool(request.custom),
            inputs=inputs,
            # state = invented computed values, then the inputs (which always win)
            outputs={**registration.state, **inputs},
            provider=request.provider,
            id=registration.id or "",
            region=self._region_of(request, registration.id or ""),
            secret_inputs=frozenset(secret_keys),
            dependencies=tuple(request.dependencies),
            property_dependencies={
                key: tuple(deps.urns) for key, deps in request.propertyDependencies.items()
            },
        )
        with self._record_lock:
            self.recorded.append(record)
        return response


def plain(value: Any) -> Any:
    """`value` as sent over the wire, with every secret envelope removed (at any depth).

    The one place secrets are unwrapped, for every Mocks of the project (these records,
    the drill bridge). Pulumi's public `pulumi.runtime.rpc.is_rpc_secret` and
    `unwrap_rpc_secret` recognise and open one envelope; they do not recurse, so this does.
    """
    if rpc.is_rpc_secret(value):
        return plain(rpc.unwrap_rpc_secret(value))
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def _unwrap_secrets(inputs: Mapping[str, Any]) -> tuple[dict[str, Any], set[str]]:
    """Inputs with secret wrappers removed, and the top-level keys that were secret."""
    secret = {k for k, v in inputs.items() if rpc.is_rpc_secret(v)}
    return {k: plain(v) for k, v in inputs.items()}, secret


class _quiet_gc:  # noqa: N801 - used as a context manager
    """Freeze the objects that exist before the evaluation (the imported SDKs: hundreds of
    thousands of objects) so full collections stop re-traversing them, and collect the
    youngest generation less often. Halves evaluation time for large programs; restored
    on exit."""

    def __enter__(self) -> None:
        self._threshold = gc.get_threshold()
        gc.freeze()
        gc.set_threshold(max(self._threshold[0], 20_000), *self._threshold[1:])

    def __exit__(self, *exc: object) -> None:
        gc.set_threshold(*self._threshold)
        gc.unfreeze()


def prepare() -> None:
    """Import what the program imports: the pulumi_aws submodules it uses (lazily loaded
    by pulumi_aws, a second or more), the components and the runbook steps the responder
    policy is derived from. Once per process; `evaluate` calls it, call it earlier to
    keep import time out of a measurement."""
    for module in _AWS_MODULES:
        # pulumi_aws registers its submodules lazily: touching an attribute loads one.
        getattr(importlib.import_module(f"pulumi_aws.{module}"), "__all__", None)
    importlib.import_module("components.readiness")
    from runbooks.core.step import load_all_steps

    load_all_steps()


def _reset_runtime() -> None:
    pulumi_settings.SETTINGS.rpc_manager.clear()
    pulumi_settings.SETTINGS.outputs.clear()
    pulumi_settings.ROOT.set(None)


async def _resolve(value: Any) -> Any:
    return await pulumi.Output.from_input(value).future()


def evaluate(
    config: Mapping[str, str],
    mocks: pulumi.runtime.Mocks | None = None,
    program: Path | Callable[[], Any] | None = None,
    stack: str = "mock",
) -> Evaluation:
    """Run `program` (default: the project's `__main__.py`) under mocks with `config`.

    `config` maps full keys (`ir:regions`, `aws:region`) to Pulumi's string form
    (structured values as JSON text), exactly what `load_stack_config` returns.
    Returns every registered resource and the resolved stack outputs.
    """
    mocks = mocks if mocks is not None else ReadinessMocks(
        default_region=str(config.get("aws:region", "us-east-1"))
    )
    prepare()
    with _EVALUATION_LOCK, _quiet_gc():
        _reset_runtime()
        pulumi.runtime.set_all_config(dict(config), [])
        monitor = _RecordingMonitor(mocks)
        pulumi.runtime.set_mocks(
            monitor.capture, project=PROJECT_NAME, stack=stack, preview=False, monitor=monitor
        )
        root = pulumi_settings.get_root_resource()
        resolved: dict[str, Any] = {}
        returned: dict[str, Any] = {}

        async def run() -> None:
            if program is None or isinstance(program, Path):
                runpy.run_path(str(program or PROGRAM), run_name="__pulumi_program__")
            else:
                result = program()
                if result is not None:
                    returned["result"] = await _resolve(result)
            outputs = getattr(root, "outputs", {}) or {}
            for key, value in outputs.items():
                resolved[key] = await _resolve(value)

        try:
            _sync_await(run_pulumi_func(run))
        finally:
            _reset_runtime()
            pulumi.runtime.set_all_config({}, [])  # no stale config for later callers
        return Evaluation(
            resources=canonical_order(monitor.recorded), outputs=resolved,
            result=returned.get("result"),
        )


def canonical_order(resources: Sequence[RegisteredResource]) -> list[RegisteredResource]:
    """`resources` depth first from the stack, siblings sorted by (type, name).

    The program registers from several threads (every `Output.apply` resolves on the
    event loop as its inputs arrive), so registration order differs between two runs of
    the same stack; anything printed or diffed from it would too. This order depends only
    on the graph, and keeps every parent before its children (as registration does).
    A resource whose parent is not among `resources` (the stack itself) is a root.
    """
    known = {r.urn for r in resources}
    children: dict[str, list[RegisteredResource]] = {}
    for r in resources:
        children.setdefault(r.parent if r.parent in known else "", []).append(r)
    for siblings in children.values():
        siblings.sort(key=lambda r: (r.type, r.name, r.urn))
    ordered: list[RegisteredResource] = []
    stack = list(reversed(children.get("", [])))
    while stack:
        r = stack.pop()
        ordered.append(r)
        stack.extend(reversed(children.get(r.urn, [])))
    return ordered


def evaluate_program(
    config: Mapping[str, str],
    mocks: pulumi.runtime.Mocks | None = None,
    program: Path | Callable[[], Any] | None = None,
) -> list[RegisteredResource]:
    """Every resource the program registers for `config` (see `evaluate`)."""
    return evaluate(config, mocks=mocks, program=program).resources


def config_value(value: Any) -> str:
    """A stack-config YAML value in the string form Pulumi hands the program."""
    if isinstance(value, str):
        return value
    return json.dumps(value)


def _has_secure(value: Any) -> bool:
    if isinstance(value, dict):
        return set(value) == {"secure"} or any(_has_secure(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_secure(v) for v in value)
    return False


def load_stack_config(path: str | Path) -> dict[str, str]:
    """The `config:` block of a `Pulumi.<stack>.yaml`, as `evaluate` expects it.

    Secure (encrypted) values cannot be decrypted here; they raise ValueError naming
    the key, since a mocked evaluation must not pretend to know a secret.
    """
    doc = yaml.safe_load(Path(path).read_text()) or {}
    block = doc.get("config") or {}
    if not isinstance(block, dict):
        raise ValueError(f"{path}: 'config' must be a mapping, got {type(block).__name__}")
    out: dict[str, str] = {}
    for key, value in block.items():
        if _has_secure(value):
            raise ValueError(
                f"{path}: {key} is (or holds) an encrypted secret; set a plain value for "
                "mocked runs"
            )
        full_key = key if ":" in key else f"{PROJECT_NAME}:{key}"
        out[full_key] = config_value(value)
    return out
