"""Every file and directory the deploy manages on a host, described by one fact call."""

from __future__ import annotations

from . import backups
from .facts import cached_fact
from .facts.paths import PathsState


def managed(settings) -> list[str]:
    return sorted(
        {
            settings.deploy_state_dir,
            settings.backup_dir,
            backups.SCRIPT_PATH,
            backups.CRON_FILE,
        }
    )


def state(host, settings) -> dict:
    """{path: PathState} for every managed path (absent ones missing), asked once per host."""
    return cached_fact(host, PathsState, paths=managed(settings))
