"""Files and directories from one PathsState fact: yield only what differs."""

from __future__ import annotations

import hashlib
import shlex
from io import StringIO

from pyinfra import host
from pyinfra.api import FileUploadCommand, operation

from ..facts.paths import PathState
from ..model import file_swap


def _ownership(path: str, mode: str, user: str, group: str, current: PathState | None) -> list[str]:
    commands = []
    if current is None or (current.user, current.group) != (user, group):
        commands.append(f"chown {shlex.quote(user)}:{shlex.quote(group)} {shlex.quote(path)}")
    if current is None or current.mode.lstrip("0") != mode.lstrip("0"):
        commands.append(f"chmod {mode} {shlex.quote(path)}")
    return commands


@operation()
def directory(path: str, mode: str, user: str, group: str, current: PathState | None):
    """A directory with this owner and mode (``current`` from the PathsState fact)."""
    commands = [] if current else [f"mkdir -p {shlex.quote(path)}"]
    commands += _ownership(path, mode, user, group, current)
    if not commands:
        host.noop(f"directory {path} is as wanted")
        return
    yield " && ".join(commands)


@operation()
def file_content(path: str, content: str, mode: str, user: str, group: str, current: PathState | None):
    """A file holding ``content`` with this owner and mode. Not for secrets (see the app's .env)."""
    wanted = hashlib.sha256(content.encode()).hexdigest()
    if current is None or current.sha256 != wanted:
        # Staged under a name of its own, then moved over the file only while the file
        # is still what this plan read (absent, or the bytes PathsState hashed).
        staged = file_swap.staged_name(path)
        yield FileUploadCommand(StringIO(content), staged)
        planned = current.sha256 if current is not None and current.sha256 else file_swap.EMPTY_SHA256
        yield file_swap.replace_script(path, staged, planned, f"{user}:{group}", mode)
        return
    commands = _ownership(path, mode, user, group, current)
    if commands:
        yield " && ".join(commands)
    elif current is not None:
        host.noop(f"file {path} is as wanted")


@operation()
def absent(path: str, current: PathState | None):
    """No file at ``path``."""
    if current is None:
        host.noop(f"{path} is absent")
        return
    yield f"rm -f {shlex.quote(path)}"
