"""Bootstrap: the application data directory (the deploy user's) and the backup directory
(root's)."""

from pyinfra import host
from pyinfra.operations import files

settings = host.data.settings

files.directory(
    name=f"Data directory {settings.data_dir}",
    path=settings.data_dir,
    user=settings.deploy_user,
    group=settings.deploy_user,
    mode="750",
)

files.directory(
    name="Backup directory",
    path=settings.backup_dir,
    user="root",
    group="root",
    mode="700",
)
