"""Sandbox hosts for end-to-end tests: up once per session, reset when a test needs a pristine host."""

import os

import pytest

from sandbox import hosts

# Host N runs Debian 13 (PostgreSQL 17), host N+1 Debian 12 (PostgreSQL 15);
# N = $SANDBOX_FIRST_HOST (default 1), so several test runs can share a sandbox. Under
# pytest-xdist each worker gets its own pair: worker k uses N + 60*k (hosts N+60k .. N+60k+9
# are that worker's, extras included).
WORKER_SPACING = 60


def _worker_number() -> int:
    # PYTEST_XDIST_WORKER is "gw0", "gw1", ... under xdist, unset otherwise.
    return int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw"))


FIRST = int(os.environ.get("SANDBOX_FIRST_HOST", "1")) + WORKER_SPACING * _worker_number()
SUITE_HOSTS = {"trixie": FIRST, "bookworm": FIRST + 1}


def pytest_collection_modifyitems(config, items):
    if os.geteuid() != 0:
        skip = pytest.mark.skip(reason="end-to-end tests need root (namespaces, mounts)")
        for item in items:
            if "e2e" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def sandbox_session():
    started = []
    for suite, index in SUITE_HOSTS.items():
        started += hosts.up(1, suite, first=index)
    yield {host.suite: host for host in started}
    if os.environ.get("SANDBOX_KEEP") != "1":
        hosts.down([h.index for h in started])


@pytest.fixture(params=list(SUITE_HOSTS))
def fresh_host(request, sandbox_session):
    """A pristine host of each suite (its overlay dropped before the test)."""
    return hosts.reset(SUITE_HOSTS[request.param])


@pytest.fixture
def fresh_trixie(sandbox_session):
    return hosts.reset(SUITE_HOSTS["trixie"])
