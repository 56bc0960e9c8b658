"""The host scripts (deploylib/facts/sh/*.sh): valid shell, shellcheck-clean, shipped with the
package, each fact's command built from its file with every value an argument."""

import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from deploylib.model import pg_commands, shell

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted(shell.SCRIPTS_DIR.glob("*.sh"))


def declared_shell(path: Path) -> str:
    first = path.read_text().splitlines()[0]
    assert first in ("# shellcheck shell=sh", "# shellcheck shell=bash"), (
        f"{path.name}: the first line must say which shell runs it"
    )
    return first.rsplit("=", 1)[1]


def test_there_are_scripts():
    assert {p.stem for p in SCRIPTS} >= {"common", "postgres_server", "git_checkout", "docker_engine",
                                         "compose_containers", "firewall_host", "paths_state"}


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_syntax(path):
    for shell_name in {"bash", declared_shell(path)}:
        result = subprocess.run([shell_name, "-n", str(path)], capture_output=True, text=True)
        assert result.returncode == 0, f"{shell_name} -n {path.name}: {result.stderr}"


@pytest.mark.skipif(shutil.which("shellcheck") is None,
                    reason="shellcheck not installed (./run setup installs it: SYSTEM_PACKAGES)")
def test_shellcheck():
    # Severity info: every finding but style; a deliberate exception is a
    # `# shellcheck disable=SCxxxx` with its reason, on the line before.
    result = subprocess.run(["shellcheck", "--severity=info", *map(str, SCRIPTS)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_scripts_are_package_data():
    """An installed deploylib (not only this checkout) finds its scripts."""
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "facts/sh/*.sh" in data["deploylib"]


def test_common_as_postgres_is_the_operations_one():
    """The facts and the operations run commands as postgres the same way."""
    common = shell.script_text("common")
    assert f'as_postgres() {{ {pg_commands.as_postgres(chr(34) + "$@" + chr(34))}; }}' in common


@pytest.mark.parametrize("name", [p.stem for p in SCRIPTS if p.stem != "common"])
def test_values_are_arguments(name):
    """A hostile value reaches the script as "$1", never as code."""
    hostile = "x'; touch /tmp/pwned-facts14 #$(id)"
    command = shell.script(name, hostile)
    assert hostile not in command.replace(shell.quote(hostile), "")


def test_script_runs_with_its_arguments(tmp_path):
    (tmp_path / "a b").write_text("x")
    command = shell.script("paths_state", str(tmp_path / "a b"), str(tmp_path / "missing"), str(tmp_path))
    result = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True)
    lines = result.stdout.splitlines()
    assert f"kind\tfile\t{tmp_path}/a b" in lines and f"kind\tdirectory\t{tmp_path}" in lines
    assert not any("missing" in line for line in lines)


def test_shared_knowledge_is_written_once():
    """systemd detection and the apt check live in common.sh only; the scripts uploaded on
    their own (templates/) run as postgres exactly as common.sh does."""
    sources = [p for p in (*ROOT.glob("deploylib/**/*.py"), *ROOT.glob("deploylib/**/*.sh"),
                           *ROOT.glob("templates/**/*")) if p.is_file()]
    for needle in ("[ -d /run/systemd/system ]", "apt-cache show"):
        holders = [str(p.relative_to(ROOT)) for p in sources if needle in p.read_text()]
        assert holders == ["deploylib/facts/sh/common.sh"], (needle, holders)
    common = shell.script_text("common").splitlines()
    as_postgres = next(line for line in common if line.startswith("as_postgres()"))
    for template in ("backup.sh.j2", "restore.sh.j2"):
        defined = [line for line in (ROOT / "templates" / template).read_text().splitlines()
                   if line.startswith("as_postgres()")]
        assert defined == [as_postgres], template
