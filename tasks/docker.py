"""Bootstrap: Docker Engine and the compose plugin from the distribution, dockerd running
where systemd controls services."""

from pyinfra import host
from pyinfra.facts.deb import DebPackages
from pyinfra.facts.server import LinuxDistribution
from pyinfra.operations import apt, systemd

from deploylib import bootstrap, notices
from deploylib.facts.host import ServiceManager

settings = host.data.settings
packages = bootstrap.docker_packages(
    settings.docker_packages, host.get_fact(LinuxDistribution).get("name")
)
installed = host.get_fact(DebPackages)

apt.packages(
    name=f"Docker packages ({', '.join(packages)})",
    packages=packages,
    update=any(name not in installed for name in packages),
)

manager = host.get_fact(ServiceManager)
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
