"""What the application deploy runs and writes, derived from Settings (pure: no host, no I/O
except reading this repository's templates).

- the compose command line (project, env file, base files + overlay),
- the per-environment overlay, built as data (remapped host ports bound to one address,
  disabled services and the dependencies on them, the database variables interpolated from
  the .env, advertised addresses, a pinned network subnet, host.docker.internal on Linux),
- the .env file (every part of every managed database on the managed cluster's port, the
  app_secrets),
- the check of the effective configuration (`docker compose config`) before `up`,
- the hash of everything that makes a deploy, recorded on the host after a successful `up`,
- resolving a git ref against `git ls-remote` output, hashing a local tree for rsync mode.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import os
import re
import shlex
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

import jinja2
import yaml

from .config import PUBLISHED_RE

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
ENV_TEMPLATE = "app.env.j2"

# Where the deploy keeps, per compose project, the rendered overlay and the record of the
# last successful `up` (under deploy_state_dir; never inside the app directory).
STATE_SUBDIR = "app"

COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")


@functools.cache  # one per run: templates compiled once, not once per host (as backups.py)
def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["envquote"] = env_quote
    return env


# --------------------------------------------------------------------------- paths


def app_enabled(settings) -> bool:
    """Is there an application to deploy on this host (app_repo, or app_local_dir for dev)?"""
    return bool(settings.app_repo or settings.app_local_dir)


def state_dir(settings) -> str:
    return f"{settings.deploy_state_dir}/{STATE_SUBDIR}/{settings.compose_project}"


def overlay_path(settings) -> str:
    return f"{state_dir(settings)}/compose.overlay.yml"


def record_path(settings) -> str:
    return f"{state_dir(settings)}/deployed"


def env_path(settings) -> str:
    return f"{settings.app_dir}/.env"


def compose_files(settings) -> list[str]:
    """Absolute paths of every compose file, in order: the repository's base files, then our overlay."""
    return [f"{settings.app_dir}/{name}" for name in settings.compose_files] + [overlay_path(settings)]


# --------------------------------------------------------------------------- command line


def compose_command(
    prefix: list[str], project: str, env_file: str, files: list[str], *args: str
) -> list[str]:
    """`<prefix> -p <project> --env-file <env> -f <file>... <args>` as argv.

    `prefix` is ["docker", "compose"] (the v2 plugin) or ["docker-compose"] (the v2 binary).
    """
    if not files:
        raise ValueError("at least one compose file is needed")
    argv = [*prefix, "-p", project, "--env-file", env_file]
    for name in files:
        argv += ["-f", name]
    return argv + list(args)


def up_args(pull: str = "policy") -> list[str]:
    """`pull` (compose_pull): compose's --pull (missing, always, never); "policy": no flag, each
    service's own pull_policy (compose's default; some compose versions refuse `--pull policy`)."""
    return ["up", "-d", "--remove-orphans", *([] if pull == "policy" else ["--pull", pull])]


def shell(argv: list[str]) -> str:
    return " ".join(shlex.quote(a) for a in argv)


# --------------------------------------------------------------------------- overlay

HOST_GATEWAY = "host.docker.internal"


class Override:
    """A value compose puts in place of the base files' (`!override`, compose >= 2.24)."""

    def __init__(self, value):
        self.value = value


class Reset:
    """A key compose removes from the base files' value (`!reset`, compose >= 2.24)."""

    def __init__(self, value=None):
        self.value = value


class OverlayDumper(yaml.SafeDumper):
    """PyYAML's safe dumper plus compose's merge tags."""


def _represent_tagged(tag: str):
    def represent(dumper, data):
        if isinstance(data.value, dict):
            return dumper.represent_mapping(tag, data.value)
        if isinstance(data.value, (list, tuple)):
            return dumper.represent_sequence(tag, list(data.value))
        return dumper.represent_scalar(tag, "null" if data.value is None else str(data.value))

    return represent


OverlayDumper.add_representer(Override, _represent_tagged("!override"))
OverlayDumper.add_representer(Reset, _represent_tagged("!reset"))


def env_variable(database: str, part: str = "url") -> str:
    """The .env variable holding `part` of `database`: ('hatchet_staging', 'url') ->
    'HATCHET_STAGING_DATABASE_URL'."""
    return f"{database.upper()}_DATABASE_{part.upper()}"


def published_port(ports: list[str], container: str) -> str:
    """The host port of the mapping publishing `container` ('127.0.0.1:17078:7078' -> '17078')."""
    for mapping in ports:
        parts = mapping.split("/")[0].rsplit(":", 2)
        if parts[-1] == container:
            return parts[-2]
    raise ValueError(f"container port {container} is not published")


def literal(value: str) -> str:
    """A value compose must not interpolate: `$` doubled."""
    return value.replace("$", "$$")


def overlay_data(settings) -> dict:
    """The overlay compose file of this environment, as data (see group_data/all.py,
    compose_services): published ports, disabled services and the dependencies on them,
    the database variables taken from the .env, advertised addresses, the network."""
    specs = settings.compose_services
    disabled = [name for name, spec in specs.items() if spec["disabled"]]
    services = {}
    for name, spec in specs.items():
        service = {}
        if spec["disabled"]:
            # Only started if the "disabled" profile is asked for, whatever profiles it had.
            service["profiles"] = Override(["disabled"])
        if spec["host_gateway"]:
            service["extra_hosts"] = [f"{HOST_GATEWAY}:host-gateway"]
        if spec["ports"] is not None:
            service["ports"] = Override([bind_port(settings.compose_bind_address, p) for p in spec["ports"]])
        if not spec["disabled"]:
            environment = {
                variable: "${%s:?the deploy's .env sets it}" % env_variable(ref["database"], ref["part"])
                for variable, ref in spec["database_env"].items()
            }
            for variable, text in spec["environment"].items():
                text = PUBLISHED_RE.sub(lambda m: published_port(spec["ports"], m.group(1)), text)
                environment[variable] = literal(text)
            if environment:
                service["environment"] = environment
            if disabled:
                # compose refuses a dependency on a disabled service: drop exactly those.
                service["depends_on"] = {other: Reset() for other in disabled}
        services[name] = service
    data = {}
    if services:
        data["services"] = services
    if settings.compose_subnet:
        data["networks"] = {"default": {"ipam": {"config": [{"subnet": settings.compose_subnet}]}}}
    return data


def render_overlay(settings) -> str:
    """The overlay compose file of this environment (YAML text)."""
    header = (
        f"# Written by the deploy for environment {settings.environment}, compose project "
        f"{settings.compose_project}.\n# Do not edit: the next deploy overwrites it.\n"
    )
    body = yaml.dump(
        overlay_data(settings), Dumper=OverlayDumper, sort_keys=False, default_flow_style=False, width=4096
    )
    return header + body


def bind_port(address: str, port: str) -> str:
    """'3003:3001' -> '127.0.0.1:3003:3001' (a mapping that names its address is kept)."""
    parts = port.split(":")
    if len(parts) == 2:
        host_part = f"[{address}]" if ":" in address else address
        return f"{host_part}:{port}"
    return port


# --------------------------------------------------------------------------- .env


def database_values(settings, port: int, host: str = HOST_GATEWAY) -> dict[str, dict[str, str]]:
    """Per managed database: every part the overlay may take from the .env. Holds secrets."""
    values = {}
    for name, spec in settings.databases.items():
        password = settings.db_password(name).reveal()
        values[name] = {
            "user": spec["owner"],
            "password": password,
            "host": host,
            "port": str(port),
            "name": name,
            "url": database_url(spec["owner"], password, host, port, name),
        }
    return values


def render_env(settings, port: int) -> str:
    """The application's .env: every part of every managed database on the cluster
    listening on `port` (the managed cluster's real port), the app_secrets, app_env.
    Contains secrets: never print or log the result."""
    variables = {
        env_variable(name, part): value
        for name, parts in database_values(settings, port).items()
        for part, value in parts.items()
    }
    return _env().get_template(ENV_TEMPLATE).render(
        environment=settings.environment,
        project=settings.compose_project,
        db_host=HOST_GATEWAY,
        db_port=port,
        databases=variables,
        secrets={name: secret.reveal() for name, secret in settings.app_secret_values.items()},
        extra=settings.app_env,
    )


def database_url(user: str, password: str, host: str, port: int, database: str) -> str:
    from urllib.parse import quote

    return f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}@{host}:{port}/{database}"


def env_quote(value) -> str:
    """A .env value compose reads back literally: single quotes (no interpolation), or double
    quotes with escapes when the value itself has a single quote or a backslash (compose reads
    a backslash before the closing single quote as escaping it)."""
    value = str(value)
    if "\n" in value or "\0" in value:
        raise ValueError("a .env value cannot contain a newline")
    if "'" not in value and "\\" not in value:
        return f"'{value}'"
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "$$")
    return f'"{escaped}"'


# --------------------------------------------------------------------------- check before `up`

PG_URL_RE = re.compile(r"^postgres(?:ql)?(?:\+[A-Za-z0-9_]+)?://", re.IGNORECASE)


@dataclass
class Expected:
    """What every database variable of the effective configuration must say. Holds the
    passwords as Secrets (a FunctionCommand's repr shows its arguments)."""

    host: str
    port: int
    owners: dict  # database -> owner role
    passwords: dict  # database -> Secret
    database_env: dict  # service -> {VAR: {"database", "part"}}
    app_secrets: tuple = ()  # Secrets: only hidden from messages

    def secret_texts(self) -> list[str]:
        """The passwords (as text and URL-encoded) and the app secrets, for redact(). A
        password equal to its role's name (dev's upstream default) hides nothing: left out."""
        from urllib.parse import quote

        texts = [secret.reveal() for name, secret in self.passwords.items()
                 if secret.reveal() != self.owners[name]]
        texts += [secret.reveal() for secret in self.app_secrets]
        # As printed by compose (Go's quoting, `$$` in its config) and by repr() in a message.
        return list(dict.fromkeys(
            t for text in texts
            for t in (text, quote(text, safe=""), json.dumps(text)[1:-1], text.replace("$", "$$"),
                      repr(text)[1:-1])
        ))


def expected_config(settings, port: int) -> Expected:
    return Expected(
        host=HOST_GATEWAY,
        port=port,
        owners={name: spec["owner"] for name, spec in settings.databases.items()},
        passwords={name: settings.db_password(name) for name in settings.databases},
        database_env={
            name: spec["database_env"]
            for name, spec in settings.compose_services.items()
            if not spec["disabled"]
        },
        app_secrets=tuple(settings.app_secret_values.values()),
    )


def config_args() -> list[str]:
    """`docker compose ... config`: the effective configuration, interpolated, no image pulled."""
    return ["config", "--format", "json"]


def _url_problems(url: str, expected: Expected, database: str | None) -> list[str]:
    """What is wrong with a PostgreSQL URL (never quoting its password)."""
    from urllib.parse import unquote, urlsplit

    if _password_breaks_url(url):
        return ["its password is not percent-encoded (a '/', '?' or '#' in it ends the URL's host "
                "part): use the .env's URL variable (compose_services' database_env)"]
    try:
        parts = urlsplit(url)
        port = parts.port or 5432
    except ValueError:
        return ["not a URL the deploy can read"]
    problems = []
    if parts.hostname != expected.host:
        problems.append(f"host {parts.hostname!r}, expected {expected.host!r}")
    if port != expected.port:
        problems.append(f"port {port}, expected {expected.port} (the managed cluster's)")
    name = parts.path.lstrip("/")
    if database is not None and name != database:
        problems.append(f"database {name!r}, expected {database!r}")
    if name not in expected.owners:
        problems.append(f"database {name!r} is not a managed database ({', '.join(expected.owners)})")
        return problems
    user = unquote(parts.username or "")
    if user != expected.owners[name]:
        problems.append(f"user {user!r}, expected {expected.owners[name]!r} (owner of {name})")
    password = unquote(parts.password or "")
    if not hmac.compare_digest(password.encode(), expected.passwords[name].reveal().encode()):
        problems.append(f"password is not the managed secret of {name}")
    return problems


def _password_breaks_url(url: str) -> bool:
    """A URL whose user info goes on past its host part (``user:pa/ss@host``): an unencoded
    '/', '?' or '#' in the password ends the authority there, so the "host", "port" and
    "database" a parser reads are pieces of the password: never to be quoted."""
    rest = url.partition("://")[2]
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    return "@" not in authority and "@" in rest[len(authority):]


def _part_problems(value: str, expected: Expected, database: str, part: str) -> list[str]:
    if part == "url":
        return _url_problems(value, expected, database)
    if part == "password":
        if hmac.compare_digest(value.encode(), expected.passwords[database].reveal().encode()):
            return []
        return [f"is not the managed secret of {database}"]
    wanted = {"user": expected.owners[database], "host": expected.host, "port": str(expected.port),
              "name": database}[part]
    return [] if value == wanted else [f"{value!r}, expected {wanted!r} ({part} of {database})"]


def check_effective_config(config: dict, expected: Expected) -> list[str]:
    """Problems of `docker compose config --format json` output (the enabled services only):
    every PostgreSQL URL, and every variable database_env names, must reach a managed
    database on the host's cluster as its owner with its secret; no enabled service may
    depend on a service that is not enabled. Messages never contain a secret."""
    problems = []
    services = config.get("services") or {}
    for service, spec in services.items():
        environment = spec.get("environment") or {}
        mapped = expected.database_env.get(service, {})
        for variable, ref in mapped.items():
            if environment.get(variable) is None:
                problems.append(f"service {service!r}: {variable}: not in the effective configuration")
        for variable, raw in environment.items():
            if raw is None:
                continue
            value = str(raw).replace("$$", "$")  # compose config escapes every `$`
            if variable in mapped:
                found = _part_problems(value, expected, mapped[variable]["database"], mapped[variable]["part"])
            elif PG_URL_RE.match(value):
                found = _url_problems(value, expected, None)
                if found:
                    found.append("not in compose_services' database_env: the overlay does not set it")
            else:
                continue
            if found:
                # Redacted too: a secret may stand where a user or database name goes.
                problems.append(redact(f"service {service!r}: {variable}: " + "; ".join(found),
                                       expected.secret_texts()))
        for dependency in spec.get("depends_on") or {}:
            if dependency not in services:
                problems.append(f"service {service!r}: depends on {dependency!r}, which is not enabled")
    return problems


def redact(text: str, secrets: list[str]) -> str:
    """`text` with every secret in it replaced (compose's own error messages, before printing)."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "<secret>")
    return text


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# --------------------------------------------------------------------------- deploy record


def record_rest(overlay: str, env_sha256: str, command: list[str]) -> str:
    """What a deploy is made of besides its source: the overlay (by hash), the .env (by hash:
    it holds secrets) and the full command line (project, files)."""
    return f"overlay {sha256_text(overlay)}\nenv {env_sha256}\ncommand {shell(command)}\n"


def record_text(source_id: str, rest: str) -> str:
    """The state file written after a successful `up`: the checked-out source (commit, or the
    tree hash in rsync mode) and the rest. Same text -> nothing to deploy."""
    return f"source {source_id}\n{rest}"


IMAGE_LINE = "image "


def same_record(wanted: str, current: str | None) -> bool:
    """The same deploy, the image lines aside (recorded_images compares those)."""
    def lines(text):
        return [line.strip() for line in (text or "").strip().splitlines()
                if not line.startswith(IMAGE_LINE)]

    return lines(wanted) == lines(current)


def recorded_images(record: str | None) -> dict[str, str]:
    """service -> the image ID the last successful `up` started (`image <service> <id>`)."""
    images = {}
    for line in (record or "").splitlines():
        if line.startswith(IMAGE_LINE):
            service, _, image_id = line[len(IMAGE_LINE):].strip().partition(" ")
            images[service] = image_id
    return images


def image_drift(recorded: dict[str, str], containers: list[tuple[str, str, str]]) -> list[str]:
    """The services whose image reference now names another image than the one started:
    `containers` are (service, image ID the container runs, ID its reference names now, ""
    when the image is gone). An image re-tagged or pulled under the same name is a new ID."""
    drifted = set()
    for service, started, current in containers:
        if current and (current != started or current != recorded.get(service, current)):
            drifted.add(service)
    return sorted(drifted)


def images_record_script(project: str) -> str:
    """Prints the `image <service> <id>` lines of the project's containers (after `up`)."""
    label = shlex.quote(f"label=com.docker.compose.project={project}")
    fmt = shlex.quote('image {{index .Config.Labels "com.docker.compose.service"}} {{.Image}}')
    return f"docker inspect -f {fmt} $(docker ps -aq --filter {label}) | sort -u"


# --------------------------------------------------------------------------- git


def resolve_ref(ref: str, ls_remote: list[str]) -> str | None:
    """The commit `ref` (branch, tag or commit) names, from `git ls-remote <url>` lines.

    A full commit id is itself; tags resolve to the commit they point at (peeled `^{}` line
    when annotated); branches to their head. None when the remote has no such ref.
    """
    if COMMIT_RE.match(ref):
        return ref
    refs = {}
    for line in ls_remote:
        sha, _, name = line.strip().partition("\t")
        if COMMIT_RE.match(sha):
            refs[name] = sha
    for name in (f"refs/tags/{ref}^{{}}", f"refs/tags/{ref}", f"refs/heads/{ref}", ref):
        if name in refs:
            return refs[name]
    return None


# --------------------------------------------------------------------------- rsync (dev)


def tree_hash(root: str | Path, excludes: list[str]) -> str:
    """A hash of every file under `root` (paths, modes, contents, symlink targets), skipping
    `excludes` (rsync-style names or patterns, matched against each path component)."""
    root = Path(root)
    digest = hashlib.sha256()
    for directory, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not _excluded(d, excludes))
        for name in sorted(filenames):
            if _excluded(name, excludes):
                continue
            path = Path(directory) / name
            relative = path.relative_to(root).as_posix()
            digest.update(relative.encode() + b"\0")
            if path.is_symlink():
                digest.update(b"l" + os.readlink(path).encode() + b"\0")
                continue
            digest.update(oct(path.stat().st_mode & 0o777).encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return "tree:" + digest.hexdigest()


def _excluded(name: str, excludes: list[str]) -> bool:
    return any(fnmatch(name, pattern.strip("/")) for pattern in excludes)


def rsync_flags(excludes: list[str]) -> list[str]:
    """Mirror the local tree (delete what it no longer has), never touching excluded paths:
    excluded on both sides, so .env and data on the host are neither sent nor deleted."""
    return ["-rlptz", "--delete", *[f"--exclude={pattern}" for pattern in excludes]]


# --------------------------------------------------------------------------- which compose


class ComposeUnavailable(ValueError):
    """Compose v2 (>= 2.24, for `!override`) is neither installed nor installable as configured."""


MIN_COMPOSE = (2, 24)


def _version(text: str | None) -> tuple[int, ...]:
    numbers = re.findall(r"\d+", (text or "").split("-")[0].split("+")[0])
    return tuple(int(n) for n in numbers[:3])


def compose_prefix(docker, packages: list[str]) -> list[str]:
    """How to call compose on a host with the `DockerEngine` fact `docker`, once `packages`
    are installed: the CLI plugin (`docker compose`) when present, else a v2 `docker-compose`
    binary. Raises ComposeUnavailable (with what to do) when only v1 is or will be there."""
    if docker.compose_plugin and _version(docker.compose_plugin) >= MIN_COMPOSE:
        return ["docker", "compose"]
    if docker.compose_binary and _version(docker.compose_binary) >= MIN_COMPOSE:
        return ["docker-compose"]
    found = docker.compose_plugin or docker.compose_binary
    if found:
        raise ComposeUnavailable(
            f"compose {found} is installed; the deploy needs compose v2 >= "
            f"{'.'.join(map(str, MIN_COMPOSE))} (its overlays use `!override`)"
            + _compose_hint()
        )
    # Not installed yet: what the packages to install will bring. Without package lists on
    # the host (never updated) the candidate is unknown: checked after installing.
    for package in ("docker-compose-plugin", "docker-compose-v2", "docker-compose"):
        if package in packages:
            candidate = docker.candidates.get(package)
            if candidate is None or _version(candidate) >= MIN_COMPOSE:
                return ["docker", "compose"]
            raise ComposeUnavailable(
                f"the distribution's {package} is {candidate} (compose v1); the deploy needs "
                f"compose v2 >= {'.'.join(map(str, MIN_COMPOSE))}" + _compose_hint()
            )
    raise ComposeUnavailable("docker_packages installs no compose" + _compose_hint())


def compose_confirmed(docker) -> bool:
    """Does the fact already show a usable compose v2?"""
    return any(
        version and _version(version) >= MIN_COMPOSE
        for version in (docker.compose_plugin, docker.compose_binary)
    )


def compose_check_script() -> str:
    """Run on the host after installing: fail, saying what to do, unless compose v2 is there."""
    wanted = ".".join(map(str, MIN_COMPOSE))
    message = f"compose $found is installed; the deploy needs compose v2 >= {wanted}" + _compose_hint()
    return f"""
found=$(docker compose version --short 2>/dev/null || docker-compose version --short 2>/dev/null || echo none)
found=${{found#v}}
major=${{found%%.*}}; rest=${{found#*.}}; minor=${{rest%%.*}}
minor=${{minor%%[!0-9]*}}
if [ "$found" != none ] && {{ [ "$major" -gt {MIN_COMPOSE[0]} ] ||
        {{ [ "$major" -eq {MIN_COMPOSE[0]} ] && [ "$minor" -ge {MIN_COMPOSE[1]} ]; }}; }}; then
    echo "compose $found"
else
    echo "{message}" >&2
    exit 1
fi
"""


def candidate_check_script(packages: list[str]) -> str:
    """Run on the host after `apt-get update`, before installing: fail, saying what to do,
    when the compose package to be installed is older than compose v2 >= MIN_COMPOSE."""
    wanted = ".".join(map(str, MIN_COMPOSE))
    for package in ("docker-compose-plugin", "docker-compose-v2", "docker-compose"):
        if package in packages:
            message = (
                f"the distribution's {package} is $v (compose v1 or too old); the deploy needs "
                f"compose v2 >= {wanted}" + _compose_hint()
            )
            return f"""
v=$(apt-cache policy {package} | awk '/Candidate:/ {{print $2}}')
n=${{v#*:}}; major=${{n%%.*}}; rest=${{n#*.}}; minor=${{rest%%[!0-9]*}}
if [ -z "$v" ] || [ "$v" = "(none)" ]; then
    echo "{package}: no such package in the host's package sources{_compose_hint()}" >&2; exit 1
fi
if ! {{ [ "$major" -gt {MIN_COMPOSE[0]} ] ||
        {{ [ "$major" -eq {MIN_COMPOSE[0]} ] && [ "${{minor:-0}}" -ge {MIN_COMPOSE[1]} ]; }}; }}; then
    echo "{message}" >&2; exit 1
fi
"""
    return ""


def _compose_hint() -> str:
    return (
        ". Debian 13 packages it (docker.io + docker-compose); on Debian 12 add Docker's apt "
        "repository and set docker_packages = ['docker-ce', 'docker-ce-cli', "
        "'docker-compose-plugin']"
    )


FACT_PACKAGES = ("docker-cli", "docker-compose-plugin", "docker-compose")


def docker_packages(configured: list[str], docker) -> list[str]:
    """The packages to install: `configured`, plus docker-cli where the distribution packages
    the CLI apart from docker.io (Debian 13; only a Recommends there, and we install none)."""
    packages = list(configured)
    if "docker.io" in packages and "docker-cli" in docker.candidates and "docker-cli" not in packages:
        packages.append("docker-cli")
    return packages
