"""The audit trail on the host: who changed it, when, from which commit (pure: builds data and strings).

Every run that changed something on a host (deploy, bootstrap or restore; also one that
failed part-way) appends one JSON line to ``AUDIT_LOG``: when, the environment and entry
point, the operator (the local user) and the controller (its hostname), the deploy
repository's commit and whether it had local changes, and the names of the operations that
changed the host. Only names and facts about the run: never a value from the settings, so
never a secret. A run with nothing to change appends nothing.

Under /var/log, where an operator looks for logs and logrotate rotates them
(``LOGROTATE_PATH``, managed by the deploy); readable by root and the ``adm`` group (as
Debian's own logs), 0600 root where there is no ``adm`` group.
"""

from __future__ import annotations

import json
import shlex

from . import shell
from .tagged import tagged

AUDIT_DIR = "/var/log/hatchet-owlclaw-deploy"
AUDIT_LOG = f"{AUDIT_DIR}/audit.log"
# The last line again, alone: planning reads it with a shell builtin, where the log's last
# line would cost a `tail` process on every run (and it survives the log's rotation).
AUDIT_LAST = f"{AUDIT_DIR}/last-entry"
LOGROTATE_PATH = "/etc/logrotate.d/hatchet-owlclaw-deploy"
PACKAGE = "logrotate"  # installed with the base packages: it rotates the log

# The keys of an entry, in this order in every line.
KEYS = ("time", "result", "environment", "entry_point", "operator", "controller", "commit",
        "local_changes", "changes", "failed_operation", "run_id")


def logrotate_config() -> str:
    """Weekly, a year of history, compressed. No ``create``: the next run that changes the host
    creates the file, with the owner and mode ``append_script`` gives it."""
    return (
        "# Managed by hatchet-owlclaw-deploy: the audit trail of deploy runs (one JSON line per\n"
        "# run that changed this host). A year of weekly files.\n"
        f"{AUDIT_LOG} {{\n"
        "    weekly\n"
        "    rotate 52\n"
        "    compress\n"
        "    missingok\n"
        "    notifempty\n"
        "}\n"
    )


def entry(run: dict, repository: dict, changes: list[str], failed_operation: str | None, time: str) -> dict:
    """One line's data. ``run``: the run's record (operator, controller, environment,
    entry_point, run_id); ``repository``: {"commit", "local_changes"}; ``time``: UTC ISO."""
    data = {
        "time": time,
        "result": "failed" if failed_operation else "ok",
        "environment": run.get("environment"),
        "entry_point": run.get("entry_point"),
        "operator": run.get("operator"),
        "controller": run.get("controller"),
        "commit": repository.get("commit"),
        "local_changes": repository.get("local_changes"),
        "changes": list(changes),
        "failed_operation": failed_operation,
        "run_id": run.get("run_id"),
    }
    return {key: data[key] for key in KEYS}


def entry_line(data: dict) -> str:
    """One line of JSON (ASCII: no byte of it can break the shell command or the file)."""
    return json.dumps(data, ensure_ascii=True, separators=(", ", ": "))


def append_command(line: str) -> str:
    """Append ``line`` to the log ("$1" of a bash script: data, never code), the directory and
    file root's and adm's (0750/0640), or root's alone (0700/0600) on a host without adm."""
    directory, log, last = shlex.quote(AUDIT_DIR), shlex.quote(AUDIT_LOG), shlex.quote(AUDIT_LAST)
    script = (
        "set -e\n"
        "if getent group adm >/dev/null; then group=adm; dmode=0750; fmode=0640; "
        "else group=root; dmode=0700; fmode=0600; fi\n"
        f"install -d -m $dmode -o root -g $group {directory}\n"
        "umask 077\n"
        f"printf '%s\\n' \"$1\" >> {log}\n"
        f"printf '%s\\n' \"$1\" > {last}\n"
        f"chown root:$group {log} {last}\n"
        f"chmod $fmode {log} {last}\n"
    )
    return shell.bash_c(script, line)


def fact_command() -> str:
    """sh: the last entry, tagged (nothing when there is none): AUDIT_LAST by a shell
    builtin; the log's last line (a `tail` process) where a run before AUDIT_LAST existed
    wrote it, or AUDIT_LAST is empty (a run cut off while writing it)."""
    log, last = shlex.quote(AUDIT_LOG), shlex.quote(AUDIT_LAST)
    return (
        f"if [ -s {last} ]; then IFS= read -r line < {last}; printf 'last\\t%s\\n' \"$line\"; "
        f"elif [ -s {log} ]; then printf 'last\\t%s\\n' \"$(tail -n 1 {log})\"; fi; true"
    )


def parse_fact(lines: list[str]) -> dict | None:
    """The last entry (None: no log); {"unreadable": line} when it is not an entry."""
    for tag, rest in tagged(lines):
        if tag == "last":
            try:
                data = json.loads(rest)
            except ValueError:
                return {"unreadable": rest[:200]}
            return data if isinstance(data, dict) else {"unreadable": rest[:200]}
    return None


def describe_last(last: dict | None) -> str:
    """"last deploy of this host: <time> by <operator>@<controller>, commit <sha>[ + local
    changes], N changes (<environment>, <entry point>)[, FAILED at <operation>]"."""
    if last is None:
        return f"last deploy of this host: none recorded ({AUDIT_LOG})"
    if "unreadable" in last:
        return f"last deploy of this host: unreadable (the last line of {AUDIT_LOG}: {last['unreadable']!r})"
    get = last.get
    commit = str(get("commit") or "unknown")[:12]
    if get("local_changes"):
        commit += " + local changes"
    count = len(get("changes") or [])
    text = (
        f"last deploy of this host: {get('time', '?')} by {get('operator', '?')}@{get('controller', '?')}, "
        f"commit {commit}, {count} change{'' if count == 1 else 's'} "
        f"({get('environment', '?')}, {get('entry_point', '?')})"
    )
    if get("result") == "failed":
        text += f", FAILED at {get('failed_operation') or '?'}"
    return text


def repository_state(porcelain: str | None, head: str | None) -> dict:
    """From `git rev-parse HEAD` and `git status --porcelain` (None: git could not tell)."""
    return {
        "commit": (head or "").strip() or "unknown",
        "local_changes": None if porcelain is None else bool(porcelain.strip()),
    }
