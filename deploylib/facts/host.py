"""Facts about the host itself (host code: pyinfra facts; may import the model)."""

from __future__ import annotations

import shlex

from pyinfra.api import FactBase

from ..model import shell
from ..model.tagged import tagged


class ServiceManager(FactBase):
    """
    Returns the init system that controls services: ``systemd`` when systemd is
    PID 1 (``/run/systemd/system`` exists), otherwise ``sysvinit`` (the
    ``service`` command and /etc/init.d scripts). Having ``systemctl`` installed
    is not enough: containers and the sandbox have it without systemd running.
    """

    def command(self) -> str:
        return shell.script("service_manager")

    def process(self, output: list[str]) -> str:
        return output[0].strip() if output else "sysvinit"


class DistributionPostgres(FactBase):
    """
    Returns ``{"major": int | None, "pgvector": str | None, "pgvector_installed": bool,
    "apt_lists": bool}``: the PostgreSQL major version installed (newest under
    /usr/lib/postgresql), else the one the distribution's ``postgresql`` package
    would install; the name of its pgvector package when the host's apt lists
    have it, and whether it is installed; whether there are apt lists at all (a
    fresh host may have none until ``apt-get update``).
    """

    def command(self) -> str:
        return shell.script("distribution_postgres")

    def process(self, output: list[str]) -> dict:
        found: dict = {"major": None, "pgvector": None, "pgvector_installed": False, "apt_lists": False}
        for line in output:
            key, _, value = line.strip().partition(" ")
            if key == "major" and value.isdigit():
                found["major"] = int(value)
            elif key == "pgvector" and value:
                found["pgvector"] = value
            elif key in ("pgvector_installed", "apt_lists"):
                found[key] = value == "yes"
        return found


class DebInstalled(FactBase):
    """
    Returns ``{package: version}`` for those of ``packages`` that are installed
    (dpkg status "ii"). Asks dpkg about these names only: cheaper than listing
    every package (pyinfra's DebPackages).
    """

    def command(self, packages=()) -> str:
        names = " ".join(shlex.quote(name) for name in packages)
        return (
            f"dpkg-query -W -f '${{Package}}\\t${{db:Status-Abbrev}}\\t${{Version}}\\n' {names} "
            "2>/dev/null; true"
        )

    @staticmethod
    def default() -> dict:
        return {}

    def process(self, output: list[str]) -> dict[str, str]:
        installed = {}
        # "<package>\t<status>\t<version>": the package name in the tag's place.
        for item in tagged(output):
            name, (status, version) = item.tag, item.fields(2)
            if status.startswith("ii"):
                installed[name] = version
        return installed


class NetworkInterfaces(FactBase):
    """
    Returns a ``reachability.HostNetworks``: the host's addresses (interface, CIDR) and
    routes (destination, interface), from ``ip -o``; empty without iproute2. IPv6 routes
    only with ``ipv6_routes``.
    """

    def command(self, ipv6_routes: bool = True) -> str:
        # Addresses and IPv4 routes from one ip process (-batch; -force: on after a failed
        # line), IPv6 routes from another (-6 is a global option, not a batch line's).
        ipv6 = "ip -o -6 route show 2>/dev/null; " if ipv6_routes else ""
        return f"printf 'addr show\\nroute show\\n' | ip -o -force -batch - 2>/dev/null; {ipv6}true"

    @staticmethod
    def default():
        from ..model.reachability import HostNetworks

        return HostNetworks()

    def process(self, output: list[str]):
        from ..model.reachability import parse_ip_output

        return parse_ip_output(output)
