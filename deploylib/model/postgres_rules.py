"""What a host's PostgreSQL should have, computed from the validated settings alone: the managed
postgresql.conf settings, the pg_hba.conf block, the client networks, what the PostgresServer fact is
asked, apt.postgresql.org's sources (pure: may import only the model)."""

from __future__ import annotations

import functools

from .config import scope_tag
from .pg_hba import HbaRule

# Our drop-in, relative to the directory of postgresql.conf. Debian reads
# conf.d/*.conf in name order and the last value wins: "90-" sorts late.
DROPIN = "conf.d/90-hatchet-owlclaw-deploy.conf"



def server_settings(settings) -> dict:
    """Every postgresql.conf setting we manage, name -> value (with pgBackRest: WAL archiving)."""
    from .pgbackrest import archive_settings

    archiving = archive_settings(settings.environment) if settings.pgbackrest_enabled else {}
    return {"listen_addresses": list(settings.pg_listen_addresses), **archiving, **settings.pg_settings}


def settings_plan_args(settings) -> dict:
    """The desired-state arguments of model.server_settings.plan_server_settings and
    operations.postgres_config.server_settings (the server and cluster are facts: the
    operation asks for them)."""
    return dict(
        settings=server_settings(settings),
        dropin_name=DROPIN.rsplit("/", 1)[-1],
        allow_restart=settings.pg_allow_restart,
        environment=scope_tag(settings.environment),
        owner=settings.pg_server_settings_owner,
        restart_policies=restart_policies(settings.environment),
        reset_overrides=settings.pg_reset_overrides,
    )


def managed_setting_names(settings) -> list[str]:
    return sorted(server_settings(settings))


def client_networks(settings) -> list[str]:
    """Every network allowed to reach PostgreSQL over TCP (pg_hba and the firewall use this):
    pg_client_networks, then the compose project's pinned subnet."""
    networks = []
    compose_subnet = settings.compose_subnet
    for network in [*settings.pg_client_networks, *([compose_subnet] if compose_subnet else [])]:
        if network not in networks:
            networks.append(network)
    return networks


def hba_rules(settings) -> list[HbaRule]:
    """The managed block: explicit pg_hba_rules first, then one rule per (network, database)."""
    rules = list(settings.pg_hba_rules)
    for network in client_networks(settings):
        for database, spec in settings.databases.items():
            rules.append(
                HbaRule(
                    type="host",
                    database=database,
                    user=spec["owner"],
                    address=network,
                    method=settings.pg_hba_auth_method,
                    comment="from pg_client_networks",
                )
            )
    return rules


def reachability_networks(settings) -> list[str]:
    """The client networks whose reachability is checked (unserved_client_networks):
    pg_client_networks and pg_hba_rules' networks."""
    networks = [*settings.pg_client_networks]
    for rule in settings.pg_hba_rules:
        if rule.address and "/" in rule.address and rule.address not in networks:
            networks.append(rule.address)
    return networks


def network_request(settings) -> dict:
    """NetworkInterfaces' arguments: the IPv6 routes (an `ip` process of their own) only
    when a checked network is IPv6 (an IPv4 network is only ever matched with IPv4 routes)."""
    import ipaddress

    def ipv4(network: str) -> bool:
        try:
            return ipaddress.ip_network(network, strict=False).version == 4
        except ValueError:  # not judged here: ask for everything
            return False

    return {"ipv6_routes": not all(ipv4(n) for n in reachability_networks(settings))}


def unserved_client_networks(settings, host_networks) -> str | None:
    """A message when a client network (pg_client_networks, pg_hba_rules' addresses) is
    served by none of pg_listen_addresses on this host (reachability.unserved_networks).
    The compose project's own subnet is left out: the host is its gateway, so every
    address of the host is reachable from it."""
    from .reachability import unserved_networks

    networks = reachability_networks(settings)
    unserved = unserved_networks(networks, list(settings.pg_listen_addresses), host_networks)
    if not unserved:
        return None
    listed = ", ".join(settings.pg_listen_addresses)
    lines = "\n".join(f"      - {network}: {why}" for network, why in unserved.items())
    return (
        f"no listen address serves these client networks (pg_listen_addresses = {listed}):\n{lines}\n"
        f"    Clients there would get \"Connection refused\". Next: add an address of that interface "
        f"(or '*') to pg_listen_addresses in {settings.source('pg_listen_addresses')}, or remove the "
        f"network from pg_client_networks ({settings.source('pg_client_networks')}) / pg_hba_rules. "
        "Nothing was changed."
    )


def objects_request(settings) -> dict:
    """Which roles, databases and extensions PostgresObjects reports: ours. It visits (a
    backend each) only the databases whose own catalogs the deploy reads: those with
    extensions or a seed file."""
    databases = settings.databases
    return {
        "roles": sorted(spec["owner"] for spec in databases.values()),
        "databases": sorted(databases),
        "extensions": sorted({e for spec in databases.values() for e in spec["extensions"]}),
        "visit": sorted(name for name, spec in databases.items() if spec["extensions"] or spec["seed_sql"]),
    }


def server_request(settings) -> dict:
    """PostgresServer's arguments, the same on every call (so it is gathered once per host):
    with our objects on the managed cluster, in the same remote command, and whether the
    libraries shared_preload_libraries names exist."""
    from .pg_safety import preload_libraries

    wanted = server_settings(settings)
    libraries = preload_libraries(wanted.get("shared_preload_libraries", ""))
    return {
        "dropin": DROPIN,
        "setting_names": managed_setting_names(settings),
        "objects": {"cluster": settings.pg_cluster or "", **objects_request(settings)},
        **({"libraries": libraries} if libraries else {}),
    }


@functools.cache
def restart_policies(environment: str) -> dict[str, bool | None]:
    """pg_allow_restart of every other environment, as group_data/all.py and
    group_data/<env>.py set it (None: not readable). A shared server is restarted only
    if every environment whose state is on it allows it (pg_safety.restart_blockers)."""
    from .config import ENVIRONMENTS, environment_layers, is_bool

    policies: dict[str, bool | None] = {}
    for other in ENVIRONMENTS:
        if other == environment:
            continue
        try:
            values = {}
            for layer in environment_layers(other):
                values.update(layer.values)
            policies[other] = is_bool(values["pg_allow_restart"])
        except Exception:  # noqa: BLE001 - an unreadable policy counts as "no"
            policies[other] = None
    return policies


PGDG_KEY = "/usr/share/postgresql-common/pgdg/apt.postgresql.org.asc"  # from postgresql-common


def pgdg_sources(codename: str):
    """deb822 sources for apt.postgresql.org, for a distribution codename."""
    from io import StringIO

    return StringIO(
        "# Added by the hatchet-owlclaw deploy (pgdg_apt_repository = True)\n"
        "Types: deb\n"
        "URIs: http://apt.postgresql.org/pub/repos/apt\n"
        f"Suites: {codename}-pgdg\n"
        "Components: main\n"
        f"Signed-By: {PGDG_KEY}\n"
    )
