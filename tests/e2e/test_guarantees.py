"""README guarantees about a host that no other end-to-end test could see broken.

Lean on purpose: one converged host per test, several guarantees checked on it.
"""

import pytest

from bench.bench import remote_commands

from .harness import converge, psql, run_deploy, server_times, ssh
from .test_ops import KEY

pytestmark = pytest.mark.e2e

PROD_SECRETS = {"HATCHET_DB_PASSWORD": "prod-hatchet-pw-1", "OWLCLAW_DB_PASSWORD": "prod-owlclaw-pw-1"}
LEGACY_BACKUP_FILES = ("/usr/local/sbin/hatchet-owlclaw-backup", "/etc/cron.d/hatchet-owlclaw-backup")


def role_state(host, role: str) -> str:
    return psql(host, "SELECT rolsuper, rolcreatedb, rolcreaterole, rolinherit, rolreplication, "
                      f"rolbypassrls, rolcanlogin FROM pg_roles WHERE rolname = '{role}'")


def can_connect(host, role: str, database: str) -> str:
    return psql(host, f"SELECT has_database_privilege('{role}', '{database}', 'CONNECT')")


def public_connect(host, database: str) -> str:
    """How many CONNECT grants PUBLIC (grantee 0) holds on `database`, from PostgreSQL's catalog."""
    return psql(host, "SELECT count(*) FROM pg_database d, aclexplode(d.datacl) a "
                      f"WHERE d.datname = '{database}' AND a.grantee = 0 AND a.privilege_type = 'CONNECT'")


def test_dev_host_guarantees(fresh_trixie):
    host = fresh_trixie
    # Unsuffixed backup files an older deploy wrote: the per-environment ones replace them.
    for path in LEGACY_BACKUP_FILES:
        ssh(host, f"echo '# written by an older deploy' > {path}")
    converge(host)
    gone = ssh(host, "for f in " + " ".join(LEGACY_BACKUP_FILES) + "; do test ! -e $f || echo $f; done")
    assert gone.stdout == "", gone.stdout
    assert ssh(host, "test -x /usr/local/sbin/hatchet-owlclaw-backup-dev && echo ok").stdout == "ok\n"

    # "A no-op costs one remote command per host", counted as bench/bench.py counts them.
    noop = run_deploy(host, extra_args=("--debug",))
    assert noop.ok and noop.changed == [], noop.describe()
    assert remote_commands(noop.stdout + noop.stderr) == {host.name: 1}

    # Hand changes: a role gains what it must not have, PUBLIC and another application role
    # get CONNECT; the password is set again by PostgreSQL itself with another iteration count.
    wanted_role = role_state(host, "hatchet")
    assert wanted_role == "f|f|f|t|f|f|t"
    psql(host, "ALTER ROLE hatchet BYPASSRLS CREATEDB CREATEROLE NOINHERIT; "
               "GRANT CONNECT ON DATABASE hatchet TO PUBLIC; GRANT CONNECT ON DATABASE hatchet TO owlclaw")
    psql(host, "SET scram_iterations = 10000; ALTER ROLE hatchet PASSWORD 'hatchet'")  # dev password
    verifier = psql(host, "SELECT rolpassword FROM pg_authid WHERE rolname = 'hatchet'")
    assert verifier.startswith("SCRAM-SHA-256$10000:")
    assert public_connect(host, "hatchet") == "1" and can_connect(host, "owlclaw", "hatchet") == "t"

    fixed = converge(host)
    assert fixed.changed, fixed.describe()
    assert role_state(host, "hatchet") == wanted_role
    assert public_connect(host, "hatchet") == "0"
    assert can_connect(host, "owlclaw", "hatchet") == "f"
    assert can_connect(host, "hatchet", "hatchet") == "t"
    # The same password with 10000 iterations was recognised: not set again.
    assert psql(host, "SELECT rolpassword FROM pg_authid WHERE rolname = 'hatchet'") == verifier


def test_prod_with_its_shipped_data_never_restarts_and_guards_every_entry_point(fresh_trixie):
    """group_data/prod.py as shipped (no override of pg_allow_restart or firewall_enable): its
    listen_addresses need a restart on a fresh host; prod leaves it pending and says so."""
    host = fresh_trixie
    start = server_times(host)[0]
    confirmed = {**PROD_SECRETS, "CONFIRM_PROD": "yes"}
    first = converge(host, env="prod", extra_env=confirmed)
    assert "needs a restart for listen_addresses" in first.stderr, first.describe()
    assert server_times(host)[0] == start
    assert psql(host, "SELECT pending_restart FROM pg_settings WHERE name = 'listen_addresses'") == "t"
    assert ssh(host, "ufw status").stdout.startswith("Status: active")  # firewall_enable, SSH kept
    ssh(host, "/usr/local/sbin/hatchet-owlclaw-backup-prod")
    dump = ssh(host, "ls -1t /var/backups/hatchet-owlclaw/owlclaw/*.dump").stdout.split()[0]

    # The prod guard ends bootstrap.py and restore.py as it ends deploy.py (tests/e2e/test_ops.py):
    # unconfirmed changes are refused and nothing runs.
    databases = "SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database"
    deploy_user = "getent passwd deploy || test $? -eq 2"  # 2: no such user
    before = (psql(host, databases), ssh(host, deploy_user).stdout)
    assert before[1] == ""  # bootstrap would create the deploy user
    restore = ("--data", "restore_database=owlclaw", "--data", f"restore_file={dump}")
    for entry_point, args in (("bootstrap.py", ()), ("restore.py", restore)):
        refused = run_deploy(host, env="prod", deploy_file=entry_point, extra_args=args,
                             overrides={"deploy_user_public_key_file": KEY + ".pub"}, extra_env=PROD_SECRETS)
        assert not refused.ok, (entry_point, refused.describe())
        assert "prod guard: " in refused.stderr and "Nothing was executed on any host" in refused.stderr, \
            (entry_point, refused.stderr[-3000:])
        assert (psql(host, databases), ssh(host, deploy_user).stdout) == before
    assert server_times(host)[0] == start
