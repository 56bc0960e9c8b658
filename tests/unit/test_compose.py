"""The application's pure logic: compose command lines, overlays, .env, deploy records, refs."""

import yaml

from deploylib import compose
from deploylib.config import host_layers, validate
from deploylib.facts.app import Docker


class OverrideLoader(yaml.SafeLoader):
    pass


OverrideLoader.add_constructor(
    "!override", lambda loader, node: ("override", loader.construct_sequence(node))
)


def settings_for(project_copy, env="dev", **overrides):
    path = project_copy / "overrides.py"
    path.write_text("".join(f"{k} = {v!r}\n" for k, v in overrides.items()))
    import os

    os.environ["DEPLOY_OVERRIDES"] = str(path)
    try:
        return validate(env, host_layers(env, "h1", {}))
    finally:
        del os.environ["DEPLOY_OVERRIDES"]


def test_compose_command_line():
    argv = compose.compose_command(
        ["docker", "compose"], "owlclaw_staging", "/data/o/.env", ["/data/o/a.yml", "/s/overlay.yml"],
        *compose.up_args(),
    )
    assert argv == [
        "docker", "compose", "-p", "owlclaw_staging", "--env-file", "/data/o/.env",
        "-f", "/data/o/a.yml", "-f", "/s/overlay.yml", "up", "-d", "--remove-orphans",
    ]
    assert compose.shell(["docker-compose", "-f", "a b.yml"]) == "docker-compose -f 'a b.yml'"


def test_compose_files_end_with_the_overlay(project_copy):
    settings = settings_for(project_copy, app_dir="/data/x", compose_project="x",
                            compose_files=["deploy/a.yml", "b.yml"])
    assert compose.compose_files(settings) == [
        "/data/x/deploy/a.yml", "/data/x/b.yml", "/var/lib/hatchet-owlclaw-deploy/app/x/compose.overlay.yml",
    ]


def test_overlay_remaps_binds_disables_and_pins_subnet(project_copy, monkeypatch):
    monkeypatch.setenv("HATCHET_STAGING_DB_PASSWORD", "h")
    monkeypatch.setenv("OWLCLAW_STAGING_DB_PASSWORD", "o")
    settings = settings_for(
        project_copy, "staging",
        compose_bind_address="10.0.0.5",
        compose_services={
            "app": {"ports": ["3003:3001", "127.0.0.1:9100:9099"]},
            "kibana": {"disabled": True, "host_gateway": False},
            "worker": {"ports": []},
        },
    )
    text = compose.render_overlay(settings)
    data = yaml.load(text, Loader=OverrideLoader)
    assert data["services"]["app"] == {
        "extra_hosts": ["host.docker.internal:host-gateway"],
        "ports": ("override", ["10.0.0.5:3003:3001", "127.0.0.1:9100:9099"]),
    }
    assert data["services"]["kibana"] == {"profiles": ["disabled"]}
    assert data["services"]["worker"]["ports"] == ("override", [])
    assert data["networks"]["default"]["ipam"]["config"] == [{"subnet": "172.30.1.0/24"}]


def test_bind_port_ipv6_and_explicit_address():
    assert compose.bind_port("::1", "80:8080") == "[::1]:80:8080"
    assert compose.bind_port("0.0.0.0", "1.2.3.4:80:8080") == "1.2.3.4:80:8080"


def test_env_has_urls_with_quoted_secrets(project_copy, monkeypatch):
    monkeypatch.setenv("HATCHET_STAGING_DB_PASSWORD", "p@ss word/$x")
    monkeypatch.setenv("OWLCLAW_STAGING_DB_PASSWORD", "it's")
    settings = settings_for(project_copy, "staging", app_env={"LOG_LEVEL": "debug"})
    env = compose.render_env(settings)
    # staging's own databases (group_data/staging.py), by their configured names.
    assert "HATCHET_STAGING_DATABASE_PASSWORD='p@ss word/$x'" in env
    assert "HATCHET_STAGING_DATABASE_USER=hatchet_staging" in env
    assert ("\nDATABASE_URL='postgresql://hatchet_staging:p%40ss%20word%2F%24x"
            "@host.docker.internal:5432/hatchet_staging'") in env
    assert "OWLCLAW_STAGING_DATABASE_PASSWORD=\"it's\"" in env
    assert "LOG_LEVEL='debug'" in env
    assert "COMPOSE_PROJECT_NAME=owlclaw_staging" in env


def test_record_changes_with_every_input():
    argv = ["docker", "compose", "-p", "p"]
    base = compose.record_text("abc", compose.record_rest("overlay", "envsha", argv))
    assert compose.same_record(base, base + "\n")
    assert not compose.same_record(base, None)
    for other in (
        compose.record_text("abd", compose.record_rest("overlay", "envsha", argv)),
        compose.record_text("abc", compose.record_rest("overlay2", "envsha", argv)),
        compose.record_text("abc", compose.record_rest("overlay", "envsha2", argv)),
        compose.record_text("abc", compose.record_rest("overlay", "envsha", [*argv, "-f", "x"])),
    ):
        assert not compose.same_record(base, other)


LS_REMOTE = [
    "1111111111111111111111111111111111111111\tHEAD",
    "1111111111111111111111111111111111111111\trefs/heads/main",
    "2222222222222222222222222222222222222222\trefs/tags/v1",
    "3333333333333333333333333333333333333333\trefs/tags/v1^{}",
    "4444444444444444444444444444444444444444\trefs/tags/light",
]


def test_resolve_ref():
    assert compose.resolve_ref("main", LS_REMOTE) == "1" * 40
    assert compose.resolve_ref("v1", LS_REMOTE) == "3" * 40  # annotated: the commit, peeled
    assert compose.resolve_ref("light", LS_REMOTE) == "4" * 40
    assert compose.resolve_ref("a" * 40, []) == "a" * 40
    assert compose.resolve_ref("nope", LS_REMOTE) is None


def test_tree_hash_ignores_excluded_and_sees_changes(tmp_path):
    (tmp_path / "a").write_text("1")
    (tmp_path / "node_modules").mkdir()
    (tmp_path / "node_modules" / "x").write_text("big")
    first = compose.tree_hash(tmp_path, [".git", "node_modules", ".env"])
    (tmp_path / ".env").write_text("secret")
    (tmp_path / "node_modules" / "y").write_text("more")
    assert compose.tree_hash(tmp_path, [".git", "node_modules", ".env"]) == first
    (tmp_path / "a").write_text("2")
    assert compose.tree_hash(tmp_path, [".git", "node_modules", ".env"]) != first
    assert compose.rsync_flags([".env"]) == ["-rlptz", "--delete", "--exclude=.env"]


def test_compose_prefix_choices():
    import pytest

    assert compose.compose_prefix(Docker(compose_plugin="2.26.1"), []) == ["docker", "compose"]
    assert compose.compose_prefix(Docker(compose_binary="2.30.0"), []) == ["docker-compose"]
    with pytest.raises(compose.ComposeUnavailable, match="compose 1.29.2 is installed"):
        compose.compose_prefix(Docker(compose_binary="1.29.2"), [])
    with pytest.raises(compose.ComposeUnavailable, match=r"is 1.29.2-3 \(compose v1\)"):
        compose.compose_prefix(Docker(candidates={"docker-compose": "1.29.2-3"}), ["docker-compose"])
    # Not installed, package lists not there yet: checked on the host after installing.
    assert compose.compose_prefix(Docker(), ["docker.io", "docker-compose"]) == ["docker", "compose"]
    assert compose.docker_packages(["docker.io"], Docker(candidates={"docker-cli": "26"})) == [
        "docker.io", "docker-cli",
    ]


def test_compose_subnet_feeds_client_networks(project_copy):
    from deploylib import postgres_rules

    settings = settings_for(project_copy, pg_client_networks=["10.0.0.0/8"], compose_subnet="172.31.0.0/24")
    assert postgres_rules.client_networks(settings) == ["10.0.0.0/8", "172.31.0.0/24"]
    addresses = {rule.address for rule in postgres_rules.hba_rules(settings)}
    assert "172.31.0.0/24" in addresses


def test_candidate_check_refuses_compose_v1(tmp_path):
    import subprocess

    script = compose.candidate_check_script(["docker.io", "docker-compose"])
    fake = tmp_path / "apt-cache"
    for version, ok in (("1.29.2-3", False), ("2.26.1-4", True), ("1:2.24.0", True), ("2.20.0", False)):
        fake.write_text(f"#!/bin/sh\necho '  Candidate: {version}'\n")
        fake.chmod(0o755)
        proc = subprocess.run(["bash", "-c", script], env={"PATH": f"{tmp_path}:/usr/bin:/bin"},
                              capture_output=True, text=True)
        assert (proc.returncode == 0) == ok, (version, proc.stderr)
        if not ok:
            assert "compose v2 >= 2.24" in proc.stderr and version in proc.stderr
