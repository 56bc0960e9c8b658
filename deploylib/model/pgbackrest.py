"""pgBackRest: WAL archiving and base backups to a repository on a separate backup host (pure:
builds names, files and scripts from Settings; imports nothing of pyinfra).

The database host pushes WAL (archive_command) to the backup host over SSH, as its postgres
user; the backup host takes full and differential backups on schedules (cron), as its
repository user, reaching the database host over SSH. The repository is encrypted
(aes-256-cbc); only the backup host's pgbackrest.conf holds the passphrase (pgBackRest
encrypts and decrypts on the repository's side). Each side's SSH key is restricted to
running pgbackrest (pgBackRest user guide, "Setup Passwordless SSH").
"""

from __future__ import annotations

import re
import shlex
from datetime import UTC, datetime

CONF = "/etc/pgbackrest/pgbackrest.conf"
CONF_DIR = "/etc/pgbackrest"
LOG_DIR = "/var/log/pgbackrest"
# node_exporter's textfile collector (Debian's prometheus-node-exporter reads this directory).
TEXTFILE_DIR = "/var/lib/prometheus/node-exporter"
PGBACKREST = "/usr/bin/pgbackrest"
MARKER = "Managed by the hatchet-owlclaw deploy (deploylib/model/pgbackrest.py); changes are overwritten."
# The comment of every SSH line the deploy writes (authorized_keys, known_hosts): its own
# lines are found by it and replaced; every other line is kept.
KEY_TAG = "hatchet-owlclaw-pgbackrest"
CIPHER_TYPE = "aes-256-cbc"
BACKUP_GROUP = "backup_hosts"  # the inventory group of backup hosts


def cipher_variable(environment: str) -> str:
    """The secret holding the repository's cipher passphrase: PGBACKREST_<ENV>_CIPHER_PASS."""
    return f"PGBACKREST_{environment.upper()}_CIPHER_PASS"


def stanza(environment: str) -> str:
    """One stanza per environment (its database host's cluster)."""
    return f"hatchet-owlclaw-{environment}"


def script_path(environment: str) -> str:
    return f"/usr/local/sbin/hatchet-owlclaw-pgbackrest-{environment}"


def cron_path(environment: str) -> str:
    return f"/etc/cron.d/hatchet-owlclaw-pgbackrest-{environment}"  # no dot: cron ignores those


def status_path(environment: str, kind: str) -> str:
    """kind "backup" (on the backup host) or "archive" (on the database host)."""
    return f"{TEXTFILE_DIR}/pgbackrest_{kind}_{environment}.prom"


def ssh_dir(home: str) -> str:
    return f"{home.rstrip('/')}/.ssh"


def archive_settings(environment: str) -> dict:
    """postgresql.conf settings for continuous archiving (archive_mode needs a restart)."""
    return {
        "archive_mode": "on",
        "archive_command": f"{PGBACKREST} --stanza={stanza(environment)} archive-push %p",
        "wal_level": "replica",
    }


def _ini(sections: dict[str, dict]) -> str:
    lines = [f"# {MARKER}"]
    for section, values in sections.items():
        lines.append(f"[{section}]")
        lines += [f"{key}={value}" for key, value in values.items()]
        lines.append("")
    return "\n".join(lines)


def db_conf(environment: str, repo_address: str, repo_user: str, pg_path: str, port: int) -> str:
    """The database host's pgbackrest.conf: the repository is on the backup host (no
    passphrase here: the repository side encrypts)."""
    return _ini({
        "global": {
            "repo1-host": repo_address,
            "repo1-host-user": repo_user,
            "log-level-console": "warn",
            "log-level-file": "info",
            "compress-type": "zst",
        },
        stanza(environment): {"pg1-path": pg_path, "pg1-port": str(port)},
    })


def repo_conf(settings, cipher_pass: str, pg_address: str, pg_path: str, port: int) -> str:
    """The backup host's pgbackrest.conf, holding the cipher passphrase (a secret: written
    0640 root:<repo user>, never shown)."""
    return _ini({
        "global": {
            "repo1-path": settings.pgbackrest_repo_path,
            "repo1-cipher-type": CIPHER_TYPE,
            "repo1-cipher-pass": cipher_pass,
            "repo1-retention-full": str(settings.pgbackrest_retention_full),
            "repo1-retention-diff": str(settings.pgbackrest_retention_diff),
            "start-fast": "y",
            "compress-type": "zst",
            "log-level-console": "warn",
            "log-level-file": "info",
        },
        stanza(settings.environment): {
            "pg1-host": pg_address,
            "pg1-host-user": "postgres",
            "pg1-path": pg_path,
            "pg1-port": str(port),
        },
    })


def authorized_line(public_key: str, environment: str) -> str:
    """An authorized_keys line letting `public_key` run pgbackrest only (the user guide's
    restriction: the first word of the requested command is replaced by pgbackrest)."""
    key = " ".join(public_key.split()[:2])
    return (
        "no-agent-forwarding,no-X11-forwarding,no-port-forwarding,no-pty,"
        f'command="{PGBACKREST} ${{SSH_ORIGINAL_COMMAND#* }}" {key} {KEY_TAG}-{environment}'
    )


def known_hosts_line(address: str, host_key: str, environment: str) -> str:
    """The peer's SSH host key, pinned (never learned on first use)."""
    key = " ".join(host_key.split()[:2])
    return f"{address} {key} {KEY_TAG}-{environment}"


def merge_lines(current: str | None, wanted: list[str], environment: str) -> str:
    """`current` with this environment's tagged lines replaced by `wanted`; every other line
    kept as it is, in order."""
    tag = f" {KEY_TAG}-{environment}"
    lines = (current or "").splitlines()
    ours = [line for line in lines if line.rstrip().endswith(tag)]
    if current and sorted(ours) == sorted(wanted) and current.endswith("\n"):
        # As wanted, wherever they are: ssh itself adds the peer's other host keys (hashed,
        # UpdateHostKeys) once it has verified the pinned one.
        return current
    kept = [line for line in lines if not line.rstrip().endswith(tag)]
    return "".join(f"{line}\n" for line in [*kept, *wanted])


def cron_file(settings, script: str) -> str:
    """Full and differential backups on the backup host (root runs the wrapper, which runs
    pgbackrest as the repository user and writes the status file)."""
    return (
        f"# {MARKER}\n"
        "SHELL=/bin/sh\nPATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
        f"{settings.pgbackrest_full_schedule} root {script} backup full\n"
        f"{settings.pgbackrest_diff_schedule} root {script} backup diff\n"
    )


def archive_cron_file(script: str) -> str:
    """The database host writes its WAL archiving status every five minutes."""
    return (
        f"# {MARKER}\n"
        "SHELL=/bin/sh\nPATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
        f"*/5 * * * * root {script} archive-status\n"
    )


# The wrapper both hosts run (python3): "backup full|diff" on the backup host, "archive-status"
# on the database host. Each writes its node_exporter textfile atomically (a temporary file in
# the same directory, then rename), as the textfile collector's documentation asks.
STATUS_SCRIPT = r'''#!/usr/bin/python3
# {marker}
import json, os, subprocess, sys, time

STANZA = {stanza!r}
REPO_USER = {repo_user!r}
BACKUP_STATUS = {backup_status!r}
ARCHIVE_STATUS = {archive_status!r}
PORT = {port!r}
PSQL = {psql!r}


def write(path, metrics):
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    lines = []
    for name, help_text, value in metrics:
        lines.append(f"# HELP {{name}} {{help_text}}")
        lines.append(f"# TYPE {{name}} gauge")
        lines.append(f'{{name}}{{{{stanza="{{STANZA}}"}}}} {{value}}')
    temporary = f"{{path}}.{{os.getpid()}}.tmp"
    with open(temporary, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    os.chmod(temporary, 0o644)
    os.replace(temporary, path)


def previous(path):
    values = {{}}
    try:
        for line in open(path):
            if line.startswith("#") or " " not in line:
                continue
            name, value = line.rsplit(" ", 1)
            values[name.split("{{", 1)[0]] = float(value)
    except (OSError, ValueError):
        pass
    return values


def as_repo_user(*argv):
    return subprocess.run(["runuser", "-u", REPO_USER, "--", "pgbackrest", f"--stanza={{STANZA}}", *argv],
                          cwd="/", capture_output=True, text=True)


def backup(kind):
    start = time.time()
    result = as_repo_user(f"--type={{kind}}", "backup")
    end = time.time()
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    old = previous(BACKUP_STATUS)
    success = old.get("pgbackrest_backup_last_success_timestamp_seconds", 0)
    duration = old.get("pgbackrest_backup_last_duration_seconds", 0)
    size = old.get("pgbackrest_backup_last_size_bytes", 0)
    repo_size = old.get("pgbackrest_backup_last_repo_size_bytes", 0)
    if result.returncode == 0:
        success, duration = end, end - start
        info = as_repo_user("--output=json", "info")
        try:
            last = json.loads(info.stdout)[0]["backup"][-1]
            size, repo_size = last["info"]["size"], last["info"]["repository"]["delta"]
        except (ValueError, LookupError, TypeError):
            pass
    write(BACKUP_STATUS, [
        ("pgbackrest_backup_last_success_timestamp_seconds", "end of the newest successful backup", success),
        ("pgbackrest_backup_last_duration_seconds", "duration of the newest successful backup", duration),
        ("pgbackrest_backup_last_size_bytes", "database size in the newest successful backup", size),
        ("pgbackrest_backup_last_repo_size_bytes", "bytes the newest successful backup added to the repository", repo_size),
        ("pgbackrest_backup_last_attempt_timestamp_seconds", "end of the newest backup attempt", end),
        ("pgbackrest_backup_last_exit_status", "exit status of the newest backup attempt", result.returncode),
    ])
    return result.returncode


def archive_status():
    sql = ("SELECT archived_count, failed_count, "
           "coalesce(extract(epoch FROM last_archived_time), 0), "
           "coalesce(extract(epoch FROM last_failed_time), 0) FROM pg_stat_archiver")
    result = subprocess.run(["runuser", "-u", "postgres", "--", PSQL, "-X", "-A", "-t", "-F", " ",
                             "-p", str(PORT), "-d", "postgres", "-c", sql],
                            cwd="/", capture_output=True, text=True)
    if result.returncode != 0:
        sys.stderr.write(result.stderr)
        return result.returncode
    archived, failed, last_archived, last_failed = result.stdout.split()
    write(ARCHIVE_STATUS, [
        ("pgbackrest_wal_archived_count", "WAL files archived since the statistics reset", archived),
        ("pgbackrest_wal_failed_count", "failed WAL archive attempts since the statistics reset", failed),
        ("pgbackrest_wal_last_archived_timestamp_seconds", "time of the last archived WAL file", last_archived),
        ("pgbackrest_wal_last_failed_timestamp_seconds", "time of the last failed archive attempt", last_failed),
        ("pgbackrest_wal_status_timestamp_seconds", "when this file was written", time.time()),
    ])
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["backup"] and sys.argv[2:3] in (["full"], ["diff"]):
        sys.exit(backup(sys.argv[2]))
    if sys.argv[1:] == ["archive-status"]:
        sys.exit(archive_status())
    sys.exit("usage: " + sys.argv[0] + " backup full|diff | archive-status")
'''


def status_script(environment: str, repo_user: str, port: int, psql: str) -> str:
    return STATUS_SCRIPT.format(
        marker=MARKER, stanza=stanza(environment), repo_user=repo_user,
        backup_status=status_path(environment, "backup"), archive_status=status_path(environment, "archive"),
        port=int(port), psql=psql,
    )


# ---------------------------------------------------------------- reading the status


def parse_prom(text: str | None) -> dict[str, float]:
    """node_exporter textfile lines -> {metric name: value} (labels dropped)."""
    values = {}
    for line in (text or "").splitlines():
        if not line or line.startswith("#") or " " not in line:
            continue
        name, value = line.rsplit(" ", 1)
        try:
            values[name.split("{", 1)[0]] = float(value)
        except ValueError:
            continue
    return values


def backup_problems(status: dict[str, float], now: float, max_age_hours: int, path: str) -> list[str]:
    """Why the newest successful backup is too old (or unknown): empty when it is fresh."""
    success = status.get("pgbackrest_backup_last_success_timestamp_seconds", 0)
    if not success:
        return [f"no successful pgBackRest backup is recorded ({path})"]
    age = (now - success) / 3600
    problems = []
    if age > max_age_hours:
        when = datetime.fromtimestamp(success, UTC).strftime("%Y-%m-%d %H:%M UTC")
        problems.append(
            f"the newest successful pgBackRest backup is {age:.1f} hours old ({when}; "
            f"pgbackrest_max_age_hours = {max_age_hours}; {path})"
        )
    if status.get("pgbackrest_backup_last_exit_status", 0):
        problems.append(
            f"the last backup attempt failed (exit status "
            f"{int(status['pgbackrest_backup_last_exit_status'])}; see {LOG_DIR})"
        )
    return problems


def parse_archiver(values: list[str]) -> dict | None:
    """pg_stat_archiver's archived_count, failed_count, last archived and failed times (epoch)
    and the last failed WAL ("-": none), as the server fact reads them."""
    if len(values) != 5:
        return None
    try:
        return {
            "archived_count": int(values[0]), "failed_count": int(values[1]),
            "last_archived": float(values[2]), "last_failed": float(values[3]),
            "last_failed_wal": None if values[4] == "-" else values[4],
        }
    except ValueError:
        return None


def archiver_problems(archiver: dict | None) -> list[str]:
    """pg_stat_archiver -> a message when the last archive attempt failed."""
    if not archiver:
        return []
    failed_at, archived_at = archiver.get("last_failed", 0), archiver.get("last_archived", 0)
    if archiver.get("failed_count", 0) and failed_at > archived_at:
        when = datetime.fromtimestamp(failed_at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        return [
            f"WAL archiving is failing: {int(archiver['failed_count'])} failed attempt(s), the last at "
            f"{when}, {archiver.get('last_failed_wal') or '?'} not archived (pg_stat_archiver; is the "
            "backup host reachable? pgbackrest check)"
        ]
    return []


# ---------------------------------------------------------------- point-in-time restore

TIME_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?"
                     r"(Z|[+-][0-9]{2}(:?[0-9]{2})?)")


def is_restore_target(value):
    """None, "latest", or an ISO 8601 time with its UTC offset ('2026-12-02T01:15:00Z')."""
    if value is None or value == "latest":
        return value
    if not isinstance(value, str) or not TIME_RE.fullmatch(value):
        raise ValueError("expected 'latest' or an ISO 8601 time with its offset, such as "
                         "'2026-12-02T01:15:00Z' or '2026-12-02 02:15:00+01:00'")
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError("expected an existing date and time, such as '2026-12-02T01:15:00Z'")
    return value


def target_moment(value: str) -> datetime:
    """An ISO time (restore_target_time) as an aware datetime in UTC."""
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def target_time(value: str) -> str:
    """An ISO time -> pgBackRest's/PostgreSQL's recovery_target_time, in UTC."""
    return target_moment(value).strftime("%Y-%m-%d %H:%M:%S.%f+00")


def report_path(directory: str) -> str:
    """The restore's report (recovery lines, tables and row counts), beside the side cluster's
    directory (it stays when a swap moves the directory)."""
    return f"{directory}.report"


def side_dir(version: str, stamp: str) -> str:
    """Where a point-in-time restore puts its side cluster."""
    return f"/var/lib/postgresql/{version}/pitr-{stamp}"


# Lines of the server log that say where recovery stopped.
RECOVERY_LOG_RE = ("recovery stopping|last completed transaction|archive recovery complete|"
                   "selected new timeline|recovery ended before")


def restore_script(environment: str, version: str, port: int, side_port: int, directory: str,
                   target: str) -> str:
    """bash, as root on the database host: force the current WAL segment into the archive
    (pgbackrest check), restore the backup set into `directory` with recovery to `target`
    ("latest" or an ISO time), start it on `side_port` (its own minimal configuration,
    archiving off: it never writes to the repository), wait for the end of recovery, verify
    it reached the target, and print every database's tables and row counts."""
    q = shlex.quote
    name = stanza(environment)
    bin_dir = f"/usr/lib/postgresql/{version}/bin"
    target_args = "--type=default" if target == "latest" else (
        f"--type=time --target={q(target_time(target))} --target-action=promote")
    as_pg = "env -C / runuser -u postgres --"
    psql = f"{as_pg} {bin_dir}/psql -X -A -t -q -v ON_ERROR_STOP=1 -p {int(side_port)}"
    psql_live = f"{as_pg} {bin_dir}/psql -X -A -t -q -v ON_ERROR_STOP=1 -p {int(port)} -d postgres"
    log = f"{directory}/pitr-restore.log"
    count_sql = (
        "SELECT format('SELECT %L || '' '' || count(*) FROM %I.%I', current_database() || ' ' || "
        "schemaname || '.' || tablename, schemaname, tablename) FROM pg_tables "
        "WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY schemaname, tablename"
    )
    list_sql = "SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate ORDER BY 1"
    counts = (
        f"{psql} -d postgres -c {q(list_sql)} | while IFS= read -r db; do\n"
        f"  rows=$(echo {q(count_sql)} '\\gexec' | {psql} -d \"$db\" -f -)\n"
        '  if [ -n "$rows" ]; then printf \'%s\\n\' "$rows" | sed \'s/^/rows: /\'; else echo "rows: $db (no tables)"; fi\n'
        "done"
    )
    return f"""set -euo pipefail
if [ -e {q(directory)} ]; then echo "{directory} exists: nothing was restored" >&2; exit 1; fi
if {bin_dir}/pg_isready -q -h /var/run/postgresql -p {int(side_port)}; then
  echo "something already serves port {int(side_port)}: stop the earlier side cluster (docs/RUNBOOK.md)" >&2; exit 1
fi
# A commit after the target (a transaction id taken and committed): recovery to a time stops
# before it instead of running out of WAL ("recovery ended before configured recovery target
# was reached") when nothing was written since the target.
{psql_live} -c 'SELECT txid_current()' >/dev/null || true
# The newest WAL into the archive, and the archive checked, before restoring. A live cluster
# that cannot archive (a new server whose cluster is not the stanza's yet) is no reason to stop:
# what is archived is restored, and a time target recovery cannot reach fails below.
check_note=""
{as_pg} pgbackrest --stanza={name} check || check_note="pgbackrest check failed on the live cluster: WAL it has not archived is not in this restore"
install -d -o postgres -g postgres -m 0700 {q(directory)}
{as_pg} pgbackrest --stanza={name} --pg1-path={q(directory)} --archive-mode=off {target_args} \\
  --log-level-console=warn restore
# Debian keeps the configuration outside the data directory: the side cluster gets its own.
cat > {q(directory)}/postgresql.conf <<'EOF'
# Side cluster of a point-in-time restore ({MARKER})
port = {int(side_port)}
listen_addresses = ''
unix_socket_directories = '/var/run/postgresql'
hba_file = '{directory}/pg_hba.conf'
archive_mode = off
EOF
printf 'local all postgres peer\\n' > {q(directory)}/pg_hba.conf
chown postgres:postgres {q(directory)}/postgresql.conf {q(directory)}/pg_hba.conf
{as_pg} {bin_dir}/pg_ctl -D {q(directory)} -l {q(log)} -w -t 600 start || {{
  echo "the side cluster did not start (recovery target not reached?); its log {log}:" >&2
  tail -n 20 {q(log)} >&2; exit 1; }}
for _ in $(seq 3600); do
  if ! {as_pg} {bin_dir}/pg_ctl -D {q(directory)} status >/dev/null; then
    echo "the side cluster stopped during recovery (recovery target not reached?); its log {log}:" >&2
    tail -n 20 {q(log)} >&2; exit 1
  fi
  [ "$({psql} -d postgres -c 'SELECT pg_is_in_recovery()' 2>/dev/null)" = f ] && break
  sleep 1
done
if [ "$({psql} -d postgres -c 'SELECT pg_is_in_recovery()')" != f ]; then
  echo "the side cluster did not finish recovery; log: {log}" >&2; exit 1
fi
if grep -q 'recovery ended before' {q(log)}; then echo "recovery did not reach the target; log: {log}" >&2; exit 1; fi
{{
[ -z "$check_note" ] || echo "warning: $check_note"
grep -E {q(RECOVERY_LOG_RE)} {q(log)} | sed 's/^.*LOG: */recovery: /' || true
{"" if target == "latest" else f"grep -q 'recovery stopping' {q(log)} || echo 'recovery: the target lies after the last archived transaction: everything archived was replayed'"}
{counts}
echo "side cluster: port {int(side_port)}, data directory {directory}, log {log}"
}} > {q(report_path(directory))}
"""


def swap_script(environment: str, version: str, cluster: str, live_dir: str, side_port: int,
                directory: str, stamp: str, start: str, stop: str, port: int) -> str:
    """bash: make the verified side cluster the live one. The live data directory is kept,
    renamed <dir>.before-pitr-<stamp>; if the restored one does not start, the old one is
    put back and started again."""
    q = shlex.quote
    bin_dir = f"/usr/lib/postgresql/{version}/bin"
    as_pg = "env -C / runuser -u postgres --"
    old = f"{live_dir}.before-pitr-{stamp}"
    return f"""set -euo pipefail
{as_pg} {bin_dir}/pg_ctl -D {q(directory)} -m fast -w stop
rm -f {q(directory)}/postgresql.conf {q(directory)}/pg_hba.conf {q(directory)}/pitr-restore.log.swap
# Recovery settings pgBackRest wrote for the side cluster: not the live cluster's.
sed -i -e '/^# Recovery settings generated by pgBackRest/d' \\
  -e '/^\\(restore_command\\|recovery_target[a-z_]*\\|archive_mode\\) = /d' {q(directory)}/postgresql.auto.conf
rm -f {q(directory)}/recovery.signal {q(directory)}/standby.signal
{stop}
mv {q(live_dir)} {q(old)}
mv {q(directory)} {q(live_dir)}
if ! {start}; then
  echo "the restored cluster did not start: the previous data directory is put back" >&2
  mv {q(live_dir)} {q(directory)}; mv {q(old)} {q(live_dir)}; {start}; exit 1
fi
for _ in $(seq 60); do {bin_dir}/pg_isready -q -h /var/run/postgresql -p {int(port)} && break; sleep 1; done
{as_pg} pgbackrest --stanza={stanza(environment)} check
echo "PostgreSQL {version}/{cluster} now serves the restored data; the previous data directory is {old}"
"""
