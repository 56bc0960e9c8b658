"""Migrations: state older deploys left on a host that this one replaces (pure: data only).

Each migration names the old paths that say it is needed; those paths are asked with the
run's other facts (``managed_paths``), and ``tasks/migrations.py`` plans an operation only
for the old paths a host still has: a host without old state has no migration in its plan.
A new migration is one entry here (and, when it is not a removal, its operation in the task).
"""

from __future__ import annotations

from dataclasses import dataclass

from . import backups


@dataclass(frozen=True)
class Migration:
    why: str  # what replaced the old state, said in the operation's name
    old_paths: tuple[str, ...]  # present on the host: the migration is due (the paths are removed)


MIGRATIONS: tuple[Migration, ...] = (
    # The backup script and schedule from before they were per environment (on a shared host,
    # the last run's database list): each environment's own replace them (tasks/backups.py
    # writes those first, so the host always has a schedule).
    Migration("now one per environment", backups.LEGACY_FILES),
)


def old_paths() -> list[str]:
    """Every path a migration looks for (asked with the run's managed paths)."""
    return [path for migration in MIGRATIONS for path in migration.old_paths]


def due(present: set[str] | dict) -> list[tuple[Migration, str]]:
    """(migration, old path) for each old path the host still has, in the migrations' order."""
    return [(migration, path) for migration in MIGRATIONS for path in migration.old_paths if path in present]
