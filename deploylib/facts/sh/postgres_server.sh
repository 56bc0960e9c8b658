# shellcheck shell=bash
# PostgresServer: every PostgreSQL cluster on the host, and for each online one what the
# server reports about itself and its files. Runs as root (sudo when the connection user
# isn't), on every host on every run, so it avoids Perl (Debian's pg_lsclusters and psql
# wrapper) when it can. Files come base64-encoded so the controller sees their exact
# bytes. One line per item: "<tag>\t<values>" (deploylib.model.tagged reads them).
#   $1  the psql script every online cluster runs (facts/postgres.py: server_sql)
#   $2  the roles/databases psql script (PostgresObjects), "" for none
#   $3  the cluster that one runs on ("<version>/<name>"; "": the only cluster)
#   $4  the database that cluster's session starts in (the first one the roles/databases
#       script visits: a backend less than starting in postgres)
server_sql=$1 objects_sql=$2 objects_cluster=$3 start_database=${4:-postgres}
export LC_ALL=C
TAB=$'\t' NL=$'\n'
cd /  # for the postgres user, whatever directory the session started in
# Each cluster's own psql binary: Debian's /usr/bin/psql is a Perl wrapper that
# costs more CPU than the query. As as_postgres, without its `env -C /` (a process more):
# this script runs from / already. The session's script ($session_sql) from a here-string
# (no process to write it), its output on stdout; $1 version, $2 port, $3 database.
# Called as the only command of a $(...), whose process it becomes (exec, no fork).
sql_session() {
    bin=/usr/lib/postgresql/$1/bin/psql; [ -n "$1" ] && [ -x "$bin" ] || bin=psql
    exec setpriv --reuid=postgres --regid=postgres --init-groups --reset-env -- "$bin" -X -A -t -q -v ON_ERROR_STOP=1 -F "$TAB" -p "$2" -d "$3" <<<"$session_sql"
}

# One session in database $1: its output in $out, psql's exit status in $psql_status, and in
# $pid the postmaster_pid line's value (the server part's last line: without it, that part
# failed; found by one regex match: bash's `read` loop over the ~60 KB answer cost ~10 ms of
# CPU). Fails without it. Outside postgres, psql's messages are dropped: a database that does
# not exist (yet) is retried from postgres, where every other failure shows them too.
session() {
    if [ "$1" = postgres ]; then
        out=$(sql_session "$version" "$port" "$1")
    else
        out=$(sql_session "$version" "$port" "$1" 2>/dev/null)
    fi
    psql_status=$? pid=""
    [[ $out =~ (^|$NL)postmaster_pid$TAB([0-9]+) ]] && pid=${BASH_REMATCH[2]}
    [ -n "$pid" ]
}

if systemd_runs; then echo "manager	systemd"; else echo "manager	sysvinit"; fi
command -v pg_ctlcluster >/dev/null 2>&1 && echo "pg_ctlcluster	yes"
# Debian clusters, cheaply while every one of them runs: /etc/postgresql/<v>/<name>/
# lists them, the external PID file Debian configures (/var/run/postgresql/<v>-<name>.pid)
# names a live postgres, its socket lock file gives the port it listens on. Shell
# builtins only. Anything else (a cluster down, other paths) returns 1.
running_debian_clusters() {
    found=""
    for conf in /etc/postgresql/*/*/postgresql.conf; do
        [ -f "$conf" ] || return 1
        dir=${conf%/postgresql.conf}
        name=${dir##*/} version=${dir%/*}
        version=${version##*/}
        pid="" argv0="" port=""
        read -r pid < "/var/run/postgresql/$version-$name.pid" 2>/dev/null || return 1
        read -r -d '' argv0 < "/proc/$pid/cmdline" 2>/dev/null
        case "$argv0" in *postgres*) ;; *) return 1 ;; esac
        for lock in /var/run/postgresql/.s.PGSQL.*.lock; do
            lock_pid=""; read -r lock_pid < "$lock" 2>/dev/null
            if [ "$lock_pid" = "$pid" ]; then port=${lock#*.s.PGSQL.}; port=${port%.lock}; break; fi
        done
        [ -n "$port" ] || return 1
        found="$found$version $name $port online
"
    done
    clusters=$found
}
# "version name port status" per cluster. pg_lsclusters is exact but Perl (~45 ms of
# CPU, more than the rest of this script): only when the cheap listing can't answer.
if running_debian_clusters && [ -n "$clusters" ]; then
    echo "listed_by	files"
elif command -v pg_lsclusters >/dev/null 2>&1; then
    echo "listed_by	pg_lsclusters"
    clusters=$(pg_lsclusters -h | awk '{print $1, $2, $3, $4}')
elif command -v psql >/dev/null 2>&1; then
    echo "listed_by	default"
    clusters="- default 5432 online"
else
    clusters=""
fi
count=0
while read -r version name port status; do
    [ -n "$name" ] || continue
    count=$((count + 1))
    printf 'cluster\t%s\t%s\t%s\t%s\n' "${version#-}" "$name" "$port" "$status"
done <<CLUSTERS
$clusters
CLUSTERS
while read -r version name port status; do
    case "$status" in *online*) ;; *) continue ;; esac
    version=${version#-}
    id=${version:+$version/}$name
    echo "server	$port"
    # The roles/databases script (PostgresObjects) too on the cluster the deploy
    # manages (named, or the only one). The controller still decides which cluster
    # it manages; for another choice it asks PostgresObjects on its own.
    with_objects=""
    if [ -n "$objects_sql" ] && { [ "$id" = "$objects_cluster" ] || { [ -z "$objects_cluster" ] && [ "$count" = 1 ]; }; }; then
        with_objects=yes
    fi
    # One session per cluster: every number, path and file below comes from it. Other
    # clusters' sessions start in postgres, whose owner is the superuser (the server part
    # goes there itself when the database it starts in sets a setting it reads).
    database=postgres session_sql=$server_sql
    if [ -n "$with_objects" ]; then
        database=$start_database
        session_sql="$server_sql"$'\n\\echo objects_begin\n'"$objects_sql"
    fi
    session "$database" || { [ "$database" != postgres ] && session postgres; }
    [ -n "$pid" ] || { echo "error	$port"; continue; }
    printf '%s\n' "$out"
    [ -n "$with_objects" ] && echo "objects_end	$psql_status"
done <<CLUSTERS
$clusters
CLUSTERS
exit 0
