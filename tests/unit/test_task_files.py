"""Task files are lists of `operation(name=..., desired state)` calls: the operations ask for
their own facts (through the one fact cache), and a path the deploy manages is declared once."""

import ast
from pathlib import Path
from types import SimpleNamespace

import pytest
from pyinfra.api import OperationError
from pyinfra.context import ctx_host, ctx_state

from deploylib import facts, managed_paths
from deploylib.facts.paths import PathsState, PathState
from deploylib.model.config import host_layers, validate
from deploylib.operations import paths

ROOT = Path(__file__).resolve().parents[2]

# What a fact says, passed by the task: the operation asks for it itself.
FACT_PLUMBING = {"current", "installed", "available", "outdated", "checkout", "containers",
                 "template_encoding", "docker_cli", "found", "confirmed", "server", "cluster"}


def plumbing(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            for keyword in node.keywords:
                if keyword.arg and (keyword.arg in FACT_PLUMBING or keyword.arg.startswith("current_")):
                    found.append(f"line {node.lineno}: {keyword.arg}=")
    return found


@pytest.mark.parametrize("task", sorted((ROOT / "tasks").glob("*.py")), ids=lambda p: p.name)
def test_task_passes_no_fact_to_an_operation(task):
    assert plumbing(ast.parse(task.read_text())) == []


def test_the_check_sees_plumbing():
    assert plumbing(ast.parse("paths.directory(name='x', path='/a', current=state.get('/a'))")) == [
        "line 1: current="
    ]


class Host:
    def __init__(self, settings, paths_state: dict):
        self.name = "h1"
        self.print_prefix = "[h1] "
        self.state = SimpleNamespace()
        self.data = SimpleNamespace(settings=settings)
        self.noop_description = None
        self._paths_state = paths_state

    def get_fact(self, fact_cls, **kwargs):
        assert fact_cls is PathsState and kwargs == {"paths": managed_paths.managed(self.data.settings)}
        return self._paths_state

    def noop(self, description):
        self.noop_description = description


@pytest.fixture
def settings(project_copy):
    return validate("dev", host_layers("dev", "h1", {}))


def run(operation, host, **kwargs):
    with ctx_state.use(SimpleNamespace()), ctx_host.use(host):
        return list(operation._inner(**kwargs))


def test_a_managed_directory_asks_the_one_paths_fact(settings, monkeypatch):
    monkeypatch.setattr(facts, "_cache", {})
    backup_dir = settings.backup_dir
    host = Host(settings, {backup_dir: PathState("directory", "root", "root", "700", None)})
    assert run(paths.directory, host, path=backup_dir, user="root", group="root", mode="700") == []
    assert host.noop_description == f"directory {backup_dir} is as wanted"
    host = Host(settings, {})
    monkeypatch.setattr(facts, "_cache", {})
    assert run(paths.directory, host, path=backup_dir, user="root", group="root", mode="700") == [
        f"mkdir -p {backup_dir} && chown root:root {backup_dir} && chmod 700 {backup_dir}"
    ]


def test_an_undeclared_path_is_an_error_not_a_rerun(settings, monkeypatch):
    monkeypatch.setattr(facts, "_cache", {})
    with pytest.raises(OperationError, match=r"/srv/undeclared is not a declared managed path: add it to "
                                              r"managed\(\) in deploylib/managed_paths.py"):
        run(paths.directory, Host(settings, {}), path="/srv/undeclared", user="root", group="root",
            mode="700")


def test_every_path_a_task_manages_is_declared(settings):
    """The paths the tasks give paths.* (settings' directories, the app's) are in managed()."""
    declared = set(managed_paths.managed(settings))
    assert {settings.deploy_state_dir, settings.data_dir, settings.backup_dir} <= declared
    if settings.app_repo or settings.app_local_dir:
        assert {settings.app_dir, managed_paths.app_parent_dir(settings)} <= declared
