"""Scheduled logical backups: the backup script, its cron entry and the backup directory,
one script and schedule per environment. Restores are a separate entry point (restore.py)."""

from pyinfra import host, local

from deploylib import postgres_rules
from deploylib.model import backups
from deploylib.operations import paths

settings = host.data.settings
_, cluster = postgres_rules.server_and_cluster(host, settings)
script = backups.script_path(settings.environment)
cron = backups.cron_path(settings.environment)

local.include("tasks/backup_dir.py")  # the same operation as bootstrap's

paths.file_content(
    name=f"Backup script ({script})",
    path=script,
    content=backups.backup_script(settings, cluster.port, cluster.id),
    user="root",
    group="root",
    mode="700",
)

paths.file_content(
    name=f"Backup schedule ({cron}: {settings.backup_schedule})",
    path=cron,
    content=backups.cron_file(settings.backup_schedule, settings.environment),
    user="root",
    group="root",
    mode="644",
)

# The script and schedule from before they were per environment (on a shared host the last
# run's database list): each environment's own replace them.
for legacy in backups.LEGACY_FILES:
    paths.absent(
        name=f"Remove {legacy} (now one per environment)",
        path=legacy,
    )
