"""The PostgreSQL cluster the deploy manages on a host and its objects, asked through the one fact
cache, and the errors that stop a run before anything changes (host code: may import facts and the
model; what a host should have, from settings alone, is model/postgres_rules.py)."""

from __future__ import annotations

from pyinfra.api.exceptions import DeployError

from .model import pg_commands
from .model.postgres_rules import objects_request, server_request
from .model.postgres_state import PgCluster, PgServer


class ClusterChoiceError(DeployError):
    """Which cluster to manage is unclear, or it is not running: stop before changing anything."""


class SettingsRefused(DeployError):
    """Server settings this run must not apply (model.server_settings.plan_server_settings):
    stop before changing anything."""


def server_and_cluster(host, settings) -> tuple[PgServer, PgCluster]:
    """The PostgresServer fact and the cluster to manage (asked ~25 times per host and run:
    worked out once)."""
    from .facts import cached_fact, derived
    from .facts.postgres import PostgresServer

    def ask():
        server = cached_fact(host, PostgresServer, **server_request(settings))
        return server, select_cluster(server, settings.pg_cluster, host.name)

    # (host.data hands out a copy of the settings each time: the host is the key.)
    return derived(host, "server_and_cluster", None, ask)


def settings_plan(host, server: PgServer, cluster: PgCluster, **arguments):
    """model.server_settings.plan_server_settings, once per host and arguments: the task
    asks for it while planning, the operation's generator twice."""
    from .facts import derived
    from .model.server_settings import plan_server_settings

    return derived(
        host, "settings_plan", (id(cluster), repr(sorted(arguments.items()))),
        lambda: plan_server_settings(server, cluster, **arguments),
    )


def managed_objects(host):
    """PgObjects of our roles, databases and extensions on the managed cluster."""
    settings = host.data.settings
    return objects(host, settings, server_and_cluster(host, settings)[1])


def objects(host, settings, cluster: PgCluster):
    """PgObjects for our roles, databases and extensions on `cluster`: from the
    PostgresServer fact's run when it covered this cluster, else asked (once)."""
    from .facts import cached_fact
    from .facts.postgres_objects import PostgresObjects

    if cluster.objects is not None:
        return cluster.objects
    return cached_fact(
        host,
        PostgresObjects,
        port=cluster.port,
        **objects_request(settings),
        psql=pg_commands.psql_program(cluster.version),
    )


def select_cluster(server: PgServer, wanted: str | None, host_name: str) -> PgCluster:
    """The cluster to manage: `wanted` ("17/main") or the only one; it must be online."""
    clusters = server.clusters
    if not clusters:
        raise ClusterChoiceError(
            f"{host_name}: no PostgreSQL cluster found (is the postgresql package installed?)"
        )
    if wanted:
        matches = [c for c in clusters if c.id == wanted]
        if not matches:
            raise ClusterChoiceError(
                f"{host_name}: pg_cluster {wanted!r} not found; the host has "
                + ", ".join(c.id for c in clusters)
            )
        cluster = matches[0]
    elif len(clusters) > 1:
        raise ClusterChoiceError(
            f"{host_name}: several PostgreSQL clusters ("
            + ", ".join(c.id for c in clusters)
            + "): set pg_cluster in group_data to the one to manage"
        )
    else:
        cluster = clusters[0]
    if not cluster.online or cluster.query_failed or not cluster.hba_file:
        raise ClusterChoiceError(
            f"{host_name}: PostgreSQL cluster {cluster.id} is {cluster.status or 'not answering'}; "
            f"start it first (pg_ctlcluster {cluster.version} {cluster.name} start)"
        )
    if cluster.hba_text is None or cluster.conf_text is None:
        # Never edit a file whose current content is unknown (it would be rewritten).
        raise ClusterChoiceError(
            f"{host_name}: could not read {cluster.hba_file} or {cluster.config_file} "
            f"of PostgreSQL cluster {cluster.id}"
        )
    return cluster
