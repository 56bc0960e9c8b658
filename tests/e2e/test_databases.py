"""Issue 4: hatchet and owlclaw roles and databases, isolated, pgvector, UTC; secrets never leak."""

import secrets
import subprocess

import pytest

from .harness import (
    DATABASES_WITHOUT_VECTOR,
    REPO,
    converge,
    in_client,
    probe_answer,
    psql,
    run_deploy,
    ssh,
)

pytestmark = pytest.mark.e2e

APP_NET = "10.213.7.192/27"
INSIDE = "10.213.7.201"
# Every user to every database from the probe network: so that what keeps hatchet out of
# owlclaw (and back) is the databases' CONNECT privilege, not pg_hba.
OPEN_HBA = {"pg_client_networks": [APP_NET], "pg_hba_rules": [
    {"type": "host", "database": "all", "user": "all", "address": APP_NET,
     "method": "scram-sha-256", "comment": "test: isolation is proven by CONNECT"}]}


def tricky_password() -> str:
    """Quotes, backslashes, $ and spaces; random, so it is in no file of the repository."""
    return f"p'a\"s s\\w$ord {secrets.token_urlsafe(12)} $(true) `x` 'end"


def passwords():
    return {"HATCHET_DB_PASSWORD": tricky_password(), "OWLCLAW_DB_PASSWORD": tricky_password()}


VERIFY = r"""
import sys, psycopg2
host, user, password, dbname, sql = sys.argv[1:6]
try:
    conn = psycopg2.connect(host=host, user=user, password=password, dbname=dbname, connect_timeout=5)
    conn.autocommit = True
    cur = conn.cursor()
    for statement in sql.split(";;"):
        cur.execute(statement)
    print(cur.fetchone()[0] if cur.description else "ok")
except psycopg2.Error as error:
    print("refused: " + str(error).strip().replace("\n", " "))
"""


def query_as(host, user, password, dbname, sql="SELECT 1"):
    import sys

    result = in_client("p201", INSIDE, [sys.executable, "-c", VERIFY, host.ip, user, password, dbname, sql])
    return probe_answer(result, ("",))


def test_converge_isolate_and_verify(fresh_trixie):
    host = fresh_trixie
    secret = passwords()
    first = converge(host, overrides=OPEN_HBA, extra_env=secret)
    for name in ("Role hatchet", "Database hatchet", "Role owlclaw", "Database owlclaw",
                 "Extensions in owlclaw", "PostgreSQL extension packages"):
        assert name in first.changed
    hatchet, owlclaw = secret["HATCHET_DB_PASSWORD"], secret["OWLCLAW_DB_PASSWORD"]

    assert query_as(host, "hatchet", hatchet, "hatchet", "SHOW timezone") == "UTC"
    assert query_as(
        host, "owlclaw", owlclaw, "owlclaw",
        "CREATE TABLE items (id int, embedding vector(3));;"
        "INSERT INTO items VALUES (1, '[1,2,3]');;"
        "SELECT embedding <-> '[1,2,4]' FROM items",
    ) == "1.0"
    assert "permission denied for database" in query_as(host, "hatchet", hatchet, "owlclaw")
    assert "permission denied for database" in query_as(host, "owlclaw", owlclaw, "hatchet")
    assert "password authentication failed" in query_as(host, "hatchet", "hatchet", "hatchet")

    roles = psql(host, "SELECT rolname, rolsuper, rolcreatedb, rolcreaterole, rolcanlogin "
                       "FROM pg_roles WHERE rolname IN ('hatchet','owlclaw') ORDER BY 1")
    assert roles.splitlines() == ["hatchet|f|f|f|t", "owlclaw|f|f|f|t"]
    assert psql(host, "SELECT pg_encoding_to_char(encoding) FROM pg_database "
                      "WHERE datname = 'owlclaw'") == "UTF8"
    assert psql(host, "SELECT left(rolpassword, 14) FROM pg_authid WHERE rolname = 'hatchet'") \
        == "SCRAM-SHA-256$"


def test_attribute_drift_converges(fresh_trixie):
    host = fresh_trixie
    secret = passwords()
    converge(host, overrides=OPEN_HBA, extra_env=secret)
    psql(host, "ALTER ROLE hatchet CREATEDB SUPERUSER; ALTER DATABASE hatchet SET timezone = 'Europe/Paris';"
               "GRANT CONNECT ON DATABASE owlclaw TO hatchet")
    fixed = run_deploy(host, overrides=OPEN_HBA, extra_env=secret)
    assert fixed.ok and set(fixed.changed) == {"Role hatchet", "Database hatchet", "Database owlclaw"}
    assert psql(host, "SELECT rolsuper, rolcreatedb FROM pg_roles WHERE rolname = 'hatchet'") == "f|f"
    assert query_as(host, "hatchet", secret["HATCHET_DB_PASSWORD"], "hatchet", "SHOW timezone") == "UTC"
    assert "permission denied" in query_as(host, "hatchet", secret["HATCHET_DB_PASSWORD"], "owlclaw")
    assert run_deploy(host, overrides=OPEN_HBA, extra_env=secret).changed == []


def test_password_rotation(fresh_trixie):
    host = fresh_trixie
    old = passwords()
    converge(host, overrides=OPEN_HBA, extra_env=old)
    new = {**old, "HATCHET_DB_PASSWORD": tricky_password()}
    rotated = run_deploy(host, overrides=OPEN_HBA, extra_env=new)
    assert rotated.ok, rotated.describe()
    assert rotated.changed == ["Role hatchet"]
    old_password = old["HATCHET_DB_PASSWORD"]
    assert "password authentication failed" in query_as(host, "hatchet", old_password, "hatchet")
    assert query_as(host, "hatchet", new["HATCHET_DB_PASSWORD"], "hatchet") == "1"
    assert run_deploy(host, overrides=OPEN_HBA, extra_env=new).changed == []


AUDIT_PSQL = r"""#!/bin/bash
# test wrapper: record every psql invocation's argv and stdin, then run the real psql
{ printf 'ARGV:'; printf ' %q' "$@"; echo; } >> /var/log/psql-audit.log
stdin=$(mktemp); cat > "$stdin"; { echo STDIN:; cat "$stdin"; } >> /var/log/psql-audit.log
exec REAL "$@" < "$stdin"
"""


def test_secrets_never_leak(fresh_trixie, tmp_path):
    host = fresh_trixie
    secret = passwords()
    plaintexts = list(secret.values())
    real = ssh(host, "ls /usr/lib/postgresql/*/bin/psql | head -1").stdout.strip()
    ssh(host, f"cat > /usr/local/bin/psql <<'EOF'\n{AUDIT_PSQL.replace('REAL', real)}EOF\n"
              "chmod 755 /usr/local/bin/psql; install -m 666 /dev/null /var/log/psql-audit.log; "
              "touch /tmp/before-deploy")
    # Every command line on the host, sampled continuously during the runs.
    sampler = subprocess.Popen(
        [*__import__("sandbox").hosts.ssh_command(host),
         "while :; do for f in /proc/[0-9]*/cmdline /proc/[0-9]*/environ; do "
         "tr '\\0' ' ' < $f 2>/dev/null; echo; done; done > /tmp/proc-samples.log 2>/dev/null"],
        stderr=subprocess.DEVNULL)
    try:
        outputs = []
        for args in (("-vvv",), ("-vvv", "--debug"), ("--dry", "-vvv"), ("--diff",)):
            result = run_deploy(host, overrides=OPEN_HBA, extra_env=secret, extra_args=args)
            assert result.ok, result.describe()
            outputs.append(result.stdout + result.stderr)
    finally:
        sampler.terminate()
        ssh(host, "pkill -f proc-samples.log", check=False)
    audit = ssh(host, "cat /var/log/psql-audit.log").stdout
    assert "ALTER ROLE" in audit or "CREATE ROLE" in audit, "the audit wrapper saw no role SQL"
    assert "PASSWORD 'SCRAM-SHA-256$" in audit, "only the verifier should travel"
    samples = ssh(host, "cat /tmp/proc-samples.log").stdout
    assert len(samples) > 10000, "the process sampler did not run"
    written = ssh(
        host, "find / -xdev -newer /tmp/before-deploy -type f ! -path /tmp/proc-samples.log "
              "! -path /var/log/psql-audit.log -print0 | xargs -0 cat 2>/dev/null | base64 -w0"
    ).stdout
    import base64

    written_bytes = base64.b64decode(written)
    assert len(written_bytes) > 10000, "no file written since the runs began: the check saw nothing"
    tracked = subprocess.run(["git", "grep", "-I", "-l", "-F", "-e", plaintexts[0], "-e", plaintexts[1]],
                             cwd=REPO, capture_output=True, text=True)
    for plaintext in plaintexts:
        for index, output in enumerate(outputs):
            assert plaintext not in output, f"password in pyinfra output of run {index}"
        assert plaintext not in audit, "password reached psql (argv or stdin)"
        assert plaintext not in samples, "password in a remote process list/environment"
        assert plaintext.encode() not in written_bytes, "password in a file the deploy wrote"
    # git grep exits 1 when nothing matches, 0 on a match, 2+ when it could not search at all
    assert tracked.returncode == 1, f"password in the git tree, or git grep failed: {tracked.stdout}{tracked.stderr}"


def test_bookworm_without_pgvector_fails_clearly_and_creates_nothing(sandbox_session):
    from sandbox import hosts

    host = hosts.reset(sandbox_session["bookworm"].index)
    result = run_deploy(host, overrides=OPEN_HBA, suite_defaults=False)
    assert not result.ok
    assert "postgresql-15-pgvector is not in this host's apt sources" in result.stderr
    assert "pgdg_apt_repository = True" in result.stderr
    assert psql(host, "SELECT count(*) FROM pg_roles WHERE rolname IN ('hatchet','owlclaw')") == "0"
    assert psql(host, "SELECT count(*) FROM pg_database WHERE datname IN ('hatchet','owlclaw')") == "0"


def test_bookworm_without_vector_converges(sandbox_session):
    """PostgreSQL 15 works when no extension needs a package it lacks."""
    from sandbox import hosts

    host = hosts.reset(sandbox_session["bookworm"].index)
    data = {**OPEN_HBA, "databases": DATABASES_WITHOUT_VECTOR}
    secret = passwords()
    converge(host, overrides=data, extra_env=secret)
    assert query_as(host, "hatchet", secret["HATCHET_DB_PASSWORD"], "hatchet", "SHOW timezone") == "UTC"
    assert "permission denied" in query_as(host, "owlclaw", secret["OWLCLAW_DB_PASSWORD"], "hatchet")


def test_removed_database_is_reported_not_dropped(fresh_trixie):
    host = fresh_trixie
    extra = {"hatchet": {"owner": "hatchet", "settings": {"timezone": "UTC"}},
             "owlclaw": {"owner": "owlclaw", "extensions": ["vector"]},
             "scratch": {"owner": "scratch"}}
    converge(host, overrides={**OPEN_HBA, "databases": extra})
    result = run_deploy(host, overrides=OPEN_HBA)
    # Only scratch's derived pg_hba rule goes (and the backup script stops dumping it);
    # the database and role stay.
    assert result.ok and result.changed == ["PostgreSQL 17/main client rules (pg_hba.conf)",
                                            "Backup script (/usr/local/sbin/hatchet-owlclaw-backup-dev)"]
    assert "database scratch is no longer in group_data; left in place" in result.stderr
    assert "role scratch is no longer in group_data" in result.stderr
    assert psql(host, "SELECT count(*) FROM pg_database WHERE datname = 'scratch'") == "1"


def test_seed_applied_once_ever(fresh_trixie, tmp_path):
    host = fresh_trixie
    dbs = {"hatchet": {"owner": "hatchet", "settings": {"timezone": "UTC"}},
           "owlclaw": {"owner": "owlclaw", "extensions": ["vector"],
                       "seed_sql": "templates/seeds/example.sql"}}
    first = converge(host, overrides={**OPEN_HBA, "databases": dbs})
    assert "Seed owlclaw (templates/seeds/example.sql)" in first.changed
    rows = psql(host, "SELECT key, value FROM app_config ORDER BY key", database="owlclaw")
    assert rows.splitlines() == ["environment|staging", "feature_x|off"]
    assert psql(host, "SELECT tableowner FROM pg_tables WHERE tablename = 'app_config'",
                database="owlclaw") == "owlclaw"
    # An operator changes a row; the seed never runs again, even if the file changes.
    psql(host, "UPDATE app_config SET value = 'on' WHERE key = 'feature_x'", database="owlclaw")
    seed = REPO / "templates/seeds/example.sql"
    original = seed.read_text()
    try:
        seed.write_text(original + "-- edited\n")
        again = run_deploy(host, overrides={**OPEN_HBA, "databases": dbs})
        assert again.ok and again.changed == []
        assert "seeds run once, not re-applied" in again.stderr
    finally:
        seed.write_text(original)
    assert psql(host, "SELECT value FROM app_config WHERE key = 'feature_x'", database="owlclaw") == "on"


def test_owners_search_path_never_steers_the_deploys_own_statements(fresh_trixie):
    """owlclaw's owner puts a schema of its own, with its own text type, first in the
    database's search_path: the deploy's superuser statements there ignore it (vector, missing
    again, goes to public; the seed records' columns are pg_catalog's text), while the seed
    itself runs as the owner with that search_path, as it always did."""
    host = fresh_trixie
    dbs = {"hatchet": {"owner": "hatchet", "settings": {"timezone": "UTC"}},
           "owlclaw": {"owner": "owlclaw", "extensions": ["vector"]}}
    converge(host, overrides={**OPEN_HBA, "databases": dbs})
    psql(host, "DROP EXTENSION vector", database="owlclaw")  # removed by hand
    psql(host, "SET ROLE owlclaw; CREATE SCHEMA own; CREATE DOMAIN own.text AS pg_catalog.text; "
         "ALTER DATABASE owlclaw SET search_path = own, public, pg_catalog", database="owlclaw")

    seeded = {**dbs, "owlclaw": {**dbs["owlclaw"], "seed_sql": "templates/seeds/example.sql"}}
    converge(host, overrides={**OPEN_HBA, "databases": seeded})
    assert psql(host, "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n "
                "ON n.oid = e.extnamespace WHERE e.extname = 'vector'", database="owlclaw") == "public"
    column_types = psql(
        host, "SELECT a.attname, n.nspname, t.typname FROM pg_attribute a "
        "JOIN pg_type t ON t.oid = a.atttypid JOIN pg_namespace n ON n.oid = t.typnamespace "
        "WHERE a.attrelid = 'public.deploy_seed_applied'::regclass AND a.attname IN ('sha256', 'file') "
        "ORDER BY 1", database="owlclaw")
    assert column_types.splitlines() == ["file|pg_catalog|text", "sha256|pg_catalog|text"]
    assert psql(host, "SELECT schemaname, tableowner FROM pg_tables WHERE tablename = 'app_config'",
                database="owlclaw") == "own|owlclaw"


@pytest.mark.xfail(strict=True, reason="known: a seed runs in the superuser's session after SET ROLE "
                   "owner, which the owner's own code (a trigger) can RESET; fixing it needs a session "
                   "authenticated as the owner")
def test_seed_never_lets_the_owners_trigger_become_superuser(fresh_trixie):
    """owlclaw's owner makes the table the seed fills first, with a trigger that goes back to
    the session's role and makes owlclaw a superuser: applying the seed must not run it as one."""
    host = fresh_trixie
    dbs = {"hatchet": {"owner": "hatchet", "settings": {"timezone": "UTC"}},
           "owlclaw": {"owner": "owlclaw", "extensions": ["vector"]}}
    converge(host, overrides={**OPEN_HBA, "databases": dbs})
    psql(host, "SET ROLE owlclaw; CREATE TABLE public.app_config (key text PRIMARY KEY, value text);"
         "CREATE FUNCTION public.escalate() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
         "RESET ROLE; ALTER ROLE owlclaw SUPERUSER; RETURN NEW; "
         "EXCEPTION WHEN insufficient_privilege THEN RETURN NEW; END $$;"
         "CREATE TRIGGER escalate BEFORE INSERT ON public.app_config "
         "FOR EACH ROW EXECUTE FUNCTION public.escalate();", database="owlclaw")

    seeded = {**dbs, "owlclaw": {**dbs["owlclaw"], "seed_sql": "templates/seeds/example.sql"}}
    run_deploy(host, overrides={**OPEN_HBA, "databases": seeded})
    assert psql(host, "SELECT rolsuper FROM pg_roles WHERE rolname = 'owlclaw'") == "f"


def test_pgdg_flag_configures_the_repository(sandbox_session):
    """With pgdg_apt_repository the PostgreSQL project's apt source is configured (signed by the
    key postgresql-common ships). The sandbox reaches only Debian's archive, so apt.postgresql.org
    itself cannot answer here: the run still ends in the clear pgvector failure, nothing created."""
    from sandbox import hosts

    host = hosts.reset(sandbox_session["bookworm"].index)
    result = run_deploy(host, overrides={**OPEN_HBA, "pgdg_apt_repository": True}, suite_defaults=False)
    sources = ssh(host, "cat /etc/apt/sources.list.d/pgdg.sources").stdout
    assert "URIs: http://apt.postgresql.org/pub/repos/apt" in sources
    assert "Suites: bookworm-pgdg" in sources
    assert "Signed-By: /usr/share/postgresql-common/pgdg/apt.postgresql.org.asc" in sources
    assert not result.ok and "postgresql-15-pgvector is not in this host's apt sources" in result.stderr
    assert psql(host, "SELECT count(*) FROM pg_roles WHERE rolname IN ('hatchet','owlclaw')") == "0"
