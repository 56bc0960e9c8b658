"""Distribution packages, asking the host once (host code: a pyinfra operation)."""

from __future__ import annotations

import shlex

from pyinfra import host
from pyinfra.api import OperationError, operation

from .. import announce, managed_paths
from ..pyinfra_compat import replayable

# pyinfra's apt.packages asks the DebPackages fact (every installed package: a remote command of
# its own on every run); apt_present asks the one DebInstalled fact of every package the deploy
# may install (managed_paths.packages_request), part of the run's one remote command.


@operation()
@replayable
def apt_present(packages: list[str], recommends: bool = False):
    """
    Install the Debian/Ubuntu ``packages`` that are not installed, refreshing the
    package lists first only then; with ``recommends``, their recommended packages too
    (as apt does by default: bootstrap's packages).
    """
    installed = installed_packages(packages)
    missing = [name for name in packages if name not in installed]
    if not missing:
        host.noop(f"packages installed: {', '.join(packages)}")
        return
    announce.will(host, f"install packages: {', '.join(missing)}")
    yield apt_install_command(missing, recommends)
    yield announce.did(host, f"installed packages: {', '.join(missing)}")


# Another apt (unattended-upgrades, an interrupted run's apt-get still finishing) holds dpkg's
# lock for a while: wait for it rather than fail.
APT_LOCK_WAIT = "-o DPkg::Lock::Timeout=300"


def apt_install_command(packages: list[str], recommends: bool = False) -> str:
    """Refresh the package lists, install ``packages`` (after --: never read as options). A
    config file already on the host is kept, never asked about (as pyinfra's apt.packages and
    docker.engine_packages do: docker.io's /etc/default/docker, ...)."""
    no_recommends = "" if recommends else "--no-install-recommends "
    return (
        f"export DEBIAN_FRONTEND=noninteractive; apt-get {APT_LOCK_WAIT} update -q && "
        f"apt-get {APT_LOCK_WAIT} install -y -q {no_recommends}-o Dpkg::Options::=--force-confdef "
        f"-o Dpkg::Options::=--force-confold -- {' '.join(map(shlex.quote, packages))}"
    )


def installed_packages(packages: list[str]) -> dict:
    """{package: version} of the installed ones among the deploy's packages; a name
    ``managed_paths.packages_request`` does not ask about is refused (it would look
    missing, and be installed again, on every run)."""
    settings = host.data.settings
    _, request = managed_paths.packages_request(settings)
    unknown = sorted(set(packages) - set(request["packages"]))
    if unknown:
        raise OperationError(
            f"package(s) {', '.join(unknown)} not asked about: add them to packages_request() "
            "in deploylib/managed_paths.py"
        )
    return managed_paths.installed_packages(host, settings)
