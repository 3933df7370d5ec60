"""Shared machinery for the rules: one decorator per policy kind, IAM document parsing,
region resolution and a stack index that correlates pulumi-aws v7's split resources.

Everything here depends only on the standard library and pulumi_policy, so the pack
stays self-contained (it is published and run without the rest of the repository).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

#: Tag read to recognise what a resource is for (isolation group, evidence bucket, ...).
PURPOSE_TAG = "ir-readiness:purpose"


# --------------------------------------------------------------------------- metadata


@dataclass(frozen=True)
class RuleInfo:
    """What a reviewer sees about a rule; kept in one registry for docs, SARIF and tests."""

    name: str
    area: str
    description: str
    severity: str
    enforcement: str
    remediation: str
    kind: str  # "resource" or "stack"
    config: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def defaults(self) -> dict[str, Any]:
        return {k: v["default"] for k, v in self.config.items() if "default" in v}


Policy = ResourceValidationPolicy | StackValidationPolicy
#: Builds a rule's policy object with a given enforcement level and config defaults.
PolicyBuilder = Callable[[EnforcementLevel, Mapping[str, Any]], Policy]

#: Every rule of the pack, by name (filled by the decorators at import time of each module).
REGISTRY: dict[str, RuleInfo] = {}
#: The pulumi_policy objects, in registration order.
POLICIES: list[Policy] = []
#: Per rule, how to build a fresh policy object (`select` composes packs from these).
BUILDERS: dict[str, PolicyBuilder] = {}


def _register(info: RuleInfo, build: PolicyBuilder) -> Policy:
    if info.name in REGISTRY:
        raise ValueError(f"duplicate policy name {info.name!r}")
    REGISTRY[info.name] = info
    BUILDERS[info.name] = build
    policy = build(EnforcementLevel(info.enforcement), {})
    POLICIES.append(policy)
    return policy


_JSON_TYPES: Mapping[str, tuple[type, ...]] = {
    "string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,),
    "array": (list, tuple), "object": (dict,),
}


def schema_problem(schema: Mapping[str, Any], value: Any) -> str | None:
    """What is wrong with `value` for one setting's JSON schema, or None.

    The keywords the rules' settings use (type, enum, minimum, maximum, pattern, items,
    minItems, uniqueItems); the pack depends on pulumi_policy only, which has no schema
    validator, and the CLI validates the config it is given, not a composed default.
    """
    import re

    kind = schema.get("type")
    if isinstance(kind, str) and kind in _JSON_TYPES:
        is_bool = isinstance(value, bool)
        if not isinstance(value, _JSON_TYPES[kind]) or (is_bool and kind != "boolean"):
            return f"must be of type {kind}"
    if "enum" in schema and value not in schema["enum"]:
        return f"must be one of {list(schema['enum'])}"
    if "minimum" in schema and value < schema["minimum"]:
        return f"must be at least {schema['minimum']}"
    if "maximum" in schema and value > schema["maximum"]:
        return f"must be at most {schema['maximum']}"
    if "pattern" in schema and not re.search(str(schema["pattern"]), str(value)):
        return f"must match {schema['pattern']}"
    if isinstance(value, list | tuple):
        if len(value) < int(schema.get("minItems", 0)):
            return f"must have at least {schema['minItems']} item(s)"
        if schema.get("uniqueItems") and len({json.dumps(v, sort_keys=True) for v in value}) \
                != len(value):
            return "must not repeat an item"
        items = schema.get("items")
        if isinstance(items, Mapping):
            for position, item in enumerate(value):
                problem = schema_problem(items, item)
                if problem:
                    return f"item {position} {problem}"
    return None


def _with_defaults(info: RuleInfo, defaults: Mapping[str, Any]) -> RuleInfo:
    """`info` whose config schema defaults are `defaults` (validated against it)."""
    if not defaults:
        return info
    unknown = sorted(set(defaults) - set(info.config))
    if unknown:
        raise ValueError(
            f"policy {info.name!r} has no setting {', '.join(unknown)}; its settings: "
            f"{', '.join(sorted(info.config)) or '(none)'}")
    config = {k: dict(v) for k, v in info.config.items()}
    for key, value in defaults.items():
        problem = schema_problem(config[key], value)
        if problem:
            raise ValueError(f"policy {info.name!r} setting {key}={value!r}: {problem}")
        config[key]["default"] = value
    return RuleInfo(info.name, info.area, info.description, info.severity, info.enforcement,
                    info.remediation, info.kind, config)


def _schema(config: Mapping[str, Mapping[str, Any]] | None) -> PolicyConfigSchema | None:
    if not config:
        return None
    return PolicyConfigSchema(properties={k: dict(v) for k, v in config.items()})


def _merged(info: RuleInfo, given: Mapping[str, Any]) -> dict[str, Any]:
    """Config with the schema defaults filled in (the CLI does the same before Configure)."""
    merged = info.defaults()
    merged.update({k: v for k, v in given.items() if k != "enforcementLevel"})
    return merged


# --------------------------------------------------------------------------- contexts


@dataclass
class ResourceContext:
    """What a per-resource rule sees: inputs as the engine sends them (camelCase)."""

    type: str
    name: str
    urn: str
    props: Mapping[str, Any]
    provider_props: Mapping[str, Any]
    config: Mapping[str, Any]

    @property
    def region(self) -> str | None:
        return resolve_region(self.props, self.provider_props)


#: What a stack check yields: (message, URN of the offending resource or None for the stack).
Findings = Iterator[tuple[str, str | None]]
ResourceCheck = Callable[[ResourceContext], Iterable[str]]
StackCheck = Callable[["StackIndex", Mapping[str, Any]], Iterable[tuple[str, str | None]]]


def resource_rule(
    *,
    name: str,
    area: str,
    description: str,
    severity: Severity,
    mandatory: bool,
    remediation: str,
    types: Iterable[str],
    config: Mapping[str, Mapping[str, Any]] | None = None,
) -> Callable[[ResourceCheck], ResourceValidationPolicy]:
    """Declare a per-resource rule. The check yields one message per violation."""
    type_set = frozenset(types)
    level = EnforcementLevel.MANDATORY if mandatory else EnforcementLevel.ADVISORY
    info = RuleInfo(name, area, description, severity.value, level.value, remediation,
                    "resource", dict(config or {}))

    def decorate(check: ResourceCheck) -> ResourceValidationPolicy:
        def build(enforcement: EnforcementLevel,
                  defaults: Mapping[str, Any]) -> ResourceValidationPolicy:
            built = _with_defaults(info, defaults)

            def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
                if args.resource_type not in type_set:
                    return
                provider_props = args.provider.props if args.provider is not None else {}
                ctx = ResourceContext(args.resource_type, args.name, args.urn, args.props,
                                      provider_props, _merged(built, args.get_config()))
                for message in check(ctx):
                    report(f"{message}\nRemediation: {remediation}", None)

            return ResourceValidationPolicy(
                name=name, description=description, validate=validate,
                enforcement_level=enforcement, config_schema=_schema(built.config),
                severity=severity, remediation_steps=remediation, tags=[area])

        policy = _register(info, build)
        assert isinstance(policy, ResourceValidationPolicy)
        return policy

    return decorate


def stack_rule(
    *,
    name: str,
    area: str,
    description: str,
    severity: Severity,
    mandatory: bool,
    remediation: str,
    config: Mapping[str, Mapping[str, Any]] | None = None,
) -> Callable[[StackCheck], StackValidationPolicy]:
    """Declare a whole-stack rule. The check yields (message, urn or None for the stack)."""
    level = EnforcementLevel.MANDATORY if mandatory else EnforcementLevel.ADVISORY
    info = RuleInfo(name, area, description, severity.value, level.value, remediation,
                    "stack", dict(config or {}))

    def decorate(check: StackCheck) -> StackValidationPolicy:
        def build(enforcement: EnforcementLevel,
                  defaults: Mapping[str, Any]) -> StackValidationPolicy:
            built = _with_defaults(info, defaults)

            def validate(args: StackValidationArgs, report: ReportViolation) -> None:
                index = StackIndex(args.resources)
                for message, urn in check(index, _merged(built, args.get_config())):
                    report(f"{message}\nRemediation: {remediation}", urn)

            return StackValidationPolicy(
                name=name, description=description, validate=validate,
                enforcement_level=enforcement, config_schema=_schema(built.config),
                severity=severity, remediation_steps=remediation, tags=[area])

        policy = _register(info, build)
        assert isinstance(policy, StackValidationPolicy)
        return policy

    return decorate


# --------------------------------------------------------------------------- regions


def default_region() -> str | None:
    """The stack's `aws:region`, which the CLI hands the pack in PULUMI_CONFIG."""
    import pulumi.runtime  # local: only needed when a resource has no explicit region

    value = pulumi.runtime.get_config("aws:region")
    return str(value) if value else None


def resolve_region(props: Mapping[str, Any], provider_props: Mapping[str, Any]) -> str | None:
    """v7 per-resource `region` input, else the provider's `region`, else `aws:region`."""
    for source in (props, provider_props):
        value = source.get("region") if source else None
        if isinstance(value, str) and value:
            return value
    return default_region()


# --------------------------------------------------------------------------- documents


def parse_document(value: Any) -> dict[str, Any] | None:
    """An IAM-style policy as a dict, from a JSON string or an already-structured value."""
    if value is None or value == "":
        return None
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            return None
        return parsed if isinstance(parsed, dict) else None
    return None


def as_list(value: Any) -> list[Any]:
    """A list from a scalar or any sequence (the analyzer hands rules read-only proxies,
    which are Sequence/Mapping but not list/dict)."""
    if value is None:
        return []
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return list(value)
    return [value]


def statements(doc: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    if not doc:
        return []
    return [s for s in as_list(doc.get("Statement")) if isinstance(s, Mapping)]


def allows(stmt: Mapping[str, Any]) -> bool:
    return str(stmt.get("Effect", "")).lower() == "allow"


def principals(stmt: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(kind, value) pairs; a bare `"*"` principal is reported as ("*", "*")."""
    principal = stmt.get("Principal")
    if principal is None:
        return []
    if isinstance(principal, str):
        return [("*", principal)]
    out: list[tuple[str, str]] = []
    if isinstance(principal, Mapping):
        for kind, values in principal.items():
            out.extend((str(kind), str(v)) for v in as_list(values))
    return out


def is_wildcard_principal(kind: str, value: str) -> bool:
    return value == "*" and kind in ("*", "AWS", "CanonicalUser", "Federated")


def actions(stmt: Mapping[str, Any]) -> list[str]:
    return [str(a) for a in as_list(stmt.get("Action"))]


def condition_keys(stmt: Mapping[str, Any]) -> dict[str, Any]:
    """Condition keys (lower-cased) to their values, across all operators."""
    out: dict[str, Any] = {}
    condition = stmt.get("Condition")
    if isinstance(condition, Mapping):
        for block in condition.values():
            if isinstance(block, Mapping):
                for key, value in block.items():
                    out[str(key).lower()] = value
    return out


def tags_of(props: Mapping[str, Any]) -> dict[str, str]:
    tags = props.get("tags")
    if isinstance(tags, Mapping):
        return {str(k): str(v) for k, v in tags.items()}
    return {}


def purpose_of(props: Mapping[str, Any]) -> str:
    tags = tags_of(props)
    return tags.get(PURPOSE_TAG, tags.get("Purpose", "")).lower()


def present(props: Mapping[str, Any], key: str) -> bool:
    """Whether an input is set. In a real preview a value computed by another resource
    (a key ARN, a log group ARN) is unknown: it is set, just not known yet."""
    try:
        return bool(props.get(key))
    except UnknownValueError:
        return True


def known(props: Mapping[str, Any], key: str) -> Any:
    """The input's value, or None when it is unknown until deployment."""
    try:
        return props.get(key)
    except UnknownValueError:
        return None


def int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


# --------------------------------------------------------------------------- stack index


class StackIndex:
    """The stack's resources with the lookups stack rules need.

    pulumi-aws v7 spreads one bucket over several resources (Bucket, BucketVersioning,
    BucketPolicy, ...). They are tied back to their bucket first through the engine's
    property dependencies (`bucket` depends on the Bucket's URN: works in a real preview
    where ids are still unknown), then by the literal bucket name for buckets named
    outright.
    """

    def __init__(self, resources: list[PolicyResource]) -> None:
        self.resources = resources
        self.by_urn = {r.urn: r for r in resources}
        self._by_type: dict[str, list[PolicyResource]] = {}
        for r in resources:
            self._by_type.setdefault(r.resource_type, []).append(r)

    def of_type(self, *types: str) -> list[PolicyResource]:
        out: list[PolicyResource] = []
        for t in types:
            out.extend(self._by_type.get(t, []))
        return out

    def region(self, resource: PolicyResource) -> str | None:
        provider_props = resource.provider.props if resource.provider is not None else {}
        return resolve_region(resource.props, provider_props)

    def references(self, resource: PolicyResource, prop: str, targets: list[PolicyResource],
                   match_props: Iterable[str],
                   normalise: Callable[[str], str] | None = None) -> list[PolicyResource]:
        """Which of `targets` the `prop` input of `resource` points at.

        Property dependencies first. Otherwise the value is compared with each target's
        `match_props` (after `normalise`, e.g. bucket name from an ARN with a prefix);
        names such as a backup vault's repeat in every region, so when several targets
        match, those in the resource's own region win.
        """
        target_urns = {t.urn for t in targets}
        linked = [d for d in resource.property_dependencies.get(prop, []) if d.urn in target_urns]
        if linked:
            return linked
        try:
            value = resource.props.get(prop)
        except UnknownValueError:  # computed and unknown in a preview: nothing to match by
            return []
        if not isinstance(value, str) or not value:
            return []
        if normalise is not None:
            value = normalise(value)
        keys = tuple(match_props)
        found = [t for t in targets
                 if any(t.props.get(k) == value for k in keys) or t.name == value]
        if len(found) > 1:
            region = self.region(resource)
            local = [t for t in found if self.region(t) == region]
            return local or found
        return found

    def covered_regions(self, configured: Iterable[str]) -> list[str]:
        """Configured regions, else every region the stack declares an AWS resource in."""
        regions = [r for r in configured if r]
        if regions:
            return regions
        seen: list[str] = []
        for r in self.resources:
            if r.resource_type.startswith("aws:"):
                region = self.region(r)
                if region and region not in seen:
                    seen.append(region)
        return seen


def describe(resource: PolicyResource) -> str:
    return f"{resource.resource_type} {resource.name!r}"
