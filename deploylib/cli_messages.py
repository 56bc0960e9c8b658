"""Refusals read as messages, not as crashes.

pyinfra's CLI shows an exception raised by a deploy file or an operation as
"pyinfra error in <file> line <n>: ..." or "Operation error in ...", and a run whose
every host failed ends with "No hosts remaining!". The deploy's own refusals (the prod
guard, the run lock, settings refused, a cluster choice, an operation's OperationError)
already say what, where and what to do: they are shown as one block, "--> Stopped: ...".
Installed while the inventory loads, only inside pyinfra's CLI. The one place this
repository touches pyinfra_cli's display.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = str(Path(__file__).resolve().parents[1])
NO_HOSTS = "No hosts remaining!"


def is_ours(filename: str | None) -> bool:
    """Was the innermost frame outside pyinfra in this repository's code?"""
    return bool(filename) and filename.startswith(REPO + "/") and "/.venv/" not in filename


def stopped_text(message: str) -> str:
    return f"--> Stopped: {message}"


def install() -> None:
    cli = sys.modules.get("pyinfra_cli.exceptions")
    if cli is None or getattr(cli.WrappedError.show, "_deploylib", False):
        return
    original = cli.WrappedError.show

    def show(self, file=None):
        from pyinfra import logger

        if str(self.message) == NO_HOSTS:
            logger.warning(stopped_text("no host is left to continue with: the errors above say why."))
            return
        info = cli.get_frame_line_from_tb(self.traceback) if self.traceback else None
        if info is not None and is_ours(info.filename):
            logger.warning(stopped_text(str(self.message)))
            return
        original(self, file)

    show._deploylib = True
    cli.WrappedError.show = show
