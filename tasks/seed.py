"""Seed SQL (e.g. staging's config rows), applied once per database, ever, after the
application's migrations have created the schema."""

from pathlib import Path

from pyinfra import host

from deploylib import postgres_rules
from deploylib.operations import postgres_objects

settings = host.data.settings
_, cluster = postgres_rules.server_and_cluster(host, settings)
current = postgres_rules.objects(host, settings, cluster)

for database, spec in settings.databases.items():
    if not spec["seed_sql"]:
        continue
    existing = current.databases.get(database)
    postgres_objects.seed(
        name=f"Seed {database} ({spec['seed_sql']})",
        port=cluster.port,
        database_name=database,
        owner=spec["owner"],
        file=spec["seed_sql"],
        body=Path(spec["seed_sql"]).read_text(),
        applied=existing.seeds if existing else {},
    )
