"""One-time host bootstrap, what it installs: the Docker packages of a distribution, the deploy
user's sudo rule (pure: may import only the model)."""

from __future__ import annotations

SUDOERS_FILE = "/etc/sudoers.d/hatchet-owlclaw-deploy"  # no dot or ~: sudo skips such names


def docker_packages(configured: list[str] | None, distribution_name: str | None) -> list[str]:
    """Docker Engine + Compose from the distribution, unless docker_packages lists them."""
    if configured is not None:
        return list(configured)
    if (distribution_name or "").lower() == "ubuntu":
        return ["docker.io", "docker-compose-v2"]
    return ["docker.io", "docker-compose"]  # Debian: Compose v2 from trixie on


def sudoers_rule(user: str) -> str:
    return (
        "# Managed by the hatchet-owlclaw deploy (bootstrap.py): the deploy user runs\n"
        "# deploy.py with pyinfra's _sudo, without a password.\n"
        f"{user} ALL=(ALL:ALL) NOPASSWD: ALL\n"
    )
