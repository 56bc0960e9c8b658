"""Bootstrap: Docker Engine and the compose plugin from the distribution, dockerd running
where systemd controls services."""

from pyinfra import host
from pyinfra.operations import systemd

from deploylib import bootstrap, notices
from deploylib.facts import cached_fact
from deploylib.facts.host import ServiceManager
from deploylib.operations import packages

settings = host.data.settings
docker_packages = bootstrap.host_docker_packages(host, settings)

packages.apt_present(name=f"Docker packages ({', '.join(docker_packages)})", packages=docker_packages,
                     recommends=True)

manager = cached_fact(host, ServiceManager)
if manager == "systemd":
    systemd.service(
        name="Docker service running and enabled",
        service="docker",
        running=True,
        enabled=True,
    )
else:
    notices.add(
        host,
        f"services here are not run by systemd ({manager}): dockerd is installed but not started "
        "by this deploy. Start it the way this host starts services (e.g. service docker start).",
    )
