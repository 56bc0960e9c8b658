"""Operations for roles, databases, extensions and seeds on a host's PostgreSQL (host code:
pyinfra operations; may import facts, the model, announce and notices).

Passwords: the controller turns the secret into a SCRAM-SHA-256 verifier and
only the verifier travels, as SQL on psql's stdin (never in argv). A re-run
recomputes the stored verifier from its salt and iterations and changes nothing
when the secret still matches. Nothing here ever drops a role or a database.
"""

from __future__ import annotations

import hashlib
import shlex

from pyinfra import host
from pyinfra.api import OperationError, StringCommand, operation

from .. import announce, notices, postgres_rules
from ..model import pg_commands, pg_sql, shell
from ..model.config import Secret
from ..model.postgres_state import PgDatabase
from ..model.scram import scram_sha256_verifier
from ..pyinfra_compat import replayable

# Extensions that need a distribution package (contrib ones come with the server).
EXTENSION_PACKAGES = {"vector": "postgresql-{major}-pgvector"}


def _sql_on_stdin(port: int, sql: str, database: str = "postgres", unlogged: bool = False) -> StringCommand:
    return StringCommand(pg_commands.psql_stdin(port, database, single_transaction=True, unlogged=unlogged),
                         _stdin=sql)


@operation()
@replayable
def role(
    port: int,
    role_name: str,
    password: Secret,
    comment: str,
):
    """
    A LOGIN role with no other power (not superuser, no CREATEDB/CREATEROLE/
    REPLICATION/BYPASSRLS) whose password is ``password``, carrying ``comment``
    (``pg_sql.managed_comment``). Attributes and the comment converge; the
    password changes only when the stored verifier does not match.
    """
    objects = postgres_rules.managed_objects(host)
    current, current_comment = objects.roles.get(role_name), objects.managed_roles.get(role_name)
    set_comment = pg_sql.comment_on("ROLE", role_name, comment)
    if current is None:
        announce.will(host, f"create role {role_name} (LOGIN, with its password)")
        verifier = scram_sha256_verifier(password.reveal())
        yield _sql_on_stdin(port, pg_sql.create_role(role_name, verifier) + set_comment, unlogged=True)
        yield announce.did(host, f"created role {role_name}")
        return
    drift = pg_sql.attribute_drift(current.attributes)
    verifier = None
    if not current.password_matches(password.reveal()):
        verifier = scram_sha256_verifier(password.reveal())
    sql = pg_sql.alter_role(role_name, drift, verifier)
    if current_comment != comment:
        sql += set_comment
    if not sql:
        host.noop(f"role {role_name} is up to date")
        return
    will, did = role_action(role_name, sorted(drift), verifier is not None)
    announce.will(host, will)
    yield _sql_on_stdin(port, sql, unlogged=verifier is not None)
    yield announce.did(host, did)


def role_action(role_name: str, attributes: list[str], rotates: bool) -> tuple[str, str]:
    """What changing an existing role does, in the operator's words (plan, summary):
    a password rotation (clients with the old one are refused) is never called an
    attribute change, nor the reverse."""
    wills, dids = [], []
    if rotates:
        wills.append("rotate its password (clients using the old one are refused from then on)")
        dids.append("rotated its password")
    if attributes:
        listed = ", ".join(attributes)
        wills.append(f"change its attributes ({listed}), password unchanged" if not rotates
                     else f"change its attributes ({listed})")
        dids.append(f"changed its attributes ({listed})")
    if not wills:
        wills.append("set its comment (marks it as managed), nothing else changes")
        dids.append("set its comment")
    return f"role {role_name}: " + "; ".join(wills), f"role {role_name}: " + "; ".join(dids)


@operation()
@replayable
def database(
    port: int,
    database_name: str,
    owner: str,
    settings: dict,
    other_owners: list[str],
    comment: str,
):
    """
    A UTF8 database owned by ``owner``, with ``settings`` (ALTER DATABASE ...
    SET), that only its owner may connect to (CONNECT revoked from PUBLIC and
    from the other managed roles), carrying ``comment`` (``pg_sql.managed_comment``).
    """
    objects = postgres_rules.managed_objects(host)
    current = objects.databases.get(database_name)
    current_comment = objects.managed_databases.get(database_name)
    sql = ""
    if current is None:
        yield pg_commands.psql(
            port, pg_sql.create_database(database_name, owner, objects.template_encoding)
        )
        current = PgDatabase(database_name, owner, "UTF8", acl="")
        current_comment = None
    if current_comment != comment:
        sql += pg_sql.comment_on("DATABASE", database_name, comment)
    if current.owner != owner:
        sql += f"ALTER DATABASE {pg_sql.ident(database_name)} OWNER TO {pg_sql.ident(owner)};\n"
    if current.encoding != "UTF8":
        notices.add(host, f"database {database_name} is {current.encoding}, not UTF8 (left as is)")
    sql += pg_sql.set_database_settings(
        database_name, pg_sql.settings_drift(current.settings, settings)
    )
    sql += pg_sql.isolation_sql(database_name, owner, current.acl, other_owners)
    if not sql:
        host.noop(f"database {database_name} is up to date")
        return
    yield _sql_on_stdin(port, sql)


@operation()
@replayable
def extension_packages(
    extensions: list[str],
    major_version: int,
    data_file: str,
):
    """
    Install the distribution package of each wanted extension PostgreSQL cannot
    create yet (pgvector: ``postgresql-<major>-pgvector``). When the configured
    apt sources have no such package, fail with what to do, before anything
    else in the database step has run.
    """
    missing = sorted(set(extensions) - postgres_rules.managed_objects(host).available_extensions)
    if not missing:
        host.noop("every extension is installable")
        return
    packages = []
    for extension in missing:
        if extension not in EXTENSION_PACKAGES:
            raise OperationError(
                f"extension {extension!r} is not available on PostgreSQL {major_version} and "
                "no package is known for it: install it on the host first"
            )
        packages.append(EXTENSION_PACKAGES[extension].format(major=major_version))
    checks = "".join(
        f"if ! apt_has_package {shlex.quote(package)}; then "
        f"echo '{package} is not in this host'\"'\"'s apt sources: the distribution does not "
        f"package it for PostgreSQL {major_version}. Set pgdg_apt_repository = True in "
        f"{data_file} to add the PostgreSQL project'\"'\"'s apt repository (apt.postgresql.org), "
        f"or install {package} yourself; nothing was created.' >&2; exit 1; fi; "
        for package in packages
    )
    announce.will(host, f"install packages: {', '.join(packages)}")
    yield shell.with_common(
        "export DEBIAN_FRONTEND=noninteractive; apt-get update -q >/dev/null; "
        f"{checks}apt-get install -y -q -- {' '.join(map(shlex.quote, packages))}"
    )
    yield announce.did(host, f"installed packages: {', '.join(packages)}")


@operation()
@replayable
def extensions(port: int, database_name: str, wanted: list[str]):
    """``CREATE EXTENSION IF NOT EXISTS`` in ``database_name`` (as the superuser, in schema
    public whatever the database's search_path) for each missing one; ``ALTER EXTENSION ...
    UPDATE`` for each wanted one whose installed version is not the default of the installed
    package (PostgresObjects' outdated_extensions), as pgvector's upgrade notes ask after a
    package upgrade."""
    existing = postgres_rules.managed_objects(host).databases.get(database_name)
    installed = existing.extensions if existing else set()
    outdated = existing.outdated_extensions if existing else {}
    missing = [extension for extension in wanted if extension not in installed]
    stale = [extension for extension in wanted if extension in (outdated or {})]
    if not missing and not stale:
        host.noop(f"extensions of {database_name} are installed and up to date")
        return
    sql = pg_sql.EXTENSIONS_SEARCH_PATH + "".join(pg_sql.create_extension(e) for e in missing)
    sql += "".join(pg_sql.update_extension(e) for e in stale)
    yield _sql_on_stdin(port, sql, database_name)


@operation()
@replayable
def seed(port: int, database_name: str, owner: str, file: str, body: str, applied: dict):
    """
    Apply seed SQL once per database, ever: as the owner, in one transaction
    with its record in ``deploy_seed_applied``. Once any seed ran, a changed
    file is reported and not applied again.
    """
    sha256 = hashlib.sha256(body.encode()).hexdigest()
    if sha256 in applied:
        host.noop(f"seed {file} already applied to {database_name}")
        return
    if applied:
        notices.add(
            host,
            f"{file} changed since it was applied to {database_name} "
            f"({', '.join(sorted(set(applied.values())))}); seeds run once, not re-applied",
        )
        return
    yield _sql_on_stdin(port, pg_sql.seed_sql(owner, sha256, file, body), database_name)


def report_unmanaged(kind: str, names: set[str], configured: set[str]) -> None:
    """Roles/databases we created earlier that group_data no longer lists: said, never dropped.
    A restore's databases (<db>_restore_<stamp>, <db>_before_restore_<stamp>) of a listed
    database never were in group_data: not reported."""
    for name in sorted(names - configured):
        if is_restore_copy(name, configured):
            continue
        notices.add(
            host,
            f"{kind} {name} is no longer in group_data; left in place (this deploy never drops). "
            "Drop it by hand if it is really unused.",
        )


def is_restore_copy(name: str, configured: set[str]) -> bool:
    """Was database ``name`` made by restore.py for one of ``configured``?"""
    import re

    return any(
        re.fullmatch(re.escape(db) + r"_(before_)?restore_[0-9]{8}_[0-9]{6}", name) for db in configured
    )
