"""SQL for roles, databases, settings, isolation and extensions (pure: builds strings).

Names reaching here are validated identifiers (deploylib.model.config.is_name); they
are still quoted, values are literals with quotes doubled.
"""

from __future__ import annotations

import re

from .config import scope_tag

# COMMENT ON ROLE/DATABASE of what this deploy manages, per environment
# (managed_comment): how it knows, later, which objects it managed (a database
# dropped from group_data is reported), and whose they are on a host staging
# and prod share. Before the environment was added the comment was the bare prefix.
MANAGED_COMMENT_PREFIX = "managed by hatchet-owlclaw deploy"


def managed_comment(environment: str) -> str:
    """'managed by hatchet-owlclaw deploy (prod)'."""
    return f"{MANAGED_COMMENT_PREFIX} ({scope_tag(environment)})"


def comment_on(kind: str, name: str, comment: str) -> str:
    """COMMENT ON ROLE/DATABASE."""
    return f"COMMENT ON {kind} {ident(name)} IS {literal(comment)};\n"

# The table in each seeded database recording which seed files ran (once, ever).
SEED_TABLE = "public.deploy_seed_applied"

# What every application role must be: it logs in and can do nothing else.
ROLE_ATTRIBUTES = {
    "rolcanlogin": ("LOGIN", "NOLOGIN", True),
    "rolsuper": ("SUPERUSER", "NOSUPERUSER", False),
    "rolcreatedb": ("CREATEDB", "NOCREATEDB", False),
    "rolcreaterole": ("CREATEROLE", "NOCREATEROLE", False),
    "rolinherit": ("INHERIT", "NOINHERIT", True),
    "rolreplication": ("REPLICATION", "NOREPLICATION", False),
    "rolbypassrls": ("BYPASSRLS", "NOBYPASSRLS", False),
}


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def literal(value: str) -> str:
    if "\0" in value:
        raise ValueError("NUL cannot be sent to PostgreSQL")
    return "'" + value.replace("'", "''") + "'"


def wanted_attributes() -> dict[str, bool]:
    return {column: wanted for column, (_, _, wanted) in ROLE_ATTRIBUTES.items()}


def attribute_drift(current: dict[str, bool]) -> list[str]:
    """Keywords that bring a role's attributes to what we want (empty when they match)."""
    return [
        yes if wanted else no
        for column, (yes, no, wanted) in ROLE_ATTRIBUTES.items()
        if current.get(column) != wanted
    ]


def create_role(name: str, verifier: str) -> str:
    keywords = " ".join(yes if wanted else no for yes, no, wanted in ROLE_ATTRIBUTES.values())
    return f"CREATE ROLE {ident(name)} {keywords} PASSWORD {literal(verifier)};\n"


def alter_role(name: str, keywords: list[str], verifier: str | None) -> str:
    parts = list(keywords)
    if verifier:
        parts.append(f"PASSWORD {literal(verifier)}")
    return f"ALTER ROLE {ident(name)} {' '.join(parts)};\n" if parts else ""


def create_database(name: str, owner: str, template_encoding: str) -> str:
    # template0 so the encoding can be chosen; C.UTF-8 only if the cluster's default isn't UTF8.
    locale = "" if template_encoding == "UTF8" else " LOCALE 'C.UTF-8'"
    return (
        f"CREATE DATABASE {ident(name)} OWNER {ident(owner)} TEMPLATE template0 "
        f"ENCODING 'UTF8'{locale}"
    )


def setting_value(value) -> str:
    """As pg_db_role_setting stores it: lists comma-joined, booleans on/off."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value)


def settings_drift(current: dict[str, str], wanted: dict) -> dict:
    """name -> value for each wanted database setting that differs (names compare lower-case)."""
    return {
        name: value
        for name, value in wanted.items()
        if current.get(name.lower()) != setting_value(value)
    }


def set_database_settings(database: str, changes: dict) -> str:
    return "".join(
        f"ALTER DATABASE {ident(database)} SET {name} = {literal(setting_value(value))};\n"
        for name, value in changes.items()
    )


ACL_ITEM = re.compile(r'^"?(?P<grantee>[^=]*?)"?=(?P<privileges>[A-Za-z*]*)/')


def connect_grantees(acl: str) -> set[str] | None:
    """Roles with CONNECT in a datacl text ('' for PUBLIC); None when the ACL is the default
    (NULL: PUBLIC may connect)."""
    if not acl:
        return None
    grantees = set()
    for item in acl.strip("{}").split(","):
        match = ACL_ITEM.match(item.strip())
        if match and "c" in match["privileges"]:
            grantees.add(match["grantee"])
    return grantees


def isolation_sql(database: str, owner: str, acl: str, other_owners: list[str]) -> str:
    """REVOKE CONNECT from PUBLIC (and from the other managed roles); GRANT it to the owner."""
    grantees = connect_grantees(acl)
    statements = []
    if grantees is None or "" in grantees:
        statements.append(f"REVOKE CONNECT ON DATABASE {ident(database)} FROM PUBLIC;\n")
    for other in other_owners:
        if grantees and other in grantees:
            statements.append(f"REVOKE CONNECT ON DATABASE {ident(database)} FROM {ident(other)};\n")
    if grantees is None or owner not in grantees:
        statements.append(f"GRANT CONNECT ON DATABASE {ident(database)} TO {ident(owner)};\n")
    return "".join(statements)


# The superuser's sessions in an application database get its owner's settings, search_path
# among them (ALTER DATABASE ... SET): a schema of the owner's first could shadow pg_catalog's
# names or receive what the deploy creates. The deploy's own statements there start with one
# of these. Extensions: public is where they are created (pg_catalog, unlisted, is still
# searched first); the seed records' table is named in full and needs pg_catalog only.
EXTENSIONS_SEARCH_PATH = "SET search_path = public;\n"
SEED_RECORDS_SEARCH_PATH = "SET search_path = pg_catalog;\n"


def create_extension(extension: str) -> str:
    return f"CREATE EXTENSION IF NOT EXISTS {ident(extension)};\n"


def update_extension(extension: str) -> str:
    """To the default version of the installed package (its control file)."""
    return f"ALTER EXTENSION {ident(extension)} UPDATE;\n"


def seed_sql(owner: str, sha256: str, file: str, body: str) -> str:
    """Apply a seed as the owner, and record it, in one transaction (psql -1). The seed runs
    with the database's own search_path (RESET: the session's default), as it always did."""
    return (
        SEED_RECORDS_SEARCH_PATH
        + f"CREATE TABLE IF NOT EXISTS {SEED_TABLE} (sha256 text PRIMARY KEY, file text NOT NULL, "
        "applied_at timestamptz NOT NULL DEFAULT now());\n"
        f"ALTER TABLE {SEED_TABLE} OWNER TO {ident(owner)};\n"
        f"SET ROLE {ident(owner)};\n"
        "RESET search_path;\n"
        f"{body.rstrip()}\n;\n"
        f"INSERT INTO {SEED_TABLE} (sha256, file) VALUES ({literal(sha256)}, {literal(file)});\n"
    )
