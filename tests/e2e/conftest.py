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


NOT_ROOT = "end-to-end tests need root (namespaces, mounts)"


def e2e_blocker() -> str | None:
    """Why end-to-end tests cannot run here (None when they can)."""
    return NOT_ROOT if os.geteuid() != 0 else None


def in_ci(environ=os.environ) -> bool:
    """CI sets CI=true (.ci/run); there a skipped end-to-end test is a failure, not a pass."""
    return environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def pytest_collection_modifyitems(config, items):
    blocker = e2e_blocker()
    if blocker is None:
        return
    e2e = [item for item in items if "e2e" in item.keywords]
    if not e2e:
        return
    if in_ci():
        # A CI run that cannot run them must not read as green with zero end-to-end tests.
        message = f"CI is set but {blocker}: {len(e2e)} end-to-end tests cannot run"
        print(f"\nERROR: {message}", flush=True)
        raise pytest.UsageError(message)
    skip = pytest.mark.skip(reason=blocker)
    for item in e2e:
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
