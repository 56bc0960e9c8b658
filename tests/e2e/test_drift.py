"""Issue 16: drift the deploy must notice on a host that was changed under it: an extension
whose installed version is older than the package's (after a package upgrade), and compose
images re-tagged under the same name."""

from __future__ import annotations

import pytest

from .harness import converge, psql, run_deploy

pytestmark = pytest.mark.e2e

WITH_HSTORE = {
    "hatchet": {"owner": "hatchet", "settings": {"timezone": "UTC"}},
    "owlclaw": {"owner": "owlclaw", "extensions": ["vector", "hstore"]},
}
VERSIONS = ("SELECT e.extname || ' ' || e.extversion || ' ' || a.default_version FROM pg_extension e "
            "JOIN pg_available_extensions a ON a.name = e.extname WHERE e.extname = '{}'")


def test_outdated_extension_is_updated_then_left_alone(fresh_trixie):
    """hstore ships install scripts for 1.4 and update scripts up to its default (contrib):
    an older installed version is what a package upgrade leaves behind (pgvector's too)."""
    host = fresh_trixie
    converge(host)  # the shipped databases (owlclaw with vector)
    psql(host, "CREATE EXTENSION hstore VERSION '1.4'", database="owlclaw")
    # An extension the deploy does not manage, outdated too: not ours to update.
    psql(host, "CREATE EXTENSION pg_trgm VERSION '1.3'", database="hatchet")
    name, installed, default = psql(host, VERSIONS.format("hstore"), database="owlclaw").split()
    assert installed == "1.4" and default != "1.4"

    updated = run_deploy(host, overrides={"databases": WITH_HSTORE})
    assert updated.ok, updated.describe()
    assert updated.changed == ["Extensions in owlclaw"], updated.describe()
    assert psql(host, VERSIONS.format("hstore"), database="owlclaw") == f"hstore {default} {default}"
    assert psql(host, "SELECT extversion FROM pg_extension WHERE extname = 'pg_trgm'",
                database="hatchet") == "1.3"
    # hstore still works at its new version.
    assert psql(host, "SELECT ('a=>1'::hstore) -> 'a'", database="owlclaw") == "1"

    again = run_deploy(host, overrides={"databases": WITH_HSTORE})
    assert again.ok and again.changed == [], again.describe()
