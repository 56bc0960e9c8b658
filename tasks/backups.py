"""Scheduled logical backups: the backup script, its cron entry and the backup directory.
Restores are a separate entry point (restore.py)."""

from pyinfra import host

from deploylib import backups, managed_paths, postgres_rules
from deploylib.operations import paths

settings = host.data.settings
_, cluster = postgres_rules.server_and_cluster(host, settings)
current = managed_paths.state(host, settings)

paths.directory(
    name="Backup directory",
    path=settings.backup_dir,
    user="root",
    group="root",
    mode="700",
    current=current.get(settings.backup_dir),
)

paths.file_content(
    name=f"Backup script ({backups.SCRIPT_PATH})",
    path=backups.SCRIPT_PATH,
    content=backups.backup_script(settings, cluster.port, cluster.id),
    user="root",
    group="root",
    mode="700",
    current=current.get(backups.SCRIPT_PATH),
)

paths.file_content(
    name=f"Backup schedule ({backups.CRON_FILE}: {settings.backup_schedule})",
    path=backups.CRON_FILE,
    content=backups.cron_file(settings.backup_schedule),
    user="root",
    group="root",
    mode="644",
    current=current.get(backups.CRON_FILE),
)
