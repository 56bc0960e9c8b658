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
        name: {imported for imported in imports_of(path, set(modules))
               if imported in modules and imported != name}
        for name, path in modules.items()
    }
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


# pyinfra's internals (not its documented API) that the deploy uses: only deploylib/pyinfra_compat.py
# may touch them, so another pyinfra version is checked in one place.
INTERNAL_ATTRIBUTES = frozenset({
    "_maybe_is_change", "ops", "op_meta", "command_generator", "callback_handlers", "op_hash_order",
    "current_op_hash", "current_op_global_arguments", "_hash", "WrappedError",
})
INTERNAL_NAMES = frozenset({"CONNECTOR_ARGUMENT_KEYS", "BaseStateCallback", "parse_cli_arg"})
INTERNAL_MODULES = ("click", "pyinfra_cli", "pyinfra.api.state", "pyinfra.api.arguments", "pyinfra.api.util")
INTERNAL_KEYWORDS = frozenset({"remote_temp_filename"})
COMPAT = DEPLOYLIB / "pyinfra_compat.py"


def internal_touches(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Attribute) and node.attr in INTERNAL_ATTRIBUTES:
            found.append(f"{line}: .{node.attr}")
        elif isinstance(node, ast.Name) and node.id in INTERNAL_NAMES:
            found.append(f"{line}: {node.id}")
        elif isinstance(node, ast.keyword) and node.arg in INTERNAL_KEYWORDS:
            found.append(f"{line}: {node.arg}=")
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                names = [node.module or ""]
            if isinstance(node, ast.ImportFrom):
                names += [alias.name for alias in node.names if alias.name in INTERNAL_NAMES]
            for name in names:
                internal_module = any(name == m or name.startswith(m + ".") for m in INTERNAL_MODULES)
                if name in INTERNAL_NAMES or internal_module:
                    found.append(f"{line}: import {name}")
    return found


def test_only_pyinfra_compat_touches_pyinfras_internals():
    host_code = [*sorted(DEPLOYLIB.rglob("*.py")), *sorted((REPO / "tasks").glob("*.py")),
                 *(REPO / name for name in ("deploy.py", "bootstrap.py", "restore.py"))]
    touches = {
        str(path.relative_to(REPO)): found
        for path in host_code
        if path != COMPAT and (found := internal_touches(path))
    }
    assert touches == {}
    assert internal_touches(COMPAT)  # the check sees them where they are


def test_every_entry_point_installs_pyinfra_compat_first():
    for name in ("deploy.py", "bootstrap.py", "restore.py"):
        calls = [node for node in ast.parse((REPO / name).read_text()).body if isinstance(node, ast.Expr)]
        first = ast.unparse(calls[1] if isinstance(calls[0].value, ast.Constant) else calls[0])
        assert first == "pyinfra_compat.install(host)", (name, first)


def host_data_reads(path: Path) -> list[str]:
    """Reads of ``host.data`` other than ``host.data.settings`` (the validated settings) and
    ``host.data.get("ssh_...")`` (pyinfra's own connection keys)."""
    tree = ast.parse(path.read_text())
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Attribute) and node.attr == "data"
                and isinstance(node.value, ast.Name) and node.value.id == "host"):
            continue
        parent = parents.get(node)
        if isinstance(parent, ast.Attribute) and parent.attr == "settings":
            continue
        if (isinstance(parent, ast.Call) and ast.unparse(parent.func) == "getattr" and len(parent.args) > 1
                and isinstance(parent.args[1], ast.Constant) and parent.args[1].value == "settings"):
            continue  # getattr(host.data, "settings", None)
        call = parents.get(parent)
        if (isinstance(parent, ast.Attribute) and parent.attr == "get" and isinstance(call, ast.Call)
                and call.args and isinstance(call.args[0], ast.Constant)
                and str(call.args[0].value).startswith("ssh_")):
            continue
        found.append(f"{node.lineno}: {ast.unparse(parent or node)}")
    return found


def test_the_code_reads_only_validated_settings_from_host_data():
    # pyinfra also loads group_data/ into host.data: those raw, unvalidated copies of every
    # key are never read; host.data.settings (deploylib.model.config.validate) is.
    host_code = [*sorted(DEPLOYLIB.rglob("*.py")), *sorted((REPO / "tasks").glob("*.py")),
                 *(REPO / name for name in ("deploy.py", "bootstrap.py", "restore.py"))]
    # pyinfra_compat's global-arguments speedup reads host.data exactly as pyinfra itself does
    # (pyinfra's own global arguments, e.g. _sudo): pyinfra's reading, not the deploy's.
    host_code = [path for path in host_code if path.name != "pyinfra_compat.py"]
    reads = {str(path.relative_to(REPO)): found for path in host_code if (found := host_data_reads(path))}
    assert reads == {}


def first_paragraph(path: Path) -> str:
    docstring = ast.get_docstring(ast.parse(path.read_text())) or ""
    return " ".join(docstring.split("\n\n")[0].split())


def test_each_module_says_what_it_is_and_what_it_may_import():
    modules = all_modules(DEPLOYLIB)
    problems = []
    for name, path in modules.items():
        said = first_paragraph(path)
        if name.startswith("deploylib.model"):
            if "pure" not in said:
                problems.append(f"{name}: a model module's first paragraph says it is pure: {said!r}")
        elif not any(word in said for word in ("pure", "host code", "may import", "command line")):
            problems.append(f"{name}: says neither pure nor host code nor what it may import: {said!r}")
        if "pure" in said and "host code" not in said and not name.startswith("deploylib.model"):
            imported = imports_of(path, set(modules))
            if any(i.split(".")[0] in PYINFRA for i in imported):
                problems.append(f"{name}: says pure, imports pyinfra")
    assert problems == []
