"""Bootstrap, with pgbackrest_enabled: the pgbackrest package (and python3 for its status
wrapper) on both hosts; on the backup host the repository user and directories; on each host
the SSH key of the user pgBackRest connects as (generated there; deploy.py exchanges the
public keys through the controller and pins the host keys)."""

from pyinfra import host
from pyinfra.facts.files import File
from pyinfra.operations import files, server

from deploylib import backup_hosts
from deploylib.model import audit, pgbackrest
from deploylib.operations import packages
from deploylib.operations import pgbackrest as pgbackrest_ops

settings = host.data.settings
if settings.pgbackrest_enabled:
    # A backup host gets no bootstrap_packages: sudo (the deploy user's), cron (the schedules) and
    # logrotate (its audit log's rotation, tasks/audit.py).
    wanted = ["pgbackrest", "python3",
              *(["sudo", "cron", audit.PACKAGE] if backup_hosts.is_backup_host(host) else [])]
    packages.apt_present(
        name="pgBackRest packages (" + ", ".join(wanted) + ")",
        packages=wanted,
    )
    if backup_hosts.is_backup_host(host):
        user, home = settings.pgbackrest_repo_user, backup_hosts.repo_home(settings)
        server.user(
            name=f"pgBackRest repository user {user}",
            user=user, system=True, shell="/bin/bash", home=home, create_home=True,
        )
        for directory in (settings.pgbackrest_repo_path, pgbackrest.LOG_DIR):
            files.directory(
                name=f"pgBackRest directory {directory} ({user}, 0750)",
                path=directory, user=user, group=user, mode="750",
            )
    else:
        user, home = "postgres", backup_hosts.POSTGRES_HOME
    public_key = f"{pgbackrest.ssh_dir(home)}/id_ed25519.pub"
    pgbackrest_ops.ssh_key(
        name=f"SSH key of {user} (pgBackRest's connection to its peer host)",
        user=user, home=home, exists=bool(host.get_fact(File, path=public_key)),
    )
