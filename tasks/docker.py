"""The Docker engine and compose v2, from the distribution's packages, running."""

from pyinfra import host
from pyinfra.api.exceptions import DeployError
from pyinfra.operations import systemd, sysvinit

from deploylib import managed_paths
from deploylib.bootstrap import host_docker_packages
from deploylib.facts import cached_fact
from deploylib.facts.host import ServiceManager
from deploylib.model import compose
from deploylib.operations import app
from deploylib.operations import docker as docker_ops

settings = host.data.settings

if compose.app_enabled(settings):
    docker = managed_paths.docker_engine(host, settings)
    packages = compose.docker_packages(host_docker_packages(host, settings), docker)
    try:
        # Refuse before anything is installed when compose v2 cannot be had.
        compose.compose_prefix(docker, packages)
    except compose.ComposeUnavailable as error:
        raise DeployError(f"{host.name}: {error}")

    docker_ops.engine_packages(name="Docker engine and compose packages", packages=packages)

    app.compose_v2(name="Compose v2 installed")

    if cached_fact(host, ServiceManager) == "systemd":
        systemd.service(name="Docker engine running", service="docker", running=True, enabled=True)
    else:
        sysvinit.service(name="Docker engine running", service="docker", running=True)
