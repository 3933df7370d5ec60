"""The bridge's machinery: the Mocks, the registries of handlers and invokes, helpers.

`MotoBridge` is the `pulumi.runtime.Mocks` the drill passes to the project's one mock
harness (`components.mockrun.evaluate(..., mocks=bridge)`); secrets are unwrapped there
too (`components.mockrun.plain`). Each service module of this package registers the
types it provisions with `@handles` and the invokes it answers with `@answers`.
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

    fn: Callable[[Request], tuple[str, dict[str, Any]]]
    api: str
    note: str = ""

    @property
    def recorded_only(self) -> bool:
        return not self.api


HANDLERS: dict[str, TypeHandler] = {}


def handles(
    type_token: str, api: str = "", recorded_only: str = ""
) -> Callable[
    [Callable[[Request], tuple[str, dict[str, Any]]]],
    Callable[[Request], tuple[str, dict[str, Any]]],
]:
    """Register the provisioning function of one type; exactly one of `api`/`recorded_only`."""
    if bool(api) == bool(recorded_only):
        raise TypeError(f"{type_token}: give either api= or recorded_only=")

    def decorate(
        fn: Callable[[Request], tuple[str, dict[str, Any]]],
    ) -> Callable[[Request], tuple[str, dict[str, Any]]]:
        if type_token in HANDLERS:
            raise TypeError(f"{type_token} handled twice")
        HANDLERS[type_token] = TypeHandler(fn=fn, api=api, note=recorded_only)
        return fn

    return decorate


Invoke = Callable[["MotoBridge", str, dict[str, Any]], dict[str, Any]]
"""Answers one provider function: (bridge, region, plain args) -> its result."""

INVOKES: dict[str, Invoke] = {}


def answers(token: str) -> Callable[[Invoke], Invoke]:
    """Register the answer to one invoke (provider function) token."""

    def decorate(fn: Invoke) -> Invoke:
        if token in INVOKES:
            raise TypeError(f"{token} answered twice")
        INVOKES[token] = fn
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


@dataclass(frozen=True)
class Identity:
    """Credentials of an account a provider assumed a role in (`assumeRoles`)."""

    account: str
    access_key: str
    secret_key: str
    session_token: str


@dataclass
class Request:
    """What a handler gets: the bridge (clients, account), the region, name and inputs."""

    bridge: MotoBridge
    type: str
    name: str
    region: str
    inputs: dict[str, Any]

    notes: list[str] = field(default_factory=list)
    identity: Identity | None = None
    """The account an assume-role provider acts in; None: the bridge's own credentials."""

    def client(self, service: str) -> Any:
        return self.bridge.client(service, self.region, self.identity)

    def note(self, text: str) -> None:
        """Record a per-resource deviation (shown in the record's `how`)."""
        self.notes.append(text)

    @property
    def account(self) -> str:
        return self.identity.account if self.identity else self.bridge.account_id

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


def clean(value: Any) -> Any:
    """Drop None values recursively (the API rejects explicit nulls)."""
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [clean(v) for v in value if v is not None]
    return value


_PASCAL_SPECIAL = {"id": "ID", "kmsMasterKeyId": "KMSMasterKeyID"}


def pascal(value: Any) -> Any:
    """Pulumi camelCase input shapes -> AWS API PascalCase shapes (S3/Backup style)."""
    if isinstance(value, dict):
        return {
            _PASCAL_SPECIAL.get(k, k[:1].upper() + k[1:]): pascal(v)
            for k, v in value.items()
            if v is not None
        }
    if isinstance(value, list):
        return [pascal(v) for v in value if v is not None]
    return value


def tag_list(tags: Mapping[str, str] | None, key: str = "Key", val: str = "Value") -> list[Any]:
    return [{key: k, val: v} for k, v in (tags or {}).items()]


def policy_text(policy: Any) -> str:
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
        self._clients: dict[tuple[str, str, Identity | None], Any] = {}
        self._session: Any = None
        self._provider_regions: dict[str, str] = {}
        self._provider_identities: dict[str, Identity] = {}
        self._identity_sessions: dict[Identity, Any] = {}
        self._keyed_locks: dict[str, threading.Lock] = {}
        self._account_id: str | None = None
        self.records: list[Record] = []
        self.errors: list[BridgeError] = []
        self.state: dict[str, dict[str, Any]] = {}
        """Per resource type: {logical name: outputs} for tests and the drill."""

    # -- clients -------------------------------------------------------------------
    def client(self, service: str, region: str, identity: Identity | None = None) -> Any:
        with self._lock:
            key = (service, region, identity)
            if key not in self._clients:
                if self._session is None:
                    import boto3

                    # One session: it caches the service models, so each new client is cheap.
                    self._session = boto3.session.Session(
                        aws_access_key_id=self._access_key,
                        aws_secret_access_key=self._secret_key,
                    )
                session = self._session
                if identity is not None:
                    if identity not in self._identity_sessions:
                        import boto3

                        self._identity_sessions[identity] = boto3.session.Session(
                            aws_access_key_id=identity.access_key,
                            aws_secret_access_key=identity.secret_key,
                            aws_session_token=identity.session_token,
                        )
                    session = self._identity_sessions[identity]
                self._clients[key] = session.client(
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
    def _identity_of(self, provider_ref: str | None) -> Identity | None:
        if not provider_ref:
            return None
        return self._provider_identities.get(provider_ref.rsplit("::", 1)[-1])

    def _assume(self, provider_name: str, region: str, inputs: Mapping[str, Any]
                ) -> Identity | None:
        """A provider's `assumeRoles` chain, assumed as the provider would (STS)."""
        raw = plain(inputs.get("assumeRoles")) or []
        # A provider's nested inputs reach the mocks as JSON text.
        roles = json.loads(raw) if isinstance(raw, str) else raw
        identity: Identity | None = None
        for role in roles:
            arn = str(role.get("roleArn") or "")
            if not arn:
                continue
            creds = self.client("sts", region, identity).assume_role(
                RoleArn=arn,
                RoleSessionName=str(role.get("sessionName") or provider_name)[:64],
                **({"ExternalId": role["externalId"]} if role.get("externalId") else {}),
            )["Credentials"]
            identity = Identity(account=arn.split(":")[4], access_key=creds["AccessKeyId"],
                                secret_key=creds["SecretAccessKey"],
                                session_token=creds["SessionToken"])
        return identity

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
            from botocore.exceptions import ClientError

            try:
                identity = self._assume(args.name, region, args.inputs)
            except ClientError as err:
                raise BridgeError(
                    f"provider {args.name!r} could not assume its role in the emulator: "
                    f"{' '.join(str(err).split())}") from err
            with self._lock:
                self._provider_regions[provider_id] = region
                if identity is not None:
                    self._provider_identities[provider_id] = identity
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
                f"(resource {args.name!r}); add a @handles entry to its service's module "
                "in rehearsal/bridge/ with the moto API that provisions it, or an explicit "
                "recorded-only entry"
            )
        region = self._region_of(args.provider, args.inputs)
        inputs = {k: _unsecret(v) for k, v in args.inputs.items() if k != "region"}
        request = Request(self, args.typ, args.name, region, inputs,
                          identity=self._identity_of(args.provider))
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
                f"the drill bridge does not answer invoke {args.token}; add an @answers "
                "entry to its service's module in rehearsal/bridge/"
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
