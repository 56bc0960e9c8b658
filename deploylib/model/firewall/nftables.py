"""The nftables firewall backend (pure: imports nothing of pyinfra; only deploylib.model.firewall.common).

The deploy's rules: the table ``inet hatchet_owlclaw_deploy`` whose input chain
only concerns the port (policy accept: it cannot block anything else), in
/etc/nftables.d/hatchet-owlclaw-deploy.nft, loaded with ``nft -f`` (atomic;
other tables untouched). Not yet per environment: one table per host.
"""

from __future__ import annotations

import base64
import ipaddress
from dataclasses import dataclass

from ..tagged import tagged
from .common import TAG, FirewallInfo, FirewallPlanError, Plan, Upload, Wanted, family, ssh_ports

NAME = "nftables"
TOOL = "nft"
PACKAGE = "nftables"  # the Debian package the deploy installs for this backend
READ_BEFORE_CHOICE = True  # one table and two files

NFT_TABLE = "hatchet_owlclaw_deploy"
NFT_FILE = "/etc/nftables.d/hatchet-owlclaw-deploy.nft"
NFT_MAIN_CONF = "/etc/nftables.conf"

# --------------------------------------------------------------------------- detect

# A part of the host fact's script: `nft` when nft is installed.
DETECT_SCRIPT = """
command -v nft >/dev/null 2>&1 && echo nft
"""


def detect(fw: FirewallInfo) -> int | None:
    """auto's rank: last (3), when nothing else is there but nft."""
    return 3 if fw.installed(TOOL) else None


# --------------------------------------------------------------------------- read

# Run after deploylib/facts/sh/common.sh's functions (systemd_runs), as every fact script.
READ_SCRIPT = f"""
export LC_ALL=C PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
command -v nft >/dev/null 2>&1 && echo installed
if nft list table inet {NFT_TABLE} > /tmp/.hod-nft.$$ 2>/dev/null; then
    printf 'live\\t%s\\n' "$(base64 -w0 < /tmp/.hod-nft.$$)"
fi
rm -f /tmp/.hod-nft.$$
[ -f {NFT_FILE} ] && printf 'file\\t%s\\n' "$(base64 -w0 < {NFT_FILE})"
[ -f {NFT_MAIN_CONF} ] && printf 'main\\t%s\\n' "$(base64 -w0 < {NFT_MAIN_CONF})"
if command -v systemctl >/dev/null 2>&1 && systemd_runs; then
    printf 'service\\t%s\\n' "$(systemctl is-enabled nftables 2>/dev/null)"
fi
exit 0
"""


@dataclass
class NftState:
    installed: bool = False  # nft exists
    live: str | None = None  # `nft list table inet hatchet_owlclaw_deploy`; None: not loaded
    file: str | None = None  # our rules file; None: absent
    main: str | None = None  # /etc/nftables.conf; None: absent
    service: str | None = None  # `systemctl is-enabled nftables` under systemd, else None


def parse_state(lines: list[str]) -> NftState:
    found = NftState()
    for tag, rest in tagged(lines):
        if tag == "installed":
            found.installed = True
        elif tag in ("live", "file", "main"):
            setattr(found, tag, base64.b64decode(rest.strip()).decode("utf-8", "replace"))
        elif tag == "service":
            found.service = rest.strip()
    return found


# --------------------------------------------------------------------------- plan


def _nft_address(network: str) -> str:
    net = ipaddress.ip_network(network, strict=False)
    return str(net.network_address) if net.prefixlen == net.max_prefixlen else str(net)


def render_nft_table(sources: list[str], port: int) -> str:
    """The table exactly as `nft list table` prints it back (so the two compare)."""
    lines = [
        f"table inet {NFT_TABLE} {{",
        f'\tcomment "managed by {TAG}: tcp port {int(port)} only from the configured sources"',
        "\tchain input {",
        "\t\ttype filter hook input priority filter - 10; policy accept;",
        '\t\tiif "lo" accept',
    ]
    for source in sources:
        keyword = "ip" if family(source) == 4 else "ip6"
        lines.append(f"\t\ttcp dport {int(port)} {keyword} saddr {_nft_address(source)} accept")
    lines += [f"\t\ttcp dport {int(port)} drop", "\t}", "}"]
    return "\n".join(lines) + "\n"


def render_nft_file(sources: list[str], port: int) -> str:
    """A file for `nft -f`: replaces our table atomically, touches nothing else."""
    return (
        f"# Managed by {TAG}: PostgreSQL (tcp {int(port)}) reachable only from the configured\n"
        "# sources and loopback. Rewritten by every deploy run; other tables are not touched.\n"
        f"table inet {NFT_TABLE}\n"
        f"delete table inet {NFT_TABLE}\n" + render_nft_table(sources, port)
    )


def normalize_nft(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def nft_include_line(path: str = NFT_FILE) -> str:
    return f'include "{path}"'


def has_include(conf_text: str, path: str = NFT_FILE) -> bool:
    return any(line.strip() == nft_include_line(path) for line in conf_text.splitlines())


def plan(state: NftState, fw: FirewallInfo, wanted: Wanted) -> Plan:
    """Loopback and the sources accepted on the port, everyone else dropped. The table
    is loaded when already live or when ``wanted.enable``; ``enable`` also includes it
    from /etc/nftables.conf and enables the nftables service (systemd), so it survives
    a reboot."""
    port = wanted.port
    if port in ssh_ports(fw, wanted.ssh_port):
        raise FirewallPlanError(f"nftables: PostgreSQL port {port} is the SSH port; refusing to drop it")
    wanted_file = render_nft_file(wanted.sources, port)
    wanted_table = render_nft_table(wanted.sources, port)
    loaded = state.live is not None
    commands: list = []
    messages: list[str] = []
    if state.file != wanted_file:
        commands.append(f"mkdir -p {NFT_FILE.rsplit('/', 1)[0]}")
        commands.append(Upload(wanted_file, NFT_FILE))
    if (loaded or wanted.enable) and (
        not loaded or normalize_nft(state.live) != normalize_nft(wanted_table)
    ):
        commands.append(f"nft -f {NFT_FILE}")
    if wanted.enable:
        if not has_include(state.main or ""):
            if state.main is None:
                commands.append(f"printf '#!/usr/sbin/nft -f\\n' > {NFT_MAIN_CONF}")
            commands.append(f"printf '\\n# added by {TAG}\\n%s\\n' '{nft_include_line()}' >> {NFT_MAIN_CONF}")
        if fw.service_manager == "systemd" and state.service != "enabled":
            commands.append("systemctl enable nftables")
    elif not loaded:
        messages.append(
            f"nftables: the PostgreSQL rules are written to {NFT_FILE} but not loaded "
            "(set firewall_enable = True, or `nft -f` the file)"
        )
    if state.file != wanted_file:
        rule_set = (NFT_FILE, state.file, wanted_file)
    else:  # the file is right, the loaded table is not
        rule_set = (f"nftables table inet {NFT_TABLE} (loaded)", state.live, wanted_table)
    return Plan(commands, messages, f"nftables table {NFT_TABLE} for tcp/{port} is up to date", rule_set)
