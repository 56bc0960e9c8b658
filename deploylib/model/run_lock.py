"""The run lock: one deploy, bootstrap or restore at a time per host (pure: builds strings).

Like Kamal's deploy lock (an atomically created lock on the host, with who holds it,
released by the run that took it), with two differences pyinfra's two phases need:

- Liveness. The lock records the process on the host that lives exactly as long as
  the run's connection (the sshd session process of that connection; the controller
  itself for ``@local``), with its start time and the boot id. A run killed (or
  interrupted during execution) leaves its lock behind, and the next run sees the
  holder is gone: the lock is stale, and is reported with the one command that
  clears it, because the run that held it may have stopped half-way.
- Changed since planning. pyinfra plans every host (facts) before it executes
  anything. ``run.last`` names the last run that took the lock; planning reads it
  (in the same remote command as every other fact) and taking the lock checks it
  is unchanged: a run that planned while another changed the host stops before it
  changes anything.

The lock is a fixed path, not under ``deploy_state_dir``: every environment and every
entry point on the host must find the same one.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from .tagged import tagged

LOCK_DIR = "/var/lib/hatchet-owlclaw-deploy"
LOCK_FILE = f"{LOCK_DIR}/run.lock"
LAST_FILE = f"{LOCK_DIR}/run.last"

# What the controller writes into the lock (the host adds holder_pid, holder_start, boot_id).
RECORD_KEYS = ("run_id", "environment", "entry_point", "operator", "controller", "controller_pid", "started")

_UNSAFE = re.compile(r"[^A-Za-z0-9@%+=:,./_ -]")


def clean(value) -> str:
    """A value that fits on one line of the lock file (and stays readable)."""
    return _UNSAFE.sub("?", str(value))[:200]


def record_lines(record: dict) -> list[str]:
    return [f"{key}={clean(record[key])}" for key in RECORD_KEYS]


def last_line(record: dict) -> str:
    """run.last: which run last took the lock (compared byte for byte)."""
    return " ".join(clean(record[key]) for key in ("run_id", "environment", "entry_point", "operator",
                                                      "controller", "started"))


@dataclass
class LockState:
    """What the RunLock fact read while planning."""

    record: dict | None = None  # the lock file's key=value lines; None: no lock
    last: str = ""  # run.last's line ("" when no run ever took the lock)
    holder_start_now: str | None = None  # start time of holder_pid now (None: no such process)
    boot_id_now: str | None = None

    @property
    def status(self) -> str:
        """"free", "held" (its holder lives), "stale" (its holder is gone) or "unknown"
        (no holder process recorded: nobody can tell)."""
        if self.record is None:
            return "free"
        pid, start = self.record.get("holder_pid"), self.record.get("holder_start")
        if not pid or not start:
            return "unknown"
        if self.record.get("boot_id") and self.boot_id_now and self.record["boot_id"] != self.boot_id_now:
            return "stale"  # rebooted since: no process of that run survives
        return "held" if self.holder_start_now == start else "stale"


def script_parse_stat() -> str:
    """sh: the 20th field after a /proc/<pid>/stat's ") " into $start ("" if unreadable)."""
    return 'rest=${stat##*) }; set -- $rest; start=${20:-}'


def _paths(lock_dir: str) -> tuple[str, str]:
    return shlex.quote(f"{lock_dir}/run.lock"), shlex.quote(f"{lock_dir}/run.last")


def fact_command(lock_dir: str = LOCK_DIR) -> str:
    """sh, shell builtins only: run.last, the lock's lines, whether its holder still runs."""
    lock_file, last_file = _paths(lock_dir)
    return (
        f"if [ -f {last_file} ]; then IFS= read -r line < {last_file}; printf 'last\\t%s\\n' \"$line\"; fi; "
        f"if [ -f {lock_file} ]; then holder=; "
        "while IFS= read -r line; do printf 'lock\\t%s\\n' \"$line\"; "
        "case $line in holder_pid=*) holder=${line#holder_pid=} ;; esac; "
        f"done < {lock_file}; "
        'case $holder in ""|*[!0-9]*) ;; *) if [ -r /proc/$holder/stat ]; then '
        f"read -r stat < /proc/$holder/stat; {script_parse_stat()}; "
        "printf 'holder_start_now\\t%s\\n' \"$start\"; fi ;; esac; "
        "read -r boot < /proc/sys/kernel/random/boot_id; printf 'boot_id_now\\t%s\\n' \"$boot\"; "
        "fi; true"
    )


def parse_fact(lines: list[str]) -> LockState:
    state = LockState()
    for tag, value in tagged(lines):
        if tag == "last":
            state.last = value
        elif tag == "lock":
            key, _, item = value.partition("=")
            state.record = state.record or {}
            state.record[key] = item
        elif tag == "holder_start_now":
            state.holder_start_now = value or None
        elif tag == "boot_id_now":
            state.boot_id_now = value or None
    return state


def describe_holder(record: dict) -> str:
    get = record.get
    return (
        f"{get('entry_point', '?')} for environment {get('environment', '?')}, "
        f"started {get('started', '?')} by {get('operator', '?')} on {get('controller', '?')} "
        f"(controller PID {get('controller_pid', '?')}; on this host PID {get('holder_pid') or '?'}, "
        f"run {get('run_id', '?')})"
    )


def clear_command(ssh_target: str | None) -> str:
    """The one command that removes the lock (``ssh_target``: how to reach the host, None: here)."""
    remove = f"sudo rm {LOCK_FILE}"
    return f"ssh {ssh_target} {remove}" if ssh_target else remove


def ssh_target(hostname: str, user: str | None, port: int | None, key: str | None = None) -> str:
    """ssh's arguments to reach the host as the inventory does (port, key, user)."""
    target = f"{user}@{hostname}" if user else hostname
    options = f"-p {int(port)} " if port and int(port) != 22 else ""
    options += f"-i {shlex.quote(key)} " if key else ""
    return options + target


def refusal(host_name: str, state: LockState, clear: str) -> str | None:
    """The message a run stops with while planning, or None when the host is free (pure)."""
    status = state.status
    if status == "free":
        return None
    holder = describe_holder(state.record or {})
    if status == "held":
        return (
            f"run lock: {host_name} is locked by a run in progress: {holder}. "
            "Nothing was changed on any host. Next: wait for that run to finish, then run again."
        )
    why = (
        "its process on the host is gone: that run was killed or interrupted during execution"
        if status == "stale"
        else "it records no holder process, so nobody can tell whether that run is still going"
    )
    return (
        f"run lock: {host_name} has a stale lock ({LOCK_FILE}) left by {holder}; {why}, "
        "and may have stopped half-way. Nothing was changed on any host. Next: check the host "
        "(that run's output; pg_lsclusters; the state of what it was changing), then clear the lock "
        f"with: {clear}   and run again."
    )


def take_script(
    record: dict, planned_last: str, controller_pid_here: int | None, clear: str, lock_dir: str = LOCK_DIR
) -> str:
    """bash (as root): take the lock atomically (a complete file hard-linked into place: it
    exists whole or not at all), or stop naming its holder; then check that no other run
    took the lock since this one planned (run.last), and record this run there."""
    q = shlex.quote
    lines = "\n".join(record_lines(record))
    run_id = clean(record["run_id"])
    local = str(int(controller_pid_here)) if controller_pid_here else ""
    return f"""set -u
lock={q(lock_dir + "/run.lock")} last={q(lock_dir + "/run.last")}
mkdir -p -m 0700 {q(lock_dir)}
# The holder: the process that lives as long as this run's connection.
p=$$ holder=
while [ "${{p:-0}}" -gt 1 ]; do
    [ "$p" = {q(local)} ] && {{ holder=$p; break; }}
    comm=; read -r comm < /proc/$p/comm || break
    case $comm in sshd|sshd-session|sshd:*) holder=$p; break ;; esac
    read -r stat < /proc/$p/stat || break
    rest=${{stat##*) }}; set -- $rest; p=$2
done
start=
if [ -n "$holder" ]; then read -r stat < /proc/$holder/stat; {script_parse_stat()}; fi
read -r boot < /proc/sys/kernel/random/boot_id
new=$lock.{q(run_id)}
{{ printf '%s\\n' {q(lines)}
   printf 'holder_pid=%s\\nholder_start=%s\\nboot_id=%s\\n' "$holder" "$start" "$boot"; }} > "$new"
if ! ln "$new" "$lock" 2>/dev/null; then
    rm -f "$new"
    echo "run lock: this host is locked by another run; nothing was changed. Its lock ($lock):" >&2
    sed 's/^/    /' "$lock" >&2
    echo "Next: wait for it and run again; if that run is gone (killed), clear the lock with: {clear}" >&2
    exit 1
fi
rm -f "$new"
current=
[ -f "$last" ] && IFS= read -r current < "$last"
if [ "$current" != {q(planned_last)} ]; then
    rm -f "$lock"
    echo "run lock: another run changed this host after this run planned it: $current" >&2
    echo "Nothing was changed. Next: run again (it plans from what is there now)." >&2
    exit 1
fi
printf '%s\\n' {q(last_line(record))} > "$last.new" && mv -f "$last.new" "$last"
"""


def release_script(run_id: str, lock_dir: str = LOCK_DIR) -> str:
    """sh: remove the lock if (and only if) this run holds it."""
    lock_file, _ = _paths(lock_dir)
    line = shlex.quote(f"run_id={clean(run_id)}")
    return (
        f"if [ -f {lock_file} ]; then while IFS= read -r line; do "
        f"if [ \"$line\" = {line} ]; then rm -f {lock_file}; break; fi; done < {lock_file}; fi; true"
    )
