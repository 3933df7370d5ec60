"""Pulumi mocks for the regional component tests.

``run(program)`` evaluates ``program`` under ``pulumi.runtime.set_mocks(..., preview=False)``
with a monitor that records every registered resource (type, name, URN, parent, provider,
dependencies and the inputs the provider would receive). It then returns the records and
the resolved value of whatever ``program`` returned, so assertions run in the test body,
after the program completed, and never inside an ``apply`` that might not run. A program
that registers nothing, or whose outputs never resolve, fails the test.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockCallArgs, MockMonitor, MockResourceArgs, Mocks

ACCOUNT_ID = "123456789012"
DEFAULT_REGION = "us-east-1"


@dataclass
class Registered:
    typ: str
    name: str
    urn: str
    parent: str
    provider: str
    dependencies: list[str]
    inputs: dict[str, Any]
    custom: bool
    region: str
    secret_inputs: list[str] = field(default_factory=list)
    """Top-level input names the program marked secret (``pulumi.Output.secret``)."""


def _unwrap_secrets(value: Any, path: str, found: list[str]) -> Any:
    """Replace serialized secrets by their values, noting where they were."""
    if isinstance(value, dict):
        if value.get(rpc._special_sig_key) == rpc._special_secret_sig:
            found.append(path)
            return _unwrap_secrets(value["value"], path, found)
        return {k: _unwrap_secrets(v, f"{path}.{k}" if path else k, found)
                for k, v in value.items()}
    if isinstance(value, list):
        return [_unwrap_secrets(v, path, found) for v in value]
    return value


@dataclass
class Run:
    resources: list[Registered]
    outputs: Any
    by_urn: dict[str, Registered] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_urn = {r.urn: r for r in self.resources}

    def of_type(self, typ: str) -> list[Registered]:
        return [r for r in self.resources if r.typ == typ]

    def one(self, typ: str) -> Registered:
        found = self.of_type(typ)
        assert len(found) == 1, f"expected exactly one {typ}, found {[r.name for r in found]}"
        return found[0]

    def named(self, name: str) -> Registered:
        found = [r for r in self.resources if r.name == name]
        assert len(found) == 1, f"expected one resource named {name}, found {len(found)}"
        return found[0]

    def aws_resources(self) -> list[Registered]:
        return [r for r in self.resources if r.typ.startswith("aws:")]


def _hex(seed: str, length: int) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()[:length]


def _physical(args: MockResourceArgs, region: str) -> tuple[str, dict[str, Any]]:
    """A believable id and computed outputs for the types the regional components use."""
    name = args.inputs.get("name") or f"{args.name}-{_hex(args.name, 7)}"
    state: dict[str, Any] = {"name": name}
    typ = args.typ
    acct = ACCOUNT_ID
    if typ == "aws:ec2/securityGroup:SecurityGroup":
        rid = f"sg-{_hex(args.name, 17)}"
        state["arn"] = f"arn:aws:ec2:{region}:{acct}:security-group/{rid}"
    elif typ == "aws:guardduty/detector:Detector":
        rid = _hex(args.name, 32)
        state["arn"] = f"arn:aws:guardduty:{region}:{acct}:detector/{rid}"
        state["accountId"] = acct
    elif typ == "aws:sns/topic:Topic":
        state["arn"] = f"arn:aws:sns:{region}:{acct}:{name}"
        rid = state["arn"]
    elif typ == "aws:sqs/queue:Queue":
        state["arn"] = f"arn:aws:sqs:{region}:{acct}:{name}"
        state["url"] = f"https://sqs.{region}.amazonaws.com/{acct}/{name}"
        rid = state["url"]
    elif typ == "aws:backup/vault:Vault":
        rid = name
        state["arn"] = f"arn:aws:backup:{region}:{acct}:backup-vault:{name}"
    elif typ == "aws:backup/plan:Plan":
        rid = _hex(args.name, 8) + "-1111-2222-3333-" + _hex(args.name + "p", 12)
        state["arn"] = f"arn:aws:backup:{region}:{acct}:backup-plan:{rid}"
    elif typ == "aws:iam/role:Role":
        rid = name
        state["arn"] = f"arn:aws:iam::{acct}:role/{name}"
    elif typ == "aws:cloudwatch/eventRule:EventRule":
        rid = name
        state["arn"] = f"arn:aws:events:{region}:{acct}:rule/{name}"
    elif typ == "aws:securityhub/account:Account":
        rid = acct
        state["arn"] = f"arn:aws:securityhub:{region}:{acct}:hub/default"
    else:
        rid = f"{args.name}-id"
        state["arn"] = f"arn:aws:mock:{region}:{acct}:{args.name}"
    return rid, state


class RegionalMocks(Mocks):
    def __init__(self) -> None:
        self.provider_regions: dict[str, str] = {}
        self.current_region = DEFAULT_REGION

    def new_resource(self, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        if args.typ.startswith("pulumi:providers:"):
            return f"{args.name}-provider-id", dict(args.inputs)
        if args.custom is False:  # component resources have no physical id
            return "", {}
        region = self.provider_regions.get(args.provider or "", DEFAULT_REGION)
        rid, computed = _physical(args, region)
        return rid, {**args.inputs, **computed, "region": region}

    def call(self, args: MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": ACCOUNT_ID, "arn": f"arn:aws:iam::{ACCOUNT_ID}:root",
                    "userId": ACCOUNT_ID}, None
        raise AssertionError(f"unexpected invoke {args.token} in a regional component")


class RecordingMonitor(MockMonitor):
    def __init__(self, mocks: RegionalMocks, sink: list[Registered]) -> None:
        super().__init__(mocks)
        self.regional_mocks = mocks
        self.sink = sink
        self.lock = threading.Lock()

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        with self.lock:
            response = super().RegisterResource(request)
            if request.type == "pulumi:pulumi:Stack":
                return response
            secrets: list[str] = []
            inputs = _unwrap_secrets(
                rpc.deserialize_properties(request.object, keep_unknowns=True), "", secrets
            )
            if request.type.startswith("pulumi:providers:aws"):
                self.regional_mocks.provider_regions[f"{response.urn}::{response.id}"] = (
                    inputs.get("region", DEFAULT_REGION)
                )
            self.sink.append(
                Registered(
                    typ=request.type,
                    name=request.name,
                    urn=response.urn,
                    parent=request.parent,
                    provider=request.provider,
                    dependencies=list(request.dependencies),
                    inputs=inputs,
                    custom=bool(request.custom),
                    region=self.regional_mocks.provider_regions.get(
                        request.provider, DEFAULT_REGION
                    ),
                    secret_inputs=secrets,
                )
            )
            return response


def run(program: Callable[[], Any]) -> Run:
    """Evaluate ``program`` under mocks; return what it registered and its resolved result."""
    sink: list[Registered] = []
    mocks = RegionalMocks()
    pulumi.runtime.set_mocks(
        mocks,
        project="ir-readiness",
        stack="test",
        preview=False,
        monitor=RecordingMonitor(mocks, sink),
    )
    resolved: dict[str, Any] = {}

    def body() -> pulumi.Output[Any]:
        result = program()
        return pulumi.Output.from_input(result).apply(lambda value: resolved.setdefault("v", value))

    pulumi.runtime.test(body)()
    if not sink:
        raise AssertionError("the program registered no resources")
    if "v" not in resolved:
        raise AssertionError("the program's outputs never resolved")
    return Run(resources=list(sink), outputs=resolved["v"])


def provider(region: str) -> pulumi.ProviderResource:
    import pulumi_aws as aws

    return aws.Provider(f"aws-{region}", region=region)


def descends_from(run_: Run, resource: Registered, component_urn: str) -> bool:
    """True when ``component_urn`` is an ancestor of ``resource`` through parent links."""
    parent = resource.parent
    while parent:
        if parent == component_urn:
            return True
        ancestor = run_.by_urn.get(parent)
        parent = ancestor.parent if ancestor else ""
    return False
