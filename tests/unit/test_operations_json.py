"""Operation tests as pyinfra writes its own (tests/operations/<module>.<op>/*.json): facts in,
commands out, no host.

Each file of tests/unit/operations/<module>.<operation>/ names the operation of
``deploylib.operations.<module>``; it holds

- ``kwargs``: the operation's arguments (``rules`` as plain JSON, turned into ``HbaRule`` s by
  ``KWARG_VALUES``);
- ``facts``: ``{"<facts module>.<Fact>": value}``, or ``{"<Fact>": {"arg=value": value}}`` for a
  fact asked with arguments (as pyinfra's files do); values as plain JSON, turned into the
  fact's Python value by ``FACT_VALUES``. ``postgres.PostgresServer`` (asked with the
  settings' arguments) is ``{"managed_cluster": "<id>", "output": [the fact's output lines]}``
  or ``{"managed_cluster": ..., "clusters": [PgCluster fields]}``: the server and the cluster
  ``postgres_rules.server_and_cluster`` answers;
- ``commands``: what the operation yields, in order (an upload is ``["upload", content, path]``,
  the announce.did that ends it ``["did", sentence]``, another function ``["function", name]``);
- ``noop_description``: what ``host.noop`` says (required when ``commands`` is empty);
- ``messages``: what it tells the operator (warnings and notices, repeated at the end of a run);
- ``plan``: what it says it will do (``announce.will``), in the operator's words;
- ``exception``: ``{"name": ..., "message": ...}`` when the operation must refuse.

The fake host answers ``get_fact`` from ``facts`` only: a fact the file does not give fails
the test, so a file lists every fact the operation asks.
"""

from __future__ import annotations

import json
from importlib import import_module
from pathlib import Path
from types import SimpleNamespace

import pytest
from pyinfra.api import FileUploadCommand, FunctionCommand, StringCommand
from pyinfra.context import ctx_host, ctx_state

from deploylib import announce, facts, notices, postgres_rules
from deploylib.facts.app import ComposeProject
from deploylib.facts.postgres import PostgresServer
from deploylib.model import file_swap
from deploylib.model.firewall import registry
from deploylib.model.firewall.common import FirewallInfo, Listener
from deploylib.model.firewall.ufw import parse_ufw_tuple
from deploylib.model.pg_hba import HbaRule
from deploylib.model.postgres_state import PgCluster, PgServer, PgSetting

OPERATIONS = Path(__file__).parent / "operations"


# --------------------------------------------------------------------------- fact values from JSON


def _firewall_host(data: dict) -> FirewallInfo:
    return FirewallInfo(
        tools=data.get("tools", {}),
        service_manager=data.get("service_manager", "sysvinit"),
        ssh_client=data.get("ssh_client"),
        ssh_port=data.get("ssh_port"),
        listeners=[Listener(*item) for item in data.get("listeners", [])],
    )


def _ufw_state(data: dict):
    """``rules``: ["<ufw tuple>", "# <comment>", "v6"]-style entries: the `### tuple ###` words,
    then optionally the comment and "v6" (as in /etc/ufw/user6.rules)."""
    ufw = registry.get("ufw")
    state = ufw.UfwState(**{key: value for key, value in data.items() if key != "rules"})
    for entry in data.get("rules", []):
        spec, comment, where = (entry + ["", ""])[:3] if isinstance(entry, list) else (entry, "", "")
        hex_comment = f" comment={comment.encode().hex()}" if comment else ""
        rule = parse_ufw_tuple(f"### tuple ### {spec}{hex_comment}", where == "v6")
        assert rule, entry
        state.rules.append(rule)
    return state


def _firewall_state(backend: str, data: dict):
    if backend == "ufw":
        return _ufw_state(data)
    module = registry.get(backend)
    return (module.NftState if backend == "nftables" else module.FirewalldState)(**data)


def _cluster(data: dict) -> PgCluster:
    """``settings``: {name: value or {PgSetting's fields}}."""
    values = dict(data)
    values["settings"] = {
        name: PgSetting(**spec) if isinstance(spec, dict) else PgSetting(spec, "sighup", False)
        for name, spec in data.get("settings", {}).items()
    }
    values["setting_names"] = frozenset(data.get("setting_names", ()))
    return PgCluster(**values)


def managed_cluster(data: dict) -> tuple[PgServer, PgCluster]:
    """The PostgresServer fact (its output lines read by its own process(), or PgCluster
    fields) and the cluster ``managed_cluster`` names."""
    if "output" in data:
        server = PostgresServer().process(data["output"])
    else:
        server = PgServer(service_manager=data.get("service_manager", "systemd"),
                          has_pg_ctlcluster=data.get("has_pg_ctlcluster", True),
                          clusters=[_cluster(c) for c in data["clusters"]])
    (cluster,) = [c for c in server.clusters if c.id == data["managed_cluster"]]
    return server, cluster


def operation_kwargs(given: dict) -> dict:
    return {name: KWARG_VALUES[name](value) if name in KWARG_VALUES else value for name, value in given.items()}


FACT_VALUES = {
    "firewall.FirewallHost": lambda data, **_: _firewall_host(data),
    "firewall.FirewallState": lambda data, backend: _firewall_state(backend, data),
    "app.TextFile": lambda data, path: data,
    "app.ComposeContainers": lambda data, project: ComposeProject([tuple(c) for c in data]),
}

KWARG_VALUES = {
    "rules": lambda rules: [HbaRule(**rule) for rule in rules],
}


# --------------------------------------------------------------------------- the fake host


class FakeHost:
    """What an operation and ``facts.cached_fact`` use of a pyinfra host."""

    def __init__(self, facts: dict):
        self.name = "testhost"
        self.print_prefix = "[testhost] "
        self.state = SimpleNamespace()
        self.data = SimpleNamespace(settings=None)  # the settings' part is in the facts
        self.in_op = True
        self.noop_description: str | None = None
        self._facts = facts

    def get_fact(self, fact_cls, **kwargs):
        name = f"{fact_cls.__module__.rsplit('.', 1)[-1]}.{fact_cls.__name__}"
        assert name in self._facts, f"the test file gives no {name} fact"
        value = self._facts[name]
        if kwargs:
            key = ",".join(f"{k}={v}" for k, v in sorted(kwargs.items()))
            assert key in value, f"the test file gives no {name} fact for {key}"
            value = value[key]
        return FACT_VALUES[name](value, **kwargs)

    def noop(self, description: str) -> None:
        self.noop_description = description


def staged_name(path: str) -> str:
    return f"{path}.deploy-new.STAGED"


def command_json(command):
    if isinstance(command, str):
        return command.strip()
    if isinstance(command, StringCommand):
        return command.get_raw_value()
    if isinstance(command, FileUploadCommand):
        command.src.seek(0)
        return ["upload", command.src.read(), command.dest]
    if isinstance(command, FunctionCommand):
        if command.function is announce._record_done:
            return ["did", command.args[1]]
        return ["function", command.function.__name__]
    raise AssertionError(f"{command!r} is not a command the tests know")


# --------------------------------------------------------------------------- the tests

CASES = sorted(OPERATIONS.glob("*/*.json"))


@pytest.mark.parametrize("path", CASES, ids=[f"{p.parent.name}/{p.stem}" for p in CASES])
def test_operation(path: Path, monkeypatch):
    case = json.loads(path.read_text())
    module_name, op_name = path.parent.name.split(".")
    module = import_module(f"deploylib.operations.{module_name}")
    operation = getattr(module, op_name)
    host = FakeHost(case.get("facts", {}))
    kwargs = operation_kwargs(case["kwargs"])
    messages: list[str] = []
    monkeypatch.setattr(module, "_say", messages.append, raising=False)
    monkeypatch.setattr(notices, "add", lambda host, message: messages.append(message))
    monkeypatch.setattr(announce, "_planned", {})
    monkeypatch.setattr(facts, "_cache", {})  # facts.cached_fact answers from this test's facts only
    server = case.get("facts", {}).get("postgres.PostgresServer")
    if server:
        answer = managed_cluster(server)
        monkeypatch.setattr(postgres_rules, "server_and_cluster", lambda host, settings: answer)
    monkeypatch.setattr(file_swap, "staged_name", staged_name)  # not random: comparable

    with ctx_state.use(SimpleNamespace()), ctx_host.use(host):
        wanted_exception = case.get("exception")
        if wanted_exception:
            with pytest.raises(Exception) as raised:
                list(operation._inner(**kwargs))
            assert type(raised.value).__name__ == wanted_exception["name"]
            assert str(raised.value) == wanted_exception["message"]
            return
        commands = [command_json(command) for command in operation._inner(**kwargs)]

    assert commands == case["commands"]
    assert messages == case.get("messages", [])
    assert announce._planned.get(host.name, []) == case.get("plan", [])
    if not commands:
        assert host.noop_description == case["noop_description"]
    else:
        assert host.noop_description is None


def test_every_operation_directory_has_cases():
    assert CASES, "no operation test files found"
    for directory in OPERATIONS.iterdir():
        assert list(directory.glob("*.json")), f"{directory} has no test file"
