"""Bad configuration stops the real pyinfra CLI before any connection is made.

A TCP listener stands in for the target host's sshd: if pyinfra got as far as
connecting, the listener would see it.
"""

import socket
import subprocess
import sys
from pathlib import Path

import pytest

PYINFRA = str(Path(sys.executable).with_name("pyinfra"))


@pytest.fixture
def listener():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(0.5)
    yield server
    server.close()


def assert_no_connection(server):
    with pytest.raises(TimeoutError):
        server.accept()


def run_pyinfra(project, inventory, env=None):
    return subprocess.run(
        [PYINFRA, "-y", inventory, "deploy.py"],
        cwd=project,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", **(env or {})},
        timeout=60,
    )


def write_inventory(project, env_name, port):
    (project / "inventory" / "probe.py").write_text(
        "from deploylib.inventory import environment_hosts\n"
        f"probe = environment_hosts({env_name!r}, [('127.0.0.1', {{'ssh_port': {port}}})])\n"
    )
    return "inventory/probe.py"


def stderr_once_connected(project_copy, listener, environment, entry="deploy.py", env=None) -> str:
    """Run pyinfra until it connects to the listener (else the test fails); its stderr."""
    proc = subprocess.Popen(
        [PYINFRA, "-y", write_inventory(project_copy, environment, listener.getsockname()[1]), entry],
        cwd=project_copy, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={"PATH": "/usr/bin:/bin", **(env or {})},
    )
    try:
        listener.settimeout(30)
        connection, _ = listener.accept()
        connection.close()
    finally:
        proc.kill()
        _, stderr = proc.communicate()
    return stderr


def test_good_config_does_connect(project_copy, listener):
    """The control case: with valid data the listener does see pyinfra arrive."""
    stderr_once_connected(project_copy, listener, "dev")


def test_unknown_environment(project_copy, listener):
    result = run_pyinfra(project_copy, write_inventory(project_copy, "qa", listener.getsockname()[1]))
    assert result.returncode == 2
    assert "configuration error: unknown environment 'qa'" in result.stderr
    assert "no host was contacted" in result.stderr
    assert_no_connection(listener)


def test_malformed_cidr(project_copy, listener):
    bad = project_copy / "bad.py"
    bad.write_text('pg_client_networks = ["172.17.0.0/16", "10.1.2.300/24"]\n')
    result = run_pyinfra(
        project_copy,
        write_inventory(project_copy, "dev", listener.getsockname()[1]),
        env={"DEPLOY_OVERRIDES": str(bad)},
    )
    assert result.returncode == 2
    assert "bad.py: pg_client_networks: item 1 ('10.1.2.300/24')" in result.stderr
    assert_no_connection(listener)


def test_missing_required_key(project_copy, listener):
    (project_copy / "group_data" / "staging.py").write_text(
        'environment = "staging"\npg_client_networks = ["172.17.0.0/16"]\n'
    )
    result = run_pyinfra(
        project_copy, write_inventory(project_copy, "staging", listener.getsockname()[1])
    )
    assert result.returncode == 2
    assert "group_data/staging.py: missing required key 'pg_listen_addresses'" in result.stderr
    assert_no_connection(listener)


PROD_SECRETS = {"HATCHET_DB_PASSWORD": "h-secret", "OWLCLAW_DB_PASSWORD": "o-secret"}


@pytest.mark.parametrize(("overrides", "expected"), [
    # a broken overrides file: a configuration error, not a traceback
    ("pg_settings = {'work_mem': undefined_name}\n", "bad.py: line 1: NameError"),
    ("pg_settings = {\n", "bad.py: line 1"),
    # the policy, before any host is touched
    ('pg_listen_addresses = ["0.0.0.0"]\n',
     "bad.py: pg_listen_addresses: '0.0.0.0' listens on every address"),
    ('pg_hba_rules = [{"type": "host", "database": "all", "user": "all", "address": "0.0.0.0/0", '
     '"method": "trust"}]\n', "bad.py: pg_hba_rules: rule 0: address 0.0.0.0/0 is wider than /8"),
    ('pg_settings = {"password_encryption": "md5"}\n', "bad.py: pg_settings: password_encryption = 'md5'"),
    ('app_dir = "/data/o$(touch /tmp/x)"\n', "bad.py: app_dir: expected an absolute path"),
    ('backup_dir = "/var/lib/postgresql"\n', "bad.py: backup_dir: '/var/lib/postgresql' is within"),
    ('databases = {"template1": {"owner": "postgres"}}\n', "bad.py: databases: database 'template1'"),
    ('pg_hba_rules = [{"type": "host", "database": "all", "user": "all", "address": "10.0.0.0/24", '
     '"method": "ldap", "options": "ldapbindpasswd=TopSecret1"}]\n', "bad.py: pg_hba_rules: rule 0"),
    # Issue 20: an unknown key and two bad values, one run, one message naming all three.
    ('max_conections = 50\napp_dir = "relative/dir"\nbackup_dir = "also-relative"\n',
     "3 problems:\n  bad.py: unknown key 'max_conections'\n  bad.py: "),
])
def test_refused_in_prod_before_any_connection(project_copy, listener, overrides, expected):
    bad = project_copy / "bad.py"
    bad.write_text(overrides)
    result = run_pyinfra(
        project_copy,
        write_inventory(project_copy, "prod", listener.getsockname()[1]),
        env={"DEPLOY_OVERRIDES": str(bad), **PROD_SECRETS},
    )
    assert result.returncode == 2, result.stderr
    assert "configuration error: " + expected in result.stderr, result.stderr
    assert "no host was contacted" in result.stderr
    assert "Traceback" not in result.stderr
    assert "TopSecret1" not in result.stderr + result.stdout
    assert_no_connection(listener)


def test_a_password_with_a_newline_is_refused_naming_its_variable(project_copy, listener):
    result = run_pyinfra(
        project_copy,
        write_inventory(project_copy, "prod", listener.getsockname()[1]),
        env={**PROD_SECRETS, "HATCHET_DB_PASSWORD": "pw\nALTER ROLE x SUPERUSER"},
    )
    assert result.returncode == 2
    assert "configuration error: $HATCHET_DB_PASSWORD: the password of database 'hatchet'" in result.stderr
    assert "ALTER ROLE x" not in result.stderr + result.stdout
    assert_no_connection(listener)


def test_a_policy_exception_is_printed_on_every_run(project_copy, listener):
    """An accepted exception does not stop the run, and says so before connecting."""
    allowed = project_copy / "allowed.py"
    allowed.write_text('pg_listen_addresses = ["0.0.0.0"]\npolicy_exceptions = ["network_wide_listen"]\n')
    port = listener.getsockname()[1]
    proc = subprocess.Popen(
        [PYINFRA, "-y", write_inventory(project_copy, "prod", port), "deploy.py"],
        cwd=project_copy, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={"PATH": "/usr/bin:/bin", "DEPLOY_OVERRIDES": str(allowed), **PROD_SECRETS},
    )
    try:
        listener.settimeout(30)
        connection, _ = listener.accept()  # the exception does not stop the run
        connection.close()
    finally:
        proc.kill()
        _, stderr = proc.communicate()
    assert ("policy exception 'network_wide_listen' in effect (allowed.py): allowed.py: pg_listen_addresses: "
            "'0.0.0.0' listens on every address") in stderr


def test_every_missing_password_is_named_in_one_run(project_copy, listener):
    result = run_pyinfra(project_copy, write_inventory(project_copy, "prod", listener.getsockname()[1]))
    assert result.returncode == 2, result.stderr
    assert "configuration error: 2 problems:" in result.stderr, result.stderr
    for database, variable in (("hatchet", "HATCHET_DB_PASSWORD"), ("owlclaw", "OWLCLAW_DB_PASSWORD")):
        said = f"databases[{database!r}]: no password: set the environment variable {variable}"
        assert said in result.stderr
    assert_no_connection(listener)


def test_bootstrap_needs_no_database_secret(project_copy, listener):
    """bootstrap.py creates no database: prod without any password still gets to the host."""
    import shutil

    shutil.copy(Path(__file__).resolve().parents[2] / "bootstrap.py", project_copy / "bootstrap.py")
    stderr = stderr_once_connected(project_copy, listener, "prod", entry="bootstrap.py")
    assert "no password" not in stderr, stderr
