"""Facts of the host firewall (host code: pyinfra facts; the scripts and parsers are the
backends' own, in the pure package deploylib.model.firewall)."""

from __future__ import annotations

import shlex

from pyinfra.api import FactBase

from ..model import shell
from ..model.firewall import registry
from ..model.firewall.common import parse_firewall_host
from ..model.tagged import Tagged

# Each backend's detection, as the function firewall_host.sh calls first.
DETECT_FUNCTION = f"detect_firewalls() {{\n{registry.detect_script()}\ntrue\n}}\n"


class FirewallHost(FactBase):
    """
    Returns a ``deploylib.model.firewall.FirewallInfo``: the firewall tools each backend's
    detection found (ufw installed and active, firewalld installed and running, nft),
    the service manager, this SSH connection (client address, server port; found in an
    ancestor process when sudo dropped it) and the TCP listeners (``ss -ltnp``).
    """

    def command(self) -> str:
        return shell.script("firewall_host", functions=DETECT_FUNCTION)

    def process(self, output: list[str]):
        return parse_firewall_host(output)


class FirewallState(FactBase):
    """
    Returns the state of one backend's rules (``backend``: a ``firewall_backend``
    name), as its module parses it: ``UfwState``, ``NftState``, ``FirewalldState``.
    """

    def command(self, backend: str) -> str:
        # The first line names the backend, so process() (which gets no arguments) can parse.
        script = registry.get(backend).READ_SCRIPT
        return f"printf 'backend\\t%s\\n' {shlex.quote(backend)}; {shell.with_common(script)}"

    def process(self, output: list[str]):
        name = Tagged.parse(output[0]).value.strip()
        return registry.get(name).parse_state(output[1:])
