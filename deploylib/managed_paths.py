"""What the deploy manages on a host (files, directories, packages), each asked with one fact call."""

from __future__ import annotations

from . import backups, compose
from .facts import cached_fact
from .facts.paths import PathsState


def managed(settings) -> list[str]:
    return sorted(
        {
            settings.deploy_state_dir,
            settings.backup_dir,
            backups.script_path(settings.environment),
            backups.cron_path(settings.environment),
            *backups.LEGACY_FILES,
        }
    )


def installed_packages(host, settings) -> dict:
    """{package: version} of every package the deploy may install, asked once per host."""
    from .bootstrap import host_docker_packages
    from .facts.host import DebInstalled

    names = {*settings.base_packages, "ufw", "nftables"}
    if settings.app_repo or settings.app_local_dir:
        # docker-cli may be added on the host's side (compose.docker_packages): ask for it too.
        names |= {*host_docker_packages(host, settings), *compose.FACT_PACKAGES}
    return cached_fact(host, DebInstalled, packages=sorted(names))


def state(host, settings) -> dict:
    """{path: PathState} for every managed path (absent ones missing), asked once per host."""
    return cached_fact(host, PathsState, paths=managed(settings))
