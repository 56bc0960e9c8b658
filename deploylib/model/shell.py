"""Shell command lines, built in one place: every value quoted with shlex.quote (pure).

Values reach here validated (deploylib/model/config.py) and are quoted anyway: a value
that passed validation by mistake still cannot become shell syntax.
"""

from __future__ import annotations

import shlex
from functools import cache
from pathlib import Path

quote = shlex.quote

# The host scripts, as real files: common.sh (the functions they share) and one per fact.
SCRIPTS_DIR = Path(__file__).resolve().parents[1] / "facts" / "sh"


def join(argv) -> str:
    """argv as one command line, each word quoted."""
    return " ".join(shlex.quote(str(word)) for word in argv)


def bash_c(script: str, *args) -> str:
    """`bash -c <script> _ <args...>`: the script sees the values as "$1", "$2"..., never as code."""
    return join(["bash", "-c", script, "_", *args])


@cache
def script_text(name: str) -> str:
    """deploylib/facts/sh/<name>.sh, as it is."""
    return (SCRIPTS_DIR / f"{name}.sh").read_text()


def script(name: str, *args, functions: str = "") -> str:
    """The command that runs deploylib/facts/sh/<name>.sh with ``args`` as "$1", "$2"...
    (each quoted: a value is never code), after common.sh's functions and ``functions``
    (more function definitions). A script whose first line says ``shell=bash`` runs under
    ``bash -c``; a ``shell=sh`` one runs as is in the caller's sh (no process started for a
    shell), its arguments set with ``set --``."""
    text = script_text(name)
    body = f"{script_text('common')}{functions}{text}"
    if text.startswith("# shellcheck shell=bash"):
        return bash_c(body, *args)
    return f"set -- {join(args)}\n{body}"


def with_common(script: str, *args) -> str:
    """`bash -c` running common.sh's functions, then ``script`` (for the scripts built in
    Python: the firewall backends', the operations')."""
    return bash_c(script_text("common") + script, *args)


def as_user(user: str, script: str) -> str:
    """`script` run by bash as `user` (root: directly), with that user's HOME."""
    if user == "root":
        return script
    return (
        f'HOME="$(getent passwd {quote(user)} | cut -d: -f6)" '
        f"runuser -u {quote(user)} -- bash -c {quote(script)}"
    )


def git_ssh_command(key_path: str) -> str:
    """GIT_SSH_COMMAND's value with the deploy key (git runs it through a shell: the path is
    quoted inside it)."""
    return join(["ssh", "-i", key_path, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
                 "-o", "StrictHostKeyChecking=accept-new"])


# Options for every git command the deploy runs in the checkout: whatever the tree's own
# .git/config says, git runs no fsmonitor and no hook (the checkout is app_user's, and
# containers may write to it).
GIT_SAFE_OPTIONS = ("-c", "core.fsmonitor=false", "-c", "core.hooksPath=/dev/null")


def git_in(path: str, *argv) -> str:
    """`git` in the checkout at `path` (run it as the checkout's owner): no fsmonitor, no hooks."""
    return join(["git", *GIT_SAFE_OPTIONS, "-C", path, *argv])
