"""Configuration validation: every bad value names the key, the file and what was expected."""

import pytest

from deploylib.model import config
from deploylib.model.config import ConfigError, Layer


def load(project, env="dev", host_data=None, overrides=None, monkeypatch=None):
    if overrides is not None:
        path = project / "overrides.py"
        path.write_text("".join(f"{k} = {v!r}\n" for k, v in overrides.items()))
        monkeypatch.setenv("DEPLOY_OVERRIDES", str(path))
    return config.validate(env, config.host_layers(env, "h1", host_data or {}))


@pytest.fixture
def db_secrets(monkeypatch):
    monkeypatch.setenv("HATCHET_DB_PASSWORD", "h-secret")
    monkeypatch.setenv("OWLCLAW_DB_PASSWORD", "o-secret")
    monkeypatch.setenv("HATCHET_STAGING_DB_PASSWORD", "hs-secret")
    monkeypatch.setenv("OWLCLAW_STAGING_DB_PASSWORD", "os-secret")


STAGING_DATABASES = 'databases = {"hatchet_staging": {"owner": "hatchet_staging"}}\n'

# The hatchet database of each shipped environment, and its password (db_secrets).
HATCHET_DB = {"dev": ("hatchet", "h-secret"), "prod": ("hatchet", "h-secret"),
              "staging": ("hatchet_staging", "hs-secret")}


@pytest.mark.parametrize("env", config.ENVIRONMENTS)
def test_shipped_data_is_valid(project_copy, env, db_secrets):
    settings = load(project_copy, env)
    assert settings.environment == env
    database, password = HATCHET_DB[env]
    assert settings.db_password(database).reveal() == password


def test_staging_and_prod_share_no_database_or_role(project_copy, db_secrets):
    staging, prod = load(project_copy, "staging"), load(project_copy, "prod")
    assert set(staging.databases) == {"hatchet_staging", "owlclaw_staging"}
    assert staging.databases["hatchet_staging"]["settings"] == {"timezone": "UTC"}
    assert staging.databases["owlclaw_staging"]["extensions"] == ["vector"]
    assert not set(staging.databases) & set(prod.databases)
    owners = {env.environment: {s["owner"] for s in env.databases.values()} for env in (staging, prod)}
    assert not owners["staging"] & owners["prod"]


def test_dev_falls_back_to_upstream_default_passwords(project_copy, monkeypatch):
    monkeypatch.delenv("HATCHET_DB_PASSWORD", raising=False)
    settings = load(project_copy, "dev")
    assert settings.db_password("hatchet").reveal() == "hatchet"
    assert "hatchet" not in repr(settings.db_password("hatchet"))


@pytest.mark.parametrize(("env", "database", "variable"), [
    ("staging", "hatchet_staging", "HATCHET_STAGING_DB_PASSWORD"),
    ("prod", "hatchet", "HATCHET_DB_PASSWORD"),
])
def test_missing_secret_refused_outside_dev(project_copy, env, database, variable, monkeypatch,
                                            db_secrets):
    monkeypatch.delenv(variable, raising=False)
    with pytest.raises(ConfigError) as error:
        load(project_copy, env)
    message = str(error.value)
    assert f"databases[{database!r}]: no password" in message
    assert variable in message and f"secrets/{env}.env" in message


def test_secrets_file_must_be_private(project_copy, monkeypatch):
    monkeypatch.delenv("HATCHET_STAGING_DB_PASSWORD", raising=False)
    monkeypatch.delenv("OWLCLAW_STAGING_DB_PASSWORD", raising=False)
    path = project_copy / "secrets" / "staging.env"
    path.parent.mkdir()
    path.write_text(
        "HATCHET_STAGING_DB_PASSWORD=from file = with equals\nOWLCLAW_STAGING_DB_PASSWORD=o-secret-pw\n"
    )
    path.chmod(0o644)
    with pytest.raises(ConfigError, match=r"secrets/staging.env: mode 0644 .* chmod 600"):
        load(project_copy, "staging")
    path.chmod(0o600)
    settings = load(project_copy, "staging")
    assert settings.db_password("hatchet_staging").reveal() == "from file = with equals"
    assert settings.db_password("hatchet_staging").source == (
        "secrets/staging.env:HATCHET_STAGING_DB_PASSWORD"
    )


def test_env_var_wins_over_file(project_copy, monkeypatch):
    path = project_copy / "secrets" / "prod.env"
    path.parent.mkdir()
    path.write_text("HATCHET_DB_PASSWORD=file-secret\nOWLCLAW_DB_PASSWORD=o-secret-pw\n")
    path.chmod(0o600)
    monkeypatch.setenv("HATCHET_DB_PASSWORD", "env-secret")
    monkeypatch.delenv("OWLCLAW_DB_PASSWORD", raising=False)
    assert load(project_copy, "prod").db_password("hatchet").reveal() == "env-secret"


def test_dev_default_passwords_refused_in_prod(project_copy, monkeypatch, db_secrets):
    with pytest.raises(ConfigError, match="allow_dev_default_passwords: dev only"):
        load(project_copy, "prod", overrides={"allow_dev_default_passwords": True},
             monkeypatch=monkeypatch)


def test_database_spec_errors(project_copy, monkeypatch):
    cases = [
        ({"hatchet": {"owner": "Hatchet"}}, "database 'hatchet': expected a lowercase name"),
        ({"hatchet": {"owner": "x", "extention": []}}, "unknown field(s) extention"),
        ({"a": {"owner": "x"}, "b": {"owner": "x"}}, "owner 'x' already owns another database"),
        ({"a": {"owner": "x", "password_env": "lower"}}, "password_env: expected an environment"),
    ]
    for value, expected in cases:
        with pytest.raises(ConfigError) as error:
            load(project_copy, overrides={"databases": value}, monkeypatch=monkeypatch)
        assert "overrides.py: databases:" in str(error.value)
        assert expected in str(error.value)


def test_unknown_environment(project_copy):
    with pytest.raises(ConfigError, match=r"unknown environment 'qa'.*dev, staging, prod"):
        load(project_copy, "qa")


def test_malformed_cidr_names_key_and_file(project_copy, monkeypatch):
    with pytest.raises(ConfigError) as error:
        load(project_copy, overrides={"pg_client_networks": ["10.0.0.0/33"]}, monkeypatch=monkeypatch)
    assert "overrides.py: pg_client_networks: item 0 ('10.0.0.0/33')" in str(error.value)
    assert "CIDR" in str(error.value)


def test_cidr_with_host_bits_is_refused(project_copy, db_secrets):
    (project_copy / "group_data/staging.py").write_text(
        'environment = "staging"\npg_listen_addresses = ["localhost"]\n'
        'pg_client_networks = ["172.17.0.1/16"]\n' + STAGING_DATABASES
    )
    with pytest.raises(ConfigError, match=r"group_data/staging.py: pg_client_networks: .*host bits"):
        load(project_copy, "staging")


def test_missing_required_key_in_prod(project_copy, db_secrets):
    (project_copy / "group_data/prod.py").write_text(
        'environment = "prod"\npg_listen_addresses = ["localhost"]\n'
    )
    with pytest.raises(ConfigError, match=r"group_data/prod.py: missing required key 'pg_client_networks'"):
        load(project_copy, "prod")


def test_missing_default_in_all(project_copy):
    text = (project_copy / "group_data/all.py").read_text()
    (project_copy / "group_data/all.py").write_text(text.replace("pg_allow_restart = True", ""))
    with pytest.raises(ConfigError, match=r"group_data/all.py: missing key\(s\) pg_allow_restart"):
        load(project_copy)


def test_unknown_key_suggests(project_copy, monkeypatch):
    suggestion = r"unknown key 'pg_listen_adresses' \(did you mean 'pg_listen_addresses'"
    with pytest.raises(ConfigError, match=suggestion):
        load(project_copy, overrides={"pg_listen_adresses": ["*"]}, monkeypatch=monkeypatch)


def test_wildcard_listen_refused_outside_dev(project_copy, monkeypatch, db_secrets):
    with pytest.raises(ConfigError,
                       match=r"pg_listen_addresses: '\*' listens on every address.*refused in prod"):
        load(project_copy, "prod", overrides={"pg_listen_addresses": ["*"]}, monkeypatch=monkeypatch)


def test_wrong_types(project_copy, monkeypatch):
    cases = {
        "pg_allow_restart": ("yes", "expected True or False"),
        "pg_config_backups_keep": (0, "expected a whole number from 1 to 100"),
        "pg_hba_on_shadowed": ("ignore", "expected one of 'warn', 'fail'"),
        "deploy_state_dir": ("relative/dir", "expected an absolute path"),
        "pg_settings": ({"Bad Name": 1}, "expected a PostgreSQL setting name"),
        "firewall_backend": ("iptables", "expected one of 'auto', 'ufw', 'firewalld', 'nftables', 'none'"),
        "compose_pull": ("sometimes", "expected one of 'policy', 'missing', 'always', 'never'"),
        "firewall_enable": ("yes", "expected True or False"),
    }
    for key, (value, expected) in cases.items():
        with pytest.raises(ConfigError) as error:
            load(project_copy, overrides={key: value}, monkeypatch=monkeypatch)
        assert f"overrides.py: {key}:" in str(error.value)
        assert expected in str(error.value)


def test_environment_mismatch(project_copy, monkeypatch):
    with pytest.raises(ConfigError, match=r"environment: is 'prod' but the inventory is for 'dev'"):
        load(project_copy, overrides={"environment": "prod"}, monkeypatch=monkeypatch)


def test_host_data_layer_wins_and_is_named(project_copy):
    settings = load(project_copy, host_data={"pg_allow_restart": False, "ssh_user": "deploy"})
    assert settings.pg_allow_restart is False
    assert settings.source("pg_allow_restart") == "inventory/dev.py (host h1)"
    assert settings.source("pg_listen_addresses") == "group_data/dev.py"


def test_connection_data_passes_through(project_copy):
    layers = [Layer("a", {"ssh_user": "x", "_sudo": True, "pg_cluster": None})]
    assert config.connection_data(layers) == {"ssh_user": "x", "_sudo": True}


def test_every_schema_key_documented_once_in_all(project_copy):
    """Each key's meaning and default live in group_data/all.py, preceded by a comment."""
    lines = (project_copy / "group_data/all.py").read_text().splitlines()
    for key in config.SCHEMA:
        positions = [i for i, line in enumerate(lines) if line.startswith(f"{key} = ")]
        assert len(positions) == 1, key
        assert lines[positions[0] - 1].startswith("#") or lines[positions[0] - 2].startswith("#"), key


def test_app_keys_required_outside_dev_when_the_app_is_deployed(project_copy, db_secrets):
    (project_copy / "group_data/staging.py").write_text(
        'environment = "staging"\npg_listen_addresses = ["localhost"]\n'
        'pg_client_networks = ["172.17.0.0/16"]\napp_repo = "git://example/app.git"\n' + STAGING_DATABASES
    )
    with pytest.raises(ConfigError, match=r"group_data/staging.py: missing required key 'app_dir'"):
        load(project_copy, "staging")


def test_local_dir_is_dev_only_and_services_are_checked(project_copy, db_secrets, monkeypatch):
    with pytest.raises(ConfigError, match="app_local_dir: pushing a local checkout is for dev only"):
        load(project_copy, "staging", overrides={"app_local_dir": "/src"}, monkeypatch=monkeypatch)
    with pytest.raises(ConfigError, match=r"compose_services: service 'app': ports: '3003': expected"):
        load(project_copy, overrides={"compose_services": {"app": {"ports": ["3003"]}}},
             monkeypatch=monkeypatch)
