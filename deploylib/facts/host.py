"""Facts about the host itself."""

from __future__ import annotations

from pyinfra.api import FactBase


class ServiceManager(FactBase):
    """
    Returns the init system that controls services: ``systemd`` when systemd is
    PID 1 (``/run/systemd/system`` exists), otherwise ``sysvinit`` (the
    ``service`` command and /etc/init.d scripts). Having ``systemctl`` installed
    is not enough: containers and the sandbox have it without systemd running.
    """

    def command(self) -> str:
        return (
            "if [ -d /run/systemd/system ]; then echo systemd; "
            "elif command -v openrc >/dev/null 2>&1; then echo openrc; "
            "else echo sysvinit; fi"
        )

    def process(self, output: list[str]) -> str:
        return output[0].strip() if output else "sysvinit"
