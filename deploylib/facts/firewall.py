"""Facts of the host firewall (host code: pyinfra facts; the scripts and parsers are the
backends' own, in the pure package deploylib.model.firewall)."""

from __future__ import annotations

import shlex

from pyinfra.api import FactBase

from ..model.firewall import registry
from ..model.firewall.common import parse_firewall_host

# $SSH_CONNECTION of this session: ours, or the nearest ancestor's (sudo drops
# it from the environment; root can read every ancestor's /proc/<pid>/environ).
SSH_CONNECTION = r"""
conn=${SSH_CONNECTION:-}
pid=$$
while [ -z "$conn" ] && [ "${pid:-1}" -gt 1 ]; do
    conn=$(tr '\0' '\n' < /proc/$pid/environ 2>/dev/null | sed -n 's/^SSH_CONNECTION=//p' | head -n1)
    pid=$(awk '{print $4}' /proc/$pid/stat 2>/dev/null)
done
[ -n "$conn" ] && printf 'ssh_connection\t%s\n' "$conn"
"""

HOST_SCRIPT = (
    "\nexport LC_ALL=C PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    + registry.detect_script()
    + r"""if [ -d /run/systemd/system ]; then echo "manager	systemd"; else echo "manager	sysvinit"; fi
ss -Hltnp 2>/dev/null | sed 's/^/listen\t/'
"""
    + SSH_CONNECTION
    + "exit 0\n"
)


class FirewallHost(FactBase):
    """
    Returns a ``deploylib.model.firewall.FirewallInfo``: the firewall tools each backend's
    detection found (ufw installed and active, firewalld installed and running, nft),
    the service manager, this SSH connection (client address, server port; found in an
    ancestor process when sudo dropped it) and the TCP listeners (``ss -ltnp``).
    """

    def command(self) -> str:
        return "bash -c " + shlex.quote(HOST_SCRIPT)

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
        return f"printf 'backend\\t%s\\n' {shlex.quote(backend)}; bash -c {shlex.quote(script)}"

    def process(self, output: list[str]):
        name = output[0].partition("\t")[2].strip()
        return registry.get(name).parse_state(output[1:])
