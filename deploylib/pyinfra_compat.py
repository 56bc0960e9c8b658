"""Every place the deploy reaches into pyinfra beyond its documented API, in one module (host code).

May import pyinfra, pyinfra_cli (only inside pyinfra's CLI, where it is already loaded) and
click; nothing of deploylib. Each entry point (deploy.py, bootstrap.py, restore.py) calls
``install(host)`` first; everything else here is called where it is needed:

- Speed (``install_speedups``, from ``install``): pyinfra's per-operation costs removed
  without changing what pyinfra does.

  Profiled on a no-op run over 10 hosts (160 operation calls), the controller spent
  most of its time in pyinfra's bookkeeping for each operation call, not in facts
  or in this deploy's code:

  - Operation ordering. In CLI mode pyinfra orders (and names) every operation call
    by the line numbers of the call stack, from the deploy file down
    (`pyinfra.api.util.get_operation_order_from_stack`). pyinfra 3.10 builds that
    list with `inspect.stack()` and `getframeinfo()` at their default context of one
    source line, so every frame of every call opens and scans its source file: ~1.5 s
    of 3.4 s. `operation_order_from_stack` returns the same list from the same frames
    with context=0 (no source read).
  - Global arguments. `pyinfra.api.arguments.all_global_arguments()` evaluates the
    type hints of a static TypedDict (`get_type_hints`) on every operation and fact
    call. `global_arguments_once` evaluates them once.

  - Global arguments per call. `pop_global_arguments` looks each of ~30 global
    arguments up in the host's data (`getattr(host.data, key)`), and every lookup
    merges the host's groups' data afresh and raises AttributeError when (as almost
    always) the key is absent: ~600 merges per host per run. `pop_global_arguments_once_per_call`
    reads the data layers once per call and looks the keys up in them, the same way.
  - Frame information. With context=0 `inspect.getouterframes` still computes each
    frame's source position (a scan of the code's position table) and checks its file
    on disk; `operation_order_from_stack` reads `f_lineno` and resolves each code file
    name once per run.

  - Operation signatures. Every operation call checks its arguments with
    `inspect.signature(func).bind(...)`: `signature_once` builds each function's
    (immutable) Signature once.
  - Argument types. `raise_if_bad_type` runs typeguard's check_type for every
    argument that differs from its default (an operation's `name`, a str, on every
    call): `raise_if_bad_type_plain_first` answers a plain class and an instance of it
    with isinstance, as typeguard does, and leaves everything else to typeguard.
  - SSH packets. paramiko compares the MAC of every packet received in a Python loop
    (`constant_time_bytes_eq`); `bytes_eq_in_c` uses hmac.compare_digest (constant-time,
    in C) for bytes.

  Profiled again on 50 hosts (bench/RESULTS.md, 2026-12-02) after the above: what is
  left per host is mostly paramiko (one SSH connection, one command), two PBKDF2
  verifier checks (the roles' passwords, inherent), and pyinfra's per-operation
  bookkeeping.

  `install()` swaps each in only when pyinfra's function is exactly the one this was
  checked against (the sha256 of its source); any other pyinfra keeps its own
  (correct, slower) function. tests/unit/test_pyinfra_tuning.py proves the results equal.

- TCP_NODELAY on the SSH socket (``disable_nagle``, from ``install``): paramiko's socket.
- The deploy's refusals shown as messages (``install_cli_messages``, from ``install``):
  pyinfra_cli's WrappedError display.
- The CLI's own parameters (``capture_cli``: -y, --dry, --json, --data, the deploy files),
  read from click's context while the inventory loads, and ``--data`` values parsed as
  pyinfra_cli parses them (``parse_cli_value``).
- The plan (``planned_operations``, ``operation_names``, ``will_change``,
  ``wrap_commands``, ``connector_arguments``), a state callback (``add_state_callback``),
  and secret uploads whose sudo staging file goes where we say (``private_upload``).
"""

from __future__ import annotations

import copy
import functools
import hashlib
import hmac
import importlib
import inspect
import os
import socket
import sys
from dataclasses import dataclass
from io import StringIO

import pyinfra
from paramiko import util as paramiko_util
from pyinfra.api import FileUploadCommand
from pyinfra.api import arguments as pyinfra_arguments
from pyinfra.api import host as pyinfra_host
from pyinfra.api import util as pyinfra_util
from pyinfra.api.arguments import CONNECTOR_ARGUMENT_KEYS
from pyinfra.api.host import HostData
from pyinfra.api.state import BaseStateCallback
from pyinfra.context import ctx_config

# The modules, not the `operation` decorator that pyinfra.api re-exports under that name.
pyinfra_operation = importlib.import_module("pyinfra.api.operation")
pyinfra_facts = importlib.import_module("pyinfra.api.facts")
pyinfra_deploy = importlib.import_module("pyinfra.api.deploy")

# --------------------------------------------------------------------------- speed

# sha256 of inspect.getsource(<function>) in pyinfra 3.10.0.
CHECKED_SOURCE_SHA256 = {
    "get_operation_order_from_stack": "f4807f61585570e091fd453c7552d9e2b49329555f07f395a8e8f1d2a398a0b2",
    "all_global_arguments": "f7afbc472d78c5d2f0bb282994175647651e888543da001968d903cc4a26a5a1",
    "pop_global_arguments": "a12a311539ff5068152b1c9c4578d77a8a893239a570f912768050a623069faf",
    # The caller: an operation call binds its arguments with `signature(func).bind(...)`.
    "signature": "8195e098a9c6a0b359e76364e6e6faced77ae9f94a2551882e48809626b4bedb",
    "raise_if_bad_type": "389007d62b8633083f9955d7288e9c71e88682b78bf0d26cdafdefc19eb73add",
    # paramiko's (pyinfra's SSH library): the MAC of every packet received is compared in Python.
    "constant_time_bytes_eq": "140c13a7469e0068b69674eb88c4058674f0bbd3ab1e173ddbd985002cf3cf5f",
}


_source_sha256: dict = {}


def source_sha256(function) -> str:
    """sha256 of the function's source, read once per process and function: install()
    runs for every host (getsource tokenizes the whole file each time)."""
    if function not in _source_sha256:
        _source_sha256[function] = hashlib.sha256(inspect.getsource(function).encode()).hexdigest()
    return _source_sha256[function]


def operation_order_from_stack(state) -> list[int]:
    """Line numbers of the calls from the deploy file down to the operation call.

    Same result as pyinfra's get_operation_order_from_stack when called from the
    same place (pyinfra.api.operation): its own frame lies in pyinfra and is skipped
    there; here the walk starts at the caller instead. A frame's file and line are
    those `inspect.getframeinfo` gives (tests/unit/test_pyinfra_tuning.py).
    """
    frames = []
    frame = sys._getframe(1)
    while frame is not None:
        frames.append(frame)
        frame = frame.f_back
    frames.reverse()  # outermost first
    stack_items = [(_frame_filename(f.f_code.co_filename, f), f.f_lineno) for f in frames]
    del frames, frame

    start = 0
    # The *first* occurrence of the deploy file being executed, outermost first.
    deploy_filename = state.current_deploy_filename
    if deploy_filename:
        for start, stack_item in enumerate(stack_items):  # noqa: B007 - start is read after
            if stack_item[0] == deploy_filename:
                break

    line_numbers = []
    if pyinfra.is_cli:
        line_numbers.append(state.current_op_file_number)
    for filename, lineno in stack_items[start:]:
        if filename.startswith(pyinfra_util.PYINFRA_INSTALL_DIR):
            continue
        line_numbers.append(lineno)
    return line_numbers


_FRAME_FILENAMES: dict[str, str] = {}


def _frame_filename(code_filename: str, frame) -> str:
    """The file name `inspect.getframeinfo(frame)` reports, once per code file name: the
    code's own for a source file that exists (a .pyc's .py), which does not change in a run."""
    try:
        return _FRAME_FILENAMES[code_filename]
    except KeyError:
        filename = inspect.getsourcefile(frame) or inspect.getfile(frame)
        if filename == code_filename or os.path.exists(filename):
            _FRAME_FILENAMES[code_filename] = filename
        return filename


_GLOBAL_ARGUMENTS: tuple | None = None


def global_arguments_once() -> list[tuple[str, type]]:
    """pyinfra's all_global_arguments(), its type hints evaluated on the first call only."""
    global _GLOBAL_ARGUMENTS
    if _GLOBAL_ARGUMENTS is None:
        _GLOBAL_ARGUMENTS = tuple(ORIGINALS["all_global_arguments"]())
    return list(_GLOBAL_ARGUMENTS)  # a new list each time, as pyinfra's


@functools.lru_cache(maxsize=1024)
def signature_once(func) -> inspect.Signature:
    """inspect.signature, once per function: pyinfra checks every operation call's
    arguments with ``signature(func).bind(...)``, building the same immutable Signature
    (a Parameter object per argument) each time."""
    return inspect.signature(func)


def pop_global_arguments_once_per_call(state, host, kwargs):
    """pyinfra's pop_global_arguments, the host's data layers read once per call.

    pyinfra's looks every global argument up with `getattr(host.data, key)`:
    HostData evaluates its layers (override, host, merged groups, inventory, deploy
    data) and returns a shallow copy of the first layer's value. Here the layers are
    evaluated once and each key looked up in them alike; any other kind of host data
    (or of layer) takes pyinfra's own path.
    """
    config = state.config
    if ctx_config.isset():
        config = ctx_config.get()
        assert config is not None

    cdkwargs = host.current_deploy_kwargs
    meta_kwargs = cdkwargs or {}

    layers = _plain_data_layers(host.data)

    arguments = {}
    found_keys = []

    for key, type_ in pyinfra_arguments.all_global_arguments():
        argument_meta = pyinfra_arguments.all_argument_meta[key]
        handler = argument_meta.handler
        default = argument_meta.default(config)

        if layers is None or key in _HOST_DATA_ATTRIBUTES:
            host_default = getattr(host.data, key, pyinfra_arguments.default_sentinel)
        else:
            host_default = pyinfra_arguments.default_sentinel
            for layer in layers:
                if key in layer:
                    host_default = copy.copy(layer[key])
                    break
        if host_default is not pyinfra_arguments.default_sentinel:
            default = host_default

        if key in kwargs:
            found_keys.append(key)
            value = kwargs.pop(key)
        else:
            value = meta_kwargs.get(key, default)

        if handler:
            value = handler(config, value)

        if value != default:
            pyinfra_arguments.raise_if_bad_type(
                value,
                type_,
                pyinfra_arguments.ArgumentTypeError,
                f"Invalid argument `{key}`:",
            )

        arguments[key] = value
    return arguments, found_keys


def raise_if_bad_type_plain_first(value, type_, exception, message_prefix):
    """pyinfra's raise_if_bad_type (typeguard's check_type), with a plain class and an
    instance of it answered by isinstance, as typeguard answers it: the name of every
    operation call, a str, no longer goes through typeguard. Anything else (generics,
    unions, protocols, a value not an instance) is typeguard's to judge."""
    if type(type_) is type and isinstance(value, type_):
        return
    ORIGINALS["raise_if_bad_type"](value, type_, exception, message_prefix)


def bytes_eq_in_c(a, b) -> bool:
    """paramiko's constant_time_bytes_eq (a loop over the bytes in Python, for the MAC of
    every SSH packet received) as hmac.compare_digest: also constant-time, in C, the
    same answer for bytes. Anything else goes to paramiko's own."""
    if type(a) in _BYTES and type(b) in _BYTES:
        return hmac.compare_digest(a, b)
    return ORIGINALS["constant_time_bytes_eq"](a, b)


_BYTES = (bytes, bytearray)


# Names HostData answers itself (methods, instance attributes), not from its layers.
_HOST_DATA_ATTRIBUTES = frozenset(dir(HostData)) | {"host", "override_datas", "datas"}


def _plain_data_layers(data) -> list[dict] | None:
    """HostData's layers, evaluated as its __getattr__ does, when they are all plain dicts."""
    if type(data) is not HostData:
        return None
    layers = list(pyinfra_host.extract_callable_datas(data.datas))
    if any(type(layer) is not dict for layer in layers):
        return None
    return layers


ORIGINALS = {
    "get_operation_order_from_stack": pyinfra_util.get_operation_order_from_stack,
    "all_global_arguments": pyinfra_arguments.all_global_arguments,
    "pop_global_arguments": pyinfra_arguments.pop_global_arguments,
    "signature": pyinfra_operation.signature,
    "raise_if_bad_type": pyinfra_util.raise_if_bad_type,
    "constant_time_bytes_eq": paramiko_util.constant_time_bytes_eq,
}
# Where pyinfra looks each function up at call time.
REPLACEMENTS = {
    "get_operation_order_from_stack": (operation_order_from_stack, [pyinfra_operation]),
    "all_global_arguments": (global_arguments_once, [pyinfra_arguments, pyinfra_facts]),
    "pop_global_arguments": (
        pop_global_arguments_once_per_call,
        [pyinfra_arguments, pyinfra_operation, pyinfra_facts, pyinfra_deploy],
    ),
    "signature": (signature_once, [pyinfra_operation]),
    # Where pop_global_arguments (pyinfra's or ours) looks it up.
    "raise_if_bad_type": (raise_if_bad_type_plain_first, [pyinfra_arguments]),
    # paramiko.packet looks it up as util.constant_time_bytes_eq at each packet.
    "constant_time_bytes_eq": (bytes_eq_in_c, [paramiko_util]),
}


# Where the checked source is the caller's rather than the replaced function's own.
CHECKED_FUNCTIONS = {"signature": pyinfra_operation._wrap_operation}


def _is_checked(name: str) -> bool:
    if name == "signature" and ORIGINALS[name] is not inspect.signature:
        return False
    return source_sha256(CHECKED_FUNCTIONS.get(name, ORIGINALS[name])) == CHECKED_SOURCE_SHA256[name]


def install_speedups() -> dict[str, bool]:
    """Swap in each replacement whose pyinfra original is the checked one: {name: installed}."""
    installed = {}
    for name, (replacement, modules) in REPLACEMENTS.items():
        checked = _is_checked(name)
        if checked:
            for module in modules:
                setattr(module, name, replacement)
        installed[name] = checked
    return installed


def install(host) -> dict[str, bool]:
    """Call first in every entry point (deploy.py, bootstrap.py, restore.py), before any fact
    or operation of theirs: the speed patches, the refusals as messages, TCP_NODELAY on this
    host's connection. Safe to call for every host: {what: installed}."""
    installed = install_speedups()
    installed["cli_messages"] = install_cli_messages()
    installed["tcp_nodelay"] = disable_nagle(host)
    return installed


# --------------------------------------------------------------------------- SSH socket


def disable_nagle(host) -> bool:
    """Set TCP_NODELAY on host's SSH socket; False when there is no TCP socket to set.

    paramiko sets no socket options. An SSH exec ends with several small messages each
    way; with Nagle's algorithm on, the client's second small write waits for the server's
    (delayed, up to 40 ms on Linux) ACK of the first. Measured against a sandbox host: 46 ms
    per `true` with Nagle, 4 ms without; every fact and command of a run pays it, in series
    per host. Called from the entry points (pyinfra has no hook between connecting and
    running deploy code that an inventory could register: State.init() resets the callback
    handlers after the inventory is loaded). Connections without a plain TCP socket (a
    ProxyCommand, @local, @docker) are left alone.
    """
    client = getattr(host.connector, "client", None)
    transport = client.get_transport() if client is not None else None
    sock = getattr(transport, "sock", None)
    if not isinstance(sock, socket.socket) or sock.type != socket.SOCK_STREAM:
        return False
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return False
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return True


# --------------------------------------------------------------------------- CLI display


def install_cli_messages() -> bool:
    """Show the deploy's own refusals as "--> Stopped: ..." (deploylib.cli_messages), not as
    pyinfra_cli's "pyinfra error in <file> line <n>". Only inside pyinfra's CLI (its
    exceptions module loaded, with the two names used here); False otherwise."""
    from . import cli_messages

    cli = sys.modules.get("pyinfra_cli.exceptions")
    # Only the pyinfra_cli this was written against: its display keeps its own otherwise.
    if cli is None or not hasattr(cli, "get_frame_line_from_tb") or not hasattr(cli, "WrappedError"):
        return False
    if getattr(cli.WrappedError.show, "_deploylib", False):
        return True
    original = cli.WrappedError.show

    def show(self, file=None):
        from pyinfra import logger

        if str(self.message) == cli_messages.NO_HOSTS:
            said = "no host is left to continue with: the errors above say why."
            logger.warning(cli_messages.stopped_text(said))
            return
        info = cli.get_frame_line_from_tb(self.traceback) if self.traceback else None
        if info is not None and cli_messages.is_ours(info.filename):
            logger.warning(cli_messages.stopped_text(str(self.message)))
            return
        original(self, file)

    show._deploylib = True
    cli.WrappedError.show = show
    return True


# --------------------------------------------------------------------------- CLI parameters


@dataclass(frozen=True)
class CliParameters:
    """How the pyinfra CLI was invoked (all empty outside it)."""

    yes: bool = False  # -y: execute without pyinfra's prompt
    dry: bool = False  # --dry: plan only
    json_output: bool = False  # --json
    data: tuple[str, ...] = ()  # --data key=value, as given
    operations: tuple[str, ...] = ()  # the deploy files (deploy.py, ...)
    in_cli: bool = False


_cli: CliParameters | None = None


def capture_cli() -> CliParameters:
    """Read the CLI's parameters from click's context. Call it while the inventory loads
    (deploylib.inventory): deploy files run in gevent greenlets, where click's current
    context is not visible; later calls return what was captured then."""
    global _cli
    import click

    context = click.get_current_context(silent=True)
    if context is None:
        return _cli or CliParameters()
    params = context.params
    _cli = CliParameters(
        yes=bool(params.get("yes")),
        dry=bool(params.get("dry")),
        json_output=bool(params.get("json_output")),
        data=tuple(params.get("data") or ()),
        operations=tuple(str(op) for op in params.get("operations") or ()),
        in_cli=True,
    )
    return _cli


def captured_cli() -> CliParameters | None:
    """What ``capture_cli`` read (None: not captured, not inside the CLI)."""
    return _cli


def parse_cli_value(text: str):
    """A ``--data`` value as pyinfra_cli parses it ("True" -> True, "1" -> 1, ...). Only
    inside pyinfra's CLI: importing pyinfra_cli monkey-patches the process for gevent."""
    from pyinfra_cli.util import parse_cli_arg

    return parse_cli_arg(text)


# --------------------------------------------------------------------------- the plan


def planned_operations(state, host):
    """(op_hash, op_data) of each of this host's planned operations, in its order."""
    ops = state.ops[host]
    for op_hash in host.op_hash_order:
        yield op_hash, ops[op_hash]


def operation_data(state, host, op_hash: str):
    """The planned operation's data on ``host`` (None when it is not planned there)."""
    return state.ops[host].get(op_hash)


def operation_names(state, op_hash: str) -> str:
    """The operation's name(s) as pyinfra shows them (its hash when it has none)."""
    return ", ".join(sorted(state.op_meta[op_hash].names)) or op_hash


def will_change(op_data) -> bool:
    """Would this planned operation yield a command? pyinfra's public
    ``OperationMeta.will_change``: the answer of pyinfra's own change detection (no -y),
    else its command generator run now (nothing executes: commands are only created).
    Call it with the operation's host as pyinfra's current host (a task file)."""
    return op_data.operation_meta.will_change


# (host name, op hash) of the planned operations whose generator is replayable().
_replayable: set[tuple[str, str]] = set()


def replayable(generator_function):
    """For an operation's generator function (under ``@operation()``) that reads only the
    run's cached facts (deploylib.facts.cached_fact: they do not change during a run): it
    yields the same commands each time it runs, so the commands of its run for the plan
    (``run_commands``) are the ones pyinfra executes, without running it a second time."""

    @functools.wraps(generator_function)
    def generator(*args, **kwargs):
        host = pyinfra.host  # the operation's host (pyinfra's context)
        op_hash = getattr(host, "current_op_hash", None)  # None: called outside a run (tests)
        if op_hash is not None:
            _replayable.add((host.name, op_hash))
        yield from generator_function(*args, **kwargs)

    return generator


def run_commands(host, op_hash: str, op_data) -> None:
    """Run this planned operation's command generator to its end (nothing executes):
    what the operation decides along the way (announcements) is then known. A
    ``replayable`` operation's commands are kept: execution takes them from here."""
    commands = list(op_data.command_generator())
    if (host.name, op_hash) in _replayable:
        op_data.command_generator = lambda: iter(commands)


def wrap_commands(op_data, wrapper) -> None:
    """Replace the operation's command generator by ``wrapper(original)`` (a generator
    function of no argument, yielding the commands pyinfra will execute)."""
    original = op_data.command_generator
    op_data.command_generator = lambda: wrapper(original)


def connector_arguments(global_arguments: dict | None) -> dict:
    """The connector arguments (sudo, su, ...) among an operation's global arguments, to
    run a command of our own on the host as the operation would."""
    return {k: v for k, v in (global_arguments or {}).items() if k in CONNECTOR_ARGUMENT_KEYS}


def current_operation_hash(host) -> str | None:
    """The hash of the operation pyinfra is running on ``host`` now (while its generator runs)."""
    return host.current_op_hash


def current_connector_arguments(host) -> dict:
    """``connector_arguments`` of the operation pyinfra is running on ``host`` now."""
    return connector_arguments(host.current_op_global_arguments)


def operation_hash(op_meta) -> str:
    """The hash pyinfra keys a planned operation by (its OperationMeta, as returned by the call)."""
    return op_meta._hash


StateCallback = BaseStateCallback


def add_state_callback(state, handler_type: type) -> None:
    """Register one ``handler_type`` (a StateCallback) on ``state``, once."""
    if not any(isinstance(h, handler_type) for h in state.callback_handlers):
        state.add_callback_handler(handler_type())


# --------------------------------------------------------------------------- uploads


def private_upload(content: str, dest: str) -> FileUploadCommand:
    """Upload ``content`` to ``dest`` where pyinfra, with sudo, first writes its own copy to
    ``dest``.sftp (its default staging file is /tmp/pyinfra-<sha1>, mode from the SFTP
    server's umask): both land in the directory of ``dest``, which the caller keeps private."""
    return FileUploadCommand(StringIO(content), dest, remote_temp_filename=f"{dest}.sftp")
