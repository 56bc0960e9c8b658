"""The application's pure logic: compose command lines, overlays, .env, deploy records, refs."""

import yaml

from deploylib.facts.app import Docker
from deploylib.model import compose
from deploylib.model.config import host_layers, validate

from ..owlclaw_services import DEV_ROOT_SERVICES, HATCHET_LITE


class OverlayLoader(yaml.SafeLoader):
    """Reads compose's merge tags back as ("override", value) / ("reset", value)."""


def _tagged(kind):
    def construct(loader, node):
        if isinstance(node, yaml.SequenceNode):
            return (kind, loader.construct_sequence(node))
        if isinstance(node, yaml.MappingNode):
            return (kind, loader.construct_mapping(node))
        return (kind, loader.construct_scalar(node))

    return construct


OverlayLoader.add_constructor("!override", _tagged("override"))
OverlayLoader.add_constructor("!reset", _tagged("reset"))


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
    assert compose.up_args("always")[-2:] == ["--pull", "always"]
    assert compose.shell(["docker-compose", "-f", "a b.yml"]) == "docker-compose -f 'a b.yml'"


def test_compose_files_end_with_the_overlay(project_copy):
    settings = settings_for(project_copy, app_dir="/data/x", compose_project="x",
                            compose_files=["deploy/a.yml", "b.yml"])
    assert compose.compose_files(settings) == [
        "/data/x/deploy/a.yml", "/data/x/b.yml", "/var/lib/hatchet-owlclaw-deploy/app/x/compose.overlay.yml",
    ]


def test_overlay_remaps_binds_disables_and_pins_subnet(project_copy, monkeypatch):
    monkeypatch.setenv("HATCHET_STAGING_DB_PASSWORD", "h-secret-pw")
    monkeypatch.setenv("OWLCLAW_STAGING_DB_PASSWORD", "o-secret-pw")
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
    data = yaml.load(text, Loader=OverlayLoader)
    assert data["services"]["app"] == {
        "extra_hosts": ["host.docker.internal:host-gateway"],
        "ports": ("override", ["10.0.0.5:3003:3001", "127.0.0.1:9100:9099"]),
        "depends_on": {"kibana": ("reset", "null")},
    }
    assert data["services"]["kibana"] == {"profiles": ("override", ["disabled"])}
    assert data["services"]["worker"]["ports"] == ("override", [])
    assert data["networks"]["default"]["ipam"]["config"] == [{"subnet": "172.30.1.0/24"}]


def test_overlay_for_the_root_dev_file_points_every_database_variable_at_the_env(project_copy, monkeypatch):
    monkeypatch.setenv("HATCHET_DB_PASSWORD", "s3cret-h")
    settings = settings_for(project_copy, compose_files=["docker-compose.dev.yml"],
                            compose_services=DEV_ROOT_SERVICES)
    text = compose.render_overlay(settings)
    assert "s3cret-h" not in text  # the secret stays in the .env
    services = yaml.load(text, Loader=OverlayLoader)["services"]
    lite = services["hatchet-lite"]
    assert lite["environment"] == {
        "DATABASE_URL": "${HATCHET_DATABASE_URL:?the deploy's .env sets it}",
        "SERVER_GRPC_BROADCAST_ADDRESS": "host.docker.internal:17077",
        "SERVER_URL": "http://host.docker.internal:8888",
    }
    # compose refuses a dependency on a disabled service: each one removed, the rest kept.
    assert lite["depends_on"] == {"owlclaw-db": ("reset", "null"), "langfuse": ("reset", "null")}
    assert services["owlclaw-db"] == {"profiles": ("override", ["disabled"])}
    assert services["langfuse"]["profiles"] == ("override", ["disabled"])
    assert "environment" not in services["langfuse"]


def test_overlay_for_the_prod_and_cron_files(project_copy, monkeypatch):
    """README's prod configuration: hatchet-server and owlclaw on the host's databases, both
    freed from owlclaw-db; owlclaw's token comes from app_secrets through the .env."""
    monkeypatch.setenv("HATCHET_DB_PASSWORD", "h-secret-pw")
    monkeypatch.setenv("OWLCLAW_DB_PASSWORD", "o-secret-pw")
    monkeypatch.setenv("HATCHET_API_TOKEN", "tok-12345")
    settings = settings_for(
        project_copy, "prod", app_repo="git@example.invalid:owlclaw.git",
        compose_files=["deploy/docker-compose.prod.yml", "deploy/docker-compose.cron.yml"],
        app_secrets=["HATCHET_API_TOKEN"],
        compose_services={
            "owlclaw-db": {"disabled": True, "host_gateway": False},
            "prometheus": {"ports": ["9090:9090"]},
            "hatchet-server": {"ports": ["7077:7077", "8081:8080"], "database_env": {"DATABASE_URL": "hatchet"}},
            "owlclaw": {"ports": ["8080:8080"], "database_env": {"OWLCLAW_DATABASE_URL": "owlclaw"}},
        },
    )
    services = yaml.load(compose.render_overlay(settings), Loader=OverlayLoader)["services"]
    assert services["owlclaw"]["environment"] == {
        "OWLCLAW_DATABASE_URL": "${OWLCLAW_DATABASE_URL:?the deploy's .env sets it}"}
    assert services["hatchet-server"]["environment"] == {
        "DATABASE_URL": "${HATCHET_DATABASE_URL:?the deploy's .env sets it}"}
    for name in ("owlclaw", "hatchet-server", "prometheus"):
        assert services[name]["depends_on"] == {"owlclaw-db": ("reset", "null")}
    assert "HATCHET_API_TOKEN='tok-12345'" in compose.render_env(settings, 5432)


def test_overlay_advertises_each_environments_own_published_ports(project_copy, monkeypatch):
    monkeypatch.setenv("HATCHET_STAGING_DB_PASSWORD", "h-secret-pw")
    monkeypatch.setenv("OWLCLAW_STAGING_DB_PASSWORD", "o-secret-pw")
    prod = settings_for(project_copy, "dev", compose_services={"hatchet-lite": HATCHET_LITE})
    staging = settings_for(project_copy, "staging")  # group_data/staging.py: 17078, 8889
    addresses = {}
    for settings in (prod, staging):
        environment = yaml.load(compose.render_overlay(settings), Loader=OverlayLoader)["services"][
            "hatchet-lite"]["environment"]
        addresses[settings.environment] = (environment["SERVER_GRPC_BROADCAST_ADDRESS"],
                                           environment["SERVER_URL"])
    assert addresses == {
        "dev": ("host.docker.internal:17077", "http://host.docker.internal:8888"),
        "staging": ("host.docker.internal:17078", "http://host.docker.internal:8889"),
    }


def test_overlay_values_are_literal_for_compose(project_copy):
    settings = settings_for(project_copy, compose_services={
        "app": {"ports": ["80:8080"], "environment": {"GREETING": "cost $5 at {published:8080}"}}})
    environment = yaml.load(compose.render_overlay(settings), Loader=OverlayLoader)["services"]["app"][
        "environment"]
    assert environment == {"GREETING": "cost $$5 at 80"}


def test_compose_services_validation(project_copy):
    import pytest

    from deploylib.model.config import ConfigError

    cases = [
        ({"x": {"database_env": {"DATABASE_URL": "nope"}}},
         r"service 'x': database_env: 'DATABASE_URL': 'nope' is not a managed database"),
        ({"x": {"database_env": {"DB": "hatchet.secret"}}}, r"'hatchet.secret': expected a database"),
        ({"x": {"database_env": {"lower": "hatchet"}}}, r"'lower': expected an environment variable"),
        ({"x": {"database_env": {"DB": "hatchet"}, "host_gateway": False}}, r"needs host_gateway"),
        ({"x": {"ports": ["80:8080"], "environment": {"URL": "{published:9090}"}}},
         r"\{published:9090\} names container port 9090, which this service's ports do not publish"),
        ({"x": {"environment": {"URL": "{published:80}"}}}, r"do not publish \(ports: \[\]\)"),
        ({"x": {"database_env": {"A": "hatchet"}, "environment": {"A": "v"}}}, r"A in both"),
    ]
    for services, message in cases:
        with pytest.raises(ConfigError, match=message):
            settings_for(project_copy, compose_services=services)


def test_env_has_urls_with_quoted_secrets(project_copy, monkeypatch):
    monkeypatch.setenv("HATCHET_STAGING_DB_PASSWORD", "p@ss word/$x")
    monkeypatch.setenv("OWLCLAW_STAGING_DB_PASSWORD", "it's-a-pw")
    settings = settings_for(project_copy, "staging", app_env={"LOG_LEVEL": "debug"})
    env = compose.render_env(settings, 5432)
    # staging's own databases (group_data/staging.py), by their configured names.
    assert "HATCHET_STAGING_DATABASE_PASSWORD='p@ss word/$x'" in env
    assert "HATCHET_STAGING_DATABASE_USER='hatchet_staging'" in env
    assert ("\nHATCHET_STAGING_DATABASE_URL='postgresql://hatchet_staging:p%40ss%20word%2F%24x"
            "@host.docker.internal:5432/hatchet_staging'") in env
    assert "OWLCLAW_STAGING_DATABASE_PASSWORD=\"it's-a-pw\"" in env
    assert "LOG_LEVEL='debug'" in env
    assert "COMPOSE_PROJECT_NAME=owlclaw_staging" in env


def test_env_uses_the_managed_clusters_real_port(project_copy):
    """Issue 12 item 7: an app on a 5433 cluster gets 5433, in every place it is told."""
    env = compose.render_env(settings_for(project_copy), 5433)
    assert "DATABASE_PORT=5433\n" in env
    assert "HATCHET_DATABASE_PORT='5433'" in env
    assert "@host.docker.internal:5433/hatchet'" in env and "@host.docker.internal:5433/owlclaw'" in env
    assert "5432" not in env


def test_app_secrets_from_the_secret_sources(project_copy, monkeypatch):
    import pytest

    from deploylib.model.config import ConfigError

    staging_env = {"HATCHET_STAGING_DB_PASSWORD": "h-secret-pw", "OWLCLAW_STAGING_DB_PASSWORD": "o-secret-pw"}
    for name, value in staging_env.items():
        monkeypatch.setenv(name, value)
    app = {"app_repo": "git@example.invalid:owlclaw.git", "app_secrets": ["HATCHET_API_TOKEN"]}
    # staging: missing is a configuration error, naming the variable and where to put it.
    monkeypatch.delenv("HATCHET_API_TOKEN", raising=False)
    with pytest.raises(ConfigError, match=r"app_secrets: HATCHET_API_TOKEN: not set: .*secrets/staging.env"):
        settings_for(project_copy, "staging", **app)
    # ... from secrets/<env>.env, then the environment variable wins.
    secrets = project_copy / "secrets"
    secrets.mkdir()
    (secrets / "staging.env").write_text("HATCHET_API_TOKEN=from-file-token\n")
    (secrets / "staging.env").chmod(0o600)
    settings = settings_for(project_copy, "staging", **app)
    assert "HATCHET_API_TOKEN='from-file-token'" in compose.render_env(settings, 5432)
    assert "from-file-token" not in repr(settings.app_secret_values)
    monkeypatch.setenv("HATCHET_API_TOKEN", "env-token")
    assert "HATCHET_API_TOKEN='env-token'" in compose.render_env(settings_for(project_copy, "staging", **app),
                                                                 5432)
    # dev: left out (the compose file's ${HATCHET_API_TOKEN:-} default applies).
    monkeypatch.delenv("HATCHET_API_TOKEN")
    dev = settings_for(project_copy, app_local_dir="/tmp", app_secrets=["HATCHET_API_TOKEN"])
    assert "HATCHET_API_TOKEN" not in compose.render_env(dev, 5432)
    with pytest.raises(ConfigError, match="also in app_env"):
        settings_for(project_copy, app_secrets=["TOKEN"], app_env={"TOKEN": "x"})


# --------------------------------------------------------------------------- check before `up`

def expected(port=5433, database_env=None):
    from deploylib.model.config import Secret

    return compose.Expected(
        host="host.docker.internal",
        port=port,
        owners={"hatchet": "hatchet", "owlclaw": "owlclaw"},
        passwords={"hatchet": Secret("h$ecret/1", "test"), "owlclaw": Secret("o-secret", "test")},
        database_env=database_env if database_env is not None else {
            "hatchet-lite": {"DATABASE_URL": {"database": "hatchet", "part": "url"}}},
    )


GOOD_URL = "postgresql://hatchet:h$$ecret%2F1@host.docker.internal:5433/hatchet"  # as compose config prints


def test_check_accepts_the_managed_configuration():
    config = {"services": {
        "hatchet-lite": {"environment": {"DATABASE_URL": GOOD_URL, "SERVER_PORT": "7077"},
                         "depends_on": {"redis": {"condition": "service_started"}}},
        "redis": {"environment": None},
        # a URL the overlay does not map is fine when it is right (here: SQLAlchemy's dialect form)
        "worker": {"environment": {
            "OWLCLAW_DATABASE_URL": "postgresql+asyncpg://owlclaw:o-secret@host.docker.internal:5433/owlclaw"}},
    }}
    assert compose.check_effective_config(config, expected()) == []


def test_check_names_service_variable_and_every_difference_never_the_secret():
    config = {"services": {
        # upstream's literal URL, not overridden (an overlay that does not know the service)
        "hatchet-lite": {"environment": {"DATABASE_URL": "postgresql://hatchet:hatchet@owlclaw-db:5432/hatchet"}},
        "owlclaw": {"environment": {
            "OWLCLAW_DATABASE_URL": "postgres://owlclaw:o-secret@host.docker.internal:5433/owlclaw_other"},
            "depends_on": {"owlclaw-db": {"condition": "service_healthy"}}},
        "langfuse": {"environment": {"DIRECT_URL": "postgresql://hatchet:h$$ecret%2F1@host.docker.internal/hatchet"}},
    }}
    problems = compose.check_effective_config(config, expected())
    assert problems == [
        "service 'hatchet-lite': DATABASE_URL: host 'owlclaw-db', expected 'host.docker.internal'; "
        "port 5432, expected 5433 (the managed cluster's); password is not the managed secret of hatchet",
        "service 'owlclaw': OWLCLAW_DATABASE_URL: database 'owlclaw_other' is not a managed database "
        "(hatchet, owlclaw); not in compose_services' database_env: the overlay does not set it",
        "service 'owlclaw': depends on 'owlclaw-db', which is not enabled",
        "service 'langfuse': DIRECT_URL: port 5432, expected 5433 (the managed cluster's); "
        "not in compose_services' database_env: the overlay does not set it",
    ]
    assert not any(secret in p for p in problems for secret in ("h$ecret", "h$$ecret", "o-secret"))


def test_check_of_mapped_parts_and_missing_variables():
    parts = {"api": {
        "DB_USER": {"database": "owlclaw", "part": "user"},
        "DB_PASSWORD": {"database": "owlclaw", "part": "password"},
        "DB_PORT": {"database": "owlclaw", "part": "port"},
        "DB_URL": {"database": "owlclaw", "part": "url"},
        "DB_NAME": {"database": "owlclaw", "part": "name"},
    }}
    config = {"services": {"api": {"environment": {
        "DB_USER": "owlclaw", "DB_PASSWORD": "wrong-one", "DB_PORT": "5432",
        "DB_URL": "postgresql://owlclaw:o-secret@host.docker.internal:5433/hatchet",
    }}}}
    problems = compose.check_effective_config(config, expected(database_env=parts))
    assert problems == [
        "service 'api': DB_NAME: not in the effective configuration",
        "service 'api': DB_PASSWORD: is not the managed secret of owlclaw",
        "service 'api': DB_PORT: '5432', expected '5433' (port of owlclaw)",
        "service 'api': DB_URL: database 'hatchet', expected 'owlclaw'; user 'owlclaw', expected "
        "'hatchet' (owner of hatchet); password is not the managed secret of hatchet",
    ]
    assert "wrong-one" not in "".join(problems)


def test_check_never_quotes_a_url_whose_password_is_not_percent_encoded():
    """break16: a compose file interpolating the password into a URL itself
    (postgresql://user:${PASSWORD}@...) breaks the URL when the password has a '/', '?' or
    '#': the host, port and database read from it are then pieces of the password, never quoted."""
    from deploylib.model.config import Secret

    exp = expected()
    exp.passwords["owlclaw"] = Secret("5433/Owl-Secret-Leak", "test")
    config = {"services": {"worker": {"environment": {
        "A_URL": "postgresql://owlclaw:5433/Owl-Secret-Leak@host.docker.internal:5433/owlclaw",
        "B_URL": "postgresql://owlclaw:2024?Other-Hard-Coded@owlclaw-db:5432/owlclaw",
        "C_URL": "postgresql://owlclaw:77#frag-Part@owlclaw-db/owlclaw",
    }}}}
    problems = compose.check_effective_config(config, exp)
    text = "\n".join(problems)
    for piece in ("Owl-Secret-Leak", "Other-Hard-Coded", "frag-Part", "2024", "77"):
        assert piece not in text, text
    assert problems[0] == (
        "service 'worker': A_URL: its password is not percent-encoded (a '/', '?' or '#' in it ends "
        "the URL's host part): use the .env's URL variable (compose_services' database_env); "
        "not in compose_services' database_env: the overlay does not set it")
    assert len(problems) == 3


def test_check_never_quotes_a_secret_whatever_the_message():
    from deploylib.model.config import Secret

    exp = expected()
    exp.app_secrets = (Secret("api-token-XYZ", "test"),)
    config = {"services": {"api": {"environment": {
        # a secret where a user name goes: the message names the user, redacted
        "DB_URL": "postgresql://api-token-XYZ@host.docker.internal:5433/hatchet"}}}}
    problems = compose.check_effective_config(config, exp)
    assert problems and not any("api-token-XYZ" in p for p in problems), problems


def test_redact_hides_secrets_and_their_url_form():
    from deploylib.model.config import Secret

    exp = expected()
    text = "error near 'postgresql://hatchet:h%24ecret%2F1@x' and h$ecret/1"
    assert compose.redact(text, exp.secret_texts()) == "error near 'postgresql://hatchet:<secret>@x' and <secret>"
    exp.app_secrets = (Secret("tok-9", "test"),)
    assert compose.redact("token tok-9", exp.secret_texts()) == "token <secret>"
    # dev's default password (= the role name) is no secret: names stay readable.
    exp.passwords["owlclaw"] = Secret("owlclaw", "dev default")
    assert "o-secret" not in exp.secret_texts() and "owlclaw" not in exp.secret_texts()


def test_redact_hides_a_secret_as_compose_and_python_escape_it():
    """break16: compose's messages quote values Go's way (\\" and \\\\), its config escapes `$`
    as `$$`, and a message's repr() doubles a backslash: each form is hidden."""
    from deploylib.model.config import Secret

    exp = expected()
    exp.passwords["hatchet"] = Secret('a"b\\c$d e@f', "test")
    texts = exp.secret_texts()
    for shown in ('a\\"b\\\\c$d e@f', 'a"b\\c$$d e@f', repr('a"b\\c$d e@f')):
        assert "<secret>" in compose.redact(f"value {shown} here", texts) and "e@f" not in compose.redact(shown, texts)


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

    # The image IDs `up` started are recorded beside; they are compared on their own.
    assert compose.same_record(base, base + "image app sha256:1\nimage db sha256:2\n")


def test_image_drift_a_new_id_under_the_same_name():
    record = "source abc\noverlay x\nimage app sha256:aaa\nimage db sha256:ddd\n"
    recorded = compose.recorded_images(record)
    assert recorded == {"app": "sha256:aaa", "db": "sha256:ddd"}
    same = [("app", "sha256:aaa", "sha256:aaa"), ("db", "sha256:ddd", "sha256:ddd")]
    assert compose.image_drift(recorded, same) == []
    # re-tagged: the name now names another image
    assert compose.image_drift(recorded, [("app", "sha256:aaa", "sha256:bbb"), same[1]]) == ["app"]
    # the container runs another image than recorded (started by hand) though the name did not move
    assert compose.image_drift(recorded, [("app", "sha256:bbb", "sha256:aaa")]) == ["app"]
    # image gone from the host (pruned): nothing to compare; `up` would pull or fail, not ours
    assert compose.image_drift(recorded, [("app", "sha256:aaa", "")]) == []
    # a record from before image lines: the containers' own images are the reference
    assert compose.image_drift({}, same) == []
    assert compose.image_drift({}, [("app", "sha256:aaa", "sha256:bbb")]) == ["app"]


def test_compose_containers_fact_reads_image_ids():
    from deploylib.facts.app import ComposeContainers

    fact = ComposeContainers()
    project = fact.process(["container\tapp\tsha256:aaa\tsha256:bbb", "container\tdb\tsha256:d\t"])
    assert len(project) == 2
    assert project.containers == [("app", "sha256:aaa", "sha256:bbb"), ("db", "sha256:d", "")]
    assert len(fact.process([])) == 0


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
    from deploylib.model import postgres_rules as rules

    settings = settings_for(project_copy, pg_client_networks=["10.0.0.0/8"], compose_subnet="172.31.0.0/24")
    assert rules.client_networks(settings) == ["10.0.0.0/8", "172.31.0.0/24"]
    addresses = {rule.address for rule in rules.hba_rules(settings)}
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
