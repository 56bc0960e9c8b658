"""The backup directory (root's, 0700): one operation, included by bootstrap (tasks/directories.py)
and by the deploy's backups (tasks/backups.py)."""

from pyinfra import host

from deploylib.operations import paths

settings = host.data.settings

paths.directory(name="Backup directory", path=settings.backup_dir, user="root", group="root", mode="700")
