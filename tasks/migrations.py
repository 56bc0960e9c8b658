"""Migrations (deploylib/model/migrations.py): what older deploys left on this host and this
one replaces. Planned only where the host still has it (the managed paths fact says so):
elsewhere nothing of this task is in the plan. After every other task, so what replaces the
old state is in place first."""

from pyinfra import host

from deploylib import managed_paths
from deploylib.model import migrations
from deploylib.operations import paths

present = managed_paths.state(host, host.data.settings)

for migration, old_path in migrations.due(present):
    paths.absent(
        name=f"Migration: remove {old_path} ({migration.why})",
        path=old_path,
    )
