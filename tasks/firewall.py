"""Host firewall: PostgreSQL's port open only to the networks pg_hba allows, on ufw,
firewalld or nftables. Never turns a firewall on unless asked, never locks out SSH."""

from pyinfra import host, logger

from deploylib import firewall, managed_paths, notices, postgres_rules
from deploylib.config import scope_tag
from deploylib.facts import cached_fact
from deploylib.facts.firewall import FirewalldRules, FirewallHost, NftTable, UfwRules
from deploylib.operations import firewall as firewall_ops
from deploylib.operations import packages

settings = host.data.settings
_, cluster = postgres_rules.server_and_cluster(host, settings)
if settings.firewall_backend == "none":
    fw, backend = firewall.FirewallInfo(), "none"
else:
    fw = cached_fact(host, FirewallHost)
    backend = firewall.choose_backend(settings.firewall_backend, fw)
common = dict(
    fw=fw,
    sources=postgres_rules.client_networks(settings),  # the same list as pg_hba's rules
    port=cluster.port,
    enable=settings.firewall_enable,
    ssh_port=host.data.get("ssh_port"),
)

if backend == "none":
    if settings.firewall_backend == "auto":
        message = "no firewall tool found (ufw, firewalld, nft): PostgreSQL's port is not filtered"
        logger.warning(f"{host.print_prefix}{message}")
        notices.add(host, message)
else:
    rules_name = f"Firewall ({backend}): tcp/{cluster.port} from the client networks only"
    if backend in ("ufw", "nftables"):  # the distribution package is named after the tool
        packages.apt_present(
            name=f"Firewall package ({backend})",
            packages=[backend],
            installed=managed_paths.installed_packages(host, settings),
        )
    if backend == "ufw":
        firewall_ops.ufw_rules(
            name=rules_name,
            state=host.get_fact(UfwRules),
            tag=scope_tag(settings.environment),
            **common,
        )
    elif backend == "nftables":
        firewall_ops.nftables_table(name=rules_name, nft=host.get_fact(NftTable), **common)
    elif backend == "firewalld":
        firewall_ops.firewalld_rules(name=rules_name, state=host.get_fact(FirewalldRules), **common)
