"""The code's layers: the pure model (deploylib/model/) imports nothing of pyinfra nor of the
host code, and no deploylib module imports itself back through others (no import cycle)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEPLOYLIB = REPO / "deploylib"
MODEL = DEPLOYLIB / "model"
PYINFRA = ("pyinfra", "pyinfra_cli")


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def all_modules(top: Path) -> dict[str, Path]:
    return {module_name(path): path for path in sorted(top.rglob("*.py"))}


def imports_of(path: Path, known: set[str]) -> set[str]:
    """Absolute names of every module ``path`` imports, at the top or inside a function
    (relative imports resolved; ``from package import module`` names the module)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                source = f"{base}.{node.module}" if node.module else base
            else:
                source = node.module
            submodules = {f"{source}.{alias.name}" for alias in node.names} & known
            found |= submodules or {source}
    return found


def test_the_model_imports_nothing_of_pyinfra_nor_the_host_code():
    modules = all_modules(MODEL)
    assert {"deploylib.model.pg_hba", "deploylib.model.managed_block", "deploylib.model.config",
            "deploylib.model.firewall.registry"} <= set(modules)
    problems = []
    for name, path in modules.items():
        for imported in sorted(imports_of(path, set(modules))):
            if imported.split(".")[0] in PYINFRA:
                problems.append(f"{name} imports {imported}")
            elif imported.split(".")[0] == "deploylib" and not imported.startswith("deploylib.model"):
                problems.append(f"{name} imports the host code's {imported}")
    assert problems == []


def test_importing_every_model_module_loads_no_pyinfra():
    names = sorted(all_modules(MODEL))
    code = (
        f"import importlib, sys\nfor name in {names!r}:\n    importlib.import_module(name)\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {PYINFRA!r}))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None."""
    state: dict[str, str] = {}  # "open" while on the path, "done" after
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        path.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_find_cycle_names_the_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_no_import_cycle_among_deploylib_modules():
    modules = all_modules(DEPLOYLIB)
    graph = {
        name: {imported for imported in imports_of(path, set(modules)) if imported in modules and imported != name}
        for name, path in modules.items()
    }
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)
