"""Seed SQL (e.g. staging's config rows), applied once per database, ever, after the
application's migrations have created the schema."""

from pathlib import Path

from pyinfra import host

from deploylib import notices, postgres_rules
from deploylib.model import pg_sql
from deploylib.operations import postgres_objects

settings = host.data.settings
_, cluster = postgres_rules.server_and_cluster(host, settings)
current = postgres_rules.objects(host, settings, cluster)

for database, spec in settings.databases.items():
    existing = current.databases.get(database)
    if existing and existing.seed_table_refused:
        # Not read (its owner's code would run as the superuser), so which seeds ran is
        # unknown: applying one again could duplicate its rows.
        notices.add(
            host,
            f"{pg_sql.SEED_TABLE} in database {database} is {existing.seed_table_refused}, "
            "not the plain table this deploy creates: not read (reading it as the superuser "
            "could run its owner's functions) and no seed is applied to the database. "
            "Look at who changed it; make it the deploy's table again to re-enable seeds.",
        )
        continue
    if not spec["seed_sql"]:
        continue
    postgres_objects.seed(
        name=f"Seed {database} ({spec['seed_sql']})",
        port=cluster.port,
        database_name=database,
        owner=spec["owner"],
        file=spec["seed_sql"],
        body=Path(spec["seed_sql"]).read_text(),
        applied=existing.seeds if existing else {},
    )
