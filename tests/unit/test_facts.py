"""Fact output parsing (the remote commands themselves run in the e2e tests)."""

import base64
import shlex

from deploylib.facts.postgres import PostgresServer, parse_server, server_sql
from deploylib.facts.postgres_objects import PostgresObjects, parse_objects
from deploylib.model import shell
from deploylib.model.pg_sql import managed_comment
from deploylib.model.scram import scram_sha256_verifier


def b64(text):
    return base64.b64encode(text.encode()).decode()


def test_parse_server():
    hba = b64("local all all peer\n")
    lines = [
        "manager\tsysvinit",
        "pg_ctlcluster\tyes",
        "listed_by\tpg_lsclusters",
        "cluster\t17\tmain\t5432\tonline",
        "cluster\t16\told\t5433\tdown",
        "server\t5432",
        "setting\thba_file\t/etc/postgresql/17/main/pg_hba.conf\tsighup\tfalse",
        "setting\tlisten_addresses\tlocalhost\tpostmaster\tfalse",
        "setting\tserver_version_num\t170005\tinternal\tfalse",
        "setting\tIntervalStyle\tpostgres\tuser\tfalse\t\tenum\tiso_8601,postgres",
        "pending\tshared_buffers\t\t\t",
        "started\t1700000000.5\t1700000100.25\t\t",
        f"file\thba\t{hba}\t1700000050",
        f"file\tdropin\t{b64('')}\t1700000200",
        "postgres_bin\t/usr/lib/postgresql/17/bin/postgres",
    ]
    server = parse_server(lines)
    assert server.service_manager == "sysvinit" and server.has_pg_ctlcluster
    assert server.listed_by == "pg_lsclusters"
    main, old = server.clusters
    assert (main.id, main.port, main.online, old.online) == ("17/main", 5432, True, False)
    assert main.major_version == 17
    assert main.settings["listen_addresses"].context == "postmaster"
    # group_data's names are lower case, PostgreSQL's are not all (TimeZone, IntervalStyle).
    assert main.settings["intervalstyle"].enumvals == ("iso_8601", "postgres")
    assert main.pending_restart == ["shared_buffers"]
    assert main.hba_text == "local all all peer\n" and main.dropin_text == ""
    assert not main.changed_since_reload("hba") and main.changed_since_reload("dropin")
    assert main.postgres_bin.endswith("/postgres")


def test_server_fact_command_asks_for_settings():
    sql = server_sql(dropin="conf.d/x.conf", setting_names=["work_mem", "o'dd"])
    assert "'work_mem'" in sql and "'o''dd'" in sql
    assert "WHERE lower(name) IN ('config_file'" in sql  # pg_settings says TimeZone
    assert "|| 'conf.d/x.conf')" in sql
    command = PostgresServer().command(dropin="conf.d/x.conf", setting_names=["work_mem", "o'dd"])
    # the script from deploylib/facts/sh/postgres_server.sh; the SQL its first argument
    argv = shlex.split(command)
    assert argv[:2] == ["bash", "-c"] and argv[3:] == ["_", sql, "", "", "postgres"]
    assert argv[2].endswith(shell.script_text("postgres_server"))


def test_server_fact_session_starts_in_the_visited_database_with_pg_catalogs_names_only():
    """The managed cluster's session starts in the first database whose own catalogs it reads
    (a backend less), and visits no other database it has no need to (hatchet: no extension,
    no seed). There the database's own settings (ALTER DATABASE ... SET, which its owning
    application role may run) would replace the server's in pg_settings: when it sets one
    the server part reads, the session goes to postgres first. Every session and every
    reconnection first sets search_path to pg_catalog: that owner could otherwise put its own
    functions before pg_catalog's in this superuser session."""
    objects = {"cluster": "", "roles": ["hatchet", "owlclaw"], "databases": ["hatchet", "owlclaw"],
               "extensions": ["vector"], "visit": ["owlclaw"]}
    argv = shlex.split(PostgresServer().command(setting_names=["timezone"], objects=objects))
    server, objects_sql, cluster, start = argv[4:]
    assert (cluster, start) == ("", "owlclaw")
    assert '-p "$2" -d "$3"' in argv[2]
    assert server.startswith("SET search_path = pg_catalog;\n")
    check, rest = server.split(" AS settings_overridden \\gset\n", 1)
    assert "unnest(s.setconfig)" in check and "'timezone'" in check and "'port'" in check
    assert rest.startswith("\\if :settings_overridden\n\\c postgres\nSET search_path = pg_catalog;\n\\endif\n")
    assert objects_sql.startswith("SET search_path = pg_catalog;\n")
    assert "\\c hatchet" not in objects_sql
    visit = objects_sql.split("datname = 'owlclaw' \\gset\n", 1)[1]
    assert visit.startswith("\\if :db_exists\n\\if :db_elsewhere\n\\c owlclaw\nSET search_path = pg_catalog;\n\\endif\n")
    # Without a database to visit, it starts in postgres.
    argv = shlex.split(PostgresServer().command(objects={**objects, "visit": []}))
    assert argv[-1] == "postgres" and "\\c " not in argv[5]


def test_parse_objects_and_password_check():
    verifier = scram_sha256_verifier("s3cret", salt=b"0123456789abcdef")
    head = "$".join(verifier.split("$")[:2])
    import hashlib

    digest = hashlib.sha256(verifier.encode()).hexdigest()
    lines = [
        f"role\thatchet\ttrue\tfalse\tfalse\tfalse\ttrue\tfalse\tfalse\t{head}\t{digest}",
        "database\thatchet\thatchet\tUTF8\t{=T/hatchet,hatchet=CTc/hatchet}",
        "setting\thatchet\tTimeZone=UTC",
        "available\tvector",
        "template\tUTF8",
        "managed_database\thatchet\tmanaged by hatchet-owlclaw deploy (prod)",
        "managed_database\thatchet_staging\tmanaged by hatchet-owlclaw deploy (staging)",
        "managed_role\thatchet\tmanaged by hatchet-owlclaw deploy (prod)",
        "managed_role\told\tmanaged by hatchet-owlclaw deploy",
        "extension\thatchet\tplpgsql\t1.0\t1.0",
        "extension\thatchet\tvector\t0.7.0\t0.8.0",  # the package was upgraded
        "extension\thatchet\told_ext\t2.0\t",  # its package is gone: no default to go to
        "seedtable\thatchet\tpresent",
        "seed\thatchet\tabc\tseed.sql",
    ]
    objects = parse_objects(lines)
    role = objects.roles["hatchet"]
    assert role.attributes["rolcanlogin"] and not role.attributes["rolsuper"]
    assert role.password_matches("s3cret") and not role.password_matches("other")
    db = objects.databases["hatchet"]
    assert db.settings == {"timezone": "UTC"} and db.extensions == {"plpgsql", "vector", "old_ext"}
    assert db.outdated_extensions == {"vector": ("0.7.0", "0.8.0")}
    assert db.seeds == {"abc": "seed.sql"}
    assert objects.available_extensions == {"vector"}
    prod, staging = managed_comment("prod"), managed_comment("staging")
    assert prod == "managed by hatchet-owlclaw deploy (prod)"
    assert objects.carrying(objects.managed_databases, prod) == {"hatchet"}
    assert objects.carrying(objects.managed_databases, staging) == {"hatchet_staging"}
    assert objects.carrying(objects.managed_roles, prod) == {"hatchet"}
    # The comment from before it carried the environment belongs to no environment.
    assert objects.managed_roles["old"] == "managed by hatchet-owlclaw deploy"
    assert objects.carrying(objects.managed_roles, staging) == set()


def test_objects_fact_never_selects_the_verifier_keys():
    command = PostgresObjects().command(port=5432, roles=["hatchet"], databases=["hatchet"])
    assert "split_part(coalesce(rolpassword" in command
    assert "coalesce(rolpassword, '') FROM" not in command


def test_objects_script_reads_the_extensions_default_versions_once():
    from deploylib.facts.postgres_objects import objects_script

    script = objects_script(["hatchet"], ["hatchet", "owlclaw", "app"], ["vector"])
    # Once (it reads every control file), for both 'available' and every database's default
    # versions, not per database.
    assert script.count("pg_available_extensions") == 1
    assert "FROM pg_available_extensions WHERE name IN ('vector') \\gset" in script
    assert "SELECT 'available', json_object_keys(:'default_versions'::json);" in script
    assert script.count("\\gset\n\\if :db_exists") == 3
    assert script.index("AS default_versions") < script.index("\\c hatchet")
    assert script.count("coalesce(:'default_versions'::json ->> e.extname, '') FROM pg_extension e;") == 3
    # Only the databases asked for are visited.
    assert "\\c hatchet" not in objects_script(["hatchet"], ["hatchet", "owlclaw"], ["vector"], ["owlclaw"])


def test_objects_script_reads_the_seed_records_only_from_a_plain_table_of_text_columns():
    from deploylib.facts.postgres_objects import SEED_TABLE_CHECK, objects_script

    visit = objects_script(["hatchet"], ["hatchet"]).split("\\c hatchet\n", 1)[1]
    # Its owner can make it a view calling its functions: read only once the catalogs vouch.
    assert "to_regclass" not in visit
    check, read, refused = SEED_TABLE_CHECK, "FROM ONLY public.deploy_seed_applied", "seed_table_refused"
    assert visit.index(check) < visit.index("\\if :seeds_readable\n") < visit.index(read)
    assert visit.index(read) < visit.index("\\elif :seeds_found\n") < visit.index(refused)
    for vouches in ("c.relkind = 'r'", "NOT c.relhasrules", "a.attgenerated = ''",
                    "a.atttypid = 'pg_catalog.text'::pg_catalog.regtype"):
        assert vouches in check
    assert " pg_class" not in check and " pg_attribute" not in check  # only pg_catalog's

    objects = parse_objects([
        "database\thatchet\thatchet\tUTF8\t",
        "seed_table_refused\thatchet\ta view",
    ])
    assert objects.databases["hatchet"].seed_table_refused == "a view"
    assert objects.databases["hatchet"].seeds == {}


def test_postgres_facts_call_the_clusters_own_psql_not_the_perl_wrapper():
    from deploylib.model.pg_commands import psql_program

    assert psql_program("17") == "/usr/lib/postgresql/17/bin/psql"
    assert psql_program("9.6") == "/usr/lib/postgresql/9.6/bin/psql"
    assert psql_program("") == "psql"  # no Debian layout: whatever psql is on PATH
    assert psql_program("17; rm -rf /") == "psql"
    command = PostgresObjects().command(port=5433, databases=["hatchet"], psql=psql_program("15"))
    assert "setpriv --reuid=postgres --regid=postgres --init-groups --reset-env -- /usr/lib/postgresql/15/bin/psql -X" in command
    assert "-p 5433 -d postgres" in command
    server = PostgresServer().command()
    assert 'bin=/usr/lib/postgresql/$1/bin/psql' in server
    # pg_lsclusters only when the listing from PID and lock files can't answer.
    assert server.index("if running_debian_clusters &&") < server.index("pg_lsclusters -h")


def test_parse_server_keeps_objects_only_when_their_script_succeeded():
    head = ["cluster\t17\tmain\t5432\tonline", "server\t5432",
            "setting\thba_file\t/etc/postgresql/17/main/pg_hba.conf\tsighup\tfalse"]
    objects = ["objects_begin", "database\thatchet\thatchet\tUTF8\t", "setting\thatchet\tTimeZone=UTC"]
    (ok,) = parse_server(head + objects + ["objects_end\t0", "postgres_bin\t/x/postgres"]).clusters
    assert ok.objects.databases["hatchet"].settings == {"timezone": "UTC"}
    assert ok.setting("hba_file").endswith("pg_hba.conf")  # objects' "setting" lines stay apart
    assert ok.postgres_bin == "/x/postgres"
    (failed,) = parse_server(head + objects + ["objects_end\t3"]).clusters
    assert failed.objects is None  # asked again on its own (postgres_rules.objects)
