"""What a host's PostgreSQL server is and how it is configured, in one remote command (host code:
pyinfra facts; may import the model)."""

from __future__ import annotations

import base64

from pyinfra.api import FactBase

from ..model import pgbackrest, shell
from ..model.pg_sql import literal
from ..model.postgres_state import PgCluster, PgFileSetting, PgServer, PgSetting
from ..model.tagged import Tagged
from .postgres_objects import SESSION_SEARCH_PATH, objects_script, parse_objects

# What the server reports about itself and its files (read by the server, as a
# superuser may: no process per file on the host).
SERVER_SQL = (
    SESSION_SEARCH_PATH
    + r"""
-- The session may start in an application database (the one PostgresObjects visits: a
-- backend less). There its own settings (ALTER DATABASE ... SET, which its owner may run)
-- replace the server's in pg_settings: if it sets one read below, read from postgres.
SELECT EXISTS (SELECT FROM pg_db_role_setting s, unnest(s.setconfig) AS c
                WHERE s.setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
                  AND s.setrole IN (0, (SELECT oid FROM pg_roles WHERE rolname = current_user))
                  AND lower(split_part(c, '=', 1)) IN (__READ_NAMES__))
       AND current_database() <> 'postgres' AS settings_overridden \gset
\if :settings_overridden
\c postgres
"""
    + SESSION_SEARCH_PATH
    + r"""
\endif
-- pg_settings computes every setting's row each time it is read: read once.
WITH s AS MATERIALIZED (SELECT name, setting, context, pending_restart, unit, vartype, enumvals,
                               min_val, max_val FROM pg_settings)
SELECT 'setting', name, setting, context, pending_restart::text, coalesce(unit, ''), vartype,
       coalesce(array_to_string(enumvals, ','), ''), coalesce(min_val, ''), coalesce(max_val, '')
  FROM s
 WHERE lower(name) IN (__READ_NAMES__)
-- Every setting name this server knows: a managed name it does not know is a typo.
UNION ALL SELECT 'setting_names', string_agg(name, ' '), '', '', '', '', '', '', '', '' FROM s
UNION ALL SELECT 'pending', name, '', '', '', '', '', '', '', '' FROM s WHERE pending_restart
UNION ALL SELECT 'started', extract(epoch FROM pg_postmaster_start_time())::text,
                 extract(epoch FROM pg_conf_load_time())::text, '', '', '', '', '', '', '';
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
-- WAL archiving's counters (pgBackRest's freshness check): here, not in a session of its own.
SELECT 'archiver', archived_count::text, failed_count::text,
       coalesce(extract(epoch FROM last_archived_time), 0)::text,
       coalesce(extract(epoch FROM last_failed_time), 0)::text, coalesce(last_failed_wal, '-')
  FROM pg_stat_archiver;
-- The running server's own binary (its configuration checks run it): no readlink process.
SELECT 'postgres_bin', setting || '/postgres' FROM pg_config WHERE name = 'BINDIR';
SELECT 'postmaster_pid', split_part(pg_read_file('postmaster.pid'), E'\n', 1);
"""
)

# The settings whose values the server part reads (with the managed ones, __NAMES__).
SERVER_SETTING_NAMES = (
    "config_file", "hba_file", "data_directory", "port", "server_version_num",
    "listen_addresses", "shared_buffers", "shared_memory_size", "max_connections",
    "shared_preload_libraries",
)

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
            objects_script(
                objects.get("roles", ()), objects.get("databases", ()),
                objects.get("extensions", ()), objects.get("visit"),
            )
            if objects
            else ""
        )
        # The managed cluster's session starts in the first database it visits, if any.
        start_database = (objects.get("visit") or ["postgres"])[0]
        # deploylib/facts/sh/postgres_server.sh
        return shell.script(
            "postgres_server", server_sql(dropin, setting_names, libraries), objects_sql,
            objects.get("cluster") or "", start_database,
        )

    def process(self, output: list[str]) -> PgServer:
        return parse_server(output)


def server_sql(dropin: str, setting_names=(), libraries=()) -> str:
    """SERVER_SQL for our drop-in (relative to postgresql.conf's directory), settings
    and the shared_preload_libraries entries to look for."""
    names = "".join(f", {literal(name)}" for name in sorted(setting_names))
    read_names = ", ".join(literal(name) for name in SERVER_SETTING_NAMES) + names
    dropin_dir, _, dropin_name = dropin.rpartition("/")
    libraries_sql = (
        LIBRARIES_SQL.replace("__LIBRARIES__", ", ".join(literal(lib) for lib in libraries))
        if libraries
        else ""
    )
    return (
        SERVER_SQL.replace("__READ_NAMES__", read_names)
        .replace("__NAMES__", names)
        .replace("__DROPIN__", literal(f"{dropin_dir or '.'}/{dropin_name}"))
        .replace("__LIBRARIES_SQL__", libraries_sql)
    )


def parse_server(lines: list[str]) -> PgServer:
    server = PgServer(service_manager="sysvinit", has_pg_ctlcluster=False, clusters=[])
    current: PgCluster | None = None
    objects_output: list[str] | None = None  # between objects_begin and objects_end
    for line in lines:
        item = Tagged.parse(line)
        tag, fields = item.tag, item.fields()
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
            version, name, port, status = item.fields(4)
            server.clusters.append(PgCluster(version, name, int(port or 0), status))
        elif tag == "server":
            port = int(fields[0])
            current = next((c for c in server.clusters if c.port == port and c.online), None)
        elif current is None:
            continue
        elif tag == "setting":
            name, value, context, pending, unit, vartype, enumvals, low, high = item.fields(9)
            # Keyed as group_data writes names (lower case): pg_settings says "TimeZone".
            current.settings[name.lower()] = PgSetting(
                value, context, pending == "true", unit, vartype,
                tuple(enumvals.split(",")) if enumvals else (), low, high,
            )
        elif tag == "setting_names":
            current.setting_names = frozenset(fields[0].split())
        elif tag == "file_setting":
            name, seqno, sourcefile, sourceline, applied, error = item.fields(6)
            current.file_settings.append(
                PgFileSetting(int(seqno), name, sourcefile, int(sourceline), applied == "true", error)
            )
        elif tag == "memory":
            current.mem_total_kb = int(fields[0]) if fields[0].isdigit() else None
        elif tag == "library":
            library, found = item.fields(2)
            current.libraries[library] = found
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
        elif tag == "archiver":
            current.archiver = pgbackrest.parse_archiver(item.fields(5))
        elif tag == "postgres_bin":
            current.postgres_bin = fields[0]
    return server
