"""Two of pyinfra's per-operation costs, removed without changing what pyinfra does.

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

`install()` swaps each in only when pyinfra's function is exactly the one this was
checked against (the sha256 of its source); any other pyinfra keeps its own
(correct, slower) function. tests/unit/test_pyinfra_tuning.py proves the results equal.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import sys

import pyinfra
from pyinfra.api import arguments as pyinfra_arguments
from pyinfra.api import util as pyinfra_util

# The modules, not the `operation` decorator that pyinfra.api re-exports under that name.
pyinfra_operation = importlib.import_module("pyinfra.api.operation")
pyinfra_facts = importlib.import_module("pyinfra.api.facts")

# sha256 of inspect.getsource(<function>) in pyinfra 3.10.0.
CHECKED_SOURCE_SHA256 = {
    "get_operation_order_from_stack": "f4807f61585570e091fd453c7552d9e2b49329555f07f395a8e8f1d2a398a0b2",
    "all_global_arguments": "f7afbc472d78c5d2f0bb282994175647651e888543da001968d903cc4a26a5a1",
}


def source_sha256(function) -> str:
    return hashlib.sha256(inspect.getsource(function).encode()).hexdigest()


def operation_order_from_stack(state) -> list[int]:
    """Line numbers of the calls from the deploy file down to the operation call.

    Same result as pyinfra's get_operation_order_from_stack when called from the
    same place (pyinfra.api.operation): its own frame lies in pyinfra and is skipped
    there; here the walk starts at the caller instead.
    """
    stack_items = list(reversed(inspect.getouterframes(sys._getframe(1), context=0)))

    start = 0
    # The *first* occurrence of the deploy file being executed, outermost first.
    if state.current_deploy_filename:
        for start, stack_item in enumerate(stack_items):
            if stack_item.filename == state.current_deploy_filename:
                break

    line_numbers = []
    if pyinfra.is_cli:
        line_numbers.append(state.current_op_file_number)
    for stack_item in stack_items[start:]:
        if stack_item.filename.startswith(pyinfra_util.PYINFRA_INSTALL_DIR):
            continue
        line_numbers.append(stack_item.lineno)

    del stack_items
    return line_numbers


_GLOBAL_ARGUMENTS: tuple | None = None


def global_arguments_once() -> list[tuple[str, type]]:
    """pyinfra's all_global_arguments(), its type hints evaluated on the first call only."""
    global _GLOBAL_ARGUMENTS
    if _GLOBAL_ARGUMENTS is None:
        _GLOBAL_ARGUMENTS = tuple(ORIGINALS["all_global_arguments"]())
    return list(_GLOBAL_ARGUMENTS)  # a new list each time, as pyinfra's


ORIGINALS = {
    "get_operation_order_from_stack": pyinfra_util.get_operation_order_from_stack,
    "all_global_arguments": pyinfra_arguments.all_global_arguments,
}
# Where pyinfra looks each function up at call time.
REPLACEMENTS = {
    "get_operation_order_from_stack": (operation_order_from_stack, [pyinfra_operation]),
    "all_global_arguments": (global_arguments_once, [pyinfra_arguments, pyinfra_facts]),
}


def install() -> dict[str, bool]:
    """Swap in each replacement whose pyinfra original is the checked one: {name: installed}."""
    installed = {}
    for name, (replacement, modules) in REPLACEMENTS.items():
        checked = source_sha256(ORIGINALS[name]) == CHECKED_SOURCE_SHA256[name]
        if checked:
            for module in modules:
                setattr(module, name, replacement)
        installed[name] = checked
    return installed
