"""The Docker engine's packages."""

from __future__ import annotations

import shlex

from pyinfra import host
from pyinfra.api import StringCommand, operation

from ..model import compose


@operation()
def engine_packages(packages: list, installed: dict, docker_cli: bool):
    """
    Install ``packages`` with apt (no recommends) when one is missing, or when
    the ``docker`` CLI is: then ``docker-cli`` too where the distribution
    packages it apart from docker.io (Debian 13), decided on the host after
    ``apt-get update`` (the package lists may be absent at plan time).

    + installed: the ``DebPackages`` fact
    + docker_cli: whether the ``docker`` command exists (``DockerEngine`` fact)
    """
    missing = [name for name in packages if name not in installed]
    if not missing and docker_cli:
        host.noop(f"{', '.join(packages)} installed")
        return
    names = " ".join(shlex.quote(name) for name in packages)
    script = (
        "set -e; export DEBIAN_FRONTEND=noninteractive; apt-get update -q\n"
        + compose.candidate_check_script(packages)
        + "\nextra=; "
        "if ! command -v docker >/dev/null 2>&1 && "
        "apt-cache show docker-cli 2>/dev/null | grep -q '^Package: docker-cli'; then extra=docker-cli; fi; "
        "apt-get install -y -q --no-install-recommends -o Dpkg::Options::=--force-confdef "
        f"-o Dpkg::Options::=--force-confold -- {names} $extra"
    )
    yield StringCommand("bash", "-c", shlex.quote(script))
