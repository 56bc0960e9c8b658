"""One-time host bootstrap, the host side: the Docker packages for this host's distribution, the
operator's public key read on the controller (host code: asks the host's distribution through
deploylib.facts; may import the model; the pure part is model/bootstrap.py)."""

from __future__ import annotations

import re
from pathlib import Path

from pyinfra.api.exceptions import DeployError

from .model.bootstrap import docker_packages
from .model.config import project_dir

PUBLIC_KEY_RE = re.compile(
    r"^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp(256|384|521)|sk-[a-z0-9@.-]+) [A-Za-z0-9+/=]+( .*)?$"
)


class BootstrapError(DeployError):
    """Bootstrap cannot go on: the message says what and what to do."""


def host_docker_packages(host, settings) -> list[str]:
    """docker_packages resolved for this host's distribution."""
    from pyinfra.facts.server import LinuxDistribution

    from .facts import cached_fact

    return docker_packages(settings.docker_packages, cached_fact(host, LinuxDistribution).get("name"))


def read_public_key(path_setting: str, host_name: str, source: str) -> str:
    """The operator's public key from a file on the controller (one key line)."""
    path = Path(path_setting).expanduser()
    if not path.is_absolute():
        path = project_dir() / path
    try:
        lines = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    except OSError as error:
        raise BootstrapError(
            f"{host_name}: deploy_user_public_key_file {path}: {error.strerror}; nothing was changed. "
            f"Next: point deploy_user_public_key_file ({source}) at your SSH public key (*.pub)"
        )
    if len(lines) != 1 or not PUBLIC_KEY_RE.match(lines[0]):
        raise BootstrapError(
            f"{host_name}: deploy_user_public_key_file {path}: expected one SSH public key line "
            "('ssh-ed25519 AAAA... comment'), is it the private key? Nothing was changed."
        )
    return lines[0]
