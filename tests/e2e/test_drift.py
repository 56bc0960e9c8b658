"""Issue 16: drift the deploy must notice on a host that was changed under it: an extension
whose installed version is older than the package's (after a package upgrade), and compose
images re-tagged under the same name."""

from __future__ import annotations

import pytest

from .harness import converge, psql, run_deploy, ssh
from .test_app import IMAGE, app_repo, converge_dev_app  # noqa: F401  (app_repo is a fixture)

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


RECORD = "/var/lib/hatchet-owlclaw-deploy/app/owlclaw/deployed"
PROJECT_CONTAINERS = "docker ps -aq --filter label=com.docker.compose.project=owlclaw"


def test_retagged_image_is_started_again_then_left_alone(fresh_trixie, app_repo):  # noqa: F811
    host = fresh_trixie
    data, _ = converge_dev_app(host, app_repo)
    old_id = ssh(host, f"docker image inspect -f '{{{{.Id}}}}' {IMAGE}").stdout.strip()
    record = ssh(host, f"cat {RECORD}").stdout
    assert f"image app {old_id}" in record and f"image hatchet-lite {old_id}" in record

    # Another image under the same name (a local re-tag, as a pull of a moved tag would do).
    ssh(host, f"cid=$(docker create {IMAGE} sh -c 'echo v2 > /version') && docker start -a $cid "
              f"&& docker commit --change 'CMD [\"/bin/sh\"]' $cid {IMAGE} >/dev/null && docker rm $cid")
    new_id = ssh(host, f"docker image inspect -f '{{{{.Id}}}}' {IMAGE}").stdout.strip()
    assert new_id and new_id != old_id

    again = run_deploy(host, overrides=data)
    assert again.ok, again.describe()
    assert again.changed == ["docker compose up (owlclaw)"], again.describe()
    running = ssh(host, f"docker inspect -f '{{{{.Image}}}}' $({PROJECT_CONTAINERS}) | sort -u").stdout
    assert running.split() == [new_id]
    assert ssh(host, "docker exec $(docker ps -q --filter label=com.docker.compose.service=app "
                     "--filter label=com.docker.compose.project=owlclaw) cat /version").stdout == "v2\n"
    assert f"image app {new_id}" in ssh(host, f"cat {RECORD}").stdout

    settled = run_deploy(host, overrides=data)
    assert settled.ok and settled.changed == [], settled.describe()
