"""The run lock as planning sees it (deploylib.model.run_lock)."""

from __future__ import annotations

from pyinfra.api import FactBase

from ..model import run_lock


class RunLock(FactBase):
    """
    Returns a ``run_lock.LockState``: the lock file's lines (None: no lock), the last
    run that took it (``run.last``) and whether the lock's holder process still runs.
    Shell builtins only: on a host with no lock it starts no process.
    """

    def command(self) -> str:
        return run_lock.fact_command()

    @staticmethod
    def default() -> run_lock.LockState:
        return run_lock.LockState()

    def process(self, output: list[str]) -> run_lock.LockState:
        return run_lock.parse_fact(output)
