"""Shell command lines for PostgreSQL administration on a host (pure: builds strings).

Everything runs as root on the host (pyinfra's _sudo when the SSH user isn't
root) and talks to the server as the `postgres` OS user over the local socket
(peer authentication), so no password is ever needed or passed.
"""

from __future__ import annotations

import shlex

from .file_swap import unchanged_since_planning


def as_postgres(argv: str) -> str:
    """Run a command line as the postgres OS user, from / (the caller's cwd may not be readable)."""
    return f"env -C / runuser -u postgres -- {argv}"


def psql_program(version: str) -> str:
    """The psql binary of a cluster's major version (Debian layout), else `psql` from PATH.

    Debian's /usr/bin/psql is a Perl wrapper that picks the version: on a no-op run
    it cost more CPU than the queries it ran.
    """
    if version and version.replace(".", "").isdigit():
        return f"/usr/lib/postgresql/{version}/bin/psql"
    return "psql"


def psql(port: int, sql: str, database: str = "postgres") -> str:
    """psql with the statement in argv: only for SQL that holds no secret."""
    return as_postgres(
        f"psql -X -A -t -q -v ON_ERROR_STOP=1 -p {int(port)} -d {shlex.quote(database)} "
        f"-c {shlex.quote(sql)}"
    )


def psql_stdin(port: int, database: str = "postgres", single_transaction: bool = False) -> str:
    """psql reading its SQL from stdin (for statements that carry secrets: never in argv)."""
    one = "-1 " if single_transaction else ""
    return as_postgres(
        f"psql -X -A -t -q -v ON_ERROR_STOP=1 {one}-p {int(port)} -d {shlex.quote(database)} -f -"
    )


def reload_and_wait(port: int) -> str:
    """SIGHUP the postmaster, wait until it has re-read its files, prove a new session works.

    pg_reload_conf() only sends the signal; pg_conf_load_time() of a new
    session changes once the postmaster has processed it.
    """
    load_time = psql(port, "SELECT pg_conf_load_time()")
    return (
        f"before=$( {load_time} ) && {psql(port, 'SELECT pg_reload_conf()')} >/dev/null && "
        f"for i in $(seq 50); do "
        f'[ "$( {load_time} )" != "$before" ] && break; sleep 0.1; '
        f"done && {psql(port, 'SELECT 1')} >/dev/null"
    )


def restart_if_pending(port: int, restart_command: str, allowed: bool) -> str:
    """After a reload: restart when PostgreSQL says a setting waits for one (and it's allowed)."""
    query = "SELECT string_agg(name, ', ') FROM pg_settings WHERE pending_restart"
    pending = f"pending=$( {psql(port, query)} )"
    if allowed:
        return f'{pending}; if [ -n "$pending" ]; then echo "restarting for: $pending"; {restart_command}; fi'
    return (
        f'{pending}; if [ -n "$pending" ]; then '
        f'echo "restart pending for: $pending (not allowed to restart)"; fi'
    )


def restart(service_manager: str, has_pg_ctlcluster: bool, version: str, cluster: str) -> str:
    """Restart one cluster the way this host controls services."""
    if service_manager == "systemd":
        unit = f"postgresql@{version}-{cluster}" if has_pg_ctlcluster else "postgresql"
        return f"systemctl restart {shlex.quote(unit)}"
    if has_pg_ctlcluster:
        return f"pg_ctlcluster {shlex.quote(version)} {shlex.quote(cluster)} restart"
    return "service postgresql restart"


def install_file(
    path: str,
    staged: str,
    backup_dir: str,
    keep: int,
    validate: str,
    default_owner: str = "postgres:postgres",
    default_mode: str = "640",
    planned_sha256: str | None = None,
) -> str:
    """Swap `staged` into `path` keeping a backup; run `validate`; on failure put the old file back.

    With `planned_sha256`, nothing is written unless `path` still holds the bytes the
    plan was computed from. The staged file never stays behind. The running server is
    untouched here: activation (reload/restart) is a separate, later command that only
    runs when this one succeeded. Keeps the newest `keep` backups of this file.
    """
    name = shlex.quote(path.rsplit("/", 1)[-1])
    q_path, q_staged, q_dir = shlex.quote(path), shlex.quote(staged), shlex.quote(backup_dir)
    check = unchanged_since_planning(path, planned_sha256) if planned_sha256 else ""
    return f"""set -e
trap 'rm -f {q_staged}' EXIT
{check}
mkdir -p -m 0700 {q_dir}
backup={q_dir}/{name}.$(date -u +%Y%m%dT%H%M%S.%N)
if [ -e {q_path} ]; then
    cp -p {q_path} "$backup"
    chown --reference={q_path} {q_staged}
    chmod --reference={q_path} {q_staged}
else
    chown {default_owner} {q_staged}
    chmod {default_mode} {q_staged}
fi
mv -f {q_staged} {q_path}
if ! problems=$({validate} 2>&1) || [ -n "$problems" ]; then
    if [ -e "$backup" ]; then cp -p "$backup" {q_path}; else rm -f {q_path}; fi
    echo "PostgreSQL rejected the new {path}; the previous file is back in place and the"
    echo "running server was not touched. PostgreSQL says:"
    echo "$problems"
    exit 1
fi >&2
ls -1t {q_dir}/{name}.* 2>/dev/null | tail -n +{int(keep) + 1} | xargs -r rm -f --
"""


def refuse_if(validate: str, path: str) -> str:
    """Fail (without touching the server) when `validate` prints anything."""
    return f"""problems=$({validate} 2>&1)
if [ -n "$problems" ]; then
    echo "{path} on disk has errors; not reloading PostgreSQL. PostgreSQL says:" >&2
    echo "$problems" >&2
    exit 1
fi
"""


def hba_errors(port: int, hba_file: str) -> str:
    """Prints each rule PostgreSQL cannot load from the hba file on disk, with its text."""
    query = (
        "SELECT 'line ' || line_number || ': ' || error FROM pg_hba_file_rules "
        "WHERE error IS NOT NULL ORDER BY line_number"
    )
    return (
        f"{psql(port, query)} | while IFS= read -r problem; do "
        f'n=${{problem#line }}; n=${{n%%:*}}; echo "$problem"; '
        f'echo "    $(sed -n "${{n}}p" {shlex.quote(hba_file)})"; done'
    )


def conf_errors(port: int, postgres_bin: str, data_directory: str, config_file: str) -> str:
    """Prints what PostgreSQL finds wrong in its configuration files on disk.

    `postgres -C` parses every file (values included) exactly as a start
    would; pg_file_settings adds unknown names.
    """
    check = as_postgres(
        f"{shlex.quote(postgres_bin)} -D {shlex.quote(data_directory)} "
        f"-c config_file={shlex.quote(config_file)} -C data_directory"
    )
    query = (
        "SELECT sourcefile || ':' || sourceline || ': ' || name || ': ' || error "
        "FROM pg_file_settings f WHERE error IS NOT NULL "
        # A changed restart-only setting reads 'could not be applied': not an error.
        "AND NOT EXISTS (SELECT 1 FROM pg_settings s "
        "WHERE s.name = f.name AND s.context = 'postmaster')"
    )
    return f"{{ {check} >/dev/null 2>&1 || {check} 2>&1 >/dev/null | grep -v '^$'; }}; {psql(port, query)}"
