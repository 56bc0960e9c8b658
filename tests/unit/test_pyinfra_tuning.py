"""deploylib.pyinfra_compat: the places where the deploy makes pyinfra itself cheaper (both must
change nothing else), its one install call, and the CLI parameters it captures."""

import importlib
import inspect
import socket
import types

import pyinfra
import pytest
from pyinfra.api import util as pyinfra_util

from deploylib import pyinfra_compat
from deploylib.pyinfra_compat import disable_nagle

pyinfra_operation = importlib.import_module("pyinfra.api.operation")
pyinfra_arguments = importlib.import_module("pyinfra.api.arguments")
pyinfra_facts = importlib.import_module("pyinfra.api.facts")
pyinfra_deploy = importlib.import_module("pyinfra.api.deploy")

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
    for module in (pyinfra_arguments, pyinfra_operation, pyinfra_facts, pyinfra_deploy):
        assert module.pop_global_arguments is pyinfra_compat.pop_global_arguments_once_per_call
    assert pyinfra_operation.signature is pyinfra_compat.signature_once
    assert pyinfra_arguments.raise_if_bad_type is pyinfra_compat.raise_if_bad_type_plain_first
    from paramiko import util as paramiko_util

    assert paramiko_util.constant_time_bytes_eq is pyinfra_compat.bytes_eq_in_c

    # Another pyinfra (its function's source differs): pyinfra keeps its own.
    for name, (_, modules) in pyinfra_compat.REPLACEMENTS.items():
        for module in modules:
            monkeypatch.setattr(module, name, originals[name])
    monkeypatch.setitem(pyinfra_compat.CHECKED_SOURCE_SHA256, "all_global_arguments", "0" * 64)
    assert pyinfra_compat.install_speedups() == {
        "get_operation_order_from_stack": True,
        "all_global_arguments": False,
        "pop_global_arguments": True,
        "signature": True,
        "raise_if_bad_type": True,
        "constant_time_bytes_eq": True,
    }
    assert pyinfra_arguments.all_global_arguments is originals["all_global_arguments"]


def test_the_checked_sources_are_this_pyinfra():
    """A pyinfra upgrade changes a hash: re-check the replacement against the new source."""
    for name, original in pyinfra_compat.ORIGINALS.items():
        checked = pyinfra_compat.CHECKED_FUNCTIONS.get(name, original)
        assert pyinfra_compat.source_sha256(checked) == pyinfra_compat.CHECKED_SOURCE_SHA256[name]


def test_signature_once_equal_to_inspects():
    from pyinfra.operations import files, server

    for func in (files.put._inner, server.shell._inner, files.directory._inner, make_host):
        ours = pyinfra_compat.signature_once(func)
        assert ours == inspect.signature(func)
        assert pyinfra_compat.signature_once(func) is ours  # built once
    bound = pyinfra_compat.signature_once(files.directory._inner).bind("/srv", present=True)
    assert bound.arguments == inspect.signature(files.directory._inner).bind("/srv", present=True).arguments
    with pytest.raises(TypeError):  # a bad call is refused as by pyinfra's own check
        pyinfra_compat.signature_once(files.directory._inner).bind("/srv", no_such_argument=1)


def test_signature_not_replaced_when_pyinfra_binds_differently(monkeypatch):
    originals = pyinfra_compat.ORIGINALS
    monkeypatch.setattr(pyinfra_operation, "signature", originals["signature"])
    monkeypatch.setitem(pyinfra_compat.CHECKED_SOURCE_SHA256, "signature", "0" * 64)
    assert pyinfra_compat.install_speedups()["signature"] is False
    assert pyinfra_operation.signature is inspect.signature


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


# ----------------------------------------------------------------- global arguments


def make_host(host_data=None, group_data=None, override=None, deploy_kwargs=None, deploy_data=None):
    """A host of a real pyinfra inventory and state: its data has every layer."""
    from pyinfra.api import Config, Inventory, State

    inventory = Inventory(
        ([("web1", host_data or {})], {}),
        web=(["web1"], group_data or {}),
    )
    state = State(inventory, Config(SUDO=False, TIMEOUT=17))
    host = inventory.get_host("web1")
    for key, value in (override or {}).items():
        setattr(host.data, key, value)
    host.current_deploy_kwargs = deploy_kwargs
    host.current_deploy_data = deploy_data
    return state, host


DATA_CASES = [
    {},
    {"host_data": {"_sudo": True, "_sudo_user": "postgres", "other": 1}},
    {"group_data": {"_env": {"A": "1"}, "_timeout": 5}, "host_data": {"_timeout": 9}},
    {"override": {"_chdir": "/srv"}, "group_data": {"_chdir": "/tmp", "_retries": 2}},
    {"deploy_kwargs": {"_sudo": True, "_shell_executable": "bash"}, "host_data": {"_sudo": False}},
    {"deploy_data": {"_su_user": "app"}, "group_data": {"_temp_dir": "/var/tmp"}},
    {"host_data": {"_success_exit_codes": [0, 2], "_env": {"X": "y"}}},
]
KWARGS_CASES = [
    {},
    {"name": "An operation", "path": "/etc/x", "_sudo": True},
    {"_env": {"B": "2"}, "_timeout": 3, "_ignore_errors": True, "content": "x"},
    {"_if": [lambda: True], "_run_once": True, "_serial": False},
]


BOTH_POPS = (
    pyinfra_compat.ORIGINALS["pop_global_arguments"],
    pyinfra_compat.pop_global_arguments_once_per_call,
)


def pop_both(data_case, kwargs):
    results = []
    for pop in BOTH_POPS:
        state, host = make_host(**data_case)
        left = dict(kwargs)
        arguments, found = pop(state, host, left)
        results.append((arguments, found, left))
    return results


@pytest.mark.parametrize("data_case", DATA_CASES)
@pytest.mark.parametrize("kwargs", KWARGS_CASES)
def test_pop_global_arguments_equal_to_pyinfras(data_case, kwargs):
    (original, original_found, original_left), (ours, our_found, our_left) = pop_both(data_case, kwargs)
    assert ours == original
    assert list(ours) == list(original)  # same keys in the same order
    assert our_found == original_found
    assert our_left == original_left  # the operation's own arguments stay, globals are popped


def test_pop_global_arguments_copies_host_data_values_as_pyinfra():
    """A value from the host's data is a shallow copy: changing it leaves the data alone."""
    state, host = make_host(host_data={"_env": {"A": "1"}})
    arguments, _ = pyinfra_compat.pop_global_arguments_once_per_call(state, host, {})
    arguments["_env"]["B"] = "2"
    assert host.data._env == {"A": "1"}


def test_pop_global_arguments_bad_type_refused_as_pyinfra():
    from pyinfra.api.exceptions import ArgumentTypeError

    for pop in BOTH_POPS:
        state, host = make_host(host_data={"_timeout": 5})
        with pytest.raises(ArgumentTypeError, match="_timeout"):
            pop(state, host, {"_timeout": "soon"})


def test_pop_global_arguments_other_host_data_takes_pyinfras_path():
    """Host data that is not pyinfra's HostData of plain dicts is asked key by key."""
    asked = []

    class Data:
        def __getattr__(self, key):
            asked.append(key)
            if key == "_sudo_user":
                return "postgres"
            raise AttributeError(key)

    state, host = make_host()
    host.data = Data()
    arguments, _ = pyinfra_compat.pop_global_arguments_once_per_call(state, host, {})
    assert arguments["_sudo_user"] == "postgres"
    assert "_sudo" in asked


GLOBAL_TYPES = dict(pyinfra_compat.ORIGINALS["all_global_arguments"]())
TYPE_CASES = [
    ("a name", str),
    (b"bytes", str),
    (True, bool),
    (1, bool),
    (True, int),
    (3, int),
    (3.5, int),
    (None, str),
    ({"A": "1"}, GLOBAL_TYPES["_env"]),
    ({"A": 1}, GLOBAL_TYPES["_env"]),
    ([0, 2], GLOBAL_TYPES["_success_exit_codes"]),
    (2.5, GLOBAL_TYPES["_retry_delay"]),
    ("x", GLOBAL_TYPES["_retry_delay"]),
]


@pytest.mark.parametrize("value, type_", TYPE_CASES)
def test_raise_if_bad_type_same_verdict_as_pyinfras(value, type_):
    from pyinfra.api.exceptions import ArgumentTypeError

    def verdict(check):
        try:
            check(value, type_, ArgumentTypeError, "Invalid argument `x`:")
        except ArgumentTypeError as error:
            return str(error)
        return None

    original = verdict(pyinfra_compat.ORIGINALS["raise_if_bad_type"])
    assert verdict(pyinfra_compat.raise_if_bad_type_plain_first) == original


@pytest.mark.parametrize(
    "a, b",
    [
        (b"", b""),
        (b"mac", b"mac"),
        (b"mac", b"mad"),
        (b"mac", b"ma"),
        (bytes(range(32)), bytes(range(32))),
        (bytes(range(32)), bytes(range(31)) + b"x"),
        (bytearray(b"abc"), b"abc"),
        ("abc", "abc"),  # not bytes: paramiko's own answers
        ("abc", "abd"),
    ],
)
def test_bytes_eq_in_c_same_answer_as_paramikos(a, b):
    assert pyinfra_compat.bytes_eq_in_c(a, b) == pyinfra_compat.ORIGINALS["constant_time_bytes_eq"](a, b)


def test_source_sha256_read_once_per_function_same_digest():
    import hashlib

    function = pyinfra_compat.ORIGINALS["pop_global_arguments"]
    expected = hashlib.sha256(inspect.getsource(function).encode()).hexdigest()
    assert pyinfra_compat.source_sha256(function) == expected
    assert pyinfra_compat.source_sha256(function) == expected  # from the memo: the same
    assert function in pyinfra_compat._source_sha256


def test_a_replayable_operation_runs_once_and_executes_the_plans_commands():
    """announce.planned runs every planned operation's generator for the plan; a replayable one
    then hands pyinfra these same commands at execution (its generator never runs again), any
    other runs again (it may read live facts, which earlier operations can change)."""
    from pyinfra.api import Config, Inventory, State, operation
    from pyinfra.api.operation import add_op
    from pyinfra.context import ctx_host, ctx_state

    from deploylib import announce

    runs = {"cached": 0, "live": 0}

    @operation()
    @pyinfra_compat.replayable
    def cached_only(value: str):
        runs["cached"] += 1
        yield f"echo {value} {runs['cached']}"

    @operation()
    def live(value: str):
        runs["live"] += 1
        yield f"echo {value} {runs['live']}"

    inventory = Inventory((["one"], {}))
    state = State(inventory, Config())
    host = inventory.get_host("one")
    state.activate_host(host)
    add_op(state, cached_only, value="a")
    add_op(state, live, value="b")
    added = dict(runs)  # (pyinfra's API mode already ran each once: its change detection)
    with ctx_state.use(state), ctx_host.use(host):
        announce.planned(state, host)
        planned = {name: runs[name] - added[name] for name in runs}
        assert planned == {"cached": 1, "live": 1}
        executed = [[str(c) for c in op_data.command_generator()]
                    for _, op_data in pyinfra_compat.planned_operations(state, host)]
    n = added["cached"] + 1
    assert executed == [[f"echo a {n}"], [f"echo b {n + 1}"]]
    assert runs == {"cached": n, "live": n + 1}
