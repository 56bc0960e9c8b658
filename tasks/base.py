"""Base packages and the deploy's own state directory."""

from pyinfra import host

from deploylib import managed_paths
from deploylib.operations import packages, paths

settings = host.data.settings

# Everything later tasks ask about the host, in one remote command.
managed_paths.prefetch_host_facts(host, settings)

packages.apt_present(name="Base packages", packages=settings.base_packages)

paths.directory(
    name="Deploy state directory",
    path=settings.deploy_state_dir,
    user="root",
    group="root",
    mode="700",
)
