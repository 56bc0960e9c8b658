"""`./run demo`: a pristine sandbox host taken to the whole stack, then what an operator checks.

    python -m sandbox.demo            # host $DEMO_HOST (default 1), from the image alone
    python -m sandbox.demo --check    # only the checks, against a host the demo deployed

The host starts from the image alone (``up --fresh``: whatever tests or earlier demos left
is dropped) and must hold exactly one PostgreSQL cluster before anything is deployed. The
deploy runs as in dev, unchanged, with: the firewall (ufw) on; an "app network" of probe
addresses on the sandbox bridge allowed to PostgreSQL; the application from a local compose
project (``app_local_dir``). No image registry is reachable here, so that project is a
stand-in, as the tests use: busybox's httpd as hatchet-lite, in an image imported from
Debian's busybox-static. The database passwords are random, kept (0600) in the host's
sandbox directory for ``--check``, never printed.

The checks, from outside the host as an operator would make them: hatchet and owlclaw log
in over TCP from the app network (psycopg2 in a probe namespace); hatchet's timezone;
pgvector in owlclaw; the port is closed to an address outside the app network (the
firewall drops it); the firewall's rules; the application container reaches PostgreSQL
from its compose network and answers; the audit log's last entry.
"""

from __future__ import annotations

import argparse
import json
import os
import runpy
import secrets
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

from . import hosts

REPO = hosts.REPO
PYINFRA = str(Path(sys.executable).with_name("pyinfra"))
SUITE = "trixie"  # Debian 13: PostgreSQL 17 with pgvector packaged, compose v2

# Probe addresses on the sandbox bridge, clear of the hosts (.11-.190 at most) and of the
# tests' probes (.192-.255): the app network, one address in it and one outside.
APP_NETWORK = "10.213.7.184/29"
INSIDE, OUTSIDE = "10.213.7.185", "10.213.7.183"

IMAGE = "sbx/busybox:demo"
COMPOSE_FILE = "deploy/docker-compose.lite.hatchet-only.yml"
STAND_IN_COMPOSE = f"""\
# A stand-in for OwlClaw's compose file (no image registry is reachable in the sandbox):
# busybox's httpd plays hatchet-lite; the deploy's overlay gives it DATABASE_URL.
services:
  hatchet-lite:
    image: {IMAGE}
    pull_policy: never
    command: ["sh", "-c", "echo hatchet-lite stand-in > /index.html && exec httpd -f -p 8888 -h /"]
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8888/"]
      interval: 2s
      retries: 15
"""

PROBE = """
import json, sys, psycopg2  # the password comes in PGPASSWORD: never in a process list
host, user, dbname, sql = sys.argv[1:5]
try:
    conn = psycopg2.connect(host=host, port=5432, user=user, dbname=dbname, connect_timeout=5)
    cur = conn.cursor()
    cur.execute(sql)
    print(json.dumps({"row": [str(v) for v in cur.fetchone() or ()]}))
except psycopg2.OperationalError as error:
    print(json.dumps({"error": " ".join(str(error).split())}))
"""

TCP_PROBE = """
import socket, sys
try:
    socket.create_connection((sys.argv[1], 5432), timeout=3).close()
    print("open")
except socket.timeout:
    print("timeout")
except OSError as error:
    print("refused: " + str(error))
"""


def say(message: str) -> None:
    print(f"demo: {message}", flush=True)


def demo_dir(host) -> Path:
    return host.dir / "demo"


# --------------------------------------------------------------------------- deploying


def overrides(host) -> dict:
    dev = runpy.run_path(str(REPO / "group_data" / "dev.py"))
    return {
        "pg_client_networks": [*dev["pg_client_networks"], APP_NETWORK],
        "firewall_backend": "ufw",
        "firewall_enable": True,
        "app_local_dir": str(demo_dir(host) / "app"),
        "compose_files": [COMPOSE_FILE],
        "compose_up_timeout": 120,
    }


def passwords_file(host) -> Path:
    return demo_dir(host) / "secrets.env"


def new_passwords(host) -> dict:
    values = {name: secrets.token_urlsafe(18) for name in ("HATCHET_DB_PASSWORD", "OWLCLAW_DB_PASSWORD")}
    path = passwords_file(host)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text("".join(f"{name}={value}\n" for name, value in values.items()))
    return values


def read_passwords(host) -> dict:
    path = passwords_file(host)
    if not path.exists():
        raise SystemExit(f"demo: {path} is missing: run the demo first (python -m sandbox.demo)")
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def pyinfra(host, deploy_file: str, passwords: dict, *args: str, capture: bool = False):
    """pyinfra against this one host, as dev, with the demo's overrides and passwords."""
    path = demo_dir(host) / "overrides.py"
    path.write_text("".join(f"{key} = {value!r}\n" for key, value in overrides(host).items()))
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEPLOY_")}
    env.update(passwords, SANDBOX_ENV="dev", SANDBOX_HOSTS=str(host.index), DEPLOY_OVERRIDES=str(path))
    argv = [PYINFRA, "-y", *args, "inventory/sandbox.py", deploy_file]
    return subprocess.run(argv, cwd=REPO, env=env, text=True, capture_output=capture, timeout=1800)


def ssh(host, script: str, check: bool = True) -> subprocess.CompletedProcess:
    """A script run by bash on the host, given on stdin (nothing of it in a process list)."""
    proc = subprocess.run([*hosts.ssh_command(host), "bash -s"], input=script, capture_output=True,
                          text=True, timeout=600)
    if check and proc.returncode != 0:
        raise SystemExit(f"demo: on {host.name}: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc


def pristine_host(index: int):
    say(f"starting sandbox host {index} ({SUITE}) from the image alone (up --fresh)")
    host = hosts.up(1, SUITE, first=index, fresh=True, say=say)[0]
    clusters = ssh(host, "pg_lsclusters -h | awk '{print $1 \"/\" $2}'").stdout.split()
    leftovers = ssh(host, "ls -d /data /var/log/hatchet-owlclaw-deploy 2>/dev/null; true").stdout.split()
    if clusters != ["17/main"] or leftovers:
        raise SystemExit(f"demo: {host.name} is not pristine (clusters {clusters}, {leftovers}): "
                         f"`python -m sandbox reset {index}`")
    say(f"{host.name} ({host.ip}) is pristine: one PostgreSQL cluster (17/main), nothing deployed")
    return host


def write_stand_in(host) -> None:
    app = demo_dir(host) / "app"
    (app / "deploy").mkdir(parents=True, exist_ok=True)
    (app / COMPOSE_FILE).write_text(STAND_IN_COMPOSE)
    (app / "README").write_text("A stand-in for OwlClaw (python -m sandbox.demo).\n")


def stand_in_image_script(image: str) -> str:
    """bash on a host with Docker: busybox-static's root filesystem imported as ``image``
    (`docker import`: no registry needed). The tests' image too."""
    return textwrap.dedent(f"""\
        set -e
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends busybox-static >/dev/null
        root=$(mktemp -d); mkdir -p $root/bin $root/tmp $root/etc
        cp /bin/busybox $root/bin/
        for applet in sh httpd wget nc sleep cat echo mkdir ls env; do ln -s busybox $root/bin/$applet; done
        echo 'root:x:0:0:root:/:/bin/sh' > $root/etc/passwd
        tar -C $root -c . | docker import -c 'CMD ["/bin/sh"]' - {shlex.quote(image)} >/dev/null
        rm -rf $root
    """)


def changed_operations(stdout: str) -> list[str] | None:
    """The operations a `pyinfra --json` run changed (None: its results are unreadable)."""
    for line in reversed(stdout.splitlines()):
        if line.startswith("{"):
            try:
                results = json.loads(line)["results"]["operations"]
            except (ValueError, KeyError, TypeError):
                return None
            return [op["name"].split(" | ", 1)[-1] for op in results if op["success"]]
    return None


def deploy(host) -> None:
    passwords = new_passwords(host)
    write_stand_in(host)
    say("no image registry is reachable here: the application is a stand-in compose project "
        f"({demo_dir(host) / 'app'}; busybox's httpd as hatchet-lite), as the tests use")
    say("step 1/3: Docker, with the deploy's own step (tasks/docker.py); then the stand-in image, "
        f"imported from Debian's busybox-static as {IMAGE}")
    docker = pyinfra(host, "tasks/docker.py", passwords, capture=True)
    if docker.returncode != 0:
        print(docker.stderr[-4000:], file=sys.stderr)
        raise SystemExit("demo: the Docker step failed")
    ssh(host, stand_in_image_script(IMAGE))
    say("step 2/3: the whole deploy (deploy.py) as dev, with ufw on, the app network "
        f"{APP_NETWORK} allowed and the stand-in application; random database passwords")
    print(flush=True)
    if pyinfra(host, "deploy.py", passwords).returncode != 0:
        raise SystemExit("demo: the deploy failed (above)")
    print(flush=True)
    say("step 3/3: the same deploy again: nothing to change")
    again = pyinfra(host, "deploy.py", passwords, "--json", capture=True)
    changed = changed_operations(again.stdout)
    for line in again.stderr.splitlines():
        if "last deploy of this host" in line:
            print(line)
    if again.returncode != 0 or changed != []:
        print(again.stderr[-4000:], file=sys.stderr)
        raise SystemExit(f"demo: the second run changed {changed}")
    say("second run: no changes")


# --------------------------------------------------------------------------- checking


def probe(name: str, ip: str, argv: list[str], env: dict | None = None) -> str:
    netns = hosts.client(name, ip)
    proc = subprocess.run(["ip", "netns", "exec", netns, *argv], capture_output=True, text=True,
                          timeout=60, env={**os.environ, **(env or {})})
    return proc.stdout.strip() or f"probe failed: {proc.stderr.strip()[-300:]}"


def query_from(ip: str, host, user: str, password: str, database: str, sql: str) -> dict:
    argv = [sys.executable, "-c", PROBE, host.ip, user, database, sql]
    answer = probe("demo" + ip.rsplit(".", 1)[-1], ip, argv, env={"PGPASSWORD": password})
    try:
        return json.loads(answer)
    except ValueError:
        return {"error": answer}


def container_login_script(project: str, service: str, user: str, password: str, database: str) -> str:
    """bash: psql from the service's network namespace to host.docker.internal as the container
    resolves it (its /etc/hosts): the connection comes from the compose network. Prints the
    client address PostgreSQL saw. Give it on stdin: it holds the password."""
    return textwrap.dedent(f"""\
        set -e
        id=$(docker ps -q --filter label=com.docker.compose.project={shlex.quote(project)} \\
             --filter label=com.docker.compose.service={shlex.quote(service)})
        [ -n "$id" ] || {{ echo "{service} is not running" >&2; exit 1; }}
        gw=$(docker exec "$id" cat /etc/hosts | awk '$2 == "host.docker.internal" {{print $1}}')
        [ -n "$gw" ] || {{ echo "no host.docker.internal in the container's /etc/hosts" >&2; exit 1; }}
        pid=$(docker inspect -f '{{{{.State.Pid}}}}' "$id")
        export PGPASSWORD={shlex.quote(password)}
        nsenter -t "$pid" -n -- psql -X -A -t -h "$gw" -U {shlex.quote(user)} -d {shlex.quote(database)} \\
            -c 'SELECT inet_client_addr()'
    """)


def checks(host, passwords: dict) -> list[tuple[bool, str]]:
    """(passed, what was seen) for each check an operator would make."""
    results = []
    hatchet = query_from(INSIDE, host, "hatchet", passwords["HATCHET_DB_PASSWORD"], "hatchet",
                         "SELECT current_setting('server_version'), current_setting('TimeZone')")
    if "row" in hatchet:
        version, timezone = hatchet["row"]
        results.append((True, f"hatchet logs in to hatchet from the app network ({INSIDE}): "
                              f"PostgreSQL {version}"))
        results.append((timezone == "UTC", f"hatchet's timezone: {timezone} (group_data: UTC)"))
    else:
        results.append((False, f"hatchet cannot log in from the app network ({INSIDE}): "
                               f"{hatchet['error']}"))
    vector_sql = "SELECT coalesce((SELECT extversion FROM pg_extension WHERE extname = 'vector'), '')"
    owlclaw = query_from(INSIDE, host, "owlclaw", passwords["OWLCLAW_DB_PASSWORD"], "owlclaw", vector_sql)
    if "row" in owlclaw:
        results.append((True, f"owlclaw logs in to owlclaw from the app network ({INSIDE})"))
        vector = owlclaw["row"][0]
        results.append((bool(vector), f"pgvector in owlclaw: {vector or 'missing'}"))
    else:
        results.append((False, f"owlclaw cannot log in from the app network ({INSIDE}): {owlclaw['error']}"))
    outside = probe("demo" + OUTSIDE.rsplit(".", 1)[-1], OUTSIDE, [sys.executable, "-c", TCP_PROBE, host.ip])
    results.append((outside == "timeout",
                    f"from {OUTSIDE}, outside the app network, port 5432: {outside} (the firewall drops it)"))
    status = ssh(host, "ufw status", check=False).stdout.splitlines()
    rules = [line for line in status if "5432" in line or line.startswith(("22", "Status"))]
    results.append((bool(status) and status[0] == "Status: active" and any(APP_NETWORK in r for r in rules),
                    "firewall (ufw):\n" + "\n".join(f"          {line}" for line in rules)))
    password = passwords["HATCHET_DB_PASSWORD"]
    script = container_login_script("owlclaw", "hatchet-lite", "hatchet", password, "hatchet")
    login = ssh(host, script, check=False)
    client = login.stdout.strip()
    results.append((login.returncode == 0 and client.startswith("172.30.0."),
                    "the app's container (hatchet-lite) logs in as hatchet from its compose network: "
                    + (client or login.stderr.strip()[-300:])))
    page = ssh(host, "busybox wget -q -O - http://127.0.0.1:8888/", check=False).stdout.strip()
    answers = page == "hatchet-lite stand-in"
    results.append((answers, f"the app answers on the host's 127.0.0.1:8888: {page!r}"))
    last = ssh(host, "tail -n 1 /var/log/hatchet-owlclaw-deploy/audit.log", check=False).stdout.strip()
    try:
        entry = json.loads(last)
        who = f"{entry['operator']}@{entry['controller']}"
        seen = f"{entry['time']} by {who}, {len(entry['changes'])} changes"
    except (ValueError, KeyError, TypeError):
        entry, seen = None, last or "no entry"
    results.append((entry is not None and entry.get("result") == "ok", f"audit log's last entry: {seen}"))
    return results


def print_checks(host, results: list[tuple[bool, str]]) -> bool:
    print(f"\n--> What an operator would check on {host.name} ({host.ip}):")
    for passed, seen in results:
        print(f"    {'ok  ' if passed else 'FAIL'}  {seen}")
    return all(passed for passed, _ in results)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only the checks, against a deployed demo host")
    args = parser.parse_args(argv)
    index = int(os.environ.get("DEMO_HOST", "1"))
    if args.check:
        host = next((h for h in hosts.hosts_from_state(hosts.load_state()) if h.index == index), None)
        if host is None or not hosts.is_running(host):
            raise SystemExit(f"demo: sandbox host {index} is not running: run the demo first")
    else:
        host = pristine_host(index)
        deploy(host)
    ok = print_checks(host, checks(host, read_passwords(host)))
    if not args.check:
        print(f"\ndemo: {host.name} is still up: `.venv/bin/python -m sandbox ssh {index}` to look around, "
              f"`./run down` to stop every sandbox host.")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
