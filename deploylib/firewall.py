"""The host firewall for PostgreSQL's port (pure: parsing and command building).

One idea on every backend: the PostgreSQL port is reachable over TCP from the
configured sources (``postgres_rules.client_networks``) and from loopback, and
from nowhere else. Everything the deploy creates carries ``TAG`` (a ufw
comment, a dedicated nftables table, firewalld ipset names), so it can find
and remove its own rules and never touches anyone else's.

- ufw: one ``allow`` rule per source, then a ``deny`` for the port (also
  correct when the default incoming policy is allow), in /etc/ufw/user*.rules.
- nftables: the table ``inet hatchet_owlclaw_deploy`` whose input chain only
  concerns the port (policy accept: it cannot block anything else).
- firewalld: ipsets ``hatchet-owlclaw-deploy-v4``/``-v6`` holding the sources
  and one rich rule per family accepting the port from that ipset.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from dataclasses import dataclass, field

TAG = "hatchet-owlclaw-deploy"
# Without an environment: rules from before they carried one (taken over by the next run).
UFW_PG_COMMENT = f"{TAG} postgresql"
UFW_SSH_COMMENT = f"{TAG} ssh"


def ufw_comments(tag: str | None) -> tuple[str, str]:
    """(PostgreSQL, SSH) rule comments of one environment (``config.scope_tag``):
    'hatchet-owlclaw-deploy prod postgresql'. staging and prod may share a host's ufw."""
    if tag is None:
        return UFW_PG_COMMENT, UFW_SSH_COMMENT
    return f"{TAG} {tag} postgresql", f"{TAG} {tag} ssh"

NFT_TABLE = "hatchet_owlclaw_deploy"
NFT_FILE = "/etc/nftables.d/hatchet-owlclaw-deploy.nft"
NFT_MAIN_CONF = "/etc/nftables.conf"

FIREWALLD_IPSETS = {4: f"{TAG}-v4", 6: f"{TAG}-v6"}

BACKENDS = ("auto", "ufw", "firewalld", "nftables", "none")


class FirewallPlanError(ValueError):
    """The wanted firewall state cannot be reached safely: stop and say why."""


def family(network: str) -> int:
    return ipaddress.ip_network(network, strict=False).version


def any_network(version: int) -> str:
    return "0.0.0.0/0" if version == 4 else "::/0"


# --------------------------------------------------------------------------- host facts


@dataclass
class Listener:
    address: str  # as ss prints it: 0.0.0.0, [::], 127.0.0.1, *
    port: int
    process: str  # "" when unknown

    @property
    def loopback(self) -> bool:
        address = self.address.strip("[]").split("%", 1)[0]
        try:
            return ipaddress.ip_address(address).is_loopback
        except ValueError:
            return address == "localhost"


@dataclass
class FirewallInfo:
    """What firewall tools a host has and how we are connected to it."""

    ufw_installed: bool = False
    ufw_active: bool = False
    firewalld_installed: bool = False
    firewalld_running: bool = False
    nft_installed: bool = False
    service_manager: str = "sysvinit"
    ssh_client: str | None = None  # the controller's address as the host sees it
    ssh_port: int | None = None  # the host's port of this SSH connection
    listeners: list[Listener] = field(default_factory=list)

    def sshd_ports(self) -> list[int]:
        return sorted({item.port for item in self.listeners if item.process == "sshd"})


def parse_ss_listeners(lines: list[str]) -> list[Listener]:
    """`ss -Hltnp` lines -> listeners."""
    found = []
    for line in lines:
        parts = line.split()
        if len(parts) < 4:
            continue
        local = parts[3]
        address, _, port = local.rpartition(":")
        if not port.isdigit():
            continue
        match = re.search(r'users:\(\("([^"]+)"', line)
        found.append(Listener(address, int(port), match.group(1) if match else ""))
    return found


def parse_ssh_connection(value: str) -> tuple[str | None, int | None]:
    """$SSH_CONNECTION ('client_ip client_port server_ip server_port') -> (client_ip, server_port)."""
    parts = value.split()
    if len(parts) != 4 or not parts[3].isdigit():
        return None, None
    return parts[0], int(parts[3])


def parse_firewall_host(lines: list[str]) -> FirewallInfo:
    found = FirewallInfo()
    listeners = []
    for line in lines:
        tag, _, rest = line.partition("\t")
        if tag == "ufw":
            found.ufw_installed = True
            found.ufw_active = rest.strip() == "active"
        elif tag == "firewalld":
            found.firewalld_installed = True
            found.firewalld_running = rest.strip() == "running"
        elif tag == "nft":
            found.nft_installed = True
        elif tag == "manager":
            found.service_manager = rest.strip()
        elif tag == "ssh_connection":
            found.ssh_client, found.ssh_port = parse_ssh_connection(rest)
        elif tag == "listen":
            listeners.append(rest)
    found.listeners = parse_ss_listeners(listeners)
    return found


def choose_backend(wanted: str, fw: FirewallInfo) -> str:
    """The backend to manage: the configured one, or for "auto" what the host uses.

    auto: an active ufw, else a running firewalld, else an installed ufw (the
    Debian/Ubuntu tool, maybe still off), else plain nftables, else "none".
    """
    if wanted != "auto":
        return wanted
    if fw.ufw_installed and fw.ufw_active:
        return "ufw"
    if fw.firewalld_running:
        return "firewalld"
    if fw.ufw_installed:
        return "ufw"
    if fw.nft_installed:
        return "nftables"
    return "none"


def ssh_ports(fw: FirewallInfo, configured_port: int | None) -> list[int]:
    """The SSH port(s) that must stay open: this connection's, else what sshd listens on."""
    if fw.ssh_port:
        return [fw.ssh_port]
    if fw.sshd_ports():
        return fw.sshd_ports()
    return [configured_port or 22]


def blocked_listeners(fw: FirewallInfo, open_ports: set[int]) -> list[Listener]:
    """Services reachable from outside now that a default-deny firewall would cut off.

    Loopback listeners and docker-proxy (published container ports bypass the
    host firewall) are not affected.
    """
    return [
        item
        for item in fw.listeners
        if not item.loopback and item.port not in open_ports and item.process != "docker-proxy"
    ]


def describe_listeners(listeners: list[Listener]) -> str:
    return ", ".join(
        f"{item.address}:{item.port}" + (f" ({item.process})" if item.process else "")
        for item in listeners
    )


# --------------------------------------------------------------------------- ufw


@dataclass(frozen=True)
class UfwRule:
    """One rule of /etc/ufw/user.rules or user6.rules (its `### tuple ###` line)."""

    action: str  # allow, deny, reject, limit (a _log suffix is dropped)
    proto: str  # tcp, udp, any
    dport: str  # "5432", "any", "22,80", "6000:6007"
    dst: str
    sport: str
    src: str
    direction: str  # in, out, in_eth0, ...
    comment: str = ""
    v6: bool = False

    @property
    def ours(self) -> bool:
        """Created by this deploy (for any environment)."""
        return self.comment == TAG or self.comment.startswith(TAG + " ")

    @property
    def deploy_tag(self) -> str | None:
        """The environment in our comment; "" for our rules from before it was there;
        None for rules the deploy did not create."""
        if not self.ours:
            return None
        words = self.comment[len(TAG):].split()
        return words[0] if len(words) >= 2 else ""

    def belongs_to(self, tag: str | None) -> bool:
        """One of ``tag``'s rules (or ours from before rules carried an environment)."""
        return self.ours and self.deploy_tag in ("", tag)

    @property
    def for_ssh(self) -> bool:
        return self.ours and self.comment.endswith(" ssh")

    @property
    def spec(self) -> tuple:
        """What ufw itself compares (the comment is not part of a rule's identity)."""
        return (self.action, self.proto, self.dport, self.dst, self.sport, self.src, self.direction, self.v6)

    def covers_port(self, port: int) -> bool:
        if self.dport == "any":
            return True
        for part in self.dport.split(","):
            low, _, high = part.partition(":")
            if low.isdigit() and int(low) <= port <= int(high or low):
                return True
        return False

    def allows(self, client: str | None, port: int) -> bool:
        """Does this rule let TCP from `client` (None: anyone) in to `port`?"""
        if self.action not in ("allow", "limit") or self.direction != "in":
            return False
        if self.proto not in ("tcp", "any") or not self.covers_port(port):
            return False
        source = ipaddress.ip_network(self.src, strict=False)
        if client is None:
            return source.prefixlen == 0
        address = ipaddress.ip_address(client)
        return address.version == source.version and address in source


def parse_ufw_tuple(line: str, v6: bool) -> UfwRule | None:
    """'### tuple ### allow tcp 5432 0.0.0.0/0 any 10.0.0.0/8 in comment=<hex>' -> UfwRule."""
    if not line.startswith("### tuple ###"):
        return None
    tokens = line.split()[3:]
    comment = ""
    for token in list(tokens):
        if token.startswith("comment="):
            tokens.remove(token)
            try:
                comment = bytes.fromhex(token[len("comment="):]).decode("utf-8", "replace")
            except ValueError:
                comment = token[len("comment="):]
    if len(tokens) < 7:
        return None
    action, proto, dport, dst, sport, src = tokens[:6]
    return UfwRule(action.split("_", 1)[0], proto, dport, dst, sport, src, tokens[-1], comment, v6)


def parse_ufw_rules(user_rules: str, user6_rules: str) -> list[UfwRule]:
    """Every rule, IPv4 file first, each in file order (ufw's evaluation order)."""
    rules = []
    for text, v6 in ((user_rules, False), (user6_rules, True)):
        for line in text.splitlines():
            rule = parse_ufw_tuple(line.strip(), v6)
            if rule:
                rules.append(rule)
    return rules


@dataclass
class UfwState:
    installed: bool = False
    active: bool = False
    ipv6: bool = True  # IPV6= in /etc/default/ufw
    rules: list[UfwRule] = field(default_factory=list)


def parse_ufw_state(lines: list[str]) -> UfwState:
    import base64

    state = UfwState()
    files = {"user": "", "user6": ""}
    for line in lines:
        tag, _, rest = line.partition("\t")
        if tag == "installed":
            state.installed = True
        elif tag == "status":
            state.active = rest.strip() == "active"
        elif tag == "ipv6":
            state.ipv6 = rest.strip().strip('"').lower() == "yes"
        elif tag in files:
            files[tag] = base64.b64decode(rest.strip()).decode("utf-8", "replace")
    state.rules = parse_ufw_rules(files["user"], files["user6"])
    return state


def _ufw_allow_spec(source: str, port: int) -> tuple:
    version = family(source)
    return ("allow", "tcp", str(port), any_network(version), "any", source, "in", version == 6)


def _ufw_deny_spec(port: int, v6: bool) -> tuple:
    anywhere = any_network(6 if v6 else 4)
    return ("deny", "tcp", str(port), anywhere, "any", anywhere, "in", v6)


def ufw_add(action: str, source: str | None, port: int, comment: str) -> str:
    source_part = f"from {source} " if source else ""
    return f"ufw {action} proto tcp {source_part}to any port {int(port)} comment {shlex.quote(comment)}"


def ufw_delete(rule: UfwRule) -> str:
    """`ufw delete <rule>`: ufw matches the rule's fields (not its comment)."""
    words = ["ufw", "delete", rule.action]
    if rule.direction != "in":
        words.append(rule.direction.replace("_", " on ", 1))
    if rule.proto != "any":
        words += ["proto", rule.proto]
    words += ["from", rule.src]
    if rule.sport != "any":
        words += ["port", rule.sport]
    words += ["to", rule.dst]
    if rule.dport != "any":
        words += ["port", rule.dport]
    return " ".join(words)


@dataclass
class UfwPlan:
    commands: list[str]
    needs_ssh: bool  # a rule for SSH is added first
    warnings: list[str]


def plan_ufw(
    state: UfwState,
    sources: list[str],
    port: int,
    ssh_client: str | None,
    ssh_ports: list[int],
    enable: bool,
    tag: str | None = None,
) -> UfwPlan:
    """The ufw commands that take the rules from `state` to: each source allowed to `port`,
    then the port denied to everyone else; `tag`'s rules (one environment's) that are no
    longer wanted deleted; other environments' rules and foreign rules untouched (a
    source or the deny already there, whoever added it, is not added twice).
    When the firewall is off, first a rule that keeps SSH open
    (unless a rule already lets this connection in), so enabling it can never lock out."""
    families = [False, True] if state.ipv6 else [False]
    v6_sources = [s for s in sources if family(s) == 6]
    if v6_sources and not state.ipv6:
        raise FirewallPlanError(
            f"IPv6 source(s) {', '.join(v6_sources)} but ufw has IPv6 off (IPV6=no in /etc/default/ufw)"
        )
    wanted_allows = [_ufw_allow_spec(source, port) for source in sources]
    wanted_denies = [_ufw_deny_spec(port, v6) for v6 in families]
    wanted = set(wanted_allows) | set(wanted_denies)
    pg_comment, ssh_comment = ufw_comments(tag)
    commands: list[str] = []
    warnings: list[str] = []

    # SSH first: only while the firewall is off (when it is on, this very
    # connection proves SSH is allowed, and the operator's SSH policy stays theirs).
    if port in ssh_ports:
        raise FirewallPlanError(f"PostgreSQL port {port} is the SSH port; refusing to deny it")
    # `rules` follows every command, in ufw's numbering (IPv4 rules, then IPv6).
    rules = list(state.rules)

    def append(rule: UfwRule) -> None:
        last = max((i for i, r in enumerate(rules) if r.v6 == rule.v6), default=None)
        rules.insert(last + 1 if last is not None else (len(rules) if rule.v6 else 0), rule)

    needs_ssh = False
    if not state.active:
        for ssh_port in ssh_ports:
            if not any(rule.allows(ssh_client, ssh_port) for rule in state.rules):
                commands.append(ufw_add("allow", None, ssh_port, ssh_comment))
                needs_ssh = True
                for v6 in families:
                    anywhere = any_network(6 if v6 else 4)
                    append(UfwRule("allow", "tcp", str(ssh_port), anywhere, "any", anywhere, "in",
                                   ssh_comment, v6))
    ours_pg = [rule for rule in rules if rule.belongs_to(tag) and not rule.for_ssh]
    # Our rules no longer wanted (a source removed, the port changed). SSH rules are
    # never removed by the deploy: that could cut off the next run.
    for rule in ours_pg:
        if rule.spec not in wanted:
            commands.append(ufw_delete(rule))
            rules.remove(rule)

    def deny_index(v6: bool) -> int | None:
        spec = _ufw_deny_spec(port, v6)
        return next((i for i, rule in enumerate(rules) if rule.spec == spec), None)

    # The deny must come after every allow of its family, or it shadows them.
    for v6 in families:
        at = deny_index(v6)
        allows_after = at is not None and any(
            rule.spec in wanted_allows for rule in rules[at + 1:] if rule.v6 == v6
        )
        if allows_after and rules[at].ours:
            commands.append(ufw_delete(rules[at]))
            del rules[at]
        elif allows_after:
            warnings.append(
                f"a rule the deploy did not create denies port {port} before the allowed sources "
                "(ufw: first match wins); the deploy leaves it alone"
            )

    # Missing allows go right before our deny (never a moment without it), else at the end.
    present = {rule.spec for rule in rules}
    for spec in wanted_allows:
        if spec in present:
            continue
        source, v6 = spec[5], spec[7]
        rule = UfwRule(*spec[:7], comment=pg_comment, v6=v6)
        at = deny_index(v6)
        if at is not None and rules[at].ours:
            commands.append(ufw_add(f"insert {at + 1} allow", source, port, pg_comment))
            rules.insert(at, rule)
        else:
            commands.append(ufw_add("allow", source, port, pg_comment))
            append(rule)
    if any(deny_index(v6) is None for v6 in families):
        commands.append(ufw_add("deny", None, port, pg_comment))
    if enable and not state.active:
        commands.append("ufw --force enable")
    return UfwPlan(commands, needs_ssh, warnings)


# --------------------------------------------------------------------------- nftables


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


# --------------------------------------------------------------------------- firewalld


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
    for line in lines:
        tag, _, rest = line.partition("\t")
        if tag == "installed":
            state.installed = True
        elif tag == "state":
            state.running = rest.strip() == "running"
        elif tag == "zone" and rest.strip():
            state.zone = rest.strip()
        elif tag == "ipset":
            name, _, entries = rest.partition("\t")
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
