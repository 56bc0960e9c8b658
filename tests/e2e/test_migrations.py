"""Issue 16: migrations run only where a host still has what an older deploy left; a host
without it has no migration in its plan (not even one that would do nothing)."""

import pytest

from .harness import converge, run_deploy, ssh

pytestmark = pytest.mark.e2e

OLD_FILES = ("/usr/local/sbin/hatchet-owlclaw-backup", "/etc/cron.d/hatchet-owlclaw-backup")


def planned_names(host) -> list[str]:
    """The operations of a --dry run's plan (pyinfra's --json), by name."""
    planned = run_deploy(host, extra_args=("--dry",))
    assert planned.ok and planned.payload, planned.describe()
    return [op["name"].split(" | ", 1)[-1] for op in planned.payload["plan"]]


def test_old_backup_files_migrated_and_a_fresh_host_plans_no_migration(fresh_trixie):
    host = fresh_trixie
    fresh_plan = planned_names(host)
    assert "Base packages" in fresh_plan  # the plan is read
    assert not [name for name in fresh_plan if "Migration" in name or "now one per environment" in name]

    for path in OLD_FILES:
        ssh(host, f"echo '# written by an older deploy' > {path}")
    assert [name for name in planned_names(host) if name.startswith("Migration")] == [
        f"Migration: remove {path} (now one per environment)" for path in OLD_FILES
    ]
    migrated = converge(host)
    assert [name for name in migrated.changed if name.startswith("Migration")] == [
        f"Migration: remove {path} (now one per environment)" for path in OLD_FILES
    ]
    for path in OLD_FILES:
        assert ssh(host, f"test -e {path}", check=False).returncode == 1, path
    # What replaced them is in place; once migrated, the plan has no migration left.
    assert ssh(host, "test -x /usr/local/sbin/hatchet-owlclaw-backup-dev && echo ok").stdout == "ok\n"
    assert ssh(host, "test -f /etc/cron.d/hatchet-owlclaw-backup-dev && echo ok").stdout == "ok\n"
    assert not [name for name in planned_names(host) if name.startswith("Migration")]
