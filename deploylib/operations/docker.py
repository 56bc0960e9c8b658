"""The Docker engine's packages (host code: a pyinfra operation; may import the model)."""

from __future__ import annotations

import shlex

from pyinfra import host
from pyinfra.api import StringCommand, operation

from .. import managed_paths
from ..model import compose, shell
from .packages import installed_packages
from ..pyinfra_compat import replayable


@operation()
@replayable
def engine_packages(packages: list):
    """
    Install ``packages`` with apt (no recommends) when one is missing, or when
    the ``docker`` CLI is: then ``docker-cli`` too where the distribution
    packages it apart from docker.io (Debian 13), decided on the host after
    ``apt-get update`` (the package lists may be absent at plan time).
    """
    installed = installed_packages(packages)
    docker_cli = bool(managed_paths.docker_engine(host, host.data.settings).docker)
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
        "apt_has_package docker-cli; then extra=docker-cli; fi; "
        "apt-get install -y -q --no-install-recommends -o Dpkg::Options::=--force-confdef "
        f"-o Dpkg::Options::=--force-confold -- {names} $extra"
    )
    yield StringCommand(shell.with_common(script))
