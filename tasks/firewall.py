"""Host firewall: PostgreSQL's port open only to the networks pg_hba allows, on ufw,
firewalld or nftables. Never turns a firewall on unless asked, never locks out SSH."""

from pyinfra import host, logger
from pyinfra.facts.deb import DebPackages
from pyinfra.operations import apt

from deploylib import firewall, notices, postgres_rules
from deploylib.facts.firewall import FirewalldRules, FirewallHost, NftTable, UfwRules
from deploylib.facts.postgres import PostgresServer
from deploylib.operations import firewall as firewall_ops

settings = host.data.settings
server = host.get_fact(
    PostgresServer,
    dropin=postgres_rules.DROPIN,
    setting_names=postgres_rules.managed_setting_names(settings),
)
cluster = postgres_rules.select_cluster(server, settings.pg_cluster, host.name)
if settings.firewall_backend == "none":
    fw, backend = firewall.FirewallInfo(), "none"
else:
    fw = host.get_fact(FirewallHost)
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
elif backend == "ufw":
    apt.packages(name="Firewall package (ufw)", packages=["ufw"], update=not fw.ufw_installed)
    firewall_ops.ufw_rules(
        name=f"Firewall (ufw): tcp/{cluster.port} from the client networks only",
        state=host.get_fact(UfwRules),
        **common,
    )
elif backend == "nftables":
    apt.packages(
        name="Firewall package (nftables)",
        packages=["nftables"],
        update="nftables" not in host.get_fact(DebPackages),
    )
    firewall_ops.nftables_table(
        name=f"Firewall (nftables): tcp/{cluster.port} from the client networks only",
        nft=host.get_fact(NftTable),
        **common,
    )
elif backend == "firewalld":
    firewall_ops.firewalld_rules(
        name=f"Firewall (firewalld): tcp/{cluster.port} from the client networks only",
        state=host.get_fact(FirewalldRules),
        **common,
    )
