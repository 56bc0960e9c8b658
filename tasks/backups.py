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

files.put(
    name=f"Backup script ({backups.SCRIPT_PATH})",
    src=StringIO(backups.backup_script(settings, cluster.port, cluster.id)),
    dest=backups.SCRIPT_PATH,
    user="root",
    group="root",
    mode="700",
)

files.put(
    name=f"Backup schedule ({backups.CRON_FILE}: {settings.backup_schedule})",
    src=StringIO(backups.cron_file(settings.backup_schedule)),
    dest=backups.CRON_FILE,
    user="root",
    group="root",
    mode="644",
)
