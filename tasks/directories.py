"""Bootstrap: the application data directory (the deploy user's) and the backup directory
(root's)."""

from pyinfra import host, local

from deploylib.operations import paths

settings = host.data.settings

paths.directory(
    name=f"Data directory {settings.data_dir}",
    path=settings.data_dir,
    user=settings.deploy_user,
    group=settings.deploy_user,
    mode="750",
)

local.include("tasks/backup_dir.py")
