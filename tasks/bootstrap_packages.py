"""Bootstrap: PostgreSQL from the distribution (with pgvector where packaged), ufw, git,
rsync and the other host packages."""

from pyinfra import host
from pyinfra.facts.deb import DebPackages
from pyinfra.operations import apt

from deploylib.facts import cached_fact
from deploylib.operations import system

settings = host.data.settings
packages = list(settings.bootstrap_packages)
installed = cached_fact(host, DebPackages)

apt.packages(
    name="Bootstrap packages (" + ", ".join(packages) + ")",
    packages=packages,
    update=any(name not in installed for name in packages),
)

system.pgvector_if_packaged(name="pgvector, where the distribution packages it")
