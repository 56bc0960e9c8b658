"""Operations for pgBackRest: the repository's secret configuration, SSH keys, the stanza,
the first backup, the freshness check and the point-in-time restore (host code: pyinfra
operations; may import facts, the model, announce, notices and pyinfra_compat)."""

from __future__ import annotations

import hashlib
import shlex

from pyinfra import host
from pyinfra.api import StringCommand, operation

from .. import announce, notices, pyinfra_compat
from . import paths
from ..model import pgbackrest
from ..model.config import Secret
from ..model.shell import as_user
from .app import UPLOAD_DIR, upload_dir_script
from ..pyinfra_compat import replayable


def _bash(script: str) -> StringCommand:
    return StringCommand("bash", "-c", shlex.quote(script))


@operation()
@replayable
def secret_file(path: str, content: Secret, user: str, group: str, mode: str):
    """
    Keep ``path`` equal to the secret ``content`` (compared by sha256 with the PathsState
    fact's); uploaded into the private upload directory, written with umask 077,
    renamed into place: private at every moment, never in a command line or the output.
    """
    current = paths.current_state(path)
    wanted = hashlib.sha256(content.reveal().encode()).hexdigest()
    if (current is not None and current.sha256 == wanted and (current.user, current.group) == (user, group)
            and current.mode.lstrip("0") == mode.lstrip("0")):
        host.noop(f"{path} is up to date")
        return
    uploaded = f"{UPLOAD_DIR}/{hashlib.sha256(path.encode()).hexdigest()[:16]}"
    yield _bash(upload_dir_script())
    yield pyinfra_compat.private_upload(content.reveal(), uploaded)
    yield _bash(install_root_file_script(uploaded, path, user, group, mode))


def install_root_file_script(uploaded: str, path: str, user: str, group: str, mode: str) -> str:
    """As root, in a directory only root writes (no link can be planted there): the uploaded
    file written private (umask 077) beside ``path``, given its owner and mode, renamed into
    place; the upload removed, whatever happened."""
    q = shlex.quote
    staged = f"{path}.deploy-new"
    return (
        f"{{ umask 077 && rm -f -- {q(staged)} && cat > {q(staged)} && chown {q(user)}:{q(group)} {q(staged)} "
        f"&& chmod {mode} {q(staged)} && mv -f -- {q(staged)} {q(path)}; }} < {q(uploaded)}; "
        f"status=$?; rm -f -- {q(uploaded)}; exit $status"
    )


@operation()
@replayable
def ssh_key(user: str, home: str, exists: bool):
    """An ed25519 key pair for ``user`` (generated on the host, no passphrase: pgBackRest's
    SSH trust), in ``home``/.ssh (0700)."""
    if exists:
        host.noop(f"{user} has an SSH key")
        return
    ssh = pgbackrest.ssh_dir(home)
    q = shlex.quote
    yield _bash(
        f"install -d -m 0700 -o {q(user)} -g {q(user)} {q(ssh)} && "
        + as_user(user, f"test -e {q(ssh)}/id_ed25519 || ssh-keygen -q -t ed25519 -N '' "
                        f"-C {q(user + '@pgbackrest')} -f {q(ssh)}/id_ed25519")
    )


def _repo_user(command: str, user: str) -> str:
    return f"env -C / runuser -u {shlex.quote(user)} -- {command}"


@operation()
@replayable
def stanza(environment: str, repo_user: str | None, status: int | None, archiving: bool):
    """
    On the backup host (``repo_user``; the database host passes None: nothing to do there, but
    calling it orders both hosts' runs): create the stanza when ``status`` (pgbackrest info)
    says it is missing or unreadable, then ``pgbackrest check`` (WAL archiving works) when
    ``archiving`` will be on after this run.
    """
    name = pgbackrest.stanza(environment)
    if repo_user is None or status in (0, 2):
        host.noop(f"pgBackRest stanza {name} exists" if repo_user else "stanza: the backup host's")
        return
    announce.will(host, f"create pgBackRest stanza {name}" + (" and check WAL archiving" if archiving else ""))
    yield _repo_user(f"pgbackrest --stanza={name} --log-level-console=warn stanza-create", repo_user)
    if archiving:
        yield _repo_user(f"pgbackrest --stanza={name} --log-level-console=warn check", repo_user)
    yield announce.did(host, f"created pgBackRest stanza {name}" + (", WAL archiving checked" if archiving else ""))


@operation()
@replayable
def first_backup(environment: str, script: str | None, status: int | None, archiving: bool):
    """On the backup host: a full backup when the stanza has none yet (the schedules take the
    next ones), through the wrapper that writes the status file."""
    if script is None or status == 0 or not archiving:
        host.noop("a pgBackRest backup exists" if script and status == 0 else "no first backup here")
        return
    announce.will(host, f"take the first full pgBackRest backup of {pgbackrest.stanza(environment)}")
    yield f"{shlex.quote(script)} backup full"
    yield announce.did(host, f"took the first full pgBackRest backup of {pgbackrest.stanza(environment)}")


@operation()
@replayable
def freshness(problems: list[str], fail: bool):
    """Backups too old or WAL archiving failing: a notice on every run; with ``fail`` (prod)
    the run's last check fails, after everything else ran (nothing is undone)."""
    if not problems:
        host.noop("pgBackRest backups are fresh and WAL archiving works")
        return
    for problem in problems:
        notices.add(host, f"pgBackRest: {problem}")
    if fail:
        message = "pgBackRest: " + "; ".join(problems)
        yield f"echo {shlex.quote(message)} >&2; exit 1"
    else:
        host.noop("pgBackRest: " + "; ".join(problems))


@operation()
def pitr_restore(script: str, swap_script: str | None, target: str, directory: str, port: int):
    """Restore the stanza into a side cluster (``script``: pgbackrest.restore_script), verify it,
    report its tables and row counts; with ``swap_script`` make it the live cluster."""
    announce.will(host, f"restore the cluster to {target} into a side cluster at port {port} ({directory})"
                  + (", then make it the live cluster" if swap_script else ""))
    yield _bash(script)
    if swap_script:
        yield _bash(swap_script)
    yield announce.did_with_report(
        host,
        f"restored the cluster to {target} into {directory}"
        + (" and made it the live cluster" if swap_script else f" (port {port})"),
        f"cat {shlex.quote(pgbackrest.report_path(directory))}",
    )
