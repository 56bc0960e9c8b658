"""Scheduled logical backups: the backup script, its cron entry and the backup directory.
Restores are a separate entry point (restore.py)."""

from io import StringIO

from pyinfra import host
from pyinfra.operations import files

from deploylib import backups, postgres_rules

settings = host.data.settings
_, cluster = postgres_rules.server_and_cluster(host, settings)

files.directory(
    name="Backup directory",
    path=settings.backup_dir,
    user="root",
    group="root",
    mode="700",
)

script = backups.script_path(settings.environment)
cron = backups.cron_path(settings.environment)

files.put(
    name=f"Backup script ({script})",
    src=StringIO(backups.backup_script(settings, cluster.port, cluster.id)),
    dest=script,
    user="root",
    group="root",
    mode="700",
)

files.put(
    name=f"Backup schedule ({cron}: {settings.backup_schedule})",
    src=StringIO(backups.cron_file(settings.backup_schedule, settings.environment)),
    dest=cron,
    user="root",
    group="root",
    mode="644",
)

# The script and schedule from before they were per environment (on a shared host the last
# run's database list): each environment's own replace them.
for legacy in backups.LEGACY_FILES:
    files.file(name=f"Remove {legacy} (now one per environment)", path=legacy, present=False)
