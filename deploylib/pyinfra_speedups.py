"""pyinfra's per-operation costs, removed without changing what pyinfra does.

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
"""

from __future__ import annotations

import copy
import functools
import hashlib
import hmac
import importlib
import inspect
import os
import sys

import pyinfra
from paramiko import util as paramiko_util
from pyinfra.api import arguments as pyinfra_arguments
from pyinfra.api import host as pyinfra_host
from pyinfra.api import util as pyinfra_util
from pyinfra.api.host import HostData
from pyinfra.context import ctx_config

# The modules, not the `operation` decorator that pyinfra.api re-exports under that name.
pyinfra_operation = importlib.import_module("pyinfra.api.operation")
pyinfra_facts = importlib.import_module("pyinfra.api.facts")
pyinfra_deploy = importlib.import_module("pyinfra.api.deploy")

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


def source_sha256(function) -> str:
    return hashlib.sha256(inspect.getsource(function).encode()).hexdigest()


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


def install() -> dict[str, bool]:
    """Swap in each replacement whose pyinfra original is the checked one: {name: installed}."""
    installed = {}
    for name, (replacement, modules) in REPLACEMENTS.items():
        checked = _is_checked(name)
        if checked:
            for module in modules:
                setattr(module, name, replacement)
        installed[name] = checked
    return installed
