"""The firewall's layers: the backends and their plans are pure (no pyinfra), each module says
what it is and what it may import, and the list of backends exists once (the registry)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from deploylib.model import config
from deploylib.model.firewall import registry

from .test_layers import imports_of

REPO = Path(__file__).resolve().parents[2]
PURE_PACKAGE = REPO / "deploylib" / "model" / "firewall"


def imported_modules(path: Path) -> set[str]:
    """Absolute names of everything a module imports (test_layers' reader, no submodule lookup)."""
    return imports_of(path, set())


def test_pure_firewall_modules_import_nothing_of_pyinfra_nor_the_host_code():
    modules = sorted(PURE_PACKAGE.glob("*.py"))
    assert {m.stem for m in modules} >= {"__init__", "common", "registry", "ufw", "nftables", "firewalld"}
    for module in modules:
        for name in imported_modules(module):
            assert name.split(".")[0] != "pyinfra", f"{module.name} imports {name}"
            if name.startswith("deploylib") and name != "deploylib.model.tagged":  # the facts' line format
                assert name.startswith("deploylib.model.firewall"), f"{module.name} imports {name}"


def test_importing_the_firewall_package_loads_no_pyinfra():
    code = (
        "import sys, deploylib.model.firewall, deploylib.model.firewall.registry; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pyinfra', 'pyinfra_cli')))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"


def test_each_firewall_module_says_what_it_is_and_what_it_may_import():
    for module in sorted(PURE_PACKAGE.glob("*.py")):
        first_line = ast.get_docstring(ast.parse(module.read_text())).splitlines()[0]
        assert "pure" in first_line and "pyinfra" in first_line, (module.name, first_line)


def test_backends_satisfy_the_protocol_and_are_listed_once():
    names = [backend.NAME for backend in registry.BACKENDS]
    assert len(set(names)) == len(names)
    protocol = {*registry.FirewallBackend.__annotations__, "detect", "parse_state", "plan"}
    assert protocol >= {"NAME", "TOOL", "PACKAGE", "DETECT_SCRIPT", "READ_SCRIPT", "READ_BEFORE_CHOICE"}
    for backend in registry.BACKENDS:
        for attribute in protocol:
            assert hasattr(backend, attribute), (backend.__name__, attribute)
    # The configuration accepts exactly the registry's backends (plus auto and none).
    assert registry.CHOICES == ("auto", *names, "none")
    check = config.SCHEMA["firewall_backend"]
    assert [check(value) for value in registry.CHOICES] == list(registry.CHOICES)
    with pytest.raises(ValueError, match="expected one of 'auto', 'ufw', 'firewalld', 'nftables', 'none'"):
        check("iptables")
    # Detection: each backend's snippet is in the host fact's script, in registry order.
    from deploylib.facts.firewall import DETECT_FUNCTION

    positions = [DETECT_FUNCTION.index(backend.DETECT_SCRIPT) for backend in registry.BACKENDS]
    assert positions == sorted(positions)


def test_every_firewall_fact_script_parses():
    from deploylib.facts.firewall import FirewallHost, FirewallState

    commands = [FirewallHost().command()]
    commands += [FirewallState().command(backend=b.NAME) for b in registry.BACKENDS]
    for command in commands:
        result = subprocess.run(["bash", "-n", "-c", command], capture_output=True, text=True)
        assert result.returncode == 0, (command, result.stderr)
        # and the script inside `bash -c '...'`
        script = command.split("bash -c ", 1)[1]
        inner = subprocess.run(["bash", "-c", f"bash -n -c {script}"], capture_output=True, text=True)
        assert inner.returncode == 0, (command, inner.stderr)


def test_firewall_state_fact_names_its_backend():
    from deploylib.facts.firewall import FirewallState

    for backend in registry.BACKENDS:
        output = subprocess.run(["sh", "-c", FirewallState().command(backend=backend.NAME)],
                                capture_output=True, text=True).stdout.splitlines()
        assert output[0] == f"backend\t{backend.NAME}"
        assert type(FirewallState().process(output)) is type(backend.parse_state([]))
