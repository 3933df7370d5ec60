"""The import graph, read from the source with `ast`: no cycles, arrows point down.

Layers of `runbooks`, bottom to top (docs/architecture.md):

    core (contract: manifest, ids, tags; engine: context, step, runner, audit, claims)
    steps                       registered actions; import the engine only
    playbooks, analysis         documents and read-only analysis; no workflow, no adapter
    workflows                   procedures: no click, no exit, no rendering
    cli + commands, automation  the adapters: only they render and exit

Every import counts, including function-local ones and those under TYPE_CHECKING (a
type is a dependency too). `components` and `policies` are in the graph for cycles.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.ast_parse import parse_file

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("runbooks", "components", "policies", "rehearsal")

# Known exceptions: none. An entry here needs a comment saying why and when it goes.
ALLOWED_PACKAGE_CYCLES: set[frozenset[str]] = set()
ALLOWED_MODULE_CYCLES: set[frozenset[str]] = set()
ALLOWED_CLICK: set[str] = set()

ADAPTERS = ("runbooks.cli", "runbooks.commands", "runbooks.automation.handler")
"""The only modules that may render and exit (besides `__main__` entry blocks)."""

FORBIDDEN = {
    "runbooks.core": ("runbooks.steps", "runbooks.workflows", "runbooks.commands",
                      "runbooks.cli", "runbooks.automation", "rehearsal", "click",
                      "rich"),
    "runbooks.steps": ("runbooks.workflows", "runbooks.commands", "runbooks.cli",
                       "runbooks.automation", "rehearsal", "click", "rich"),
    "runbooks.playbooks": ("runbooks.workflows", "runbooks.commands", "runbooks.cli",
                           "runbooks.automation"),
    "runbooks.analysis": ("runbooks.workflows", "runbooks.commands", "runbooks.cli",
                          "runbooks.automation"),
    "runbooks.workflows": ("runbooks.commands", "runbooks.cli", "runbooks.automation",
                           "rehearsal", "click", "rich"),
}
"""importer layer -> what it must not import (a module or anything under it); click and
rich are how the CLI parses and renders."""

QUIET = ("runbooks.core", "runbooks.steps", "runbooks.workflows")
"""Layers that never write to the terminal themselves (no print)."""


@dataclass(frozen=True)
class Edge:
    importer: str
    imported: str
    line: int


def modules(root: Path, packages: Iterable[str]) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file under the packages."""
    found: dict[str, Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def _imported_names(module: str, is_package: bool, node: ast.AST) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        if node.level:  # relative: from the module's package, one level up per extra dot
            base = module.split(".") if is_package else module.split(".")[:-1]
            base = base[:len(base) - (node.level - 1)]
            origin = ".".join(base + ([node.module] if node.module else []))
        else:
            origin = node.module or ""
        # `from pkg import mod` imports the module pkg.mod when there is one (the
        # package itself only for names that are not modules: see import_edges)
        return [origin] + [f"{origin}.{alias.name}" for alias in node.names]
    return []


def import_edges(root: Path, packages: Iterable[str]) -> list[Edge]:
    """Every import (top-level, function-local, TYPE_CHECKING) between modules of the
    packages, plus imports of third-party modules (kept by their full dotted name)."""
    known = modules(root, packages)

    def resolve(name: str) -> str | None:
        while name and name not in known:
            name = name.rpartition(".")[0]
        return name or None

    edges: set[Edge] = set()
    for module, path in known.items():
        tree = parse_file(path)
        for node in ast.walk(tree):
            names = _imported_names(module, path.name == "__init__.py", node)
            if isinstance(node, ast.ImportFrom) and names[1:] and all(
                    n in known for n in names[1:]):
                # `from pkg import a, b` where a and b are modules: an edge to each
                # module, none to pkg (as `import pkg.a` has none to pkg)
                names = names[1:]
            for name in names:
                target = resolve(name)
                if target is None and name.split(".")[0] not in PACKAGES:
                    target = name  # third-party (click, boto3...): for the layer rules
                if target and target != module:
                    edges.add(Edge(module, target, getattr(node, "lineno", 0)))
    return sorted(edges, key=lambda e: (e.importer, e.imported, e.line))


def package_of(module: str) -> str:
    """The unit a package cycle is about: `runbooks.core.step` -> `runbooks.core`."""
    return ".".join(module.split(".")[:2])


def cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """Strongly connected components with more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []
    nodes = sorted(set(graph) | {n for targets in graph.values() for n in targets})
    counter = 0
    for start in nodes:
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(frozenset(component))
    return found


def module_graph(edges: Iterable[Edge], known: Iterable[str]) -> dict[str, set[str]]:
    inside = set(known)
    graph: dict[str, set[str]] = {}
    for edge in edges:
        if edge.imported in inside:
            graph.setdefault(edge.importer, set()).add(edge.imported)
    return graph


def package_graph(edges: Iterable[Edge], known: Iterable[str]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for importer, targets in module_graph(edges, known).items():
        for imported in targets:
            if package_of(importer) != package_of(imported):
                graph.setdefault(package_of(importer), set()).add(package_of(imported))
    return graph


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def layer_violations(edges: Iterable[Edge], forbidden: dict[str, tuple[str, ...]]) -> list[str]:
    return [f"{e.importer} (line {e.line}) imports {e.imported}"
            for e in edges for layer, banned in forbidden.items()
            if _under(e.importer, layer) and any(_under(e.imported, b) for b in banned)]


def _is_main_guard(node: ast.AST) -> bool:
    return (isinstance(node, ast.If) and isinstance(node.test, ast.Compare)
            and isinstance(node.test.left, ast.Name) and node.test.left.id == "__name__"
            and any(isinstance(c, ast.Constant) and c.value == "__main__"
                    for c in node.test.comparators))


def exits(path: Path) -> list[int]:
    """Lines that end the process: sys.exit / os._exit / exit() / quit(), or SystemExit
    raised or built, outside an `if __name__ == "__main__":` entry block."""
    tree = parse_file(path)
    guarded = {id(n) for guard in ast.walk(tree) if _is_main_guard(guard)
               for n in ast.walk(guard)}
    lines = []
    for node in ast.walk(tree):
        if id(node) in guarded:
            continue
        if isinstance(node, ast.Attribute) and (
                (node.attr == "exit" and isinstance(node.value, ast.Name)
                 and node.value.id == "sys")
                or (node.attr == "_exit" and isinstance(node.value, ast.Name)
                    and node.value.id == "os")):
            lines.append(node.lineno)
        elif isinstance(node, ast.Name) and node.id == "SystemExit":
            lines.append(node.lineno)
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id in ("exit", "quit")):
            lines.append(node.lineno)
        elif isinstance(node, ast.ImportFrom) and node.module in ("sys", "os") and any(
                a.name in ("exit", "_exit") for a in node.names):
            lines.append(node.lineno)
    return sorted(lines)


def prints(path: Path) -> list[int]:
    """Lines calling print()."""
    tree = parse_file(path)
    return sorted(node.lineno for node in ast.walk(tree) if isinstance(node, ast.Call)
                  and isinstance(node.func, ast.Name) and node.func.id == "print")


def exit_violations(root: Path, packages: Iterable[str],
                    adapters: Iterable[str] = ADAPTERS) -> list[str]:
    allowed = tuple(adapters)
    return [f"{module} line {line} exits" for module, path in modules(root, packages).items()
            if not any(_under(module, a) for a in allowed) for line in exits(path)]


# -- the project --------------------------------------------------------------------

KNOWN = modules(ROOT, PACKAGES)
EDGES = import_edges(ROOT, PACKAGES)


def test_no_import_cycle_between_packages() -> None:
    found = set(cycles(package_graph(EDGES, KNOWN)))
    assert sorted(map(sorted, found - ALLOWED_PACKAGE_CYCLES)) == []


def test_no_import_cycle_between_modules() -> None:
    found = set(cycles(module_graph(EDGES, KNOWN)))
    assert sorted(map(sorted, found - ALLOWED_MODULE_CYCLES)) == []


def test_each_layer_imports_only_below_it() -> None:
    assert layer_violations(EDGES, FORBIDDEN) == []


def test_only_the_adapters_import_click() -> None:
    using = sorted({e.importer for e in EDGES if _under(e.imported, "click")})
    assert [m for m in using if not any(_under(m, a) for a in ("runbooks.cli",
                                                                "runbooks.commands"))
            and m not in ALLOWED_CLICK] == []


def test_only_the_adapters_exit() -> None:
    assert exit_violations(ROOT, PACKAGES) == []


def test_the_engine_steps_and_workflows_do_not_print() -> None:
    assert [f"{module} line {line}" for module, path in KNOWN.items()
            if any(_under(module, layer) for layer in QUIET) for line in prints(path)] == []


def test_the_allow_lists_name_only_what_still_exists() -> None:
    """An entry whose cycle is gone must be deleted, or it would hide a new one."""
    assert ALLOWED_PACKAGE_CYCLES <= set(cycles(package_graph(EDGES, KNOWN)))
    assert ALLOWED_MODULE_CYCLES <= set(cycles(module_graph(EDGES, KNOWN)))
    using = {e.importer for e in EDGES if _under(e.imported, "click")}
    assert ALLOWED_CLICK <= using


# -- the checks themselves, on planted faults ------------------------------------------

def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.fixture()
def planted(tmp_path: Path) -> Path:
    """A small `app` package with a cycle between its packages through a relative,
    function-local import, a workflow that imports click and exits, and an entry block."""
    return _tree(tmp_path, {
        "app/__init__.py": "",
        "app/core/__init__.py": "",
        "app/core/engine.py": "def run():\n    from ..steps import ec2\n    return ec2\n",
        "app/steps/__init__.py": "",
        "app/steps/ec2.py": "from app.core.engine import run\n",
        "app/workflows/__init__.py": "",
        "app/workflows/contain.py": (
            "import sys\nimport click\n\n\ndef contain():\n    sys.exit(2)\n\n\n"
            "def refuse():\n    raise SystemExit(2)\n\n\n"
            "def say():\n    print('contained')\n"),
        "app/tool.py": (
            "import sys\n\n\ndef main():\n    return 0\n\n\n"
            "if __name__ == '__main__':\n    sys.exit(main())\n"),
    })


def test_a_planted_package_cycle_is_found(planted: Path) -> None:
    known = modules(planted, ["app"])
    edges = import_edges(planted, ["app"])
    assert cycles(package_graph(edges, known)) == [frozenset({"app.core", "app.steps"})]
    assert cycles(module_graph(edges, known)) == [
        frozenset({"app.core.engine", "app.steps.ec2"})]


def test_a_project_without_the_planted_import_has_no_cycle(planted: Path) -> None:
    (planted / "app/core/engine.py").write_text("def run():\n    return None\n")
    known = modules(planted, ["app"])
    edges = import_edges(planted, ["app"])
    assert cycles(package_graph(edges, known)) == []
    assert cycles(module_graph(edges, known)) == []


def test_planted_layer_breaks_are_found(planted: Path) -> None:
    edges = import_edges(planted, ["app"])
    assert layer_violations(edges, {"app.core": ("app.steps",),
                                    "app.workflows": ("click",)}) == [
        "app.core.engine (line 2) imports app.steps.ec2",
        "app.workflows.contain (line 2) imports click",
    ]


def test_planted_exits_are_found_outside_entry_blocks(planted: Path) -> None:
    assert exits(planted / "app/workflows/contain.py") == [6, 10]
    assert exits(planted / "app/tool.py") == []
    assert prints(planted / "app/workflows/contain.py") == [14]
    assert exit_violations(planted, ["app"], adapters=["app.cli"]) == [
        "app.workflows.contain line 6 exits", "app.workflows.contain line 10 exits"]
