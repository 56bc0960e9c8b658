"""Files and directories from one PathsState fact: yield only what differs."""

from __future__ import annotations

import hashlib
import shlex
from io import StringIO

from pyinfra import host
from pyinfra.api import FileUploadCommand, operation

from ..facts.paths import PathState


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
        yield FileUploadCommand(StringIO(content), path)
        current = None  # a fresh upload: set owner and mode
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
