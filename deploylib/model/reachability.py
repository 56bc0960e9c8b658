"""Can PostgreSQL's clients reach it? Checked from the host's interfaces and routes
before anything changes, and from its listening sockets after activation (pure)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

WILDCARDS = {"*": (4, 6), "0.0.0.0": (4,), "::": (6,)}
LOCALHOST = ("127.0.0.1", "::1")


@dataclass(frozen=True)
class HostNetworks:
    """The host's addresses ((interface, "10.0.0.5/24")) and routes ((destination, interface))."""

    addresses: tuple = ()
    routes: tuple = ()


def parse_ip_output(lines: list[str]) -> HostNetworks:
    """`ip -o addr show` lines, then `ip -o route show` / `ip -o -6 route show` lines."""
    addresses, routes = [], []
    for line in lines:
        fields = line.split()
        if len(fields) >= 4 and fields[0].endswith(":") and fields[2] in ("inet", "inet6"):
            addresses.append((fields[1], fields[3]))
        elif "dev" in fields and fields:
            dev = fields[fields.index("dev") + 1] if fields.index("dev") + 1 < len(fields) else ""
            routes.append((fields[0], dev))
    return HostNetworks(tuple(addresses), tuple(routes))


def _listen_ips(listen_addresses) -> list | None:
    """The IPs PostgreSQL listens on; None when one is a host name (not judged here)."""
    ips = []
    for address in listen_addresses:
        if address == "localhost":
            ips += [ipaddress.ip_address(a) for a in LOCALHOST]
            continue
        try:
            ips.append(ipaddress.ip_address(address))
        except ValueError:
            return None
    return ips


def _route_network(destination: str, version: int):
    if destination == "default":
        return ipaddress.ip_network("0.0.0.0/0" if version == 4 else "::/0")
    try:
        return ipaddress.ip_network(destination, strict=False)
    except ValueError:
        return None


def interfaces_for(network, host: HostNetworks) -> set[str]:
    """The interfaces a client on ``network`` reaches the host through: those on it, else
    the one of the most specific route to it."""
    on_it = set()
    for interface, cidr in host.addresses:
        address = ipaddress.ip_interface(cidr)
        if address.version == network.version and address.network.overlaps(network):
            on_it.add(interface)
    if on_it:
        return on_it
    best = None
    for destination, interface in host.routes:
        route = _route_network(destination, network.version)
        if route is not None and route.version == network.version and network.subnet_of(route):
            if best is None or route.prefixlen > best[0].prefixlen:
                best = (route, interface)
    return {best[1]} if best else set()


def unserved_networks(networks, listen_addresses, host: HostNetworks) -> dict[str, str]:
    """{network: why} for every client network no listen address serves. A network is
    served by a wildcard, by a listen address on it, or by a listen address on an interface
    the network reaches the host through. Nothing is judged when a listen address is a host
    name or the host's addresses are unknown, nor a network no interface or route leads to."""
    ips = _listen_ips(listen_addresses)
    if ips is None or not host.addresses:
        return {}
    by_interface: dict[str, set] = {}
    for interface, cidr in host.addresses:
        by_interface.setdefault(interface, set()).add(ipaddress.ip_interface(cidr).ip)
    unserved = {}
    for text in networks:
        network = ipaddress.ip_network(text, strict=False)
        if any(network.version in WILDCARDS.get(a, ()) for a in listen_addresses):
            continue
        if any(ip.version == network.version and ip in network for ip in ips):
            continue
        interfaces = interfaces_for(network, host)
        if not interfaces:
            continue  # no route at all: a routing matter (a VPN not up yet?), not a listen one
        served = any(ip in by_interface.get(i, set()) for i in interfaces for ip in ips)
        if not served:
            offer = sorted(
                str(ip) for i in interfaces for ip in by_interface.get(i, set())
                if ip.version == network.version and not ip.is_link_local
            )
            through = f"{', '.join(sorted(interfaces))} ({', '.join(offer) or 'no address'})"
            unserved[text] = f"it reaches this host through {through}"
    return unserved


def socket_forms(address: str, port: int) -> list[str] | None:
    """How ``ss -ltn`` prints a listening socket that serves ``address`` (None: a host
    name, not judged)."""
    if address in WILDCARDS:
        return [f"*:{port}", f"0.0.0.0:{port}", f"[::]:{port}"]
    if address == "localhost":
        return [f"127.0.0.1:{port}", f"[::1]:{port}"]
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    return [f"[{ip}]:{port}" if ip.version == 6 else f"{ip}:{port}"]
