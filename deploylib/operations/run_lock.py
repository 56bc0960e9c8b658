"""The run lock on a host (deploylib.model.run_lock), fitted to pyinfra's plan-then-execute.

- ``check`` (planning, first): a lock held by a live run, or left by a dead one,
  stops the run before anything executes on any host.
- ``take_before_first_change`` (planning, last): the lock is taken by the first
  command that would change the host, whichever operation yields it. A run with
  nothing to change takes no lock and costs no command.
- ``release`` (the last operation) marks where it is removed: once it has run, a
  callback removes the lock (not a command of the operation: a run's changes stay
  the operations that changed the host). When an operation fails, pyinfra executes
  nothing more on that host, so the same callback removes it right there.
- A killed controller (or Ctrl-C during execution) releases nothing: its lock is
  stale (its holder process is gone with the connection), and the next run says so.
"""

from __future__ import annotations

import getpass
import os
import shlex
import socket
import uuid
from datetime import UTC, datetime

from pyinfra import host as current_host
from pyinfra import logger
from pyinfra.api import StringCommand, operation
from pyinfra.api.arguments import CONNECTOR_ARGUMENT_KEYS
from pyinfra.api.exceptions import DeployError
from pyinfra.api.state import BaseStateCallback

from ..facts import cached_fact
from ..facts.run_lock import RunLock
from ..model import run_lock

# One run of the controller: the same id on every host it locks.
RUN = {
    "run_id": uuid.uuid4().hex[:16],
    "operator": getpass.getuser(),
    "controller": socket.gethostname(),
    "controller_pid": os.getpid(),
    "started": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
}

# (id(state), host name) -> "taken" / "released"
_held: dict[tuple[int, str], str] = {}
# (id(state), host name) -> the LockState this host's plan was made with
_planned: dict[tuple[int, str], run_lock.LockState] = {}
# (id(state), host name) -> the op hash of its release operation
_release_op: dict[tuple[int, str], str] = {}


class RunLocked(DeployError):
    """Another run holds this host's lock, or left it behind: nothing was executed."""


def _key(host) -> tuple[int, str]:
    return (id(host.state), host.name)


def _bash(script: str) -> StringCommand:
    return StringCommand("bash", "-c", shlex.quote(script))


def _is_local(host) -> bool:
    return type(host.connector).__name__ == "LocalConnector"


def clear_command(host) -> str:
    if _is_local(host):
        return run_lock.clear_command(None)
    data = host.data
    hostname = data.get("ssh_hostname") or host.name
    return run_lock.clear_command(
        run_lock.ssh_target(hostname, data.get("ssh_user"), data.get("ssh_port"), data.get("ssh_key"))
    )


def record(host, environment: str) -> dict:
    entry = (host.state.current_deploy_filename or "deploy.py").rsplit("/", 1)[-1]
    return {**RUN, "environment": environment, "entry_point": entry}


def check(host) -> None:
    """While planning: stop (DeployError) when another run holds the lock or left it stale."""
    state = cached_fact(host, RunLock)
    message = run_lock.refusal(host.name, state, clear_command(host))
    if message:
        raise RunLocked(message)
    _planned[_key(host)] = state
    _install_release(host.state)


def take_before_first_change(host, environment: str) -> None:
    """Make the first command any operation of this host yields at execution take the lock.

    Called once the host's plan is complete (the last task). Each operation's
    command generator is wrapped: before its first command, if this run does not
    hold the lock yet, the take command runs first; if it fails, that operation
    fails having changed nothing, and pyinfra executes nothing more on this host.
    """
    take = _bash(
        run_lock.take_script(
            record(host, environment),
            _planned[_key(host)].last,
            os.getpid() if _is_local(host) else None,
            clear_command(host),
        )
    )
    key = _key(host)
    state = host.state
    for op_hash in host.op_hash_order:
        op_data = state.ops[host][op_hash]
        original = op_data.command_generator

        def locked(original=original, op_data=op_data):
            try:
                for command in original():
                    if state.is_executing and key not in _held:
                        yield take
                        _held[key] = "taken"  # resumed only when the take succeeded
                    yield command
            except Exception:
                # An operation that raises (OperationError) while executing ends the run
                # without pyinfra's failure callbacks: release here.
                if _held.get(key) == "taken":
                    _release(host, op_data, " after the operation's error")
                raise

        op_data.command_generator = locked


@operation()
def release_marker():
    """Where the lock is released (by ``_Release``, once this operation has run)."""
    if _held.get(_key(current_host)) != "taken":
        current_host.noop("this run took no lock on this host")
    else:
        current_host.noop("the run lock is released now")
    return
    yield


def release(host, name: str) -> None:
    """Declare the last operation: the lock this run took on ``host`` is released after it."""
    meta = release_marker(name=name)
    _release_op[_key(host)] = meta._hash


def _release(host, op_data, why: str) -> None:
    key = _key(host)
    arguments = {k: v for k, v in op_data.global_arguments.items() if k in CONNECTOR_ARGUMENT_KEYS}
    try:
        ok, _ = host.run_shell_command(StringCommand(run_lock.release_script(RUN["run_id"])), **arguments)
    except Exception as error:  # the connection is gone: the lock's holder with it (stale)
        ok, why = False, f"{why} ({error})"
    if ok:
        _held[key] = "released"
        logger.info(f"{host.print_prefix}run lock released{why}")
    else:
        logger.error(f"{host.print_prefix}run lock NOT released{why}: clear it with: {clear_command(host)}")


class _Release(BaseStateCallback):
    """Release the lock after the release operation, or right after a failed operation
    (pyinfra runs nothing more on that host then)."""

    @staticmethod
    def operation_host_success(state, host, op_hash, retry_count=0):
        key = _key(host)
        if _held.get(key) == "taken" and _release_op.get(key) == op_hash:
            _release(host, state.ops[host][op_hash], "")

    @staticmethod
    def operation_host_error(state, host, op_hash, retry_attempt=0, max_retries=0):
        op_data = state.ops[host].get(op_hash)
        ignored = op_data is not None and op_data.global_arguments.get("_ignore_errors")
        if _held.get(_key(host)) == "taken" and op_data is not None and not ignored:
            _release(host, op_data, " after the failed operation")


def _install_release(state) -> None:
    if not any(isinstance(h, _Release) for h in state.callback_handlers):
        state.add_callback_handler(_Release())
