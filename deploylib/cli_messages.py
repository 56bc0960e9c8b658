"""Refusals read as messages, not as crashes (pure: imports nothing; pyinfra_compat shows them).

pyinfra's CLI shows an exception raised by a deploy file or an operation as
"pyinfra error in <file> line <n>: ..." or "Operation error in ...", and a run whose
every host failed ends with "No hosts remaining!". The deploy's own refusals (the prod
guard, the run lock, settings refused, a cluster choice, an operation's OperationError)
already say what, where and what to do: they are shown as one block, "--> Stopped: ...".
The wording and the test of "ours" (pure: imports nothing of pyinfra); pyinfra_cli's display is
patched in deploylib.pyinfra_compat.install_cli_messages, from the entry points.
"""

from __future__ import annotations

from pathlib import Path

REPO = str(Path(__file__).resolve().parents[1])
NO_HOSTS = "No hosts remaining!"


def is_ours(filename: str | None) -> bool:
    """Was the innermost frame outside pyinfra in this repository's code?"""
    return bool(filename) and filename.startswith(REPO + "/") and "/.venv/" not in filename


def stopped_text(message: str) -> str:
    return f"--> Stopped: {message}"

