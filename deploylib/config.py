"""Load and validate group_data once, before any host is touched.

Layers, later wins: ``group_data/all.py`` -> ``group_data/<env>.py`` -> the
inventory's host data -> an optional overrides file (``DEPLOY_OVERRIDES``).
Every key must be declared in ``SCHEMA`` (its meaning and default are
documented once, in ``group_data/all.py``); unknown keys are errors, so a typo
never silently falls back to a default.

A bad value raises :class:`ConfigError` naming the key, the file that set it
and what was expected.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


# Like pyinfra, data is read relative to the directory pyinfra runs in.
def project_dir() -> Path:
    return Path.cwd()

ENVIRONMENTS = ("dev", "staging", "prod")


def scope_tag(environment: str) -> str:
    """The tag of everything one environment owns on a host, which staging and prod may
    share: its pg_hba.conf block, firewall rules, the comment on its roles and databases,
    its backup script and schedule. The one place that turns an environment into it."""
    if environment not in ENVIRONMENTS:
        raise ValueError(f"unknown environment {environment!r}: expected one of {', '.join(ENVIRONMENTS)}")
    return environment

# Keys pyinfra itself reads from host data (connection settings, global
# operation arguments): passed through untouched, not validated here.
PASSTHROUGH_PREFIXES = ("ssh_", "_", "sandbox_")


class ConfigError(Exception):
    """Bad configuration: message names the key, the file and what was expected."""


class Secret:
    """A secret value: never printed, never in repr, never compared by identity."""

    __slots__ = ("_value", "source")

    def __init__(self, value: str, source: str):
        self._value = value
        self.source = source

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret(from {self.source})"

    __str__ = __repr__

    def __eq__(self, other) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


# --------------------------------------------------------------------------- validators
# Each validator returns the normalised value or raises ValueError("expected ...").


Validator = Callable[[Any], Any]


def is_bool(value):
    if not isinstance(value, bool):
        raise ValueError("expected True or False")
    return value


def is_str(value):
    if not isinstance(value, str) or not value:
        raise ValueError("expected a non-empty string")
    return value


def is_optional(validator: Validator) -> Validator:
    def check(value):
        return None if value is None else validator(value)

    return check


def is_int(low: int, high: int) -> Validator:
    def check(value):
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"expected a whole number from {low} to {high}")
        return value

    return check


def is_port(value):
    return is_int(1, 65535)(value)


def is_choice(*choices: str) -> Validator:
    def check(value):
        if value not in choices:
            raise ValueError(f"expected one of {', '.join(map(repr, choices))}")
        return value

    return check


NAME_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def is_name(value):
    """A PostgreSQL/compose-safe identifier: lowercase, digits, underscore."""
    if not isinstance(value, str) or not NAME_RE.match(value):
        raise ValueError("expected a lowercase name: letters, digits, underscore (max 63)")
    return value


def is_abs_path(value):
    if not isinstance(value, str) or not value.startswith("/") or "\n" in value:
        raise ValueError("expected an absolute path")
    return value.rstrip("/") or "/"


def is_cidr(value):
    if not isinstance(value, str):
        raise ValueError("expected a CIDR string such as '10.0.0.0/24'")
    try:
        return str(ipaddress.ip_network(value, strict=True))
    except ValueError as error:
        raise ValueError(f"expected a network in CIDR form such as '10.0.0.0/24' ({error})")


def is_list(item: Validator) -> Validator:
    def check(value):
        if not isinstance(value, (list, tuple)):
            raise ValueError("expected a list")
        out = []
        for position, element in enumerate(value):
            try:
                out.append(item(element))
            except ValueError as error:
                raise ValueError(f"item {position} ({element!r}): {error}")
        return out

    return check


def is_listen_address(value):
    if not isinstance(value, str) or not value or any(c in value for c in ",' \n"):
        raise ValueError("expected '*', 'localhost', an IP address or a host name")
    if value not in ("*", "localhost") and not re.match(r"^[A-Za-z0-9.:_-]+$", value):
        raise ValueError("expected '*', 'localhost', an IP address or a host name")
    return value


def is_mapping(key: Validator, val: Validator) -> Validator:
    def check(value):
        if not isinstance(value, Mapping):
            raise ValueError("expected a mapping (dict)")
        out = {}
        for name, element in value.items():
            try:
                out[key(name)] = val(element)
            except ValueError as error:
                raise ValueError(f"entry {name!r}: {error}")
        return out

    return check


def is_pg_setting_name(value):
    if not isinstance(value, str) or not re.match(r"^[a-z_][a-z0-9_.]*$", value):
        raise ValueError("expected a PostgreSQL setting name")
    if value in ("listen_addresses", "include", "include_dir", "include_if_exists"):
        raise ValueError(f"{value} is not set here (use its own key)")
    return value


def is_pg_setting_value(value):
    if isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str) and "\n" not in value and "\0" not in value:
        return value
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ValueError("expected a bool, number, string or list of strings")


CRON_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12),
               ("day of week", 0, 7))
CRON_NAMES = {
    3: ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
    4: ("sun", "mon", "tue", "wed", "thu", "fri", "sat"),
}


def is_cron_schedule(value):
    """A crontab time specification: exactly 5 fields (minute hour day-of-month month day-of-week)."""
    expected = "expected a cron schedule of 5 fields such as '15 3 * * *' (minute hour day month weekday)"
    if not isinstance(value, str) or "\n" in value:
        raise ValueError(expected)
    fields = value.split()
    if len(fields) != 5:
        raise ValueError(f"{expected}; got {len(fields)} field(s)")
    for position, (field_value, (label, low, high)) in enumerate(zip(fields, CRON_FIELDS, strict=True)):
        names = CRON_NAMES.get(position, ())
        for part in field_value.split(","):
            base, slash, step = part.partition("/")
            if slash and not (step.isdigit() and int(step) > 0):
                raise ValueError(f"{label} {field_value!r}: bad step {step!r}; {expected}")
            if base == "*":
                continue
            for bound in base.split("-", 1):
                if bound.lower() in names and not slash:
                    continue
                if not bound.isdigit() or not low <= int(bound) <= high:
                    raise ValueError(f"{label} {field_value!r}: expected numbers from {low} to {high}")
    return " ".join(fields)


def is_hba_rules(value):
    from .pg_hba import HbaRule

    if not isinstance(value, (list, tuple)):
        raise ValueError("expected a list of rule records (dicts)")
    rules = []
    for position, record in enumerate(value):
        if not isinstance(record, Mapping):
            raise ValueError(f"rule {position}: expected a dict with type, database, user, ...")
        try:
            rules.append(HbaRule.from_record(dict(record)))
        except ValueError as error:
            raise ValueError(f"rule {position} ({dict(record)!r}): {error}")
    return rules


DATABASE_FIELDS = {
    # field: (validator, default)
    "owner": (is_name, None),
    "extensions": (None, ()),  # validated below: list of names
    "settings": (None, {}),  # ALTER DATABASE ... SET name = value
    "password_env": (None, None),  # default: <OWNER>_DB_PASSWORD
    "seed_sql": (None, None),  # path (repo-relative) of SQL applied once
}
ENV_VAR_RE = re.compile(r"^[A-Z_][A-Z0-9_]*$")


def check_fields(where: str, spec: Mapping, fields) -> None:
    """A record may hold only the known fields (a typo is an error, not a silent default)."""
    unknown = set(spec) - set(fields)
    if unknown:
        raise ValueError(
            f"{where}: unknown field(s) {', '.join(sorted(unknown))}; expected {', '.join(fields)}"
        )


def is_databases(value):
    """name -> spec: the application databases, their owner roles and what they need."""
    if not isinstance(value, Mapping) or not value:
        raise ValueError("expected a mapping of database name -> {'owner': role, ...}")
    out = {}
    owners = set()
    for name, spec in value.items():
        where = f"database {name!r}"
        try:
            is_name(name)
        except ValueError as error:
            raise ValueError(f"{where}: {error}")
        if not isinstance(spec, Mapping) or "owner" not in spec:
            raise ValueError(f"{where}: expected a dict with at least 'owner'")
        check_fields(where, spec, DATABASE_FIELDS)
        try:
            owner = is_name(spec["owner"])
            extensions = is_list(is_name)(spec.get("extensions", []))
            db_settings = is_mapping(is_pg_setting_name, is_pg_setting_value)(spec.get("settings", {}))
        except ValueError as error:
            raise ValueError(f"{where}: {error}")
        if owner in owners:
            raise ValueError(f"{where}: owner {owner!r} already owns another database (isolation)")
        owners.add(owner)
        password_env = spec.get("password_env") or f"{owner.upper()}_DB_PASSWORD"
        if not ENV_VAR_RE.match(password_env):
            raise ValueError(f"{where}: password_env: expected an environment variable name")
        seed_sql = spec.get("seed_sql")
        if seed_sql is not None and (
            not isinstance(seed_sql, str) or seed_sql.startswith("/") or ".." in seed_sql.split("/")
        ):
            raise ValueError(f"{where}: seed_sql: expected a path inside the repository")
        if seed_sql is not None and not (project_dir() / seed_sql).is_file():
            raise ValueError(f"{where}: seed_sql: no such file {seed_sql!r}")
        out[name] = {
            "owner": owner,
            "extensions": extensions,
            "settings": db_settings,
            "password_env": password_env,
            "seed_sql": seed_sql,
        }
    return out


def is_ip_address(value):
    try:
        return str(ipaddress.ip_address(value))
    except (TypeError, ValueError):
        raise ValueError("expected an IP address such as '127.0.0.1'")


def is_relative_path(value):
    if not isinstance(value, str) or not value or value.startswith("/") or ".." in value.split("/"):
        raise ValueError("expected a path relative to the repository (no leading /, no ..)")
    return value


def is_env_var_name(value):
    if not isinstance(value, str) or not ENV_VAR_RE.match(value):
        raise ValueError("expected an environment variable name (A-Z, 0-9, _)")
    return value


def is_env_value(value):
    if isinstance(value, bool) or not isinstance(value, (str, int, float)) or "\n" in str(value):
        raise ValueError("expected a one-line string or a number")
    return str(value)


PORT_MAPPING_RE = re.compile(
    r"^(?:(?:\[[0-9a-fA-F:]+\]|[0-9.]+):)?\d{1,5}(?:-\d{1,5})?:\d{1,5}(?:-\d{1,5})?(?:/(?:tcp|udp))?$"
)
SERVICE_FIELDS = ("ports", "disabled", "host_gateway")
SERVICE_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")


def is_compose_services(value):
    """service -> {ports: ["HOST:CONTAINER", ...], disabled: bool, host_gateway: bool}."""
    if not isinstance(value, Mapping):
        raise ValueError("expected a mapping of compose service name -> {'ports': [...], ...}")
    out = {}
    for name, spec in value.items():
        where = f"service {name!r}"
        if not isinstance(name, str) or not SERVICE_NAME_RE.match(name):
            raise ValueError(f"{where}: expected a compose service name")
        if not isinstance(spec, Mapping):
            raise ValueError(f"{where}: expected a dict with {', '.join(SERVICE_FIELDS)}")
        check_fields(where, spec, SERVICE_FIELDS)
        ports = spec.get("ports")
        if ports is not None:
            if not isinstance(ports, (list, tuple)):
                raise ValueError(f"{where}: ports: expected a list of 'HOST:CONTAINER' strings")
            for port in ports:
                if not isinstance(port, str) or not PORT_MAPPING_RE.match(port):
                    raise ValueError(
                        f"{where}: ports: {port!r}: expected 'HOST:CONTAINER' such as '3003:3001'"
                    )
            ports = list(ports)
        try:
            disabled = is_bool(spec.get("disabled", False))
            host_gateway = is_bool(spec.get("host_gateway", True))
        except ValueError as error:
            raise ValueError(f"{where}: {error}")
        out[name] = {"ports": ports, "disabled": disabled, "host_gateway": host_gateway}
    return out


# --------------------------------------------------------------------------- schema
# key -> validator. Meaning and default of every key: group_data/all.py.

SCHEMA: dict[str, Validator] = {
    "environment": is_choice(*ENVIRONMENTS),
    # host basics
    "base_packages": is_list(is_str),
    "deploy_state_dir": is_abs_path,
    # databases and roles
    "databases": is_databases,
    "allow_dev_default_passwords": is_bool,
    "pgdg_apt_repository": is_bool,
    # PostgreSQL server configuration
    "pg_cluster": is_optional(is_str),
    "pg_listen_addresses": is_list(is_listen_address),
    "pg_settings": is_mapping(is_pg_setting_name, is_pg_setting_value),
    "pg_client_networks": is_list(is_cidr),
    "pg_hba_rules": is_hba_rules,
    "pg_hba_auth_method": is_choice("scram-sha-256", "md5"),
    "pg_hba_on_shadowed": is_choice("warn", "fail"),
    "pg_allow_restart": is_bool,
    "pg_server_settings_owner": is_optional(is_choice(*ENVIRONMENTS)),
    "pg_config_backups_keep": is_int(1, 100),
    "pg_reset_overrides": is_bool,
    # host firewall
    "firewall_backend": is_choice("auto", "ufw", "firewalld", "nftables", "none"),
    "firewall_enable": is_bool,
    # one-time host bootstrap
    "bootstrap_packages": is_list(is_str),
    "docker_packages": is_optional(is_list(is_str)),
    "deploy_user": is_name,
    "deploy_user_public_key_file": is_str,
    "data_dir": is_abs_path,
    # backups and restore
    "backup_dir": is_abs_path,
    "backup_retention_days": is_int(1, 3650),
    "backup_schedule": is_cron_schedule,
    "backup_before_deploy": is_bool,
    "restore_database": is_optional(is_name),
    "restore_file": is_optional(is_abs_path),
    "restore_swap": is_bool,
    "restore_drop_old": is_bool,
    # prod guard
    "confirm_prod": is_bool,
    # application: source, .env, docker compose
    "app_repo": is_optional(is_str),
    "app_ref": is_str,
    "app_deploy_key": is_optional(is_str),
    "app_local_dir": is_optional(is_str),
    "app_rsync_excludes": is_list(is_str),
    "app_dir": is_abs_path,
    "app_user": is_name,
    "app_env": is_mapping(is_env_var_name, is_env_value),
    "compose_project": is_name,
    "compose_files": is_list(is_relative_path),
    "compose_services": is_compose_services,
    "compose_subnet": is_optional(is_cidr),
    "compose_bind_address": is_ip_address,
    "compose_up_timeout": is_int(5, 3600),
    "compose_force_up": is_bool,
}


# Keys staging and prod must set themselves (in group_data/<env>.py or the
# inventory), never inherit: what a production database exposes is a decision.
REQUIRED_OUTSIDE_DEV = ("pg_listen_addresses", "pg_client_networks")

# ... and, when they deploy the application (app_repo set): staging and prod may
# share a machine, so each names its own clone, compose project and network.
REQUIRED_WITH_APP_OUTSIDE_DEV = ("app_dir", "compose_project", "compose_subnet")


@dataclass
class Layer:
    source: str  # file name shown in messages
    values: dict


@dataclass
class Settings:
    """Validated configuration of one host. Attribute access; `source(key)` says where a key came from."""

    environment: str
    values: dict
    sources: dict
    secrets: dict = field(default_factory=dict)

    def __getattr__(self, key):
        try:
            return self.__dict__["values"][key]
        except KeyError:
            raise AttributeError(f"no setting {key!r} (declare it in deploylib/config.py SCHEMA)")

    def source(self, key: str) -> str:
        return self.sources.get(key, "?")

    def db_password(self, database: str) -> Secret:
        """The password of `database`'s owner role (a Secret: reveal() only where it is used)."""
        return self.__dict__["secrets"][database]

    def __repr__(self) -> str:
        return f"Settings({self.environment}, {len(self.values)} keys)"


def read_data_file(path: Path) -> dict:
    """Execute a group_data-style Python file; return its public names."""
    namespace: dict[str, Any] = {"__file__": str(path)}
    try:
        code = compile(path.read_text(), str(path), "exec")
    except SyntaxError as error:
        raise ConfigError(f"{_rel(path)}: line {error.lineno}: {error.msg}")
    exec(code, namespace)  # noqa: S102 - group_data is code by pyinfra's design
    return {
        key: value
        for key, value in namespace.items()
        if not key.startswith("__") and not _is_module_or_callable(value)
    }


def _is_module_or_callable(value) -> bool:
    import types

    return isinstance(value, (types.ModuleType, types.FunctionType, type))


def _rel(path: Path | str) -> str:
    try:
        return str(Path(path).resolve().relative_to(project_dir()))
    except ValueError:
        return str(path)


def environment_layers(environment: str) -> list[Layer]:
    """group_data/all.py and group_data/<environment>.py."""
    if environment not in ENVIRONMENTS:
        raise ConfigError(
            f"unknown environment {environment!r}: expected one of {', '.join(ENVIRONMENTS)} "
            f"(a file group_data/<environment>.py)"
        )
    layers = []
    for name in ("all", environment):
        path = project_dir() / "group_data" / f"{name}.py"
        if not path.exists():
            raise ConfigError(f"{_rel(path)}: missing (every environment needs its data file)")
        layers.append(Layer(_rel(path), read_data_file(path)))
    return layers


def override_layers() -> list[Layer]:
    """The file named by DEPLOY_OVERRIDES, if any: wins over everything else."""
    overrides = os.environ.get("DEPLOY_OVERRIDES")
    if not overrides:
        return []
    path = Path(overrides)
    if not path.is_file():
        raise ConfigError(f"DEPLOY_OVERRIDES={overrides}: no such file")
    return [Layer(_rel(path), read_data_file(path))]


def cli_data_layers() -> list[Layer]:
    """`pyinfra ... --data key=value` (highest precedence), parsed like pyinfra parses it.

    pyinfra adds these to host data itself, after the inventory is loaded; reading them
    here too puts them through the same validation, before any host is contacted.
    """
    try:
        import click
        from pyinfra_cli.util import parse_cli_arg
    except ImportError:  # pragma: no cover - pyinfra's CLI is always installed with pyinfra
        return []
    context = click.get_current_context(silent=True)
    pairs = (context.params.get("data") if context else None) or ()
    values = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ConfigError(f"--data {pair}: expected key=value")
        values[key] = parse_cli_arg(value)
    return [Layer("--data", values)] if values else []


def validate(environment: str, layers: list[Layer]) -> Settings:
    """Merge layers and validate every key; raise ConfigError on the first problem."""
    merged: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for layer in layers:
        for key, value in layer.values.items():
            if key.startswith(PASSTHROUGH_PREFIXES):
                continue
            if key not in SCHEMA:
                close = difflib.get_close_matches(key, SCHEMA, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ConfigError(f"{layer.source}: unknown key {key!r}{hint}")
            merged[key] = value
            sources[key] = layer.source
    missing = [key for key in SCHEMA if key not in merged]
    if missing:
        raise ConfigError(
            f"group_data/all.py: missing key(s) {', '.join(missing)} (every key has its default there)"
        )
    if environment != "dev":
        for key in REQUIRED_OUTSIDE_DEV:
            if sources[key] == layers[0].source:
                raise ConfigError(
                    f"group_data/{environment}.py: missing required key {key!r} "
                    f"({environment} must set it; the default in {layers[0].source} is for dev)"
                )
        if merged.get("app_repo"):
            for key in REQUIRED_WITH_APP_OUTSIDE_DEV:
                if sources[key] == layers[0].source:
                    raise ConfigError(
                        f"group_data/{environment}.py: missing required key {key!r} "
                        f"({environment} deploys app_repo, so it must set its own {key}; "
                        f"staging and prod may share a machine)"
                    )
    values = {}
    for key, validator in SCHEMA.items():
        try:
            values[key] = validator(merged[key])
        except ValueError as error:
            raise ConfigError(f"{sources[key]}: {key}: {error}")
    if values["environment"] != environment:
        raise ConfigError(
            f"{sources['environment']}: environment: is {values['environment']!r} "
            f"but the inventory is for {environment!r}"
        )
    settings = Settings(environment, values, sources)
    check_consistency(settings)
    settings.secrets = resolve_secrets(settings)
    return settings


def secrets_file(environment: str) -> Path:
    return project_dir() / "secrets" / f"{environment}.env"


def read_secrets_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines (no quoting, no expansion); the file must be private (0600)."""
    if not path.exists():
        return {}
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise ConfigError(f"{_rel(path)}: mode {mode:04o} lets others read secrets; chmod 600 it")
    values = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not ENV_VAR_RE.match(key.strip()):
            raise ConfigError(f"{_rel(path)}: line {number}: expected KEY=VALUE")
        values[key.strip()] = value
    return values


def resolve_secrets(settings: Settings) -> dict[str, Secret]:
    """Every database password, from the environment variable its spec names, else
    secrets/<env>.env; dev may fall back to the upstream default (password = role name)."""
    from_file = read_secrets_file(secrets_file(settings.environment))
    secrets = {}
    for database, spec in settings.databases.items():
        variable = spec["password_env"]
        if os.environ.get(variable):
            secrets[database] = Secret(os.environ[variable], f"${variable}")
        elif from_file.get(variable):
            secrets[database] = Secret(
                from_file[variable], f"{_rel(secrets_file(settings.environment))}:{variable}"
            )
        elif settings.allow_dev_default_passwords:
            secrets[database] = Secret(spec["owner"], "dev default (password = role name)")
        else:
            raise ConfigError(
                f"{settings.source('databases')}: databases[{database!r}]: no password: set the "
                f"environment variable {variable} or add {variable}=... to "
                f"{_rel(secrets_file(settings.environment))} (mode 0600, git-ignored)"
            )
    return secrets


def check_consistency(settings: Settings) -> None:
    """Rules that span several keys."""
    if settings.environment != "dev" and "*" in settings.pg_listen_addresses:
        raise ConfigError(
            f"{settings.source('pg_listen_addresses')}: pg_listen_addresses: '*' is for dev only; "
            "expected the addresses to listen on (e.g. ['localhost', '172.17.0.1'])"
        )
    if settings.environment != "dev" and settings.allow_dev_default_passwords:
        raise ConfigError(
            f"{settings.source('allow_dev_default_passwords')}: allow_dev_default_passwords: "
            "dev only; staging and prod need real secrets"
        )
    if settings.restore_database is not None and settings.restore_database not in settings.databases:
        raise ConfigError(
            f"{settings.source('restore_database')}: restore_database: {settings.restore_database!r} "
            f"is not a managed database; expected one of {', '.join(settings.databases)}"
        )
    if settings.restore_drop_old and not settings.restore_swap:
        raise ConfigError(
            f"{settings.source('restore_drop_old')}: restore_drop_old: only with restore_swap = True "
            "(the old database is dropped only after the restored one replaced it)"
        )
    if settings.environment != "dev" and settings.pg_hba_auth_method != "scram-sha-256":
        raise ConfigError(
            f"{settings.source('pg_hba_auth_method')}: pg_hba_auth_method: staging and prod "
            "expected 'scram-sha-256'"
        )
    check_app(settings)


def check_app(settings: Settings) -> None:
    if settings.environment != "dev" and settings.app_local_dir:
        raise ConfigError(
            f"{settings.source('app_local_dir')}: app_local_dir: pushing a local checkout is for "
            "dev only; staging and prod deploy app_repo at app_ref"
        )
    if settings.app_repo and settings.app_local_dir:
        raise ConfigError(
            f"{settings.source('app_local_dir')}: app_local_dir: set either app_repo (git) or "
            "app_local_dir (rsync), not both"
        )
    if not settings.compose_files:
        raise ConfigError(f"{settings.source('compose_files')}: compose_files: expected at least one file")


def host_layers(environment: str, host_name: str, host_data: dict) -> list[Layer]:
    """Every layer for one host, lowest precedence first."""
    return [
        *environment_layers(environment),
        Layer(f"inventory/{environment}.py (host {host_name})", dict(host_data)),
        *override_layers(),
        *cli_data_layers(),
    ]


def connection_data(layers: list[Layer]) -> dict:
    """pyinfra's own keys (ssh_*, _sudo, ...) merged across layers, for host data."""
    data: dict[str, Any] = {}
    for layer in layers:
        data.update({k: v for k, v in layer.values.items() if k.startswith(PASSTHROUGH_PREFIXES)})
    return data
