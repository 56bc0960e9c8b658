"""What every firewall backend shares (pure: imports nothing of pyinfra, nor any backend).

One idea on every backend: the PostgreSQL port is reachable over TCP from the
configured sources (``postgres_rules.client_networks``) and from loopback, and
from nowhere else. Everything the deploy creates carries ``TAG`` (a ufw
comment, a dedicated nftables table, firewalld ipset names), so it can find
and remove its own rules and never touches anyone else's.

Here: the tag, the host facts every backend reads (which tools the host has,
this SSH connection, the TCP listeners), the wanted state (``Wanted``) and what
a backend's plan returns (``Plan``: commands, ``Upload`` s, messages).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from ..tagged import tagged

TAG = "hatchet-owlclaw-deploy"


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


# Tagged lines of the host fact that are not a tool's (every other tag names a tool).
_HOST_TAGS = ("manager", "ssh_connection", "listen")


class FirewallInfo:
    """What firewall tools a host has and how we are connected to it.

    ``tools``: what each backend's detection snippet printed, tool -> status
    ("active"/"inactive" for ufw, "running" for firewalld, "" for a bare nft).
    The ``<tool>_installed``/``..._active``/``..._running`` names read and set it.
    """

    def __init__(
        self,
        tools: dict[str, str] | None = None,
        service_manager: str = "sysvinit",
        ssh_client: str | None = None,  # the controller's address as the host sees it
        ssh_port: int | None = None,  # the host's port of this SSH connection
        listeners: list[Listener] | None = None,
        **flags: bool,  # ufw_installed=True, firewalld_running=True, ...
    ):
        self.tools = dict(tools or {})
        self.service_manager = service_manager
        self.ssh_client = ssh_client
        self.ssh_port = ssh_port
        self.listeners = list(listeners or [])
        for name, value in flags.items():
            setattr(self, name, value)

    def __repr__(self) -> str:
        return (f"FirewallInfo(tools={self.tools!r}, service_manager={self.service_manager!r}, "
                f"ssh_client={self.ssh_client!r}, ssh_port={self.ssh_port!r}, listeners={self.listeners!r})")

    def __eq__(self, other) -> bool:
        return isinstance(other, FirewallInfo) and vars(self) == vars(other)

    def installed(self, tool: str) -> bool:
        return tool in self.tools

    def status(self, tool: str) -> str | None:
        return self.tools.get(tool)

    def _set(self, tool: str, on: bool, status: str | None = None, off: str = "") -> None:
        if status is None:  # <tool>_installed
            if on:
                self.tools.setdefault(tool, "")
            else:
                self.tools.pop(tool, None)
        elif on:
            self.tools[tool] = status
        elif self.tools.get(tool) == status:
            self.tools[tool] = off

    ufw_installed = property(lambda self: self.installed("ufw"), lambda self, on: self._set("ufw", on))
    ufw_active = property(lambda self: self.status("ufw") == "active",
                          lambda self, on: self._set("ufw", on, "active", "inactive"))
    firewalld_installed = property(lambda self: self.installed("firewalld"),
                                   lambda self, on: self._set("firewalld", on))
    firewalld_running = property(lambda self: self.status("firewalld") == "running",
                                 lambda self, on: self._set("firewalld", on, "running"))
    nft_installed = property(lambda self: self.installed("nft"), lambda self, on: self._set("nft", on))

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
    """The host fact's tagged lines: `manager`, `ssh_connection`, `listen`, and one line
    per tool a backend's detection found (`<tool>[\\t<status>]`)."""
    found = FirewallInfo()
    listeners = []
    for tag, rest in tagged(lines):
        if tag == "manager":
            found.service_manager = rest.strip()
        elif tag == "ssh_connection":
            found.ssh_client, found.ssh_port = parse_ssh_connection(rest)
        elif tag == "listen":
            listeners.append(rest)
        elif tag and tag not in _HOST_TAGS:
            found.tools[tag] = rest.strip()
    found.listeners = parse_ss_listeners(listeners)
    return found


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


def refuse_blocking(fw: FirewallInfo, open_ports: set[int], what: str) -> None:
    """Turning on a default-deny firewall must not cut off a service by surprise."""
    blocked = blocked_listeners(fw, open_ports)
    if blocked:
        raise FirewallPlanError(
            f"enabling {what} (firewall_enable = True) would block services listening on "
            f"{describe_listeners(blocked)}; allow them first (e.g. `ufw allow 443/tcp`) "
            "or leave firewall_enable False. Nothing was changed."
        )


# --------------------------------------------------------------------------- the protocol's values


@dataclass(frozen=True)
class Wanted:
    """The state every backend converges to (from the validated settings)."""

    sources: list[str]  # networks (CIDR) allowed to reach `port`
    port: int  # PostgreSQL's TCP port
    enable: bool = False  # turn the firewall on when it is off (never off)
    ssh_port: int | None = None  # the SSH port when the connection does not tell (local runs)
    tag: str | None = None  # the environment (config.scope_tag), for backends that separate them


@dataclass(frozen=True)
class Upload:
    """A file the host must get with exactly this content (the operation uploads it)."""

    content: str
    path: str


@dataclass
class Plan:
    """A backend's answer: the steps (shell commands or ``Upload`` s), in order; the
    messages for the operator (shown on every run, also when nothing changes); what the
    run says when there is nothing to do."""

    commands: list = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    up_to_date: str = ""
    # The deploy's rule set as text, before and after (what, before or None, after), for
    # --diff and the prod guard (deploylib/model/plan_diff.py); None: the backend does not say.
    rule_set: tuple | None = None
