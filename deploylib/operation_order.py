"""pyinfra's operation ordering, without reading source files for every operation call.

In CLI mode pyinfra orders (and names) every operation call by the line numbers of
the call stack, from the deploy file down: `pyinfra.api.util.get_operation_order_from_stack`.
pyinfra 3.10 builds that list with `inspect.stack()` and `getframeinfo()` at their
default context of one source line, so every frame of every operation call opens
and scans its source file. Profiled on a no-op run over 10 hosts (160 operation
calls, ~21 frames each) that was ~1.5 s of the controller's 3.4 s, while the line
numbers only need the frames.

`operation_order_from_stack` returns the same list from the same frames with
context=0 (no source read). `install()` puts it in place of pyinfra's only when
pyinfra's function is exactly the one this was checked against; any other pyinfra
keeps its own (correct, slower) function.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import sys

import pyinfra
from pyinfra.api import util as pyinfra_util

# The module, not the `operation` decorator that pyinfra.api re-exports under that name.
pyinfra_operation = importlib.import_module("pyinfra.api.operation")

# sha256 of inspect.getsource(pyinfra.api.util.get_operation_order_from_stack) in pyinfra 3.10.0.
CHECKED_SOURCE_SHA256 = "f4807f61585570e091fd453c7552d9e2b49329555f07f395a8e8f1d2a398a0b2"


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


def install() -> bool:
    """Use operation_order_from_stack for this run if pyinfra's own is the checked one."""
    current = pyinfra_operation.get_operation_order_from_stack
    if current is operation_order_from_stack:
        return True
    if source_sha256(pyinfra_util.get_operation_order_from_stack) != CHECKED_SOURCE_SHA256:
        return False
    pyinfra_operation.get_operation_order_from_stack = operation_order_from_stack
    return True
