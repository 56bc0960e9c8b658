"""Bootstrap: the user deploy.py connects as: the operator's SSH key, the docker group,
passwordless sudo (a rule checked with visudo before it is installed)."""

from pyinfra import host
from pyinfra.operations import server

from deploylib import backup_hosts, bootstrap
from deploylib.model.bootstrap import SUDOERS_FILE, sudoers_rule
from deploylib.operations import system

settings = host.data.settings
user = settings.deploy_user
key = bootstrap.read_public_key(
    settings.deploy_user_public_key_file, host.name, settings.source("deploy_user_public_key_file")
)

# A backup host runs no containers: no docker group there.
docker = [] if backup_hosts.is_backup_host(host) else ["docker"]
server.user(
    name=f"Deploy user {user} ({'docker group, ' if docker else ''}SSH key)",
    user=user,
    shell="/bin/bash",
    home=f"/home/{user}",
    create_home=True,
    groups=docker,
    append=True,
    public_keys=[key],
)

system.sudoers_file(
    name=f"Passwordless sudo for {user} ({SUDOERS_FILE})",
    path=SUDOERS_FILE,
    content=sudoers_rule(user),
)
