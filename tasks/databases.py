"""The application's roles and databases: one LOGIN role per database, isolated from
each other, with their extensions and settings. Never drops anything."""

from pyinfra import host
from pyinfra.facts.server import LinuxDistribution
from pyinfra.operations import files

from deploylib import postgres_rules
from deploylib.facts import cached_fact
from deploylib.model import pg_sql
from deploylib.model.postgres_rules import pgdg_sources
from deploylib.operations import postgres_objects

settings = host.data.settings
_, cluster = postgres_rules.server_and_cluster(host, settings)
databases = settings.databases
owners = {name: spec["owner"] for name, spec in databases.items()}
wanted_extensions = sorted({e for spec in databases.values() for e in spec["extensions"]})

current = postgres_rules.managed_objects(host)  # for what is reported, not changed
# On a host staging and prod share, each environment's objects carry its own comment.
comment = pg_sql.managed_comment(settings.environment)

if settings.pgdg_apt_repository:
    codename = cached_fact(host, LinuxDistribution)["release_meta"].get("VERSION_CODENAME")
    files.put(
        name="PostgreSQL project apt repository (apt.postgresql.org)",
        src=pgdg_sources(codename),
        dest="/etc/apt/sources.list.d/pgdg.sources",
        mode="644",
    )

# First, so a missing package fails the step before any role or database exists.
postgres_objects.extension_packages(
    name="PostgreSQL extension packages",
    extensions=wanted_extensions,
    major_version=cluster.major_version,
    data_file=f"group_data/{settings.environment}.py",
)

for database, spec in databases.items():
    owner = spec["owner"]
    postgres_objects.role(
        name=f"Role {owner}",
        port=cluster.port,
        role_name=owner,
        password=settings.db_password(database),
        comment=comment,
    )
    postgres_objects.database(
        name=f"Database {database}",
        port=cluster.port,
        database_name=database,
        owner=owner,
        settings=spec["settings"],
        other_owners=[o for name, o in owners.items() if name != database],
        comment=comment,
    )
    postgres_objects.extensions(
        name=f"Extensions in {database}",
        port=cluster.port,
        database_name=database,
        wanted=spec["extensions"],
    )

# Only this environment's: another environment's databases on the same host are not ours.
postgres_objects.report_unmanaged(
    "database", current.carrying(current.managed_databases, comment), set(databases)
)
postgres_objects.report_unmanaged(
    "role", current.carrying(current.managed_roles, comment), set(owners.values())
)
