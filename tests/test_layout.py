"""Package-wide rules: no import cycles, and one owner for the run directory's file names."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Folder -> the package it installs as (setup.cfg's package_dir).
PACKAGES = {"kerasvision": "kerasvision", "cli": "kerasvision.cli", "export": "kerasvision.export"}


def _modules() -> dict[str, Path]:
    found = {}
    for folder, package in PACKAGES.items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join([package, *parts])] = path
    return found


def _type_checking_blocks(tree: ast.AST) -> set[int]:
    """ids of the nodes under ``if TYPE_CHECKING:`` (annotations only, never run)."""
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            skip.update(id(child) for part in node.body for child in ast.walk(part))
    return skip


def _imports(path: Path, name: str, modules: dict[str, Path]) -> set[str]:
    """Every kerasvision module ``path`` imports, at the top or inside a function."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _type_checking_blocks(tree)
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            for alias in node.names:
                full = f"{base}.{alias.name}"
                out.add(full if full in modules else base)
    return {m for m in out if m in modules and m != name}


def import_cycles() -> list[list[str]]:
    """The import cycles among the package's modules (each once, as a path)."""
    modules = _modules()
    graph = {name: _imports(path, name, modules) for name, path in modules.items()}
    cycles, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [])
    return cycles


def test_the_package_has_no_import_cycles():
    assert import_cycles() == []


def test_the_cycle_finder_sees_a_cycle(tmp_path, monkeypatch):
    for folder in ("kerasvision", "cli", "export"):
        (tmp_path / folder).mkdir()
    (tmp_path / "kerasvision" / "a.py").write_text("from kerasvision import b\n")
    (tmp_path / "kerasvision" / "b.py").write_text("def f():\n    from kerasvision.a import x\n")
    monkeypatch.setattr(__import__(__name__), "ROOT", tmp_path)
    assert import_cycles() == [["kerasvision.a", "kerasvision.b", "kerasvision.a"]]


RUN_FILES = re.compile(r"""["'](config\.yaml|metrics\.json|labels\.txt|history\.csv)["']""")


def test_only_the_run_module_spells_run_directory_file_names():
    spelled = [
        f"{path.relative_to(ROOT)}: {match.group(1)}"
        for path in _modules().values()
        for match in RUN_FILES.finditer(path.read_text(encoding="utf-8"))
        if path != ROOT / "kerasvision" / "run.py"
    ]
    assert spelled == []
