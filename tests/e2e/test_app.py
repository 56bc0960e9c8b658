"""Issue 6: the application — repository at a pinned ref, .env with the secrets, per-environment
compose overlays, `docker compose up` only when something changed; staging beside prod.

The app repository is a bare git repository made here and served by `git daemon` on the
sandbox bridge (10.213.7.1). A real Docker engine runs inside the sandbox host (installed by
the deploy from Debian's packages through the apt proxy; vfs storage, see sandbox/hosts.py).
No image registry is reachable, so the test imports a busybox-static root filesystem as the
image every service uses (`pull_policy: never`).

Debian 12 packages only compose v1: there the deploy must refuse, clearly, before installing
anything (test_bookworm_refuses_compose_v1); the full path runs on Debian 13.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import time

import pytest

from sandbox import hosts
from sandbox.demo import container_login_script, stand_in_image_script

from .harness import converge, psql, run_deploy, ssh

pytestmark = pytest.mark.e2e

BRIDGE = "10.213.7.1"
IMAGE = "sbx/busybox:test"
SECRETS = {"HATCHET_DB_PASSWORD": "h-Secret'with$odd chars#1", "OWLCLAW_DB_PASSWORD": "o-secret-2"}

BASE_COMPOSE = f"""\
services:
  hatchet-lite:
    image: {IMAGE}
    pull_policy: never
    command: ["sh", "-c", "mkdir -p /www && echo hatchet > /www/index.html && exec httpd -f -p 8888 -h /www"]
    environment:
      DATABASE_URL: postgresql://hatchet:hatchet@host.docker.internal:5432/hatchet
    ports: ["8888:8888"]
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8888/"]
      interval: 2s
      retries: 10
  app:
    image: {IMAGE}
    pull_policy: never
    command: ["sh", "-c", "mkdir -p /www && echo app > /www/index.html && exec httpd -f -p 3001 -h /www"]
    ports: ["3001:3001"]
  kibana:
    image: {IMAGE}
    pull_policy: never
    command: ["sleep", "100000"]
    ports: ["5601:5601"]
"""

COMPOSE_FILE = "deploy/docker-compose.lite.hatchet-only.yml"


def _git(cwd, *args):
    subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True, text=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((BRIDGE, 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def serve_repository(root):
    """`git daemon` on the bridge exporting the repositories under `root`; yields its port."""
    port = _free_port()
    daemon = subprocess.Popen(
        ["git", "daemon", f"--base-path={root}", "--export-all", "--reuseaddr",
         f"--listen={BRIDGE}", f"--port={port}", str(root)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection((BRIDGE, port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        yield port
    finally:
        daemon.terminate()
        daemon.wait(timeout=10)


@pytest.fixture(scope="module")
def app_repo(tmp_path_factory, sandbox_session):
    """A bare repository (tag v1 = the base compose file) served by git daemon on the bridge."""
    root = tmp_path_factory.mktemp("gitd")
    work = root / "work"
    work.mkdir()
    _git(work, "init", "-q", "-b", "main")
    _git(work, "config", "user.email", "test@example.invalid")
    _git(work, "config", "user.name", "test")
    (work / "deploy").mkdir()
    (work / COMPOSE_FILE).write_text(BASE_COMPOSE)
    (work / "README").write_text("owlclaw test app\n")
    _git(work, "add", ".")
    _git(work, "commit", "-q", "-m", "v1")
    _git(work, "tag", "-a", "v1", "-m", "release v1")
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(root / "app.git")], check=True)
    commit = subprocess.run(["git", "-C", str(work), "rev-parse", "v1^{commit}"],
                            capture_output=True, text=True, check=True).stdout.strip()
    with serve_repository(root) as port:
        yield {"url": f"git://{BRIDGE}:{port}/app.git", "commit": commit, "work": work,
               "bare": root / "app.git"}


def app_data(app_repo, **more) -> dict:
    return {
        "app_repo": app_repo["url"],
        "app_ref": "v1",
        "compose_files": [COMPOSE_FILE],
        "compose_bind_address": "0.0.0.0",
        # published on every address (the test reaches them from outside): staging and prod
        # refuse that unless the exception is named (deploylib/model/config.py policy)
        "policy_exceptions": ["network_wide_listen"],
        "compose_up_timeout": 90,
        **more,
    }


def install_docker_and_image(host, app_repo, env="dev", extra_env=None, overrides=None):
    """The deploy's own Docker step first (real apt through the proxy), then the test image."""
    result = run_deploy(host, env=env, deploy_file="tasks/docker.py",
                        overrides=overrides or app_data(app_repo), extra_env=extra_env)
    assert result.ok, result.describe()
    assert "Docker engine and compose packages" in result.changed
    import_test_image(host)


def import_test_image(host):
    """The busybox-static root filesystem as IMAGE (no registry is reachable)."""
    ssh(host, stand_in_image_script(IMAGE))


def create_databases(host, passwords):
    """The databases issue is not merged yet: make the roles and databases the deploy connects to."""
    for name, password in passwords.items():
        literal = password.replace("'", "''")
        psql(host, f"SET password_encryption = 'scram-sha-256'; "
                   f"CREATE ROLE {name} LOGIN PASSWORD '{literal}'")
        psql(host, f"CREATE DATABASE {name} OWNER {name}")


def container_pg_login(host, project, service, user, password, database):
    """psql from the container's network namespace to host.docker.internal as the container
    resolves it (its /etc/hosts): the connection comes from the compose network."""
    script = container_login_script(project, service, user, password, database)
    return subprocess.run([*hosts.ssh_command(host), "bash -s"], input=script, capture_output=True, text=True,
                          timeout=300)


def http_get(ip, port) -> str:
    """From the controller (outside the host)."""
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://{ip}:{port}/", timeout=5) as response:
            return response.read().decode().strip()
    except OSError as error:
        return f"error: {error}"


def compose_config(host, app_dir, project, overlay_dir):
    command = (f"cd {app_dir} && docker compose -p {project} --env-file {app_dir}/.env "
               f"-f {app_dir}/{COMPOSE_FILE} -f {overlay_dir}/compose.overlay.yml config --format json")
    return json.loads(ssh(host, command).stdout)


def dir_digest(host, path) -> str:
    """Every file under path (including .git and .env) with its mode, owner and sha256."""
    return ssh(host, f"cd {path} && find . -type f -printf '%p %m %u\\n' | sort && "
                     "find . -type f -print0 | sort -z | xargs -0 sha256sum").stdout


def test_bookworm_refuses_compose_v1(sandbox_session, app_repo):
    from sandbox import hosts

    from .conftest import SUITE_HOSTS

    host = hosts.reset(SUITE_HOSTS["bookworm"])
    result = run_deploy(host, overrides=app_data(app_repo))
    assert not result.ok
    assert "the distribution's docker-compose is 1.29.2-3 (compose v1" in result.stderr, result.describe()
    assert "docker-compose-plugin" in result.stderr  # what to do instead
    assert ssh(host, "command -v dockerd || echo none").stdout.strip() == "none"
    assert ssh(host, "test -e /data/owlclaw/.env || echo absent").stdout.strip() == "absent"


def converge_dev_app(host, app_repo):
    """Docker, the test image and the databases, then dev's app deploy, converged: (data, first run)."""
    install_docker_and_image(host, app_repo)
    create_databases(host, {"hatchet": "hatchet", "owlclaw": "owlclaw"})
    data = app_data(app_repo)
    first = converge(host, overrides=data)
    assert "docker compose up (owlclaw)" in first.changed
    return data, first


def test_dev_deploy_up_idempotent_and_reachable(fresh_trixie, app_repo):
    host = fresh_trixie
    data, first = converge_dev_app(host, app_repo)
    assert "App repository at v1" in first.changed

    # Checked out at the tag's commit, detached; .env private and right.
    head = ssh(host, "git -c safe.directory=/data/owlclaw -C /data/owlclaw rev-parse HEAD").stdout.strip()
    assert head == app_repo["commit"]
    stat = ssh(host, "stat -c '%a %U' /data/owlclaw/.env").stdout.split()
    assert stat == ["600", "deploy"]
    env = ssh(host, "cat /data/owlclaw/.env").stdout
    assert "HATCHET_DATABASE_URL='postgresql://hatchet:hatchet@host.docker.internal:5432/hatchet'" in env

    # Running for real: healthy, published on every interface, the .env reached the container.
    assert http_get(host.ip, 8888) == "hatchet"
    assert http_get(host.ip, 3001) == "app"
    login = container_pg_login(host, "owlclaw", "hatchet-lite", "hatchet", "hatchet", "hatchet")
    assert login.returncode == 0, login.stderr
    assert login.stdout.strip().startswith("172.30.0."), login.stdout

    # An untracked file survives a new ref; a change of ref is a fetch + checkout, and an `up`.
    ssh(host, "mkdir -p /data/owlclaw/data && echo keep > /data/owlclaw/data/file")
    work = app_repo["work"]
    (work / "CHANGELOG").write_text("v2\n")
    _git(work, "add", ".")
    _git(work, "commit", "-q", "-m", "v2")
    _git(work, "push", "-q", str(app_repo["bare"]), "main")
    second = run_deploy(host, overrides={**data, "app_ref": "main"})
    assert second.ok, second.describe()
    assert {"App repository at main", "docker compose up (owlclaw)"} <= set(second.changed)
    assert ssh(host, "cat /data/owlclaw/data/file").stdout == "keep\n"

    # A service that never comes up: the deploy fails, showing `compose ps` and its last log
    # lines; the record is not written, so the next run tries again.
    record = ssh(host, "cat /var/lib/hatchet-owlclaw-deploy/app/owlclaw/deployed").stdout
    (work / COMPOSE_FILE).write_text(
        BASE_COMPOSE + f"  broken:\n    image: {IMAGE}\n    pull_policy: never\n"
        '    command: ["sh", "-c", "echo boom-failure-line; exit 3"]\n'
    )
    _git(work, "checkout", "-q", "-b", "broken")
    _git(work, "commit", "-q", "-am", "broken service")
    _git(work, "push", "-q", str(app_repo["bare"]), "broken")
    _git(work, "checkout", "-q", "main")
    failed = run_deploy(host, overrides={**data, "app_ref": "broken", "compose_up_timeout": 8})
    assert not failed.ok
    output = failed.stdout + failed.stderr
    assert "not running/healthy after 8s: broken" in output, failed.describe()
    assert "--- last log lines of broken ---" in output and "boom-failure-line" in output
    assert ssh(host, "cat /var/lib/hatchet-owlclaw-deploy/app/owlclaw/deployed").stdout == record


STAGING_SECRETS = {"HATCHET_STAGING_DB_PASSWORD": "st-h-secret-3", "OWLCLAW_STAGING_DB_PASSWORD": "st-o-secret-4"}
STAGING_DATABASES = {
    "hatchet_staging": {"owner": "hatchet_staging", "settings": {"timezone": "UTC"}},
    "owlclaw_staging": {"owner": "owlclaw_staging"},
}


def managed_state(host, env: str, databases: tuple[str, ...]) -> dict:
    """What one environment owns on a shared host besides its app: its pg_hba.conf block,
    its firewall rules (ufw, when there), its backup script and schedule, its databases."""
    begin = f"# BEGIN managed by hatchet-owlclaw deploy ({env})"
    end = f"# END managed by hatchet-owlclaw deploy ({env})"
    hba = ssh(host, "cat $(cd / && runuser -u postgres -- psql -tAc 'SHOW hba_file')").stdout
    block = hba[hba.index(begin):hba.index(end)] if begin in hba else None
    tag_hex = f"hatchet-owlclaw-deploy {env} ".encode().hex()
    names = ", ".join(f"'{name}'" for name in databases)
    return {
        "hba_block": block,
        # grep: 0 found, 1 none (both answers), 2 unreadable rules (fails the test).
        "ufw": ssh(host, f"grep -h '^### tuple.*comment={tag_hex}' /etc/ufw/user.rules /etc/ufw/user6.rules"
                         "; [ $? -le 1 ]").stdout,
        "backup": ssh(host, f"sha256sum /usr/local/sbin/hatchet-owlclaw-backup-{env} "
                            f"/etc/cron.d/hatchet-owlclaw-backup-{env}").stdout,
        "comments": psql(host, "SELECT datname, shobj_description(oid, 'pg_database') FROM pg_database "
                               f"WHERE datname IN ({names}) ORDER BY 1"),
    }


def prod_snapshot(host) -> dict:
    containers = ssh(host, "for id in $(docker ps -aq --filter label=com.docker.compose.project=owlclaw); "
                           "do docker inspect -f '{{.Name}} {{.Id}} {{.State.StartedAt}} "
                           "{{json .HostConfig.PortBindings}}' $id; done | sort").stdout
    return {
        "dir": dir_digest(host, "/data/owlclaw"),
        "state": ssh(host, "cd /var/lib/hatchet-owlclaw-deploy/app/owlclaw && sha256sum *").stdout,
        "containers": containers,
        "networks": ssh(host, "docker network inspect owlclaw_default -f '{{json .IPAM.Config}}'").stdout,
        "databases": psql(host, "SELECT datname, datdba::regrole, datacl FROM pg_database "
                                "WHERE datname IN ('hatchet', 'owlclaw') ORDER BY 1"),
        "roles": psql(host, "SELECT rolname, rolpassword FROM pg_authid "
                            "WHERE rolname IN ('hatchet', 'owlclaw') ORDER BY 1"),
        "backups": ssh(host, "ls -l /var/backups/hatchet-owlclaw/hatchet "
                             "/var/backups/hatchet-owlclaw/owlclaw").stdout,
        **managed_state(host, "prod", ("hatchet", "owlclaw")),
    }


def test_staging_beside_prod_leaves_prod_untouched(fresh_trixie, app_repo):
    host = fresh_trixie
    # The operator allows the one restart and confirms prod's changes (the prod guard).
    prod_data = app_data(app_repo, pg_allow_restart=True, confirm_prod=True)
    install_docker_and_image(host, app_repo, env="prod", extra_env=SECRETS, overrides=prod_data)
    create_databases(host, {"hatchet": SECRETS["HATCHET_DB_PASSWORD"],
                            "owlclaw": SECRETS["OWLCLAW_DB_PASSWORD"]})
    create_databases(host, {"hatchet_staging": STAGING_SECRETS["HATCHET_STAGING_DB_PASSWORD"],
                            "owlclaw_staging": STAGING_SECRETS["OWLCLAW_STAGING_DB_PASSWORD"]})

    first = converge(host, env="prod", overrides=prod_data, extra_env=SECRETS)
    assert "docker compose up (owlclaw)" in first.changed
    # A fresh custom-format dump of each database was taken before `up`, private.
    dumps = ssh(host, "stat -c '%a %U %n' /var/backups/hatchet-owlclaw/*/*.dump").stdout.splitlines()
    assert len(dumps) == 2 and all(line.startswith("600 root ") for line in dumps), dumps
    assert ssh(host, "head -c 5 /var/backups/hatchet-owlclaw/hatchet/*.dump").stdout == "PGDMP"
    login = container_pg_login(host, "owlclaw", "hatchet-lite", "hatchet", SECRETS["HATCHET_DB_PASSWORD"],
                               "hatchet")
    assert login.returncode == 0 and login.stdout.strip().startswith("172.30.0."), login.stderr
    before = prod_snapshot(host)
    assert before["ufw"] and before["hba_block"], before  # prod's rules are there to compare

    staging_data = app_data(
        app_repo,
        app_ref="main",
        databases=STAGING_DATABASES,
        compose_services={
            "hatchet-lite": {"ports": ["8889:8888", "17078:7078"],
                             "database_env": {"DATABASE_URL": "hatchet_staging"}},
            "app": {"ports": ["3003:3001"]},
            "kibana": {"disabled": True},
        },
    )
    staged = converge(host, env="staging", overrides=staging_data, extra_env=STAGING_SECRETS)
    assert "docker compose up (owlclaw_staging)" in staged.changed

    # Prod: directory, .env, state, containers, ports, network, databases, backups unchanged.
    assert prod_snapshot(host) == before
    login = container_pg_login(host, "owlclaw", "hatchet-lite", "hatchet", SECRETS["HATCHET_DB_PASSWORD"],
                               "hatchet")
    assert login.returncode == 0, login.stderr

    # Staging: its own clone, project, .env, network, remapped ports; kibana not run.
    assert ssh(host, "stat -c '%a %U' /data/owlclaw_staging/.env").stdout.split() == ["600", "deploy"]
    env = ssh(host, "cat /data/owlclaw_staging/.env").stdout
    assert "@host.docker.internal:5432/hatchet_staging'" in env and "st-h-secret-3" in env
    assert SECRETS["HATCHET_DB_PASSWORD"] not in env
    assert http_get(host.ip, 8888) == "hatchet" and http_get(host.ip, 3001) == "app"
    assert http_get(host.ip, 8889) == "hatchet" and http_get(host.ip, 3003) == "app"
    config = compose_config(host, "/data/owlclaw_staging", "owlclaw_staging",
                            "/var/lib/hatchet-owlclaw-deploy/app/owlclaw_staging")
    assert "kibana" not in config["services"]  # profile "disabled" is never active
    assert [(p["published"], p["target"]) for p in config["services"]["app"]["ports"]] == [("3003", 3001)]
    assert config["services"]["app"]["ports"][0]["host_ip"] == "0.0.0.0"
    assert config["networks"]["default"]["ipam"]["config"] == [{"subnet": "172.30.1.0/24"}]
    assert "host.docker.internal=host-gateway" in config["services"]["hatchet-lite"]["extra_hosts"] or \
        "host.docker.internal:host-gateway" in str(config["services"]["hatchet-lite"]["extra_hosts"])
    running = ssh(host, "docker ps --filter label=com.docker.compose.project=owlclaw_staging "
                        "--format '{{.Label \"com.docker.compose.service\"}}' | sort").stdout.split()
    assert running == ["app", "hatchet-lite"]
    login = container_pg_login(host, "owlclaw_staging", "hatchet-lite", "hatchet_staging",
                               STAGING_SECRETS["HATCHET_STAGING_DB_PASSWORD"], "hatchet_staging")
    assert login.returncode == 0 and login.stdout.strip().startswith("172.30.1."), login.stderr

    # A new secret: .env is replaced (and compose re-run), never shown, at any verbosity, with --diff.
    new_secrets = {**STAGING_SECRETS, "HATCHET_STAGING_DB_PASSWORD": "N3w-st4ging-S3cret"}
    loud = run_deploy(host, env="staging", overrides=staging_data, extra_env=new_secrets,
                      extra_args=("-vvv", "--diff"))
    assert loud.ok, loud.describe()
    assert {"App .env", "docker compose up (owlclaw_staging)"} <= set(loud.changed)
    output = loud.stdout + loud.stderr
    for secret in ("N3w-st4ging-S3cret", "st-h-secret-3", "st-o-secret-4", SECRETS["OWLCLAW_DB_PASSWORD"]):
        assert secret not in output
    # --diff names the .env keys that change, never a value (deploylib/model/plan_diff.py).
    assert "Will modify /data/owlclaw_staging/.env" in output
    assert "~ HATCHET_STAGING_DATABASE_PASSWORD (value changed, not shown)" in output
    assert "N3w-st4ging-S3cret" in ssh(host, "cat /data/owlclaw_staging/.env").stdout
    assert prod_snapshot(host) == before

    # staging's own pg_hba block, backup script and comment, beside prod's (kept byte for byte).
    staging_state = managed_state(host, "staging", tuple(STAGING_DATABASES))
    assert staging_state["hba_block"] and "hatchet_staging" in staging_state["hba_block"]
    assert "hatchet_staging" not in before["hba_block"]
    assert "managed by hatchet-owlclaw deploy (staging)" in staging_state["comments"]
    assert "managed by hatchet-owlclaw deploy (prod)" in before["comments"]
    assert ssh(host, "ls /usr/local/sbin/hatchet-owlclaw-backup /etc/cron.d/hatchet-owlclaw-backup",
               check=False).returncode == 2  # one per environment, none shared (2: no such file)
    assert "hatchet_staging" not in ssh(host, "cat /usr/local/sbin/hatchet-owlclaw-backup-prod").stdout

    # Alternating runs, prod then staging then prod, change nothing at all: neither
    # rewrites the other's pg_hba block, firewall rules, backups or databases.
    for env, data, secrets in (("prod", prod_data, SECRETS), ("staging", staging_data, new_secrets),
                               ("prod", prod_data, SECRETS)):
        again = run_deploy(host, env=env, overrides=data, extra_env=secrets)
        assert again.ok and again.changed == [], (env, again.describe())
        assert prod_snapshot(host) == before
        assert managed_state(host, "staging", tuple(STAGING_DATABASES)) == staging_state
    # Both applications still reach their own databases.
    login = container_pg_login(host, "owlclaw", "hatchet-lite", "hatchet", SECRETS["HATCHET_DB_PASSWORD"],
                               "hatchet")
    assert login.returncode == 0, login.stderr
    login = container_pg_login(host, "owlclaw_staging", "hatchet-lite", "hatchet_staging",
                               "N3w-st4ging-S3cret", "hatchet_staging")
    assert login.returncode == 0, login.stderr


def test_dev_pushes_a_local_checkout_with_rsync(fresh_trixie, app_repo, tmp_path):
    """dev's other source: a local checkout pushed with rsync, only when its content changed;
    .git and node_modules never sent, .env and data/ on the host never deleted."""
    host = fresh_trixie
    install_docker_and_image(host, app_repo)
    create_databases(host, {"hatchet": "hatchet", "owlclaw": "owlclaw"})
    local = tmp_path / "checkout"
    subprocess.run(["git", "clone", "-q", str(app_repo["bare"]), str(local)], check=True)
    (local / "node_modules").mkdir()
    (local / "node_modules" / "big.js").write_text("x")
    data = {**app_data(app_repo), "app_repo": None, "app_local_dir": str(local)}
    first = converge(host, overrides=data)
    assert {"App tree from " + str(local), "docker compose up (owlclaw)"} <= set(first.changed)
    listing = ssh(host, "cd /data/owlclaw && find . -maxdepth 1 | sort").stdout.split()
    assert ".git" not in " ".join(listing) and "./node_modules" not in listing
    assert "./deploy" in listing and "./.env" in listing
    assert http_get(host.ip, 8888) == "hatchet"

    ssh(host, "mkdir -p /data/owlclaw/data && echo keep > /data/owlclaw/data/file")
    (local / "README").write_text("changed\n")
    (local / "CHANGELOG").unlink(missing_ok=True)
    again = run_deploy(host, overrides=data)
    assert again.ok, again.describe()
    assert {"App tree from " + str(local), "docker compose up (owlclaw)"} <= set(again.changed)
    assert ssh(host, "cat /data/owlclaw/README /data/owlclaw/data/file").stdout == "changed\nkeep\n"
    assert ssh(host, "stat -c %a /data/owlclaw/.env").stdout.strip() == "600"


def test_a_failing_service_logging_its_url_never_shows_the_secret(fresh_trixie, app_repo):
    """break16: when the services do not come up, the run prints `compose ps` and the failing
    services' last log lines; a service that logs its DATABASE_URL (many do, on a failed
    connection) would print the password there: the lines are redacted on the controller."""
    host = fresh_trixie
    install_docker_and_image(host, app_repo)
    work = app_repo["work"]
    leaky = BASE_COMPOSE.replace(
        '["sh", "-c", "mkdir -p /www && echo hatchet > /www/index.html && exec httpd -f -p 8888 -h /www"]',
        '["sh", "-c", "echo connecting to $$DATABASE_URL; echo password $$HATCHET_PW; exit 3"]',
    ).replace("    ports: [\"8888:8888\"]\n", "    ports: [\"8888:8888\"]\n    env_file: [../.env]\n"
              "    restart: \"no\"\n")
    leaky = leaky.replace("DATABASE_URL: postgresql://hatchet:hatchet@host.docker.internal:5432/hatchet",
                          "DATABASE_URL: postgresql://hatchet:hatchet@host.docker.internal:5432/hatchet\n"
                          "      HATCHET_PW: ${HATCHET_DATABASE_PASSWORD}")
    (work / COMPOSE_FILE).write_text(leaky)
    _git(work, "commit", "-q", "-am", "a service that logs its URL and fails")
    _git(work, "push", "-q", str(app_repo["bare"]), "HEAD:refs/heads/leaky")
    _git(work, "checkout", "-q", "HEAD~1", "--", COMPOSE_FILE)
    _git(work, "commit", "-q", "-am", "back to v1")

    failed = run_deploy(host, overrides=app_data(app_repo, app_ref="leaky", compose_up_timeout=6),
                        extra_env=SECRETS)
    assert not failed.ok, failed.describe()
    output = failed.stdout + failed.stderr
    assert "last log lines of hatchet-lite" in output and "connecting to postgresql://hatchet:" in output, \
        failed.describe()
    from urllib.parse import quote

    secret = SECRETS["HATCHET_DB_PASSWORD"]
    assert secret not in output and quote(secret, safe="") not in output
    assert "password <secret>" in output
