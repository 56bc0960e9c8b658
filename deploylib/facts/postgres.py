"""What a host's PostgreSQL server is and how it is configured, in one remote command."""

from __future__ import annotations

import base64
import shlex
from dataclasses import dataclass, field

from pyinfra.api import FactBase

from ..model.pg_sql import literal
from .postgres_objects import PgObjects, objects_script, parse_objects

# What the server reports about itself and its files (read by the server, as a
# superuser may: no process per file on the host).
SERVER_SQL = r"""
SELECT 'setting', name, setting, context, pending_restart::text, coalesce(unit, ''), vartype,
       coalesce(array_to_string(enumvals, ','), ''), coalesce(min_val, ''), coalesce(max_val, '')
  FROM pg_settings
 WHERE name IN ('config_file', 'hba_file', 'data_directory', 'port',
                'server_version_num', 'listen_addresses', 'shared_buffers',
                'shared_memory_size', 'max_connections', 'shared_preload_libraries' __NAMES__);
-- Every setting name this server knows: a managed name it does not know is a typo.
SELECT 'setting_names', string_agg(name, ' ') FROM pg_settings;
SELECT 'pending', name, '', '', '' FROM pg_settings WHERE pending_restart
UNION ALL SELECT 'started', extract(epoch FROM pg_postmaster_start_time())::text,
                 extract(epoch FROM pg_conf_load_time())::text, '', '';
SELECT 'file', f.which, replace(encode(pg_read_binary_file(f.path), 'base64'), E'\n', ''),
       extract(epoch FROM s.modification)::bigint::text
  FROM (VALUES ('hba', current_setting('hba_file')),
               ('dropin', regexp_replace(current_setting('config_file'), '[^/]*$', '')
                          || __DROPIN__),
               ('conf', current_setting('config_file'))) AS f(which, path)
 CROSS JOIN LATERAL pg_stat_file(f.path, true) AS s
 WHERE s.size IS NOT NULL AND NOT s.isdir;
-- Where each managed setting is set, in the order PostgreSQL reads the files (the
-- last one wins): an ALTER SYSTEM (postgresql.auto.conf) or a later include overriding
-- ours is seen before anything is changed.
SELECT 'file_setting', name, seqno::text, coalesce(sourcefile, ''), coalesce(sourceline, 0)::text,
       applied::text, coalesce(error, '')
  FROM pg_file_settings WHERE name IN (NULL __NAMES__) ORDER BY seqno;
-- For the checks before a restart: the host's memory, and whether the libraries
-- shared_preload_libraries would load exist (PostgreSQL tries the name, then name.so).
SELECT 'memory', coalesce(substring(pg_read_file('/proc/meminfo', 0, 1048576, true)
                                    FROM 'MemTotal:\s+([0-9]+) kB'), '');
__LIBRARIES_SQL__
SELECT 'postmaster_pid', split_part(pg_read_file('postmaster.pid'), E'\n', 1);
"""

# Per library of shared_preload_libraries: its name and the candidate file(s) that exist.
LIBRARIES_SQL = r"""
SELECT 'library', l.name, coalesce((SELECT string_agg(p, ' ') FROM unnest(ARRAY[l.path, l.path || '.so']) p
                                    WHERE (pg_stat_file(p, true)).size IS NOT NULL), '')
  FROM (SELECT n AS name,
               CASE WHEN n LIKE '$libdir/%' THEN d.dir || substr(n, 8)
                    WHEN n LIKE '/%' THEN n ELSE d.dir || '/' || n END AS path
          FROM unnest(ARRAY[__LIBRARIES__]::text[]) AS n,
               (SELECT setting AS dir FROM pg_config WHERE name = 'PKGLIBDIR') AS d) AS l;
"""

# Runs as root (sudo when the connection user isn't), on every host on every
# run, so it avoids Perl (Debian's pg_lsclusters and psql wrapper) when it can.
# Every cluster on the host is listed (Debian's clusters; one default cluster
# elsewhere); for each online one, what PostgreSQL itself reports (SERVER_SQL).
# Files are sent base64 so the controller sees their exact bytes. One line per item: "<tag>\t<values>".
SCRIPT = r"""
export LC_ALL=C
TAB=$'\t'
cd /  # for the postgres user, whatever directory the session started in
as_postgres() {
    if command -v runuser >/dev/null 2>&1; then runuser -u postgres -- "$@"
    else su postgres -s /bin/sh -c "$(printf '%q ' "$@")"; fi
}
# Each cluster's own psql binary: Debian's /usr/bin/psql is a Perl wrapper that
# costs more CPU than the query. A psql script on stdin, output on stdout.
sql_script() {
    bin=/usr/lib/postgresql/$1/bin/psql; [ -n "$1" ] && [ -x "$bin" ] || bin=psql
    as_postgres "$bin" -X -A -t -q -v ON_ERROR_STOP=1 -F "$TAB" -p "$2" -d postgres
}

if [ -d /run/systemd/system ]; then echo "manager	systemd"; else echo "manager	sysvinit"; fi
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
SERVER_SQL=__SERVER_SQL__
objects_sql=__OBJECTS_SQL__ objects_cluster=__OBJECTS_CLUSTER__
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
    # One session per cluster: every number, path and file below comes from it.
    out=$( { printf '%s\n' "$SERVER_SQL"
             [ -n "$with_objects" ] && printf '\\echo objects_begin\n%s\n' "$objects_sql"
           } | sql_script "$version" "$port" )
    psql_status=$?
    pid=""
    while IFS=$TAB read -r tag value _; do
        [ "$tag" = postmaster_pid ] && pid=$value
    done <<OUT
$out
OUT
    # postmaster_pid is the server part's last line: without it, that part failed.
    [ -n "$pid" ] || { echo "error	$port"; continue; }
    printf '%s\n' "$out"
    [ -n "$with_objects" ] && echo "objects_end	$psql_status"
    printf 'postgres_bin\t%s\n' "$(readlink "/proc/$pid/exe")"
done <<CLUSTERS
$clusters
CLUSTERS
exit 0
"""


@dataclass
class PgSetting:
    value: str
    context: str
    pending_restart: bool
    unit: str = ""  # pg_settings.unit: the base unit of `value` ("8kB", "ms", ...)
    vartype: str = ""  # bool, integer, real, string, enum
    enumvals: tuple = ()  # an enum's accepted values
    min_val: str = ""  # a number's range, in `unit`
    max_val: str = ""


@dataclass(frozen=True)
class PgFileSetting:
    """One line of pg_file_settings: where a setting is set, in reading order."""

    seqno: int
    name: str
    sourcefile: str
    sourceline: int
    applied: bool
    error: str = ""


@dataclass
class PgCluster:
    version: str
    name: str
    port: int
    status: str
    settings: dict[str, PgSetting] = field(default_factory=dict)
    pending_restart: list[str] = field(default_factory=list)
    started_at: float | None = None
    conf_loaded_at: float | None = None  # last reload (pg_conf_load_time)
    file_mtimes: dict[str, float] = field(default_factory=dict)  # "hba", "conf", "dropin"
    hba_text: str | None = None
    conf_text: str | None = None
    dropin_text: str | None = None
    postgres_bin: str | None = None
    query_failed: bool = False
    # pg_file_settings lines of the managed settings, in reading order.
    file_settings: list[PgFileSetting] = field(default_factory=list)
    mem_total_kb: int | None = None  # the host's MemTotal
    # shared_preload_libraries entry asked about -> the files found for it ("" = none).
    libraries: dict[str, str] = field(default_factory=dict)
    # PostgresObjects' answer for this cluster when PostgresServer was asked for it
    # (None: not asked, or its script failed).
    objects: PgObjects | None = None
    setting_names: frozenset = frozenset()  # every name in pg_settings

    @property
    def id(self) -> str:
        return f"{self.version}/{self.name}" if self.version else self.name

    @property
    def online(self) -> bool:
        return "online" in self.status

    def setting(self, name: str) -> str | None:
        found = self.settings.get(name)
        return found.value if found else None

    @property
    def config_file(self) -> str | None:
        return self.setting("config_file")

    @property
    def hba_file(self) -> str | None:
        return self.setting("hba_file")

    @property
    def data_directory(self) -> str | None:
        return self.setting("data_directory")

    def changed_since_reload(self, which: str) -> bool:
        """Was file `which` ("hba", "conf", "dropin") modified after the server last read its files?"""
        mtime = self.file_mtimes.get(which)
        return bool(mtime and self.conf_loaded_at and mtime > self.conf_loaded_at)

    @property
    def major_version(self) -> int | None:
        number = self.setting("server_version_num")
        return int(number) // 10000 if number else None


@dataclass
class PgServer:
    service_manager: str
    has_pg_ctlcluster: bool
    clusters: list[PgCluster]
    # How the clusters were listed: "files" (every Debian cluster running, read from
    # its PID and socket lock files), "pg_lsclusters", "default" (no Debian tools).
    listed_by: str = ""


class PostgresServer(FactBase):
    """
    Returns a ``PgServer``: the service manager (systemd only when it is PID 1),
    whether Debian's cluster tools exist, and every cluster with what the
    running server reports (config_file, hba_file, data_directory, version,
    settings with their context, pending restarts, postmaster start time, the
    exact bytes of pg_hba.conf, postgresql.conf and our drop-in).

    ``dropin`` is the drop-in file name, relative to the directory of
    postgresql.conf (``conf.d/<name>`` on Debian); ``setting_names`` are the
    extra settings whose context and value to report. With ``objects``
    (``{"cluster": id or "", "roles": [...], "databases": [...], "extensions": [...]}``)
    the PostgresObjects script also runs on that cluster (or the only one) and
    its answer is in ``PgCluster.objects``.
    """

    def command(
        self,
        dropin: str = "conf.d/zz-managed.conf",
        setting_names=(),
        objects: dict | None = None,
        libraries=(),
    ) -> str:
        objects = objects or {}
        objects_sql = (
            objects_script(objects.get("roles", ()), objects.get("databases", ()), objects.get("extensions", ()))
            if objects
            else ""
        )
        return "bash -c " + shlex.quote(
            SCRIPT.replace(
                "__SERVER_SQL__", shlex.quote(server_sql(dropin, setting_names, libraries))
            )
            .replace("__OBJECTS_SQL__", shlex.quote(objects_sql))
            .replace("__OBJECTS_CLUSTER__", shlex.quote(objects.get("cluster") or ""))
        )

    def process(self, output: list[str]) -> PgServer:
        return parse_server(output)


def server_sql(dropin: str, setting_names=(), libraries=()) -> str:
    """SERVER_SQL for our drop-in (relative to postgresql.conf's directory), settings
    and the shared_preload_libraries entries to look for."""
    names = "".join(f", {literal(name)}" for name in sorted(setting_names))
    dropin_dir, _, dropin_name = dropin.rpartition("/")
    libraries_sql = (
        LIBRARIES_SQL.replace("__LIBRARIES__", ", ".join(literal(lib) for lib in libraries))
        if libraries
        else ""
    )
    return (
        SERVER_SQL.replace("__NAMES__", names)
        .replace("__DROPIN__", literal(f"{dropin_dir or '.'}/{dropin_name}"))
        .replace("__LIBRARIES_SQL__", libraries_sql)
    )


def parse_server(lines: list[str]) -> PgServer:
    server = PgServer(service_manager="sysvinit", has_pg_ctlcluster=False, clusters=[])
    current: PgCluster | None = None
    objects_output: list[str] | None = None  # between objects_begin and objects_end
    for line in lines:
        tag, _, rest = line.partition("\t")
        fields = rest.split("\t")
        if objects_output is not None:
            if tag != "objects_end":
                objects_output.append(line)
            else:
                if current is not None and fields[0] == "0":
                    current.objects = parse_objects(objects_output)
                objects_output = None
            continue
        if tag == "objects_begin":
            objects_output = []
            continue
        if tag == "manager":
            server.service_manager = fields[0]
        elif tag == "pg_ctlcluster":
            server.has_pg_ctlcluster = True
        elif tag == "listed_by":
            server.listed_by = fields[0]
        elif tag == "cluster":
            version, name, port, status = (fields + ["", "", "", ""])[:4]
            server.clusters.append(PgCluster(version, name, int(port or 0), status))
        elif tag == "server":
            port = int(fields[0])
            current = next((c for c in server.clusters if c.port == port and c.online), None)
        elif current is None:
            continue
        elif tag == "setting":
            name, value, context, pending, unit, vartype, enumvals, low, high = (fields + [""] * 5)[:9]
            current.settings[name] = PgSetting(
                value, context, pending == "true", unit, vartype,
                tuple(enumvals.split(",")) if enumvals else (), low, high,
            )
        elif tag == "setting_names":
            current.setting_names = frozenset(fields[0].split())
        elif tag == "file_setting":
            name, seqno, sourcefile, sourceline, applied, error = (fields + [""])[:6]
            current.file_settings.append(
                PgFileSetting(int(seqno), name, sourcefile, int(sourceline), applied == "true", error)
            )
        elif tag == "memory":
            current.mem_total_kb = int(fields[0]) if fields[0].isdigit() else None
        elif tag == "library":
            current.libraries[fields[0]] = fields[1] if len(fields) > 1 else ""
        elif tag == "pending":
            current.pending_restart.append(fields[0])
        elif tag == "started":
            current.started_at = float(fields[0])
            current.conf_loaded_at = float(fields[1])
        elif tag == "error":
            current.query_failed = True
        elif tag == "file":
            text = base64.b64decode(fields[1]).decode("utf-8", errors="surrogateescape")
            setattr(current, f"{fields[0]}_text", text)
            current.file_mtimes[fields[0]] = float(fields[2])
        elif tag == "postgres_bin":
            current.postgres_bin = fields[0]
    return server
