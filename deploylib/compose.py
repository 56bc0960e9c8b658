"""What the application deploy runs and writes, derived from Settings (pure: no host, no I/O
except reading this repository's templates).

- the compose command line (project, env file, base files + overlay),
- the per-environment overlay (remapped host ports bound to one address, disabled services,
  a pinned network subnet, host.docker.internal on Linux),
- the .env file (database URLs with the passwords),
- the hash of everything that makes a deploy, recorded on the host after a successful `up`,
- resolving a git ref against `git ls-remote` output, hashing a local tree for rsync mode.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shlex
from fnmatch import fnmatch
from pathlib import Path

import jinja2

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
OVERLAY_TEMPLATE = "compose.overlay.yml.j2"
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


def up_args() -> list[str]:
    return ["up", "-d", "--remove-orphans"]


def shell(argv: list[str]) -> str:
    return " ".join(shlex.quote(a) for a in argv)


# --------------------------------------------------------------------------- overlay


def render_overlay(settings) -> str:
    """The overlay compose file of this environment (YAML text)."""
    services = []
    for name, spec in settings.compose_services.items():
        ports = None
        if spec.get("ports") is not None:
            ports = [bind_port(settings.compose_bind_address, port) for port in spec["ports"]]
        services.append(
            {
                "name": name,
                "ports": ports,
                "disabled": spec.get("disabled", False),
                "host_gateway": spec.get("host_gateway", True),
            }
        )
    return _env().get_template(OVERLAY_TEMPLATE).render(
        environment=settings.environment,
        project=settings.compose_project,
        subnet=settings.compose_subnet,
        services=services,
    )


def bind_port(address: str, port: str) -> str:
    """'3003:3001' -> '127.0.0.1:3003:3001' (a mapping that names its address is kept)."""
    parts = port.split(":")
    if len(parts) == 2:
        host_part = f"[{address}]" if ":" in address else address
        return f"{host_part}:{port}"
    return port


# --------------------------------------------------------------------------- .env


def render_env(settings, host_gateway: str = "host.docker.internal") -> str:
    """The application's .env. Contains secrets: never print or log the result."""
    databases = {}
    for name, spec in settings.databases.items():
        password = settings.db_password(name).reveal()
        databases[name] = {
            "user": spec["owner"],
            "password": password,
            "url": database_url(spec["owner"], password, host_gateway, 5432, name),
        }
    # Hatchet's own database: "hatchet", or the first whose name starts so ("hatchet_staging").
    hatchet = next((databases[name] for name in databases if name.startswith("hatchet")), None)
    return _env().get_template(ENV_TEMPLATE).render(
        environment=settings.environment,
        project=settings.compose_project,
        databases=databases,
        hatchet=hatchet,
        extra=settings.app_env,
        db_host=host_gateway,
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


def same_record(wanted: str, current: str | None) -> bool:
    def lines(text):
        return [line.strip() for line in (text or "").strip().splitlines()]

    return lines(wanted) == lines(current)


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
