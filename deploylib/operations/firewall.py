"""Operations on the host firewall: PostgreSQL's port open only to the configured sources.

pyinfra has no ufw or firewalld operations. These read the current rules
(facts in ``deploylib.facts.firewall``), change only what differs, and touch
only rules carrying the deploy's tag. A firewall that is off is turned on
only when asked (``enable``), and only after SSH is allowed.
"""

from __future__ import annotations

from io import StringIO

from pyinfra import host, logger
from pyinfra.api import FileUploadCommand, OperationError, operation

from .. import firewall, notices
from ..firewall import FirewalldState, FirewallInfo, FirewallPlanError, UfwState


def _say(message: str) -> None:
    logger.warning(f"{host.print_prefix}{message}")
    notices.add(host, message)


def _refuse_blocking(fw: FirewallInfo, open_ports: set[int], what: str) -> None:
    """Turning on a default-deny firewall must not cut off a service by surprise."""
    blocked = firewall.blocked_listeners(fw, open_ports)
    if blocked:
        raise OperationError(
            f"enabling {what} (firewall_enable = True) would block services listening on "
            f"{firewall.describe_listeners(blocked)}; allow them first (e.g. `ufw allow 443/tcp`) "
            "or leave firewall_enable False. Nothing was changed."
        )


@operation()
def ufw_rules(
    state: UfwState,
    fw: FirewallInfo,
    sources: list[str],
    port: int,
    enable: bool = False,
    ssh_port: int | None = None,
    tag: str | None = None,
):
    """
    Keep ufw's rules for ``port``: one ``allow`` per source, then a ``deny``
    for everyone else, each commented ``hatchet-owlclaw-deploy <tag> postgresql``.
    ``tag``'s rules that are no longer wanted are deleted; other environments'
    and other rules are never touched. While ufw is off, first an ``allow`` for the SSH port of this
    connection (``hatchet-owlclaw-deploy ssh``) unless a rule already lets it
    in, so enabling ufw can never lock the operator out.

    + state: the ``UfwRules`` fact
    + fw: the ``FirewallHost`` fact (SSH connection, listeners)
    + sources: networks (CIDR) allowed to reach ``port``
    + port: PostgreSQL's TCP port
    + enable: turn ufw on when it is off (never turns it off)
    + ssh_port: the SSH port when the connection does not tell (local runs)
    """
    ssh_ports = firewall.ssh_ports(fw, ssh_port)
    try:
        plan = firewall.plan_ufw(state, sources, port, fw.ssh_client, ssh_ports, enable, tag)
    except FirewallPlanError as error:
        raise OperationError(f"ufw: {error}")
    for warning in plan.warnings:
        _say(f"ufw: {warning}")
    if enable and not state.active:
        decided = {
            item.port
            for item in fw.listeners
            if any(rule.action in ("allow", "limit", "deny", "reject") and rule.covers_port(item.port)
                   for rule in state.rules)
        }
        _refuse_blocking(fw, {port, *ssh_ports} | decided, "ufw")
    if not state.active and not enable:
        _say(
            "ufw is inactive: the PostgreSQL rules are in place but take effect only once it "
            "is enabled (set firewall_enable = True, or `ufw enable`; SSH is allowed)"
        )
    if not plan.commands:
        host.noop(f"ufw rules for tcp/{port} are up to date")
        return
    yield from plan.commands


@operation()
def nftables_table(
    nft: dict,
    fw: FirewallInfo,
    sources: list[str],
    port: int,
    enable: bool = False,
    ssh_port: int | None = None,
):
    """
    Keep the table ``inet hatchet_owlclaw_deploy``: in its own input chain
    (policy accept, so it concerns ``port`` only) loopback and ``sources`` are
    accepted on ``port`` and everyone else dropped. The table lives in
    /etc/nftables.d/hatchet-owlclaw-deploy.nft, loaded with ``nft -f``
    (atomic; other tables untouched). Loaded when already live or when
    ``enable``; ``enable`` also includes it from /etc/nftables.conf and enables
    the nftables service (systemd), so it survives a reboot.

    + nft: the ``NftTable`` fact
    + fw: the ``FirewallHost`` fact
    + sources, port, enable, ssh_port: as for ``ufw_rules``
    """
    if port in firewall.ssh_ports(fw, ssh_port):
        raise OperationError(f"nftables: PostgreSQL port {port} is the SSH port; refusing to drop it")
    wanted_file = firewall.render_nft_file(sources, port)
    wanted_table = firewall.render_nft_table(sources, port)
    loaded = nft["live"] is not None
    changed = False
    if nft["file"] != wanted_file:
        directory = firewall.NFT_FILE.rsplit("/", 1)[0]
        yield f"mkdir -p {directory}"
        yield FileUploadCommand(StringIO(wanted_file), firewall.NFT_FILE)
        changed = True
    if (loaded or enable) and (
        not loaded or firewall.normalize_nft(nft["live"]) != firewall.normalize_nft(wanted_table)
    ):
        yield f"nft -f {firewall.NFT_FILE}"
        changed = True
    if enable:
        if not firewall.has_include(nft["main"] or ""):
            line = firewall.nft_include_line()
            if nft["main"] is None:
                yield f"printf '#!/usr/sbin/nft -f\\n' > {firewall.NFT_MAIN_CONF}"
            yield (
                f"printf '\\n# added by {firewall.TAG}\\n%s\\n' '{line}' >> {firewall.NFT_MAIN_CONF}"
            )
            changed = True
        if fw.service_manager == "systemd" and nft["service"] != "enabled":
            yield "systemctl enable nftables"
            changed = True
    elif not loaded:
        _say(
            f"nftables: the PostgreSQL rules are written to {firewall.NFT_FILE} but not loaded "
            "(set firewall_enable = True, or `nft -f` the file)"
        )
    if not changed:
        host.noop(f"nftables table {firewall.NFT_TABLE} for tcp/{port} is up to date")


@operation()
def firewalld_rules(
    state: FirewalldState,
    fw: FirewallInfo,
    sources: list[str],
    port: int,
    enable: bool = False,
    ssh_port: int | None = None,
):
    """
    Keep firewalld's permanent configuration (default zone): ipsets
    ``hatchet-owlclaw-deploy-v4``/``-v6`` hold the sources, one rich rule per
    family accepts ``port`` from its ipset; the zone's target rejects the
    rest. Reloads when running; with ``enable``, a stopped firewalld gets the
    SSH port allowed first, then is enabled and started.

    + state: the ``FirewalldRules`` fact
    + fw, sources, port, enable, ssh_port: as for ``ufw_rules``
    """
    if not state.installed:
        raise OperationError(
            "firewall_backend is 'firewalld' but firewalld is not installed; install and "
            "configure it first (installing it starts it with its own default zone)"
        )
    ssh_ports = firewall.ssh_ports(fw, ssh_port)
    if enable and not state.running:
        _refuse_blocking(fw, {port, *ssh_ports}, "firewalld")
    if not enable and not state.running:
        _say("firewalld is stopped: the PostgreSQL rules take effect once it runs (firewall_enable)")
    commands = firewall.plan_firewalld(state, sources, port, ssh_ports, enable)
    if not commands:
        host.noop(f"firewalld rules for tcp/{port} are up to date")
        return
    yield from commands
