"""The PostgresServer fact on a real host: its cheap cluster listing agrees with pg_lsclusters.

The fact lists Debian clusters from their PID and socket lock files while every
cluster runs, and falls back to pg_lsclusters (Perl) otherwise. Both paths run
here against real clusters: one running, then a second one created and stopped,
then started.

Its one superuser session starts in the first managed database, which the application's
role owns: that role's search_path and functions must not run in it, nor a view it puts in
place of the seed records' table.
"""

import pytest

from deploylib.facts.postgres import PostgresServer, parse_server

from .harness import converge, psql, run_deploy, ssh, suite_data

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


# Functions the fact's SQL calls unqualified, shadowed in schema public of the owlclaw
# database (the one the fact's session starts in: it has an extension): signature -> (return type, pg_catalog's call). Each first records its caller.
SHADOWS = {
    "current_database()": ("name", "pg_catalog.current_database()"),
    "split_part(s text, sep text, n integer)": ("text", "pg_catalog.split_part(s, sep, n)"),
    "to_regclass(rel text)": ("regclass", "pg_catalog.to_regclass(rel)"),
    "pg_get_userbyid(id oid)": ("name", "pg_catalog.pg_get_userbyid(id)"),
    "starts_with(s text, prefix text)": ("boolean", "pg_catalog.starts_with(s, prefix)"),
}


def shadow_sql() -> str:
    """As the owlclaw role (the database's owner, not a superuser): a call log, the shadows
    before pg_catalog's, and a database search_path that puts them first."""
    functions = "".join(
        f"CREATE FUNCTION public.{signature} RETURNS {returns} LANGUAGE plpgsql "
        "SECURITY INVOKER VOLATILE AS $$ BEGIN "
        f"INSERT INTO public.fact_calls (who, what) VALUES (current_user, {signature.split('(')[0]!r}); "
        f"RETURN {call}; END $$;"
        for signature, (returns, call) in SHADOWS.items()
    )
    return (
        "SET ROLE owlclaw;"
        "CREATE TABLE public.fact_calls (who text, what text, at timestamptz DEFAULT now());"
        "GRANT INSERT ON public.fact_calls TO PUBLIC;"
        + functions
        + "ALTER DATABASE owlclaw SET search_path = public, pg_catalog;"
    )


def seeded(host) -> dict:
    """Overrides: owlclaw with a seed file, so that the deploy reads owlclaw's own catalogs
    (its session starts there) on every suite, vector or not."""
    databases = suite_data(host).get("databases") or {
        "hatchet": {"owner": "hatchet", "settings": {"timezone": "UTC"}},
        "owlclaw": {"owner": "owlclaw", "extensions": ["vector"]},
    }
    owlclaw = {**databases["owlclaw"], "seed_sql": "templates/seeds/example.sql"}
    return {"overrides": {"databases": {**databases, "owlclaw": owlclaw}}}


# (fresh_host: a pristine host per test, so nothing here needs undoing.)
def test_fact_session_never_runs_the_database_owners_functions(fresh_host):
    host = fresh_host
    converge(host, **seeded(host))
    psql(host, shadow_sql(), database="owlclaw")

    # Control: a superuser session in owlclaw with the database's search_path runs them.
    assert psql(host, "SELECT current_database()", database="owlclaw") == "owlclaw"
    assert psql(host, "SELECT who FROM public.fact_calls", database="owlclaw") == "postgres"
    psql(host, "DELETE FROM public.fact_calls", database="owlclaw")

    again = run_deploy(host, **seeded(host))
    assert again.ok and again.changed == [], again.describe()
    calls = psql(host, "SELECT who, what, count(*) FROM public.fact_calls GROUP BY 1, 2 ORDER BY 2",
                 database="owlclaw")
    assert calls == "", f"the deploy ran the owlclaw role's functions (caller|function|calls):\n{calls}"
    assert psql(host, "SELECT rolsuper FROM pg_roles WHERE rolname = 'owlclaw'") == "f"

    # The owner's database-level settings are its sessions', not the server's: a managed setting
    # the owner sets for its database (password_encryption is one anyone may SET) changes no
    # run: the session that starts in owlclaw sees the database sets a setting it reads and
    # reads the server's from postgres. (A session that read them in owlclaw got the
    # database's from pg_settings: every run rewrote postgresql.conf's managed settings and
    # reloaded.)
    psql(host, "SET ROLE owlclaw; ALTER DATABASE owlclaw SET password_encryption = 'md5'", database="owlclaw")
    third = run_deploy(host, **seeded(host))
    assert third.ok and third.changed == [], third.describe()

# As the owlclaw role: public.deploy_seed_applied replaced by a view whose reading calls the
# role's own function (schema-qualified: no search_path needed). Run as a superuser, the
# function logs its caller and makes owlclaw a superuser.
HOSTILE_SEED_VIEW = (
    "SET ROLE owlclaw;"
    "CREATE TABLE public.seed_reads (who text);"
    "GRANT INSERT ON public.seed_reads TO PUBLIC;"
    "CREATE FUNCTION public.escalate() RETURNS text LANGUAGE plpgsql SECURITY INVOKER VOLATILE "
    "AS $$ BEGIN INSERT INTO public.seed_reads VALUES (current_user); "
    "BEGIN ALTER ROLE owlclaw SUPERUSER; EXCEPTION WHEN insufficient_privilege THEN NULL; END; "
    "RETURN 'x'; END $$;"
    "DROP TABLE IF EXISTS public.deploy_seed_applied;"
    "CREATE VIEW public.deploy_seed_applied AS SELECT public.escalate() AS sha256, 'f'::text AS file;"
)


def test_fact_never_reads_a_seed_table_its_owner_made_a_view(fresh_host):
    host = fresh_host
    converge(host, **seeded(host))
    psql(host, HOSTILE_SEED_VIEW, database="owlclaw")

    # Control: a superuser reading the view runs the function as itself.
    psql(host, "SELECT * FROM public.deploy_seed_applied", database="owlclaw")
    assert psql(host, "SELECT who FROM public.seed_reads", database="owlclaw") == "postgres"
    assert psql(host, "SELECT rolsuper FROM pg_roles WHERE rolname = 'owlclaw'") == "t"
    psql(host, "ALTER ROLE owlclaw NOSUPERUSER")
    psql(host, "DELETE FROM public.seed_reads", database="owlclaw")

    again = run_deploy(host, **seeded(host))
    assert again.ok and again.changed == [], again.describe()
    assert psql(host, "SELECT who FROM public.seed_reads", database="owlclaw") == "", \
        "the deploy read the view as the superuser"
    assert psql(host, "SELECT rolsuper FROM pg_roles WHERE rolname = 'owlclaw'") == "f"
    assert ("public.deploy_seed_applied in database owlclaw is a view, not the plain table"
            in again.stderr), again.stderr[-3000:]
