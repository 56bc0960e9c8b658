"""Plausible one-line bugs that no test caught (issue 18), each with a test that fails when the
bug is put in. Each was checked by applying the bug and seeing the test fail."""

from __future__ import annotations

import ast
import hashlib
import os
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

from deploylib.model import config, firewall, pg_hba, pg_sql, scram
from deploylib.model.compose import env_quote
from deploylib.model.config import ConfigError
from deploylib.model.shell import as_user
from deploylib.operations.app import checkout_script, git_checkout, wait_script
from tests.conftest import REPO
from tests.unit import compose_dotenv

SALT = bytes(range(16))


def load(env: str, overrides: dict, tmp: Path, monkeypatch) -> config.Settings:
    """Validate the project copy's data for `env` with `overrides` on top (a DEPLOY_OVERRIDES file)."""
    path = tmp / "overrides.py"
    path.write_text("".join(f"{key} = {value!r}\n" for key, value in overrides.items()))
    monkeypatch.setenv("DEPLOY_OVERRIDES", str(path))
    return config.validate(env, config.host_layers(env, "h1", {}))


@pytest.fixture
def secrets_env(monkeypatch):
    for name in ("HATCHET_DB_PASSWORD", "OWLCLAW_DB_PASSWORD", "HATCHET_STAGING_DB_PASSWORD",
                 "OWLCLAW_STAGING_DB_PASSWORD"):
        monkeypatch.setenv(name, f"{name.lower()}-value")


# --------------------------------------------------------------------------- SCRAM


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def head_of(verifier: str) -> str:
    method, rest, _ = verifier.split("$")
    return f"{method}${rest}"


@pytest.mark.parametrize("iterations", [4096, 10000, 1])
def test_digest_match_uses_the_stored_iteration_count(iterations):
    stored = scram.scram_sha256_verifier("s3cret", salt=SALT, iterations=iterations)
    assert scram.verifier_digest_matches("s3cret", head_of(stored), digest(stored))
    assert not scram.verifier_digest_matches("other", head_of(stored), digest(stored))
    # The head's count is what the digest was made with: another count is another verifier.
    wrong_count = head_of(stored).replace(f"${iterations}:", f"${iterations + 1}:")
    assert not scram.verifier_digest_matches("s3cret", wrong_count, digest(stored))


@pytest.mark.parametrize("method", ["SCRAM-SHA-1", "scram-sha-256", "md5", ""])
def test_digest_match_requires_the_scram_sha_256_method(method):
    stored = scram.scram_sha256_verifier("s3cret", salt=SALT)
    head = method + head_of(stored)[len("SCRAM-SHA-256"):]
    assert not scram.verifier_digest_matches("s3cret", head, digest(stored))


@pytest.mark.parametrize("head", ["SCRAM-SHA-256$", "SCRAM-SHA-256$4096", "SCRAM-SHA-256$4096:",
                                  "SCRAM-SHA-256$x:AAAA", "SCRAM-SHA-256$4096:!!", "SCRAM-SHA-256$0:AAAA"])
def test_digest_match_refuses_malformed_heads(head):
    assert not scram.verifier_digest_matches("s3cret", head, digest(head))


def test_verifier_matches_uses_the_stored_iteration_count_and_both_keys():
    stored = scram.scram_sha256_verifier("s3cret", salt=SALT, iterations=10000)
    assert scram.verifier_matches("s3cret", stored)
    parsed = scram.parse_verifier(stored)
    other = scram.compute_verifier("other", SALT, 10000)
    mixed_server = scram.ScramVerifier(10000, SALT, parsed.stored_key, other.server_key).to_string()
    mixed_stored = scram.ScramVerifier(10000, SALT, other.stored_key, parsed.server_key).to_string()
    assert not scram.verifier_matches("s3cret", mixed_server)
    assert not scram.verifier_matches("s3cret", mixed_stored)


# --------------------------------------------------------------------------- .env


@pytest.mark.parametrize("value", ["it's $HOME", 'it\'s "quoted"', "it's a \\ backslash", "it's $$",
                                   "it's ${X:-y}", "ends with \\", "$HOME", "a\\b"])
def test_env_values_read_back_literally(value):
    assert compose_dotenv.parse(f"K={env_quote(value)}\n") == {"K": value}


# --------------------------------------------------------------------------- isolation SQL


@pytest.mark.parametrize("acl", [
    "{=c/postgres,hatchet=CTc/postgres}",  # PUBLIC granted CONNECT explicitly by hand
    "{=Tc/postgres,hatchet=CTc/postgres,postgres=CTc/postgres}",
    '{"=c/postgres",hatchet=c/postgres}',
])
def test_isolation_revokes_public_connect_when_grantees_are_explicit(acl):
    sql = pg_sql.isolation_sql("hatchet", "hatchet", acl, ["owlclaw"])
    assert 'REVOKE CONNECT ON DATABASE "hatchet" FROM PUBLIC;' in sql
    assert "GRANT CONNECT" not in sql  # the owner has it already


def test_isolation_of_a_converged_acl_is_nothing():
    assert pg_sql.isolation_sql("hatchet", "hatchet", "{hatchet=CTc/hatchet,postgres=CTc/hatchet}",
                                ["owlclaw"]) == ""


def test_isolation_of_the_default_acl_revokes_public_and_grants_the_owner():
    sql = pg_sql.isolation_sql("hatchet", "hatchet", "", ["owlclaw"])
    assert sql == ('REVOKE CONNECT ON DATABASE "hatchet" FROM PUBLIC;\n'
                   'GRANT CONNECT ON DATABASE "hatchet" TO "hatchet";\n')


def test_isolation_revokes_another_managed_role_and_grants_a_missing_owner():
    sql = pg_sql.isolation_sql("hatchet", "hatchet", "{owlclaw=c/postgres,postgres=CTc/postgres}",
                               ["owlclaw"])
    assert sql == ('REVOKE CONNECT ON DATABASE "hatchet" FROM "owlclaw";\n'
                   'GRANT CONNECT ON DATABASE "hatchet" TO "hatchet";\n')


@pytest.mark.parametrize("column,keyword", [
    ("rolbypassrls", "NOBYPASSRLS"), ("rolsuper", "NOSUPERUSER"), ("rolcreatedb", "NOCREATEDB"),
    ("rolcreaterole", "NOCREATEROLE"), ("rolreplication", "NOREPLICATION"),
])
def test_each_dangerous_attribute_is_drift(column, keyword):
    current = {**pg_sql.wanted_attributes(), column: True}
    assert pg_sql.attribute_drift(current) == [keyword]
    assert keyword in pg_sql.create_role("r", "v")


@pytest.mark.parametrize("column,keyword", [("rolcanlogin", "LOGIN"), ("rolinherit", "INHERIT")])
def test_each_wanted_attribute_is_restored(column, keyword):
    current = {**pg_sql.wanted_attributes(), column: False}
    assert pg_sql.attribute_drift(current) == [keyword]


def test_no_drift_when_attributes_match():
    assert pg_sql.attribute_drift(pg_sql.wanted_attributes()) == []
    assert pg_sql.alter_role("r", [], None) == ""


# --------------------------------------------------------------------------- firewall cut-off


SS_LINES = [
    'LISTEN 0 128 127.0.0.1:5432 0.0.0.0:* users:(("postgres",pid=10,fd=5))',
    'LISTEN 0 128 [::1]:5432 [::]:* users:(("postgres",pid=10,fd=6))',
    'LISTEN 0 4096 127.0.0.53%lo:53 0.0.0.0:* users:(("systemd-resolve",pid=3,fd=14))',
    'LISTEN 0 128 0.0.0.0:22 0.0.0.0:* users:(("sshd",pid=1,fd=3))',
    'LISTEN 0 128 [::]:22 [::]:* users:(("sshd",pid=1,fd=4))',
    'LISTEN 0 511 0.0.0.0:8080 0.0.0.0:* users:(("nginx",pid=7,fd=6))',
    'LISTEN 0 511 [::]:9090 [::]:* users:(("node",pid=8,fd=6))',
    'LISTEN 0 511 *:3000 *:* users:(("grafana",pid=9,fd=6))',
    'LISTEN 0 4096 0.0.0.0:8888 0.0.0.0:* users:(("docker-proxy",pid=11,fd=4))',
]


def test_loopback_listeners_are_never_cut_off_and_public_ones_are():
    info = firewall.FirewallInfo(listeners=firewall.parse_ss_listeners(SS_LINES))
    blocked = firewall.blocked_listeners(info, open_ports={22, 5432})
    assert sorted((item.address, item.port) for item in blocked) == [
        ("*", 3000), ("0.0.0.0", 8080), ("[::]", 9090)]
    assert info.sshd_ports() == [22]


@pytest.mark.parametrize("address,loopback", [
    ("127.0.0.1", True), ("[::1]", True), ("127.0.0.53%lo", True), ("localhost", True),
    ("0.0.0.0", False), ("[::]", False), ("*", False), ("10.0.0.5", False), ("[fe80::1]%eth0", False),
])
def test_listener_loopback(address, loopback):
    assert firewall.Listener(address, 1, "x").loopback is loopback


# --------------------------------------------------------------------------- pg_hba shadowing


def test_host_names_compare_case_insensitively_in_shadowing():
    rule = pg_hba.HbaRule("host", "hatchet", "hatchet", "app.example.internal", "scram-sha-256")
    text = "host all all APP.Example.Internal reject\n"
    found = pg_hba.shadowing(text, [rule], position="bottom")
    assert [shadow.method for shadow in found] == ["reject"]
    assert pg_hba.shadowing("host all all other.example.internal reject\n", [rule], "bottom") == []


# --------------------------------------------------------------------------- configuration


def test_md5_is_refused_outside_dev(project_copy, monkeypatch, secrets_env, tmp_path):
    for env in ("staging", "prod"):
        with pytest.raises(ConfigError, match="pg_hba_auth_method"):
            load(env, {"pg_hba_auth_method": "md5"}, tmp_path, monkeypatch)
    assert load("dev", {"pg_hba_auth_method": "md5"}, tmp_path, monkeypatch).pg_hba_auth_method == "md5"


def test_restore_drop_old_needs_the_swap(project_copy, monkeypatch, secrets_env, tmp_path):
    with pytest.raises(ConfigError, match="restore_drop_old"):
        load("dev", {"restore_drop_old": True, "restore_swap": False}, tmp_path, monkeypatch)
    load("dev", {"restore_drop_old": True, "restore_swap": True}, tmp_path, monkeypatch)


def test_app_repo_and_app_local_dir_together_are_refused(project_copy, monkeypatch, secrets_env, tmp_path):
    with pytest.raises(ConfigError, match="app_local_dir"):
        load("dev", {"app_repo": "https://git.example.invalid/app.git", "app_local_dir": "/src/app"},
             tmp_path, monkeypatch)


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o620, 0o660, 0o601])
def test_a_secrets_file_others_can_reach_is_refused(project_copy, mode):
    path = project_copy / "secrets" / "staging.env"
    path.parent.mkdir(exist_ok=True)
    path.write_text("HATCHET_STAGING_DB_PASSWORD=x\n")
    path.chmod(mode)
    with pytest.raises(ConfigError, match=f"mode {mode:04o}"):
        config.read_secrets_file(path)
    path.chmod(0o600)
    assert config.read_secrets_file(path) == {"HATCHET_STAGING_DB_PASSWORD": "x"}
    path.chmod(0o400)
    assert config.read_secrets_file(path) == {"HATCHET_STAGING_DB_PASSWORD": "x"}


def test_shipped_prod_data_never_restarts_and_turns_the_firewall_on(monkeypatch, secrets_env):
    """The values prod actually ships with (the repository's own group_data, no overrides)."""
    monkeypatch.chdir(REPO)
    monkeypatch.delenv("DEPLOY_OVERRIDES", raising=False)
    settings = config.validate("prod", config.host_layers("prod", "h1", {}))
    assert settings.pg_allow_restart is False
    assert settings.firewall_enable is True
    assert settings.pg_hba_auth_method == "scram-sha-256"
    assert settings.backup_before_deploy is True
    assert "*" not in settings.pg_listen_addresses


# --------------------------------------------------------------------------- prod guard


def includes(entry_point: str) -> list[str]:
    """The task files an entry point includes, in order (from its code, not its comments)."""
    tree = ast.parse((REPO / entry_point).read_text())
    found = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "include" and node.args
                and isinstance(node.args[0], ast.Constant)):
            found.append((node.lineno, node.args[0].value))
    return [name for _, name in sorted(found)]


@pytest.mark.parametrize("entry_point", ["deploy.py", "bootstrap.py", "restore.py"])
def test_the_prod_guard_ends_every_entry_point(entry_point):
    """The guard sees the whole plan: only the run lock's release (which plans no change of
    its own: it takes the lock at the first change and releases it at the end) follows it."""
    tasks = includes(entry_point)
    assert tasks[-2:] == ["tasks/prod_guard.py", "tasks/run_unlock.py"], tasks
    assert tasks[0] == "tasks/run_lock.py", tasks
    assert tasks.count("tasks/prod_guard.py") == 1


def test_every_entry_point_is_checked():
    entry_points = {path.name for path in REPO.glob("*.py") if "local.include" in path.read_text()}
    assert entry_points == {"deploy.py", "bootstrap.py", "restore.py"}


# --------------------------------------------------------------------------- application step


def git(cwd, *args):
    return subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True, text=True).stdout


# git runs as the checkout's owner, never as root in the tree (the fact and the operation): here
# that owner is `nobody`, in a directory it can reach (pytest's tmp_path is root's alone).
OWNER = "nobody"


@pytest.fixture
def shared_tmp():
    if os.geteuid() != 0:
        pytest.skip("runs git as the checkout's owner (runuser needs root)")
    path = Path(tempfile.mkdtemp(prefix="known-bugs-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


@pytest.fixture
def two_commit_repo(shared_tmp):
    origin = shared_tmp / "origin"
    origin.mkdir()
    git(origin, "init", "-q", "-b", "main")
    git(origin, "config", "user.email", "t@example.invalid")
    git(origin, "config", "user.name", "t")
    (origin / "compose.yml").write_text("services: {}\n")
    git(origin, "add", ".")
    git(origin, "commit", "-q", "-m", "one")
    git(origin, "tag", "v1")
    (origin / "compose.yml").write_text("services: {a: {image: x}}\n")
    git(origin, "commit", "-q", "-am", "two")
    shutil.chown(origin, OWNER)
    for path in origin.rglob("*"):
        shutil.chown(path, OWNER)
    return origin


def as_owner(script: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", as_user(OWNER, script)], capture_output=True, text=True)


def test_modified_tracked_files_stop_the_checkout(shared_tmp, two_commit_repo, monkeypatch):
    from deploylib.facts.app import GitCheckout

    target = shared_tmp / "app"
    target.mkdir()
    shutil.chown(target, OWNER)
    url = f"file://{two_commit_repo}"
    first = as_owner(checkout_script(str(target), url, "v1", None))
    assert first.returncode == 0, first.stderr
    (target / "compose.yml").write_text("hand edit\n")

    # The fact counts the modification ...
    fact = subprocess.run(["sh", "-c", GitCheckout().command(str(target), "", "", OWNER)], check=True,
                          capture_output=True, text=True)
    checkout = GitCheckout().process(fact.stdout.splitlines())
    v1 = git(two_commit_repo, "-c", "safe.directory=*", "rev-parse", "v1^{commit}").strip()
    assert checkout.exists == "git" and checkout.head == v1
    assert checkout.tracked_changes == 1

    # ... the operation refuses to plan over it ...
    from pyinfra.api.exceptions import OperationError

    from deploylib.operations import app as app_operations

    monkeypatch.setattr(app_operations, "git_checkout_fact", lambda *args: checkout)  # the fact above
    with pytest.raises(OperationError, match="tracked file"):
        list(git_checkout._inner(str(target), url, "main", OWNER))

    # ... and the script itself never overwrites it.
    moved = as_owner(checkout_script(str(target), url, "main", None))
    assert moved.returncode != 0
    assert "would be overwritten by checkout" in moved.stderr, moved.stderr
    assert (target / "compose.yml").read_text() == "hand edit\n"


# --------------------------------------------------------------------------- compose wait

FAKE_DOCKER = """#!/bin/sh
# docker ps: the next state line of the scripted sequence (the last one repeats); anything else: ok.
[ "$1" = ps ] || exit 0
n=$(cat "$STATES.n" 2>/dev/null || echo 0); n=$((n + 1)); echo "$n" > "$STATES.n"
line=$(sed -n "${n}p" "$STATES"); [ -n "$line" ] || line=$(tail -n 1 "$STATES")
[ "$line" = "-" ] || printf '%s\\n' "$line" | tr '|' '\\n'
"""


def run_wait(tmp_path, states: list[str], timeout: int = 10):
    """wait_script against a fake docker whose `docker ps` answers `states`, one per check
    ('|' separates containers, '-' none), and a fake clock: `sleep N` moves `date +%s` on by N
    at once (nothing waits for real)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "docker").write_text(FAKE_DOCKER)
    (bin_dir / "date").write_text('#!/bin/sh\ncat "$CLOCK"\n')
    (bin_dir / "sleep").write_text('#!/bin/sh\necho $(( $(cat "$CLOCK") + $1 )) > "$CLOCK"\n')
    for name in ("docker", "date", "sleep"):
        (bin_dir / name).chmod(stat.S_IRWXU)
    (tmp_path / "clock").write_text("1000\n")
    (tmp_path / "states").write_text("".join(line + "\n" for line in states))
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "STATES": str(tmp_path / "states"),
           "CLOCK": str(tmp_path / "clock")}
    proc = subprocess.run(["bash", "-c", wait_script(["docker", "compose", "-p", "p"], "p", timeout)],
                          env=env, capture_output=True, text=True, timeout=120)
    checks = int((tmp_path / "states.n").read_text())
    return proc, checks


UP = "app\trunning\tUp 5 seconds"
HEALTHY = "db\trunning\tUp 9 seconds (healthy)"
UNHEALTHY = "db\trunning\tUp 9 seconds (unhealthy)"
STARTING = "db\trunning\tUp 1 second (health: starting)"
DONE = "migrate\texited\tExited (0) 3 seconds ago"
FAILED = "migrate\texited\tExited (1) 3 seconds ago"


def test_wait_needs_two_good_checks_in_a_row(tmp_path):
    proc, checks = run_wait(tmp_path, [f"{UP}|{HEALTHY}", f"{UP}|{STARTING}", f"{UP}|{HEALTHY}|{DONE}"])
    assert proc.returncode == 0, proc.stderr
    assert checks == 4  # good, bad (resets), good, good


@pytest.mark.parametrize("bad", [UNHEALTHY, STARTING, FAILED, "app\trestarting\tRestarting (1)", "-"])
def test_wait_never_counts_a_bad_state_as_up(tmp_path, bad):
    proc, checks = run_wait(tmp_path, [f"{UP}|{bad}"] if bad != "-" else ["-"], timeout=10)
    assert proc.returncode == 1, proc.stdout
    assert "not running/healthy after 10s" in proc.stderr
    assert checks == 6  # every 2 s until the deadline, never good
