"""Load and validate group_data once, before any host is touched (pure: no pyinfra; reads the
repository's group_data/ and secrets/ files; may import the model).

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
import math
import os
import posixpath
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import pgbackrest, secret_files
from .plan_diff import MIN_SECRET_LENGTH  # noqa: F401 (the policy below and its tests)
from .firewall import registry as firewall_registry


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


def all_problems(messages: list[str]) -> ConfigError:
    """One ConfigError reporting every problem found (one per line)."""
    if len(messages) == 1:
        return ConfigError(messages[0])
    return ConfigError(f"{len(messages)} problems:\n  " + "\n  ".join(messages))


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


# Control characters (C0, DEL, C1): never part of a name, a path or a one-line value;
# a newline in a value that reaches a shell script or a config file starts a new line.
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def has_control(value: str) -> bool:
    return CONTROL_RE.search(value) is not None


def is_str(value):
    """A non-empty one-line string (no control characters)."""
    if not isinstance(value, str) or not value:
        raise ValueError("expected a non-empty string")
    if has_control(value):
        raise ValueError("expected one line without control characters")
    return value


def is_option_safe(validator: Validator) -> Validator:
    """``validator``, and the value may not start with '-' (a command would read it as an option)."""
    def check(value):
        value = validator(value)
        if value.startswith("-"):
            raise ValueError("may not start with '-' (it would be read as an option)")
        return value

    return check


def is_match(pattern: re.Pattern, expected: str) -> Validator:
    """A string ``pattern`` matches whole (fullmatch: a trailing newline never slips through)."""
    def check(value):
        if not isinstance(value, str) or not pattern.fullmatch(value):
            raise ValueError(expected)
        return value

    return check


# Debian package names (Debian Policy 5.6.1): lowercase letters, digits, + - . ; at least
# two characters, starting with a letter or digit (so never an option to apt-get).
PACKAGE_RE = re.compile(r"[a-z0-9][a-z0-9+.-]+")

is_package = is_match(PACKAGE_RE, "expected a Debian package name (a-z, 0-9, +, -, .; starting with a "
                                  "letter or digit)")


# "<version>/<name>" as pg_lsclusters prints it.
CLUSTER_RE = re.compile(r"[0-9]{1,3}(?:\.[0-9]{1,3})?/[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}")

is_cluster = is_match(CLUSTER_RE, "expected '<version>/<name>' such as '17/main'")


# A branch, tag or commit: git check-ref-format's rules on a safe alphabet, never an option.
GIT_REF_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_./+-]{0,199}")


def is_git_ref(value):
    expected = "expected a branch, tag or commit id (letters, digits, _ . / + -; not starting with '-')"
    if not isinstance(value, str) or not GIT_REF_RE.fullmatch(value):
        raise ValueError(expected)
    if ".." in value or "//" in value or value.endswith((".", "/", ".lock")) or "/." in value:
        raise ValueError(f"{expected}; no '..', '//', '/.', and no trailing '.', '/' or '.lock'")
    return value


# git URLs: scheme://..., user@host:path, or a path; no blanks, quotes or shell syntax.
GIT_URL_RE = re.compile(r"[A-Za-z0-9_@/.~][A-Za-z0-9_@:/.~+%=-]*")


def is_git_url(value):
    if not isinstance(value, str) or not GIT_URL_RE.fullmatch(value) or value.startswith("-"):
        raise ValueError(
            "expected a git URL such as 'git@git.example.internal:owlclaw/owlclaw.git' or "
            "'https://git.example.internal/owlclaw.git' (no blanks, quotes or shell characters)"
        )
    if value.lower().startswith("ext::"):
        raise ValueError("the ext:: transport runs a command: not allowed")
    if re.match(r"[A-Za-z][A-Za-z0-9+.-]*://[^/@]*:[^/@]*@", value):
        # It would be in group_data (git), on git's command lines and in .git/config.
        raise ValueError("a password or token in the URL is not allowed: use an SSH URL and "
                               "app_deploy_key (or the host's own git credentials)")
    return value


def is_optional(validator: Validator) -> Validator:
    def check(value):
        return None if value is None else validator(value)

    return check


def is_int(low: int, high: int) -> Validator:
    """An int from low to high (not a bool, not a string of digits)."""
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


NAME_RE = re.compile(r"[a-z_][a-z0-9_]{0,62}")
# A PostgreSQL/compose-safe identifier.
is_name = is_match(NAME_RE, "expected a lowercase name: letters, digits, underscore (max 63)")


# Names the deploy never manages: PostgreSQL's own roles and databases, and the system's
# users (the deploy would ALTER them, own them, hand them a checkout or a sudo rule).
RESERVED_DATABASES = frozenset({"postgres", "template0", "template1"})
RESERVED_ROLES = frozenset({"postgres", "public", "none", "current_user", "current_role",
                            "session_user", "user", "all"})
RESERVED_ROLE_PREFIX = "pg_"
# Debian's base-passwd users plus the ones its common packages create.
SYSTEM_USERS = frozenset({
    "root", "daemon", "bin", "sys", "sync", "games", "man", "lp", "mail", "news", "uucp",
    "proxy", "www-data", "www_data", "backup", "list", "irc", "gnats", "nobody", "nogroup",
    "_apt", "messagebus", "sshd", "postgres", "systemd_network", "systemd_resolve",
    "systemd_timesync", "polkitd", "avahi", "dnsmasq", "ntp", "statd", "tss", "uuidd",
    "tcpdump", "syslog", "docker", "sudo", "adm", "staff", "users", "shadow", "disk",
})


def is_database_name(value):
    value = is_name(value)
    if value in RESERVED_DATABASES or value.startswith(RESERVED_ROLE_PREFIX):
        raise ValueError(f"{value!r} is PostgreSQL's own database name (reserved); expected one of yours")
    return value


def is_role_name(value):
    value = is_name(value)
    if value in RESERVED_ROLES or value.startswith(RESERVED_ROLE_PREFIX):
        raise ValueError(f"{value!r} is a PostgreSQL system role name (reserved); expected one of yours")
    return value


def is_os_user(value):
    value = is_name(value)
    if value in SYSTEM_USERS or value.startswith(("systemd_", "_")):
        raise ValueError(f"{value!r} is a system user (reserved); expected a user of the deploy's own")
    return value


# Characters a host path may hold: it reaches shell scripts, crontabs and messages.
PATH_RE = re.compile(r"/[A-Za-z0-9_.@+/-]*")
# Never a deploy path (the deploy creates, chowns or chmods its paths), nor anything below
# these: the system's and PostgreSQL's own trees, and world-writable directories.
SYSTEM_TREES = ("/etc", "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/boot",
                "/proc", "/sys", "/dev", "/run", "/var/run", "/var/lock", "/tmp", "/var/tmp",
                "/var/lib/postgresql", "/var/log/postgresql", "/root", "/lost+found", "/snap")
# ... nor exactly one of these (a directory of its own below them is fine).
SYSTEM_DIRECTORIES = ("/", "/var", "/var/lib", "/var/log", "/var/backups", "/var/cache",
                      "/var/spool", "/var/mail", "/var/opt", "/var/www", "/var/local", "/home",
                      "/opt", "/srv", "/mnt", "/media", "/usr/local")


def is_within(path: str, tree: str) -> bool:
    return path == tree or path.startswith(tree.rstrip("/") + "/")


def is_abs_path(value):
    """An absolute, normalised path on a safe alphabet (any directory: e.g. a file to read)."""
    expected = "expected an absolute path (letters, digits, _ . @ + - /)"
    if not isinstance(value, str) or not value:
        raise ValueError(expected)
    if has_control(value):
        raise ValueError(f"{expected}; no control characters")
    if not PATH_RE.fullmatch(value):
        raise ValueError(expected)
    trimmed = value.rstrip("/") or "/"
    if ".." in trimmed.split("/") or posixpath.normpath(trimmed) != trimmed:
        raise ValueError(f"{expected}, normalised: no '..', '.' or '//' (got {value!r})")
    return trimmed


def is_deploy_path(value):
    """A directory the deploy creates and owns: not /, not a system directory, not PostgreSQL's."""
    path = is_abs_path(value)
    for tree in SYSTEM_TREES:
        if is_within(path, tree):
            raise ValueError(
                f"{path!r} is within the system directory {tree} (expected a directory of the deploy's own)"
            )
    if path in SYSTEM_DIRECTORIES:
        raise ValueError(f"{path!r} is a system directory (expected a directory of its own below it)")
    return path


def is_cidr(value):
    if not isinstance(value, str):
        raise ValueError("expected a CIDR string such as '10.0.0.0/24'")
    try:
        return str(ipaddress.ip_network(value, strict=True))
    except ValueError as error:
        raise ValueError(f"expected a network in CIDR form such as '10.0.0.0/24' ({error})")


def is_list(item: Validator) -> Validator:
    """A list of ``item``; an error names the item's position (never its value: it may be a secret)."""
    def check(value):
        if not isinstance(value, (list, tuple)):
            raise ValueError("expected a list")
        out = []
        for position, element in enumerate(value):
            try:
                out.append(item(element))
            except ValueError as error:
                raise ValueError(f"item {position} ({_shown(element)}): {error}")
        return out

    return check


def _shown(value) -> str:
    """A value for a message: its repr when short and one plain line, else only its type."""
    text = repr(value)
    if isinstance(value, (str, int, float)) and len(text) <= 80:
        return text
    return f"a {type(value).__name__}"


LISTEN_RE = re.compile(r"[A-Za-z0-9:][A-Za-z0-9.:_-]*|\*")


is_listen_address = is_match(LISTEN_RE, "expected '*', 'localhost', an IP address or a host name")


def is_mapping(key: Validator, val: Validator) -> Validator:
    def check(value):
        if not isinstance(value, Mapping):
            raise ValueError("expected a mapping (dict)")
        out = {}
        for name, element in value.items():
            try:
                out[key(name)] = val(element)
            except ValueError as error:
                raise ValueError(f"entry {_shown(name)}: {error}")
        return out

    return check


# A setting, or a custom (extension) setting "prefix.name": at most one dot.
PG_SETTING_NAME_RE = re.compile(r"[a-z_][a-z0-9_]{0,62}(?:\.[a-z_][a-z0-9_]{0,62})?")


def is_pg_setting_name(value):
    if not isinstance(value, str) or not PG_SETTING_NAME_RE.fullmatch(value):
        raise ValueError("expected a PostgreSQL setting name (name or prefix.name: a-z, 0-9, _)")
    if value in ("listen_addresses", "include", "include_dir", "include_if_exists"):
        raise ValueError(f"{value} is not set here (use its own key)")
    return value


def is_pg_setting_value(value):
    expected = "expected a bool, number, one-line string or list of one-line strings"
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{expected} (not NaN or infinity)")
        return value
    if isinstance(value, str) and not has_control(value):
        return value
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) and v and not has_control(v)
                                                 for v in value):
        return list(value)
    raise ValueError(f"{expected}; no control characters (newline, CR, NUL, ...)")


CRON_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12),
               ("day of week", 0, 7))
CRON_NAMES = {
    3: ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
    4: ("sun", "mon", "tue", "wed", "thu", "fri", "sat"),
}


DIGITS_RE = re.compile(r"[0-9]{1,5}")


def _cron_number(text: str, label: str, field_value: str, low: int, high: int, names: tuple) -> int:
    if text.lower() in names:
        return names.index(text.lower()) + (1 if label == "month" else 0)
    if not DIGITS_RE.fullmatch(text) or not low <= int(text) <= high:
        raise ValueError(f"{label} {field_value!r}: expected numbers from {low} to {high}")
    return int(text)


def is_cron_schedule(value):
    """A crontab time specification: exactly 5 fields (minute hour day-of-month month day-of-week),
    each a comma list of *, N or N-M (ascending), * and ranges with an optional /STEP (1 .. the
    range's span). Digits are ASCII only."""
    expected = "expected a cron schedule of 5 fields such as '15 3 * * *' (minute hour day month weekday)"
    if not isinstance(value, str) or has_control(value.replace(" ", "").replace("\t", "")) or "\n" in value:
        raise ValueError(expected)
    fields = value.split()
    if len(fields) != 5:
        raise ValueError(f"{expected}; got {len(fields)} field(s)")
    for position, (field_value, (label, low, high)) in enumerate(zip(fields, CRON_FIELDS, strict=True)):
        names = CRON_NAMES.get(position, ())
        for part in field_value.split(","):
            base, slash, step = part.partition("/")
            if base == "*":
                first, last = low, high
            else:
                start, dash, stop = base.partition("-")
                first = _cron_number(start, label, field_value, low, high, names)
                last = _cron_number(stop, label, field_value, low, high, names) if dash else first
                if last < first:
                    raise ValueError(f"{label} {field_value!r}: range {base!r} runs backwards; {expected}")
                if slash and not dash:
                    raise ValueError(
                        f"{label} {field_value!r}: bad step: it needs '*' or a range; {expected}"
                    )
            if slash:
                span = max(last - first, 1)
                if not DIGITS_RE.fullmatch(step) or not 1 <= int(step) <= span:
                    raise ValueError(f"{label} {field_value!r}: bad step {step!r}: expected 1 to {span}; "
                                     f"{expected}")
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
            rule = HbaRule.from_record(dict(record))
            check_auth_options(rule)
        except ValueError as error:
            # Not the record itself: its options may hold ldapbindpasswd or radiussecrets.
            raise ValueError(f"rule {position} (type {_shown(record.get('type'))}, "
                             f"method {_shown(record.get('method'))}): {error}")
        rules.append(rule)
    return rules


# pg_hba options each method takes (PostgreSQL's hba.c); clientcert on any host* rule.
AUTH_OPTIONS = {
    "ldap": {"ldapserver", "ldapport", "ldapscheme", "ldaptls", "ldapprefix", "ldapsuffix",
             "ldapbasedn", "ldapbinddn", "ldapbindpasswd", "ldapsearchattribute",
             "ldapsearchfilter", "ldapurl"},
    "radius": {"radiusservers", "radiussecrets", "radiusidentifiers", "radiusports"},
    "pam": {"pamservice", "pam_use_hostname"},
    "gss": {"include_realm", "krb_realm", "map"},
    "sspi": {"include_realm", "krb_realm", "map", "compat_realm", "upn_username"},
    "ident": {"map"},
    "peer": {"map"},
    "cert": {"map", "clientname"},
}
ANY_METHOD_OPTIONS = {"clientcert", "clientname"}


def _option_names(rule) -> dict[str, bool]:
    """option name -> whether it has a non-empty value (values are never returned: secrets)."""
    from .pg_hba import tokenize

    names = {}
    for option in tokenize(rule.options):
        name, _, value = "".join(str(token) for token in option).partition("=")
        names[name] = bool(value.strip('"'))
    return names


def check_auth_options(rule) -> None:
    """Options the rule's method does not take, or the ones it needs missing, as PostgreSQL
    would refuse them (at reload, after the deploy started): refused here, by name only."""
    options = _option_names(rule)
    allowed = AUTH_OPTIONS.get(rule.method, set()) | ANY_METHOD_OPTIONS
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise ValueError(f"option(s) {', '.join(unknown)} not taken by method {rule.method!r}"
                         f" (it takes {', '.join(sorted(allowed))})")
    if rule.method == "ldap":
        if not (options.get("ldapserver") or options.get("ldapurl")):
            raise ValueError("method 'ldap' needs ldapserver (or ldapurl)")
        simple = options.get("ldapprefix") or options.get("ldapsuffix")
        search = {"ldapbasedn", "ldapbinddn", "ldapbindpasswd", "ldapsearchattribute",
                  "ldapsearchfilter", "ldapurl"} & set(options)
        if simple and search:
            raise ValueError(f"method 'ldap': ldapprefix/ldapsuffix (simple bind) cannot be combined with "
                             f"{', '.join(sorted(search))} (search+bind)")
        if not simple and not (options.get("ldapbasedn") or options.get("ldapurl")):
            raise ValueError(
                "method 'ldap' needs ldapbasedn (search+bind) or ldapprefix/ldapsuffix (simple bind)"
            )
        if "ldapbindpasswd" in options and "ldapbinddn" not in options:
            raise ValueError("method 'ldap': ldapbindpasswd without ldapbinddn")
        if "ldapsearchattribute" in options and "ldapsearchfilter" in options:
            raise ValueError("method 'ldap': ldapsearchattribute and ldapsearchfilter exclude each other")
    if rule.method == "radius":
        for needed in ("radiusservers", "radiussecrets"):
            if not options.get(needed):
                raise ValueError(f"method 'radius' needs {needed}")
    if rule.method == "cert" and rule.type != "hostssl":
        raise ValueError("method 'cert' only works on hostssl rules")


DATABASE_FIELDS = {
    # field: (validator, default)
    "owner": (is_name, None),
    "extensions": (None, ()),  # validated below: list of names
    "settings": (None, {}),  # ALTER DATABASE ... SET name = value
    "password_env": (None, None),  # default: <OWNER>_DB_PASSWORD
    "seed_sql": (None, None),  # path (repo-relative) of SQL applied once
}
ENV_VAR_RE = re.compile(r"[A-Z_][A-Z0-9_]{0,127}")


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
        where = f"database {_shown(name)}"
        try:
            is_database_name(name)
        except ValueError as error:
            raise ValueError(f"{where}: {error}")
        if not isinstance(spec, Mapping) or "owner" not in spec:
            raise ValueError(f"{where}: expected a dict with at least 'owner'")
        check_fields(where, spec, DATABASE_FIELDS)
        try:
            owner = is_role_name(spec["owner"])
            extensions = is_list(is_name)(spec.get("extensions", []))
            db_settings = is_mapping(is_pg_setting_name, is_pg_setting_value)(spec.get("settings", {}))
        except ValueError as error:
            raise ValueError(f"{where}: {error}")
        if owner in owners:
            raise ValueError(f"{where}: owner {owner!r} already owns another database (isolation)")
        owners.add(owner)
        password_env = spec.get("password_env") or f"{owner.upper()}_DB_PASSWORD"
        if not isinstance(password_env, str) or not ENV_VAR_RE.fullmatch(password_env):
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
    if (not isinstance(value, str) or not value or value.startswith(("/", "-")) or ".." in value.split("/")
            or not PATH_RE.fullmatch("/" + value) or posixpath.normpath(value) != value):
        raise ValueError("expected a normalised path relative to the repository (no leading / or -, no .., "
                         "letters, digits, _ . @ + - /)")
    return value


is_env_var_name = is_match(ENV_VAR_RE, "expected an environment variable name (A-Z, 0-9, _)")


def is_env_value(value):
    if (isinstance(value, bool) or not isinstance(value, (str, int, float)) or has_control(str(value))
            or (isinstance(value, float) and not math.isfinite(value))):
        raise ValueError("expected a one-line string (no control characters) or a finite number")
    return str(value)


PORT_MAPPING_RE = re.compile(
    r"(?:(?:\[[0-9a-fA-F:]+\]|[0-9.]+):)?[0-9]{1,5}(?:-[0-9]{1,5})?:[0-9]{1,5}(?:-[0-9]{1,5})?(?:/(?:tcp|udp))?"
)
SERVICE_FIELDS = ("ports", "disabled", "host_gateway", "database_env", "environment")
SERVICE_NAME_RE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}")
# What a database_env entry may carry: "<database>" (its URL) or "<database>.<part>".
DATABASE_PARTS = ("url", "user", "password", "host", "port", "name")
PUBLISHED_RE = re.compile(r"\{published:([0-9]{1,5})\}")


def is_database_env(value):
    """VAR -> "<database>" (the URL) or "<database>.<part>" -> {VAR: {"database", "part"}}."""
    if not isinstance(value, Mapping):
        raise ValueError("database_env: expected a mapping VAR -> '<database>' or '<database>.<part>'")
    out = {}
    for variable, reference in value.items():
        where = f"database_env: {variable!r}"
        try:
            is_env_var_name(variable)
        except ValueError as error:
            raise ValueError(f"{where}: {error}")
        database, _, part = reference.partition(".") if isinstance(reference, str) else ("", "", "")
        part = part or "url"
        if not NAME_RE.fullmatch(database or "-") or part not in DATABASE_PARTS:
            raise ValueError(
                f"{where}: {reference!r}: expected a database of `databases` ('hatchet'), or "
                f"'<database>.<part>' with part one of {', '.join(DATABASE_PARTS)}"
            )
        out[variable] = {"database": database, "part": part}
    return out


def container_port(mapping: str) -> str:
    """'127.0.0.1:17077:7078/tcp' -> '7078'."""
    return mapping.rsplit(":", 1)[-1].split("/")[0]


def is_service_environment(value, ports):
    """VAR -> a literal, non-secret value; '{published:N}' stands for the host port this
    environment publishes container port N on (from the service's own `ports`)."""
    if not isinstance(value, Mapping):
        raise ValueError("environment: expected a mapping VAR -> value")
    out = {}
    for variable, text in value.items():
        try:
            is_env_var_name(variable)
            text = is_env_value(text)
        except ValueError as error:
            raise ValueError(f"environment: {variable!r}: {error}")
        published = {container_port(p): p for p in ports or []}
        for wanted in PUBLISHED_RE.findall(text):
            if wanted not in published or "-" in published[wanted]:
                raise ValueError(
                    f"environment: {variable!r}: {{published:{wanted}}} names container port {wanted}, "
                    f"which this service's ports do not publish (ports: {ports or []})"
                )
        out[variable] = text
    return out


def ports_in_range(mapping: str) -> bool:
    """Every port number of a 'HOST:CONTAINER' mapping is 1-65535 and each range ascends."""
    spec = mapping.rsplit("/", 1)[0]
    host_port, _, container = spec.rpartition(":")
    host_port = host_port.rpartition("]:" if host_port.startswith("[") else ":")[2]
    for part in (host_port, container):
        first, _, last = part.partition("-")
        numbers = [int(first), int(last or first)]
        if not all(1 <= n <= 65535 for n in numbers) or numbers[1] < numbers[0]:
            return False
    return True


def is_compose_services(value):
    """service -> {ports, disabled, host_gateway, database_env, environment} (group_data/all.py)."""
    if not isinstance(value, Mapping):
        raise ValueError("expected a mapping of compose service name -> {'ports': [...], ...}")
    out = {}
    for name, spec in value.items():
        where = f"service {name!r}"
        if not isinstance(name, str) or not SERVICE_NAME_RE.fullmatch(name):
            raise ValueError(f"{where}: expected a compose service name")
        if not isinstance(spec, Mapping):
            raise ValueError(f"{where}: expected a dict with {', '.join(SERVICE_FIELDS)}")
        check_fields(where, spec, SERVICE_FIELDS)
        ports = spec.get("ports")
        if ports is not None:
            if not isinstance(ports, (list, tuple)):
                raise ValueError(f"{where}: ports: expected a list of 'HOST:CONTAINER' strings")
            for port in ports:
                if (not isinstance(port, str) or not PORT_MAPPING_RE.fullmatch(port)
                        or not ports_in_range(port)):
                    raise ValueError(
                        f"{where}: ports: {port!r}: expected 'HOST:CONTAINER' such as '3003:3001'"
                    )
            ports = list(ports)
        try:
            disabled = is_bool(spec.get("disabled", False))
            host_gateway = is_bool(spec.get("host_gateway", True))
            database_env = is_database_env(spec.get("database_env", {}))
            environment = is_service_environment(spec.get("environment", {}), ports)
        except ValueError as error:
            raise ValueError(f"{where}: {error}")
        if database_env and not host_gateway:
            raise ValueError(
                f"{where}: database_env needs host_gateway (host.docker.internal is how the "
                "container reaches the host's PostgreSQL)"
            )
        both = sorted(set(database_env) & set(environment))
        if both:
            raise ValueError(f"{where}: {', '.join(both)} in both database_env and environment")
        out[name] = {
            "ports": ports,
            "disabled": disabled,
            "host_gateway": host_gateway,
            "database_env": database_env,
            "environment": environment,
        }
    return out


# --------------------------------------------------------------------------- schema
# key -> validator. Meaning and default of every key: group_data/all.py.

SCHEMA: dict[str, Validator] = {
    "environment": is_choice(*ENVIRONMENTS),
    # host basics
    "base_packages": is_list(is_package),
    "deploy_state_dir": is_deploy_path,
    # databases and roles
    "databases": is_databases,
    "allow_dev_default_passwords": is_bool,
    "pgdg_apt_repository": is_bool,
    # PostgreSQL server configuration
    "pg_cluster": is_optional(is_cluster),
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
    "firewall_backend": is_choice(*firewall_registry.CHOICES),
    "firewall_enable": is_bool,
    # one-time host bootstrap
    "bootstrap_packages": is_list(is_package),
    "docker_packages": is_optional(is_list(is_package)),
    "deploy_user": is_os_user,
    "deploy_user_public_key_file": is_str,
    "data_dir": is_deploy_path,
    # backups and restore
    "backup_dir": is_deploy_path,
    "backup_retention_days": is_int(1, 3650),
    "backup_schedule": is_cron_schedule,
    "backup_before_deploy": is_bool,
    "restore_database": is_optional(is_database_name),
    "restore_file": is_optional(is_abs_path),
    "restore_swap": is_bool,
    "restore_drop_old": is_bool,
    "restore_target_time": None,  # set below: pgbackrest.is_restore_target
    "restore_port": is_port,
    # pgBackRest: WAL archiving and base backups on a backup host
    "pgbackrest_enabled": is_bool,
    "pgbackrest_repo_path": is_deploy_path,
    "pgbackrest_repo_user": is_os_user,
    "pgbackrest_retention_full": is_int(1, 100),
    "pgbackrest_retention_diff": is_int(1, 1000),
    "pgbackrest_full_schedule": is_cron_schedule,
    "pgbackrest_diff_schedule": is_cron_schedule,
    "pgbackrest_max_age_hours": is_int(1, 24 * 400),
    "pgbackrest_freshness_fails": is_bool,
    # prod guard
    "confirm_prod": is_bool,
    # application: source, .env, docker compose
    "app_repo": is_optional(is_git_url),
    "app_ref": is_git_ref,
    "app_deploy_key": is_optional(is_str),
    "app_local_dir": is_optional(is_option_safe(is_str)),
    "app_rsync_excludes": is_list(is_option_safe(is_str)),
    "app_dir": is_deploy_path,
    "app_user": is_os_user,
    "app_env": is_mapping(is_env_var_name, is_env_value),
    "compose_project": is_name,
    "compose_files": is_list(is_relative_path),
    "compose_services": is_compose_services,
    "app_secrets": is_list(is_env_var_name),
    "compose_subnet": is_optional(is_cidr),
    "compose_bind_address": is_ip_address,
    "compose_up_timeout": is_int(5, 3600),
    "compose_force_up": is_bool,
    "compose_pull": is_choice("policy", "missing", "always", "never"),
    # configuration policy
    "policy_exceptions": None,  # set below: is_list(is_choice(*POLICY_EXCEPTIONS))
}

# What staging and prod refuse unless policy_exceptions names it (dev only warns); each
# exception in effect is printed on every run. Documented in group_data/all.py and the README.
POLICY_EXCEPTIONS = {
    "network_wide_listen": "listening on every address",
    "network_wide_clients": "a client network wider than /8 (IPv4) or /32 (IPv6)",
    "insecure_network_auth": "trust, password or md5 authentication from the network",
    "weak_password_encryption": "password hashes other than scram-sha-256",
}
SCHEMA["policy_exceptions"] = is_list(is_choice(*POLICY_EXCEPTIONS))
SCHEMA["restore_target_time"] = pgbackrest.is_restore_target
# Networks wider than this (shorter prefix) are "network-wide": 0.0.0.0/0 and ::/0 of course,
# and anything bigger than a /8 (16.7 million IPv4 addresses) or a /32 (an ISP's IPv6 block).
WIDEST_CLIENT_PREFIX = {4: 8, 6: 32}
INSECURE_NETWORK_METHODS = ("trust", "password", "md5")


# Keys staging and prod must set themselves (in group_data/<env>.py or the
# inventory), never inherit: what a production database exposes is a decision.
REQUIRED_OUTSIDE_DEV = ("pg_listen_addresses", "pg_client_networks", "databases")

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
    app_secret_values: dict = field(default_factory=dict)  # app_secrets: name -> Secret
    pgbackrest_cipher: Secret | None = None  # the repository's passphrase (pgbackrest_enabled)
    # Printed on every run (deploylib.inventory): policy exceptions in effect, dev's warnings.
    warnings: list = field(default_factory=list)

    def __getattr__(self, key):
        try:
            return self.__dict__["values"][key]
        except KeyError:
            raise AttributeError(f"no setting {key!r} (declare it in deploylib/model/config.py SCHEMA)")

    def source(self, key: str) -> str:
        return self.sources.get(key, "?")

    def db_password(self, database: str) -> Secret:
        """The password of `database`'s owner role (a Secret: reveal() only where it is used)."""
        return self.__dict__["secrets"][database]

    def __repr__(self) -> str:
        return f"Settings({self.environment}, {len(self.values)} keys)"


# (path, text) -> its code: every host of a run reads the same group_data files, and
# compiling them cost more than running them (executed again for each host: fresh values).
_compiled: dict[tuple[str, str], Any] = {}


def _compile(path: Path) -> Any:
    key = (str(path), path.read_text())
    if key not in _compiled:
        _compiled[key] = compile(key[1], key[0], "exec")
    return _compiled[key]


def read_data_file(path: Path) -> dict:
    """Execute a group_data-style Python file; return its public names. Any error in it
    (syntax, NameError, ...) is a configuration error naming the file and line."""
    namespace: dict[str, Any] = {"__file__": str(path)}
    try:
        code = _compile(path)
    except (SyntaxError, ValueError) as error:
        raise ConfigError(f"{_rel(path)}: line {getattr(error, 'lineno', '?')}: "
                          f"{getattr(error, 'msg', None) or type(error).__name__}")
    except OSError as error:
        raise ConfigError(f"{_rel(path)}: cannot be read ({error.strerror})")
    try:
        exec(code, namespace)  # noqa: S102 - group_data is code by pyinfra's design
    except Exception as error:
        # The line, and the error's kind only: its text may quote a value (a secret).
        line = next((frame.lineno for frame in _traceback_frames(error) if frame.filename == str(path)), "?")
        detail = f": {error}" if isinstance(error, NameError) else ""
        raise ConfigError(f"{_rel(path)}: line {line}: {type(error).__name__}{detail} "
                          "(the file could not be executed)")
    return {
        key: value
        for key, value in namespace.items()
        if not key.startswith("__") and not _is_module_or_callable(value)
    }


def _traceback_frames(error: BaseException):
    import traceback

    return traceback.extract_tb(error.__traceback__)


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


def validate(environment: str, layers: list[Layer], with_secrets: bool = True) -> Settings:
    """Merge layers and validate every key; raise ConfigError naming every unknown key and
    bad value at once (then the first problem of the checks that need valid values)."""
    merged: dict[str, Any] = {}
    sources: dict[str, str] = {}
    problems: list[str] = []
    for layer in layers:
        for key, value in layer.values.items():
            if key.startswith(PASSTHROUGH_PREFIXES):
                continue
            if key not in SCHEMA:
                close = difflib.get_close_matches(key, SCHEMA, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                problems.append(f"{layer.source}: unknown key {key!r}{hint}")
                continue
            merged[key] = value
            sources[key] = layer.source
    missing = [key for key in SCHEMA if key not in merged]
    if missing:
        problems.append(
            f"group_data/all.py: missing key(s) {', '.join(missing)} (every key has its default there)"
        )
        raise all_problems(problems)
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
            problems.append(f"{sources[key]}: {key}: {error}")
    if problems:
        raise all_problems(problems)
    if values["environment"] != environment:
        raise ConfigError(
            f"{sources['environment']}: environment: is {values['environment']!r} "
            f"but the inventory is for {environment!r}"
        )
    settings = Settings(environment, values, sources)
    check_consistency(settings)
    check_policy(settings)
    check_environment_names(settings)
    if with_secrets:
        sources = SecretSources(settings)  # one decryption for both
        settings.secrets = resolve_secrets(settings, sources)
        settings.app_secret_values = resolve_app_secrets(settings, sources)
        settings.pgbackrest_cipher = resolve_pgbackrest_cipher(settings, sources)
    else:
        # bootstrap.py creates no database and runs no application: no secret to ask for.
        settings.secrets, settings.app_secret_values = {}, {}
    return settings


def secrets_dir() -> Path:
    return project_dir() / "secrets"


def secrets_file(environment: str) -> Path:
    """The plaintext secrets file (before secrets/<env>.env.age; still read, after it)."""
    return secrets_dir() / f"{environment}.env"


def dotenv_value(raw: str) -> str:
    """A value as .env readers (python-dotenv, docker compose) read it: surrounding blanks
    stripped; '...' taken literally; "..." with \\" and \\\\ unescaped; unquoted, a ' #'
    starts a comment."""
    value = raw.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        inner = value[1:-1]
        if value[0] == '"':
            inner = re.sub(r'\\([\\"])', r"\1", inner)
        return inner
    return re.split(r"\s+#", value, maxsplit=1)[0].rstrip()


def parse_secrets_text(text: str, source: str) -> dict[str, str]:
    """KEY=VALUE lines (optionally 'export KEY=VALUE'; values read as .env readers do, see
    dotenv_value; no expansion): the plaintext file and the decrypted .age file alike."""
    values = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition("=")
        key = key.strip()
        if key.startswith("export "):
            key = key[len("export "):].strip()
        if not sep or not ENV_VAR_RE.fullmatch(key):
            raise ConfigError(f"{source}: line {number}: expected KEY=VALUE")
        values[key] = dotenv_value(value)
    return values


def read_secrets_file(path: Path) -> dict[str, str]:
    """The plaintext secrets/<env>.env; it must be private (0600)."""
    if not path.exists():
        return {}
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise ConfigError(f"{_rel(path)}: mode {mode:04o} lets others read secrets; chmod 600 it")
    return parse_secrets_text(path.read_text(), _rel(path))


def read_encrypted_secrets(path: Path) -> dict[str, str]:
    """secrets/<env>.env.age decrypted in memory with the operator's age identity."""
    if not path.exists():
        return {}
    try:
        text = secret_files.decrypt_file(path, secret_files.identity_file(), _rel(path))
    except secret_files.SecretsError as error:
        raise ConfigError(str(error))
    return parse_secrets_text(text, _rel(path))


class SecretSources:
    """Where a secret comes from, first found wins: the controller's environment variable,
    secrets/<env>.env.age (decrypted only when a variable is not in the environment), the
    plaintext secrets/<env>.env (kept for existing users; a notice says so)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._files: list[tuple[str, dict[str, str]]] | None = None

    def files(self) -> list[tuple[str, dict[str, str]]]:
        if self._files is None:
            environment = self.settings.environment
            encrypted = secret_files.encrypted_file(secrets_dir(), environment)
            plain = secrets_file(environment)
            self._files = [(_rel(encrypted), read_encrypted_secrets(encrypted)),
                           (_rel(plain), read_secrets_file(plain))]
            if self._files[1][1]:
                notice = (f"notice: secrets read from the plaintext {_rel(plain)}; move them into "
                          f"{_rel(encrypted)} with './run secrets edit {environment}' (secrets/README.md)")
                if notice not in self.settings.warnings:
                    self.settings.warnings.append(notice)
        return self._files

    def get(self, variable: str) -> Secret | None:
        if os.environ.get(variable):
            return Secret(os.environ[variable], f"${variable}")
        for source, values in self.files():
            if values.get(variable):
                return Secret(values[variable], f"{source}:{variable}")
        return None

    def where(self) -> str:
        """Where a missing secret can be put, for error messages."""
        environment = self.settings.environment
        return (f"{_rel(secret_files.encrypted_file(secrets_dir(), environment))} "
                f"(./run secrets edit {environment})")


def check_secret_text(value: str, what: str, environment: str) -> None:
    """A secret must be one line (a newline would end the SQL literal's line, or the .env
    line, it is written to); in staging and prod at least MIN_SECRET_LENGTH characters: a
    shorter one is not masked in plan diffs, and is quickly guessed from the salt and digest
    the roles' fact reads (printed at -vvv). The error names ``what``, never the value or
    its length."""
    if has_control(value):
        raise ConfigError(f"{what} contains a control character (newline, CR, NUL, ...); expected one line")
    if environment != "dev" and len(value) < MIN_SECRET_LENGTH:
        raise ConfigError(
            f"{what} is too short: {environment} needs at least {MIN_SECRET_LENGTH} characters "
            "(a long random one: ./run secrets edit " + environment + ")"
        )


def resolve_app_secrets(settings: Settings, sources: SecretSources) -> dict[str, Secret]:
    """The application's secrets beyond database passwords (app_secrets, e.g. HATCHET_API_TOKEN),
    from the same sources as the passwords. dev leaves a missing one out of the .env (the
    compose file's own default applies); staging and prod refuse to start without it."""
    if not (settings.app_repo or settings.app_local_dir):
        return {}
    values = {}
    for variable in settings.app_secrets:
        secret = sources.get(variable)
        if secret is not None:
            what = f"{secret.source}: app_secrets: {variable}"
            check_secret_text(secret.reveal(), what, settings.environment)
            values[variable] = secret
        elif settings.environment != "dev":
            raise ConfigError(
                f"{settings.source('app_secrets')}: app_secrets: {variable}: not set: set the "
                f"environment variable {variable} or add {variable}=... to {sources.where()}"
            )
    return values


# pgBackRest's repository passphrase: long enough that guessing it is no attack (the user
# guide generates one with `openssl rand -base64 48`).
CIPHER_PASS_MIN = 20


def resolve_pgbackrest_cipher(settings: Settings, sources: SecretSources) -> Secret | None:
    """The repository's cipher passphrase (PGBACKREST_<ENV>_CIPHER_PASS), when pgBackRest is
    enabled: every environment needs a real one (there is no dev default)."""
    if not settings.pgbackrest_enabled:
        return None
    variable = pgbackrest.cipher_variable(settings.environment)
    secret = sources.get(variable)
    where = f"{settings.source('pgbackrest_enabled')}: pgbackrest_enabled: the repository passphrase {variable}"
    if secret is None:
        raise ConfigError(
            f"{where} is not set: set the environment variable {variable} or add {variable}=... to "
            f"{sources.where()} (generate one: openssl rand -base64 48)"
        )
    value = secret.reveal()
    if has_control(value) or len(value) < CIPHER_PASS_MIN or value != value.strip():
        raise ConfigError(
            f"{where} (from {secret.source}): expected one line of at least {CIPHER_PASS_MIN} "
            "characters without surrounding blanks or control characters (openssl rand -base64 48)"
        )
    return secret


def resolve_secrets(settings: Settings, sources: SecretSources) -> dict[str, Secret]:
    """Every database password, from the environment variable its spec names, else
    secrets/<env>.env.age, else secrets/<env>.env; dev may fall back to the upstream default
    (password = role name)."""
    secrets = {}
    missing = []
    for database, spec in settings.databases.items():
        variable = spec["password_env"]
        secret = sources.get(variable)
        if secret is not None:
            secrets[database] = secret
        elif settings.allow_dev_default_passwords:
            secrets[database] = Secret(spec["owner"], "dev default (password = role name)")
        else:
            # Every missing password at once: one run tells them all.
            missing.append(
                f"{settings.source('databases')}: databases[{database!r}]: no password: set the "
                f"environment variable {variable} or add {variable}=... to {sources.where()}"
            )
            continue
        if secret is not None:
            what = f"{secret.source}: the password of database {database!r}"
            check_secret_text(secret.reveal(), what, settings.environment)
            if settings.environment != "dev" and secret.reveal() in (spec["owner"], database):
                # Guessable, and the plan diff, masking it, would show where the name stands.
                raise ConfigError(f"{what} is its role's or database's name; {settings.environment} "
                                  "needs a real secret")
    if missing:
        raise all_problems(missing)
    return secrets


def _is_wildcard_address(value: str) -> bool:
    if value == "*":
        return True
    try:
        return ipaddress.ip_address(value).is_unspecified
    except ValueError:
        return False


def _too_wide(network) -> bool:
    return network.prefixlen < WIDEST_CLIENT_PREFIX[network.version]


def policy_findings(settings: Settings) -> list[tuple[str, str, str]]:
    """(exception name, key, what) for each dangerous setting (see POLICY_EXCEPTIONS)."""
    findings = []
    listen_hint = "expected the addresses to listen on (e.g. ['localhost', '172.17.0.1'])"
    for address in settings.pg_listen_addresses:
        if _is_wildcard_address(address):
            findings.append(("network_wide_listen", "pg_listen_addresses",
                             f"{address!r} listens on every address; {listen_hint}"))
    if _is_wildcard_address(settings.compose_bind_address):
        findings.append(("network_wide_listen", "compose_bind_address",
                         f"{settings.compose_bind_address!r} publishes the application's ports on every "
                         "address (Docker bypasses the host firewall); expected e.g. '127.0.0.1'"))
    wide = f"wider than /{WIDEST_CLIENT_PREFIX[4]} (IPv4) or /{WIDEST_CLIENT_PREFIX[6]} (IPv6)"
    for key, networks in (("pg_client_networks", settings.pg_client_networks),
                          ("compose_subnet", [settings.compose_subnet] if settings.compose_subnet else [])):
        for network in networks:
            if _too_wide(ipaddress.ip_network(network)):
                findings.append(("network_wide_clients", key, f"{network} is {wide}; expected the "
                                 "networks of the application hosts"))
    for position, rule in enumerate(settings.pg_hba_rules):
        if rule.type == "local":
            continue
        address = rule.address or ""
        if address == "all" or (
            "/" in address and _too_wide(ipaddress.ip_network(address))
        ):
            findings.append(("network_wide_clients", "pg_hba_rules",
                             f"rule {position}: address {address} is {wide}"))
        if rule.method in INSECURE_NETWORK_METHODS:
            findings.append(("insecure_network_auth", "pg_hba_rules",
                             f"rule {position}: method {rule.method!r} over the network; expected "
                             "'scram-sha-256' (or cert, ldap, ...)"))
    if settings.pg_hba_auth_method != "scram-sha-256":
        findings.append(("insecure_network_auth", "pg_hba_auth_method",
                         f"{settings.pg_hba_auth_method!r} for the derived rules; expected 'scram-sha-256'"))
    encryption = settings.pg_settings.get("password_encryption")
    if encryption is not None and str(encryption).lower() != "scram-sha-256":
        findings.append(("weak_password_encryption", "pg_settings",
                         f"password_encryption = {encryption!r}; expected 'scram-sha-256'"))
    return findings


def check_policy(settings: Settings) -> None:
    """staging and prod refuse what policy_findings finds unless policy_exceptions names it
    (then it is printed on every run); dev warns."""
    allowed = set(settings.policy_exceptions)
    for name, key, what in policy_findings(settings):
        where = f"{settings.source(key)}: {key}: {what}"
        if settings.environment == "dev":
            settings.warnings.append(f"policy warning (dev): {where}")
        elif name in allowed:
            settings.warnings.append(
                f"policy exception {name!r} in effect ({settings.source('policy_exceptions')}): {where}"
            )
        else:
            raise ConfigError(
                f"{where} ({POLICY_EXCEPTIONS[name]} is refused in {settings.environment}; to accept it, "
                f"policy_exceptions = [{name!r}] names the exception, printed on every run)"
            )


def environment_names(environment: str) -> dict[str, set[str]]:
    """The database names, owner roles and password variables group_data/<environment>.py
    uses (its own ``databases``, else all.py's)."""
    data_dir = project_dir() / "group_data"
    path = data_dir / f"{environment}.py"
    if not path.exists():
        return {"database": set(), "role": set(), "password variable": set()}
    databases = read_data_file(path).get("databases")
    if databases is None:
        databases = read_data_file(data_dir / "all.py").get("databases") or {}
    names: dict[str, set[str]] = {"database": set(), "role": set(), "password variable": set()}
    if not isinstance(databases, Mapping):
        return names
    for name, spec in databases.items():
        names["database"].add(name)
        if isinstance(spec, Mapping):
            owner = spec.get("owner")
            names["role"].add(owner)
            if isinstance(owner, str):
                names["password variable"].add(spec.get("password_env") or f"{owner.upper()}_DB_PASSWORD")
    return names


def check_environment_names(settings: Settings) -> None:
    """staging and prod may share a PostgreSQL: neither may name a database, role or password
    variable the other's data file uses (it would reset the other's passwords, or a restore
    with swap would replace the other's database)."""
    if settings.environment == "dev":
        return
    mine = {
        "database": set(settings.databases),
        "role": {spec["owner"] for spec in settings.databases.values()},
        "password variable": {spec["password_env"] for spec in settings.databases.values()},
    }
    for other in ENVIRONMENTS:
        if other in ("dev", settings.environment):
            continue
        theirs = environment_names(other)
        for kind, names in mine.items():
            shared = sorted(names & theirs[kind])
            if shared:
                raise ConfigError(
                    f"{settings.source('databases')}: databases: {kind} {', '.join(map(repr, shared))} "
                    f"is also used by group_data/{other}.py; each environment owns its names "
                    f"(staging and prod may share a host), expected names of {settings.environment}'s own"
                )


def check_paths(settings: Settings) -> None:
    """The root-only directories (backups, deploy state) never lie inside a directory another
    user owns (app_dir: app_user; data_dir: the deploy user), nor the other way round."""
    private = ("backup_dir", "deploy_state_dir")
    for key in private:
        for owned in ("app_dir", "data_dir"):
            mine, theirs = getattr(settings, key), getattr(settings, owned)
            if is_within(mine, theirs) or is_within(theirs, mine):
                raise ConfigError(
                    f"{settings.source(key)}: {key}: {mine!r} overlaps {owned} {theirs!r}; expected "
                    f"separate directories ({key} is root's only, {owned} belongs to another user)"
                )


def check_consistency(settings: Settings) -> None:
    """Rules that span several keys."""
    check_paths(settings)
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
    if settings.restore_target_time is not None:
        if not settings.pgbackrest_enabled:
            raise ConfigError(
                f"{settings.source('restore_target_time')}: restore_target_time: a point-in-time "
                "restore needs pgbackrest_enabled = True (the WAL archive and base backups it restores from)"
            )
        if settings.restore_database is not None or settings.restore_file is not None:
            raise ConfigError(
                f"{settings.source('restore_target_time')}: restore_target_time: a point-in-time "
                "restore brings back the whole cluster; do not set restore_database/restore_file with it "
                "(those restore one database from a pg_dump file)"
            )
        if settings.restore_drop_old:
            raise ConfigError(
                f"{settings.source('restore_drop_old')}: restore_drop_old: not for a point-in-time "
                "restore (the previous data directory is kept, renamed; remove it by hand when sure)"
            )
    if settings.restore_drop_old and not settings.restore_swap:
        raise ConfigError(
            f"{settings.source('restore_drop_old')}: restore_drop_old: only with restore_swap = True "
            "(the old database is dropped only after the restored one replaced it)"
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
    for service, spec in settings.compose_services.items():
        for variable, reference in spec["database_env"].items():
            if reference["database"] not in settings.databases:
                raise ConfigError(
                    f"{settings.source('compose_services')}: compose_services: service {service!r}: "
                    f"database_env: {variable!r}: {reference['database']!r} is not a managed database; "
                    f"expected one of {', '.join(settings.databases)}"
                )
    clash = sorted(set(settings.app_secrets) & set(settings.app_env))
    if clash:
        raise ConfigError(
            f"{settings.source('app_secrets')}: app_secrets: {', '.join(clash)} also in app_env "
            "(a secret is never written as plain configuration)"
        )


def host_layers(
    environment: str, host_name: str, host_data: dict, cli_layers: list[Layer] | None = None
) -> list[Layer]:
    """Every layer for one host, lowest precedence first; ``cli_layers`` (pyinfra's
    ``--data``, read by deploylib.inventory) win over everything."""
    return [
        *environment_layers(environment),
        Layer(f"inventory/{environment}.py (host {host_name})", dict(host_data)),
        *override_layers(),
        *(cli_layers or ()),
    ]


def connection_data(layers: list[Layer]) -> dict:
    """pyinfra's own keys (ssh_*, _sudo, ...) merged across layers, for host data."""
    data: dict[str, Any] = {}
    for layer in layers:
        data.update({k: v for k, v in layer.values.items() if k.startswith(PASSTHROUGH_PREFIXES)})
    return data
