"""Operation tests as pyinfra writes its own (tests/operations/<module>.<op>/*.json): facts in,
commands out, no host.

Each file of tests/unit/operations/<module>.<operation>/ names the operation of
``deploylib.operations.<module>``; it holds

- ``kwargs``: the operation's arguments;
- ``facts``: ``{"<facts module>.<Fact>": value}``, or ``{"<Fact>": {"arg=value": value}}`` for a
  fact asked with arguments (as pyinfra's files do); values as plain JSON, turned into the
  fact's Python value by ``FACT_VALUES``;
- ``commands``: what the operation yields, in order (an upload is ``["upload", content, path]``);
- ``noop_description``: what ``host.noop`` says (required when ``commands`` is empty);
- ``messages``: what it tells the operator (warnings, also repeated at the end of a run);
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
from pyinfra.api import FileUploadCommand, StringCommand
from pyinfra.context import ctx_host, ctx_state

from deploylib import facts
from deploylib.model.firewall import registry
from deploylib.model.firewall.common import FirewallInfo, Listener
from deploylib.model.firewall.ufw import parse_ufw_tuple

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


FACT_VALUES = {
    "firewall.FirewallHost": lambda data, **_: _firewall_host(data),
    "firewall.FirewallState": lambda data, backend: _firewall_state(backend, data),
}


# --------------------------------------------------------------------------- the fake host


class FakeHost:
    """What an operation and ``facts.cached_fact`` use of a pyinfra host."""

    def __init__(self, facts: dict):
        self.name = "testhost"
        self.print_prefix = "[testhost] "
        self.state = SimpleNamespace()
        self.data = SimpleNamespace()
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


def command_json(command):
    if isinstance(command, str):
        return command.strip()
    if isinstance(command, StringCommand):
        return command.get_raw_value()
    if isinstance(command, FileUploadCommand):
        command.src.seek(0)
        return ["upload", command.src.read(), command.dest]
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
    messages: list[str] = []
    monkeypatch.setattr(module, "_say", messages.append)
    monkeypatch.setattr(facts, "_cache", {})  # facts.cached_fact answers from this test's facts only

    with ctx_state.use(SimpleNamespace()), ctx_host.use(host):
        wanted_exception = case.get("exception")
        if wanted_exception:
            with pytest.raises(Exception) as raised:
                list(operation._inner(**case["kwargs"]))
            assert type(raised.value).__name__ == wanted_exception["name"]
            assert str(raised.value) == wanted_exception["message"]
            return
        commands = [command_json(command) for command in operation._inner(**case["kwargs"])]

    assert commands == case["commands"]
    assert messages == case.get("messages", [])
    if not commands:
        assert host.noop_description == case["noop_description"]
    else:
        assert host.noop_description is None


def test_every_operation_directory_has_cases():
    assert CASES, "no operation test files found"
    for directory in OPERATIONS.iterdir():
        assert list(directory.glob("*.json")), f"{directory} has no test file"
