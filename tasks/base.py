"""Base packages and the deploy's own state directory."""

from pyinfra import host
from pyinfra.facts.deb import DebPackages
from pyinfra.operations import apt, files

settings = host.data.settings

installed = host.get_fact(DebPackages)
missing = [name for name in settings.base_packages if name not in installed]

apt.packages(
    name="Base packages",
    packages=settings.base_packages,
    # Refresh the package lists only when something has to be installed.
    update=bool(missing),
)

files.directory(
    name="Deploy state directory",
    path=settings.deploy_state_dir,
    user="root",
    group="root",
    mode="700",
)
