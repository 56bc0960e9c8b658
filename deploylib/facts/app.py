"""Facts about the application on a host: its git checkout, the Docker engine, the record
of the last successful compose deploy (host code: pyinfra facts; may import the model)."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from pyinfra.api import FactBase

from ..model import shell
from ..model.tagged import tagged


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
        return shell.script("git_checkout", path, url or "", key_path or "", user,
                            shell.git_ssh_command(key_path) if key_path else "")

    def process(self, output: list[str]) -> Checkout:
        checkout = Checkout()
        for tag, rest in tagged(output):
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
        return shell.script("docker_engine", *packages)

    def process(self, output: list[str]) -> Docker:
        docker = Docker()
        for item in tagged(output):
            tag, rest = item
            if tag in ("docker", "dockerd", "compose_plugin", "compose_binary", "server"):
                setattr(docker, tag, rest.strip().lstrip("v"))
            elif tag == "candidate":
                package, version = item.fields(2)
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
        return shell.script("compose_containers", project)

    def process(self, output: list[str]) -> ComposeProject:
        project = ComposeProject()
        for item in tagged(output):
            fields = item.fields()
            if item.tag == "container" and len(fields) == 3:
                project.containers.append((fields[0], fields[1], fields[2]))
        return project
