#!/usr/bin/env python3
"""pgBackRest (full backup, point-in-time restore) side by side with pg_dump -F c / pg_restore,
on the same database in the same run.

    .venv/bin/python bench/pitr_bench.py [--scale 60] [--first 75]

Two fresh Debian 13 sandbox hosts (database: --first, backup host: --first + 2), bootstrapped
and deployed with pgbackrest_enabled; `pgbench -i -s <scale>` fills a database `bench`
(scale 60: 6 million accounts, ~0.9 GB). Then, each timed once (wall clock):

- pgBackRest full backup on the backup host (the wrapper the schedules run: it also writes the
  status file);
- pg_dump -F c of `bench` on the database host;
- the point-in-time restore of the whole cluster to a time after the data was written, through
  `restore.py` (pyinfra run included: pgbackrest check, restore, recovery, verification with
  every table's row count);
- pg_restore of the dump into a new database (one job, as the logical restore does).

Prints a markdown table and writes bench/pitr_results.csv.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sandbox import hosts  # noqa: E402

PYINFRA = str(Path(sys.executable).with_name("pyinfra"))
CIPHER = "bench-" + "c1pher" * 6


def ssh(host, command: str) -> str:
    proc = subprocess.run([*hosts.ssh_command(host), command], capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        raise SystemExit(f"{host.name}: {command}: rc={proc.returncode}\n{proc.stderr[-2000:]}")
    return proc.stdout.strip()


def timed(what, *args, **kwargs) -> tuple[float, str]:
    start = time.monotonic()
    output = what(*args, **kwargs)
    return time.monotonic() - start, output


def pyinfra(indexes, backup_index, entry, *args):
    overrides = Path("/tmp/pitr-bench-overrides.py")
    overrides.write_text(
        f"pgbackrest_enabled = True\ndeploy_user_public_key_file = {str(hosts.ssh_key_path()) + '.pub'!r}\n"
    )
    env = {**os.environ, "SANDBOX_HOSTS": ",".join(map(str, indexes)), "SANDBOX_BACKUP_HOSTS": str(backup_index),
           "SANDBOX_ENV": "dev", "PYINFRA_PROGRESS": "off", "PGBACKREST_DEV_CIPHER_PASS": CIPHER,
           "DEPLOY_OVERRIDES": str(overrides)}
    proc = subprocess.run([PYINFRA, "-y", *args, "inventory/sandbox.py", entry], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        raise SystemExit(f"pyinfra {entry} failed:\n{proc.stderr[-4000:]}")
    return proc.stderr


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=int, default=60)
    parser.add_argument("--first", type=int, default=75)
    args = parser.parse_args()
    db_index, backup_index = args.first, args.first + 2
    hosts.up(1, "trixie", first=db_index)
    hosts.up(1, "trixie", first=backup_index)
    database, backup = hosts.reset(db_index), hosts.reset(backup_index)  # pristine overlays
    indexes = (db_index, backup_index)
    try:
        pyinfra(indexes, backup_index, "bootstrap.py")
        pyinfra(indexes, backup_index, "deploy.py")
        as_pg = "cd / && runuser -u postgres --"
        ssh(database, f"{as_pg} createdb bench")
        fill, _ = timed(ssh, database, f"{as_pg} pgbench -i -q -s {args.scale} bench")
        size = int(ssh(database, f"{as_pg} psql -XAt -d bench -c \"SELECT pg_database_size('bench')\""))
        script = "/usr/local/sbin/hatchet-owlclaw-pgbackrest-dev"
        backup_s, _ = timed(ssh, backup, f"{script} backup full")
        prom = ssh(backup, "cat /var/lib/prometheus/node-exporter/pgbackrest_backup_dev.prom")
        repo_bytes = next(float(line.rsplit(" ", 1)[1]) for line in prom.splitlines()
                          if line.startswith("pgbackrest_backup_last_repo_size_bytes{"))
        dump_s, _ = timed(ssh, database, f"{as_pg} pg_dump -F c -f /var/lib/postgresql/bench.dump bench")
        dump_bytes = int(ssh(database, "stat -c %s /var/lib/postgresql/bench.dump"))
        target = ssh(database, f"{as_pg} psql -XAt -c \"SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', "
                               "'YYYY-MM-DD\\\"T\\\"HH24:MI:SS\\\"Z\\\"')\"")
        time.sleep(1)
        pitr_s, report = timed(pyinfra, indexes, backup_index, "restore.py", "--data",
                               f"restore_target_time={target}")
        assert f"rows: bench public.pgbench_accounts {args.scale * 100000}" in report, report[-3000:]
        ssh(database, f"{as_pg} createdb bench_restored")
        restore_s, _ = timed(ssh, database, f"{as_pg} pg_restore -d bench_restored /var/lib/postgresql/bench.dump")
    finally:
        if os.environ.get("SANDBOX_KEEP") != "1":
            hosts.down(list(indexes))
    rows = [
        ("pgbench -i (fill)", fill, ""),
        ("pgBackRest full backup (to the backup host, zst + aes-256-cbc)", backup_s, f"{repo_bytes / 2**20:.0f} MiB in the repository"),
        ("pg_dump -F c (on the database host)", dump_s, f"{dump_bytes / 2**20:.0f} MiB dump"),
        ("point-in-time restore: restore.py to a time, side cluster verified", pitr_s, "whole cluster"),
        ("pg_restore into a new database (1 job)", restore_s, "one database"),
    ]
    stamp = datetime.date.today().isoformat()
    print(f"scale {args.scale}: database {size / 2**20:.0f} MiB")
    print("| step | seconds | size |\n|---|---|---|")
    for name, seconds, note in rows:
        print(f"| {name} | {seconds:.1f} | {note} |")
    with open(REPO / "bench" / "pitr_results.csv", "a", newline="") as handle:
        writer = csv.writer(handle)
        for name, seconds, note in rows:
            writer.writerow([stamp, args.scale, size, name, f"{seconds:.2f}", note])


if __name__ == "__main__":
    main()
