"""The firewalld firewall backend (pure: imports nothing of pyinfra; only deploylib.model.firewall.common).

The deploy's rules: ipsets ``hatchet-owlclaw-deploy-v4``/``-v6`` holding the
sources and one rich rule per family accepting the port from that ipset, in the
default zone's permanent configuration; the zone's target (default: reject)
closes the port to everyone else. Not yet per environment: one pair of ipsets per host.
"""

from __future__ import annotations

import ipaddress
import shlex
from dataclasses import dataclass, field

from ..tagged import tagged
from .common import TAG, FirewallInfo, FirewallPlanError, Plan, Wanted, family, refuse_blocking, ssh_ports

NAME = "firewalld"
TOOL = "firewalld"
PACKAGE = None  # never installed by the deploy (installing it starts it with its own zone)
# Read only once chosen: firewall-offline-cmd (a stopped firewalld) takes seconds.
READ_BEFORE_CHOICE = False

FIREWALLD_IPSETS = {4: f"{TAG}-v4", 6: f"{TAG}-v6"}

# --------------------------------------------------------------------------- detect

# A part of the host fact's script: `firewalld\t<state>` when firewall-cmd is installed.
DETECT_SCRIPT = r"""
if command -v firewall-cmd >/dev/null 2>&1; then
    printf 'firewalld\t%s\n' "$(firewall-cmd --state 2>/dev/null)"
fi
"""


def detect(fw: FirewallInfo) -> int | None:
    """auto's rank: a running firewalld (1) comes after an active ufw, before an inactive one."""
    return 1 if fw.status(TOOL) == "running" else None


# --------------------------------------------------------------------------- read

# The permanent configuration (firewall-offline-cmd while firewalld is stopped).
READ_SCRIPT = (
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


@dataclass
class FirewalldState:
    installed: bool = False
    running: bool = False
    zone: str = "public"
    ipsets: dict[str, list[str]] = field(default_factory=dict)  # our ipset name -> entries
    rich_rules: list[str] = field(default_factory=list)
    services: list[str] = field(default_factory=list)
    ports: list[str] = field(default_factory=list)  # "22/tcp"


def parse_firewalld_state(lines: list[str]) -> FirewalldState:
    state = FirewalldState()
    for item in tagged(lines):
        tag, rest = item
        if tag == "installed":
            state.installed = True
        elif tag == "state":
            state.running = rest.strip() == "running"
        elif tag == "zone" and rest.strip():
            state.zone = rest.strip()
        elif tag == "ipset":
            name, entries = item.fields(2)
            state.ipsets[name] = entries.split()
        elif tag == "rich":
            state.rich_rules.append(rest.strip())
        elif tag == "services":
            state.services = rest.split()
        elif tag == "ports":
            state.ports = rest.split()
    return state


def firewalld_rich_rule(version: int, port: int) -> str:
    return (
        f'rule family="ipv{version}" source ipset="{FIREWALLD_IPSETS[version]}" '
        f'port port="{int(port)}" protocol="tcp" accept'
    )


def plan_firewalld(
    state: FirewalldState, sources: list[str], port: int, ssh_ports: list[int], enable: bool
) -> list[str]:
    """firewall-cmd commands (firewall-offline-cmd while firewalld is stopped).

    Permanent configuration only, then one ``--reload`` when running (ipsets
    cannot be created at runtime). The zone is the default zone; its target
    (default: reject) closes the port to everyone not in our ipsets.
    """
    tool = "firewall-cmd --permanent" if state.running else "firewall-offline-cmd"
    zone = shlex.quote(state.zone)
    commands: list[str] = []
    if not state.running and enable:
        # SSH first: the zone must let this connection's port in before firewalld starts.
        for ssh_port in ssh_ports:
            if not (ssh_port == 22 and "ssh" in state.services) and f"{ssh_port}/tcp" not in state.ports:
                commands.append(f"{tool} --zone={zone} --add-port={int(ssh_port)}/tcp")
    for version, ipset in FIREWALLD_IPSETS.items():
        wanted = [str(ipaddress.ip_network(s)) for s in sources if family(s) == version]
        if ipset not in state.ipsets:
            inet = "inet" if version == 4 else "inet6"
            commands.append(f"{tool} --new-ipset={ipset} --type=hash:net --option=family={inet}")
            current: list[str] = []
        else:
            current = state.ipsets[ipset]
        for entry in current:
            if entry not in wanted:
                commands.append(f"{tool} --ipset={ipset} --remove-entry={entry}")
        for entry in wanted:
            if entry not in current:
                commands.append(f"{tool} --ipset={ipset} --add-entry={entry}")
        rule = firewalld_rich_rule(version, port)
        for existing in state.rich_rules:
            if f'ipset="{ipset}"' in existing and existing != rule:
                commands.append(f"{tool} --zone={zone} --remove-rich-rule={shlex.quote(existing)}")
        if rule not in state.rich_rules:
            commands.append(f"{tool} --zone={zone} --add-rich-rule={shlex.quote(rule)}")
    if state.running and commands:
        commands.append("firewall-cmd --reload")
    if enable and not state.running:
        commands.append("systemctl enable --now firewalld")
    return commands


# --------------------------------------------------------------------------- plan


def parse_state(lines: list[str]) -> FirewalldState:
    return parse_firewalld_state(lines)


def plan(state: FirewalldState, fw: FirewallInfo, wanted: Wanted) -> Plan:
    """Reloads when running; with ``wanted.enable``, a stopped firewalld gets the SSH
    port allowed first, then is enabled and started (unless that would cut off
    another service listening on a public address)."""
    if not state.installed:
        raise FirewallPlanError(
            "firewall_backend is 'firewalld' but firewalld is not installed; install and "
            "configure it first (installing it starts it with its own default zone)"
        )
    port = wanted.port
    ports = ssh_ports(fw, wanted.ssh_port)
    if wanted.enable and not state.running:
        refuse_blocking(fw, {port, *ports}, "firewalld")
    messages = []
    if not wanted.enable and not state.running:
        messages.append(
            "firewalld is stopped: the PostgreSQL rules take effect once it runs (firewall_enable)"
        )
    commands = plan_firewalld(state, wanted.sources, port, ports, wanted.enable)
    return Plan(commands, messages, f"firewalld rules for tcp/{port} are up to date",
                rule_set_diff(state, wanted.sources, port, wanted.enable))


def rule_set_text(running: bool, ipsets: dict[str, list[str]], rich_rules: list[str]) -> str:
    """The deploy's part of the zone, one line per item (for --diff)."""
    lines = [f"firewalld: {'running' if running else 'stopped'}"]
    for name in sorted(ipsets):
        lines += [f"ipset {name}: {entry}" for entry in ipsets[name]]
    lines += [f"rich rule: {rule}" for rule in rich_rules]
    return "\n".join(lines) + "\n"


def rule_set_diff(state: FirewalldState, sources: list[str], port: int, enable: bool) -> tuple:
    """(what, before, after) of the deploy's ipsets and rich rules in the default zone."""
    ours = [rule for rule in state.rich_rules if any(f'ipset="{i}"' in rule for i in FIREWALLD_IPSETS.values())]
    before = rule_set_text(state.running, {n: e for n, e in state.ipsets.items() if n in FIREWALLD_IPSETS.values()}, ours)
    after_sets = {
        ipset: [str(ipaddress.ip_network(s)) for s in sources if family(s) == version]
        for version, ipset in FIREWALLD_IPSETS.items()
    }
    after_rules = [firewalld_rich_rule(version, port) for version in FIREWALLD_IPSETS]
    after = rule_set_text(state.running or enable, after_sets, after_rules)
    return f"firewalld zone {state.zone} (permanent: the deploy's ipsets and rich rules)", before, after
