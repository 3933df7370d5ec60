"""Run the policy pack the way the Pulumi CLI does and talk to it over its gRPC service.

The CLI starts a Python pack with `python -u -m pulumi.policy <engine address> .` from
the pack directory (its `pulumi-analyzer-policy-python` shim), with the stack's config in
PULUMI_CONFIG and PULUMI_PROJECT/PULUMI_STACK/PULUMI_DRY_RUN set, reads the port the pack
prints on stdout, then calls `pulumirpc.Analyzer`: Handshake (optional), GetAnalyzerInfo,
Configure (policy config, validated against each policy's schema first), ConfigureStack,
Analyze per resource and AnalyzeStack with the whole graph. This module does exactly
that, so the pack code under test is the code `pulumi preview --policy-pack` runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import grpc
import jsonschema
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc, engine_pb2_grpc, plugin_pb2

PACK_DIR = Path(__file__).resolve().parent
START_TIMEOUT_S = 30.0
CALL_TIMEOUT_S = 300.0
_LEVELS = {"advisory": analyzer_pb2.ADVISORY, "mandatory": analyzer_pb2.MANDATORY,
           "remediate": analyzer_pb2.REMEDIATE, "disabled": analyzer_pb2.DISABLED}
_LEVEL_NAMES = {v: k for k, v in _LEVELS.items()}
_SEVERITY_NAMES = {
    analyzer_pb2.POLICY_SEVERITY_UNSPECIFIED: "unspecified",
    analyzer_pb2.POLICY_SEVERITY_LOW: "low",
    analyzer_pb2.POLICY_SEVERITY_MEDIUM: "medium",
    analyzer_pb2.POLICY_SEVERITY_HIGH: "high",
    analyzer_pb2.POLICY_SEVERITY_CRITICAL: "critical",
}


class PolicyConfigError(ValueError):
    """The policy config is malformed; the message names the policy, key and what is allowed."""


class PackStartError(RuntimeError):
    """The pack process did not start or did not print its port."""


class PackCallError(RuntimeError):
    """A call to the running pack failed (a rule raised, the pack died, or it hung)."""


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class AnalyzerResource:
    """One resource as the engine sends it to an analyzer."""

    urn: str
    type: str
    name: str
    properties: Mapping[str, Any]
    parent: str = ""
    provider: AnalyzerProvider | None = None
    dependencies: tuple[str, ...] = ()
    property_dependencies: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class AnalyzerProvider:
    type: str
    name: str
    urn: str
    properties: Mapping[str, Any]


@dataclass(frozen=True)
class PolicyInfo:
    name: str
    description: str
    enforcement: str
    severity: str
    kind: str
    remediation: str
    config_schema: dict[str, Any]


@dataclass(frozen=True)
class Diagnostic:
    """A violation the pack reported."""

    policy: str
    enforcement: str
    severity: str
    message: str
    urn: str
    phase: str  # "resource" (Analyze) or "stack" (AnalyzeStack)


# --------------------------------------------------------------------------- engine stub


class _Engine(engine_pb2_grpc.EngineServicer):
    """The part of the engine service a pack may call: Log. Messages are kept, not printed.

    The CLI hands every pack the engine's address. pulumi-policy 1.21's Python runtime
    does not dial it (its `pulumi.log` writes to stderr, which we keep), but a pack built
    on an SDK that does gets a real endpoint here instead of a dead address.
    """

    def __init__(self) -> None:
        self.messages: list[tuple[int, str]] = []
        self._lock = threading.Lock()

    def Log(self, request: Any, context: Any) -> empty_pb2.Empty:  # noqa: N802 - gRPC name
        with self._lock:
            self.messages.append((int(request.severity), str(request.message)))
        return empty_pb2.Empty()


# --------------------------------------------------------------------------- conversion


def _plain(value: Any) -> Any:
    """A JSON-safe copy (Structs hold only JSON values)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _struct(value: Mapping[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(_plain(value))
    return struct


def _provider_message(
    provider: AnalyzerProvider | None,
) -> analyzer_pb2.AnalyzerProviderResource | None:
    if provider is None:
        return None
    return analyzer_pb2.AnalyzerProviderResource(
        type=provider.type, name=provider.name, urn=provider.urn,
        properties=_struct(provider.properties))


def _options(resource: AnalyzerResource) -> analyzer_pb2.AnalyzerResourceOptions:
    return analyzer_pb2.AnalyzerResourceOptions(parent=resource.parent)


# --------------------------------------------------------------------------- client


class PolicyPackProcess:
    """A running policy pack and a typed client for its Analyzer service.

    `PolicyPackProcess.start(...)` launches the pack; use the result as a context manager.
    `close()` stops the process it started (and only that).
    """

    def __init__(self, pack_dir: Path, stack_config: Mapping[str, str], project: str,
                 stack: str, python: str) -> None:
        self.pack_dir = Path(pack_dir)
        self.stack_config: dict[str, str] = dict(stack_config)
        self.project, self.stack, self.python = project, stack, python
        self.engine = _Engine()
        self._stderr_tail: deque[str] = deque(maxlen=200)
        self._info: list[PolicyInfo] | None = None

    @classmethod
    def start(
        cls,
        pack_dir: Path = PACK_DIR,
        *,
        stack_config: Mapping[str, str] | None = None,
        project: str = "ir-readiness",
        stack: str = "preview",
        python: str = sys.executable,
    ) -> PolicyPackProcess:
        """Start the pack as the CLI does and connect to it. Raises PackStartError."""
        process = cls(pack_dir, stack_config or {}, project, stack, python)
        process._launch()
        return process

    def _launch(self) -> None:
        self._engine_server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        engine_pb2_grpc.add_EngineServicer_to_server(self.engine, self._engine_server)
        engine_port = self._engine_server.add_insecure_port("127.0.0.1:0")
        self._engine_server.start()
        self.engine_address = f"127.0.0.1:{engine_port}"
        env = dict(os.environ)
        env.update({
            "PULUMI_CONFIG": json.dumps(self.stack_config),
            "PULUMI_PROJECT": self.project,
            "PULUMI_STACK": self.stack,
            "PULUMI_DRY_RUN": "true",
            "PULUMI_ORGANIZATION": "organization",
            "PYTHONUNBUFFERED": "1",
        })
        self._proc = subprocess.Popen(
            [self.python, "-u", "-m", "pulumi.policy", self.engine_address, "."],
            cwd=self.pack_dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self._stderr_reader = threading.Thread(
            target=self._drain, args=(self._proc.stderr, True), daemon=True)
        self._stderr_reader.start()
        self.port = self._read_port()
        self._channel = grpc.insecure_channel(
            f"127.0.0.1:{self.port}",
            options=[("grpc.max_receive_message_length", 400 * 1024 * 1024),
                     ("grpc.max_send_message_length", 400 * 1024 * 1024),
                     # loopback only: never route through an http_proxy from the env
                     ("grpc.enable_http_proxy", 0)])
        self.stub = analyzer_pb2_grpc.AnalyzerStub(self._channel)

    def _drain(self, stream: IO[bytes] | None, keep: bool) -> None:
        """Keep the pack's pipes flowing (a full pipe would block it); remember stderr."""
        if stream is None:
            return
        for raw in iter(stream.readline, b""):
            if keep:
                self._stderr_tail.append(raw.decode(errors="replace").rstrip())

    def _read_port(self) -> int:
        assert self._proc.stdout is not None
        result: dict[str, str] = {}

        def read() -> None:
            assert self._proc.stdout is not None
            result["line"] = self._proc.stdout.readline().decode(errors="replace").strip()
            self._drain(self._proc.stdout, keep=False)

        self._stdout_reader = threading.Thread(target=read, daemon=True)
        self._stdout_reader.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while "line" not in result and time.monotonic() < deadline:
            if self._proc.poll() is not None and "line" not in result:
                time.sleep(0.05)  # let the reader pick up what the process printed last
                break
            time.sleep(0.01)
        line = result.get("line", "")
        if not line.isdigit():
            self.close()
            stderr = "\n".join(self._stderr_tail)
            raise PackStartError(
                f"policy pack in {self.pack_dir} did not print its port within "
                f"{START_TIMEOUT_S:.0f}s (got {line!r}); stderr:\n{stderr[-2000:]}")
        return int(line)

    # -- lifecycle

    def __enter__(self) -> PolicyPackProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if getattr(self, "_channel", None) is not None:
            self._channel.close()
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)
        for reader, stream in ((getattr(self, "_stdout_reader", None), self._proc.stdout),
                               (self._stderr_reader, self._proc.stderr)):
            if reader is not None:
                reader.join(2)
            if stream is not None and (reader is None or not reader.is_alive()):
                stream.close()
        self._engine_server.stop(0)

    def cpu_seconds(self) -> float | None:
        """CPU time the pack process has used (Linux /proc; None elsewhere)."""
        try:
            fields = Path(f"/proc/{self._proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    @property
    def stderr_tail(self) -> list[str]:
        """The last lines the pack wrote to stderr (its own logging without an engine)."""
        return list(self._stderr_tail)

    # -- protocol

    def handshake(self) -> bool:
        """True if the pack implements Handshake; the CLI tolerates UNIMPLEMENTED too."""
        request = analyzer_pb2.AnalyzerHandshakeRequest(
            engine_address=self.engine_address, root_directory=str(self.pack_dir),
            program_directory=str(self.pack_dir))
        try:
            self.stub.Handshake(request)
        except grpc.RpcError as err:
            if err.code() == grpc.StatusCode.UNIMPLEMENTED:
                return False
            raise
        return True

    def plugin_version(self) -> str:
        info: plugin_pb2.PluginInfo = self.stub.GetPluginInfo(empty_pb2.Empty())
        return str(info.version)

    def policies(self) -> list[PolicyInfo]:
        if self._info is None:
            info = self._call("GetAnalyzerInfo", empty_pb2.Empty())
            self.pack_name = str(info.name)
            out = []
            for p in info.policies:
                schema = (json_format.MessageToDict(p.configSchema)
                          if p.HasField("configSchema") else {})
                kind = {analyzer_pb2.POLICY_TYPE_RESOURCE: "resource",
                        analyzer_pb2.POLICY_TYPE_STACK: "stack"}.get(p.policy_type, "unknown")
                out.append(PolicyInfo(
                    name=p.name, description=p.description,
                    enforcement=_LEVEL_NAMES.get(p.enforcementLevel, "advisory"),
                    severity=_SEVERITY_NAMES.get(p.severity, "unspecified"), kind=kind,
                    remediation=p.remediation_steps, config_schema=schema))
            self._info = out
        return self._info

    def configure(self, config: Mapping[str, Any] | None = None) -> dict[str, dict[str, Any]]:
        """Validate `config` (the `--policy-pack-config` document) like the CLI, then send it.

        Returns the effective config per policy (defaults filled in, enforcement level set).
        Raises PolicyConfigError naming what is wrong.
        """
        effective = resolve_config(self.policies(), config or {})
        request = analyzer_pb2.ConfigureAnalyzerRequest()
        for name, values in effective.items():
            props = {k: v for k, v in values.items() if k != "enforcementLevel"}
            request.policyConfig[name].CopyFrom(analyzer_pb2.PolicyConfig(
                enforcementLevel=_LEVELS[values["enforcementLevel"]], properties=_struct(props)))
        self._call("Configure", request)
        return effective

    def configure_stack(self, stack: str, project: str, config: Mapping[str, str],
                        tags: Mapping[str, str] | None = None) -> None:
        request = analyzer_pb2.AnalyzerStackConfigureRequest(
            stack=stack, project=project, organization="organization", dry_run=True,
            config=dict(config), tags=dict(tags or {}))
        try:
            self.stub.ConfigureStack(request)
        except grpc.RpcError as err:
            if err.code() != grpc.StatusCode.UNIMPLEMENTED:
                raise

    def analyze(self, resource: AnalyzerResource) -> list[Diagnostic]:
        request = analyzer_pb2.AnalyzeRequest(
            urn=resource.urn, type=resource.type, name=resource.name,
            properties=_struct(resource.properties), options=_options(resource))
        provider = _provider_message(resource.provider)
        if provider is not None:
            request.provider.CopyFrom(provider)
        response = self._call("Analyze", request, resource.urn)
        return [self._diagnostic(d, resource.urn, "resource") for d in response.diagnostics]

    def analyze_stack(self, resources: Iterable[AnalyzerResource]) -> list[Diagnostic]:
        request = analyzer_pb2.AnalyzeStackRequest()
        for r in resources:
            message = analyzer_pb2.AnalyzerResource(
                urn=r.urn, type=r.type, name=r.name, properties=_struct(r.properties),
                options=_options(r), parent=r.parent, dependencies=list(r.dependencies))
            provider = _provider_message(r.provider)
            if provider is not None:
                message.provider.CopyFrom(provider)
            for key, urns in r.property_dependencies.items():
                message.propertyDependencies[key].urns.extend(urns)
            request.resources.append(message)
        response = self._call("AnalyzeStack", request)
        return [self._diagnostic(d, "", "stack") for d in response.diagnostics]

    def _call(self, method: str, request: Any, subject: str = "") -> Any:
        try:
            return getattr(self.stub, method)(request, timeout=CALL_TIMEOUT_S)
        except grpc.RpcError as err:
            code = err.code() if hasattr(err, "code") else None
            details = err.details() if hasattr(err, "details") else str(err)
            where = f" on {subject}" if subject else ""
            stderr = "\n".join(self.stderr_tail[-20:])
            raise PackCallError(
                f"policy pack {method}{where} failed ({code}): {details}"
                + (f"\npack stderr:\n{stderr}" if stderr else "")) from err

    @staticmethod
    def _diagnostic(d: Any, default_urn: str, phase: str) -> Diagnostic:
        return Diagnostic(
            policy=d.policyName, enforcement=_LEVEL_NAMES.get(d.enforcementLevel, "advisory"),
            severity=_SEVERITY_NAMES.get(d.severity, "unspecified"), message=d.message,
            urn=d.urn or default_urn, phase=phase)


# --------------------------------------------------------------------------- config


def load_policy_config(path: str | Path) -> dict[str, Any]:
    """Read a `--policy-pack-config` JSON file; a malformed file is a PolicyConfigError."""
    try:
        doc = json.loads(Path(path).read_text())
    except FileNotFoundError as err:
        raise PolicyConfigError(f"policy config {path} does not exist") from err
    except json.JSONDecodeError as err:
        raise PolicyConfigError(f"policy config {path} is not valid JSON: {err}") from err
    if not isinstance(doc, dict):
        raise PolicyConfigError(
            f"policy config {path} must be a JSON object of policy name -> settings, "
            f"got {type(doc).__name__}")
    return doc


def resolve_config(
    policies: list[PolicyInfo], config: Mapping[str, Any]
) -> dict[str, dict[str, Any]]:
    """The CLI's reconciliation: `all` then per-policy values, schema defaults, validation."""
    by_name = {p.name: p for p in policies}
    unknown = sorted(set(config) - set(by_name) - {"all"})
    if unknown:
        raise PolicyConfigError(
            f"policy config names unknown policies {unknown}; known: {sorted(by_name)}")
    base_level: str | None = None
    if "all" in config:
        base_level = _level_of("all", config["all"])
    effective: dict[str, dict[str, Any]] = {}
    for policy in policies:
        values: dict[str, Any] = {}
        props = policy.config_schema.get("properties", {})
        for key, schema in props.items():
            if isinstance(schema, Mapping) and "default" in schema:
                values[key] = schema["default"]
        level = base_level or policy.enforcement
        given = config.get(policy.name)
        if isinstance(given, str):
            level = _level_of(policy.name, given)
        elif isinstance(given, Mapping):
            if "enforcementLevel" in given:
                level = _level_of(policy.name, given["enforcementLevel"])
            values.update({k: v for k, v in given.items() if k != "enforcementLevel"})
            _validate(policy, values)
        elif given is not None:
            raise PolicyConfigError(
                f"policy config for {policy.name!r} must be an enforcement level string or an "
                f"object, got {type(given).__name__}")
        values["enforcementLevel"] = level
        effective[policy.name] = values
    return effective


def _level_of(name: str, value: Any) -> str:
    if isinstance(value, Mapping):
        value = value.get("enforcementLevel")
    if value not in _LEVELS:
        raise PolicyConfigError(
            f"policy config {name!r}: enforcementLevel {value!r} is not one of {sorted(_LEVELS)}")
    return str(value)


def _validate(policy: PolicyInfo, values: Mapping[str, Any]) -> None:
    properties: dict[str, Any] = dict(policy.config_schema.get("properties", {}))
    schema = {"type": "object", "additionalProperties": False, "properties": properties,
              "required": list(policy.config_schema.get("required", []))}
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(dict(values)),
                    key=lambda e: list(e.path))
    if errors:
        allowed = ", ".join(sorted(properties)) or "(no settings)"
        details = "; ".join(
            f"{'.'.join(map(str, e.path)) or '(top level)'}: {e.message}" for e in errors)
        raise PolicyConfigError(
            f"policy config {policy.name!r} is invalid: {details}. Allowed settings: {allowed}")
