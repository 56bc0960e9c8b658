"""The host firewall: which tool it uses, its state and the deploy's own rules."""

from __future__ import annotations

import base64
import shlex

from pyinfra.api import FactBase

from ..firewall import (
    FIREWALLD_IPSETS,
    NFT_FILE,
    NFT_MAIN_CONF,
    NFT_TABLE,
    FirewalldState,
    UfwState,
    parse_firewall_host,
    parse_firewalld_state,
    parse_ufw_state,
)

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
    r"""
export LC_ALL=C PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
if command -v ufw >/dev/null 2>&1; then
    printf 'ufw\t%s\n' "$(ufw status 2>/dev/null | sed -n 's/^Status: //p')"
fi
if command -v firewall-cmd >/dev/null 2>&1; then
    printf 'firewalld\t%s\n' "$(firewall-cmd --state 2>/dev/null)"
fi
command -v nft >/dev/null 2>&1 && echo nft
if [ -d /run/systemd/system ]; then echo "manager	systemd"; else echo "manager	sysvinit"; fi
ss -Hltnp 2>/dev/null | sed 's/^/listen\t/'
"""
    + SSH_CONNECTION
    + "exit 0\n"
)


class FirewallHost(FactBase):
    """
    Returns a ``deploylib.firewall.FirewallInfo``: whether ufw is installed and
    active, whether firewalld is installed and running, whether nft exists,
    the service manager, this SSH connection (client address, server port;
    found in an ancestor process when sudo dropped it) and the TCP listeners
    (``ss -ltnp``).
    """

    def command(self) -> str:
        return "bash -c " + shlex.quote(HOST_SCRIPT)

    def process(self, output: list[str]):
        return parse_firewall_host(output)


UFW_SCRIPT = r"""
export LC_ALL=C PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
command -v ufw >/dev/null 2>&1 || exit 0
echo installed
printf 'status\t%s\n' "$(ufw status | sed -n 's/^Status: //p')"
[ -f /etc/default/ufw ] && sed -n 's/^IPV6=/ipv6\t/p' /etc/default/ufw
for name in user user6; do
    [ -f /etc/ufw/$name.rules ] && printf '%s\t%s\n' "$name" "$(base64 -w0 < /etc/ufw/$name.rules)"
done
exit 0
"""


class UfwRules(FactBase):
    """
    Returns a ``deploylib.firewall.UfwState``: installed, active, IPv6 on and every
    rule of /etc/ufw/user.rules and
    user6.rules, in order (the files ufw itself keeps the added rules in).
    """

    def command(self) -> str:
        return "bash -c " + shlex.quote(UFW_SCRIPT)

    def process(self, output: list[str]) -> UfwState:
        return parse_ufw_state(output)


NFT_SCRIPT = f"""
export LC_ALL=C PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
command -v nft >/dev/null 2>&1 && echo installed
if nft list table inet {NFT_TABLE} > /tmp/.hod-nft.$$ 2>/dev/null; then
    printf 'live\\t%s\\n' "$(base64 -w0 < /tmp/.hod-nft.$$)"
fi
rm -f /tmp/.hod-nft.$$
[ -f {NFT_FILE} ] && printf 'file\\t%s\\n' "$(base64 -w0 < {NFT_FILE})"
[ -f {NFT_MAIN_CONF} ] && printf 'main\\t%s\\n' "$(base64 -w0 < {NFT_MAIN_CONF})"
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    printf 'service\\t%s\\n' "$(systemctl is-enabled nftables 2>/dev/null)"
fi
exit 0
"""


class NftTable(FactBase):
    """
    Returns a dict: ``installed`` (nft exists), ``live`` (``nft list table inet
    hatchet_owlclaw_deploy`` or None when not loaded), ``file`` (our rules file
    or None), ``main`` (/etc/nftables.conf or None), ``service`` (``systemctl
    is-enabled nftables`` under systemd, else None).
    """

    def command(self) -> str:
        return "bash -c " + shlex.quote(NFT_SCRIPT)

    def process(self, output: list[str]) -> dict:
        found = {"installed": False, "live": None, "file": None, "main": None, "service": None}
        for line in output:
            tag, _, rest = line.partition("\t")
            if tag == "installed":
                found["installed"] = True
            elif tag in ("live", "file", "main"):
                found[tag] = base64.b64decode(rest.strip()).decode("utf-8", "replace")
            elif tag == "service":
                found["service"] = rest.strip()
        return found


FIREWALLD_SCRIPT = (
    r"""
export LC_ALL=C PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
command -v firewall-cmd >/dev/null 2>&1 || exit 0
echo installed
if [ "$(firewall-cmd --state 2>/dev/null)" = running ]; then
    echo "state	running"; fw="firewall-cmd --permanent"; zone=$(firewall-cmd --get-default-zone)
else
    echo "state	stopped"; fw="firewall-offline-cmd"; zone=$(firewall-offline-cmd --get-default-zone)
fi
printf 'zone\t%s\n' "$zone"
$fw --zone="$zone" --list-rich-rules | sed 's/^/rich\t/'
printf 'services\t%s\n' "$($fw --zone="$zone" --list-services)"
printf 'ports\t%s\n' "$($fw --zone="$zone" --list-ports)"
for ipset in __IPSETS__; do
    if $fw --get-ipsets | tr ' ' '\n' | grep -qx "$ipset"; then
        printf 'ipset\t%s\t%s\n' "$ipset" "$($fw --ipset="$ipset" --get-entries | tr '\n' ' ')"
    fi
done
exit 0
"""
).replace("__IPSETS__", " ".join(FIREWALLD_IPSETS.values()))


class FirewalldRules(FactBase):
    """
    Returns a ``deploylib.firewall.FirewalldState``: installed, running, the
    default zone, its rich rules, services and ports (permanent configuration;
    read with firewall-offline-cmd while firewalld is stopped) and the entries
    of the deploy's ipsets.
    """

    def command(self) -> str:
        return "bash -c " + shlex.quote(FIREWALLD_SCRIPT)

    def process(self, output: list[str]) -> FirewalldState:
        return parse_firewalld_state(output)
