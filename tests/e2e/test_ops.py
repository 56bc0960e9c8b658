"""Issue 7: one-time bootstrap, backups and restore, the prod guard.

Not verified here: that dockerd runs after bootstrap. The sandbox has no systemd;
bootstrap starts docker only where systemd controls services and otherwise says so
(checked below), and running dockerd in the sandbox is issue 6's business.
"""

import re

import pytest

from sandbox import hosts

from .harness import converge, psql, run_deploy, ssh

pytestmark = pytest.mark.e2e

KEY = str(hosts.ssh_key_path())
BOOTSTRAP = {"deploy_user_public_key_file": KEY + ".pub"}
AS_DEPLOY_USER = {"ssh_user": "deploy", "_sudo": True, "ssh_key": KEY}
SCRIPT = "/usr/local/sbin/hatchet-owlclaw-backup-dev"  # the sandbox runs as dev
BACKUPS = "/var/backups/hatchet-owlclaw"
PROD_SECRETS = {"HATCHET_DB_PASSWORD": "prod-hatchet-pw-1", "OWLCLAW_DB_PASSWORD": "prod-owlclaw-pw-1"}


def fill_owlclaw(host):
    psql(host, "CREATE TABLE items (id int PRIMARY KEY, embedding vector(3));"
               "INSERT INTO items SELECT g, ARRAY[g, g, g]::vector FROM generate_series(1, 500) g;"
               "CREATE TABLE \"Odd Name\" (t text); INSERT INTO \"Odd Name\" VALUES (E'a\\nb'), ('c');"
               "ALTER TABLE items OWNER TO owlclaw; ALTER TABLE \"Odd Name\" OWNER TO owlclaw", "owlclaw")


def counts(host, database):
    return psql(host, "SELECT (SELECT count(*) FROM items) || '/' || (SELECT count(*) FROM \"Odd Name\")",
                database)


def dumps(host, database) -> list[str]:
    """The database's dumps, newest first (none: an empty list; an unreadable directory fails)."""
    directory = f"{BACKUPS}/{database}"
    listing = ssh(host, f"test ! -e {directory} || "
                        f"find {directory} -maxdepth 1 -name '{database}-*.dump' -printf '%T@ %p\\n'")
    newest_first = sorted((line.split(" ", 1) for line in listing.stdout.splitlines()),
                          key=lambda pair: float(pair[0]), reverse=True)
    return [path for _, path in newest_first]


def newest_dump(host, database):
    """The newest dump's path; there must be one."""
    found = dumps(host, database)
    assert found, f"no dump of {database} in {BACKUPS}/{database}"
    return found[0]


def test_bootstrap_then_deploy_as_the_deploy_user(fresh_trixie):
    host = fresh_trixie
    # Control: before bootstrap there is no deploy user to connect as.
    early = run_deploy(host, overrides=AS_DEPLOY_USER)
    assert not early.ok

    first = converge(host, overrides=BOOTSTRAP, deploy_file="bootstrap.py")
    assert {"Docker packages (docker.io, docker-compose)", "Deploy user deploy (docker group, SSH key)",
            "pgvector, where the distribution packages it"} <= set(first.changed)
    assert "dockerd is installed but not started" in first.stderr  # no systemd in the sandbox

    assert "docker" in ssh(host, "id -nG deploy").stdout.split()
    assert re.search(r"Docker Compose version v?2\.", ssh(host, "docker compose version").stdout)
    assert ssh(host, "dpkg-query -W -f '${Status}' postgresql-17-pgvector").stdout == "install ok installed"
    sudoers = ssh(host, "stat -c '%U:%G %a' /etc/sudoers.d/hatchet-owlclaw-deploy").stdout.strip()
    assert sudoers == "root:root 440"
    ssh(host, "visudo -c >/dev/null")
    assert open(KEY + ".pub").read().split()[1] in ssh(host, "cat ~deploy/.ssh/authorized_keys").stdout
    assert ssh(host, "stat -c '%U %a' /data").stdout.strip() == "deploy 750"
    assert ssh(host, f"stat -c '%U %a' {BACKUPS}").stdout.strip() == "root 700"

    # deploy.py over SSH as the deploy user, with sudo: converges, then changes nothing.
    deployed = converge(host, overrides=AS_DEPLOY_USER, extra_args=("-vv",))
    assert "Role owlclaw" in deployed.changed
    assert "sudo" in deployed.stderr + deployed.stdout
    assert ssh(host, "runuser -u deploy -- sudo -n true", check=False).returncode == 0


def test_backup_restores_with_the_same_rows_and_retention(fresh_trixie):
    host = fresh_trixie
    converge(host)
    fill_owlclaw(host)
    # Files the retention must delete (older than 7 days) or keep (younger; not ours).
    ssh(host, f"mkdir -p -m 700 {BACKUPS}/owlclaw {BACKUPS}/globals; "
              f"touch -d '10 days ago' {BACKUPS}/globals/globals-20200101T000000Z.sql; "
              f"touch -d '10 days ago' {BACKUPS}/owlclaw/owlclaw-20200101T000000Z.dump; "
              f"touch -d '6 days ago' {BACKUPS}/owlclaw/owlclaw-20200102T000000Z.dump; "
              f"touch -d '30 days ago' {BACKUPS}/owlclaw/operator-notes.txt")
    out = ssh(host, SCRIPT).stdout
    assert "owlclaw-20200101T000000Z.dump (older than 7 days)" in out and "done" in out
    listing = ssh(host, f"ls {BACKUPS}/owlclaw").stdout.split()
    assert "owlclaw-20200101T000000Z.dump" not in listing
    assert {"owlclaw-20200102T000000Z.dump", "operator-notes.txt"} <= set(listing)
    dump = newest_dump(host, "owlclaw")
    assert re.search(r"/owlclaw-\d{8}T\d{6}Z\.dump$", dump)
    assert ssh(host, f"stat -c '%U %a' {dump} {BACKUPS}/owlclaw").stdout.split() == ["root", "600",
                                                                                     "root", "700"]
    globals_sql = ssh(host, f"cat $(ls -1t {BACKUPS}/globals/*.sql | head -n 1)").stdout
    assert "CREATE ROLE owlclaw" in globals_sql
    assert ssh(host, f"stat -c %a $(ls -1t {BACKUPS}/globals/*.sql | head -n 1)").stdout.strip() == "600"

    # The dump loads into a scratch database with the same row counts.
    psql(host, "CREATE DATABASE scratch")
    ssh(host, f"cd / && runuser -u postgres -- pg_restore --exit-on-error -d scratch < {dump}")
    assert counts(host, "scratch") == counts(host, "owlclaw") == "500/2"

    # Scheduled: the cron file runs it, and a failing backup exits non-zero naming what failed.
    assert f"17 3 * * * root {SCRIPT}" in ssh(host, "cat /etc/cron.d/hatchet-owlclaw-backup-dev").stdout
    ssh(host, "cd / && runuser -u postgres -- psql -q -c 'ALTER DATABASE hatchet RENAME TO hatchet_away'")
    failed = ssh(host, SCRIPT, check=False)
    assert failed.returncode == 1 and "FAILED for: hatchet" in failed.stdout


def test_pre_deploy_backup(fresh_trixie, tmp_path):
    host = fresh_trixie
    converge(host)
    entry = tmp_path.parent / "pre_deploy_backup_deploy.py"
    entry.write_text(
        "from pyinfra import host\nfrom deploylib.operations.backups import pre_deploy_backup\n"
        "pre_deploy_backup(host.data.settings, about_to_change=True)\n"
    )
    before = {database: dumps(host, database) for database in ("hatchet", "owlclaw")}
    off = run_deploy(host, deploy_file=str(entry))
    assert off.ok and off.changed == []  # backup_before_deploy is off in dev
    assert {database: dumps(host, database) for database in before} == before
    on = run_deploy(host, deploy_file=str(entry), overrides={"backup_before_deploy": True})
    assert on.ok and on.changed == ["Backup before deploy"], on.describe()
    # One new dump of each database, a real custom-format archive.
    for database, earlier in before.items():
        new = [path for path in dumps(host, database) if path not in earlier]
        assert len(new) == 1, (database, new, earlier)
        assert ssh(host, f"head -c 5 {new[0]}").stdout == "PGDMP"


def test_restore_end_to_end(fresh_trixie):
    host = fresh_trixie
    converge(host)
    fill_owlclaw(host)
    ssh(host, SCRIPT)
    dump = newest_dump(host, "owlclaw")
    psql(host, "DELETE FROM items WHERE id > 100", "owlclaw")

    # Missing data and a wrong file: clear failures, nothing changes.
    missing = run_deploy(host, deploy_file="restore.py")
    assert not missing.ok and "restore.py needs restore_database and restore_file" in missing.stderr
    wrong = run_deploy(host, deploy_file="restore.py",
                       extra_args=("--data", "restore_database=hatchet", "--data", f"restore_file={dump}"))
    assert not wrong.ok and "is a dump of database 'owlclaw', not 'hatchet'" in wrong.stderr
    bad_key = run_deploy(host, deploy_file="restore.py", extra_args=("--data", "restore_databse=owlclaw"))
    assert not bad_key.ok
    assert "unknown key 'restore_databse' (did you mean 'restore_database'?)" in bad_key.stderr
    # A dump that is not there: stopped while planning (--dry too), nothing told as done (issue 20).
    for extra in ((), ("--dry",)):
        absent = run_deploy(host, deploy_file="restore.py", extra_args=(
            "--data", "restore_database=owlclaw",
            "--data", f"restore_file={BACKUPS}/owlclaw/nope.dump", *extra))
        assert not absent.ok
        assert f"restore_file {BACKUPS}/owlclaw/nope.dump: missing. Nothing was changed." in absent.stderr
        assert "restored" not in absent.stderr and "report on the host" not in absent.stderr, absent.stderr
        assert "owlclaw_restore_" not in absent.stderr and "--> Done:" not in absent.stderr

    # Restore beside the live database: verified, live untouched.
    data = ("--data", "restore_database=owlclaw", "--data", f"restore_file={dump}")
    beside = run_deploy(host, deploy_file="restore.py", extra_args=data)
    assert beside.ok, beside.describe()
    restored = psql(host, "SELECT datname FROM pg_database WHERE datname LIKE 'owlclaw_restore_%'")
    assert counts(host, restored) == "500/2" and counts(host, "owlclaw") == "100/2"
    assert "connections" not in beside.stderr  # no swap: nothing terminated
    report = ssh(host, f"cat {BACKUPS}/restores/{restored}.log").stdout
    assert "verified" in report and re.search(r"public\.items\s+500\s+500\s+100", report)
    # The verification is in the run's own output too, under what was done.
    summary = beside.stderr.split("--> Done:", 1)[-1]
    assert f"restored {dump} into {restored}, verified" in summary, beside.stderr
    assert re.search(r"public\.items\s+500\s+500\s+100", summary)
    assert "tables: 2 in the dump, 2 restored" in summary

    # Swap: the live database gets the backup's rows, keeps its owner and isolation;
    # the old one is kept under a new name.
    swapped = run_deploy(host, deploy_file="restore.py", extra_args=(*data, "--data", "restore_swap=True"))
    assert swapped.ok, swapped.describe()
    assert "then terminate the connections to owlclaw and swap" in swapped.stderr  # the plan
    assert "; swapped in as owlclaw, the previous one is owlclaw_before_restore_" in swapped.stderr
    assert counts(host, "owlclaw") == "500/2"
    old = psql(host, "SELECT datname FROM pg_database WHERE datname LIKE 'owlclaw_before_restore_%'")
    assert counts(host, old) == "100/2"
    assert psql(host, "SELECT pg_get_userbyid(datdba), datacl::text FROM pg_database "
                      "WHERE datname = 'owlclaw'") == "owlclaw|{=T/owlclaw,owlclaw=CTc/owlclaw}"
    assert psql(host, "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE relname = 'items'",
                "owlclaw") == "owlclaw"
    assert ssh(host, "PGPASSWORD=owlclaw psql -h 127.0.0.1 -U owlclaw -d owlclaw -tAc "
                     "'SELECT count(*) FROM items'").stdout.strip() == "500"
    # deploy.py afterwards has nothing to fix, and the restore's databases are not "dropped from group_data".
    after = run_deploy(host)
    assert after.changed == [] and "no longer in group_data" not in after.stderr, after.stderr

    # Dropping the old database only with the explicit flag.
    dropped = run_deploy(host, deploy_file="restore.py",
                         extra_args=(*data, "--data", "restore_swap=True", "--data", "restore_drop_old=True"))
    assert dropped.ok, dropped.describe()
    assert psql(host, "SELECT count(*) FROM pg_database WHERE datname LIKE 'owlclaw_before_restore_%'") == "1"


def prod_state(host):
    roles = "SELECT string_agg(rolname, ',') FROM pg_roles WHERE rolname IN ('hatchet','owlclaw')"
    return ssh(host, "cd / && hba=$(runuser -u postgres -- psql -tAc 'SHOW hba_file') && "
                     f"sha256sum \"$hba\" && ls /etc/cron.d && "
                     f"runuser -u postgres -- psql -tAc \"{roles}\"").stdout


# group_data/prod.py deploys an application from a placeholder repository: PostgreSQL only here.
PG_ONLY = {"app_repo": None}


def test_prod_guard(fresh_trixie):
    host = fresh_trixie
    state = prod_state(host)
    refused = run_deploy(host, env="prod", overrides=PG_ONLY, extra_env=PROD_SECRETS)
    assert not refused.ok
    assert "prod guard: sbx" in refused.stderr
    assert "operation(s) would change this prod host" in refused.stderr
    assert "- tasks/databases.py | Role hatchet" in refused.stderr
    assert "Nothing was executed on any host" in refused.stderr and "CONFIRM_PROD=yes" in refused.stderr
    assert prod_state(host) == state

    # --dry shows the plan without confirmation and changes nothing either.
    dry = run_deploy(host, env="prod", overrides=PG_ONLY, extra_env=PROD_SECRETS, extra_args=("--dry",))
    assert dry.ok, dry.describe()
    assert prod_state(host) == state

    # Confirmed: applies; then a run with nothing to change needs no confirmation.
    applied = run_deploy(host, env="prod", overrides=PG_ONLY,
                         extra_env={**PROD_SECRETS, "CONFIRM_PROD": "yes"})
    assert applied.ok and "Role hatchet" in applied.changed, applied.describe()
    again = run_deploy(host, env="prod", overrides=PG_ONLY, extra_env=PROD_SECRETS)
    assert again.ok and again.changed == [], again.describe()

    # A change again needs confirmation; --data confirm_prod=True is one.
    rotated = {**PROD_SECRETS, "HATCHET_DB_PASSWORD": "prod-hatchet-pw-2"}
    assert not run_deploy(host, env="prod", overrides=PG_ONLY, extra_env=rotated).ok
    refused = run_deploy(host, env="prod", overrides=PG_ONLY, extra_env=rotated)
    assert "That is:\n      - role hatchet: rotate its password" in refused.stderr, refused.stderr
    confirmed = run_deploy(host, env="prod", overrides=PG_ONLY, extra_env=rotated,
                           extra_args=("--data", "confirm_prod=True"))
    assert confirmed.ok and confirmed.changed == ["Role hatchet"], confirmed.describe()
    assert f"[{host.name}] role hatchet: rotated its password" in confirmed.stderr

    # A swap the guard stops: planned in the future tense, nothing told as done (issue 20).
    ssh(host, "cd / && runuser -u postgres -- pg_dump -Fc hatchet > /tmp/hatchet.dump")
    guarded = run_deploy(host, env="prod", deploy_file="restore.py", overrides=PG_ONLY, extra_env=rotated,
                         extra_args=("--data", "restore_database=hatchet", "--data", "restore_swap=True",
                                     "--data", "restore_file=/tmp/hatchet.dump"))
    assert not guarded.ok and "prod guard" in guarded.stderr
    assert "then terminate the connections to hatchet and swap" in guarded.stderr
    for told_as_done in ("are terminated", "swapped in", "restored /tmp", "report on the host", "--> Done:"):
        assert told_as_done not in guarded.stderr, guarded.stderr
    assert psql(host, "SELECT count(*) FROM pg_database WHERE datname LIKE 'hatchet_%restore_%'") == "0"
