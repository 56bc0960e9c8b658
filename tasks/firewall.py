"""Host firewall: PostgreSQL's port open only to the networks pg_hba allows, on the backend
`firewall_backend` names (or `auto` detects). Never turns a firewall on unless asked, never
locks out SSH."""

from pyinfra import host, logger

from deploylib import notices, postgres_rules
from deploylib.facts import cached_fact
from deploylib.facts.firewall import FirewallHost
from deploylib.model.config import scope_tag
from deploylib.model.firewall import registry
from deploylib.model.postgres_rules import client_networks
from deploylib.operations import firewall, packages

settings = host.data.settings
_, cluster = postgres_rules.server_and_cluster(host, settings)
backend = settings.firewall_backend
if backend == "auto":
    backend = registry.choose_backend(backend, cached_fact(host, FirewallHost))

if backend == "none":
    if settings.firewall_backend == "auto":
        tools = ", ".join(registry.tools())
        message = f"no firewall tool found ({tools}): PostgreSQL's port is not filtered"
        logger.warning(f"{host.print_prefix}{message}")
        notices.add(host, message)
else:
    package = registry.get(backend).PACKAGE
    if package:
        packages.apt_present(name=f"Firewall package ({backend})", packages=[package])
    firewall.rules(
        name=f"Firewall ({backend}): tcp/{cluster.port} from the client networks only",
        backend=backend,
        sources=client_networks(settings),  # the same list as pg_hba's rules
        port=cluster.port,
        enable=settings.firewall_enable,
        ssh_port=host.data.get("ssh_port"),
        tag=scope_tag(settings.environment),
    )
