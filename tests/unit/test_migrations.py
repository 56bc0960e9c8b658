"""Migrations are planned only for the old state a host still has (deploylib/model/migrations.py)."""

from deploylib.model import backups, migrations


def test_old_paths_are_asked_and_only_present_ones_are_due():
    assert set(backups.LEGACY_FILES) <= set(migrations.old_paths())
    assert migrations.due({}) == []
    script, cron = backups.LEGACY_FILES
    due = migrations.due({cron: object(), "/etc/unrelated": object()})
    assert [path for _, path in due] == [cron]
    assert due[0][0].why == "now one per environment"
    assert [path for _, path in migrations.due({script, cron})] == [script, cron]


def test_old_paths_are_not_the_current_ones():
    for environment in ("dev", "staging", "prod"):
        assert backups.script_path(environment) not in migrations.old_paths()
        assert backups.cron_path(environment) not in migrations.old_paths()
