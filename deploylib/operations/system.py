"""Operations on the host system that pyinfra has no safe form of (host code: pyinfra operations;
may import the model)."""

from __future__ import annotations

import hashlib
import shlex
from io import StringIO

from pyinfra import host
from pyinfra.api import FileUploadCommand, StringCommand, operation
from pyinfra.facts.files import File, Sha1File

from ..facts import cached_fact
from ..facts.host import DistributionPostgres
from ..model import file_swap, shell


@operation()
def sudoers_file(path: str, content: str):
    """
    A file in /etc/sudoers.d (root:root 0440) with ``content``, checked with
    ``visudo -cf`` before it is put in place: a broken rule never reaches sudo.
    """
    wanted = hashlib.sha1(content.encode()).hexdigest()
    current = host.get_fact(Sha1File, path=path)
    info = host.get_fact(File, path=path)
    if current == wanted and info and info["user"] == "root" and info["group"] == "root" \
            and info["mode"] == 440:
        host.noop(f"{path} is up to date")
        return
    staged = file_swap.staged_name(path)  # has a dot: sudo ignores it while it is staged
    yield FileUploadCommand(StringIO(content), staged)
    quoted, q_staged = shlex.quote(path), shlex.quote(staged)
    yield StringCommand(
        "bash",
        "-c",
        shlex.quote(
            f"chown root:root {q_staged} && chmod 0440 {q_staged} && "
            f"if ! problems=$(visudo -cf {q_staged} 2>&1); then rm -f {q_staged}; "
            f'echo "visudo rejected the new {path}; it was not installed: $problems" >&2; exit 1; fi; '
            f"mv -f {q_staged} {quoted}"
        ),
    )


@operation()
def pgvector_if_packaged():
    """
    Install ``postgresql-<major>-pgvector`` when the host's apt sources have it
    (the ``DistributionPostgres`` fact). A host without apt lists
    yet is asked after ``apt-get update``; a distribution that does not
    package it (Debian 12) is left alone: the databases step says what to do.
    """
    found = cached_fact(host, DistributionPostgres)
    if found["pgvector_installed"]:
        host.noop(f"{found['pgvector']} is installed")
        return
    if found["pgvector"]:
        yield f"DEBIAN_FRONTEND=noninteractive apt-get install -y -q -- {shlex.quote(found['pgvector'])}"
        return
    if found["apt_lists"] and found["major"]:
        host.noop(f"pgvector is not packaged for PostgreSQL {found['major']} in this host's apt sources")
        return
    yield shell.with_common(
        "export DEBIAN_FRONTEND=noninteractive; apt-get update -q >/dev/null; "
        "major=$(ls /usr/lib/postgresql | sort -n | tail -n 1); package=postgresql-$major-pgvector; "
        "if apt_has_package \"$package\"; then "
        "apt-get install -y -q -- \"$package\"; else echo \"$package is not packaged here: skipped\"; fi"
    )
