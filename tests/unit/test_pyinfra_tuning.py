"""deploylib.pyinfra_compat: the places where the deploy makes pyinfra itself cheaper (both must
change nothing else), its one install call, and the CLI parameters it captures."""

import importlib
import socket
import types

import pyinfra
import pytest
from pyinfra.api import util as pyinfra_util

from deploylib import pyinfra_compat
from deploylib.pyinfra_compat import disable_nagle

pyinfra_operation = importlib.import_module("pyinfra.api.operation")
pyinfra_arguments = importlib.import_module("pyinfra.api.arguments")

# A deploy file of its own (compiled under its own name): nested helpers, a
# multi-line call, a call inside a loop, as tasks call operations.
DEPLOY_SOURCE = '''
def helper(probe):
    return probe(
        "multi-line",
    )


def nested(probe):
    results = []
    for _ in range(2):
        results.append(helper(probe))
    return results


RESULTS = nested(PROBE) + [PROBE("top level")]
'''


@pytest.fixture
def cli_mode(monkeypatch):
    monkeypatch.setattr(pyinfra, "is_cli", True)


def both_orders(state):
    """pyinfra's function and ours, called from the same frame and line."""
    original, ours = pyinfra_util.get_operation_order_from_stack(state), pyinfra_compat.operation_order_from_stack(state)  # noqa: E501
    return original, ours


@pytest.mark.parametrize("deploy_filename", ["tasks/fake_deploy.py", None])
def test_same_line_numbers_as_pyinfra(cli_mode, deploy_filename):
    state = types.SimpleNamespace(current_deploy_filename=deploy_filename, current_op_file_number=7)
    code = compile(DEPLOY_SOURCE, "tasks/fake_deploy.py", "exec")
    namespace = {"PROBE": lambda _label: both_orders(state)}
    exec(code, namespace)
    assert len(namespace["RESULTS"]) == 3
    for original, ours in namespace["RESULTS"]:
        assert ours == original
        assert ours[0] == 7  # the op file number leads in CLI mode
    # Different call sites give different orders (the property pyinfra relies on).
    assert len({tuple(ours) for _, ours in namespace["RESULTS"]}) == 2


def test_install_replaces_only_the_checked_pyinfra_functions(monkeypatch):
    originals = pyinfra_compat.ORIGINALS
    for name, (_, modules) in pyinfra_compat.REPLACEMENTS.items():
        for module in modules:
            monkeypatch.setattr(module, name, originals[name])
    assert pyinfra_compat.install_speedups() == {name: True for name in originals}
    assert pyinfra_operation.get_operation_order_from_stack is pyinfra_compat.operation_order_from_stack
    assert pyinfra_arguments.all_global_arguments is pyinfra_compat.global_arguments_once

    # Another pyinfra (its function's source differs): pyinfra keeps its own.
    for name, (_, modules) in pyinfra_compat.REPLACEMENTS.items():
        for module in modules:
            monkeypatch.setattr(module, name, originals[name])
    monkeypatch.setitem(pyinfra_compat.CHECKED_SOURCE_SHA256, "all_global_arguments", "0" * 64)
    assert pyinfra_compat.install_speedups() == {
        "get_operation_order_from_stack": True, "all_global_arguments": False,
    }
    assert pyinfra_arguments.all_global_arguments is originals["all_global_arguments"]


def test_the_checked_sources_are_this_pyinfra():
    """A pyinfra upgrade changes a hash: re-check the replacement against the new source."""
    for name, original in pyinfra_compat.ORIGINALS.items():
        assert pyinfra_compat.source_sha256(original) == pyinfra_compat.CHECKED_SOURCE_SHA256[name]


def test_global_arguments_once_equal_to_pyinfras():
    original = pyinfra_compat.ORIGINALS["all_global_arguments"]
    first, second = pyinfra_compat.global_arguments_once(), pyinfra_compat.global_arguments_once()
    assert first == second == original()
    first.clear()  # callers get their own list, as from pyinfra
    assert pyinfra_compat.global_arguments_once() == original()


def host_with_socket(sock):
    transport = types.SimpleNamespace(sock=sock)
    client = types.SimpleNamespace(get_transport=lambda: transport)
    return types.SimpleNamespace(connector=types.SimpleNamespace(client=client))


def test_nodelay_set_on_a_tcp_connection():
    with socket.create_server(("127.0.0.1", 0)) as server:
        with socket.create_connection(server.getsockname()) as conn:
            assert conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
            assert disable_nagle(host_with_socket(conn))
            assert conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


def test_nodelay_leaves_other_connections_alone():
    left, right = socket.socketpair()  # a unix socket, as under a ProxyCommand-like channel
    with left, right:
        assert not disable_nagle(host_with_socket(left))
    assert not disable_nagle(host_with_socket(object()))  # paramiko ProxyCommand
    assert not disable_nagle(types.SimpleNamespace(connector=object()))  # @local: no client


def test_install_is_one_call_per_entry_point_and_says_what_it_did():
    local_host = types.SimpleNamespace(connector=object())  # @local: no SSH socket
    installed = pyinfra_compat.install(local_host)
    assert installed["get_operation_order_from_stack"] and installed["all_global_arguments"]
    assert installed["tcp_nodelay"] is False
    assert set(installed) == {"get_operation_order_from_stack", "all_global_arguments", "cli_messages",
                              "tcp_nodelay"}
    assert pyinfra_compat.install(local_host) == installed  # again, per host: the same


def test_cli_parameters_are_captured_while_the_inventory_loads(monkeypatch):
    import click

    from deploylib import prod_guard

    monkeypatch.setattr(pyinfra_compat, "_cli", None)
    assert pyinfra_compat.captured_cli() is None
    assert prod_guard.run_mode() == prod_guard.RunMode(yes=True, dry=False, json_output=False)
    with click.Context(click.Command("pyinfra")) as context:
        context.params.update(yes=False, dry=True, json_output=True, data=("a=1",),
                              operations=("inventory/x.py", "deploy.py"))
        captured = pyinfra_compat.capture_cli()
    # Later, in the deploy files' greenlets (no click context): what was captured.
    assert pyinfra_compat.capture_cli() == captured == pyinfra_compat.captured_cli()
    assert (captured.yes, captured.dry, captured.json_output) == (False, True, True)
    assert captured.data == ("a=1",) and captured.operations == ("inventory/x.py", "deploy.py")
    assert prod_guard.run_mode() == prod_guard.RunMode(yes=False, dry=True, json_output=True)


def test_cli_messages_patch_only_the_expected_pyinfra_cli(monkeypatch):
    import sys

    monkeypatch.delitem(sys.modules, "pyinfra_cli.exceptions", raising=False)
    assert pyinfra_compat.install_cli_messages() is False  # outside pyinfra's CLI
    wrapped_error = type("WrappedError", (), {"show": lambda self, file=None: None})
    stranger = types.SimpleNamespace(WrappedError=wrapped_error)
    monkeypatch.setitem(sys.modules, "pyinfra_cli.exceptions", stranger)
    assert pyinfra_compat.install_cli_messages() is False  # not the pyinfra_cli it was written for
    assert not getattr(stranger.WrappedError.show, "_deploylib", False)
