"""Credential-free preview: the program under Pulumi mocks, checked by the policy pack.

    python -m policies.preview --stack prod [--policy-config policy-config.json]
    python -m policies.preview --stack Pulumi.example.yaml

1. Evaluates the Pulumi program (`__main__.py`) for a stack config file under Pulumi's
   official mocks (`components.mockrun`): no AWS credentials, no Pulumi CLI.
2. Prints a preview-like tree of the resources it would create (type, name, parent).
3. Starts the policy pack exactly as the CLI does and speaks its gRPC Analyzer service
   (`policies.analyzer`): Analyze for every resource, AnalyzeStack for the whole graph.
4. Prints each violation with the resource it concerns and the `ir:` stack-config key
   behind it, writes SARIF 2.1.0 (code-review annotations on that key's line of
   Pulumi.<stack>.yaml) and JSON, and exits 1 on any mandatory violation (0 otherwise; 2
   when the stack config, the policy config or the program itself is wrong, or the pack
   failed).

The same stack gives byte-identical output (stdout, SARIF, JSON): resources come in a
canonical order (`components.mockrun.canonical_order`), violations sorted, timings only
with `--timings`, so a pull request diffs cleanly.

What it cannot see compared with a real `pulumi preview` is in LIMITATIONS (printed on
every run).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.tree import Tree

from .analyzer import (
    PACK_DIR,
    AnalyzerProvider,
    AnalyzerResource,
    Diagnostic,
    PackCallError,
    PackStartError,
    PolicyConfigError,
    PolicyInfo,
    PolicyPackProcess,
    load_policy_config,
    resolve_config,
)

PROJECT_ROOT = PACK_DIR.parent
DEFAULT_STACK = PROJECT_ROOT / "Pulumi.example.yaml"
PROJECT = "ir-readiness"
STACK = "preview"
EXIT_OK, EXIT_MANDATORY, EXIT_USAGE = 0, 1, 2
#: Concurrent Analyze calls (the pack serves four at a time).
ANALYZE_WORKERS = 4

LIMITATIONS = (
    "Resource inputs come from Pulumi mocks: ids, ARNs and other computed values are "
    "invented, so rules see plausible values where a real preview sees unknowns.",
    "Provider defaults and provider-side validation (pulumi-resource-aws Check/Diff) are not "
    "applied: a value AWS would reject, or a default the provider would fill in, is invisible.",
    "No existing state: everything shows as a create; updates, replacements, deletes, drift, "
    "imports and protected resources are not shown.",
    "Invokes (getCallerIdentity, getRegion, getVpcs) are answered by the mocks, so discovered "
    "VPCs and account ids are stand-ins, not your account's.",
    "Secrets in stack config must be plain values; encrypted config cannot be read here.",
    "Dependencies and property dependencies are those the SDK sends at registration (as the "
    "engine records them); values the program gave win over mocked outputs, but a computed "
    "value another resource reads is the mocks' invention, not what AWS would return.",
)

_SEVERITY_SCORE = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0",
                   "unspecified": "5.0"}


# --------------------------------------------------------------------------- model


@dataclass(frozen=True)
class GraphNode:
    """One resource of the evaluated program, with what the analyzer needs."""

    urn: str
    type: str
    name: str
    parent: str
    custom: bool
    inputs: Mapping[str, Any]
    outputs: Mapping[str, Any]
    provider: AnalyzerProvider | None
    dependencies: tuple[str, ...] = ()
    property_dependencies: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass
class Violation:
    policy: str
    enforcement: str
    severity: str
    message: str
    urn: str
    type: str
    name: str
    phase: str
    #: The `ir:` key that produced the resource, or that the finding is about ('' when no
    #: key did: a resource the program adds outside the components).
    config_key: str = ""
    #: Whether changing `config_key` is the fix (False: the component's code is).
    fixed_by_config: bool = False
    #: Where the key is written in the stack config file (1-based; the nearest enclosing
    #: key, or `config:`, when the key itself is not written and its default applies).
    config_line: int = 0
    config_column: int = 0
    config_key_set: bool = False


@dataclass
class PreviewResult:
    stack_file: str
    resources: list[GraphNode]
    violations: list[Violation]
    policies: list[PolicyInfo]
    effective_config: dict[str, dict[str, Any]]
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def mandatory(self) -> list[Violation]:
        return [v for v in self.violations if v.enforcement == "mandatory"]

    @property
    def exit_code(self) -> int:
        return EXIT_MANDATORY if self.mandatory else EXIT_OK


class PreviewError(Exception):
    """Stack config or program error: reported with exit code 2."""


# --------------------------------------------------------------------------- evaluation


def _default_provider(stack_config: Mapping[str, str]) -> AnalyzerProvider:
    """The provider the engine would create from the stack's `aws:*` config."""
    props: dict[str, Any] = {}
    for key, value in stack_config.items():
        if key.startswith("aws:"):
            props[key[4:]] = value
    return AnalyzerProvider(type="pulumi:providers:aws", name="default",
                            urn=f"urn:pulumi:{STACK}::{PROJECT}::pulumi:providers:aws::default",
                            properties=props)


def build_graph(resources: Sequence[Any], stack_config: Mapping[str, str]) -> list[GraphNode]:
    """Registered resources (components.mockrun.RegisteredResource) as analyzer nodes."""
    by_urn = {r.urn: r for r in resources}
    default = _default_provider(stack_config)
    nodes: list[GraphNode] = []
    for r in resources:
        provider: AnalyzerProvider | None = None
        if r.custom and not r.type.startswith("pulumi:providers:"):
            if r.provider:
                ref_urn = r.provider.rsplit("::", 1)[0]
                p = by_urn.get(ref_urn)
                if p is not None:
                    provider = AnalyzerProvider(type=p.type, name=p.name, urn=p.urn,
                                                properties=dict(p.inputs))
            elif r.type.startswith("aws:"):
                provider = default
        nodes.append(GraphNode(urn=r.urn, type=r.type, name=r.name, parent=r.parent,
                               custom=r.custom, inputs=dict(r.inputs),
                               # a created resource's state keeps its inputs; the mocks
                               # add computed values (ids, ARNs) but must not replace them
                               outputs={**r.outputs, **r.inputs} if r.custom else {},
                               provider=provider,
                               # recorded by evaluators that capture them (the engine does)
                               dependencies=tuple(getattr(r, "dependencies", ()) or ()),
                               property_dependencies={
                                   k: tuple(v) for k, v in
                                   (getattr(r, "property_dependencies", None) or {}).items()}))
    return nodes


def evaluate_stack(
    stack_config: Mapping[str, str],
    program: Path | Callable[[], None] | None = None,
) -> list[Any]:
    """Run the program under mocks; a program error (bad setting, ...) is a PreviewError."""
    from components.mockrun import evaluate_program  # heavy: imports pulumi_aws

    try:
        return evaluate_program(stack_config, program=program)
    except Exception as err:  # noqa: BLE001 - any program failure is reported, not swallowed
        raise PreviewError(f"the program failed under mocks: {type(err).__name__}: {err}") from err


#: What Pulumi allows in a stack name (`pulumi stack init`).
_STACK_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def project_dir(start: Path | None = None) -> Path:
    """The Pulumi project the current directory is in, found as the CLI finds it: the
    nearest directory upward holding `Pulumi.yaml`; else this repository's root."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / "Pulumi.yaml").is_file():
            return candidate
    return PROJECT_ROOT


def _stack_config_dir(project: Path) -> Path:
    """Where the project keeps `Pulumi.<stack>.yaml` (Pulumi.yaml's `stackConfigDir`)."""
    import yaml

    try:
        doc = yaml.safe_load((project / "Pulumi.yaml").read_text()) or {}
    except (OSError, yaml.YAMLError):
        return project
    configured = doc.get("stackConfigDir") if isinstance(doc, dict) else None
    return project / str(configured) if configured else project


def resolve_stack(value: str | Path, cwd: Path | None = None) -> Path:
    """`--stack` as the Pulumi CLI takes it, or a path.

    A stack name (`prod`, or fully qualified `acme/ir-readiness/prod`) means the stack's
    config file `Pulumi.prod.yaml` of the project (`stackConfigDir` honoured); anything
    that exists as a file, or ends in .yaml/.yml, is that file.
    """
    text = str(value)
    path = Path(text)
    if path.is_file() or path.suffix in (".yaml", ".yml"):
        return path
    name = text.rsplit("/", 1)[-1]
    if not _STACK_NAME.match(name):
        raise PreviewError(
            f"--stack {text!r} is neither a stack name (letters, digits, '-', '_', '.'; "
            "optionally org/project/stack) nor a stack config file (Pulumi.<stack>.yaml)")
    directory = _stack_config_dir(project_dir(cwd))
    found = directory / f"Pulumi.{name}.yaml"
    if not found.is_file():
        known = sorted(p.name[len("Pulumi."):-len(".yaml")]
                       for p in directory.glob("Pulumi.*.yaml"))
        raise PreviewError(
            f"stack {name!r} has no config file {found} (create it with `pulumi stack init "
            f"{name}` or copy Pulumi.example.yaml); stacks with a config file there: "
            f"{', '.join(known) or 'none'}")
    return found


def load_stack(path: Path) -> dict[str, str]:
    from components.mockrun import load_stack_config

    if not path.is_file():
        raise PreviewError(f"stack config {path} does not exist (pass --stack <stack name> "
                           "or --stack Pulumi.<stack>.yaml)")
    try:
        return load_stack_config(path)
    except ValueError as err:
        raise PreviewError(str(err)) from err


# --------------------------------------------------------------------------- analysis


def analyze(pack: PolicyPackProcess, nodes: Sequence[GraphNode],
            workers: int = ANALYZE_WORKERS) -> list[Violation]:
    """Analyze each resource (inputs, as at registration) and the stack (outputs).

    Like the engine, which analyzes resources as registrations arrive, the calls are made
    concurrently; results are kept in resource order.
    """
    by_urn = {n.urn: n for n in nodes}
    requests = [AnalyzerResource(urn=n.urn, type=n.type, name=n.name, properties=n.inputs,
                                 parent=n.parent, provider=n.provider)
                for n in nodes if not n.type.startswith("pulumi:providers:")]
    stack = [AnalyzerResource(urn=n.urn, type=n.type, name=n.name,
                              properties=n.outputs if n.custom else n.inputs,
                              parent=n.parent, provider=n.provider,
                              dependencies=n.dependencies,
                              property_dependencies=n.property_dependencies) for n in nodes]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        stack_future = pool.submit(pack.analyze_stack, stack)
        per_resource = list(pool.map(pack.analyze, requests))
        diagnostics: list[Diagnostic] = [d for ds in per_resource for d in ds]
        diagnostics.extend(stack_future.result())
    out = []
    for d in diagnostics:
        concerned = by_urn.get(d.urn)
        out.append(Violation(
            policy=d.policy, enforcement=d.enforcement, severity=d.severity, message=d.message,
            urn=d.urn, type=concerned.type if concerned else "pulumi:pulumi:Stack",
            name=concerned.name if concerned else STACK, phase=d.phase))
    # the pack answers concurrent calls in any order: sort so that two runs print the same
    out.sort(key=lambda v: (v.policy, v.urn, v.phase, v.message))
    return out


@dataclass(frozen=True)
class KeyLocation:
    """Where a config key is written in a stack config file (1-based line and column)."""

    line: int
    column: int
    written: bool
    """False: the key itself is absent (its default applies); the position is that of the
    nearest enclosing key that is written, or of `config:`."""


def locate_key(text: str, key: str) -> KeyLocation:
    """The position of `key` (`ir:trail.logRetentionDays`) in a Pulumi.<stack>.yaml text.

    The path after the namespaced top key is followed through nested mappings, as
    `pulumi config set --path` writes them.
    """
    import yaml

    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return KeyLocation(1, 1, False)

    def child(node: Any, name: str) -> tuple[Any, Any] | None:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode) and k.value == name:
                    return k, v
        return None

    found = child(root, "config")
    if found is None:
        return KeyLocation(1, 1, False)
    at, node = found
    top, _, rest = key.partition(".")
    parts = [top, *(rest.split(".") if rest else [])]
    for depth, part in enumerate(parts):
        nested = child(node, part)
        if nested is None:
            return KeyLocation(at.start_mark.line + 1, at.start_mark.column + 1, False)
        at, node = nested
        if depth == len(parts) - 1:
            return KeyLocation(at.start_mark.line + 1, at.start_mark.column + 1, True)
    return KeyLocation(at.start_mark.line + 1, at.start_mark.column + 1, False)


def _components_of(urn: str, by_urn: Mapping[str, GraphNode]) -> list[str]:
    """Class names of the components enclosing `urn` (itself included), innermost first."""
    out: list[str] = []
    seen: set[str] = set()
    while urn in by_urn and urn not in seen:
        seen.add(urn)
        node = by_urn[urn]
        if node.type.startswith("ir-readiness:index:"):
            out.append(node.type.rsplit(":", 1)[-1])
        urn = node.parent
    return out


def attach_config_sources(violations: Sequence[Violation], nodes: Sequence[GraphNode],
                          stack_file: Path) -> None:
    """Fill each violation's `ir:` key (components.config_sources) and its position."""
    from components.config_sources import config_source

    by_urn = {n.urn: n for n in nodes}
    try:
        text = stack_file.read_text()
    except OSError:  # a config handed over in memory (tests): keys, but no lines
        text = None
    for v in violations:
        source = config_source(v.policy, _components_of(v.urn, by_urn))
        if source is None:
            continue
        v.config_key, v.fixed_by_config = source.key, source.fix
        if text is not None:
            where = locate_key(text, source.key)
            v.config_line, v.config_column = where.line, where.column
            v.config_key_set = where.written


def config_remedy(v: Violation, stack_file: str) -> str:
    """One sentence naming the `ir:` key a reviewer changes (or why none does)."""
    if not v.config_key:
        return ("No stack-config key produced this resource: it is declared outside the "
                "components (see __main__.py).")
    name = Path(stack_file).name
    where = (f"{name} line {v.config_line}" if v.config_key_set
             else f"not set in {name}: its default applies")
    if v.fixed_by_config:
        verb = "Change" if v.config_key_set else "Set"
        return (f"{verb} {v.config_key} ({where}): pulumi config set --path "
                f"'{v.config_key}' <value>")
    return (f"Produced by {v.config_key} ({where}); no value of it removes this finding: "
            "the component's code declares it.")


def local_policies() -> list[PolicyInfo]:
    """The pack's policies as GetAnalyzerInfo describes them, from this checkout's rules."""
    from .rules import REGISTRY

    return [PolicyInfo(name=i.name, description=i.description, enforcement=i.enforcement,
                       severity=i.severity, kind=i.kind, remediation=i.remediation,
                       config_schema={"properties": dict(i.config)} if i.config else {})
            for i in REGISTRY.values()]


def run_preview(
    stack_file: Path,
    *,
    pack: PolicyPackProcess | None = None,
    policy_config: Mapping[str, Any] | None = None,
    program: Path | Callable[[], None] | None = None,
    stack_config: Mapping[str, str] | None = None,
) -> PreviewResult:
    """Evaluate and analyze. Reuses `pack` when given (tests), else starts one and stops it.

    The pack starts in the background while the program evaluates; both take about a
    second, so the preview costs the longer of the two, not their sum.
    """
    timings: dict[str, float] = {}
    started = time.perf_counter()
    # Fail fast on a malformed policy config, before any evaluation: the same schemas the
    # pack serves (and validates against again when Configure is called).
    resolve_config(local_policies(), policy_config or {})
    config = dict(stack_config) if stack_config is not None else load_stack(stack_file)
    own_pack = pack is None
    if pack is not None and pack.stack_config.get("aws:region") != config.get("aws:region"):
        # the pack reads the default region from the config it was started with
        raise PreviewError(
            f"the running policy pack was started for aws:region "
            f"{pack.stack_config.get('aws:region')!r}, the stack config says "
            f"{config.get('aws:region')!r}; start a pack with this stack's config")
    box: dict[str, Any] = {}

    def start() -> None:
        try:
            box["pack"] = PolicyPackProcess.start(stack_config=config, project=PROJECT, stack=STACK)
        except (PackStartError, OSError) as err:  # reported after evaluation
            box["error"] = err

    starter = threading.Thread(target=start, daemon=True) if own_pack else None
    if starter is not None:
        starter.start()
    try:
        t0 = time.perf_counter()
        resources = evaluate_stack(config, program)
        timings["evaluate_s"] = time.perf_counter() - t0
        nodes = build_graph(resources, config)
        if starter is not None:
            starter.join()
            if "error" in box:
                raise PreviewError(f"could not start the policy pack: {box['error']}")
            pack = box["pack"]
        assert pack is not None
        t0, cpu0, pack_cpu0 = time.perf_counter(), time.process_time(), pack.cpu_seconds()
        effective = pack.configure(policy_config or {})
        pack.configure_stack(STACK, PROJECT, config)
        try:
            violations = analyze(pack, nodes)
        except PackCallError as err:
            raise PreviewError(str(err)) from err
        attach_config_sources(violations, nodes, Path(stack_file))
        timings["analyze_s"] = time.perf_counter() - t0
        pack_cpu1 = pack.cpu_seconds()
        if pack_cpu0 is not None and pack_cpu1 is not None:
            # CPU of both sides, a measure that machine load does not inflate
            timings["analyze_cpu_s"] = (time.process_time() - cpu0) + (pack_cpu1 - pack_cpu0)
            timings["pack_analyze_cpu_s"] = pack_cpu1 - pack_cpu0
        policies = pack.policies()
    finally:
        if own_pack:
            if starter is not None:
                starter.join()
            if "pack" in box:
                box["pack"].close()
    timings["total_s"] = time.perf_counter() - started
    # this process's CPU since it started (interpreter, imports, evaluation, client side)
    timings["process_cpu_s"] = time.process_time()
    return PreviewResult(str(stack_file), nodes, violations, policies, effective, timings)


# --------------------------------------------------------------------------- output


def print_tree(console: Console, nodes: Sequence[GraphNode]) -> None:
    root = Tree(f"[bold]+ pulumi:pulumi:Stack[/] {PROJECT}-{STACK} [dim](create)[/]")
    branches: dict[str, Tree] = {}
    known = {n.urn for n in nodes}
    for node in nodes:
        if node.type.startswith("pulumi:providers:"):
            label = f"[cyan]+ {node.type}[/] {escape(node.name)} [dim](provider)[/]"
        else:
            label = f"[green]+ {node.type}[/] {escape(node.name)}"
        parent: Tree = branches.get(node.parent, root) if node.parent in known else root
        branches[node.urn] = parent.add(label)
    console.print(root)


def print_violations(console: Console, result: PreviewResult) -> None:
    if not result.violations:
        console.print("[bold green]Policy pack ir-readiness: no violations.[/]")
        return
    order = {"mandatory": 0, "advisory": 1}
    for v in sorted(result.violations, key=lambda v: (order.get(v.enforcement, 2), v.policy)):
        colour = "red" if v.enforcement == "mandatory" else "yellow"
        lines = v.message.splitlines()
        detail = lines[1:] or lines
        subject = (f"[bold]{escape(v.type)}[/] {escape(v.name)}" if v.urn
                   else "the stack")
        console.print(f"[bold {colour}]{v.enforcement}[/] [{colour}]{v.policy}[/] "
                      f"({v.severity}) on {subject}")
        for line in detail:
            console.print(f"    {escape(line)}")
        console.print(f"    Config: {escape(config_remedy(v, result.stack_file))}")
    table = Table(title="Policy violations")
    table.add_column("enforcement")
    table.add_column("count", justify="right")
    for level in ("mandatory", "advisory"):
        table.add_row(level, str(sum(1 for v in result.violations if v.enforcement == level)))
    console.print(table)


def print_limitations(console: Console) -> None:
    console.print("[bold]What this preview cannot see (compared with `pulumi preview`):[/]")
    for item in LIMITATIONS:
        console.print(f"  - {item}")


def _source_locations(root: Path = PROJECT_ROOT) -> dict[str, tuple[str, int]]:
    """Component class name -> (relative path, line), to anchor SARIF annotations."""
    out: dict[str, tuple[str, int]] = {}
    pattern = re.compile(r"^class (\w+)\(.*ComponentResource")
    for path in sorted((root / "components").glob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            match = pattern.match(line)
            if match:
                out[match.group(1)] = (path.relative_to(root).as_posix(), number)
    return out


def _artifact_uri(path: str) -> str:
    """The stack file as code-scanning platforms resolve it: relative to the checkout
    (the working directory of the CI job), in POSIX form."""
    given = Path(path)
    if given.is_absolute():
        try:
            given = given.relative_to(Path.cwd())
        except ValueError:
            return given.as_posix()
    return given.as_posix()


def _code_location(v: Violation, by_urn: Mapping[str, GraphNode],
                   sources: Mapping[str, tuple[str, int]]) -> tuple[str, int, str] | None:
    """(file, line, component) of the component class that declares the resource."""
    for component in _components_of(v.urn, by_urn):
        found = sources.get(component)
        if found:
            return found[0], found[1], component
    return None


def _locations(v: Violation, by_urn: Mapping[str, GraphNode],
               sources: Mapping[str, tuple[str, int]],
               stack_file: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """SARIF `locations` and `relatedLocations` of a violation.

    Primary: the stack config key that produced the resource (or that the finding is
    about), at its line in Pulumi.<stack>.yaml: what a reviewer changes. Related: the
    component class declaring the resource. Without a config key, the component class is
    the primary location (else the stack file's first line).
    """
    code = _code_location(v, by_urn, sources)
    related: list[dict[str, Any]] = []
    if v.config_key and v.config_line:
        primary = {"artifactLocation": {"uri": _artifact_uri(stack_file)},
                   "region": {"startLine": v.config_line, "startColumn": v.config_column}}
        if code is not None:
            related.append({"id": 1, "physicalLocation": {
                "artifactLocation": {"uri": code[0]}, "region": {"startLine": code[1]}},
                "message": {"text": f"{code[2]} declares {v.type} {v.name}"}})
    elif code is not None:
        primary = {"artifactLocation": {"uri": code[0]}, "region": {"startLine": code[1]}}
    else:
        primary = {"artifactLocation": {"uri": _artifact_uri(stack_file)},
                   "region": {"startLine": 1}}
    location: dict[str, Any] = {"physicalLocation": primary}
    if v.urn:
        location["logicalLocations"] = [{"fullyQualifiedName": v.urn, "name": v.name,
                                         "kind": "resource"}]
    return [location], related


def to_sarif(result: PreviewResult) -> dict[str, Any]:
    rules = []
    index: dict[str, int] = {}
    for i, p in enumerate(result.policies):
        index[p.name] = i
        rules.append({
            "id": p.name,
            "name": p.name,
            "shortDescription": {"text": p.description},
            "help": {"text": p.remediation or p.description},
            "defaultConfiguration": {"level": "error" if p.enforcement == "mandatory"
                                     else "warning"},
            "properties": {"security-severity": _SEVERITY_SCORE.get(p.severity, "5.0"),
                           "enforcementLevel": p.enforcement, "policyType": p.kind,
                           "tags": ["security", "incident-response"]},
        })
    by_urn = {n.urn: n for n in result.resources}
    sources = _source_locations()
    results = []
    for v in result.violations:
        locations, related = _locations(v, by_urn, sources, result.stack_file)
        entry: dict[str, Any] = {
            "ruleId": v.policy,
            "ruleIndex": index.get(v.policy, -1),
            "level": "error" if v.enforcement == "mandatory" else "warning",
            "message": {"text": f"{v.type} {v.name}: {v.message}\n"
                                f"Config: {config_remedy(v, result.stack_file)}"},
            "locations": locations,
            # the same finding on the same resource keeps its identity across pushes, so a
            # review platform shows it as still open rather than as fixed and new again
            "partialFingerprints": {"irReadinessFinding/v1": hashlib.sha256(
                f"{v.policy}|{v.urn}|{v.message}".encode()).hexdigest()[:32]},
            "properties": {"urn": v.urn, "severity": v.severity, "phase": v.phase,
                           "configKey": v.config_key, "fixedByConfig": v.fixed_by_config,
                           "configKeySet": v.config_key_set},
        }
        if related:
            entry["relatedLocations"] = related
        results.append(entry)
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "ir-readiness-policy-preview", "version": "0.1.0",
                                "informationUri": "https://www.pulumi.com/docs/iac/using-pulumi/crossguard/",
                                "rules": rules}},
            "invocations": [{"executionSuccessful": True,
                             "toolExecutionNotifications": [
                                 {"level": "note", "message": {"text": t}} for t in LIMITATIONS]}],
            "results": results,
        }],
    }


def to_json(result: PreviewResult, timings: bool = False) -> dict[str, Any]:
    """The report; `timings` (seconds, different on every run) only when asked for, so
    the same stack gives the same file."""
    doc: dict[str, Any] = {
        "stack": result.stack_file,
        "resourceCount": len(result.resources),
        "violations": [asdict(v) for v in result.violations],
        "summary": {"mandatory": len(result.mandatory),
                    "advisory": len(result.violations) - len(result.mandatory),
                    "exitCode": result.exit_code},
        "policies": [asdict(p) for p in result.policies],
        "limitations": list(LIMITATIONS),
    }
    if timings:
        doc["timings"] = {k: round(v, 3) for k, v in result.timings.items()}
    return doc


# --------------------------------------------------------------------------- CLI


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m policies.preview",
        description="Credential-free preview: evaluate the Pulumi program under mocks for a "
                    "stack config and run the ir-readiness policy pack over the resource graph "
                    "through its analyzer protocol. Exit 0: no mandatory violation; 1: "
                    "mandatory violations; 2: bad stack config, policy config or program error, "
                    "or the pack failed.")
    parser.add_argument("--stack", default=str(DEFAULT_STACK), metavar="STACK",
                        help="stack name as for `pulumi --stack` (prod, or "
                             "org/project/prod: reads the project's Pulumi.prod.yaml), or "
                             "a stack config file (default: the project's "
                             "Pulumi.example.yaml)")
    parser.add_argument("--policy-config", type=Path, metavar="FILE",
                        help="policy pack config JSON, as for --policy-pack-config")
    parser.add_argument("--sarif", type=Path, default=Path("build/policy-preview.sarif"),
                        metavar="FILE",
                        help="SARIF 2.1.0 output (default: %(default)s)")
    parser.add_argument("--json", type=Path, default=Path("build/policy-preview.json"),
                        metavar="FILE",
                        help="JSON output (default: %(default)s)")
    parser.add_argument("--no-tree", action="store_true", help="do not print the resource tree")
    parser.add_argument("--timings", action="store_true",
                        help="add timings to the JSON and print them on stderr (off by "
                             "default: the same stack then gives byte-identical output)")
    return parser


def _from_cwd(path: Path) -> Path:
    """`path` relative to the working directory when under it: what the output names must
    not depend on where the checkout lives (two CI runners, two reviewers)."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return path


def _write(path: Path, doc: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2) + "\n")


def main(argv: Iterable[str] | None = None) -> int:
    args = _parser().parse_args(list(argv) if argv is not None else None)
    # CI logs are not terminals: keep long resource names whole instead of cropping at 80
    width = None if sys.stdout.isatty() else 200
    console = Console(highlight=False, soft_wrap=True, width=width)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        stack = _from_cwd(resolve_stack(args.stack))
        policy_config = load_policy_config(args.policy_config) if args.policy_config else None
        result = run_preview(stack, policy_config=policy_config)
    except (PreviewError, PolicyConfigError) as error:
        err.print(f"[bold red]error:[/] {escape(str(error))}")
        return EXIT_USAGE
    console.print(f"Previewing stack config [bold]{escape(str(stack))}[/] under Pulumi "
                  "mocks (no cloud credentials, no Pulumi CLI)")
    if not args.no_tree:
        print_tree(console, result.resources)
    console.print(f"Resources: [bold]{len(result.resources)}[/] to create")
    print_violations(console, result)
    print_limitations(console)
    _write(args.sarif, to_sarif(result))
    _write(args.json, to_json(result, timings=args.timings))
    console.print(f"SARIF: {escape(str(args.sarif))}  JSON: {escape(str(args.json))}")
    if args.timings:
        err.print(f"evaluate {result.timings.get('evaluate_s', 0):.2f}s, analyze "
                  f"{result.timings.get('analyze_s', 0):.2f}s")
    if result.mandatory:
        console.print(f"[bold red]{len(result.mandatory)} mandatory violation(s): failing.[/]")
    return result.exit_code


if __name__ == "__main__":
    sys.exit(main())
