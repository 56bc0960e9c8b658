"""Shell command lines for PostgreSQL administration on a host (pure: builds strings).

Everything runs as root on the host (pyinfra's _sudo when the SSH user isn't
root) and talks to the server as the `postgres` OS user over the local socket
(peer authentication), so no password is ever needed or passed.
"""

from __future__ import annotations

import shlex

from .file_swap import unchanged_since_planning


# setpriv (util-linux, like runuser) switches user without a PAM session: no PAM modules
# loaded, no session lines in the system log, ~4 ms less CPU per call on the host (every
# run's fact command makes one). --reset-env gives the postgres user's HOME, USER and PATH.
AS_POSTGRES = "setpriv --reuid=postgres --regid=postgres --init-groups --reset-env --"


def as_postgres(argv: str) -> str:
    """Run a command line as the postgres OS user, from / (the caller's cwd may not be readable)."""
    return f"env -C / {AS_POSTGRES} {argv}"


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


# The server's own logging, off for a session whose SQL carries SCRAM verifiers (the server
# log is the adm group's to read): statements, their durations, a sampled transaction, a
# failed statement's text, parse trees. Set at connection start (PGOPTIONS): whether a
# transaction is sampled is decided at its BEGIN, before any SET inside psql -1's transaction.
UNLOGGED_SESSION_OPTIONS = (
    "log_statement=none", "log_min_duration_statement=-1", "log_min_duration_sample=-1",
    "log_transaction_sample_rate=0", "log_min_error_statement=panic", "debug_print_parse=off",
    "debug_print_rewritten=off", "debug_print_plan=off",
)


def psql_stdin(port: int, database: str = "postgres", single_transaction: bool = False,
               unlogged: bool = False) -> str:
    """psql reading its SQL from stdin (for statements that carry secrets: never in argv);
    ``unlogged``: the server logs none of the session's statements (UNLOGGED_SESSION_OPTIONS)."""
    one = "-1 " if single_transaction else ""
    options = " ".join(f"-c {option}" for option in UNLOGGED_SESSION_OPTIONS)
    env = f"env PGOPTIONS={shlex.quote(options)} " if unlogged else ""
    return as_postgres(
        f"{env}psql -X -A -t -q -v ON_ERROR_STOP=1 {one}-p {int(port)} -d {shlex.quote(database)} -f -"
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


# Bounded waits: how long a restart may take, how long PostgreSQL has to answer after it.
RESTART_TIMEOUT = 120
READY_SECONDS = 60
# Each check of a file before activation: a server that does not answer fails it.
VALIDATION_TIMEOUT = 60


def pending_restart(port: int) -> str:
    """Prints the settings waiting for a restart, comma-separated (empty: none)."""
    return psql(port, "SELECT string_agg(name, ',' ORDER BY name) FROM pg_settings WHERE pending_restart")


def restart_with_rollback(
    port: int,
    cluster_id: str,
    restart_command: str,
    path: str,
    fallback: str,
    restartable: list[str],
    log_file: str | None,
    previous_absent: bool = False,
) -> str:
    """After a reload: restart when settings wait for one, and never leave PostgreSQL down.

    Only settings in ``restartable`` (the deploy's own) may cause the restart. When
    PostgreSQL does not come back (bounded wait, then ``SELECT 1``), ``fallback``
    (the file with the values the server ran with) replaces ``path``, PostgreSQL is
    started again and must serve, and the run fails naming the settings and quoting
    PostgreSQL's own log lines.
    """
    q_path, q_fallback = shlex.quote(path), shlex.quote(fallback)
    # The previous file back (or, when there was none, no file).
    put_back = (
        f"rm -f {q_path} {q_fallback}" if previous_absent
        else f"cat {q_fallback} > {q_path} && rm -f {q_fallback}"
    )
    allowed = " ".join(restartable)
    log = shlex.quote(log_file) if log_file else ""
    ready = psql(port, "SELECT 1")
    log_count = f"$(wc -l < {log} 2>/dev/null || echo 0)" if log else "0"
    log_since = (
        f'tail -n +$((log_before + 1)) {log} 2>/dev/null | tail -n 25' if log else "true"
    )
    return f"""wait_ready() {{
    for i in $(seq {READY_SECONDS}); do
        if timeout 10 {ready} >/dev/null 2>&1; then return 0; fi
        sleep 1
    done
    return 1
}}
pending=$( timeout {VALIDATION_TIMEOUT} {pending_restart(port)} ) || {{
    echo "PostgreSQL {cluster_id}: could not read which settings wait for a restart; not restarting" >&2
    rm -f {q_fallback}; exit 1; }}
if [ -z "$pending" ]; then rm -f {q_fallback}; exit 0; fi
for name in $(echo "$pending" | tr ',' ' '); do
    case " {allowed} " in *" $name "*) ;; *)
        echo "PostgreSQL {cluster_id} not restarted: $name also waits for a restart and is not" >&2
        echo "one of this deploy's settings (pg_file_settings says where it is set); an operator decides." >&2
        rm -f {q_fallback}; exit 1 ;;
    esac
done
log_before={log_count}
echo "restarting PostgreSQL {cluster_id} for: $pending"
if said=$(timeout {RESTART_TIMEOUT} {restart_command} 2>&1) && wait_ready; then
    rm -f {q_fallback}; exit 0
fi
logged=$({log_since})
{put_back}
again=$(timeout {RESTART_TIMEOUT} {restart_command} 2>&1)
{{
if wait_ready; then
    echo "PostgreSQL {cluster_id} did not come back after a restart for: $pending."
    echo "The previous values of $pending are back in {path}; PostgreSQL was started again and serves."
else
    echo "PostgreSQL {cluster_id} did not come back after a restart for: $pending, nor after the"
    echo "previous values were put back in {path}: it is DOWN. Read its log, then start it: {restart_command}"
    echo "$again"
fi
echo "PostgreSQL said:"
printf '%s\n' "$said" "$logged" | grep -v '^$' | awk '!seen[$0]++'
}} >&2
exit 1
"""


def effective_errors(port: int, cluster_id: str, check_sql: str) -> str:
    """Fails, listing them, when managed settings are not in effect (pg_settings)."""
    return f"""wrong=$( timeout {VALIDATION_TIMEOUT} {psql(port, check_sql)} ) || {{
    echo "PostgreSQL {cluster_id}: could not read the settings in effect (pg_settings)" >&2; exit 1; }}
if [ -n "$wrong" ]; then
    echo "PostgreSQL {cluster_id}: managed settings are not in effect:" >&2
    echo "$wrong" >&2
    exit 1
fi
"""


def listening_errors(
    port: int, cluster_id: str, listen_addresses, log_file: str | None, data_file: str
) -> str:
    """Fails when PostgreSQL has no listening socket (ss -ltn) for one of
    ``listen_addresses``: it starts even when it cannot bind some of them, and pg_settings
    still shows them. Quotes PostgreSQL's own log lines about it."""
    from .reachability import socket_forms

    checks = []
    for address in listen_addresses:
        forms = socket_forms(address, int(port))
        if forms:
            patterns = " ".join(f"-e {shlex.quote(form)}" for form in forms)
            checks.append(
                f"printf '%s\\n' \"$sockets\" | grep -qxF {patterns} || missing=\"$missing {address}\""
            )
    if not checks:
        return "true"
    quote_log = (
        f"grep -E 'could not (bind|create listen socket)' {shlex.quote(log_file)} 2>/dev/null "
        "| tail -n 4 | sed 's/^/    PostgreSQL log: /' >&2"
        if log_file else "true"
    )
    lines = "\n".join(checks)
    return f"""command -v ss >/dev/null 2>&1 || exit 0
sockets=$(ss -Hltn "sport = :{int(port)}" | awk '{{print $4}}')
missing=""
{lines}
if [ -n "$missing" ]; then
    echo "PostgreSQL {cluster_id} is not listening on:$missing (pg_listen_addresses):" \
         "clients connecting there get \"Connection refused\"." >&2
    {quote_log}
    echo "Next: keep only addresses this host has in pg_listen_addresses ({data_file})," \
         "or create the interface first, then run again." >&2
    exit 1
fi
"""


def alter_system_reset(port: int, names: list[str]) -> str:
    """ALTER SYSTEM RESET each name (one statement per psql -c: not in a transaction block)."""
    statements = " ".join(f"-c {shlex.quote(f'ALTER SYSTEM RESET {name}')}" for name in names)
    return as_postgres(f"psql -X -q -v ON_ERROR_STOP=1 -p {int(port)} -d postgres {statements}")


def log_file(has_pg_ctlcluster: bool, version: str, cluster: str) -> str | None:
    """Where Debian's pg_ctlcluster makes a cluster log (None: unknown on this host)."""
    if has_pg_ctlcluster and version:
        return f"/var/log/postgresql/postgresql-{version}-{cluster}.log"
    return None


def restart(service_manager: str, has_pg_ctlcluster: bool, version: str, cluster: str,
            action: str = "restart") -> str:
    """Restart (or ``action``: start, stop) one cluster the way this host controls services."""
    if service_manager == "systemd":
        unit = f"postgresql@{version}-{cluster}" if has_pg_ctlcluster else "postgresql"
        return f"systemctl {action} {shlex.quote(unit)}"
    if has_pg_ctlcluster:
        return f"pg_ctlcluster {shlex.quote(version)} {shlex.quote(cluster)} {action}"
    return f"service postgresql {action}"


def start(service_manager: str, has_pg_ctlcluster: bool, version: str, cluster: str) -> str:
    return restart(service_manager, has_pg_ctlcluster, version, cluster, action="start")


def stop(service_manager: str, has_pg_ctlcluster: bool, version: str, cluster: str) -> str:
    return restart(service_manager, has_pg_ctlcluster, version, cluster, action="stop")


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
    """Fail (without touching the server) when `validate` fails or prints anything."""
    return f"""if ! problems=$({validate} 2>&1) || [ -n "$problems" ]; then
    echo "{path} on disk has errors, or could not be checked; not reloading PostgreSQL. It says:" >&2
    echo "${{problems:-(no output; the check failed)}}" >&2
    exit 1
fi
"""


def checked_psql(port: int, sql: str, what: str) -> str:
    """psql for a validation query: a failure (server not answering, too many clients, an
    error, the time limit) prints why and exits non-zero, so the check fails closed."""
    return (
        f"{{ out=$( timeout {VALIDATION_TIMEOUT} {psql(port, sql)} 2>&1 ) || "
        f'{{ status=$?; echo "{what} could not be checked: psql exited $status: $out"; exit 1; }}; '
        f"[ -z \"$out\" ] || printf '%s\\n' \"$out\"; }}"
    )


def hba_errors(port: int, hba_file: str) -> str:
    """Prints each rule PostgreSQL cannot load from the hba file on disk, with its text;
    exits non-zero when PostgreSQL could not be asked."""
    query = (
        "SELECT 'line ' || line_number || ': ' || error FROM pg_hba_file_rules "
        "WHERE error IS NOT NULL ORDER BY line_number"
    )
    # A subshell: `exit` in checked_psql ends the check only; pipefail carries psql's failure.
    # (In braces: "$((" would start arithmetic where install_file writes "$(<check>".)
    return (
        f"{{ ( set -o pipefail; {checked_psql(port, query, hba_file)} | while IFS= read -r problem; do "
        f'n=${{problem#line }}; n=${{n%%:*}}; echo "$problem"; '
        f'if [[ "$n" =~ ^[0-9]+$ ]]; then echo "    $(sed -n "${{n}}p" {shlex.quote(hba_file)})"; fi; '
        "done ); }"
    )


def conf_errors(port: int, postgres_bin: str, data_directory: str, config_file: str) -> str:
    """Prints what PostgreSQL finds wrong in its configuration files on disk; exits
    non-zero when a check could not run.

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
    return (
        f"{{ ( if ! said=$( timeout {VALIDATION_TIMEOUT} {check} 2>&1 >/dev/null ); then "
        'echo "${said:-postgres -C failed without a message}"; fi; '
        f"{checked_psql(port, query, config_file)} ); }}"
    )
