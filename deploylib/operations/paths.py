"""Files and directories from one PathsState fact: yield only what differs (host code: pyinfra
operations; may import facts and the model)."""

from __future__ import annotations

import hashlib
import shlex
from io import StringIO

from pyinfra import host
from pyinfra.api import FileUploadCommand, OperationError, operation
from pyinfra.facts.files import FileContents

from .. import managed_paths, show_diff
from ..facts.paths import PathState
from ..model import file_swap
from ..pyinfra_compat import replayable

# pyinfra's files.directory/files.put ask a fact per path, each a remote command on every run
# (pyinfra's Directory/File facts cannot join the run's fact bundle); these ask the one
# PathsState fact of every path declared in deploylib.managed_paths.managed(), part of the
# run's one remote command. Every directory the deploy manages goes through directory().


def current_state(path: str) -> PathState | None:
    """``path`` as the PathsState fact of every managed path saw it (None: absent)."""
    settings = host.data.settings
    if path not in managed_paths.host_paths(host, settings):
        raise OperationError(
            f"{path} is not a declared managed path: add it to managed() in "
            "deploylib/managed_paths.py (its state is asked with the others, once per run)"
        )
    return managed_paths.state(host, settings).get(path)


def _ownership(path: str, mode: str | None, user: str | None, group: str | None,
               current: PathState | None) -> list[str]:
    commands = []
    if user and (current is None or (current.user, current.group) != (user, group)):
        commands.append(f"chown {shlex.quote(user)}:{shlex.quote(group)} {shlex.quote(path)}")
    if mode and (current is None or current.mode.lstrip("0") != mode.lstrip("0")):
        commands.append(f"chmod {mode} {shlex.quote(path)}")
    return commands


@operation()
@replayable
def directory(path: str, mode: str | None = None, user: str | None = None, group: str | None = None):
    """A directory; with ``user``/``group``/``mode``, with this owner and mode."""
    current = current_state(path)
    if current is not None and current.kind != "directory":
        raise OperationError(f"{path} exists and is not a directory")
    commands = [] if current else [f"mkdir -p {shlex.quote(path)}"]
    commands += _ownership(path, mode, user, group, current)
    if not commands:
        host.noop(f"directory {path} is as wanted")
        return
    yield " && ".join(commands)


def _text(path: str) -> str:
    lines = host.get_fact(FileContents, path=path)
    return "".join(f"{line}\n" for line in lines or [])


@operation()
@replayable
def file_content(path: str, content: str, mode: str, user: str, group: str):
    """A file holding ``content`` with this owner and mode. Not for secrets (see the app's .env)."""
    current = current_state(path)
    wanted = hashlib.sha256(content.encode()).hexdigest()
    if current is None or current.sha256 != wanted:
        # --diff, the prod guard: the current text is read only then (changing runs only).
        show_diff.show(host, path, None if current is None else lambda: _text(path), content)
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
@replayable
def absent(path: str):
    """No file at ``path``."""
    current = current_state(path)
    if current is None:
        host.noop(f"{path} is absent")
        return
    yield f"rm -f {shlex.quote(path)}"
