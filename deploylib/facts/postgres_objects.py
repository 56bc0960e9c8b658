"""Roles, databases, their settings, extensions and seed markers, in one remote command (host
code: a pyinfra fact; may import the model)."""

from __future__ import annotations

import shlex

from pyinfra.api import FactBase

from ..model.pg_commands import as_postgres
from ..model.pg_sql import MANAGED_COMMENT_PREFIX, SEED_TABLE, literal
from ..model.postgres_state import PgDatabase, PgObjects, PgRole
from ..model.tagged import tagged

ROLE_COLUMNS = (
    "rolcanlogin",
    "rolsuper",
    "rolcreatedb",
    "rolcreaterole",
    "rolinherit",
    "rolreplication",
    "rolbypassrls",
)


class PostgresObjects(FactBase):
    """
    Returns ``PgObjects`` for the named roles and databases of the cluster on
    ``port``: role attributes and stored verifier, database owner, encoding,
    ACL, per-database settings (pg_db_role_setting), installed extensions (and
    those whose version is not the package's default),
    extensions the server could create, and which seed files were applied.
    """

    def command(self, port: int, roles=(), databases=(), extensions=(), visit=None, psql="psql") -> str:
        session = as_postgres(
            f"{shlex.quote(psql)} -X -A -t -q -v ON_ERROR_STOP=1 -F \"$(printf '\\t')\" "
            f"-p {int(port)} -d postgres"
        )
        sql = objects_script(roles, databases, extensions, visit)
        return f"{session} <<'PGOBJECTS_SQL'\n{sql}\nPGOBJECTS_SQL"

    def process(self, output: list[str]) -> PgObjects:
        return parse_objects(output)


# Each session's first statement, and again after each \\c: only pg_catalog's names. A
# database's owner (an application role) can ALTER DATABASE ... SET search_path and put its
# own functions and views before pg_catalog's; this superuser session must not run them.
SESSION_SEARCH_PATH = "SET search_path = pg_catalog;"


# The owner of an application database owns its schema public: it can make SEED_TABLE a view
# (or give it columns of its own type, rules, a virtual generated column) whose reading runs
# its functions as the reader, this superuser. Read only a plain table (ONLY: no inheritance
# children) with plain text columns; RLS policies do not apply to a superuser. Otherwise
# seeds_refused says what the object is. One row always (\gset), every column non-NULL.
_SEED_SCHEMA, _SEED_NAME = SEED_TABLE.split(".")
SEED_TABLE_CHECK = (
    "SELECT c.oid IS NOT NULL AS seeds_found, coalesce(c.relkind = 'r' AND NOT c.relhasrules "
    "AND (SELECT count(*) FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid "
    "AND a.attname IN ('sha256', 'file') AND NOT a.attisdropped AND a.attgenerated = '' "
    "AND a.atttypid = 'pg_catalog.text'::pg_catalog.regtype) = 2, false) AS seeds_readable, "
    "CASE WHEN c.oid IS NULL THEN '' "
    "WHEN c.relkind = 'v' THEN 'a view' WHEN c.relkind = 'm' THEN 'a materialized view' "
    "WHEN c.relkind = 'p' THEN 'a partitioned table' WHEN c.relkind = 'f' THEN 'a foreign table' "
    "WHEN c.relkind <> 'r' THEN 'not a table' WHEN c.relhasrules THEN 'a table with rules' "
    "ELSE 'a table whose sha256 and file columns are not plain text' END AS seeds_refused "
    "FROM (SELECT) AS one LEFT JOIN (pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
    f"ON n.oid = c.relnamespace AND n.nspname = {literal(_SEED_SCHEMA)}) "
    f"ON c.relname = {literal(_SEED_NAME)} \\gset"
)


def objects_script(roles=(), databases=(), extensions=(), visit=None) -> str:
    """The psql script (no secrets in it) whose output parse_objects reads.

    One session: \\c visits each existing database of ``visit`` (default: all of
    ``databases``) for its extensions and seed records; not the one it is already in (the
    PostgresServer fact's session starts in the first of them: each \\c is a new backend).
    """
    visit = databases if visit is None else visit
    role_list = ", ".join(literal(r) for r in roles) or "NULL"
    db_list = ", ".join(literal(d) for d in databases) or "NULL"
    ext_list = ", ".join(literal(e) for e in extensions) or "NULL"
    script = [
        SESSION_SEARCH_PATH,
        f"SELECT 'role', rolname, {', '.join(c + '::text' for c in ROLE_COLUMNS)}, "
        # Only the verifier's head (method, iterations, salt) and a digest of
        # the whole leave the host: enough to check a password, no keys in output.
        "split_part(coalesce(rolpassword, ''), '$', 1) || '$' || "
        "split_part(coalesce(rolpassword, ''), '$', 2), "
        "encode(sha256(convert_to(coalesce(rolpassword, ''), 'UTF8')), 'hex') "
        f"FROM pg_authid WHERE rolname IN ({role_list});",
        "SELECT 'database', datname, pg_get_userbyid(datdba), pg_encoding_to_char(encoding), "
        f"coalesce(datacl::text, '') FROM pg_database WHERE datname IN ({db_list});",
        "SELECT 'setting', d.datname, unnest(s.setconfig) FROM pg_db_role_setting s "
        "JOIN pg_database d ON d.oid = s.setdatabase "
        f"WHERE s.setrole = 0 AND d.datname IN ({db_list});",
        "SELECT 'template', pg_encoding_to_char(encoding) FROM pg_database "
        "WHERE datname = 'template1';",
        # The comments themselves (shobj_description() is a query of its own per call).
        "SELECT CASE c.classoid WHEN 'pg_catalog.pg_database'::regclass THEN 'managed_database' "
        "ELSE 'managed_role' END, coalesce(d.datname, r.rolname), c.description "
        "FROM pg_shdescription c LEFT JOIN pg_database d "
        "ON c.classoid = 'pg_catalog.pg_database'::regclass AND d.oid = c.objoid "
        "LEFT JOIN pg_authid r ON c.classoid = 'pg_catalog.pg_authid'::regclass AND r.oid = c.objoid "
        f"WHERE starts_with(c.description, {literal(MANAGED_COMMENT_PREFIX)}) "
        "AND coalesce(d.datname, r.rolname) IS NOT NULL;",
    ]
    # The wanted extensions the server could create, and their default versions (the
    # server's control files, the same in every database): pg_available_extensions reads
    # every control file each time, so once, not once per database visited.
    script += [
        "SELECT coalesce(json_object_agg(name, default_version), '{}') AS default_versions "
        f"FROM pg_available_extensions WHERE name IN ({ext_list}) \\gset",
        "SELECT 'available', json_object_keys(:'default_versions'::json);",
    ]
    for database in visit:
        script += [
            f"SELECT count(*) > 0 AS db_exists, current_database() <> {literal(database)} "
            f"AS db_elsewhere FROM pg_database WHERE datname = {literal(database)} \\gset",
            "\\if :db_exists",
            "\\if :db_elsewhere",
            f"\\c {database}",
            SESSION_SEARCH_PATH,
            "\\endif",
            "SELECT 'extension', current_database(), e.extname, e.extversion, "
            "coalesce(:'default_versions'::json ->> e.extname, '') FROM pg_extension e;",
            SEED_TABLE_CHECK,
            "\\if :seeds_readable",
            f"SELECT 'seed', current_database(), sha256, file FROM ONLY {SEED_TABLE};",
            "\\elif :seeds_found",
            "SELECT 'seed_table_refused', current_database(), :'seeds_refused';",
            "\\endif",
            "\\endif",
        ]
    return "\n".join(script)


def parse_objects(lines: list[str]) -> PgObjects:
    objects = PgObjects(roles={}, databases={}, available_extensions=set())
    for item in tagged(lines):
        tag, fields = item.tag, item.fields()
        if tag == "role":
            name, *flags, head, digest = fields
            objects.roles[name] = PgRole(
                name, dict(zip(ROLE_COLUMNS, (f == "true" for f in flags), strict=True)), head, digest
            )
        elif tag == "database":
            name, owner, encoding, acl = fields
            objects.databases[name] = PgDatabase(name, owner, encoding, acl)
        elif tag == "setting" and fields[0] in objects.databases:
            key, _, value = fields[1].partition("=")
            objects.databases[fields[0]].settings[key.lower()] = value
        elif tag == "available":
            objects.available_extensions.add(fields[0])
        elif tag == "managed_database":
            objects.managed_databases[fields[0]] = fields[1] if len(fields) > 1 else ""
        elif tag == "managed_role":
            objects.managed_roles[fields[0]] = fields[1] if len(fields) > 1 else ""
        elif tag == "template":
            objects.template_encoding = fields[0]
        elif tag == "extension" and fields[0] in objects.databases:
            database = objects.databases[fields[0]]
            database.extensions.add(fields[1])
            installed, default = (fields[2:4] + ["", ""])[:2]
            if installed and default and installed != default:
                database.outdated_extensions[fields[1]] = (installed, default)
        elif tag == "seed" and fields[0] in objects.databases:
            objects.databases[fields[0]].seeds[fields[1]] = fields[2]
        elif tag == "seed_table_refused" and fields[0] in objects.databases:
            objects.databases[fields[0]].seed_table_refused = fields[1]
    return objects
