"""Issue 19: the application's own compose files, unmodified, get the deploy's credentials,
database host and ports (and issue 12 item 7: the managed cluster's real port).

The repository here has the shapes of the public OwlClaw repository's compose files (written
for these tests, literal upstream credentials included): `deploy/docker-compose.lite.hatchet-only.yml`,
the root `docker-compose.dev.yml` (a containerised PostgreSQL `owlclaw-db` the others depend on)
and `deploy/docker-compose.prod.yml`. Their images carry the upstream names but are busybox
stand-ins imported inside the sandbox host (no registry is reachable; present, so never pulled).

Every database-using service is checked from inside its running container: the value of its
own variable (read from /proc/<pid>/environ, as the process sees it) is what psql uses, in the
container's network namespace, resolving host.docker.internal through the container's /etc/hosts.
"""

from __future__ import annotations

import subprocess
import textwrap

import pytest

from ..owlclaw_services import DEV_ROOT_SERVICES, HATCHET_LITE, PROD_SERVICES
from .harness import converge, psql, run_deploy, ssh
from .test_app import _git, http_get, serve_repository

pytestmark = pytest.mark.e2e

HATCHET_LITE_IMAGE = "ghcr.io/hatchet-dev/hatchet/hatchet-lite:v0.53.0"
HATCHET_ENGINE_IMAGE = "ghcr.io/hatchet-dev/hatchet/hatchet-engine:latest"
REDIS_IMAGE = "redis:7-alpine"

HATCHET_ONLY = "deploy/docker-compose.lite.hatchet-only.yml"
DEV_ROOT = "docker-compose.dev.yml"
PROD = "deploy/docker-compose.prod.yml"

# ---------------------------------------------------------------- the upstream shapes

FILES = {
    HATCHET_ONLY: f"""\
# Hatchet Lite only, for a machine whose own PostgreSQL already has the hatchet database
# (user hatchet, password hatchet, localhost:5432).
services:
  hatchet-lite:
    image: {HATCHET_LITE_IMAGE}
    environment:
      DATABASE_URL: postgresql://hatchet:hatchet@host.docker.internal:5432/hatchet
      SERVER_PORT: "7077"
      SERVER_GRPC_PORT: "7078"
      SERVER_GRPC_BIND_ADDRESS: "0.0.0.0"
      SERVER_GRPC_BROADCAST_ADDRESS: "host.docker.internal:17077"
      SERVER_GRPC_INSECURE: "t"
      SERVER_URL: "http://host.docker.internal:8888"
    ports:
      - "17077:7078"
      - "8888:8888"
    volumes:
      - hatchet_lite_config:/config

volumes:
  hatchet_lite_config:
""",
    DEV_ROOT: f"""\
# Local development: PostgreSQL with pgvector, Redis, Hatchet Lite, optional Langfuse.
services:
  owlclaw-db:
    image: pgvector/pgvector:pg16
    environment:
      POSTGRES_USER: postgres
      POSTGRES_PASSWORD: postgres
      POSTGRES_DB: postgres
    ports:
      - "${{OWLCLAW_PG_PORT:-5432}}:5432"
    volumes:
      - owlclaw_dev_data:/var/lib/postgresql/data
      - ./deploy/init-db.sql:/docker-entrypoint-initdb.d/01-init-db.sql:ro
    healthcheck:
      test: ["CMD-SHELL", "pg_isready -U postgres -d postgres"]
      interval: 10s
      timeout: 5s
      retries: 8

  redis:
    image: {REDIS_IMAGE}
    ports:
      - "6379:6379"
    command: ["redis-server", "--save", "", "--appendonly", "no"]
    healthcheck:
      test: ["CMD", "redis-cli", "ping"]
      interval: 2s
      retries: 8

  hatchet-lite:
    image: {HATCHET_LITE_IMAGE}
    environment:
      DATABASE_URL: postgresql://hatchet:hatchet@owlclaw-db:5432/hatchet
      SERVER_PORT: "7077"
      SERVER_GRPC_PORT: "7078"
      SERVER_GRPC_BIND_ADDRESS: "0.0.0.0"
      SERVER_GRPC_BROADCAST_ADDRESS: "host.docker.internal:17077"
      SERVER_GRPC_INSECURE: "t"
      SERVER_URL: "http://host.docker.internal:8888"
    depends_on:
      owlclaw-db:
        condition: service_healthy
    ports:
      - "17077:7078"
      - "8888:8888"
    volumes:
      - hatchet_lite_config:/config
    healthcheck:
      test: ["CMD-SHELL", "wget -q -O- http://localhost:8888/ || exit 1"]
      interval: 2s
      retries: 10

  langfuse:
    image: langfuse/langfuse:2
    profiles: ["full"]
    environment:
      DATABASE_URL: postgresql://langfuse:langfuse@owlclaw-db:5432/langfuse
      DIRECT_URL: postgresql://langfuse:langfuse@owlclaw-db:5432/langfuse
      NEXTAUTH_SECRET: dev-local-secret
      REDIS_HOST: redis
    depends_on:
      owlclaw-db:
        condition: service_healthy
      redis:
        condition: service_healthy
    ports:
      - "3000:3000"

volumes:
  owlclaw_dev_data:
  hatchet_lite_config:
""",
    PROD: f"""\
# Data layer + Hatchet engine for production.
# POSTGRES_PASSWORD=... HATCHET_DB_PASSWORD=... docker compose -f deploy/docker-compose.prod.yml up -d
services:
  owlclaw-db:
    image: pgvector/pgvector:pg16
    environment:
      POSTGRES_USER: postgres
      POSTGRES_PASSWORD: ${{POSTGRES_PASSWORD}}
    volumes:
      - owlclaw_db_data:/var/lib/postgresql/data
      - ./init-db.sql:/docker-entrypoint-initdb.d/init-db.sql
    ports:
      - "5432:5432"

  hatchet-server:
    image: {HATCHET_ENGINE_IMAGE}
    environment:
      DATABASE_URL: postgresql://hatchet:${{HATCHET_DB_PASSWORD:-hatchet}}@owlclaw-db:5432/hatchet
      SERVER_PORT: 7077
      SERVER_MSGQUEUE_KIND: postgres
    ports:
      - "7077:7077"
      - "8080:8080"
    depends_on:
      - owlclaw-db

volumes:
  owlclaw_db_data:
""",
    "deploy/init-db.sql": "CREATE ROLE hatchet LOGIN PASSWORD 'hatchet';\nCREATE DATABASE hatchet OWNER hatchet;\n",
}

# ---------------------------------------------------------------- the configurations (README)

# Beside prod on one machine: its own ports (STACK.md's staging plan) and database.
STAGING_ROOT_SERVICES = {
    **DEV_ROOT_SERVICES,
    "redis": {"ports": ["6380:6379"]},
    "hatchet-lite": {**HATCHET_LITE, "ports": ["17078:7078", "8889:8888"],
                     "database_env": {"DATABASE_URL": "hatchet_staging"}},
}

SECRET = "h-Secret'with$odd chars#1"


def write_repository(root) -> None:
    for name, text in FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def install_docker_and_stand_ins(host, data, env="dev", extra_env=None):
    """The deploy's Docker step, then busybox images under the upstream names."""
    result = run_deploy(host, env=env, deploy_file="tasks/docker.py", overrides=data, extra_env=extra_env)
    assert result.ok, result.describe()
    ssh(host, textwrap.dedent(f"""\
        set -e
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends busybox-static >/dev/null
        root=$(mktemp -d); mkdir -p $root/bin $root/tmp $root/etc $root/usr/local/bin
        cp /bin/busybox $root/bin/
        for applet in sh httpd wget sleep cat echo mkdir env; do ln -s busybox $root/bin/$applet; done
        echo 'root:x:0:0:root:/:/bin/sh' > $root/etc/passwd
        printf '#!/bin/sh\\nexec sleep 1000000\\n' > $root/usr/local/bin/redis-server
        printf '#!/bin/sh\\necho PONG\\n' > $root/usr/local/bin/redis-cli
        chmod 755 $root/usr/local/bin/*
        web='mkdir -p /www && echo hatchet > /www/index.html && exec httpd -f -p 8888 -h /www'
        tar -C $root -c . | docker import -c "CMD [\\"sh\\", \\"-c\\", \\"$web\\"]" - {HATCHET_LITE_IMAGE} >/dev/null
        tar -C $root -c . | docker import -c 'CMD ["sleep", "1000000"]' - {HATCHET_ENGINE_IMAGE} >/dev/null
        tar -C $root -c . | docker import -c 'CMD ["redis-server"]' - {REDIS_IMAGE} >/dev/null
        rm -rf $root
    """))


def container_env(host, project, service, variable) -> str:
    """`variable` as the container's main process has it."""
    script = f"""
        set -e
        id=$(docker ps -q --filter label=com.docker.compose.project={project} \
             --filter label=com.docker.compose.service={service})
        pid=$(docker inspect -f '{{{{.State.Pid}}}}' "$id")
        tr '\\0' '\\n' < /proc/$pid/environ | sed -n 's/^{variable}=//p'
    """
    return ssh(host, script).stdout.rstrip("\n")


def login_with_container_env(host, project, service, variable="DATABASE_URL") -> list[str]:
    """psql with the container's own `variable` (a URL), in the container's network namespace,
    host.docker.internal resolved by the container's /etc/hosts: [user, database, server port,
    client address]."""
    script = f"""
        set -e
        id=$(docker ps -q --filter label=com.docker.compose.project={project} \
             --filter label=com.docker.compose.service={service})
        pid=$(docker inspect -f '{{{{.State.Pid}}}}' "$id")
        url=$(tr '\\0' '\\n' < /proc/$pid/environ | sed -n 's/^{variable}=//p')
        [ -n "$url" ] || {{ echo "no {variable} in the container's environment" >&2; exit 1; }}
        gw=$(awk '$2 == "host.docker.internal" {{print $1}}' /proc/$pid/root/etc/hosts)
        [ -n "$gw" ] || {{ echo "no host.docker.internal in the container's /etc/hosts" >&2; exit 1; }}
        PGHOSTADDR=$gw PGCONNECT_TIMEOUT=10 nsenter -t "$pid" -n -- psql -X -A -t -F ' ' -d "$url" \
            -c 'SELECT current_user, current_database(), inet_server_port(), inet_client_addr()'
    """
    result = ssh(host, script, check=False)
    assert result.returncode == 0, f"{service}: {result.stderr}"
    return result.stdout.split()


def services_of(host, project) -> list[str]:
    return ssh(host, f"docker ps -a --filter label=com.docker.compose.project={project} "
                     "--format '{{.Label \"com.docker.compose.service\"}}' | sort").stdout.split()


def test_upstream_files_reach_the_hosts_postgres_on_its_real_port(fresh_trixie, tmp_path):
    """dev, one host, the cluster moved to 5433, a secret with quotes and `$`: hatchet-only,
    then the root dev file, then the prod file; then a base file with a URL the overlay does
    not know stops the run before `up`."""
    host = fresh_trixie
    ssh(host, "sed -i 's/^port = 5432/port = 5433/' /etc/postgresql/17/main/postgresql.conf && "
              "pg_ctlcluster 17 main restart")
    local = tmp_path / "owlclaw"
    write_repository(local)
    secrets = {"HATCHET_DB_PASSWORD": SECRET}
    data = {"app_local_dir": str(local), "compose_files": [HATCHET_ONLY], "compose_bind_address": "0.0.0.0",
            "compose_up_timeout": 120}
    install_docker_and_stand_ins(host, data, extra_env=secrets)

    # 1. Hatchet Lite only, with the default compose_services (group_data/all.py).
    converge(host, overrides=data, extra_env=secrets)
    env = ssh(host, "cat /data/owlclaw/.env").stdout
    assert "DATABASE_PORT=5433\n" in env and "@host.docker.internal:5433/hatchet'" in env
    assert "5432" not in env  # issue 12 item 7: one source for the port
    user, database, port, client = login_with_container_env(host, "owlclaw", "hatchet-lite")
    assert (user, database, port) == ("hatchet", "hatchet", "5433") and client.startswith("172.30.0.")
    assert container_env(host, "owlclaw", "hatchet-lite", "SERVER_GRPC_BROADCAST_ADDRESS") == \
        "host.docker.internal:17077"
    assert SECRET not in ssh(host, "cat /var/lib/hatchet-owlclaw-deploy/app/owlclaw/compose.overlay.yml").stdout

    # 2. The root dev file: owlclaw-db is not run, hatchet-lite no longer waits for it.
    dev_root = {**data, "compose_files": [DEV_ROOT], "compose_services": DEV_ROOT_SERVICES}
    converge(host, overrides=dev_root, extra_env=secrets)
    assert services_of(host, "owlclaw") == ["hatchet-lite", "redis"]
    assert login_with_container_env(host, "owlclaw", "hatchet-lite")[:3] == ["hatchet", "hatchet", "5433"]
    assert http_get(host.ip, 8888) == "hatchet"

    # 3. The prod file: hatchet-server (hatchet-engine) on the host's hatchet database.
    prod_file = {**data, "compose_files": [PROD], "compose_services": PROD_SERVICES}
    converge(host, overrides=prod_file, extra_env=secrets)
    assert services_of(host, "owlclaw") == ["hatchet-server"]
    assert login_with_container_env(host, "owlclaw", "hatchet-server")[:3] == ["hatchet", "hatchet", "5433"]
    record = ssh(host, "cat /var/lib/hatchet-owlclaw-deploy/app/owlclaw/deployed").stdout
    started = ssh(host, "docker inspect -f '{{.State.StartedAt}}' owlclaw-hatchet-server-1").stdout

    # 4. A base file hard-coding a URL the overlay does not know: stopped before `up`.
    (local / PROD).write_text(FILES[PROD].replace("\nvolumes:", textwrap.dedent(f"""
          worker:
            image: {HATCHET_ENGINE_IMAGE}
            environment:
              OWLCLAW_DATABASE_URL: postgresql://owlclaw:owlclaw@owlclaw-db:5432/owlclaw
              # break16: the password put into the URL by compose itself, not percent-encoded:
              # with a '/' in it, what a parser reads as host, port and database are its pieces.
              OWLCLAW_RAW_URL: postgresql://owlclaw:${{OWLCLAW_DATABASE_PASSWORD}}@host.docker.internal:5433/owlclaw

        volumes:""").rstrip("\n"), 1))
    raw_secret = "5433/Owl-S3cret-Leak"
    stopped = run_deploy(host, overrides=prod_file, extra_env={**secrets, "OWLCLAW_DB_PASSWORD": raw_secret},
                         extra_args=("--debug", "-vvv"))
    assert not stopped.ok
    output = stopped.stdout + stopped.stderr
    assert ("service 'worker': OWLCLAW_DATABASE_URL: host 'owlclaw-db', expected 'host.docker.internal'; "
            "port 5432, expected 5433") in output, stopped.describe()
    assert "service 'worker': OWLCLAW_RAW_URL: its password is not percent-encoded" in output, stopped.describe()
    assert "stopped before `docker compose up`" in output
    assert SECRET not in output
    assert "Owl-S3cret-Leak" not in output  # not even the piece after the '/'
    assert services_of(host, "owlclaw") == ["hatchet-server"]  # no worker created
    assert ssh(host, "docker inspect -f '{{.State.StartedAt}}' owlclaw-hatchet-server-1").stdout == started
    assert ssh(host, "cat /var/lib/hatchet-owlclaw-deploy/app/owlclaw/deployed").stdout == record
    # Nothing was dumped or started by the failed run; the host's own cluster still serves.
    assert psql(host, "SELECT 1") == "1"


STAGING_SECRETS = {"HATCHET_STAGING_DB_PASSWORD": "st-h-secret-3", "OWLCLAW_STAGING_DB_PASSWORD": "st-o-secret-4"}
PROD_SECRETS = {"HATCHET_DB_PASSWORD": SECRET, "OWLCLAW_DB_PASSWORD": "o-secret-2"}


@pytest.fixture
def upstream_repo(tmp_path, sandbox_session):
    work = tmp_path / "work"
    work.mkdir()
    _git(work, "init", "-q", "-b", "main")
    _git(work, "config", "user.email", "test@example.invalid")
    _git(work, "config", "user.name", "test")
    write_repository(work)
    _git(work, "add", ".")
    _git(work, "commit", "-q", "-m", "upstream shapes")
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(tmp_path / "app.git")], check=True)
    with serve_repository(tmp_path) as port:
        yield f"git://10.213.7.1:{port}/app.git"


def test_staging_beside_prod_root_dev_file_advertises_own_ports(fresh_trixie, upstream_repo):
    host = fresh_trixie
    # Published on every address (the checks read them from outside): staging and prod refuse
    # that unless the exception is named (deploylib/model/config.py policy).
    common = {"app_repo": upstream_repo, "app_ref": "main", "compose_files": [DEV_ROOT],
              "compose_bind_address": "0.0.0.0", "policy_exceptions": ["network_wide_listen"],
              "compose_up_timeout": 120}
    prod = {**common, "compose_services": DEV_ROOT_SERVICES, "pg_allow_restart": True, "confirm_prod": True}
    staging = {**common, "compose_services": STAGING_ROOT_SERVICES}
    install_docker_and_stand_ins(host, prod, env="prod", extra_env=PROD_SECRETS)
    converge(host, env="prod", overrides=prod, extra_env=PROD_SECRETS)
    converge(host, env="staging", overrides=staging, extra_env=STAGING_SECRETS)

    advertised = {
        project: (container_env(host, project, "hatchet-lite", "SERVER_GRPC_BROADCAST_ADDRESS"),
                  container_env(host, project, "hatchet-lite", "SERVER_URL"),
                  ssh(host, f"docker port {project}-hatchet-lite-1 7078/tcp").stdout.split()[0].rsplit(":", 1)[1])
        for project in ("owlclaw", "owlclaw_staging")
    }
    assert advertised == {
        "owlclaw": ("host.docker.internal:17077", "http://host.docker.internal:8888", "17077"),
        "owlclaw_staging": ("host.docker.internal:17078", "http://host.docker.internal:8889", "17078"),
    }
    # Each reaches its own database with its own secret, as its own role; no owlclaw-db anywhere.
    assert login_with_container_env(host, "owlclaw", "hatchet-lite")[:3] == ["hatchet", "hatchet", "5432"]
    user, database, _, client = login_with_container_env(host, "owlclaw_staging", "hatchet-lite")
    assert (user, database) == ("hatchet_staging", "hatchet_staging") and client.startswith("172.30.1.")
    assert services_of(host, "owlclaw") == services_of(host, "owlclaw_staging") == ["hatchet-lite", "redis"]
    assert "h-Secret" not in ssh(host, "cat /data/owlclaw_staging/.env").stdout
