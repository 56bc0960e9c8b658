"""Issue 15: pgBackRest on two sandbox hosts (database host N, backup host N+2): WAL archiving
and base backups to an encrypted repository on the backup host, point-in-time restore into a
side cluster, swap, freshness and archiving checks.

Prod's failing final check runs here in dev with prod's setting (pgbackrest_freshness_fails, True
in group_data/prod.py; a unit test holds prod to it): a real prod run would put a second stanza
beside dev's on these hosts. Not verified here: the schedules firing (cron's clock; the wrapper
they run is the one the first backup runs).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import time
import uuid

import pytest

from bench.bench import remote_commands
from deploylib.model import audit
from sandbox import hosts

from .conftest import FIRST
from .harness import PYINFRA, REPO, psql, result_of, ssh, write_overrides

pytestmark = pytest.mark.e2e

DB_INDEX, BACKUP_INDEX, NEW_DB_INDEX = FIRST, FIRST + 2, FIRST + 4
CIPHER = "pitr-e2e-" + "k3y" * 10
KEY = str(hosts.ssh_key_path())
DATA = {"pgbackrest_enabled": True, "deploy_user_public_key_file": KEY + ".pub"}
STATUS = "/var/lib/prometheus/node-exporter/pgbackrest_backup_dev.prom"
REPOSITORY = "/var/lib/pgbackrest"
ARCHIVE_MODE = "SELECT setting, pending_restart FROM pg_settings WHERE name = 'archive_mode'"


def run(entry: str, *args: str, indexes=(DB_INDEX, BACKUP_INDEX), limit: str | None = None,
        overrides: dict | None = None):
    """pyinfra -y --json inventory/sandbox.py <entry>, both hosts (or `indexes`)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("DEPLOY_", "SANDBOX_ENV"))}
    environ.update(
        SANDBOX_ENV="dev", PYINFRA_PROGRESS="off", PGBACKREST_DEV_CIPHER_PASS=CIPHER,
        SANDBOX_HOSTS=",".join(map(str, indexes)), SANDBOX_BACKUP_HOSTS=str(BACKUP_INDEX),
        DEPLOY_OVERRIDES=str(write_overrides(
            __import__("pathlib").Path(f"/tmp/overrides-pitr-{DB_INDEX}.py"), {**DATA, **(overrides or {})})),
    )
    argv = [PYINFRA, "-y", "--json", *(("--limit", limit) if limit else ()), *args,
            "inventory/sandbox.py", entry]
    proc = subprocess.run(argv, cwd=REPO, env=environ, capture_output=True, text=True, timeout=900)
    return result_of(proc.returncode, proc.stdout, proc.stderr)


def archiver(host) -> tuple[int, int]:
    archived, failed = psql(host, "SELECT archived_count, failed_count FROM pg_stat_archiver").split("|")
    return int(archived), int(failed)


def utc_now(host) -> str:
    return psql(host, "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', "
                      "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")


@pytest.fixture(scope="module")
def pair():
    database = hosts.up(1, "trixie", first=DB_INDEX)[0]
    backup = hosts.up(1, "trixie", first=BACKUP_INDEX)[0]
    database, backup = hosts.reset(DB_INDEX), hosts.reset(BACKUP_INDEX)
    yield database, backup
    if os.environ.get("SANDBOX_KEEP") != "1":
        hosts.down([BACKUP_INDEX])


def test_pitr_end_to_end(pair):
    database, backup = pair
    # Control: without bootstrap the keys do not exist: the deploy refuses before changing anything.
    early = run("deploy.py")
    assert not early.ok and "run bootstrap.py" in early.stderr, early.describe()

    boot = run("bootstrap.py")
    assert boot.ok, boot.describe()
    assert ssh(backup, "id -u pgbackrest && test -f /home/pgbackrest/.ssh/id_ed25519.pub").returncode == 0

    # Where no restart is allowed, archiving waits for it and the run says so: archive_mode is
    # written but stays off, no backup is taken.
    waiting = run("deploy.py", overrides={"pg_allow_restart": False})
    assert waiting.ok, waiting.describe()
    assert "WAL archiving of PostgreSQL 17/main waits for the restart" in waiting.stderr, \
        waiting.stderr[-3000:]
    assert "took the first full pgBackRest backup" not in waiting.stderr
    assert psql(database, ARCHIVE_MODE) == "off|t"

    # converge (restart allowed: archiving turned on) -> idempotence (ssh adds the peer's other
    # host keys itself after the first use).
    first = run("deploy.py")
    assert first.ok, first.describe()
    assert "took the first full pgBackRest backup" in first.stderr
    assert "waits for the restart" not in first.stderr
    assert psql(database, ARCHIVE_MODE) == "on|f"
    # The backup host's audit trail: the runs that changed it, and the log's rotation.
    entries = [json.loads(entry) for entry in ssh(backup, f"cat {audit.AUDIT_LOG}").stdout.splitlines()]
    # bootstrap, the run that waited (the repository's files, the stanza), the converging one.
    assert [e["entry_point"] for e in entries] == ["bootstrap.py", "deploy.py", "deploy.py"], entries
    assert entries[-1]["result"] == "ok", entries[-1]
    assert "pgBackRest first full backup" in entries[-1]["changes"], entries[-1]
    assert ssh(backup, f"cat {audit.LOGROTATE_PATH}").stdout == audit.logrotate_config()
    rotated = ssh(backup, f"logrotate -f -s /tmp/logrotate.state {audit.LOGROTATE_PATH} && "
                          f"ls {audit.AUDIT_DIR}")
    assert rotated.returncode == 0 and rotated.stdout.split() == ["audit.log.1.gz", "last-entry"], rotated
    second = run("deploy.py")
    assert second.ok and second.changed == [], "not idempotent:\n" + second.describe()
    assert f"[{backup.name}] last deploy of this host: " in second.stderr
    assert ssh(backup, f"ls {audit.AUDIT_DIR}").stdout.split() == ["audit.log.1.gz", "last-entry"]  # a no-op appends nothing
    assert CIPHER not in first.stdout + first.stderr + second.stdout + second.stderr
    # A no-op reads each host, its pgBackRest state and its peer's included, in one remote command.
    third = run("deploy.py", "--debug")
    assert third.ok and third.changed == [], third.describe()
    assert remote_commands(third.stdout + third.stderr) == {database.name: 1, backup.name: 1}
    assert CIPHER not in third.stdout + third.stderr

    # The passphrase: only in the backup host's pgbackrest.conf, readable by root and its group.
    assert ssh(backup, f"stat -c '%U:%G %a' /etc/pgbackrest/pgbackrest.conf").stdout.strip() == "root:pgbackrest 640"
    assert ssh(database, f"grep -rl -- {shlex.quote(CIPHER)} /etc/pgbackrest/ || true").stdout.strip() == ""
    assert psql(database, "SHOW archive_mode") == "on"
    archived, failed = archiver(database)
    assert archived > 0 and failed == 0

    # Rows written, T noted, rows deleted, more rows written.
    marker = f"plaintext-marker-{uuid.uuid4().hex}"
    psql(database, "CREATE TABLE pitr_rows (id int PRIMARY KEY, v text); ALTER TABLE pitr_rows OWNER TO owlclaw;"
                   f"INSERT INTO pitr_rows SELECT g, '{marker}-' || g FROM generate_series(1, 100) g", "owlclaw")
    time.sleep(1)  # commit timestamps on either side of T differ
    target = utc_now(database)
    time.sleep(1)
    psql(database, "DELETE FROM pitr_rows WHERE id <= 50;"
                   "INSERT INTO pitr_rows SELECT g, 'late-' || g FROM generate_series(101, 150) g", "owlclaw")

    restored = run("restore.py", "--data", f"restore_target_time={target}")
    assert restored.ok, restored.describe()
    assert re.search(r"rows: owlclaw public\.pitr_rows 100\b", restored.stderr), restored.stderr[-3000:]
    assert "recovery stopping before commit" in restored.stderr
    side = re.search(r"data directory (/var/lib/postgresql/17/pitr-\S+),", restored.stderr).group(1)
    side_psql = ("cd / && runuser -u postgres -- psql -XAt -p 5439 -d owlclaw -c "
                 + shlex.quote("SELECT count(*), min(id), max(id) FROM pitr_rows"))
    assert ssh(database, side_psql).stdout.strip() == "100|1|100"  # the deleted rows, not the later ones
    assert psql(database, "SELECT count(*), min(id), max(id) FROM pitr_rows", "owlclaw") == "100|51|150"

    # The repository: every WAL segment and backup file encrypted, no plaintext of a row anywhere.
    # Control: the marker is there in plaintext in the database host's own WAL.
    assert ssh(database, f"grep -rlF {marker} /var/lib/postgresql/17/main/pg_wal | head -1").stdout.strip()
    assert ssh(backup, f"grep -rlaF {marker} {REPOSITORY} || true").stdout.strip() == ""
    unencrypted = ssh(backup, f"find {REPOSITORY} -type f -size +0 | while read -r f; do "
                              "[ \"$(head -c 8 \"$f\")\" = Salted__ ] || echo \"$f\"; done").stdout.split()
    assert unencrypted == [], unencrypted
    assert ssh(backup, f"find {REPOSITORY}/archive -type f | wc -l").stdout.strip() != "0"

    # Swap: the side cluster of the first restore is stopped, the second restore is made live.
    ssh(database, f"cd / && runuser -u postgres -- /usr/lib/postgresql/17/bin/pg_ctl -D {side} -m fast stop")
    swapped = run("restore.py", "--data", f"restore_target_time={target}", "--data", "restore_swap=True")
    assert swapped.ok, swapped.describe()
    assert "made it the live cluster" in swapped.stderr
    assert psql(database, "SELECT count(*), min(id), max(id) FROM pitr_rows", "owlclaw") == "100|1|100"
    for role in ("owlclaw", "hatchet"):  # the application roles (dev's default passwords)
        connect = ssh(database, f"cd / && PGPASSWORD={role} psql -XAt -h 127.0.0.1 -U {role} -d {role} "
                                "-c 'SELECT current_user'")
        assert connect.stdout.strip() == role
    assert ssh(database, "ls -d /var/lib/postgresql/17/main.before-pitr-*").returncode == 0

    # After a deploy: WAL archived (the new timeline too), no failures, nothing to warn about.
    after = run("deploy.py")
    assert after.ok, after.describe()
    assert "pgBackRest:" not in after.stderr, after.stderr[-3000:]
    psql(database, "SELECT pg_switch_wal()")
    ssh(backup, "cd / && runuser -u pgbackrest -- pgbackrest --stanza=hatchet-owlclaw-dev check")
    archived, failed = archiver(database)
    assert archived > 0 and failed == 0

    # Freshness: a backdated status file is reported by the next run (dev: a warning).
    ssh(backup, f"sed -i 's/^\\(pgbackrest_backup_last_success_timestamp_seconds{{[^}}]*}}\\) .*/\\1 "
                f"'$(( $(date +%s) - 200 * 3600 ))'/' {STATUS}")
    stale = run("deploy.py")
    assert stale.ok, stale.describe()
    assert "newest successful pgBackRest backup is" in stale.stderr, stale.stderr[-3000:]
    # With prod's setting the run's final check fails (after everything else ran, undoing
    # nothing): the backup host's audit log has the failed check, its run lock is released.
    failed = run("deploy.py", overrides={"pgbackrest_freshness_fails": True})
    assert not failed.ok, failed.describe()
    assert "newest successful pgBackRest backup is" in failed.stderr, failed.stderr[-3000:]
    last = json.loads(ssh(backup, f"tail -n 1 {audit.AUDIT_LOG}").stdout)
    assert last["result"] == "failed", last
    assert last["failed_operation"] == "pgBackRest backups fresh and WAL archiving working", last

    # Archiving failing: the backup host unreachable from the database host (its packets rejected).
    ssh(backup, f"iptables -I INPUT -s {database.ip} -j REJECT")
    try:
        psql(database, "INSERT INTO pitr_rows VALUES (1000, 'after the backup host went away')", "owlclaw")
        psql(database, "SELECT pg_switch_wal()")
        for _ in range(120):
            if archiver(database)[1] > 0:
                break
            time.sleep(1)
        assert archiver(database)[1] > 0, "the archiver never failed"
        failing = run("deploy.py", limit=database.name)
        assert failing.ok, failing.describe()
        assert "WAL archiving is failing" in failing.stderr, failing.stderr[-3000:]
        failing = run("deploy.py", limit=database.name, overrides={"pgbackrest_freshness_fails": True})
        assert not failing.ok and "WAL archiving is failing" in failing.stderr, failing.describe()
    finally:
        ssh(backup, f"iptables -D INPUT -s {database.ip} -j REJECT")


def test_database_host_lost_restore_on_a_fresh_host_from_the_backup_host(pair):
    """RUNBOOK §11, after test_pitr_end_to_end: the database host is gone (its PostgreSQL
    stopped for good), a fresh server takes its place with the backup host alone as source."""
    old, backup = pair
    rows = psql(old, "SELECT count(*) FROM pitr_rows", "owlclaw")
    ssh(backup, "cd / && runuser -u pgbackrest -- pgbackrest --stanza=hatchet-owlclaw-dev --type=full backup")
    ssh(old, "pg_ctlcluster 17 main stop")
    hosts.up(1, "trixie", first=NEW_DB_INDEX)
    new = hosts.reset(NEW_DB_INDEX)  # pristine, whatever an earlier run left in its overlay
    try:
        both = (NEW_DB_INDEX, BACKUP_INDEX)
        assert run("bootstrap.py", indexes=both).ok
        deployed = run("deploy.py", indexes=both)
        assert deployed.ok, deployed.describe()
        restored = run("restore.py", "--data", "restore_target_time=latest", "--data", "restore_swap=True",
                       indexes=both)
        assert restored.ok, restored.describe()
        assert psql(new, "SELECT count(*) FROM pitr_rows", "owlclaw") == rows
        connect = ssh(new, "cd / && PGPASSWORD=owlclaw psql -XAt -h 127.0.0.1 -U owlclaw -d owlclaw "
                           "-c 'SELECT count(*) FROM pitr_rows'")
        assert connect.stdout.strip() == rows
        again = run("deploy.py", indexes=both)
        assert again.ok and "WAL archiving is failing" not in again.stderr, again.describe()
    finally:
        ssh(old, "pg_ctlcluster 17 main start")
        if os.environ.get("SANDBOX_KEEP") != "1":
            hosts.down([NEW_DB_INDEX])
