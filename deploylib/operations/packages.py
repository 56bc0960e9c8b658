"""Distribution packages, asking the host once (host code: a pyinfra operation)."""

from __future__ import annotations

import shlex

from pyinfra import host
from pyinfra.api import operation

from .. import announce


@operation()
def apt_present(packages: list[str], installed: dict):
    """
    Install the Debian/Ubuntu ``packages`` missing from ``installed`` (the
    DebPackages fact), refreshing the package lists first only then.
    """
    missing = [name for name in packages if name not in installed]
    if not missing:
        host.noop(f"packages installed: {', '.join(packages)}")
        return
    announce.will(host, f"install packages: {', '.join(missing)}")
    yield apt_install_command(missing)
    yield announce.did(host, f"installed packages: {', '.join(missing)}")


def apt_install_command(packages: list[str]) -> str:
    """Refresh the package lists, install ``packages`` (after --: never read as options)."""
    return (
        "export DEBIAN_FRONTEND=noninteractive; apt-get update -q && "
        f"apt-get install -y -q --no-install-recommends -- {' '.join(map(shlex.quote, packages))}"
    )
