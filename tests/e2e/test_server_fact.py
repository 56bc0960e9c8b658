"""The PostgresServer fact on a real host: its cheap cluster listing agrees with pg_lsclusters.

The fact lists Debian clusters from their PID and socket lock files while every
cluster runs, and falls back to pg_lsclusters (Perl) otherwise. Both paths run
here against real clusters: one running, then a second one created and stopped,
then started.
"""

import pytest

from deploylib.facts.postgres import PostgresServer, parse_server

from .harness import ssh

pytestmark = pytest.mark.e2e


def server_fact(host):
    command = PostgresServer().command("conf.d/90-hatchet-owlclaw-deploy.conf", ["listen_addresses"])
    proc = ssh(host, command)
    return parse_server(proc.stdout.splitlines())


def lsclusters(host) -> set[tuple[str, str, int, str]]:
    out = ssh(host, "pg_lsclusters -h").stdout
    return {(v, n, int(p), s) for v, n, p, s, *_ in (line.split() for line in out.splitlines())}


def listed(server) -> set[tuple[str, str, int, str]]:
    return {(c.version, c.name, c.port, c.status) for c in server.clusters}


def test_cluster_listing_matches_pg_lsclusters_running_and_stopped(fresh_host):
    server = server_fact(fresh_host)
    assert server.listed_by == "files"
    assert listed(server) == lsclusters(fresh_host)
    (cluster,) = server.clusters
    assert cluster.online and not cluster.query_failed
    assert cluster.config_file == f"/etc/postgresql/{cluster.version}/main/postgresql.conf"
    assert cluster.hba_text and cluster.conf_text
    assert cluster.postgres_bin == f"/usr/lib/postgresql/{cluster.version}/bin/postgres"

    # A second cluster, stopped: the cheap listing can't vouch for it -> pg_lsclusters.
    version = cluster.version
    ssh(fresh_host, f"pg_createcluster {version} second --port 5499 >/dev/null")
    server = server_fact(fresh_host)
    assert server.listed_by == "pg_lsclusters"
    assert listed(server) == lsclusters(fresh_host)
    assert {c.name: c.online for c in server.clusters} == {"main": True, "second": False}
    main = next(c for c in server.clusters if c.name == "main")
    assert main.config_file and main.hba_text, "the running cluster is still read in full"

    # Both running: back to the cheap listing, same answer as pg_lsclusters.
    ssh(fresh_host, f"pg_ctlcluster {version} second start")
    server = server_fact(fresh_host)
    assert server.listed_by == "files"
    assert listed(server) == lsclusters(fresh_host)
    second = next(c for c in server.clusters if c.name == "second")
    assert second.port == 5499 and second.setting("port") == "5499"
