"""Issue 16: the audit trail on the host. One JSON line per run that changed something (a
failed one too), none for a no-op or a --dry run; the last entry said before the plan;
the log root's and adm's, rotated by logrotate, never holding a secret."""

import getpass
import json
import re
import socket
import subprocess

import pytest

from .harness import REPO, run_deploy, ssh
from .test_databases import passwords

pytestmark = pytest.mark.e2e

LOG = "/var/log/hatchet-owlclaw-deploy/audit.log"
LAST = "/var/log/hatchet-owlclaw-deploy/last-entry"
SETTINGS_OP = "PostgreSQL 17/main settings (postgresql.conf)"


def entries(host) -> list[dict]:
    text = ssh(host, f"cat {LOG}").stdout
    return [json.loads(line) for line in text.splitlines()]


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, check=True).stdout


def test_one_line_per_changing_run_none_for_a_no_op(fresh_trixie):
    host = fresh_trixie
    secret = passwords()
    commit, local_changes = git("rev-parse", "HEAD").strip(), bool(git("status", "--porcelain").strip())

    first = run_deploy(host, extra_env=secret)
    assert first.ok, first.describe()
    assert f"[{host.name}] last deploy of this host: none recorded ({LOG})" in first.stderr
    [entry] = entries(host)
    assert entry["result"] == "ok" and entry["failed_operation"] is None
    assert entry["environment"] == "dev" and entry["entry_point"] == "deploy.py"
    assert entry["operator"] == getpass.getuser() and entry["controller"] == socket.gethostname()
    assert entry["commit"] == commit and entry["local_changes"] is local_changes
    assert entry["changes"] == first.changed, (entry["changes"], first.changed)
    assert "Audit log rotation (/etc/logrotate.d/hatchet-owlclaw-deploy)" in entry["changes"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", entry["time"]), entry["time"]
    # Root's and adm's, like Debian's own logs; the last entry again, alone, for planning.
    assert ssh(host, f"stat -c '%a %U %G' {LOG} {LAST}").stdout.split() == ["640", "root", "adm"] * 2
    assert ssh(host, f"cat {LAST}").stdout == ssh(host, f"tail -n 1 {LOG}").stdout
    directory = ssh(host, "stat -c '%a %U %G' /var/log/hatchet-owlclaw-deploy").stdout.split()
    assert directory == ["750", "root", "adm"]
    # Never a secret (the passwords are random here, unlike dev's defaults).
    content = ssh(host, f"cat {LOG}").stdout
    for value in secret.values():
        assert value not in content

    # A no-op and a --dry run append nothing; both say the last entry before the plan.
    said = (f"last deploy of this host: {entry['time']} by {entry['operator']}@{entry['controller']}, "
            f"commit {commit[:12]}{' + local changes' if local_changes else ''}, "
            f"{len(entry['changes'])} changes (dev, deploy.py)")
    quiet = run_deploy(host, extra_env=secret)
    assert quiet.ok and quiet.changed == [], quiet.describe()
    assert said in quiet.stderr, quiet.stderr
    work_mem = {"pg_settings": {"work_mem": "8MB"}}
    dry = run_deploy(host, extra_env=secret, overrides=work_mem, extra_args=("--dry",))
    assert dry.ok and said in dry.stderr
    assert dry.stderr.index(said) < dry.stderr.index("--> Planned on"), dry.stderr
    assert len(entries(host)) == 1

    # logrotate reads the deploy's snippet; a forced rotation, then the next changing run
    # starts a new file with the same owner and mode.
    checked = ssh(host, "logrotate -d /etc/logrotate.d/hatchet-owlclaw-deploy 2>&1")
    pattern = next(line for line in checked.stdout.splitlines() if line.startswith("rotating pattern: "))
    assert pattern.startswith(f"rotating pattern: {LOG} weekly ") and "(52 rotations)" in pattern, pattern
    assert "error" not in checked.stdout.lower(), checked.stdout
    ssh(host, "logrotate -f /etc/logrotate.d/hatchet-owlclaw-deploy")
    assert ssh(host, f"test -f {LOG}.1.gz && ! test -e {LOG}", check=False).returncode == 0
    # The last entry is still said after the rotation; and from the log's last line where
    # there is no last-entry file (a host a run before it wrote to).
    rotated = run_deploy(host, extra_env=secret)
    assert rotated.ok and rotated.changed == [] and said in rotated.stderr, rotated.stderr
    ssh(host, f"zcat {LOG}.1.gz > {LOG}; rm {LAST}")
    older = run_deploy(host, extra_env=secret)
    assert older.ok and older.changed == [] and said in older.stderr, older.stderr
    ssh(host, f"mv {LOG} {LOG}.old")

    # A run that fails after changing something is recorded, naming the operation.
    failed = run_deploy(host, extra_env=secret, overrides={"pg_settings": {"timezone": "Mars/Olympus_Mons"}})
    assert not failed.ok
    [entry] = entries(host)
    assert entry["result"] == "failed" and entry["failed_operation"] == SETTINGS_OP, entry
    assert SETTINGS_OP in entry["changes"]
    assert ssh(host, f"stat -c '%a %U %G' {LOG}").stdout.split() == ["640", "root", "adm"]
    after = run_deploy(host, extra_env=secret)
    assert after.ok and after.changed == [], after.describe()
    assert f", FAILED at {SETTINGS_OP}" in after.stderr
    assert len(entries(host)) == 1
