"""Bootstrap: PostgreSQL from the distribution (with pgvector where packaged), ufw, git,
rsync and the other host packages."""

from pyinfra import host

from deploylib.operations import packages, system

settings = host.data.settings

packages.apt_present(
    name="Bootstrap packages (" + ", ".join(settings.bootstrap_packages) + ")",
    packages=list(settings.bootstrap_packages),
    recommends=True,
)

system.pgvector_if_packaged(name="pgvector, where the distribution packages it")
