"""Facts about the application on a host: its git checkout, the Docker engine, the record
of the last successful compose deploy."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from pyinfra.api import FactBase

from ..model import shell

# Runs as root; every git command in the checkout runs as its owner (app_user): the tree is
# theirs (and containers may write to it), so its .git/config (core.fsmonitor, hooks,
# core.sshCommand...) must never run anything as root. Without that user (first run) git
# does not run in the tree at all; ls-remote runs from / then.
CHECKOUT_SCRIPT = r"""
dir=$1 url=$2 key=$3 user=$4 ssh_command=$5
if id -u "$user" >/dev/null 2>&1 && [ "$user" != root ]; then
    as_owner() { HOME=$(getent passwd "$user" | cut -d: -f6) runuser -u "$user" -- "$@"; }
else
    as_owner() { return 1; }
fi
git_() { as_owner git -c core.fsmonitor=false -c core.hooksPath=/dev/null -C "$dir" "$@"; }
if [ -d "$dir/.git" ]; then
    echo "exists	git"
    head=$(git_ rev-parse -q --verify 'HEAD^{commit}' 2>/dev/null) && echo "head	$head"
    origin=$(git_ remote get-url origin 2>/dev/null) && echo "origin	$origin"
    echo "tracked_changes	$(git_ status --porcelain --untracked-files=no 2>/dev/null | wc -l)"
elif [ -d "$dir" ]; then
    echo "exists	dir"
fi
[ -n "$url" ] || exit 0
if [ -n "$key" ] && [ -f "$key" ]; then
    export GIT_SSH_COMMAND="$ssh_command"
fi
export GIT_TERMINAL_PROMPT=0
cd /
if id -u "$user" >/dev/null 2>&1 && [ "$user" != root ]; then
    out=$(as_owner timeout 60 git ls-remote -- "$url" 2>&1)
else
    out=$(timeout 60 git ls-remote -- "$url" 2>&1)
fi && printf '%s\n' "$out" | sed 's/^/ls	/' \
    || printf 'ls_failed	%s\n' "$(printf '%s' "$out" | tail -n1)"
exit 0
"""


@dataclass
class Checkout:
    exists: str | None = None  # "git", "dir" (not a git checkout) or None
    head: str | None = None
    origin: str | None = None
    tracked_changes: int = 0
    remote_refs: list[str] = field(default_factory=list)  # `git ls-remote` lines
    ls_remote_error: str | None = None


class GitCheckout(FactBase):
    """
    Returns a ``Checkout`` of ``path``: whether it is a git checkout, the commit
    checked out, its ``origin`` URL, how many tracked files are modified, and
    the refs ``url`` offers (``git ls-remote``, with the deploy key at
    ``key_path`` on the host when it exists), so the operation knows at plan
    time which commit a branch or tag names. git runs as ``user``, the
    checkout's owner, with no fsmonitor and no hooks; never as root in the tree.
    """

    @staticmethod
    def default() -> Checkout:
        return Checkout()

    def command(self, path: str, url: str | None = None, key_path: str | None = None,
                user: str = "root") -> str:
        return shell.bash_c(CHECKOUT_SCRIPT, path, url or "", key_path or "", user,
                            shell.git_ssh_command(key_path) if key_path else "")

    def process(self, output: list[str]) -> Checkout:
        checkout = Checkout()
        for line in output:
            tag, _, rest = line.partition("\t")
            if tag == "exists":
                checkout.exists = rest
            elif tag == "head":
                checkout.head = rest.strip()
            elif tag == "origin":
                checkout.origin = rest.strip()
            elif tag == "tracked_changes":
                checkout.tracked_changes = int(rest or 0)
            elif tag == "ls":
                checkout.remote_refs.append(rest)
            elif tag == "ls_failed":
                checkout.ls_remote_error = rest
        return checkout


DOCKER_SCRIPT = r"""
export LC_ALL=C
command -v docker >/dev/null 2>&1 && echo "docker	$(command -v docker)"
command -v dockerd >/dev/null 2>&1 && echo "dockerd	$(command -v dockerd)"
v=$(docker compose version --short 2>/dev/null) && echo "compose_plugin	$v"
v=$(docker-compose version --short 2>/dev/null) && echo "compose_binary	$v"
v=$(timeout 10 docker info --format '{{.ServerVersion}}' 2>/dev/null) && [ -n "$v" ] && echo "server	$v"
if command -v apt-cache >/dev/null 2>&1; then
    for package in "$@"; do
        candidate=$(apt-cache policy "$package" 2>/dev/null | awk '/Candidate:/ {print $2}')
        [ -n "$candidate" ] && [ "$candidate" != "(none)" ] && echo "candidate	$package	$candidate"
    done
fi
exit 0
"""


@dataclass
class Docker:
    docker: str | None = None
    dockerd: str | None = None
    compose_plugin: str | None = None  # `docker compose version --short`
    compose_binary: str | None = None  # `docker-compose version --short`
    server: str | None = None  # engine version when the daemon answers
    candidates: dict[str, str] = field(default_factory=dict)  # package -> candidate version


class DockerEngine(FactBase):
    """
    Returns a ``Docker``: the docker CLI and daemon binaries, compose as a CLI
    plugin (``docker compose``) and/or standalone (``docker-compose``) with
    their versions, the engine version when the daemon answers, and the apt
    candidate version of each of ``packages``.
    """

    @staticmethod
    def default() -> Docker:
        return Docker()

    def command(self, packages=()) -> str:
        return "bash -c {} _ {}".format(
            shlex.quote(DOCKER_SCRIPT), " ".join(shlex.quote(p) for p in packages)
        )

    def process(self, output: list[str]) -> Docker:
        docker = Docker()
        for line in output:
            tag, _, rest = line.partition("\t")
            if tag in ("docker", "dockerd", "compose_plugin", "compose_binary", "server"):
                setattr(docker, tag, rest.strip().lstrip("v"))
            elif tag == "candidate":
                package, _, version = rest.partition("\t")
                docker.candidates[package] = version
        return docker


class TextFile(FactBase):
    """Returns the text of ``path`` (None when it does not exist). Not for secrets."""

    def command(self, path: str) -> str:
        return f"if [ -f {shlex.quote(path)} ]; then echo yes; cat {shlex.quote(path)}; else echo no; fi"

    def process(self, output: list[str]) -> str | None:
        if not output or output[0] != "yes":
            return None
        return "\n".join(output[1:]) + ("\n" if len(output) > 1 else "")


# Per container of the project: its service, the image ID it runs, and the ID its image
# reference names now (empty when the image is gone): a re-tag or a pull shows as a new ID.
# docker CLI calls: one `ps`, one `inspect`, one `image inspect` per container.
COMPOSE_CONTAINERS_SCRIPT = r"""
ids=$(docker ps -aq --filter "label=com.docker.compose.project=$1" 2>/dev/null) || exit 0
[ -n "$ids" ] || exit 0
docker inspect -f '{{index .Config.Labels "com.docker.compose.service"}}	{{.Config.Image}}	{{.Image}}' \
    $ids 2>/dev/null | while IFS='	' read -r service reference started; do
    current=$(docker image inspect -f '{{.Id}}' -- "$reference" 2>/dev/null)
    printf 'container\t%s\t%s\t%s\n' "$service" "$started" "$current"
done
exit 0
"""


@dataclass
class ComposeProject:
    # (service, image ID the container runs, image ID its reference names now or "")
    containers: list[tuple[str, str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.containers)


class ComposeContainers(FactBase):
    """
    Returns a ``ComposeProject``: every container (any state) of compose project
    ``project``, with the image ID it runs and the ID its image reference names
    now (nothing without docker).
    """

    @staticmethod
    def default() -> ComposeProject:
        return ComposeProject()

    def command(self, project: str) -> str:
        return shell.bash_c(COMPOSE_CONTAINERS_SCRIPT, project)

    def process(self, output: list[str]) -> ComposeProject:
        project = ComposeProject()
        for line in output:
            tag, *fields = line.split("\t")
            if tag == "container" and len(fields) == 3:
                project.containers.append((fields[0], fields[1], fields[2]))
        return project
