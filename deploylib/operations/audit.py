"""The audit trail on the host (deploylib.model.audit), fitted to the run lock (host code:
appended through the run lock's release, pyinfra internals only through pyinfra_compat).

The run lock already knows when a run changes a host: the first command any operation
yields at execution takes it (deploylib.operations.run_lock). The operations that yield
commands are the run's changes (``note_change``); where the lock is released (after the
last operation, or right after a failed one) the entry is appended (``append``), with
the same connection arguments (sudo...). A run that changed nothing takes no lock and
appends nothing, at no cost.
"""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

from pyinfra import logger
from pyinfra.api import StringCommand

from .. import pyinfra_compat
from ..model import audit

# (id(state), host name) -> names of the operations that changed the host, in order
_changes: dict[tuple[int, str], list[str]] = {}
_repository: dict = {}

REPOSITORY_DIR = Path(__file__).resolve().parents[2]  # the deploy repository (deploy.py's)


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(REPOSITORY_DIR), *args], capture_output=True, text=True,
                              timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def repository() -> dict:
    """The deploy repository's commit and whether it has local changes (asked once per run)."""
    if not _repository:
        _repository.update(audit.repository_state(_git("status", "--porcelain"), _git("rev-parse", "HEAD")))
    return _repository


def op_name(state, op_hash: str) -> str:
    """The operation's name as the plan shows it ('tasks/base.py | Base packages' -> 'Base packages')."""
    names = pyinfra_compat.operation_names(state, op_hash).split(", ")
    return ", ".join(sorted({name.split(" | ", 1)[-1].strip() for name in names}))


def note_change(host, op_hash: str) -> None:
    """An operation yields a command at execution: it changes the host."""
    names = _changes.setdefault((id(host.state), host.name), [])
    name = op_name(host.state, op_hash)
    if name not in names:
        names.append(name)


def append(host, run: dict, arguments: dict, failed_operation: str | None) -> None:
    """Append this run's entry to the host's audit log (when it changed something)."""
    changes = _changes.get((id(host.state), host.name))
    if not changes:
        return
    time = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    line = audit.entry_line(audit.entry(run, repository(), changes, failed_operation, time))
    try:
        ok, _ = host.run_shell_command(StringCommand(audit.append_command(line)), **arguments)
    except Exception as error:  # the connection is gone
        ok = False
        logger.error(f"{host.print_prefix}audit log NOT written ({error})")
    if ok:
        logger.info(f"{host.print_prefix}audit log: {audit.AUDIT_LOG}")
    else:
        logger.error(f"{host.print_prefix}audit log NOT written: {audit.AUDIT_LOG}")
