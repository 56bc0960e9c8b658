"""Issue 2: the whole converge -> idempotence -> verify cycle, on both suites."""

import pytest

from .harness import converge, ssh

pytestmark = pytest.mark.e2e


def test_base_converges_on_fresh_host(fresh_host):
    first = converge(fresh_host)  # the harness adds what the suite needs (no pgvector on bookworm)
    assert "Deploy state directory" in first.changed
    # verify from outside, over SSH
    mode = ssh(fresh_host, "stat -c '%a %U' /var/lib/hatchet-owlclaw-deploy").stdout.split()
    assert mode == ["700", "root"]
    packages = ssh(fresh_host, "dpkg-query -W -f '${Status}\\n' postgresql rsync git").stdout
    assert packages.count("install ok installed") == 3
