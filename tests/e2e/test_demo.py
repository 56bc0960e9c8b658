"""Issue 16: `./run demo` (sandbox/demo.py) on a host of this test run: from a pristine host to
the whole stack, ending with the checks; the checks fail when what they check is broken."""

import os
import subprocess
import sys

import pytest

from sandbox import hosts

from .conftest import FIRST
from .harness import REPO, psql, ssh

pytestmark = pytest.mark.e2e

DEMO_HOST = FIRST + 2  # an extra host of this run (FIRST and FIRST+1 are the suites')


def demo(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DEMO_HOST": str(DEMO_HOST)}
    return subprocess.run([sys.executable, "-m", "sandbox.demo", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=1800)


@pytest.fixture
def demo_host(sandbox_session):
    # Something a test left on it: the demo starts from the image alone anyway.
    host = hosts.up(1, "trixie", first=DEMO_HOST)[0]
    ssh(host, "pg_createcluster 17 second >/dev/null && mkdir -p /data/leftover")
    yield host
    if os.environ.get("SANDBOX_KEEP") != "1":
        hosts.down([DEMO_HOST])


def checks_block(output: str) -> list[str]:
    lines = output.split("--> What an operator would check on ", 1)[1].splitlines()[1:]
    return [line for line in lines if line.startswith("    ") and line[4:8] in ("ok  ", "FAIL")]


def test_demo_from_a_used_host_to_the_checks(demo_host):
    host = demo_host
    hosts.down([DEMO_HOST])  # stopped with its overlay kept (as `./run test` leaves host 1)
    ran = demo()
    assert ran.returncode == 0, ran.stdout[-6000:] + ran.stderr[-3000:]
    assert "is pristine: one PostgreSQL cluster (17/main)" in ran.stdout
    assert "no image registry is reachable here" in ran.stdout
    assert "second run: no changes" in ran.stdout
    checks = checks_block(ran.stdout)
    assert len(checks) == 9 and all(line.startswith("    ok  ") for line in checks), ran.stdout[-4000:]
    tail = ran.stdout.rstrip().splitlines()
    assert tail[-1].startswith("demo: sbx") and "still up" in tail[-1]
    for words in ("hatchet logs in to hatchet from the app network", "hatchet's timezone: UTC",
                  "owlclaw logs in to owlclaw from the app network", "pgvector in owlclaw: 0.",
                  "timeout (the firewall drops it)", "firewall (ufw):",
                  "logs in as hatchet from its compose network: 172.30.0.", "'hatchet-lite stand-in'"):
        assert any(words in line for line in checks), (words, checks)
    # The random passwords: kept 0600 for --check, never printed.
    secrets_file = host.dir / "demo" / "secrets.env"
    assert oct(secrets_file.stat().st_mode & 0o777) == "0o600"
    for line in secrets_file.read_text().splitlines():
        assert line.split("=", 1)[1] not in ran.stdout + ran.stderr

    # The checks report what is broken, and fail.
    psql(host, "ALTER DATABASE hatchet SET timezone = 'Europe/Paris'")
    ssh(host, "ufw disable")
    broken = demo("--check")
    assert broken.returncode == 1, broken.stdout
    failed = [line for line in checks_block(broken.stdout) if line.startswith("    FAIL")]
    assert len(failed) == 3, broken.stdout  # timezone, the port reachable from outside, ufw off
    assert any("hatchet's timezone: Europe/Paris" in line for line in failed)
    assert any("outside the app network, port 5432: open" in line for line in failed)
