"""What pgBackRest's two hosts need to know about each other, in one command per host (host
code: a pyinfra fact and the requests each host makes; may import the model)."""

from __future__ import annotations

import base64
import json
import shlex
from dataclasses import dataclass, field

from pyinfra.api import FactBase

from ..model import audit, pgbackrest
from .audit import AuditLast
from .paths import PathsState
from .run_lock import RunLock

HOST_KEY = "/etc/ssh/ssh_host_ed25519_key.pub"


@dataclass
class PgBackRestState:
    now: float = 0.0  # the host's clock
    files: dict = field(default_factory=dict)  # path -> text (absent paths missing)
    info: list | None = None  # pgbackrest info --output=json (backup host), None: unreadable


class PgBackRestHost(FactBase):
    """
    Returns a ``PgBackRestState``: the host's clock, the text of ``files`` (public keys,
    authorized_keys, known_hosts, the status file: never a secret), and, when asked, the
    stanza's ``pgbackrest info`` (``info_user``/``stanza``). Never fails: what cannot be read
    is absent. (The database host's pg_stat_archiver comes with PostgresServer's session.)
    """

    def command(self, files=(), info_user=None, stanza=None) -> str:
        parts = ["printf 'now %s\\n' \"$(date +%s)\""]
        for path in files:
            q = shlex.quote(path)
            parts.append(f"if [ -f {q} ]; then printf 'file %s ' {q}; base64 -w0 < {q}; echo; fi")
        if info_user and stanza:
            parts.append(
                f"printf 'info '; env -C / runuser -u {shlex.quote(info_user)} -- pgbackrest "
                f"--stanza={shlex.quote(stanza)} --output=json --log-level-console=off info 2>/dev/null "
                "| base64 -w0; echo"
            )
        return "; ".join(parts) + "; true"

    @staticmethod
    def default() -> PgBackRestState:
        return PgBackRestState()

    def process(self, output: list[str]) -> PgBackRestState:
        return parse_state(output)


def parse_state(lines: list[str]) -> PgBackRestState:
    state = PgBackRestState()
    for line in lines:
        tag, _, rest = line.partition(" ")
        if tag == "now" and rest.strip().isdigit():
            state.now = float(rest)
        elif tag == "file":
            path, _, encoded = rest.partition(" ")
            state.files[path] = base64.b64decode(encoded.strip() or b"").decode("utf-8", "replace")
        elif tag == "info":
            try:
                state.info = json.loads(base64.b64decode(rest.strip() or b"") or b"null")
            except ValueError:
                state.info = None
    return state


def stanza_status(info: list | None) -> int | None:
    """pgbackrest info's status code of the stanza: 0 ok, 1 missing stanza path, 2 no valid
    backups, 3 missing stanza data, ...; None when it could not be read."""
    if not info or not isinstance(info, list) or not isinstance(info[0], dict):
        return None
    status = info[0].get("status")
    return status.get("code") if isinstance(status, dict) else None


# ---------------------------------------------------------------- what each host asks

POSTGRES_HOME = "/var/lib/postgresql"  # Debian's postgres user


def is_backup_host(host) -> bool:
    return pgbackrest.BACKUP_GROUP in host.groups


def repo_home(settings) -> str:
    return f"/home/{settings.pgbackrest_repo_user}"


def key_files(home: str) -> dict[str, str]:
    ssh = pgbackrest.ssh_dir(home)
    return {
        "dir": ssh,
        "public_key": f"{ssh}/id_ed25519.pub",
        "authorized_keys": f"{ssh}/authorized_keys",
        "known_hosts": f"{ssh}/known_hosts",
    }


def _common_paths(environment: str) -> set[str]:
    return {pgbackrest.CONF_DIR, pgbackrest.CONF, pgbackrest.TEXTFILE_DIR,
            pgbackrest.script_path(environment), pgbackrest.cron_path(environment)}


def database_host_paths(settings) -> list[str]:
    """What the pgBackRest tasks manage on the database host (in managed_paths' PathsState)."""
    files = key_files(POSTGRES_HOME)
    return sorted({*_common_paths(settings.environment), files["dir"], files["authorized_keys"],
                   files["known_hosts"]})


def backup_host_paths(settings) -> list[str]:
    files = key_files(repo_home(settings))
    # The audit log's rotation too: a run that changes the backup host appends to its audit log.
    return sorted({*_common_paths(settings.environment), settings.pgbackrest_repo_path, pgbackrest.LOG_DIR,
                   files["dir"], files["authorized_keys"], files["known_hosts"], audit.LOGROTATE_PATH})


def state_request(host) -> tuple[type, dict]:
    """PgBackRestHost's arguments for `host` (the same on every call: asked once)."""
    settings = host.data.settings
    if is_backup_host(host):
        files = key_files(repo_home(settings))
        return PgBackRestHost, {
            "files": [files["public_key"], files["authorized_keys"], files["known_hosts"], HOST_KEY,
                      pgbackrest.status_path(settings.environment, "backup")],
            "info_user": settings.pgbackrest_repo_user,
            "stanza": pgbackrest.stanza(settings.environment),
        }
    files = key_files(POSTGRES_HOME)
    return PgBackRestHost, {
        "files": [files["public_key"], files["authorized_keys"], files["known_hosts"], HOST_KEY],
    }


def backup_host_prefetch(host) -> list[tuple[type, dict]]:
    """The backup host's whole run in one remote command: its lock, its audit log's last entry,
    its paths, its state."""
    return [(RunLock, {}), (AuditLast, {}), (PathsState, {"paths": backup_host_paths(host.data.settings)}),
            state_request(host)]
