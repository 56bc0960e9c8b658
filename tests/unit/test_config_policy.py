"""Hostile and mistaken configuration (issue 13): each value is refused before any host is
touched, the error names the file and the key, and never echoes a secret."""

import re

import pytest

from deploylib.model import config
from deploylib.model.config import ConfigError

OVERRIDES = "overrides.py"
LDAP_SECRET = "s3cr3t-bind-pw"
STAGING_DBS = {"hatchet_staging": {"owner": "hatchet_staging"}}


def load(project, env, overrides, monkeypatch):
    path = project / OVERRIDES
    # repr() of a NaN or infinity is a bare name: spelled as Python reads it back
    path.write_text("".join(re.sub(r"\b(nan|inf)\b", r"float('\1')", f"{k} = {v!r}\n")
                            for k, v in overrides.items()))
    monkeypatch.setenv("DEPLOY_OVERRIDES", str(path))
    return config.validate(env, config.host_layers(env, "h1", {}))


@pytest.fixture
def db_secrets(monkeypatch):
    for variable in ("HATCHET_DB_PASSWORD", "OWLCLAW_DB_PASSWORD", "HATCHET_STAGING_DB_PASSWORD",
                     "OWLCLAW_STAGING_DB_PASSWORD", "APP_DB_PASSWORD", "STAGE_DB_PASSWORD"):
        monkeypatch.setenv(variable, "pw-" + variable.lower())


def hba(**fields):
    return [{"type": "host", "database": "hatchet", "user": "hatchet", "address": "10.0.0.0/24",
             "method": "scram-sha-256", **fields}]


# (key, value, a part of the expected message); refused in prod (the strictest environment).
HOSTILE = [
    # 1. insecure access
    ("pg_listen_addresses", ["0.0.0.0"], "listens on every address"),
    ("pg_listen_addresses", ["::"], "listens on every address"),
    ("pg_listen_addresses", ["*"], "listens on every address"),
    ("pg_listen_addresses", ["0::0"], "listens on every address"),
    ("pg_listen_addresses", ["localhost\n"], "expected '*', 'localhost'"),
    ("pg_listen_addresses", ["a,b"], "expected '*', 'localhost'"),
    ("pg_listen_addresses", ["'; touch /tmp/x; '"], "expected '*', 'localhost'"),
    ("pg_client_networks", ["0.0.0.0/0"], "wider than /8"),
    ("pg_client_networks", ["::/0"], "wider than /8"),
    ("pg_client_networks", ["10.0.0.0/7"], "wider than /8"),
    ("pg_client_networks", ["2000::/3"], "wider than /8"),
    ("pg_client_networks", ["10.0.0.1/8"], "host bits"),
    ("compose_subnet", "0.0.0.0/0", "wider than /8"),
    ("compose_bind_address", "0.0.0.0", "every address"),
    ("pg_hba_rules", hba(address="0.0.0.0/0", method="trust", database="all", user="all"), "wider than /8"),
    ("pg_hba_rules", hba(method="trust"), "method 'trust' over the network"),
    ("pg_hba_rules", hba(method="password"), "method 'password' over the network"),
    ("pg_hba_rules", hba(method="md5"), "method 'md5' over the network"),
    ("pg_hba_rules", hba(address="all"), "address all is wider"),
    ("pg_hba_auth_method", "md5", "expected 'scram-sha-256'"),
    ("pg_settings", {"password_encryption": "md5"}, "password_encryption = 'md5'"),
    ("pg_settings", {"password_encryption": "on"}, "password_encryption = 'on'"),
    ("pg_hba_rules",
     hba(method="ldap", options=f"ldapbasedn=dc=x ldapbinddn=cn=a ldapbindpasswd={LDAP_SECRET}"),
     "needs ldapserver"),
    ("pg_hba_rules", hba(method="ldap", options="ldapserver=ldap.example"), "needs ldapbasedn"),
    ("pg_hba_rules", hba(method="ldap", options="ldapserver=l ldapprefix=cn= ldapbasedn=dc=x"),
     "cannot be combined"),
    ("pg_hba_rules", hba(method="radius", options="radiusservers=r.example"), "needs radiussecrets"),
    ("pg_hba_rules", hba(method="scram-sha-256", options="ldapserver=x"), "not taken by method"),
    ("pg_hba_rules", hba(method="cert"), "only works on hostssl"),
    # 2. system objects as managed objects
    ("databases", {"hatchet": {"owner": "postgres"}}, "system role name"),
    ("databases", {"template1": {"owner": "hatchet"}}, "PostgreSQL's own database"),
    ("databases", {"template0": {"owner": "hatchet"}}, "PostgreSQL's own database"),
    ("databases", {"postgres": {"owner": "hatchet"}}, "PostgreSQL's own database"),
    ("databases", {"hatchet": {"owner": "pg_read_all_data"}}, "system role name"),
    ("databases", {"pg_x": {"owner": "hatchet"}}, "PostgreSQL's own database"),
    ("databases", {"hatchet": {"owner": "public"}}, "system role name"),
    ("app_user", "postgres", "system user"),
    ("app_user", "root", "system user"),
    ("deploy_user", "root", "system user"),
    ("deploy_user", "daemon", "system user"),
    ("deploy_user", "nobody", "system user"),
    ("app_user", "bin", "system user"),
    ("app_user", "_apt", "system user"),
    ("restore_database", "template1", "PostgreSQL's own database"),
    # 4. dangerous paths
    ("backup_dir", "/var/lib/postgresql", "system directory /var/lib/postgresql"),
    ("backup_dir", "/var/lib/postgresql/17/main", "system directory /var/lib/postgresql"),
    ("app_dir", "/data/owlclaw/../../etc", "normalised"),
    ("data_dir", "/usr", "system directory /usr"),
    ("data_dir", "/", "system directory"),
    ("app_dir", "/etc", "system directory /etc"),
    ("app_dir", "/var", "system directory"),
    ("app_dir", "/var/lib", "system directory"),
    ("deploy_state_dir", "/boot", "system directory /boot"),
    ("backup_dir", "/tmp/backups", "system directory /tmp"),
    ("app_dir", "/data/o\0x", "control characters"),
    ("app_dir", "/data/o\rx", "control characters"),
    ("app_dir", "/data/o\nx", "control characters"),
    ("app_dir", "data/owlclaw", "absolute path"),
    ("app_dir", "/data//owlclaw", "normalised"),
    ("app_dir", "/data/./owlclaw", "normalised"),
    ("app_dir", "/data/o$(touch /tmp/x)", "absolute path"),
    ("app_dir", "/data/o w", "absolute path"),
    ("backup_dir", "/data/owlclaw/backups", "overlaps app_dir"),
    ("restore_file", "/var/backups/x/../../../etc/shadow", "normalised"),
    ("restore_file", "/var/backups/`id`.dump", "absolute path"),
    # 5. patterns that match too much
    ("databases", {"hatchet\n": {"owner": "hatchet"}}, "lowercase name"),
    ("databases", {"hatchet": {"owner": "hatchet\n"}}, "lowercase name"),
    ("deploy_user", "deploy\n", "lowercase name"),
    ("compose_project", "owlclaw\n", "lowercase name"),
    ("compose_services", {"svc\n": {"ports": []}}, "compose service name"),
    ("compose_services", {"svc": {"ports": ["२२:1"]}}, "HOST:CONTAINER"),
    ("compose_services", {"svc": {"ports": ["99999:1"]}}, "HOST:CONTAINER"),
    ("compose_services", {"svc": {"ports": ["8080:80\n"]}}, "HOST:CONTAINER"),
    ("backup_schedule", "１７ 3 * * *", "expected numbers from 0 to 59"),
    ("backup_schedule", "17 5-1 * * *", "runs backwards"),
    ("backup_schedule", "*/99999 * * * *", "bad step"),
    ("backup_schedule", "*/60 * * * *", "bad step"),
    ("backup_schedule", "17 3 * * *\n* * * * * root id", "expected a cron schedule"),
    ("backup_schedule", "5/10 * * * *", "bad step"),
    ("databases", {"hatchet": {"owner": "hatchet", "password_env": "X\n"}}, "environment variable name"),
    ("app_env", {"A\n": "x"}, "environment variable name"),
    # 6. values reaching shells
    ("databases", {"hatchet": {"owner": "hatchet", "settings": {"search_path": ["a\n'; id #"]}}},
     "no control characters"),
    ("databases", {"hatchet": {"owner": "hatchet", "settings": {"timezone": "UTC\r"}}}, "no control"),
    ("base_packages", ["-oDPkg::Pre-Invoke::=touch /tmp/x"], "Debian package name"),
    ("bootstrap_packages", ["git; id"], "Debian package name"),
    ("docker_packages", ["docker.io", "--allow-unauthenticated"], "Debian package name"),
    ("app_ref", "--upload-pack=touch /tmp/x", "not starting with '-'"),
    ("app_ref", "-x", "not starting with '-'"),
    ("app_ref", "main\n", "branch, tag or commit"),
    ("app_ref", "a..b", "no '..'"),
    ("app_ref", "main$(id)", "branch, tag or commit"),
    ("app_repo", "--upload-pack=id", "git URL"),
    ("app_repo", "ext::sh -c touch% /tmp/x", "git URL"),
    ("app_repo", "ext::sh", "ext:: transport"),
    ("app_repo", "https://x/$(id).git", "git URL"),
    ("app_local_dir", "-e sh", "may not start with '-'"),
    ("app_rsync_excludes", ["--rsh=id"], "may not start with '-'"),
    ("app_env", {"A": "x\ny"}, "one-line"),
    ("compose_files", ["../../etc/passwd"], "relative to the repository"),
    ("compose_files", ["-f"], "relative to the repository"),
    ("pg_cluster", "17/main; id", "'<version>/<name>'"),
    # 8. error hygiene
    ("pg_settings", {"a.b.c": 1}, "PostgreSQL setting name"),
    ("pg_settings", {"work_mem": float("nan")}, "NaN"),
    ("pg_settings", {"work_mem": float("inf")}, "NaN"),
    ("pg_settings", {"x": "a\nb"}, "control characters"),
    ("policy_exceptions", ["everything"], "expected one of"),
]


@pytest.mark.parametrize(("key", "value", "expected"), HOSTILE, ids=[f"{k}-{i}" for i, (k, _, _) in
                                                                      enumerate(HOSTILE)])
def test_hostile_value_refused_naming_file_and_key(project_copy, monkeypatch, db_secrets, key, value,
                                                    expected):
    with pytest.raises(ConfigError) as error:
        load(project_copy, "prod", {key: value}, monkeypatch)
    message = str(error.value)
    assert message.startswith(f"{OVERRIDES}: {key}:"), message
    assert expected in message, message
    assert LDAP_SECRET not in message


def test_at_least_sixty_hostile_values():
    assert len(HOSTILE) >= 60


@pytest.mark.parametrize("env", config.ENVIRONMENTS)
def test_shipped_configurations_still_accepted(project_copy, monkeypatch, db_secrets, env):
    monkeypatch.delenv("DEPLOY_OVERRIDES", raising=False)
    settings = config.validate(env, config.host_layers(env, "h1", {}))
    assert settings.environment == env
    if env != "dev":
        assert settings.warnings == []


def test_dev_only_warns(project_copy, monkeypatch):
    settings = load(project_copy, "dev", {"pg_listen_addresses": ["0.0.0.0"],
                                          "pg_client_networks": ["0.0.0.0/0"]}, monkeypatch)
    assert any("pg_listen_addresses: '0.0.0.0' listens on every address" in w for w in settings.warnings)
    assert any("pg_client_networks: 0.0.0.0/0" in w for w in settings.warnings)


def test_an_exception_names_what_it_allows_and_is_reported(project_copy, monkeypatch, db_secrets):
    settings = load(project_copy, "prod", {"pg_listen_addresses": ["0.0.0.0"],
                                           "policy_exceptions": ["network_wide_listen"]}, monkeypatch)
    assert settings.pg_listen_addresses == ["0.0.0.0"]
    assert settings.warnings == [
        "policy exception 'network_wide_listen' in effect (overrides.py): overrides.py: pg_listen_addresses: "
        "'0.0.0.0' listens on every address; expected the addresses to listen on (e.g. ['localhost', "
        "'172.17.0.1'])"
    ]
    # ... and it allows only what it names.
    with pytest.raises(ConfigError, match="pg_client_networks: 0.0.0.0/0"):
        load(project_copy, "prod", {"pg_client_networks": ["0.0.0.0/0"],
                                    "policy_exceptions": ["network_wide_listen"]}, monkeypatch)


def test_ldap_rule_error_never_echoes_the_bind_password(project_copy, monkeypatch, db_secrets):
    rules = hba(method="ldap", options=f"ldapserver=l ldapbindpasswd={LDAP_SECRET} bogus")
    with pytest.raises(ConfigError) as error:
        load(project_copy, "prod", {"pg_hba_rules": rules}, monkeypatch)
    assert "pg_hba_rules: rule 0" in str(error.value)
    assert LDAP_SECRET not in str(error.value)


def test_a_complete_ldap_rule_is_accepted(project_copy, monkeypatch, db_secrets):
    rules = hba(method="ldap", options='ldapserver=ldap.example ldapbasedn="dc=example, dc=net" '
                                      f"ldapbinddn=cn=reader ldapbindpasswd={LDAP_SECRET}")
    settings = load(project_copy, "prod", {"pg_hba_rules": rules}, monkeypatch)
    assert settings.pg_hba_rules[0].method == "ldap"


@pytest.mark.parametrize("schedule", ["17 3 * * *", "*/15 * * * *", "0 1-5/2 * * mon-fri", "0 0 1 jan,jul *",
                                      "0 3 * * 7", "30 2 1-31 * *"])
def test_good_cron_schedules(schedule):
    assert config.is_cron_schedule(schedule) == schedule


# 3. environments own their names


def uses_first(databases) -> dict:
    """compose_services whose hatchet-lite uses the first of `databases` (all.py's default
    names prod's `hatchet`, which another environment's data file must not manage)."""
    return {"hatchet-lite": {"database_env": {"DATABASE_URL": next(iter(databases))}}}


def write_staging(project, databases):
    (project / "group_data/staging.py").write_text(
        'environment = "staging"\npg_listen_addresses = ["localhost"]\n'
        'pg_client_networks = ["172.17.0.0/16"]\n'
        + (f"databases = {databases!r}\ncompose_services = {uses_first(databases)!r}\n" if databases else "")
    )


def test_staging_must_set_its_own_databases(project_copy, db_secrets):
    write_staging(project_copy, None)
    with pytest.raises(ConfigError, match="group_data/staging.py: missing required key 'databases'"):
        config.validate("staging", config.host_layers("staging", "h1", {}))


@pytest.mark.parametrize(("databases", "kind"), [
    ({"hatchet_staging": {"owner": "hatchet"}}, "role 'hatchet'"),
    ({"owlclaw": {"owner": "owlclaw_staging"}}, "database 'owlclaw'"),
    ({"hatchet_staging": {"owner": "hatchet_staging", "password_env": "HATCHET_DB_PASSWORD"}},
     "password variable 'HATCHET_DB_PASSWORD'"),
])
def test_staging_may_not_use_prods_names(project_copy, db_secrets, databases, kind):
    write_staging(project_copy, databases)
    with pytest.raises(ConfigError) as error:
        config.validate("staging", config.host_layers("staging", "h1", {}))
    assert str(error.value).startswith("group_data/staging.py: databases: " + kind)
    assert "group_data/prod.py" in str(error.value)


def test_prod_may_not_use_stagings_names(project_copy, monkeypatch, db_secrets):
    with pytest.raises(ConfigError, match="database 'hatchet_staging' is also used by group_data/staging.py"):
        databases = {"hatchet_staging": {"owner": "app"}}
        load(project_copy, "prod", {"databases": databases, "compose_services": uses_first(databases)}, monkeypatch)


# 8. error hygiene: broken files, secrets


@pytest.mark.parametrize(("text", "expected"), [
    ("x = undefined_name\n", "line 1: NameError: name 'undefined_name' is not defined"),
    ("x = (\n", "line 1"),
    ("\n\nx = 1 / 0\n", "line 3: ZeroDivisionError"),
    ("import nonexistent_module_xyz\n", "line 1: ModuleNotFoundError"),
    ("x = {'k': 'secret-value'}['other']\n", "line 1: KeyError"),
])
def test_a_broken_overrides_file_is_a_configuration_error(project_copy, monkeypatch, text, expected):
    path = project_copy / OVERRIDES
    path.write_text(text)
    monkeypatch.setenv("DEPLOY_OVERRIDES", str(path))
    with pytest.raises(ConfigError) as error:
        config.host_layers("dev", "h1", {})
    assert str(error.value).startswith(f"{OVERRIDES}: line")
    assert expected in str(error.value)
    assert "secret-value" not in str(error.value)


@pytest.mark.parametrize("password", ["a\nb", "a\rb", "a\x7fb", "pw\n"])
def test_a_password_with_a_control_character_is_refused_naming_its_variable(project_copy, monkeypatch,
                                                                           db_secrets, password):
    monkeypatch.setenv("HATCHET_DB_PASSWORD", password)
    with pytest.raises(ConfigError) as error:
        load(project_copy, "prod", {}, monkeypatch)
    assert str(error.value).startswith("$HATCHET_DB_PASSWORD: the password of database 'hatchet'")
    assert password not in str(error.value)


@pytest.mark.parametrize(("line", "value"), [
    ("HATCHET_DB_PASSWORD=plain", "plain"),
    ("HATCHET_DB_PASSWORD = spaced  ", "spaced"),
    ('HATCHET_DB_PASSWORD="double quoted"', "double quoted"),
    ("HATCHET_DB_PASSWORD='single # quoted'", "single # quoted"),
    ('HATCHET_DB_PASSWORD="with \\" quote"', 'with " quote'),
    ("export HATCHET_DB_PASSWORD=exported", "exported"),
    ("HATCHET_DB_PASSWORD=value # a comment", "value"),
    ("HATCHET_DB_PASSWORD=hash#inside", "hash#inside"),
])
def test_secrets_file_values_read_as_dotenv_does(project_copy, monkeypatch, line, value):
    for variable in ("HATCHET_DB_PASSWORD", "OWLCLAW_DB_PASSWORD"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("OWLCLAW_DB_PASSWORD", "o")
    (project_copy / "secrets").mkdir()
    path = project_copy / "secrets/dev.env"  # dev: these short values are refused in prod
    path.write_text(line + "\n")
    path.chmod(0o600)
    monkeypatch.delenv("DEPLOY_OVERRIDES", raising=False)
    settings = config.validate("dev", config.host_layers("dev", "h1", {}))
    assert settings.db_password("hatchet").reveal() == value


# break16: a short secret is masked nowhere by the plan diff (plan_diff.MIN_SECRET_LENGTH) and
# is quickly guessed from the salt and digest the roles' fact prints at -vvv: staging and prod
# refuse it, naming where it comes from, never its value or its length.
@pytest.mark.parametrize("env", ["staging", "prod"])
@pytest.mark.parametrize("password", ["st-o-4", "sh0rt", "Qz", "$ @:/%"])
def test_a_short_password_is_refused_in_staging_and_prod(project_copy, monkeypatch, db_secrets, env, password):
    variable = "OWLCLAW_STAGING_DB_PASSWORD" if env == "staging" else "OWLCLAW_DB_PASSWORD"
    monkeypatch.setenv(variable, password)
    overrides = {"databases": {**STAGING_DBS, "owlclaw_staging": {"owner": "owlclaw_staging"}}} if env == "staging" else {}
    with pytest.raises(ConfigError) as error:
        load(project_copy, env, overrides, monkeypatch)
    assert f"${variable}: the password of database" in str(error.value)
    assert f"at least {config.MIN_SECRET_LENGTH} characters" in str(error.value)
    assert password not in str(error.value)
    assert str(len(password)) + " char" not in str(error.value)


def test_a_short_password_is_accepted_in_dev(project_copy, monkeypatch, db_secrets):
    monkeypatch.setenv("HATCHET_DB_PASSWORD", "sh0rt")
    assert load(project_copy, "dev", {}, monkeypatch).db_password("hatchet").reveal() == "sh0rt"


APP = {"app_repo": "https://example.invalid/owlclaw.git"}


@pytest.mark.parametrize(("token", "expected"), [
    ("tok-1", "at least 8 characters"),
    ("long-enough\nINJECTED=1", "control character"),
    ("long-enough\rtoken", "control character"),
])
def test_a_short_or_multiline_app_secret_is_refused_in_prod(project_copy, monkeypatch, db_secrets, token, expected):
    monkeypatch.setenv("HATCHET_API_TOKEN", token)
    with pytest.raises(ConfigError) as error:
        load(project_copy, "prod", {**APP, "app_secrets": ["HATCHET_API_TOKEN"]}, monkeypatch)
    assert "$HATCHET_API_TOKEN: app_secrets: HATCHET_API_TOKEN" in str(error.value)
    assert expected in str(error.value)
    assert token not in str(error.value) and "INJECTED" not in str(error.value)


def test_an_app_secret_with_a_newline_is_refused_in_dev_too(project_copy, monkeypatch, db_secrets):
    # It would end its .env line: the rest would be read as another variable.
    monkeypatch.setenv("HATCHET_API_TOKEN", "x\nINJECTED=1")
    with pytest.raises(ConfigError) as error:
        load(project_copy, "dev", {**APP, "app_secrets": ["HATCHET_API_TOKEN"]}, monkeypatch)
    assert "control character" in str(error.value) and "INJECTED" not in str(error.value)


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_a_password_equal_to_its_role_or_database_name_is_refused_outside_dev(project_copy, monkeypatch,
                                                                             db_secrets, env):
    """break16: the plan diff masks every mention of a run's secret, so `host *** *** ...` in
    a pg_hba diff would tell that the password is the role's name (dev's guessable default)."""
    name = "owlclaw_staging" if env == "staging" else "langfuse_db"
    monkeypatch.setenv(f"{name.upper()}_DB_PASSWORD", name)
    others = STAGING_DBS if env == "staging" else {"hatchet": {"owner": "hatchet"}, "owlclaw": {"owner": "owlclaw"}}
    overrides = {"databases": {**others, name: {"owner": name}}}
    with pytest.raises(ConfigError, match=r"the password of database '[a-z_]+' is its role's or database's name"):
        load(project_copy, env, overrides, monkeypatch)


@pytest.mark.parametrize("url", ["https://oauth2:ghp-Token-1234@github.com/o/r.git",
                                 "https://user:pw@git.example.internal/x.git",
                                 "ssh://git:pw-1234@git.example.internal/x.git"])
def test_an_app_repo_url_with_a_password_is_refused(project_copy, monkeypatch, db_secrets, url):
    """break16: a token in app_repo would be in group_data (git, in clear), on every git
    command line (ps, -v output) and in the checkout's .git/config."""
    with pytest.raises(ConfigError) as error:
        load(project_copy, "dev", {"app_repo": url}, monkeypatch)
    assert "app_repo: " in str(error.value) and "app_deploy_key" in str(error.value)
    assert "Token-1234" not in str(error.value) and ":pw" not in str(error.value)


@pytest.mark.parametrize("url", ["https://git.example.internal/owlclaw.git", "git@github.com:o/r.git",
                                 "ssh://git@git.example.internal:2222/x.git"])
def test_an_app_repo_url_without_a_password_is_accepted(project_copy, monkeypatch, db_secrets, url):
    assert load(project_copy, "dev", {"app_repo": url}, monkeypatch).app_repo == url
