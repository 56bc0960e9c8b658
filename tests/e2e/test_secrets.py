"""Issue 16: a staging deploy whose only secrets are secrets/staging.env.age and the operator's
age identity converges; the passwords work from outside; none appears in -vvv output."""

import os
import shutil

import pytest
from pyrage import x25519

from deploylib.model import secret_files

from .harness import REPO, converge, run_deploy
from .test_databases import OPEN_HBA, query_as, tricky_password

pytestmark = pytest.mark.e2e

STAGING_VARIABLES = ("HATCHET_STAGING_DB_PASSWORD", "OWLCLAW_STAGING_DB_PASSWORD")


def project_copy(target):
    """The project without any secret: group_data, inventory, tasks, templates, deploy.py."""
    for name in ("group_data", "inventory", "tasks", "templates"):
        shutil.copytree(REPO / name, target / name)
    shutil.copy(REPO / "deploy.py", target / "deploy.py")
    (target / "secrets").mkdir()
    return target


def test_staging_from_the_encrypted_file_only(fresh_trixie, tmp_path, monkeypatch):
    host = fresh_trixie
    for variable in STAGING_VARIABLES:  # nothing from the environment: the .age file or nothing
        monkeypatch.delenv(variable, raising=False)
    project = project_copy(tmp_path / "project")
    identity = x25519.Identity.generate()
    identity_path = tmp_path / "operator" / "age-identity.txt"
    identity_path.parent.mkdir()
    identity_path.write_text(f"{identity}\n")
    identity_path.chmod(0o600)
    (project / "secrets" / "recipients.txt").write_text(f"{identity.to_public()} # the test operator\n")
    passwords = {variable: tricky_password() for variable in STAGING_VARIABLES}
    # tricky_password() holds single quotes: double-quote it the .env way (\" and \\ escaped).
    text = "".join(
        f'{variable}="{value.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"\n'
        for variable, value in passwords.items()
    )
    secret_files.write_encrypted(project / "secrets" / "staging.env.age", text,
                                 secret_files.read_recipients(project / "secrets" / "recipients.txt"))
    before = sorted(os.listdir(project / "secrets"))

    data = {**OPEN_HBA, "pg_listen_addresses": ["localhost", host.ip]}
    run = {"env": "staging", "overrides": data, "project": project, "workdir": tmp_path,
           "extra_env": {"AGE_IDENTITY_FILE": str(identity_path)}}
    first = converge(host, **run)
    for name in ("Role hatchet_staging", "Database hatchet_staging", "Role owlclaw_staging"):
        assert name in first.changed

    # From outside: the decrypted passwords are the roles' passwords; a wrong one is refused.
    hatchet, owlclaw = passwords["HATCHET_STAGING_DB_PASSWORD"], passwords["OWLCLAW_STAGING_DB_PASSWORD"]
    assert query_as(host, "hatchet_staging", hatchet, "hatchet_staging", "SHOW timezone") == "UTC"
    assert query_as(host, "owlclaw_staging", owlclaw, "owlclaw_staging") == "1"
    assert "password authentication failed" in query_as(host, "hatchet_staging", owlclaw, "hatchet_staging")

    # Verbose runs: no secret in any output; no plaintext file appeared.
    for args in (("-vvv",), ("--dry", "-vvv")):
        loud = run_deploy(host, extra_args=args, **run)
        assert loud.ok, loud.describe()
        for value in [*passwords.values(), str(identity)]:
            assert value not in loud.stdout + loud.stderr
        assert "plaintext" not in loud.stderr
    assert sorted(os.listdir(project / "secrets")) == before

    # Without the identity: a configuration error naming the file, before any host.
    missing = run_deploy(host, **{**run, "extra_env": {"AGE_IDENTITY_FILE": str(tmp_path / "none.txt")}})
    assert missing.returncode == 2
    assert f"{tmp_path / 'none.txt'}: no such age identity file" in missing.stderr
    assert "no host was contacted" in missing.stderr


def test_a_password_change_is_never_in_the_server_log(fresh_trixie):
    """break16: with statement logging on (log_statement = 'all', every statement's duration,
    a sampled transaction), the role SQL carrying SCRAM verifiers would be written to
    PostgreSQL's log, which the adm group reads: the deploy turns logging off for its
    transaction. The run's own statements still prove logging is on."""
    from .harness import converge, psql, run_deploy, ssh

    host = fresh_trixie
    psql(host, "ALTER SYSTEM SET log_statement = 'all'")
    psql(host, "ALTER SYSTEM SET log_min_duration_statement = 0")
    psql(host, "ALTER SYSTEM SET log_transaction_sample_rate = 1")
    psql(host, "SELECT pg_reload_conf()")
    log = "/var/log/postgresql/postgresql-17-main.log"
    converge(host, overrides={"app_repo": None})  # create (dev's default passwords)
    rotated = run_deploy(host, overrides={"app_repo": None},
                         extra_env={"HATCHET_DB_PASSWORD": "log-Canary-h1", "OWLCLAW_DB_PASSWORD": "log-Canary-o2"})
    assert rotated.ok and "Role hatchet" in " ".join(rotated.changed), rotated.describe()
    text = ssh(host, f"cat {log}").stdout
    assert "statement: SELECT 'role'" in text  # logging is on: the roles fact's query is there
    leaked = [line for line in text.splitlines() if "SCRAM-SHA-256$" in line or "PASSWORD '" in line]
    assert not leaked, leaked[:3]
