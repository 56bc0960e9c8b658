"""Pure parts of bootstrap, backups, restore and the prod guard."""

import os
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from deploylib import bootstrap, prod_guard, pyinfra_compat
from deploylib.model import backups
from deploylib.model import bootstrap as model_bootstrap
from deploylib.model import prod_guard as guard
from deploylib.model.config import is_cron_schedule

REPO = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------ cron schedule


@pytest.mark.parametrize("schedule", ["17 3 * * *", "*/15 * * * *", "0 2 * * mon-fri", "0 0 1,15 jan-jun 0",
                                      "5 4  * *   7", "0 22 * * 1-5/2"])
def test_cron_schedule_accepts(schedule):
    assert is_cron_schedule(schedule) == " ".join(schedule.split())


@pytest.mark.parametrize("schedule, expected", [
    ("17 3 * *", "got 4 field(s)"),
    ("17 3 * * * /bin/true", "got 6 field(s)"),
    ("@daily", "got 1 field(s)"),
    ("60 3 * * *", "minute '60': expected numbers from 0 to 59"),
    ("0 24 * * *", "hour '24'"),
    ("0 3 0 * *", "day of month '0'"),
    ("0 3 * 13 *", "month '13'"),
    ("0 3 * * 8", "day of week '8'"),
    ("*/0 3 * * *", "bad step"),
    ("0 3 * * funday", "day of week 'funday'"),
    ("0 3 * * *\n* * * * * root rm -rf /", "expected a cron schedule"),
])
def test_cron_schedule_rejects(schedule, expected):
    with pytest.raises(ValueError, match="expected") as error:
        is_cron_schedule(schedule)
    assert expected in str(error.value)


def test_cron_file_runs_the_script_as_root():
    text = backups.cron_file("17 3 * * *", "prod")
    assert backups.script_path("prod") == "/usr/local/sbin/hatchet-owlclaw-backup-prod"
    assert backups.cron_path("staging") == "/etc/cron.d/hatchet-owlclaw-backup-staging"
    script, log = backups.script_path("prod"), backups.log_path("prod")
    assert f"17 3 * * * root {script} >> {log} 2>&1\n" in text
    assert "staging" not in text
    for env in ("dev", "staging", "prod"):
        assert "." not in backups.cron_path(env).rsplit("/", 1)[-1]  # cron skips names with a dot


# ------------------------------------------------------------------ names


def test_dump_names_sort_by_time_and_parse_back():
    stamp = backups.utc_stamp(datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC))
    assert stamp == "20250102T030405Z"
    path = backups.dump_path("/b", "owlclaw", stamp)
    assert path == "/b/owlclaw/owlclaw-20250102T030405Z.dump"
    assert backups.parse_dump_name(path) == ("owlclaw", datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC))
    assert backups.parse_dump_name("/b/owlclaw/notes.txt") is None
    later = backups.utc_stamp(datetime(2025, 1, 10, tzinfo=UTC))
    assert sorted([later, stamp]) == [stamp, later]


def test_restore_names_are_identifiers():
    new, old = backups.restore_names("owlclaw", "20250102T030405Z")
    assert (new, old) == ("owlclaw_restore_20250102_030405", "owlclaw_before_restore_20250102_030405")
    with pytest.raises(backups.RestoreNameError, match="too long"):
        backups.restore_names("x" * 50, "20250102T030405Z")


# ------------------------------------------------------------------ bootstrap


def test_docker_packages_follow_the_distribution():
    assert model_bootstrap.docker_packages(None, "Debian") == ["docker.io", "docker-compose"]
    assert model_bootstrap.docker_packages(None, "Ubuntu") == ["docker.io", "docker-compose-v2"]
    assert model_bootstrap.docker_packages(["docker-ce"], "Debian") == ["docker-ce"]


def test_sudoers_rule_passes_visudo(tmp_path):
    rule = tmp_path / "rule"
    rule.write_text(model_bootstrap.sudoers_rule("deploy"))
    if not Path("/usr/sbin/visudo").exists():
        pytest.skip("visudo is not installed here")
    assert subprocess.run(["/usr/sbin/visudo", "-cf", str(rule)], capture_output=True).returncode == 0


def test_public_key_file(tmp_path):
    key = tmp_path / "id.pub"
    key.write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB operator@laptop\n")
    assert bootstrap.read_public_key(str(key), "h", "x").startswith("ssh-ed25519 AAAA")
    private = tmp_path / "id"
    private.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n")
    with pytest.raises(bootstrap.BootstrapError, match="expected one SSH public key line"):
        bootstrap.read_public_key(str(private), "h", "x")
    with pytest.raises(bootstrap.BootstrapError, match="nothing was changed"):
        bootstrap.read_public_key(str(tmp_path / "missing.pub"), "h", "group_data/all.py")


# ------------------------------------------------------------------ prod guard

YES = guard.RunMode(yes=True, dry=False, json_output=False)
PROMPT = guard.RunMode(yes=False, dry=False, json_output=False)
DRY = guard.RunMode(yes=True, dry=True, json_output=False)


@pytest.mark.parametrize("environment, mode, confirmed, changes, refused", [
    ("prod", YES, False, ["Role x"], True),
    ("prod", YES, True, ["Role x"], False),  # confirmed
    ("prod", YES, False, [], False),  # nothing would change
    ("prod", PROMPT, False, ["Role x"], False),  # pyinfra shows the plan and asks
    ("prod", DRY, False, ["Role x"], False),  # plan only
    ("staging", YES, False, ["Role x"], False),
])
def test_guard_decision(environment, mode, confirmed, changes, refused):
    message = guard.refusal(environment, "db1", mode, confirmed, changes, "deploy.py")
    assert (message is not None) == refused
    if message:
        assert "db1: 1 operation(s) would change" in message and "- Role x" in message
        assert "Nothing was executed" in message and "CONFIRM_PROD=yes" in message


def test_guard_names_an_unrecognised_confirmation():
    note = guard.unrecognised_confirmation({"CONFIRM_PROD": "sure"})
    message = guard.refusal("prod", "db1", YES, False, ["Role x"], "deploy.py", note=note)
    assert "CONFIRM_PROD='sure' is not a confirmation: use CONFIRM_PROD=yes." in message


def test_guard_confirmation_sources():
    assert guard.confirmed(True, {})
    assert guard.confirmed(False, {"CONFIRM_PROD": "yes"})
    for spelling in ("yes", "YES", "y", "true", "True", "on", "1", " yes "):
        assert guard.confirmed(False, {"CONFIRM_PROD": spelling}), spelling
        assert guard.unrecognised_confirmation({"CONFIRM_PROD": spelling}) is None
    for spelling in ("", "no", "false", "0", "off", "yess", "sure", "ja"):
        assert not guard.confirmed(False, {"CONFIRM_PROD": spelling}), spelling
    assert guard.unrecognised_confirmation({"CONFIRM_PROD": "no"}) is None
    assert guard.unrecognised_confirmation({}) is None
    assert "CONFIRM_PROD='yess' is not a confirmation" in guard.unrecognised_confirmation(
        {"CONFIRM_PROD": "yess"}
    )
    assert not guard.confirmed(False, {})


def test_unknown_run_mode_counts_as_unprompted(monkeypatch):
    monkeypatch.setattr(pyinfra_compat, "_cli", None)
    assert guard.will_execute_unprompted(prod_guard.run_mode())


# ------------------------------------------------------------------ the backup script, with stub tools

STUBS = {
    # setpriv --reuid=postgres --regid=postgres --init-groups --reset-env -- CMD...: run CMD
    "setpriv": '#!/bin/bash\nshift 5; exec "$@"\n',
    "install": '#!/bin/bash\nmkdir -p -m 0700 "${@: -1}"\n',
    "psql": '#!/bin/bash\necho 1\n',
    "pg_dump": '#!/bin/bash\n[ -n "$FAIL_DUMP" ] && exit 1; echo "PGDMP custom archive"\n',
    "pg_restore": '#!/bin/bash\ncat >/dev/null; [ -n "$FAIL_LIST" ] && exit 1; '
                  'printf "; Archive\\n1; 0 0 TABLE public items owner\\n"\n',
    "pg_dumpall": '#!/bin/bash\necho "CREATE ROLE owlclaw;"\n',
}


class FakeSettings:
    backup_dir = ""
    backup_retention_days = 7
    databases = {"owlclaw": {}}
    environment = "prod"


@pytest.fixture
def script(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    monkeypatch.setattr(backups, "EXCLUSIVE_LOCK", str(tmp_path / "lock/backup.lock"))
    monkeypatch.setattr(backups, "EXCLUSIVE_WAIT", 1)
    stubs = tmp_path / "bin"
    stubs.mkdir()
    for name, body in STUBS.items():
        (stubs / name).write_text(body)
        (stubs / name).chmod(0o755)
    settings = FakeSettings()
    settings.backup_dir = str(tmp_path / "backups")
    path = tmp_path / "backup.sh"
    path.write_text(backups.backup_script(settings, 5432, "17/main"))
    path.chmod(0o755)

    def run(**env):
        return subprocess.run([str(path)], capture_output=True, text=True,
                              env={"PATH": f"{stubs}:/usr/bin:/bin", **env})
    run.dir = Path(settings.backup_dir)
    return run


def aged(path: Path, days: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("old")
    when = time.time() - days * 86400
    os.utime(path, (when, when))
    return path


def test_backup_writes_private_files_and_prunes_only_old_ones(script):
    old = aged(script.dir / "owlclaw/owlclaw-20200101T000000Z.dump", 10)
    recent = aged(script.dir / "owlclaw/owlclaw-20200102T000000Z.dump", 6)
    foreign = aged(script.dir / "owlclaw/keep-me.txt", 30)
    old_globals = aged(script.dir / "globals/globals-prod-20200101T000000Z.sql", 8)
    result = script()
    assert result.returncode == 0, result.stdout + result.stderr
    dumps = sorted(p.name for p in (script.dir / "owlclaw").glob("owlclaw-*.dump"))
    assert len(dumps) == 2 and recent.name in dumps and not old.exists()
    assert foreign.exists() and not old_globals.exists()
    new = script.dir / "owlclaw" / dumps[-1]
    assert new.stat().st_mode & 0o777 == 0o600
    assert f"deleted {old}" in result.stdout
    assert [p.name for p in (script.dir / "globals").iterdir()][0].startswith("globals-prod-2")


def test_each_environment_prunes_only_its_own_globals(script):
    """staging beside prod shares backup_dir/globals: the prod script (this one) prunes
    globals-prod-* only, whatever other environments' (and earlier versions') files are."""
    theirs = [aged(script.dir / f"globals/globals-staging-2020010{d}T000000Z.sql", d * 3) for d in (1, 2, 3)]
    unscoped = aged(script.dir / "globals/globals-20200101T000000Z.sql", 30)  # before per environment
    lookalike = aged(script.dir / "globals/globals-prod-eu-20200101T000000Z.sql", 30)
    mine = aged(script.dir / "globals/globals-prod-20200101T000000Z.sql", 30)
    result = script()
    assert result.returncode == 0, result.stdout + result.stderr
    assert all(p.exists() for p in (*theirs, unscoped, lookalike)) and not mine.exists()
    assert len(list((script.dir / "globals").glob("globals-prod-2*.sql"))) == 1


def test_backup_never_runs_beside_a_restore(script, tmp_path):
    """A restore holds the exclusive lock: the backup waits (here at most 1 s), then stops
    naming it, having written and deleted nothing."""
    import fcntl

    old = aged(script.dir / "owlclaw/owlclaw-20200101T000000Z.dump", 30)
    lock = tmp_path / "lock/backup.lock"
    lock.parent.mkdir()
    with open(lock, "w") as holder:
        fcntl.flock(holder, fcntl.LOCK_EX)
        holder.write("restore of owlclaw into owlclaw_restore_x (PID 1) since then\n")
        holder.flush()
        result = script()
    assert result.returncode == 1
    assert "FAILED: still running after 1s: restore of owlclaw into owlclaw_restore_x" in result.stdout
    assert [p.name for p in (script.dir / "owlclaw").iterdir()] == [old.name]
    # Once the restore is over, the backup runs (and says who holds the lock now: itself).
    assert script().returncode == 0
    assert lock.read_text().startswith("backup (prod, PID ")


def test_failed_backup_keeps_everything_and_fails(script):
    old = aged(script.dir / "owlclaw/owlclaw-20200101T000000Z.dump", 30)
    for env in ({"FAIL_DUMP": "1"}, {"FAIL_LIST": "1"}):
        result = script(**env)
        assert result.returncode == 1
        assert "owlclaw: FAILED" in result.stdout and "FAILED for: owlclaw" in result.stdout
        assert old.exists()
        assert [p.name for p in (script.dir / "owlclaw").iterdir()] == [old.name]  # no partial left


def test_newest_dump_is_never_pruned(script, tmp_path):
    """Even when every dump is older than the retention (a clock that jumped), the newest stays."""
    older = aged(script.dir / "owlclaw/owlclaw-20200101T000000Z.dump", 40)
    # This run's files get an mtime 30 days back when moved into place.
    (tmp_path / "bin/mv").write_text('#!/bin/bash\n/bin/mv "$@" && touch -d "30 days ago" "${@: -1}"\n')
    (tmp_path / "bin/mv").chmod(0o755)
    result = script()
    assert result.returncode == 0, result.stdout + result.stderr
    left = list((script.dir / "owlclaw").glob("*.dump"))
    assert len(left) == 1 and left[0] != older
    assert len(list((script.dir / "globals").glob("*.sql"))) == 1


def test_sql_carrying_a_verifier_is_never_logged_by_the_server():
    """break16: the psql session sending SCRAM verifiers turns the server's statement
    logging off from its start (PGOPTIONS), the settings PostgreSQL would log them by."""
    import shlex

    from deploylib.model import pg_commands

    command = pg_commands.psql_stdin(5432, single_transaction=True, unlogged=True)
    words = shlex.split(command)
    options = words[words.index("env", 1) + 1]
    assert options.startswith("PGOPTIONS=")
    for setting in ("log_statement=none", "log_min_duration_statement=-1", "log_transaction_sample_rate=0",
                    "log_min_error_statement=panic", "debug_print_parse=off", "log_min_duration_sample=-1"):
        assert f"-c {setting}" in options
    assert "PGOPTIONS" not in pg_commands.psql_stdin(5432)
