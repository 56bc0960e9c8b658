"""Base packages and the deploy's own state directory."""

from pyinfra import host
from pyinfra.facts.deb import DebPackages

from deploylib import managed_paths
from deploylib.facts import cached_fact
from deploylib.operations import packages, paths

settings = host.data.settings

packages.apt_present(
    name="Base packages",
    packages=settings.base_packages,
    installed=cached_fact(host, DebPackages),
)

paths.directory(
    name="Deploy state directory",
    path=settings.deploy_state_dir,
    user="root",
    group="root",
    mode="700",
    current=managed_paths.state(host, settings).get(settings.deploy_state_dir),
)
