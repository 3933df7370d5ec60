"""The rehearsal tooling stays apart from the product (issue #17 principle 5).

`runbooks` is what responders and the Lambda install; `rehearsal` (emulator, bridge,
scenarios) is what only a rehearsal needs. Read from the sources' import statements
(every one, also those inside functions): the only product module that imports the
rehearsal package is the `irctl drill` adapter, and it uses only the package's public
names (`rehearsal.__all__`), never a submodule.
"""

from __future__ import annotations

import ast
from pathlib import Path

import rehearsal
from tests.ast_parse import parse_file

ROOT = Path(__file__).resolve().parents[2]
ADAPTER = "runbooks/commands/drill.py"


def _rehearsal_imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, module, names) of every import of `rehearsal` or one of its submodules."""
    found = []
    for node in ast.walk(parse_file(path)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name, []) for a in node.names
                      if a.name.split(".")[0] == "rehearsal"]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module \
                and node.module.split(".")[0] == "rehearsal":
            found.append((node.lineno, node.module, [a.name for a in node.names]))
    return found


def _product_modules() -> list[Path]:
    return sorted((ROOT / "runbooks").rglob("*.py"))


def test_only_the_drill_adapter_imports_the_rehearsal_package() -> None:
    importers = {path.relative_to(ROOT).as_posix() for path in _product_modules()
                 if _rehearsal_imports(path)}
    assert importers == {ADAPTER}


def test_the_adapter_uses_only_the_public_names_of_the_package() -> None:
    imports = _rehearsal_imports(ROOT / ADAPTER)
    assert imports  # else the check below passes vacuously
    for line, module, names in imports:
        assert module == "rehearsal", f"{ADAPTER}:{line} imports the submodule {module}"
        assert set(names) <= set(rehearsal.__all__), f"{ADAPTER}:{line}: {names}"
    tree = parse_file(ROOT / ADAPTER)
    used = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name) and node.value.id == "rehearsal"}
    assert used, "the adapter calls nothing of the package"
    assert used <= set(rehearsal.__all__), used - set(rehearsal.__all__)


def test_every_public_name_exists() -> None:
    missing = [name for name in rehearsal.__all__ if not hasattr(rehearsal, name)]
    assert not missing


def _runbooks_imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import of a `runbooks` module, also inside functions."""
    found = []
    for node in ast.walk(parse_file(path)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names
                      if a.name.split(".")[0] == "runbooks"]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module \
                and node.module.split(".")[0] == "runbooks":
            found.append((node.lineno, node.module))
    return found


def test_the_rehearsal_package_never_imports_the_cli_or_its_commands() -> None:
    """The adapter (`runbooks.commands.drill`) imports `rehearsal`; `rehearsal` importing
    the CLI or the commands back would be a package cycle. irctl reaches the drill as a
    `rehearsal.Responder` the adapter passes in."""
    modules = sorted((ROOT / "rehearsal").rglob("*.py"))
    seen = {module for path in modules for _, module in _runbooks_imports(path)}
    assert "runbooks.core.errors" in seen  # the scan reads the package's imports
    upward = [f"{path.relative_to(ROOT)}:{line} imports {module}"
              for path in modules for line, module in _runbooks_imports(path)
              if module == "runbooks.cli" or module.startswith(("runbooks.commands",
                                                                "runbooks.automation"))]
    assert not upward
